"""`recsys-bench reconcile`: stored lists under every preset, with and without re-scoring."""

from pathlib import Path

import pytest

from recsys_bench.analysis.reconcile import reconcile, to_markdown
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
    text = to_markdown(groups, run_dir, None, False)
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
