"""The one trial body: train through checkpoints, evaluate at each, measure; wherever it runs.

A runner trial is one (data set, split seed, model, parameter setting, thread count). Inside a
worker it trains incrementally through its checkpoints (``fit`` to the first, then ``fit_more``
by the difference: a learning curve never refits from scratch, :func:`train_curve`), evaluates
at each with :func:`recsys_bench.eval.evaluation.evaluate` (one top-k pass per checkpoint), times
fits and evaluation with ``perf_counter``, measures recommend throughput once at the last
checkpoint and records the trial's peak resident memory. A search trial
(:mod:`recsys_bench.experiment.search`) trains through the same :func:`train_curve`.

Executors run trials as :class:`~recsys_bench.experiment.executors.Task` s of
:func:`run_trial_task`, which returns the rows; the scheduler stores them.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.errors import one_line, storage_error
from recsys_bench.fileio import atomic_save_npz, atomic_write_text
from recsys_bench.fold_in import folded
from recsys_bench.models import model_params, wants_features
from recsys_bench.protocol import fit_through
from recsys_bench.store import table as store
from recsys_bench.store.artifacts import load_csr, save_run_model
from recsys_bench.store.run_folder import RunFolder

_SPLITS_CACHED = 2


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
    all_users: int = 0        # every user of the data set (n_users counts the evaluated ones)


def run_trial_task(trial: Trial, run_dir: str, *, cache: OrderedDict) -> pd.DataFrame:
    """What an executor runs for a runner trial: its rows (see :func:`run_trial`)."""
    print(f"{now()} trial {trial.trial_id}: {trial.model} {trial.params_json} "
          f"threads={trial.threads} on {trial.dataset} seed {trial.seed}", flush=True)
    return run_trial(trial, Path(run_dir), cache)


def run_trial(trial: Trial, run_dir: Path, cache: OrderedDict | None = None) -> pd.DataFrame:
    """Run one trial in this process and return its rows; failures become one failed row.

    Writes ``raw/<trial_id>.npz`` (top-k ids at every checkpoint) on success and
    ``logs/<trial_id>.log`` (the traceback) on failure; the caller stores the rows. A full or
    read-only file system is raised, not recorded: no trial can succeed until the user acts.
    """
    started_at = now()
    try:
        return _measure(trial, run_dir, cache if cache is not None else OrderedDict(), started_at)
    except Exception as exc:
        if storage_error(exc):
            raise
        atomic_write_text(RunFolder(run_dir).trial_log(trial.trial_id), traceback.format_exc())
        return failed_frame(trial, "failed", one_line(exc), started_at)


def _data(trial: Trial, run_dir: Path, cache: OrderedDict):
    from recsys_bench.splits import load_split

    if trial.split_file not in cache:
        split = load_split(run_dir / trial.split_file)
        features = load_csr(run_dir / trial.features_file) if trial.features_file else None
        cache[trial.split_file] = (split, features)
        while len(cache) > _SPLITS_CACHED:
            cache.popitem(last=False)
    cache.move_to_end(trial.split_file)
    return cache[trial.split_file]


def train_curve(model, train, targets: list, *, item_features=None,
                on_checkpoint: Callable | None = None) -> list[tuple[int, float, float]]:
    """Fit ``model`` through the epoch counts ``targets`` (``[None]``: its own count, once).

    The shared training loop of run and search trials. After each step
    ``on_checkpoint(model, epoch, cumulative_seconds)`` is called (it may raise to stop, as a
    pruned search trial does). Returns ``(epoch, cumulative fit seconds, seconds per epoch,
    cumulative fit CPU seconds)`` per checkpoint reached; the CPU time is this process's (all
    its threads), NaN for a model whose fit runs elsewhere (``cpu_time_elsewhere``).
    """
    done, total, curve = 0, 0.0, []
    cpu = math.nan if getattr(model, "cpu_time_elsewhere", False) else 0.0
    clock = time.process_time()
    for seconds in fit_through(model, train, targets, item_features=item_features):
        cpu += time.process_time() - clock
        total += seconds
        epoch = int(model.epochs_done) if model.supports_continue else 0
        curve.append((epoch, total, seconds / max(1, epoch - done), cpu))
        done = epoch
        if on_checkpoint is not None:
            on_checkpoint(model, epoch, total)
        clock = time.process_time()
    return curve


def _train(trial: Trial, params: dict, split, features, on_checkpoint=None):
    """Fit through the trial's checkpoints; returns the model and its curve."""
    from recsys_bench import models

    model = models.get(trial.model, **params)
    targets = list(trial.checkpoints) if trial.checkpoints and model.supports_continue else [None]
    return model, train_curve(model, split.train, targets, item_features=features,
                              on_checkpoint=on_checkpoint)


def _measure(trial: Trial, run_dir: Path, cache: OrderedDict, started_at: str) -> pd.DataFrame:
    from recsys_bench import models
    from recsys_bench.eval.evaluation import evaluate
    from recsys_bench.eval.registry import columns as metric_columns
    from recsys_bench.eval.topk import topk
    from recsys_bench.threads import pinned_blas

    _reset_peak_rss()
    split, all_features = _data(trial, run_dir, cache)
    features = all_features if wants_features(trial.params) else None
    params = model_params(trial.model, trial.params, threads=trial.threads, seed=trial.seed)
    continues = models.model_class(trial.model).supports_continue
    evaluations: list[tuple[int, float, dict]] = []
    raw: dict[str, np.ndarray] = {"users": np.asarray(split.users, dtype=np.int64)}
    aliases: list[str] = []

    def on_checkpoint(model, epoch: int, _seconds: float) -> None:
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
            ranker, scored = folded(model, split) if split.fold_in is not None else (model, split)
            start = time.perf_counter()
            topk(ranker, scored.users, trial.k,
                 exclude=scored.train if trial.exclude_train else None)
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
    atomic_save_npz(RunFolder(run_dir).raw(trial.trial_id), raw)

    cumulative = np.array([[c[1] for c in cv] for cv in curves])
    per_epoch = np.array([[c[2] for c in cv] for cv in curves])
    fit_cpu = np.array([[c[3] for c in cv] for cv in curves])
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
                       fit_cpu_seconds=float(np.median(fit_cpu[:, j])),
                       eval_seconds=eval_seconds, recommend_users_per_s=users_per_s,
                       peak_rss_mb=peak)
            for metric, column in metric_columns().items():
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


def now() -> str:
    """The current UTC time, ISO 8601 to the second (``started_at``, ``run.json``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
