"""The beyond-accuracy metrics as registered, opt-in metrics: a config that names them gets their
columns, computed from the stored top-k lists exactly as :mod:`recsys_bench.eval.beyond` defines
them; ``compare`` and the report recompute them from the raw files; and a config that names none
gets the same metrics as before they existed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench import models
from recsys_bench.analysis.compare import compare_runs
from recsys_bench.analysis.report import write_report
from recsys_bench.errors import UserError
from recsys_bench.eval import beyond, registry
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.experiment.config import parse_config
from recsys_bench.splits import load_split, user_holdout
from recsys_bench.store import table as store
from recsys_bench.store.run_folder import RunFolder
from recsys_bench.testing_runs import build_run

CLASSIC_DEFAULTS = ("precision", "recall", "ndcg", "map", "hit_rate", "auc", "coverage", "mse")
PER_USER = ("mrr", "novelty", "intra_list_diversity", "average_popularity")

CONFIG = """\
[experiment]
name = "tiny-beyond"

[[datasets]]
name = "synthetic"
options = { n_users = 300, n_items = 90, nnz = 4500, seed = 0 }

[split]
seeds = [0, 1]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 5
metrics = ["precision", "mrr", "novelty", "intra_list_diversity", "average_popularity", "gini"]
subsets = ["train", "test"]
checkpoints = [3]

[timing]
warmup = 0

[[models]]
name = "implicit-als"
params = { factors = 8, regularization = 0.1, alpha = 10 }
"""


def test_a_config_naming_no_metrics_gets_the_same_metrics_as_before():
    assert registry.default_names() == CLASSIC_DEFAULTS
    config = CONFIG.replace('metrics = ["precision", "mrr", "novelty", "intra_list_diversity", '
                            '"average_popularity", "gini"]\n', "")
    assert parse_config(config).evaluation.metrics == CLASSIC_DEFAULTS
    for spec in beyond.BEYOND_METRICS:
        assert registry.METRICS[spec.name] is spec and not spec.default
        assert spec.needs == "context" and spec.compute is beyond.METRICS[spec.name]
        assert spec.per_user == beyond.PER_USER[spec.name]
    directions = {spec.name: spec.higher_is_better for spec in beyond.BEYOND_METRICS}
    assert directions == {"mrr": True, "novelty": None, "intra_list_diversity": None,
                          "average_popularity": None, "gini": None}


def test_intra_list_diversity_of_a_model_without_item_vectors_is_refused():
    config = CONFIG.replace('name = "implicit-als"', 'name = "popularity"').replace(
        "params = { factors = 8, regularization = 0.1, alpha = 10 }\n", "")
    with pytest.raises(UserError, match="popularity has none") as caught:
        parse_config(config)
    assert "models[0].name" in str(caught.value)
    assert parse_config(config.replace('"intra_list_diversity", ', "")).models[0].name == \
        "popularity"

    rng = np.random.default_rng(0)
    likes = sp.csr_matrix((rng.random((40, 20)) < 0.3).astype(np.float32))
    split = user_holdout(likes, split_count=2, fraction=0.5, seed=0)
    model = models.get("popularity")
    model.fit(split.train)
    with pytest.raises(UserError, match="capabilities.item_vectors"):
        evaluate(model, split, k=3, metrics=("precision", "intra_list_diversity"))
    result = evaluate(model, split, k=3, metrics=("precision", "mrr", "gini"))["test"]
    context = beyond.BeyondContext(split.train, truth=split.test[split.users])
    np.testing.assert_array_equal(result.per_user["mrr"], beyond.mrr(result.top, context))
    assert result.means["gini"] == beyond.gini(result.top, context)
    assert "gini" not in result.per_user


def test_a_context_metric_needs_a_context_and_is_computed_only_when_named():
    top = np.array([[0, 1], [2, 1]])
    truth = sp.csr_matrix(np.eye(2, 3, dtype=np.float32))
    assert set(registry.top_metrics(top, truth, 2)) == {"precision", "recall", "ndcg", "map",
                                                        "hit_rate"}
    with pytest.raises(UserError, match="need a context"):
        registry.top_metrics(top, truth, 2, ["mrr"])
    context = beyond.BeyondContext(sp.csr_matrix(np.ones((2, 3), dtype=np.float32)))
    got = registry.top_metrics(top, truth, 2, ["mrr"], context)
    assert got["mrr"].tolist() == [1.0, 0.5]  # the context's missing truth is ``truth``


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beyond")
    (folder / "tiny.toml").write_text(CONFIG)
    return build_run(folder / "tiny.toml", folder / "run")


def _stored(run_dir, row):
    """(split, stored top-k lists, truth rows) of one result row, read from the run folder."""
    split = load_split(RunFolder(run_dir).split(row["dataset"], int(row["seed"])))
    top = store.read_raw(run_dir, row["trial_id"])[f"top_{row['subset']}_e{int(row['epoch'])}"]
    truth = (split.test if row["subset"] == "test" else split.train)[split.users]
    return split, top, truth


def test_named_beyond_metrics_fill_their_columns_from_the_stored_lists(run):
    table = store.read_results(run)
    assert (table["status"] == "ok").all() and len(table) == 4
    saved = {path.stem for path in RunFolder(run).models.glob("*.npz")}
    assert saved
    for _, row in table.iterrows():
        split, top, truth = _stored(run, row)
        vectors = None
        if row["trial_id"] in saved:
            vectors = np.load(RunFolder(run).model(row["trial_id"]))["item_vectors"]
        context = beyond.BeyondContext(split.train, truth=truth, item_vectors=vectors)
        for name in PER_USER:
            if name == "intra_list_diversity" and vectors is None:
                continue
            column = registry.METRICS[name].column
            expected = np.nanmean(beyond.METRICS[name](top, context))
            assert row[column] == pytest.approx(expected, rel=1e-12, abs=1e-12), name
        assert row["gini_at_k"] == pytest.approx(beyond.gini(top, context), rel=1e-12)
        assert np.isfinite(row["intra_list_diversity_at_k"])
        assert np.isnan(row["recall_at_k"])  # not named, so not computed


def test_compare_rescores_the_per_user_beyond_metrics_from_the_stored_lists(run):
    copy = run.parent / "copy"
    shutil.copytree(run, copy)
    result = compare_runs(run, copy)
    assert not result.regressed, result.to_text()
    table = store.read_results(run)
    changes = {(q.subset, q.metric): q for q in result.quality}
    for subset in ("train", "test"):
        rows = table[table["subset"] == subset]
        for name in ("mrr", "novelty", "average_popularity"):
            change = changes[subset, registry.METRICS[name].column]
            assert change.method == "users" and change.n == rows["n_users"].sum()
            pooled = np.concatenate([beyond.METRICS[name](top, beyond.BeyondContext(
                split.train, truth=truth)) for split, top, truth in
                (_stored(run, row) for _, row in rows.iterrows())])
            assert change.a == pytest.approx(np.nanmean(pooled), rel=1e-12)
            assert change.a == pytest.approx(rows[registry.METRICS[name].column].mean(),
                                             rel=1e-12)
        for column in ("gini_at_k", "intra_list_diversity_at_k"):
            assert changes[subset, column].method == "seeds"


def test_the_report_shows_opted_in_columns_and_the_beyond_section_agrees(run, monkeypatch):
    from recsys_bench.analysis import plots

    def no_figure(*args, **kwargs):
        args[-1].parent.mkdir(parents=True, exist_ok=True)
        args[-1].write_bytes(b"")
        return args[-1]

    for name in ("learning_curve", "grid_traces", "quality_vs_time", "thread_speedup",
                 "fit_time_vs_likes"):
        monkeypatch.setattr(plots, name, no_figure)
    md = write_report(run).read_text(encoding="utf-8")
    best = md[md.index("### Best setting of each model"):md.index("### Beyond accuracy")]
    header = next(line for line in best.splitlines() if line.startswith("| model |"))
    for label in ("MRR", "novelty (bits)", "ILD", "ARP", "Gini"):
        assert f"| {label} |" in header
    section = md[md.index("### Beyond accuracy"):md.index("### Learning curves")]
    lines = section.splitlines()
    names = [c.strip() for c in lines[2].strip("|").split(" | ")]
    cells = dict(zip(names, (c.strip() for c in lines[4].strip("|").split(" | ")), strict=True))
    test = store.read_results(run).query("subset == 'test'")
    for label, column in (("MRR", "mrr_at_k"), ("novelty (bits)", "novelty_at_k"),
                          ("ARP", "average_popularity_at_k"), ("Gini", "gini_at_k")):
        assert float(cells[label]) == pytest.approx(test[column].mean(), abs=5.1e-5), label
    saved = [path.stem for path in RunFolder(run).models.glob("*.npz")]
    assert len(saved) == 1  # the run keeps the best model: one of the two seeds
    value, note = cells["ILD (saved model vectors)"].split(" ", 1)
    assert note == "(1 of 2 seeds)"
    expected = test.loc[test["trial_id"] == saved[0], "intra_list_diversity_at_k"].item()
    assert float(value) == pytest.approx(expected, abs=5.1e-5)


def test_folded_in_users_are_scored_against_the_training_users_popularity():
    from recsys_bench.splits import make_split
    from recsys_bench.testing import low_rank_likes

    split = make_split(low_rank_likes(120, 30, rank=3, per_user=8, seed=2),
                       "strong_generalization", seed=0, test_users=0.25)
    model = models.get("numpy-als", factors=4, iterations=2, num_threads=1, random_state=0)
    model.fit(split.train)
    result = evaluate(model, split, k=4, metrics=("mrr", "novelty", "intra_list_diversity"))
    top = result["test"].top
    base = beyond.BeyondContext(split.train, truth=split.test[split.users],
                                item_vectors=model.item_vectors())
    for name in ("mrr", "novelty", "intra_list_diversity"):
        np.testing.assert_allclose(result["test"].per_user[name], beyond.METRICS[name](top, base),
                                   err_msg=name)
    histories = beyond.BeyondContext(split.fold_in[split.users])
    assert not np.allclose(result["test"].per_user["novelty"], beyond.novelty(top, histories))
