"""What keeps a run honest when things go wrong: one process per folder, nothing left behind by
a failed start, stale or corrupt results never mixed in, signals turned into a clean stop.

The runner calls into this module at a few points (see :func:`recsys_bench.experiment.runner.run`):

* :class:`Start` takes the folder's lock (:class:`~recsys_bench.fileio.RunLock`) and, when the
  folder was new, removes everything the run wrote if it fails before its first trial starts;
* :class:`Sources` loads every data set before the folder is claimed (so a load error claims
  nothing) and checks a fingerprint of its contents against the one stored at the first
  session, so a resumed run never mixes trials of changed data;
* :func:`check_trials` makes the cheap per-trial checks (``k`` against the items, a model's
  memory guard) before any trial runs;
* :func:`read_trials` reads the stored trials, moving corrupt ones aside to be run again;
* :func:`interrupt_on_signals` and :func:`deferred_signals` make SIGTERM and SIGHUP stop a
  run like Ctrl-C, and keep all three out of a database transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from recsys_bench.errors import CorruptFile, UserError
from recsys_bench.fileio import LOCK_NAME, RunLock, atomic_write_json, reading
from recsys_bench.store.run_folder import RunFolder

_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                      if hasattr(signal, name))


# --------------------------------------------------------------------------- the start

class Start:
    """The lock on a run folder for one session, and the undo of a failed first start.

    Parameters
    ----------
    folder : pathlib.Path
        The run (or search) folder; created if missing.
    what : str
        "run" or "search", for the message a concurrent start gets.
    """

    def __init__(self, folder: Path, what: str = "run"):
        self.folder = Path(folder)
        existed = self.folder.is_dir()
        self.lock = RunLock(self.folder, what).acquire()
        try:
            self.fresh = not any(p.name != LOCK_NAME for p in self.folder.iterdir())
        except BaseException:
            self.lock.release()
            raise
        self.created = not existed
        self.started = False

    def trials_started(self) -> None:
        """From here on a failure keeps what was written (finished trials are results)."""
        self.started = True

    def undo(self) -> bool:
        """After a failure: if no trial started in a folder that was empty, remove all the run
        wrote (the folder too, if this session made it) and return True."""
        if self.started or not self.fresh:
            return False
        for path in self.folder.iterdir():
            if path.name == LOCK_NAME:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.release()
        if self.created:
            try:
                self.folder.rmdir()
            except OSError:
                pass
        return True

    def release(self) -> None:
        """Give the folder's lock up (safe to call twice)."""
        self.lock.release()

    @contextmanager
    def undone_unless(self, kept: Callable[[], bool]) -> Iterator[Start]:
        """Hold the folder for the block and release it after; on a failure, first undo the
        start unless ``kept()`` says something worth keeping was stored (e.g. a study)."""
        try:
            yield self
        except BaseException:
            if kept():
                self.trials_started()
            self.undo()
            raise
        finally:
            self.release()


# --------------------------------------------------------------------------- source data

def data_fingerprint(data) -> str:
    """sha256 (16 hex digits) of a loaded data set's contents: the matrix, the user and item
    ids and the item features, so any edit of the source that reaches the data changes it."""
    digest = hashlib.sha256()
    matrix = data.matrix
    for array in (np.asarray(matrix.shape, np.int64), matrix.indptr, matrix.indices, matrix.data):
        digest.update(np.ascontiguousarray(array).tobytes())
    for ids in (data.user_ids, data.item_ids):
        digest.update("\x1f".join(map(str, ids)).encode("utf-8"))
    if data.item_features is not None:
        features = data.item_features
        for array in (features.indptr, features.indices):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


class Sources:
    """The data sets of an experiment, each loaded once, with the fingerprints of their contents.

    Parameters
    ----------
    experiment : recsys_bench.experiment.config.Experiment
    say : callable, optional
        Called with a line of progress before each data set is loaded.

    Raises
    ------
    UserError
        A data set cannot be loaded; the message names the config file.
    """

    def __init__(self, experiment, say: Callable[[str], None] | None = None):
        from recsys_bench import datasets

        self.experiment = experiment
        self.data: dict = {}
        self.fingerprints: dict[str, str] = {}
        for spec in experiment.datasets:
            if say is not None:
                say(f"loading {spec.label}")
            with config_named(experiment.path):
                data = datasets.load(spec.name, **spec.options)
            self.data[spec.label] = data
            self.fingerprints[spec.label] = data_fingerprint(data)

    def load(self, spec):
        """The loaded data of a ``[[datasets]]`` entry (for the runner's split step)."""
        return self.data[spec.label]

    def check(self, run_dir: Path) -> None:
        """Refuse a run folder whose data sets changed since its first session; record the
        fingerprints when the folder has none (a new run, or one from an older version)."""
        path = RunFolder(run_dir).sources

        stored = {}
        if path.exists():
            with reading(path):
                stored = json.loads(path.read_text(encoding="utf-8"))["datasets"]
        for label, fingerprint in self.fingerprints.items():
            if label in stored and stored[label] != fingerprint:
                raise UserError(f"the data of dataset {label!r} changed since this run started "
                                f"(fingerprint {stored[label]} then, {fingerprint} now); its "
                                "trials would mix two versions of the data: use another --out",
                                path=run_dir)
        if any(label not in stored for label in self.fingerprints):
            atomic_write_json(path, {"datasets": {**stored, **self.fingerprints}})

    def release(self) -> None:
        """Drop the loaded data (the splits are stored; workers read those)."""
        self.data.clear()


@contextmanager
def config_named(config: Path | None) -> Iterator[None]:
    """Re-raise a :class:`UserError` of the block with the config file named: as its path when
    it names none, else in the message (a data file's ``file:line`` stays first)."""
    try:
        yield
    except UserError as exc:
        if config is None or isinstance(exc, CorruptFile):
            raise
        if exc.path is None:
            raise UserError(exc.message, path=config) from None
        raise UserError(f"{exc.message} (a data set of {config})", path=exc.path,
                        line=exc.line) from None


# --------------------------------------------------------------------------- before trials

def check_trials(experiment, trials, budget=None) -> None:
    """The checks each trial would make at its start that need no training: ``k`` against the
    items of its data set, a model's memory guard (EASE) and, given a memory ``budget``
    (:class:`recsys_bench.experiment.memory.Budget`), the trial's estimated peak memory against
    it, so that a setting bound to fail stops the run before any trial rather than failing
    every trial.

    Raises
    ------
    UserError
        The first trial bound to fail, naming the config file.
    """
    from recsys_bench import models
    from recsys_bench.eval.topk import check_k
    from recsys_bench.experiment import memory
    from recsys_bench.models import model_params

    seen = set()
    for trial in trials:
        what = f"{trial.model} {trial.params_json} on dataset {trial.dataset!r}"
        try:
            check_k(trial.k, trial.n_items)
            guard = getattr(models.model_class(trial.model), "check_memory", None)
            key = (trial.model, trial.params_json, trial.n_items)
            if guard is not None and key not in seen:
                seen.add(key)
                model = models.get(trial.model, **model_params(trial.model, trial.params,
                                                               threads=trial.threads,
                                                               seed=trial.seed))
                model.check_memory(trial.n_items)
            if budget is not None:
                memory.check_fits("the trial", memory.trial_estimate(trial), budget)
        except UserError as exc:
            raise UserError(f"{what}: {exc.message}", path=experiment.path) from None


# --------------------------------------------------------------------------- stored trials

def read_trials(run_dir: Path, say: Callable[[str], None] | None = None) -> dict:
    """Every stored trial of a run (trial id -> rows), moving unreadable trial files to
    ``quarantine/trials/`` (kept, never deleted) so that their trials run again.

    ``say``, if given, is called with one line per file moved aside.
    """
    from recsys_bench.store import table as store

    frames = {}
    folder = RunFolder(run_dir).trials
    if not folder.is_dir():
        return frames
    for path in sorted(folder.glob("*.parquet")):
        try:
            frames[path.stem] = store.read_trial(path)
        except CorruptFile as exc:
            moved = quarantine(path, Path(run_dir))
            if say is not None:
                say(f"warning: {path}: {exc.detail}; moved to {moved}, the trial runs again")
    return frames


def quarantine(path: Path, run_dir: Path) -> Path:
    """Move ``path`` (a file of ``run_dir``) under ``run_dir/quarantine/``, same relative path,
    never overwriting an earlier one; returns where it went."""
    relative = path.relative_to(run_dir)
    target = RunFolder(run_dir).quarantine / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    number = 1
    while target.exists():
        number += 1
        target = RunFolder(run_dir).quarantine / relative.with_name(f"{relative.name}.{number}")
    os.replace(path, target)
    return target


def no_trial_succeeded(run_dir: Path) -> bool:
    """True when the last session of a run ended complete without one ``ok`` trial."""
    from recsys_bench.store.table import read_run_info

    sessions = read_run_info(run_dir).get("sessions") or [{}]
    last = sessions[-1]
    return last.get("status") == "complete" and last.get("ok", 1) == 0


# --------------------------------------------------------------------------- the study database

@contextmanager
def study_db(path: Path) -> Iterator[None]:
    """Turn a database error of a search's study (``search.db``) into one line naming it: a
    damaged file as :class:`~recsys_bench.errors.CorruptFile`, a full, read-only or locked one
    as :class:`~recsys_bench.errors.UserError` saying what to do."""
    try:
        yield
    except Exception as exc:
        cause = _database_error(exc)
        if cause is None:
            raise
        text = " ".join(str(getattr(cause, "orig", None) or cause).split())
        low = text.lower()
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            raise CorruptFile(path, text, advice="move it aside to start the search afresh, "
                              "or restore it from a copy") from None
        if "full" in low:
            advice = "free some space and rerun the same command to continue"
        elif "readonly" in low or "read-only" in low or "unable to open" in low:
            advice = "check the folder's permissions or use another --out"
        elif "locked" in low:
            advice = "another process holds it; wait for it to end and rerun"
        else:
            advice = "check the file and rerun"
        raise UserError(f"the study database failed ({text}); {advice}", path=path) from None


def _database_error(exc: BaseException) -> BaseException | None:
    """The SQLAlchemy database error behind ``exc`` (Optuna wraps them), or None."""
    try:
        from sqlalchemy.exc import DatabaseError
    except ImportError:
        return None
    seen = exc
    while seen is not None:
        if isinstance(seen, DatabaseError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# --------------------------------------------------------------------------- signals

def interrupt_on_signals() -> Callable[[], None]:
    """Make SIGTERM and SIGHUP (a closed terminal) raise :class:`KeyboardInterrupt`, as Ctrl-C
    does, while a run is in progress; returns the function that restores the old handlers.
    Does nothing outside the main thread (signal handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, interrupt) for sig in _STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back while the block runs (e.g. a database write that
    an interruption would leave locked), then act on the first one that arrived.

    Outside the main thread the block simply runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def hold(signum, frame):
        arrived.append(signum)

    signals = (signal.SIGINT, *_STOP_SIGNALS)
    previous = {sig: signal.signal(sig, hold) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if arrived:
            signal.raise_signal(arrived[0])


__all__ = ["Start", "Sources", "data_fingerprint", "config_named", "check_trials",
           "read_trials", "quarantine", "no_trial_succeeded", "study_db", "interrupt_on_signals",
           "deferred_signals"]
