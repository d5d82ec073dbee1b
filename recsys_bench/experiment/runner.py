"""Run an experiment: splits once, then every trial in a worker process, timed the same way.

A trial is one (data set, split seed, model, parameter setting, thread count). The runner

1. loads each data set once, draws its splits (one per seed) and stores them under ``splits/``;
2. skips trials whose file already exists in ``trials/`` (so an interrupted run resumes);
3. runs the rest on an executor (:mod:`recsys_bench.experiment.executors`; by default a pool of worker
   processes, fresh interpreters), never using more threads at once than the executor's budget
   (this machine's cores), with trials marked *exclusive* (thread-scaling ones by default) alone
   on the machine; a trial that crashes its worker or passes ``timeout_s`` is stopped and
   recorded as a failed row, and the suite goes on;
4. rewrites ``results.parquet`` / ``results.csv`` (in config order, whatever order trials finish
   in) after every finished trial and writes the report at the end.

Inside a worker a trial trains incrementally through its checkpoints (``fit`` to the first, then
``fit_more`` by the difference: a learning curve never refits from scratch), evaluates at each with
:func:`recsys_bench.eval.evaluation.evaluate` (one top-k pass per checkpoint), times fits and evaluation
with ``perf_counter``, measures recommend throughput once at the last checkpoint and records the
trial's peak resident memory. Workers live for the whole run and keep the split they last used
in memory, so data is read and converted once per worker, not once per trial.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.store import table as store
from recsys_bench.experiment.config import (Experiment, ModelSpec, load_config, model_params,
                                 wants_features)
from recsys_bench.datasets import recorded_sources
from recsys_bench.errors import UserError
from recsys_bench.protocol import fit_through
from recsys_bench.embeddings import save_run_model, save_vocabulary, vocabulary_path

_SPLITS_CACHED = 2
# The table is rewritten after a finished trial unless the last rewrite was less than this many
# times its own cost ago: the parent shares the cores with the workers, so rewriting may take at
# most ~1% of one core (a 180-trial table costs ~0.4 s, rewritten about every 40 s). It is always
# rewritten at the end, and read_results() rebuilds it from trials/ if it is behind.
_TABLE_EVERY = 100


@dataclass(frozen=True)
class Trial:
    """Everything a worker needs to run one trial, and the identity columns of its rows."""

    trial_id: str
    dataset: str
    dataset_name: str
    dataset_options: str
    seed: int
    split_kind: str
    split_fingerprint: str
    split_file: str
    features_file: str | None
    model: str
    params: dict
    params_json: str
    threads: int
    checkpoints: tuple[int, ...] | None
    k: int
    metrics: tuple[str, ...]
    subsets: tuple[str, ...]
    exclude_train: bool
    warmup: int
    repeats: int
    timeout_s: float
    exclusive: bool
    n_users: int
    n_items: int
    likes: int
    train_likes: int


@dataclass(frozen=True)
class PreparedSplit:
    """A stored split of one data set and seed, with the figures trials report."""

    label: str
    seed: int
    split_file: str
    features_file: str | None
    fingerprint: str
    n_users: int
    n_items: int
    likes: int
    train_likes: int


def trial_id(dataset: str, fingerprint: str, model: str, params_json: str, threads: int) -> str:
    """Short stable id of a trial: sha256 of its identity, 16 hex digits."""
    key = json.dumps([dataset, fingerprint, model, params_json, int(threads)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def params_json(params: dict) -> str:
    """Parameters as JSON with sorted keys (the ``params`` column)."""
    return json.dumps(params, sort_keys=True)


def run(config_path: str | os.PathLike, out_dir: str | os.PathLike, *, quiet: bool = False,
        workers: int | None = None, retry_failed: bool = False, executor: str = "processes",
        scheduler: str | None = None) -> Path:
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
        Where trials run (see :mod:`recsys_bench.experiment.executors`): worker processes on this machine
        (default), this process one at a time (no timeout), or a Dask cluster.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:8786``), for ``executor="dask"`` only.

    Returns
    -------
    pathlib.Path
        The run folder.

    Raises
    ------
    UserError
        The config is invalid, ``out_dir`` holds a different experiment, a data set cannot be
        loaded or split, or the executor cannot be set up (see
        :func:`recsys_bench.experiment.executors.make`).
    """
    from recsys_bench.experiment import executors

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UserError(f"workers must be an integer >= 1, got {workers!r}")
    experiment = load_config(config_path)
    run_dir = Path(out_dir)
    pool = executors.make(executor, run_dir, scheduler=scheduler)
    try:
        _claim_folder(run_dir, experiment)
        session = {"started_at": _now(), "status": "running", "workers": pool.slots(workers),
                   **pool.info()}
        info = _write_run_info(run_dir, experiment, session)
    except BaseException:
        pool.close()
        raise
    t0 = time.perf_counter()
    feed = None
    previous = _interrupt_on_sigterm()
    try:
        say = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        prepared = prepare_splits(experiment, run_dir, say)
        session["sources"] = recorded_sources(run_dir)
        trials = plan_trials(experiment, prepared)
        frames = store.read_trials(run_dir)
        todo = [t for t in trials if t.trial_id not in frames
                or (retry_failed and not _succeeded(frames[t.trial_id]))]
        todo.sort(key=_schedule_key({t.trial_id: i for i, t in enumerate(trials)}))
        order = [t.trial_id for t in trials]
        counts = {"planned": len(trials), "run": 0, "reused": len(trials) - len(todo)}
        feed = _Scheduler(run_dir, frames, order, pool=pool, max_workers=session["workers"],
                          quiet=quiet, total=len(trials), desc=experiment.name)
        feed.run(todo)
    except BaseException as exc:
        pool.close()
        if feed is not None:
            feed.write_table()
        session.update(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                       ended_at=_now(), wall_seconds=round(time.perf_counter() - t0, 3),
                       trials_run=feed.finished if feed is not None else 0)
        _write_run_info(run_dir, experiment, session, info)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    pool.close()
    feed.write_table()
    counts["run"] = feed.finished
    statuses = _status_counts(feed.frames, order)
    session.update(status="complete", ended_at=_now(),
                   wall_seconds=round(time.perf_counter() - t0, 3),
                   trials_run=counts["run"], trials_reused=counts["reused"], **statuses)
    _write_run_info(run_dir, experiment, session, info)
    report = _write_report(run_dir, quiet)
    wall = time.perf_counter() - t0
    if not quiet:
        line = (f"{experiment.name}: {counts['planned']} trials, {statuses['ok']} ok, "
                f"{statuses['failed']} failed, {statuses['timeout']} timed out "
                f"({counts['run']} run now, {counts['reused']} reused) in {_duration(wall)}; "
                f"results: {run_dir / 'results.csv'}")
        if report is not None:
            line += f"; report: {report}"
        print(line, flush=True)
    return run_dir


def _interrupt_on_sigterm():
    """Make SIGTERM behave like Ctrl-C while a run is in progress (main thread only).

    Returns the previous handler to restore, or None when it could not be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    return signal.signal(signal.SIGTERM, interrupt)


# --------------------------------------------------------------------------- the run folder

def _claim_folder(run_dir: Path, experiment: Experiment) -> None:
    """Refuse a folder holding anything but this experiment; else copy the config into it."""
    config = run_dir / "config.toml"
    if config.exists():
        import tomllib

        try:
            stored = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"cannot read the stored config.toml: {exc}", path=config) from None
        if stored != experiment.raw:
            keys = sorted(k for k in set(stored) | set(experiment.raw)
                          if stored.get(k) != experiment.raw.get(k))
            name = stored.get("experiment", {}).get("name", "?")
            raise UserError(f"the folder holds a different experiment ({name!r}; config differs "
                            f"in: {', '.join(keys)}); use another --out", path=run_dir)
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UserError("not an empty folder and not a run folder (no config.toml); "
                        "use another --out", path=run_dir)
    store.atomic_write_text(config, experiment.source)


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
    store.atomic_write_json(run_dir / "run.json", info)
    return info


def _write_report(run_dir: Path, quiet: bool) -> Path | None:
    try:
        from recsys_bench.analysis.report import write_report
    except ImportError as exc:
        warnings.warn(f"no report written (recsys_bench.analysis.report unavailable: {exc})", stacklevel=2)
        return None
    try:
        from recsys_bench.analysis.gallery import write_gallery

        write_gallery(run_dir)
        return write_report(run_dir)
    except Exception as exc:  # the results are safe; a report bug must not hide them
        if not quiet:
            print(f"warning: report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- splits and trials

def prepare_splits(experiment: Experiment, run_dir: Path, say=None
                   ) -> dict[tuple[str, int], PreparedSplit]:
    """Load each data set once, draw and store its splits (reused when already stored).

    Writes ``splits/<label>-seed<N>.npz``, ``splits/<label>-features.npz`` (when the data set has
    item features) and ``splits/<label>.json`` (sizes, loader statistics, split fingerprints).
    ``say``, if given, is called with a line of progress before each data set is loaded.
    """
    from recsys_bench import datasets

    folder = run_dir / "splits"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, int], PreparedSplit] = {}
    for spec in experiment.datasets:
        meta_path = folder / f"{spec.label}.json"
        meta = _stored_meta(meta_path, experiment, spec)
        if meta is None:
            if say is not None:
                say(f"loading {spec.label} and drawing {len(experiment.split.seeds)} "
                    f"{experiment.split.kind} split(s)")
            meta = _make_splits(experiment, spec, folder, datasets.load(spec.name, **spec.options))
            store.atomic_write_json(meta_path, meta)
        for seed in experiment.split.seeds:
            entry = meta["seeds"][str(seed)]
            out[spec.label, seed] = PreparedSplit(
                label=spec.label, seed=seed, split_file=f"splits/{entry['file']}",
                features_file=(f"splits/{meta['features_file']}" if meta["features_file"]
                               else None),
                fingerprint=entry["fingerprint"], n_users=entry["evaluated_users"],
                n_items=meta["items"], likes=meta["likes"], train_likes=entry["train_likes"])
    return out


def _stored_meta(path: Path, experiment: Experiment, spec) -> dict | None:
    """The stored description of a data set's splits, if it is complete and still matches."""
    if not path.exists():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    seeds = meta.get("seeds", {})
    files = [seeds[str(s)]["file"] for s in experiment.split.seeds if str(s) in seeds]
    if meta.get("features_file"):
        files.append(meta["features_file"])
    complete = (all(str(s) in seeds for s in experiment.split.seeds)
                and all((path.parent / name).exists() for name in files)
                and vocabulary_path(path.parent.parent, spec.label).exists())
    same = (meta.get("name") == spec.name and meta.get("options") == spec.options
            and meta.get("split") == _split_identity(experiment))
    return meta if complete and same else None


def _split_identity(experiment: Experiment) -> dict:
    return {"kind": experiment.split.kind, "options": experiment.split.options}


def _make_splits(experiment: Experiment, spec, folder: Path, data) -> dict:
    from recsys_bench.splits import make_split, save_split

    save_vocabulary(vocabulary_path(folder.parent, spec.label), data)
    features_file = None
    if data.item_features is not None:
        features_file = f"{spec.label}-features.npz"
        store.atomic_save_npz(folder / features_file, _csr_arrays(data.item_features))
    seeds = {}
    for seed in experiment.split.seeds:
        split = make_split(data, experiment.split.kind, seed=seed, **experiment.split.options)
        name = f"{spec.label}-seed{seed}.npz"
        save_split(split, folder / name)
        seeds[str(seed)] = {"file": name, "fingerprint": split.fingerprint,
                            "train_likes": int(split.train.nnz), "test_likes": int(split.test.nnz),
                            "evaluated_users": int(len(split.users))}
    return {"label": spec.label, "name": spec.name, "options": spec.options,
            "split": _split_identity(experiment), "users": int(data.n_users),
            "items": int(data.n_items), "likes": int(data.nnz),
            "features": None if data.item_features is None else int(data.item_features.shape[1]),
            "features_file": features_file, "summary": data.summary(),
            "sources": [source.as_dict() for source in data.sources], "seeds": seeds}


def _csr_arrays(matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    matrix = sp.csr_matrix(matrix)
    return {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr,
            "shape": np.asarray(matrix.shape, dtype=np.int64)}


def _load_csr(path: Path) -> sp.csr_matrix:
    with np.load(path, allow_pickle=False) as npz:
        return sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]),
                             shape=tuple(npz["shape"]))


def plan_trials(experiment: Experiment, prepared: dict[tuple[str, int], PreparedSplit]
                ) -> list[Trial]:
    """Every trial of the experiment, in config order (data set, seed, model, setting, threads).

    A trial listed by two ``[[models]]`` entries (same model, parameters and thread count, e.g. a
    grid point that a thread-scaling entry repeats) runs once: it is exclusive if either entry
    makes it so, with the most repeats asked for, and otherwise as the first entry says.

    Raises
    ------
    UserError
        A setting asks for item features (``features = "tags"``) on a data set without them.
    """
    trials = []
    ev, timing = experiment.evaluation, experiment.timing
    for spec in experiment.datasets:
        for seed in experiment.split.seeds:
            split = prepared[spec.label, seed]
            for index, model in enumerate(experiment.models):
                if not model.applies_to(spec.label):
                    continue
                for setting in model.settings():
                    if wants_features(setting) and split.features_file is None:
                        raise UserError(f"models[{index}] ({model.name}) asks for features = "
                                        f"\"tags\" but dataset {spec.label!r} has no item "
                                        "features", path=experiment.path)
                    text = params_json(setting)
                    for threads in model.threads:
                        trials.append(Trial(
                            trial_id=trial_id(spec.label, split.fingerprint, model.name, text,
                                              threads),
                            dataset=spec.label, dataset_name=spec.name,
                            dataset_options=params_json(spec.options), seed=seed,
                            split_kind=experiment.split.kind,
                            split_fingerprint=split.fingerprint, split_file=split.split_file,
                            features_file=split.features_file, model=model.name,
                            params=setting, params_json=text, threads=threads,
                            checkpoints=experiment.checkpoints_of(model), k=ev.k,
                            metrics=ev.metrics, subsets=ev.subsets,
                            exclude_train=ev.exclude_train, warmup=experiment.warmup_of(model),
                            repeats=experiment.repeats_of(model), timeout_s=timing.timeout_s,
                            exclusive=_exclusive(timing.exclusive, model),
                            n_users=split.n_users, n_items=split.n_items, likes=split.likes,
                            train_likes=split.train_likes))
    unique: dict[str, Trial] = {}
    for trial in trials:
        first = unique.setdefault(trial.trial_id, trial)
        if first is not trial:
            unique[trial.trial_id] = dataclasses.replace(
                first, exclusive=first.exclusive or trial.exclusive,
                repeats=max(first.repeats, trial.repeats))
    return list(unique.values())


def _exclusive(policy: str, model: ModelSpec) -> bool:
    return policy == "all" or (policy == "scaling" and len(model.threads) > 1)


def _schedule_key(position: dict[str, int]):
    """Exclusive trials first (so the machine empties once), then most threads, then the
    longest first (so the last trials to start are the short ones and no core idles at the end
    of a grid), then config order."""
    return lambda t: (not t.exclusive, -t.threads if not t.exclusive else 0,
                      -_work_estimate(t), position[t.trial_id])


def _work_estimate(trial: Trial) -> float:
    """A rough relative cost of a trial: likes x epochs x latent dimension (1 when not given).

    Only the order of trials depends on it, never a result.
    """
    epochs = max(trial.checkpoints) if trial.checkpoints else \
        trial.params.get("epochs", trial.params.get("iterations", 1))
    width = trial.params.get("factors", trial.params.get("no_components", 1))
    numbers = [v for v in (epochs, width)
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(trial.likes) * float(np.prod(numbers or [1]))


def _succeeded(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and bool((frame["status"] == "ok").all())


def _status_counts(frames: dict[str, pd.DataFrame], order: list[str]) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0, "timeout": 0}
    for tid in order:
        if tid in frames and len(frames[tid]):
            status = str(frames[tid]["status"].iloc[0])
            counts[status] = counts.get(status, 0) + 1
    return counts


# --------------------------------------------------------------------------- scheduling

@dataclass
class _Running:
    trial: Trial
    started: float
    started_at: str


class _Scheduler:
    """Starts trials on an executor within the thread budget and collects what they store."""

    def __init__(self, run_dir: Path, frames: dict[str, pd.DataFrame], order: list[str], *,
                 pool, max_workers: int, quiet: bool, total: int, desc: str):
        self.run_dir = run_dir
        self.frames = frames
        self.order = order
        self.pool = pool
        self.max_workers = max_workers
        self.quiet = quiet
        self.running: dict[str, _Running] = {}
        self.finished = 0
        self.written_at = -math.inf
        self.write_cost = 0.0
        self.total = total
        self.desc = desc

    def fits(self, trial: Trial) -> bool:
        if not self.running:
            return True
        if trial.exclusive or any(r.trial.exclusive for r in self.running.values()):
            return False
        if len(self.running) >= self.max_workers:
            return False
        busy = sum(r.trial.threads for r in self.running.values())
        return busy + trial.threads <= self.pool.budget()

    def run(self, todo: list[Trial]) -> None:
        from tqdm import tqdm

        pending = deque(todo)
        done_before = self.total - len(todo)
        bar = tqdm(total=self.total, initial=done_before, unit="trial", desc=self.desc,
                   disable=self.quiet or not sys.stderr.isatty(), dynamic_ncols=True,
                   smoothing=0.05)
        self.bar = bar
        try:
            while pending or self.running:
                while pending and self.fits(pending[0]):
                    trial = pending.popleft()
                    self.running[trial.trial_id] = _Running(trial, time.monotonic(), _now())
                    self.pool.start(trial)
                self.wait()
        finally:
            bar.close()

    def wait(self) -> None:
        deadline = min(r.started + r.trial.timeout_s for r in self.running.values())
        for done in self.pool.wait(max(0.0, deadline - time.monotonic()) + 0.05):
            entry = self.running.pop(done.trial_id)
            if done.status is None:
                self.collect(entry.trial)
            else:
                self.lost(entry, done.status, done.error)
        for trial_id, entry in list(self.running.items()):
            if time.monotonic() - entry.started > entry.trial.timeout_s:
                how = self.pool.cancel(trial_id)
                del self.running[trial_id]
                self.lost(entry, "timeout", f"exceeded timeout_s = {entry.trial.timeout_s:g} "
                          f"and {how}")

    def lost(self, entry: _Running, status: str, error: str) -> None:
        """The executor lost a trial: keep what it stored, else store a failed row."""
        trial = entry.trial
        if not store.trial_path(self.run_dir, trial.trial_id).exists():
            store.write_trial(self.run_dir, trial.trial_id,
                              failed_frame(trial, status, error, entry.started_at))
        self.collect(trial)

    def collect(self, trial: Trial) -> None:
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


# --------------------------------------------------------------------------- inside a worker

def run_trial(trial: Trial, run_dir: Path, cache: OrderedDict | None = None) -> pd.DataFrame:
    """Run one trial in this process and return its rows; failures become one failed row.

    Writes ``raw/<trial_id>.npz`` (top-k ids at every checkpoint) on success and
    ``logs/<trial_id>.log`` (the traceback) on failure; the caller stores the rows.
    """
    started_at = _now()
    try:
        return _measure(trial, run_dir, cache if cache is not None else OrderedDict(), started_at)
    except Exception as exc:
        store.atomic_write_text(Path(run_dir) / "logs" / f"{trial.trial_id}.log",
                                traceback.format_exc())
        return failed_frame(trial, "failed", one_line(exc), started_at)


def _data(trial: Trial, run_dir: Path, cache: OrderedDict):
    from recsys_bench.splits import load_split

    if trial.split_file not in cache:
        split = load_split(run_dir / trial.split_file)
        features = _load_csr(run_dir / trial.features_file) if trial.features_file else None
        cache[trial.split_file] = (split, features)
        while len(cache) > _SPLITS_CACHED:
            cache.popitem(last=False)
    cache.move_to_end(trial.split_file)
    return cache[trial.split_file]


def _train(trial: Trial, params: dict, split, features, on_checkpoint=None):
    """Fit through the checkpoints; returns the model and (epoch, cumulative s, s per epoch)."""
    from recsys_bench import models

    model = models.get(trial.model, **params)
    targets = list(trial.checkpoints) if trial.checkpoints and model.supports_continue else [None]
    done, total, curve = 0, 0.0, []
    for seconds in fit_through(model, split.train, targets, item_features=features):
        total += seconds
        epoch = int(model.epochs_done) if model.supports_continue else 0
        curve.append((epoch, total, seconds / max(1, epoch - done)))
        done = epoch
        if on_checkpoint is not None:
            on_checkpoint(model, epoch)
    return model, curve


def _measure(trial: Trial, run_dir: Path, cache: OrderedDict, started_at: str) -> pd.DataFrame:
    from recsys_bench import models
    from recsys_bench.eval.evaluation import evaluate
    from recsys_bench.threads import pinned_blas
    from recsys_bench.eval.topk import topk

    _reset_peak_rss()
    split, all_features = _data(trial, run_dir, cache)
    features = all_features if wants_features(trial.params) else None
    params = model_params(trial.model, trial.params, threads=trial.threads, seed=trial.seed)
    continues = models.model_class(trial.model).supports_continue
    evaluations: list[tuple[int, float, dict]] = []
    raw: dict[str, np.ndarray] = {"users": np.asarray(split.users, dtype=np.int64)}
    aliases: list[str] = []

    def on_checkpoint(model, epoch: int) -> None:
        start = time.perf_counter()
        result = evaluate(model, split, k=trial.k, exclude_train=trial.exclude_train,
                          subsets=trial.subsets, metrics=trial.metrics)
        evaluations.append((epoch, time.perf_counter() - start, result))
        first = None
        for subset in sorted(trial.subsets, key=lambda name: name != "test"):
            key = f"top_{subset}_e{epoch}"
            top = np.asarray(result[subset].top, dtype=np.int32)
            if first is not None and np.array_equal(top, raw[first]):
                aliases.append(f"{key}={first}")
            else:
                raw[key] = top
                first = first or key

    with pinned_blas(trial.threads):
        for _ in range(trial.warmup):
            warm = models.get(trial.model, **params)
            warm.fit(split.train, item_features=features, epochs=1 if continues else None)
            del warm
        model, curve = _train(trial, params, split, features, on_checkpoint)
        final = evaluations[-1][2].get("test") if evaluations else None
        rank_seconds = final.rank_seconds if final is not None else None
        if rank_seconds is None:
            start = time.perf_counter()
            topk(model, split.users, trial.k,
                 exclude=split.train if trial.exclude_train else None)
            rank_seconds = time.perf_counter() - start
        users_per_s = len(split.users) / max(rank_seconds, 1e-12)
        save_run_model(run_dir, model, dataset=trial.dataset, trial_id=trial.trial_id,
                       item_features=all_features, k=trial.k, keep=1,
                       score=final.means.get("precision") if final else None,
                       meta={"model": trial.model, "dataset_name": trial.dataset_name,
                             "seed": trial.seed, "params": trial.params})
        del model
        curves = [curve]
        for _ in range(trial.repeats - 1):
            again, curve_again = _train(trial, params, split, features)
            del again
            curves.append(curve_again)
    peak = _peak_rss_mb()
    if aliases:
        raw["aliases"] = np.asarray(aliases)
    store.atomic_save_npz(store.raw_path(run_dir, trial.trial_id), raw)

    cumulative = np.array([[c[1] for c in cv] for cv in curves])
    per_epoch = np.array([[c[2] for c in cv] for cv in curves])
    rows = []
    for j, (epoch, eval_seconds, result) in enumerate(evaluations):
        for subset in trial.subsets:
            means = result[subset].means
            row = _identity(trial, started_at)
            row.update(epoch=epoch, subset=subset, status="ok", error="",
                       fit_seconds=float(np.median(cumulative[:, j])),
                       fit_seconds_min=float(cumulative[:, j].min()),
                       fit_seconds_max=float(cumulative[:, j].max()),
                       epoch_seconds=float(np.median(per_epoch[:, j])),
                       eval_seconds=eval_seconds, recommend_users_per_s=users_per_s,
                       peak_rss_mb=peak)
            for metric, column in store.METRIC_COLUMNS.items():
                row[column] = float(means[metric]) if metric in means else math.nan
            rows.append(row)
    return store.normalize(pd.DataFrame(rows))


def _identity(trial: Trial, started_at: str) -> dict:
    return {"dataset": trial.dataset, "dataset_name": trial.dataset_name,
            "dataset_options": trial.dataset_options, "split_kind": trial.split_kind,
            "split_fingerprint": trial.split_fingerprint, "seed": trial.seed,
            "model": trial.model, "params": trial.params_json, "trial_id": trial.trial_id,
            "threads": trial.threads, "blas_threads": trial.threads, "k": trial.k,
            "exclude_train": trial.exclude_train, "n_users": trial.n_users,
            "n_items": trial.n_items, "likes": trial.likes, "train_likes": trial.train_likes,
            "repeats": trial.repeats, "warmup": trial.warmup, "started_at": started_at}


def failed_frame(trial: Trial, status: str, error: str, started_at: str) -> pd.DataFrame:
    """The single row of a trial that did not finish: identity, status, error, NaN metrics."""
    row = _identity(trial, started_at)
    row.update(epoch=-1, subset="", status=status, error=error)
    return store.normalize(pd.DataFrame([row]))


def one_line(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- measuring

def _reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS counter of this process (Linux), so each trial has its own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """Peak resident memory of this process since the last reset, in MiB."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


__all__ = ["Trial", "PreparedSplit", "run", "run_trial", "plan_trials", "prepare_splits",
           "trial_id", "params_json", "failed_frame", "one_line"]
