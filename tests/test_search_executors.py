"""The Bayesian search through the executors: inline, worker processes and a Dask cluster run the
same trials; lost trials count as failed; bad executor settings are one-line user errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dask_cluster import local_cluster
from test_search import BAD, GOOD, _trials, run_search, write_config
from test_similarity import write_topic_likes

from recsys_bench.cli import main
from recsys_bench.errors import UserError
from recsys_bench.experiment import executors, search

TRIALS = 4


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    write_topic_likes(folder)
    return write_config(folder / "s.toml", folder)


@pytest.fixture(scope="module")
def inline_trials(config):
    run_search(config, config.parent / "inline", TRIALS, quiet=True)
    return _trials(config.parent / "inline")


def _check_complete(out, trials):
    assert len(trials) == TRIALS
    assert {state for _, state, _, _ in trials} <= {"COMPLETE", "PRUNED"}
    assert all(value is not None for _, _, value, _ in trials)
    assert trials[0][3] == GOOD and trials[1][3] == BAD          # the start points first
    summary = json.loads((out / "search.json").read_text())
    assert summary["trials"] == TRIALS and summary["final"] is not None
    assert "## Best trial" in (out / "search.md").read_text()
    return summary


def test_inline_is_the_default_and_completes(inline_trials, config):
    summary = _check_complete(config.parent / "inline", inline_trials)
    assert summary["sessions"][-1]["executor"] == "inline"
    assert summary["sessions"][-1]["parallel"] == 1


def test_processes_one_at_a_time_give_the_inline_trials(inline_trials, config):
    out = config.parent / "processes-1"
    run_search(config, out, TRIALS, quiet=True, executor="processes", parallel=1)
    trials = _trials(out)
    _check_complete(out, trials)
    assert trials == inline_trials                              # same draws, values, pruning
    best = max(value for _, state, value, _ in trials if state == "COMPLETE")
    assert json.loads((out / "search.json").read_text())["final"]["validation"] == best
    assert list((out / "logs").glob("worker-*.log"))


@pytest.mark.slow
def test_two_processes_at_once_complete_and_resume_inline(config):
    out = config.parent / "processes-2"
    run_search(config, out, TRIALS, quiet=True, executor="processes", parallel=2)
    summary = _check_complete(out, _trials(out))
    assert summary["sessions"][-1] == {**summary["sessions"][-1], "executor": "processes",
                                       "parallel": 2}
    table = pd.read_csv(out / "search.csv")
    assert (table["epochs_run"] > 0).all() and (table["fit_seconds"] > 0).all()
    assert len(list((out / "logs").glob("worker-*.log"))) == 2  # two trials at once
    run_search(config, out, TRIALS + 1, quiet=True)
    assert len(_trials(out)) == TRIALS + 1                     # continued inline, not restarted


@pytest.mark.slow
def test_trials_running_at_an_interrupt_do_not_count(config, tmp_path, monkeypatch):
    def interrupt(study, trial):
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "_progress", lambda total, done: interrupt)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_search(config, out, TRIALS, executor="processes", parallel=2)
    states = sorted(state for _, state, _, _ in _trials(out))
    assert len(states) == 2 and states[1] == "FAIL"             # the other one was running
    monkeypatch.undo()
    run_search(config, out, TRIALS, quiet=True)
    table = pd.read_csv(out / "search.csv")
    assert (table["state"] == "interrupted").sum() == 1 and len(table) == TRIALS + 1
    assert json.loads((out / "search.json").read_text())["trials"] == TRIALS


def test_a_lost_trial_counts_as_failed_and_the_search_goes_on(config, tmp_path, monkeypatch):
    class LoseFirst(executors.InlineExecutor):
        def start(self, trial):
            if not self.started:
                self.done.append(executors.Done(trial.trial_id, "failed", "worker died"))
            else:
                super().start(trial)
            self.started.append(trial.trial_id)

    def make(name, run_dir, scheduler=None, models=()):
        pool = LoseFirst(run_dir)
        pool.started = []
        return pool

    monkeypatch.setattr(executors, "make", make)
    run_search(config, tmp_path / "out", 3, quiet=True)
    trials = _trials(tmp_path / "out")
    assert [state for _, state, _, _ in trials][0] == "FAIL" and len(trials) == 3
    table = pd.read_csv(tmp_path / "out" / "search.csv")
    assert table.loc[0, "state"] == "fail" and table.loc[0, "error"] == "worker died"


def test_a_trial_past_timeout_s_is_killed_and_counts_as_failed(tmp_path):
    write_topic_likes(tmp_path)
    config = write_config(tmp_path / "s.toml", tmp_path, extra="timeout_s = 0.01\n")
    assert search.load_search_config(config).search.timeout_s == 0.01
    out = tmp_path / "out"
    run_search(config, out, 2, quiet=True, executor="processes", parallel=1)
    assert [state for _, state, _, _ in _trials(out)] == ["FAIL", "FAIL"]
    table = pd.read_csv(out / "search.csv")
    assert (table["error"] == "exceeded timeout_s = 0.01 and was killed").all()
    summary = json.loads((out / "search.json").read_text())
    assert summary["trials"] == 2 and summary["final"] is None


@pytest.mark.parametrize("options, message", [
    (dict(executor="threads"), "unknown executor 'threads'"),
    (dict(executor="processes", scheduler="tcp://127.0.0.1:1"), "only for the dask executor"),
    (dict(executor="dask"), "needs the Dask scheduler's address"),
    (dict(parallel=2), "the inline executor runs one trial at a time"),
    (dict(executor="processes", parallel=0), "--parallel must be a whole number >= 1"),
])
def test_bad_executor_settings_are_user_errors(config, tmp_path, options, message):
    with pytest.raises(UserError, match=message):
        run_search(config, tmp_path / "out", 2, quiet=True, **options)
    assert not (tmp_path / "out").exists()


def test_the_command_line_reports_a_bad_combination_in_one_line(config, tmp_path, capsys):
    assert main(["search", str(config), "--trials", "2", "--out", str(tmp_path / "out"),
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only for the dask executor" in err


def test_a_local_dask_cluster_runs_the_search(config):
    with local_cluster(2) as cluster:
        out = config.parent / "dask"
        run_search(config, out, TRIALS, quiet=True, executor="dask",
                          scheduler=cluster.scheduler_address)
    summary = _check_complete(out, _trials(out))
    session = summary["sessions"][-1]
    assert session["executor"] == "dask" and session["scheduler"] == cluster.scheduler_address
    assert session["parallel"] == 2
