"""Run an experiment: splits once, then every trial on an executor, timed the same way.

The runner

1. loads each data set once, draws its splits (one per seed) and stores them under ``splits/``
   (:mod:`recsys_bench.experiment.plan`);
2. skips trials whose file already exists in ``trials/`` (so an interrupted run resumes);
3. runs the rest through the scheduler (:mod:`recsys_bench.experiment.scheduler`) on an executor
   (:mod:`recsys_bench.experiment.executors`; by default a pool of worker processes, fresh
   interpreters), never using more threads at once than the executor's budget (this machine's
   cores), with trials marked *exclusive* (thread-scaling ones by default) alone on the
   machine; a trial that crashes its worker or passes ``timeout_s`` is recorded as a failed
   row, and the suite goes on;
4. stores each trial's rows and rewrites ``results.parquet`` / ``results.csv`` (in config order,
   whatever order trials finish in) as trials finish.

What a trial does inside a worker is :mod:`recsys_bench.experiment.trial`. Workers live for the
whole run and keep the split they last used in memory, so data is read and converted once per
worker, not once per trial.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from recsys_bench.datasets import recorded_sources
from recsys_bench.errors import UserError
from recsys_bench.experiment import guard, memory
from recsys_bench.experiment.config import Experiment, load_config
from recsys_bench.experiment.plan import (
    PreparedSplit,
    params_json,
    plan_trials,
    prepare_splits,
    schedule_order,
    trial_id,
)
from recsys_bench.experiment.scheduler import Job, Running, Scheduler
from recsys_bench.experiment.tasks import Task
from recsys_bench.experiment.trial import Trial, failed_frame, now, run_trial, run_trial_task
from recsys_bench.fileio import atomic_write_json
from recsys_bench.store import table as store
from recsys_bench.store.run_folder import RunFolder

# The table is rewritten after a finished trial unless the last rewrite was less than this many
# times its own cost ago: the parent shares the cores with the workers, so rewriting may take at
# most ~1% of one core (a 180-trial table costs ~0.4 s, rewritten about every 40 s). It is always
# rewritten at the end, and read_results() rebuilds it from trials/ if it is behind.
_TABLE_EVERY = 100


def run(config_path: str | os.PathLike, out_dir: str | os.PathLike, *, quiet: bool = False,
        workers: int | None = None, retry_failed: bool = False, executor: str = "processes",
        scheduler: str | None = None, memory_budget: str | int | None = None) -> Path:
    """Run (or resume) the experiment ``config_path`` into the folder ``out_dir``.

    Parameters
    ----------
    config_path : str or os.PathLike
        An experiment TOML file (see ``configs/`` and :mod:`recsys_bench.experiment.config`).
    out_dir : str or os.PathLike
        The run folder; created if needed. If it already holds this experiment, finished trials
        are kept and only the missing ones run.
    quiet : bool
        No progress bar, no per-failure lines, no summary.
    workers : int, optional
        Most trials at once (default: the number of cores; with ``dask``, the tasks the
        workers run at once, never more; ``inline`` runs one). Whatever this says, the trials
        running at once never ask for more threads than the executor's budget, and exclusive
        trials run alone.
    retry_failed : bool
        Run again the trials stored as failed or timed out.
    executor : {"processes", "inline", "dask"}
        Where trials run (see :mod:`recsys_bench.experiment.executors`): worker processes on
        this machine (default), this process one at a time (no timeout), or a Dask cluster.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:8786``), for ``executor="dask"`` only.
    memory_budget : str or int, optional
        Bytes (or a size such as ``"8G"``) the trials running at once may need together, by
        their estimates (:mod:`recsys_bench.experiment.memory`); a trial over it on its own is
        refused before any trial runs. Default: the available memory minus a margin (with
        ``dask``: no limit unless given, the workers' memory is not this machine's).

    Returns
    -------
    pathlib.Path
        The run folder (the report is the caller's: :func:`recsys_bench.analysis.report.
        write_report`).

    Raises
    ------
    UserError
        The config is invalid, ``out_dir`` holds a different experiment, a data set cannot be
        loaded or split, or the executor cannot be set up (see
        :func:`recsys_bench.experiment.executors.make`).
    """
    from recsys_bench import yardstick
    from recsys_bench.experiment import executors

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UserError(f"workers must be an integer >= 1, got {workers!r}")
    experiment = load_config(config_path)
    budget = (None if executor == "dask" and memory_budget is None
              else memory.Budget.of(memory_budget))
    run_dir = Path(out_dir)
    say = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    pool = executors.make(executor, run_dir, scheduler=scheduler,
                          models=tuple(m.name for m in experiment.models))
    try:
        start = guard.Start(run_dir)
    except BaseException:
        pool.close()
        raise
    try:
        sources = guard.Sources(experiment, say)
        RunFolder(run_dir).claim(experiment.raw, experiment.source)
        sources.check(run_dir)
        session = {"started_at": now(), "status": "running", "workers": pool.slots(workers),
                   **pool.info(), **memory.session_info(budget)}
        info = _write_run_info(run_dir, experiment, session)
    except BaseException:
        pool.close()
        start.undo() or start.release()
        raise
    t0 = time.perf_counter()
    results = None
    restore_signals = guard.interrupt_on_signals()
    try:
        with guard.config_named(experiment.path):
            prepared = prepare_splits(experiment, run_dir, say, load=sources.load)
        sources.release()
        session["sources"] = recorded_sources(run_dir)
        trials = plan_trials(experiment, prepared)
        guard.check_trials(experiment, trials, budget)
        frames = guard.read_trials(run_dir, say)
        todo = [t for t in trials if t.trial_id not in frames
                or (retry_failed and not _succeeded(frames[t.trial_id]))]
        order = [t.trial_id for t in trials]
        counts = {"planned": len(trials), "run": 0, "reused": len(trials) - len(todo)}
        results = _Results(run_dir, frames, order, quiet=quiet, total=len(trials),
                           desc=experiment.name, todo=len(todo))
        probes = yardstick.Probes.start(session) if todo and pool.name != "dask" else None
        scheduler = Scheduler(pool, max_workers=session["workers"], on_done=results.done,
                              on_lost=results.lost, probes=probes,
                              memory_budget=budget.bytes if budget is not None else None)
        start.trials_started()
        try:
            scheduler.run(_job(t, run_dir) for t in schedule_order(todo, trials))
        finally:
            results.close()
    except BaseException as exc:
        pool.close()
        if start.undo():
            raise
        try:
            if results is not None:
                results.write_table()
            session.update(status="interrupted" if isinstance(exc, KeyboardInterrupt)
                           else "failed", ended_at=now(),
                           wall_seconds=round(time.perf_counter() - t0, 3),
                           trials_run=results.finished if results is not None else 0)
            _write_run_info(run_dir, experiment, session, info)
        finally:
            start.release()
        raise
    finally:
        restore_signals()
    try:
        pool.close()
        if probes is not None:
            probes.take("end")
        results.write_table()
        counts["run"] = results.finished
        statuses = _status_counts(results.frames, order)
        session.update(status="complete", ended_at=now(),
                       wall_seconds=round(time.perf_counter() - t0, 3),
                       trials_run=counts["run"], trials_reused=counts["reused"], **statuses)
        _write_run_info(run_dir, experiment, session, info)
    finally:
        start.release()
    if not quiet:
        print(f"{experiment.name}: {counts['planned']} trials, {statuses['ok']} ok, "
              f"{statuses['failed']} failed, {statuses['timeout']} timed out "
              f"({counts['run']} run now, {counts['reused']} reused) in "
              f"{_duration(time.perf_counter() - t0)}; results: {run_dir / 'results.csv'}",
              flush=True)
    return run_dir


def _job(trial: Trial, run_dir: Path) -> Job:
    task = Task(trial.trial_id, run_trial_task, (trial, str(run_dir)), threads=trial.threads)
    return Job(task, threads=trial.threads, exclusive=trial.exclusive, timeout_s=trial.timeout_s,
               memory_bytes=memory.trial_estimate(trial).total)


class _Results:
    """Stores what the scheduler reports, keeps the table current and shows progress."""

    def __init__(self, run_dir: Path, frames: dict[str, pd.DataFrame], order: list[str], *,
                 quiet: bool, total: int, desc: str, todo: int):
        from tqdm import tqdm

        self.run_dir = run_dir
        self.frames = frames
        self.order = order
        self.quiet = quiet
        self.finished = 0
        self.written_at = -math.inf
        self.write_cost = 0.0
        self.bar = tqdm(total=total, initial=total - todo, unit="trial", desc=desc,
                        disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True,
                        smoothing=0.05)

    def done(self, entry: Running, frame: pd.DataFrame) -> None:
        self.collect(entry.job.task.args[0], frame)

    def lost(self, entry: Running, status: str, error: str) -> None:
        """The executor lost a trial, or it ran past its time: store a failed row."""
        trial = entry.job.task.args[0]
        self.collect(trial, failed_frame(trial, status, error, entry.started_at))

    def collect(self, trial: Trial, frame: pd.DataFrame) -> None:
        store.write_trial(self.run_dir, trial.trial_id, frame)
        frame = store.read_trial(store.trial_path(self.run_dir, trial.trial_id))
        self.frames[trial.trial_id] = frame
        self.finished += 1
        if time.monotonic() - self.written_at >= _TABLE_EVERY * self.write_cost:
            self.write_table()
        status = str(frame["status"].iloc[0]) if len(frame) else "failed"
        if status != "ok" and not self.quiet:
            self.bar.write(f"{status}: {trial.model} {trial.params_json} threads={trial.threads} "
                           f"on {trial.dataset} seed {trial.seed}: {frame['error'].iloc[0]}",
                           file=sys.stderr)
        self.bar.set_postfix_str(f"{trial.model} {trial.threads}t", refresh=False)
        self.bar.update(1)

    def write_table(self) -> None:
        """Rewrite the result table from every stored trial in config order (whatever order
        they finished in), and note what that cost."""
        start = time.monotonic()
        known = set(self.order)
        ids = [t for t in self.order if t in self.frames]
        ids += sorted(t for t in self.frames if t not in known)
        store.write_table(store.combine([self.frames[t] for t in ids]), self.run_dir)
        self.written_at = time.monotonic()
        self.write_cost = self.written_at - start

    def close(self) -> None:
        self.bar.close()


def _git_state() -> dict:
    """Commit of the checkout this package runs from, and whether the package has uncommitted
    changes (run folders elsewhere in the checkout do not count)."""
    here = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {}
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."],
                               cwd=here, capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {}


def _write_run_info(run_dir: Path, experiment: Experiment, session: dict,
                    info: dict | None = None) -> dict:
    """Write ``run.json``: provenance, the config as run, and one entry per session."""
    from recsys_bench.threads import machine_info

    if info is None:
        info = store.read_run_info(run_dir)
        sessions = info.get("sessions", [])
        info = {
            "experiment": experiment.name,
            "description": experiment.description,
            "started_at": info.get("started_at", session["started_at"]),
            "ended_at": None,
            "status": "running",
            "git": _git_state(),
            "machine": machine_info(),
            "config": experiment.raw,
            "sessions": sessions,
        }
        info["sessions"].append(session)
    info["status"] = session["status"]
    info["ended_at"] = session.get("ended_at")
    atomic_write_json(RunFolder(run_dir).run_info, info)
    return info


def _succeeded(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and bool((frame["status"] == "ok").all())


def _status_counts(frames: dict[str, pd.DataFrame], order: list[str]) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0, "timeout": 0}
    for tid in order:
        if tid in frames and len(frames[tid]):
            status = str(frames[tid]["status"].iloc[0])
            counts[status] = counts.get(status, 0) + 1
    return counts


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


__all__ = ["Trial", "PreparedSplit", "run", "run_trial", "plan_trials", "prepare_splits",
           "trial_id", "params_json", "failed_frame"]
