"""`recsys-bench reconcile`: stored lists under every preset, with and without re-scoring."""

from pathlib import Path

import pytest

from recsys_bench.analysis.document import Document, render_markdown
from recsys_bench.analysis.reconcile import (
    Group,
    TrialRef,
    TrialResult,
    reconcile,
    to_document,
)
from recsys_bench.cli import main
from recsys_bench.eval.presets import Measure, NotApplicable
from recsys_bench.testing_runs import build_run

CONFIG = """\
[experiment]
name = "reconcile-tiny"

[[datasets]]
name = "synthetic"
options = { n_users = 150, n_items = 120, nnz = 3000, seed = 0 }

[split]
kind = "ratio"
seeds = [0]
options = { fraction = 0.3 }

[evaluation]
k = 5
metrics = ["precision", "recall", "ndcg", "map", "auc"]
exclude_train = true
subsets = ["test"]
checkpoints = [2, 3]

[timing]
warmup = 0
repeats = 1

[[models]]
name = "popularity"

[[models]]
name = "implicit-als"
params = { factors = 4, regularization = 0.1, alpha = 5 }
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reconcile")
    config = folder / "exp.toml"
    config.write_text(CONFIG)
    return build_run(config, folder / "run")


def test_stored_lists_reproduce_the_run_and_mark_what_needs_scores(run_dir):
    from recsys_bench.store.table import read_results

    groups = reconcile(run_dir)
    table = read_results(run_dir)
    assert len(groups) == 1 and len(groups[0].results) == 2
    for result in groups[0].results:
        ours = result.values["recsys-bench"]
        row = table[(table.trial_id == result.trial.trial_id) & (table.subset == "test")
                    & (table.epoch == result.trial.epochs[-1])].iloc[0]
        assert ours["precision@k"].value == pytest.approx(row["precision_at_k"], abs=1e-12)
        assert ours["map@k"].value == pytest.approx(row["map_at_k"], abs=1e-12)
        assert isinstance(ours["auc"], NotApplicable)
        assert isinstance(result.values["lightfm"]["precision_at_k_unfiltered"], NotApplicable)
        assert isinstance(result.values["implicit"]["precision"], Measure)
        assert set(result.beyond) >= {"mrr", "novelty", "gini", "coverage"}
    text = render_markdown(to_document(groups, run_dir, None, False), run_dir)
    assert "### Why the figures differ" in text and "**divisor (precision)**" in text
    assert "Not applicable:" in text


def test_rescore_gives_the_run_auc_and_every_preset(run_dir):
    from recsys_bench.store.table import read_results

    groups = reconcile(run_dir, rescore=True)
    table = read_results(run_dir)
    for result in groups[0].results:
        assert result.rescored == "re-scored lists identical to the stored ones"
        row = table[(table.trial_id == result.trial.trial_id) & (table.subset == "test")
                    & (table.epoch == result.trial.epochs[-1])].iloc[0]
        assert result.values["recsys-bench"]["auc"].value == pytest.approx(row["auc"], abs=1e-9)
        for preset in ("lightfm", "implicit", "liang2018"):
            assert all(isinstance(v, Measure) for v in result.values[preset].values()), preset
        assert result.tie_users is not None
    # removing train items can only raise the LightFM hit count of the test items
    for result in groups[0].results:
        lightfm = result.values["lightfm"]
        assert lightfm["precision_at_k"].value >= lightfm["precision_at_k_unfiltered"].value


def test_cli_writes_the_file_and_refuses_a_preset_that_cannot_apply(run_dir, capsys):
    assert main(["reconcile", str(run_dir)]) == 0
    assert (run_dir / "reconcile.md").exists()
    assert main(["reconcile", str(run_dir), "--preset", "implicit", "--out",
                 str(run_dir / "implicit.md")]) == 0
    capsys.readouterr()
    assert main(["reconcile", str(run_dir), "--preset", "lightfm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "preset lightfm cannot apply" in err[0] and "score" in err[0]
    assert main(["reconcile", str(run_dir), "--preset", "nope"]) == 2
    assert main(["reconcile", str(run_dir / "missing")]) == 2


def test_a_run_naming_presets_reconciles_and_its_report_shows_it(tmp_path, capsys):
    config = tmp_path / "exp.toml"
    config.write_text(CONFIG.replace('subsets = ["test"]',
                                     'subsets = ["test"]\nprotocol = ["lightfm", "implicit"]'))
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    text = (out / "reconcile.md").read_text()
    assert "### lightfm" in text and "### implicit" in text and "### liang2018" not in text
    assert "n/a" not in text.split("### Why")[0]  # rescored by default: every figure computed
    stored = Document.from_json((out / "reconcile.json").read_text())
    assert render_markdown(stored, out) == text
    report = (out / "report.md").read_text()
    assert "## Reconciliation across protocols" in report
    assert "#### Why the figures differ" in report


def test_published_figures_are_matched_on_the_whole_protocol():
    from recsys_bench.eval.published import PUBLISHED, matching
    from recsys_bench.models import model_class

    defaults = dict(model_class("lightfm-warp").defaults)
    protocol = dict(dataset="movielens-100k", dataset_options={"min_rating": 0},
                    split_kind="movielens_official", split_options={"name": "ua"},
                    model="lightfm-warp", params=defaults, epochs=10, k=10)
    found = matching(**protocol)
    assert [f.label for f in found] == ["test precision@10", "test AUC"]
    assert [f.value for f in found] == [0.11, 0.90]
    assert len(matching(**protocol, subset="train")) == 2
    for change in ({"dataset_options": {"min_rating": 4}}, {"split_options": {"name": "ub"}},
                   {"epochs": 20}, {"k": 5}, {"params": {**defaults, "no_components": 64}},
                   {"model": "lightfm-bpr", "params": {**defaults, "learning_rate": 0.01}}):
        assert matching(**{**protocol, **change}) == [], change
    assert {p.model for p in PUBLISHED} == {"lightfm-bpr", "lightfm-warp"}


def test_the_published_table_sets_our_figure_beside_the_printed_one(tmp_path):
    from recsys_bench.eval.published import PUBLISHED

    figure = next(p for p in PUBLISHED if p.model == "lightfm-warp" and p.label == "test AUC")
    trial = TrialRef("t1", "movielens-100k", 0, "lightfm-warp", "{}", 1, (10,), 10, False)
    result = TrialResult(trial, {"lightfm": {"auc_score_unfiltered": Measure(0.9015, 943, "scores")}},
                         {}, published=[figure])
    facts = {"users": 943, "users_with_test": 943, "listed_with_test": 943, "short_truth": 0,
             "long_truth": 0, "sum_min": 9430, "k": 10, "n_items": 1682}
    text = render_markdown(to_document([Group("movielens-100k", 0, facts, [result])], tmp_path,
                                       ["lightfm"], True), tmp_path)
    assert "### Published figures vs ours" in text
    assert "| lightfm-warp | test AUC | 0.90 | 0.9015 | +0.0015 | lightfm `auc_score_unfiltered` |" \
        in text


def test_strong_generalisation_runs_are_reconciled_on_the_folded_users(tmp_path, monkeypatch):
    import numpy as np

    from recsys_bench.eval import topk as topk_module
    from recsys_bench.store.table import read_results

    timed, original = [], topk_module.topk

    def recording_topk(model, users, k, *, exclude=None):
        timed.append((np.asarray(users), exclude))
        return original(model, users, k, exclude=exclude)

    monkeypatch.setattr(topk_module, "topk", recording_topk)
    config = tmp_path / "exp.toml"
    config.write_text(CONFIG.replace('kind = "ratio"', 'kind = "strong_generalization"').replace(
        "options = { fraction = 0.3 }",
        "options = { test_users = 0.2, validation_users = 0.1, holdout = 0.3 }"))
    run_dir = build_run(config, tmp_path / "run")
    # with AUC asked, the recommend rate is timed on its own pass: over the folded-in users
    # (rows 0..n-1 of their given histories), not over user ids the model never saw
    assert len(timed) == 2
    for users, exclude in timed:
        np.testing.assert_array_equal(users, np.arange(len(users)))
        assert exclude.shape[0] == len(users)
    table = read_results(run_dir)
    groups = reconcile(run_dir, rescore=True)
    facts = groups[0].facts
    assert 0 < facts["users"] <= 30 and facts["users_with_test"] == facts["users"]  # held out only
    for result in groups[0].results:
        assert result.rescored == "re-scored lists identical to the stored ones"
        row = table[(table.trial_id == result.trial.trial_id) & (table.subset == "test")
                    & (table.epoch == result.trial.epochs[-1])].iloc[0]
        ours = result.values["recsys-bench"]
        assert ours["precision@k"].value == pytest.approx(row["precision_at_k"], abs=1e-12)
        assert ours["auc"].value == pytest.approx(row["auc"], abs=1e-9)
