"""Bayesian search: config checks, validation protocol, pruning, resuming, report, grid headline."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
from test_similarity import write_topic_likes

from recsys_bench import embeddings as similarity
from recsys_bench.analysis import search_report
from recsys_bench.analysis.gallery import write_gallery
from recsys_bench.errors import UserError
from recsys_bench.experiment import search, search_data
from recsys_bench.store.table import write_table

GOOD = {"epochs": 8, "learning_rate": 0.1, "no_components": 16}
BAD = {"epochs": 8, "learning_rate": 0.0001, "no_components": 4}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    write_topic_likes(folder)
    return folder


def write_config(path, data_dir, *, model="lightfm-warp", space=None, extra="", start=(GOOD, BAD),
                 params='{ features = "none" }', pruner='{ kind = "median", startup_trials = 1 }',
                 name="tiny"):
    space = space or """
epochs = { low = 2, high = 8, step = 2 }
learning_rate = { low = 1e-4, high = 0.2, log = true }
no_components = { low = 4, high = 16 }
"""
    points = ", ".join("{ " + ", ".join(f"{k} = {v}" for k, v in p.items()) + " }" for p in start)
    path.write_text(f"""
[experiment]
name = "{name}"

[dataset]
name = "sketchfab"
options = {{ path = "{data_dir.as_posix()}" }}

[split]
kind = "user_holdout"
seed = 0
options = {{ split_count = 2, fraction = 0.2 }}

[evaluation]
k = 5
exclude_train = true

[search]
model = "{model}"
params = {params}
threads = 1
seed = 0
startup_trials = 2
report_every = 2
pruner = {pruner}
start = [{points}]
{extra}
[search.space]
{space}
""", encoding="utf-8")
    return path


def run_search(config, out, trials, **kwargs):
    """A search and its report and gallery, as ``recsys-bench search`` writes them."""
    folder = search.run_search(config, out, trials, **kwargs)
    write_gallery(folder)
    return search_report.write_search_report(folder, grid_run=kwargs.get("grid_run"))


def _trials(out):
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'search.db'}")
    return [(t.number, t.state.name, t.value, t.params) for t in study.get_trials()]


def test_search_prunes_resumes_and_reports(tmp_path, data_dir):
    config = write_config(tmp_path / "s.toml", data_dir)
    out = tmp_path / "out"
    report = run_search(config, out, 3, quiet=True)
    first = _trials(out)
    assert len(first) == 3
    assert first[0][3] == GOOD and first[1][3] == BAD
    assert first[0][1] == "COMPLETE" and first[1][1] == "PRUNED"   # far behind at epoch 2

    run_search(config, out, 5, quiet=True)
    resumed = _trials(out)
    assert len(resumed) == 5 and resumed[:3] == first           # continued, not restarted
    run_search(config, out, 5, quiet=True)
    assert len(_trials(out)) == 5                              # already complete: nothing run

    summary = json.loads((out / "search.json").read_text())
    assert summary["trials"] == 5 and summary["states"]["pruned"] >= 1
    best = max(t[2] for t in resumed if t[1] == "COMPLETE")
    assert summary["final"]["validation"] == pytest.approx(best)
    assert 0.0 < summary["final"]["test"] <= 1.0
    pruned_epochs = pd.read_csv(out / "search.csv").set_index("trial").loc[1, "epochs_run"]
    assert pruned_epochs == 2
    assert summary["epochs"] < 5 * 8                            # pruning saved epochs
    text = report.read_text()
    for needle in ("## Best trial", "## Compute", "## Trial history", "search-history.png",
                   "validation precision@5", "test precision@5"):
        assert needle in text
    assert (out / "figures" / "search-history.png").stat().st_size > 1000

    hits = similarity.similar_items(out, "lightfm-warp", hits_id := _any_item(out), 3)
    assert hits[0].item_id == hits_id


def _any_item(out) -> str:
    return str(similarity.load_model(out / "models" / f"{search.BEST_MODEL}.npz").item_ids[0])


def test_validation_split_is_carved_from_the_train_part(tmp_path, data_dir):
    config = search.load_search_config(write_config(tmp_path / "s.toml", data_dir))
    data = search_data.prepare(config)
    final, validation = data.final, data.validation
    assert (validation.train + validation.test != final.train).nnz == 0
    assert final.test.multiply(validation.test).nnz == 0
    assert validation.test.nnz > 0 and validation.fingerprint != final.fingerprint


def test_derived_parameters_and_wrmf_with_halving(tmp_path, data_dir):
    space = """
factors = { low = 2, high = 8 }
regularization = { low = 1e-3, high = 1.0, log = true }
alpha = { low = 1.0, high = 20.0, log = true }
iterations = { low = 2, high = 6, step = 2 }
"""
    config = write_config(tmp_path / "w.toml", data_dir, model="implicit-als", space=space,
                          params="{ use_cg = true }", start=(),
                          pruner='{ kind = "halving", min_epochs = 2 }')
    run_search(config, tmp_path / "w", 3, quiet=True)
    trials = _trials(tmp_path / "w")
    assert len(trials) == 3 and all(set(t[3]) == {"factors", "regularization", "alpha",
                                                  "iterations"} for t in trials)
    tags = write_config(tmp_path / "t.toml", data_dir, start=(), params='{ features = "tags" }',
                        space="""
epochs = { low = 2, high = 4 }
no_components = { low = 4, high = 8 }
item_alpha = { low = 1e-5, high = 1e-3, log = true }
scale = { low = 1e-3, high = 1.0, log = true }
""", extra='[search.derived]\nuser_alpha = "item_alpha * scale"\n')
    loaded = search.load_search_config(tags)
    setting = loaded.search.setting({"epochs": 2, "no_components": 4, "item_alpha": 1e-4, "scale": 0.5})
    assert setting["user_alpha"] == pytest.approx(5e-5) and "scale" not in setting
    run_search(tags, tmp_path / "t", 1, quiet=True)
    saved = similarity.pick_model(tmp_path / "t", needs_tags=True)
    assert saved.tag_vectors is not None


def test_grid_headline(tmp_path, data_dir):
    grid = tmp_path / "grid"
    rows = []
    for trial, params, seconds in (("a", '{"factors": 10}', 3.0), ("b", '{"factors": 40}', 5.0)):
        for epoch, p in ((2, 0.02), (4, 0.04 if trial == "b" else 0.03)):
            rows.append(dict(trial_id=trial, model="implicit-als", params=params,
                             dataset="sketchfab", subset="test", epoch=epoch, status="ok", k=5,
                             exclude_train=True, precision_at_k=p, fit_seconds=seconds * epoch,
                             eval_seconds=1.0, seed=0))
    write_table(pd.DataFrame(rows), grid)
    summary = search_report.grid_summary(grid, "lightfm-warp")
    assert (summary.model, summary.best, summary.best_epoch) == ("implicit-als", 0.04, 4)
    assert (summary.trials, summary.epochs) == (2, 8)
    assert summary.fit_seconds == pytest.approx(12 + 20) and summary.eval_seconds == 4
    config = write_config(tmp_path / "s.toml", data_dir, start=(GOOD,))
    text = run_search(config, tmp_path / "out", 1, quiet=True, grid_run=grid).read_text()
    assert "## Headline: grid vs Bayesian search" in text and "| 0.04 | test |" in text


@pytest.mark.parametrize("change, message", [
    (dict(extra="colour = 1\n"), "search.colour: unknown key"),
    (dict(space="bogus = { low = 1, high = 2 }"), "no parameter 'bogus'"),
    (dict(start=({"epochs": 99},)), "search.start[0].epochs: 99 is outside the space"),
    (dict(start=({"alpha": 1},)), "search.start[0].alpha: is not a searched parameter"),
    (dict(extra='[search.derived]\nuser_alpha = "missing * 2"\n'), "'missing' is neither"),
    (dict(space="learning_rate = { low = 0.0, high = 1.0, log = true }"), "must be > 0"),
    (dict(model="nosuch"), "search.model: unknown model 'nosuch'"),
    (dict(space="no_components = { low = 0, high = 5 }", start=()), "no_components must be"),
    (dict(pruner='{ kind = "median", n = 1 }'), "search.pruner.n: unknown key"),
    (dict(extra="timeout_s = 0\n"), "search.timeout_s: must be a positive number of seconds"),
    (dict(extra='timeout_s = "1h"\n'), "search.timeout_s: must be a positive number of seconds"),
])
def test_bad_configs_are_one_line_user_errors(tmp_path, data_dir, change, message):
    path = write_config(tmp_path / "bad.toml", data_dir, **change)
    with pytest.raises(UserError) as info:
        search.load_search_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_folder_of_another_search_or_bad_trials_is_refused(tmp_path, data_dir):
    out = tmp_path / "out"
    run_search(write_config(tmp_path / "a.toml", data_dir, start=(GOOD,)), out, 1,
                      quiet=True)
    other = write_config(tmp_path / "b.toml", data_dir, start=(GOOD,), name="other")
    with pytest.raises(UserError, match="holds a different search"):
        run_search(other, out, 1, quiet=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(UserError, match="not an empty folder"):
        run_search(other, tmp_path / "busy", 1, quiet=True)
    with pytest.raises(UserError, match="--trials"):
        run_search(other, tmp_path / "new", 0, quiet=True)
    with pytest.raises(UserError, match="not a search folder"):
        search_report.write_search_report(tmp_path / "busy")


def test_features_on_a_data_set_without_them_fail_clearly(tmp_path, data_dir):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "model_likes_anon.psv").write_bytes(
        (data_dir / "model_likes_anon.psv").read_bytes())
    config = write_config(tmp_path / "s.toml", tmp_path / "plain", start=(GOOD,),
                          params='{ features = "tags" }')
    with pytest.raises(UserError, match="has no item features"):
        run_search(config, tmp_path / "out", 1, quiet=True)


def test_an_interrupted_trial_does_not_count(tmp_path, data_dir, monkeypatch):
    config = write_config(tmp_path / "s.toml", data_dir, start=(GOOD, BAD))
    out = tmp_path / "out"
    real = search._train_and_score
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "_train_and_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, out, 3, quiet=True)
    monkeypatch.setattr(search, "_train_and_score", real)
    run_search(config, out, 3, quiet=True)
    trials = _trials(out)
    assert [t[1] for t in trials[:3]] == ["COMPLETE", "FAIL", "PRUNED"] and len(trials) == 4
    assert trials[2][3] == BAD                                 # its start point queued again
    table = pd.read_csv(out / "search.csv")
    assert table.loc[1, "state"] == "interrupted"
    assert json.loads((out / "search.json").read_text())["trials"] == 3


def test_memory_budget_refuses_a_space_too_large_and_caps_parallel_trials(tmp_path, data_dir):
    from recsys_bench.experiment.memory import Budget

    config_path = write_config(tmp_path / "s.toml", data_dir, start=(GOOD,))
    with pytest.raises(UserError, match="the search's largest trial needs about .* more than "
                                        "the memory budget"):
        search.run_search(config_path, tmp_path / "out", 1, quiet=True, memory_budget="1M")
    assert not (tmp_path / "out" / "search.db").exists()
    config = search.load_search_config(config_path)
    data = search_data.prepare(config)
    need = search_data.largest_trial(config, data)
    assert need.model > 0 and need.evaluation > 0
    assert search_data.within_memory(config, data, 4, Budget(int(need.total * 2.5), "t"), True) == 2
    assert search_data.within_memory(config, data, 4, Budget(need.total * 9, "t"), True) == 4
    assert search_data.within_memory(config, data, 4, None, True) == 4


def test_progress_names_each_checkpoint_of_a_long_trial(tmp_path, data_dir, capsys):
    config = write_config(tmp_path / "s.toml", data_dir, start=(GOOD,))
    search.run_search(config, tmp_path / "out", 1)
    err = capsys.readouterr().err.splitlines()
    checkpoints = [line for line in err if line.startswith("trial 0: epoch")]
    assert [line.split(",")[0] for line in checkpoints] == [
        f"trial 0: epoch {epoch} of 8" for epoch in (2, 4, 6)]
    assert "precision" in checkpoints[0]
    assert any(line.startswith("trial 0 (1/1): complete") for line in err)
    search.run_search(config, tmp_path / "quiet", 1, quiet=True)
    assert "epoch" not in capsys.readouterr().err
