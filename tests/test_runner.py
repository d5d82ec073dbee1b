"""The runner end to end on a tiny data set: table, raw top-k, resume, failures, kill -9."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_bench.errors import UserError
from recsys_bench.experiment import runner
from recsys_bench.experiment.config import load_config
from recsys_bench.store.table import raw_path, read_raw, read_results, read_run_info

TINY = """\
[experiment]
name = "tiny"

[[datasets]]
name = "synthetic"
options = { n_users = 400, n_items = 120, nnz = 6000, seed = 0 }

[split]
seeds = [0, 1]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 5
metrics = ["precision", "recall", "mse"]
exclude_train = false
subsets = ["train", "test"]
checkpoints = [1, 2, 4]

[timing]
warmup = 1

[[models]]
name = "popularity"

[[models]]
name = "implicit-als"
params = { regularization = 0.1, alpha = 10 }
grid = { factors = [4, 8] }
"""

METRIC_COLUMNS = ["precision_at_k", "recall_at_k", "mse"]
KEY = ["trial_id", "epoch", "subset"]


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def sessions(run_dir: Path) -> list[dict]:
    return read_run_info(run_dir)["sessions"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    config = write(folder, TINY)
    return runner.run(config, folder / "run", quiet=True, workers=2)


def same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a.sort_values(KEY).reset_index(drop=True)
    b = b.sort_values(KEY).reset_index(drop=True)
    assert list(a["trial_id"]) == list(b["trial_id"])
    np.testing.assert_allclose(a[METRIC_COLUMNS], b[METRIC_COLUMNS], rtol=1e-6, atol=1e-9)


def test_table_layout_and_provenance(clean_run):
    df = read_results(clean_run)
    assert len(df) == 2 * (2 + 2 * 3 * 2)
    assert (df["status"] == "ok").all() and (df["error"] == "").all()
    assert not df.duplicated(KEY).any()
    assert df["trial_id"].nunique() == 6
    assert set(df.loc[df.model == "popularity", "epoch"]) == {0}
    assert set(df.loc[df.model == "implicit-als", "epoch"]) == {1, 2, 4}
    assert df[["precision_at_k", "mse", "fit_seconds", "eval_seconds", "peak_rss_mb",
               "recommend_users_per_s"]].notna().all().all()
    assert df["ndcg_at_k"].isna().all()
    assert (df["exclude_train"] == False).all() and (df["k"] == 5).all()  # noqa: E712
    assert (df["n_users"] == 80).all() and (df["likes"] == 6000).all()
    assert (df["peak_rss_mb"] > 10).all()
    for _, rows in df[df.model == "implicit-als"].groupby("trial_id"):
        fit = rows.sort_values("epoch").drop_duplicates("epoch")["fit_seconds"].to_numpy()
        assert (np.diff(fit) > 0).all()
    assert json.loads(df["params"].iloc[-1]) in ({"alpha": 10, "factors": 4, "regularization": 0.1},
                                                 {"alpha": 10, "factors": 8, "regularization": 0.1})
    for name in ("config.toml", "run.json", "results.csv", "results.parquet",
                 "splits/synthetic.json", "splits/synthetic-seed0.npz",
                 "splits/synthetic-seed1.npz"):
        assert (clean_run / name).exists(), name
    assert (clean_run / "config.toml").read_text() == TINY
    info = read_run_info(clean_run)
    assert info["status"] == "complete" and info["config"]["experiment"]["name"] == "tiny"
    assert info["machine"]["cores"] >= 1 and "packages" in info["machine"]
    assert info["sessions"][-1]["trials_run"] == 6
    csv = pd.read_csv(clean_run / "results.csv")
    assert len(csv) == len(df) and list(csv.columns) == list(df.columns)


def test_recommend_speed_reuses_the_last_ranking_of_factor_models(tmp_path, monkeypatch):
    import recsys_bench.eval.topk

    experiment = load_config(write(tmp_path, TINY))
    prepared = runner.prepare_splits(experiment, tmp_path)
    als = next(t for t in runner.plan_trials(experiment, prepared) if t.model == "implicit-als")
    with_auc = dataclasses.replace(als, metrics=(*als.metrics, "auc"))
    separate = []
    original = recsys_bench.eval.topk.topk
    monkeypatch.setattr(recsys_bench.eval.topk, "topk",
                        lambda *args, **kwargs: separate.append(1) or original(*args, **kwargs))
    for trial, passes in ((als, 0), (with_auc, 1)):
        separate.clear()
        rows = runner.run_trial(trial, tmp_path)
        assert (rows["status"] == "ok").all() and (rows["recommend_users_per_s"] > 0).all()
        assert len(separate) == passes, trial.metrics


def test_raw_top_k_recomputes_the_table(clean_run):
    from recsys_bench.eval.metrics import ranking_metrics
    from recsys_bench.splits import load_split

    df = read_results(clean_run)
    for trial_id, rows in df.groupby("trial_id"):
        seed = int(rows["seed"].iloc[0])
        split = load_split(clean_run / "splits" / f"synthetic-seed{seed}.npz")
        assert split.fingerprint == rows["split_fingerprint"].iloc[0]
        raw = read_raw(clean_run, trial_id)
        np.testing.assert_array_equal(raw["users"], split.users)
        with np.load(raw_path(clean_run, trial_id)) as stored:  # one ranking serves both subsets
            assert "top_test_e{}".format(rows["epoch"].max()) in stored.files
            assert not any(name.startswith("top_train") for name in stored.files)
        for row in rows.itertuples():
            top = raw[f"top_{row.subset}_e{row.epoch}"]
            assert top.shape == (len(split.users), 5) and top.dtype == np.int32
            truth = (split.test if row.subset == "test" else split.train)[split.users]
            precision = ranking_metrics(top, truth, 5)["precision"].mean()
            assert precision == pytest.approx(row.precision_at_k, abs=1e-12)


def test_learning_curve_equals_a_fit_from_scratch(clean_run):
    from recsys_bench import models
    from recsys_bench.eval.evaluation import evaluate
    from recsys_bench.splits import load_split

    df = read_results(clean_run)
    row = df[(df.model == "implicit-als") & (df.seed == 1) & (df.epoch == 4)
             & (df.subset == "test") & df.params.str.contains('"factors": 8')].iloc[0]
    split = load_split(clean_run / "splits" / "synthetic-seed1.npz")
    model = models.get("implicit-als", factors=8, regularization=0.1, alpha=10, num_threads=1,
                       random_state=1)
    model.fit(split.train, epochs=4)
    result = evaluate(model, split, k=5, exclude_train=False, subsets=("test",),
                      metrics=("precision", "mse"))["test"]
    assert result.means["precision"] == pytest.approx(row.precision_at_k, abs=1e-6)
    assert result.means["mse"] == pytest.approx(row.mse, rel=1e-5)


def test_resume_reruns_only_missing_trials(clean_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(clean_run, run_dir)
    before = read_results(run_dir)
    removed = sorted(before["trial_id"].unique())[:2]
    for trial_id in removed:
        (run_dir / "trials" / f"{trial_id}.parquet").unlink()
    (run_dir / "results.parquet").unlink()
    runner.run(run_dir / "config.toml", run_dir, quiet=True, workers=1)
    after = read_results(run_dir)
    assert sessions(run_dir)[-1]["trials_run"] == 2
    assert not after.duplicated(KEY).any()
    same_metrics(before, after)
    kept = before[~before.trial_id.isin(removed)]
    pd.testing.assert_frame_equal(
        kept.sort_values(KEY).reset_index(drop=True),
        after[~after.trial_id.isin(removed)].sort_values(KEY).reset_index(drop=True))


def test_kill_minus_9_then_rerun_loses_and_duplicates_nothing(clean_run, tmp_path):
    config = write(tmp_path, TINY)
    run_dir = tmp_path / "run"
    code = (f"from recsys_bench.experiment import runner; "
            f"runner.run({str(config)!r}, {str(run_dir)!r}, quiet=True, workers=1)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    trials = run_dir / "trials"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if trials.is_dir() and any(trials.glob("*.parquet")):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(trials.glob("*.parquet")))
    assert 1 <= done < 6
    workers = [int(p.stem.split("-")[1]) for p in (run_dir / "logs").glob("worker-*.log")]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "orphaned workers kept running"
    runner.run(config, run_dir, quiet=True, workers=1)
    after = read_results(run_dir)
    assert sessions(run_dir)[-1]["trials_run"] == 6 - done
    assert not after.duplicated(KEY).any()
    same_metrics(read_results(clean_run), after)


def test_failure_and_timeout_rows_and_retry(tmp_path, monkeypatch):
    from recsys_bench.models.ease import EASE

    def broken_fit(self, *args, **kwargs):
        raise RuntimeError("the solver broke\nat fit time")

    monkeypatch.setattr(EASE, "fit", broken_fit)     # inline: the trial runs in this process
    failing = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace(
        '[[models]]\nname = "implicit-als"\nparams = { regularization = 0.1, alpha = 10 }\n'
        'grid = { factors = [4, 8] }\n',
        '[[models]]\nname = "ease"\n')
    run_dir = runner.run(write(tmp_path, failing), tmp_path / "fail", quiet=True,
                         executor="inline")
    df = read_results(run_dir)
    ease = df[df.model == "ease"]
    assert len(ease) == 1 and ease["status"].iloc[0] == "failed"
    assert "solver broke" in ease["error"].iloc[0] and "\n" not in ease["error"].iloc[0]
    assert ease[["precision_at_k", "mse"]].isna().all().all() and ease["epoch"].iloc[0] == -1
    assert "Traceback" in (run_dir / "logs" / f"{ease['trial_id'].iloc[0]}.log").read_text()
    assert (df.loc[df.model == "popularity", "status"] == "ok").all()

    slow = failing.replace("warmup = 1", "warmup = 1\ntimeout_s = 0.001").replace(
        '[[models]]\nname = "ease"\n', "")
    config = write(tmp_path, slow, "slow.toml")
    run_dir = runner.run(config, tmp_path / "slow", quiet=True)
    df = read_results(run_dir)
    assert list(df["status"]) == ["timeout"] and "timeout_s" in df["error"].iloc[0]
    runner.run(config, run_dir, quiet=True)
    assert sessions(run_dir)[-1]["trials_run"] == 0
    runner.run(config, run_dir, quiet=True, retry_failed=True)
    assert sessions(run_dir)[-1]["trials_run"] == 1
    assert len(read_results(run_dir)) == 1


def test_a_folder_of_another_experiment_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    other = TINY.replace('name = "tiny"', 'name = "other"')
    (run_dir / "config.toml").write_text(other)
    with pytest.raises(UserError, match="different experiment"):
        runner.run(write(tmp_path, TINY), run_dir, quiet=True)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.toml"]
    assert (run_dir / "config.toml").read_text() == other
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an empty folder"):
        runner.run(write(tmp_path, TINY), tmp_path / "busy", quiet=True)


def test_tags_on_a_data_set_without_features_is_a_user_error(tmp_path):
    text = TINY + '\n[[models]]\nname = "lightfm-warp"\nparams = { features = "tags" }\n'
    with pytest.raises(UserError, match="no item features"):
        runner.run(write(tmp_path, text), tmp_path / "run", quiet=True)


def test_trial_ids_are_stable_and_distinct():
    a = runner.trial_id("d", "f" * 64, "implicit-als", '{"factors": 4}', 1)
    assert a == runner.trial_id("d", "f" * 64, "implicit-als", '{"factors": 4}', 1)
    assert len(a) == 16
    assert len({a, runner.trial_id("d", "f" * 64, "implicit-als", '{"factors": 4}', 2),
                runner.trial_id("d", "e" * 64, "implicit-als", '{"factors": 4}', 1),
                runner.trial_id("d", "f" * 64, "implicit-als", '{"factors": 8}', 1)}) == 4


def test_longest_trials_are_scheduled_first():
    from recsys_bench.experiment.plan import Trial, schedule_order

    def trial(name, factors, checkpoints, threads=1):
        return Trial(**{f.name: None for f in dataclasses.fields(Trial)} | dict(
            trial_id=name, params={"factors": factors}, checkpoints=checkpoints, likes=1000,
            threads=threads, exclusive=False))

    trials = [trial("small", 10, (2, 38)), trial("big", 120, (2, 38)),
              trial("short", 120, (2,)), trial("wide", 10, (2,), threads=2)]
    order = schedule_order(trials, trials)
    assert [t.trial_id for t in order] == ["wide", "big", "small", "short"]
