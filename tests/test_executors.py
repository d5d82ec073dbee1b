"""One small grid through every executor gives one results table; Dask set-up errors are clear."""

from __future__ import annotations

import sys
import time

import dask
import pandas as pd
import pytest
from dask_cluster import local_cluster
from test_runner import KEY, TINY, write

from recsys_bench.cli import main
from recsys_bench.errors import UserError
from recsys_bench.experiment import executors, runner
from recsys_bench.experiment import trial as trial_module
from recsys_bench.experiment.config import load_config
from recsys_bench.store.table import read_results, read_run_info

GRID = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace("warmup = 1", "warmup = 0")
METRICS = ["precision_at_k", "recall_at_k", "mse"]
SAME = ["dataset", "seed", "model", "params", "trial_id", "threads", "epoch", "subset", "status",
        *METRICS]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return write(tmp_path_factory.mktemp("grid"), GRID)


@pytest.fixture(scope="module")
def inline_table(config):
    return read_results(runner.run(config, config.parent / "inline", quiet=True,
                                   executor="inline"))


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2) as local:
        yield local


def test_inline_runs_every_trial_in_config_order(inline_table, config):
    assert len(inline_table) == 2 * (1 + 2 * 3)
    assert (inline_table["status"] == "ok").all()
    assert list(inline_table["model"].drop_duplicates()) == ["popularity", "implicit-als"]
    assert not inline_table.duplicated(KEY).any()
    assert read_run_info(config.parent / "inline")["sessions"][-1]["executor"] == "inline"


def test_processes_give_the_inline_table(inline_table, config):
    table = read_results(runner.run(config, config.parent / "processes", quiet=True, workers=2))
    pd.testing.assert_frame_equal(table[SAME], inline_table[SAME], check_exact=True)
    assert read_run_info(config.parent / "processes")["sessions"][-1]["executor"] == "processes"


def test_a_local_dask_cluster_gives_the_inline_table(inline_table, config, cluster):
    run_dir = runner.run(config, config.parent / "dask", quiet=True, executor="dask",
                         scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(read_results(run_dir)[SAME], inline_table[SAME],
                                  check_exact=True)
    session = read_run_info(run_dir)["sessions"][-1]
    assert session["executor"] == "dask" and session["scheduler"] == cluster.scheduler_address
    assert session["trials_run"] == 3 and session["workers"] == 2


def test_trials_finishing_in_reverse_keep_the_table_in_config_order(inline_table, config,
                                                                     monkeypatch):
    config_order = list(inline_table["trial_id"].drop_duplicates())

    class Reverse(executors.InlineExecutor):
        """Starts every trial at once and finishes them in reverse config order."""

        def __init__(self, run_dir):
            super().__init__(run_dir)
            self.started = {}
            self.finished = []

        def budget(self):
            return 100

        def slots(self, workers):
            return 100

        def start(self, trial):
            self.started[trial.trial_id] = trial

        def wait(self, timeout):
            for trial_id in reversed(config_order):
                if trial_id in self.started:
                    self.finished.append(trial_id)
                    super().start(self.started.pop(trial_id))
            return super().wait(timeout)

    pools = []
    monkeypatch.setattr(executors, "make", lambda name, run_dir, scheduler=None, models=():
                        pools.append(Reverse(run_dir)) or pools[-1])
    table = read_results(runner.run(config, config.parent / "reverse", quiet=True))
    assert pools[0].finished == config_order[::-1]
    pd.testing.assert_frame_equal(table[SAME], inline_table[SAME], check_exact=True)


def test_a_dask_trial_past_its_timeout_is_a_timeout_row(config, cluster, tmp_path, monkeypatch):
    def slow(trial, run_dir, cache=None):
        time.sleep(1.0)
        return runner.failed_frame(trial, "failed", "should have been cancelled", "")

    monkeypatch.setattr(trial_module, "run_trial", slow)
    short = write(tmp_path, GRID.replace("warmup = 0", "warmup = 0\ntimeout_s = 0.2"))
    table = read_results(runner.run(short, tmp_path / "run", quiet=True, executor="dask",
                                    scheduler=cluster.scheduler_address))
    assert list(table["status"]) == ["timeout"] * 3
    assert table["error"].str.contains("timeout_s = 0.2 and was cancelled").all()


def test_dask_without_a_scheduler_address_is_a_user_error(config, tmp_path):
    with pytest.raises(UserError, match="needs the Dask scheduler's address"):
        runner.run(config, tmp_path / "run", quiet=True, executor="dask")
    assert not (tmp_path / "run").exists()


def test_an_unreachable_scheduler_is_a_quick_user_error(config, tmp_path):
    start = time.monotonic()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(UserError, match="cannot connect to the Dask scheduler"):
            runner.run(config, tmp_path / "run", quiet=True, executor="dask",
                       scheduler="tcp://127.0.0.1:1")
    assert time.monotonic() - start < 10
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="cannot connect"):
        runner.run(config, tmp_path / "run", quiet=True, executor="dask", scheduler="no-port")


def test_workers_without_a_threads_resource_are_refused(config, tmp_path):
    with local_cluster(1, threads=None) as plain:
        with pytest.raises(UserError, match="resources \"threads=N\""):
            runner.run(config, tmp_path / "run", quiet=True, executor="dask",
                       scheduler=plain.scheduler_address)


def test_missing_distributed_names_the_extra(config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UserError, match=r'pip install "recsys-bench\[dask\]"'):
        runner.run(config, tmp_path / "run", quiet=True, executor="dask",
                   scheduler="tcp://127.0.0.1:1")


def test_unknown_executor_and_needless_scheduler_are_user_errors(config, tmp_path):
    with pytest.raises(UserError, match="unknown executor 'threads'"):
        runner.run(config, tmp_path / "run", quiet=True, executor="threads")
    with pytest.raises(UserError, match="only for the dask executor"):
        runner.run(config, tmp_path / "run", quiet=True, scheduler="tcp://127.0.0.1:1")


def test_workers_that_do_not_see_the_run_folder_are_refused(inline_table, config, cluster,
                                                            tmp_path):
    experiment = load_config(config)
    prepared = runner.prepare_splits(experiment, config.parent / "inline")
    trial = runner.plan_trials(experiment, prepared)[0]
    pool = executors.make("dask", tmp_path / "not-shared", scheduler=cluster.scheduler_address)
    try:
        with pytest.raises(UserError, match="does not see the run folder"):
            pool.start(runner._job(trial, config.parent / "inline").task)
    finally:
        pool.close()


def _plugin_folder(path):
    path.mkdir()
    (path / "config.toml").write_text("")
    return path


def test_workers_that_cannot_import_a_plugin_model_are_refused(cluster, tmp_path, monkeypatch):
    (tmp_path / "plug_here.py").write_text("class Model: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = executors.Task("t", time.sleep, (0.0,))
    pool = executors.make("dask", _plugin_folder(tmp_path / "ok"),
                          scheduler=cluster.scheduler_address,
                          models=("popularity", "plug_here:Model"))
    try:
        pool._check_folder()
        assert pool.folder_seen
    finally:
        pool.close()
    pool = executors.make("dask", _plugin_folder(tmp_path / "bad"),
                          scheduler=cluster.scheduler_address, models=("nosuch_plugin.recs:Model",))
    try:
        with pytest.raises(UserError) as info:
            pool.start(task)
        message = str(info.value)
        assert "cannot import 'nosuch_plugin.recs'" in message and "\n" not in message
        assert "model 'nosuch_plugin.recs:Model'" in message and not pool.futures
    finally:
        pool.close()


def test_a_model_registered_in_this_process_only_is_refused_on_dask(cluster, tmp_path):
    from recsys_bench import models

    models.register("here-only", "recsys_bench.models.baselines:Popularity")
    pool = executors.make("dask", _plugin_folder(tmp_path / "run"),
                          scheduler=cluster.scheduler_address, models=("here-only",))
    try:
        with pytest.raises(UserError, match="registered in this process only"):
            pool._check_folder()
    finally:
        pool.close()
        models.unregister("here-only")


def test_the_command_line_reports_a_missing_scheduler_in_one_line(config, tmp_path, capsys):
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--executor", "dask"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler tcp://HOST:8786" in err
