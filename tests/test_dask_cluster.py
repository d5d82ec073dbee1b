"""A real Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

The same grid through ``--executor dask`` gives the ``processes`` table; a worker killed with
``kill -9`` mid-trial costs no trial (retried on the other worker, or failed with the reason)
and duplicates none; a scheduler that goes away stops the run with one line and a non-zero
exit, keeps the finished trials, and the same command resumes once it is back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from dask_processes import REPO, Cluster

from recsys_bench.experiment import runner
from recsys_bench.store.table import read_results, read_run_info

pytestmark = pytest.mark.slow

GRID = """
[experiment]
name = "dask-grid"
description = "a small grid for the Dask cluster tests"

[[datasets]]
name = "synthetic"
options = { n_users = 20000, n_items = 3000, nnz = 400000, seed = 0 }

[split]
kind = "user_holdout"
seeds = [0]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 10
metrics = ["precision", "recall", "ndcg"]
subsets = ["test"]
checkpoints = [2, 4]

[timing]
warmup = 0
repeats = 1
timeout_s = 300

[[models]]
name = "implicit-als"
params = { use_cg = true, alpha = 10 }
grid = { factors = [16, 32], regularization = [0.01, 0.1, 1.0] }
"""
TRIALS = 6
QUALITY = ["trial_id", "epoch", "subset", "status", "precision_at_k", "recall_at_k",
           "ndcg_at_k"]
TRIAL_LINE = re.compile(r" trial ([0-9a-f]{16}): ")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("dask-grid") / "grid.toml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def processes_table(config):
    return read_results(runner.run(config, config.parent / "processes", quiet=True, workers=2))


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path / "cluster", n_workers=2)
    try:
        yield cluster
    finally:
        cluster.close()


def _quality(table: pd.DataFrame) -> pd.DataFrame:
    return table[QUALITY].sort_values(["trial_id", "epoch"]).reset_index(drop=True)


def _first_trial(log, timeout_s: float = 120) -> str:
    """The id of the first trial a worker's log says it started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = TRIAL_LINE.search(log.read_text(errors="replace")) if log.exists() else None
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no trial started on {log.name} within {timeout_s} s")


def test_two_worker_processes_give_the_processes_table(config, processes_table, cluster):
    assert len(processes_table) == 2 * TRIALS and (processes_table["status"] == "ok").all()
    table = read_results(runner.run(config, config.parent / "dask", quiet=True,
                                    executor="dask", scheduler=cluster.address))
    pd.testing.assert_frame_equal(_quality(table), _quality(processes_table), check_exact=True)
    ran = {TRIAL_LINE.search(line).group(1) for log in cluster.logs
           for line in log.read_text().splitlines() if TRIAL_LINE.search(line)}
    assert ran == set(processes_table["trial_id"])
    assert all(TRIAL_LINE.search(log.read_text()) for log in cluster.logs)  # both worked


def test_a_worker_killed_mid_trial_loses_and_duplicates_nothing(config, processes_table,
                                                                cluster, tmp_path):
    out = tmp_path / "killed"
    killed = {}

    def kill_first_worker():
        trial = _first_trial(cluster.logs[0])
        killed["finished_before"] = (out / "trials" / f"{trial}.parquet").exists()
        cluster.kill(cluster.workers[0])
        killed["trial"] = trial

    watcher = threading.Thread(target=kill_first_worker, daemon=True)
    watcher.start()
    table = read_results(runner.run(config, out, quiet=True, executor="dask",
                                     scheduler=cluster.address))
    watcher.join(10)
    assert killed.get("trial") and killed["finished_before"] is False
    assert cluster.workers[0].returncode == -9
    per_trial = table.drop_duplicates("trial_id")
    assert len(per_trial) == TRIALS and set(per_trial["trial_id"]) == set(
        processes_table["trial_id"])
    assert not table.duplicated(["trial_id", "epoch", "subset"]).any()
    lost = table[table["trial_id"] == killed["trial"]]
    if (lost["status"] == "ok").all():              # retried on the other worker
        pd.testing.assert_frame_equal(
            _quality(lost), _quality(processes_table[processes_table["trial_id"]
                                                     == killed["trial"]]), check_exact=True)
    else:
        assert len(lost) == 1 and lost["error"].iloc[0]
    others = table[table["trial_id"] != killed["trial"]]
    assert (others["status"] == "ok").all()


def test_a_lost_scheduler_stops_with_one_line_and_the_same_command_resumes(config, tmp_path,
                                                                          cluster):
    out = tmp_path / "gone"
    command = [sys.executable, "-m", "recsys_bench", "run", str(config), "--out", str(out),
               "--executor", "dask", "--scheduler", cluster.address, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list(out.glob("trials/*.parquet")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    cluster.kill(cluster.scheduler)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    ours = [line for line in stderr.splitlines() if line.startswith("recsys-bench: error:")]
    assert len(ours) == 1 and "lost the Dask scheduler" in ours[0] and "rerun" in ours[0]
    assert "Traceback" not in stderr
    kept = {path.stem for path in out.glob("trials/*.parquet")}
    assert 1 <= len(kept) < TRIALS
    assert all(pd.read_parquet(out / "trials" / f"{t}.parquet")["status"].eq("ok").all()
               for t in kept)

    for worker in cluster.workers:                  # a fresh cluster at the same address
        cluster.kill(worker)
    again = Cluster(tmp_path / "cluster-again", n_workers=2, port=cluster.port)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                              check=False)
    finally:
        again.close()
    assert done.returncode == 0, done.stderr
    session = read_run_info(out)["sessions"][-1]
    assert (session["trials_run"], session["trials_reused"]) == (TRIALS - len(kept), len(kept))
    table = read_results(out)
    assert (table["status"] == "ok").all() and table["trial_id"].nunique() == TRIALS


class _Future:
    """A task that finished, whose result cannot be fetched: the cluster goes away meanwhile,
    leaving the client ``then``."""

    status = "finished"

    def __init__(self, client, then):
        self.client, self.then = client, then

    def done(self):
        return True

    def result(self):
        from distributed.comm.core import CommClosedError

        self.client.status = self.then
        raise CommClosedError("in <TCP (closed) ConnectionPool.gather>: Connection reset by peer")

    def release(self):
        pass


class _Client:
    status = "running"


def _executor(then: str):
    from recsys_bench.experiment.dask_executor import DaskExecutor

    executor = DaskExecutor.__new__(DaskExecutor)        # no cluster: the state wait() reads
    executor.address, executor.client = "tcp://127.0.0.1:1", _Client()
    executor.futures, executor.done = {"t1": _Future(executor.client, then)}, []
    executor.finished = threading.Event()
    return executor


def test_a_result_lost_with_the_scheduler_is_the_one_line_error_not_a_traceback():
    from recsys_bench.errors import UserError

    with pytest.raises(UserError, match="lost the Dask scheduler"):
        _executor("closed").wait(0.01)


def test_a_result_lost_while_the_client_stays_connected_fails_the_trial_with_the_reason():
    [done] = _executor("running").wait(0.01)
    assert (done.trial_id, done.status) == ("t1", "failed")
    assert "result was lost" in done.error and "Connection reset" in done.error
