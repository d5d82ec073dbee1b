"""Bayesian hyperparameter search (Optuna TPE) with pruning on the learning curve.

The study tuned LightFM with scikit-optimize's ``forest_minimize`` (now archived), directly on its
test set. This search differs on purpose:

- Protocol: the config's split (kind, options, seed) gives the final train/test split; a
  *validation* split is carved from its train part with the same splitter (seed
  ``validation_seed``). Every trial trains on the validation split's train part and is scored on
  its held-out likes (``objective``, p@k by default); the test set is touched once, by the best
  trial retrained on the full train part of the final split. So the reported test p@k is not
  selected on test (the study's was).
- Pruning: a trial trains in steps of ``report_every`` epochs (``fit`` then ``fit_more``: the
  learning curve never refits), reports its validation score at each step, and stops early when
  the pruner finds it clearly behind the other trials at the same epoch (median or successive
  halving).
- Resumable: the study lives in ``search.db`` (SQLite) in the output folder; running the same
  command again continues it up to the requested number of trials in total. A trial interrupted
  by Ctrl-C does not count.

Where trials run: the executors of the runner (:mod:`recsys_bench.experiment.executors`), chosen with
``executor``: ``inline`` (the default: in this process, one trial at a time), ``processes``
(local worker processes) or ``dask`` (a Dask cluster), ``parallel`` trials at once. Whatever
the executor, this process alone asks Optuna for trials and tells it their outcome (Optuna's
ask-and-tell interface):

1. ``study.ask()`` gives a trial; its parameters are sampled here, by the study's seeded sampler
   (so a run's draws do not depend on which worker runs what), and its model setting stored as
   the trial's ``setting`` attribute;
2. the trial body goes to the executor as a :class:`~recsys_bench.experiment.executors.Task` (the config,
   the folder, the trial's storage id and its setting). Where it runs it opens the study in
   ``search.db``, rebuilds the trial (``optuna.trial.Trial(study, trial_id)``) and trains:
   ``trial.report`` stores each checkpoint's validation score in the database and
   ``trial.should_prune`` asks the pruner, which compares it with the scores every other trial
   stored at the same epoch. The body returns its outcome (complete with a value, pruned or
   failed) and its epochs and seconds;
3. this process stores those as trial attributes and calls ``study.tell``.

Progress goes to stderr, flushed, so a log file shows it as it happens: one line per finished
trial, and one per checkpoint of a running trial (with ``processes``, in its worker's log);
``quiet`` silences both.

So every executor runs the same trial body, and with ``parallel = 1`` gives the same trials as
another (for a fixed seed). Trials are placed and timed out by the runner's own scheduler
(:mod:`recsys_bench.experiment.scheduler`) and train through the runner's own loop
(:func:`recsys_bench.experiment.trial.train_curve`). The body reads the validation split and item features from
``splits/`` in the search folder (written at the start of each session), not the data set, so
workers need only the folder. With several trials at once the sampler proposes a trial while
others still run, so it models fewer finished trials than a sequential search would at the same
count; Optuna's constant-liar mode (on when ``parallel`` > 1) counts running trials as bad ones
so that parallel proposals do not pile up on one spot. A search with ``parallel`` trials thus
needs somewhat more trials for the same result, in less wall time. The pruner likewise sees only
the scores stored so far, so early trials are pruned less.

With ``processes`` and ``dask`` a trial whose worker dies (a crash, an out-of-memory kill) or
whose body raises an unexpected error is stored as failed (it counts, with its error) and the
search goes on; ``inline`` lets such an error end the session, as a debugger wants. A trial
cut short by Ctrl-C (or any error of this process) is stored as failed without an error: it is
"interrupted", not counted, and a rerun replaces it. ``timeout_s`` (optional) stops a trial
that runs longer (counted from its start, a worker's start-up included) and stores it as failed
with that error; ``processes`` kills its worker, ``dask`` cancels its task (a task already
running finishes in the background and its result is dropped), and ``inline`` cannot stop a
trial, so there it has no effect. With ``dask`` the search folder must be on a filesystem that
every worker sees at the same path, with working file locks (SQLite), and workers declare a
``threads`` resource as for the runner.

The output folder holds ``config.toml`` (the config as run), ``search.db``, ``search.md`` (the
report), ``search.json`` (its figures), ``search.csv`` (one row per trial),
``figures/search-history.png``, ``models/search-best.npz`` (the retrained best model's vectors,
for ``recsys-bench similar`` and friends), ``gallery/`` (:mod:`recsys_bench.analysis.gallery`),
``splits/`` (the validation split and item features the trials read) and, with ``processes``,
``logs/worker-<pid>.log``.

The config is an experiment with a ``[search]`` table (:mod:`recsys_bench.experiment.
search_config`), read by the experiments' own reader.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from recsys_bench.errors import TrainingDiverged, UserError
from recsys_bench.experiment import memory
from recsys_bench.experiment.config import Experiment, load_config
from recsys_bench.experiment.guard import Start, deferred_signals, interrupt_on_signals, study_db
from recsys_bench.experiment.search_config import upgrade_legacy
from recsys_bench.experiment.search_data import (
    SearchData,
    prepare,
    save_trial_data,
    trial_data,
    within_memory,
)
from recsys_bench.store.run_folder import RunFolder

BEST_MODEL = "search-best"
# How long a trial waits for another process's write lock on search.db.
_LOCK_WAIT_S = 60.0


def load_search_config(path: str | os.PathLike) -> Experiment:
    """Read and validate a search config: an experiment with a ``[search]`` table.

    Raises
    ------
    UserError
        Missing or unreadable file, invalid TOML, unknown keys, models, parameters or values.
    """
    return load_config(path, search=True)


# --------------------------------------------------------------------------- running

def _claim_folder(out: Path, config: Experiment) -> None:
    """Claim the search folder (a folder of an older search file's form counts as the same
    search when it says the same thing)."""
    RunFolder(out).claim(config.raw, config.source, what="search",
                         same=lambda stored, raw: upgrade_legacy(stored) == raw)


def _storage(out: Path):
    try:
        import optuna
    except ImportError:
        raise UserError("the search needs Optuna: pip install 'recsys-bench[search]' "
                        "(or pip install optuna)") from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = RunFolder(out).search_db
    with study_db(db):
        return optuna.storages.RDBStorage(
            f"sqlite:///{db.resolve()}", engine_kwargs={"connect_args": {"timeout": _LOCK_WAIT_S}})


def _study(config: Experiment, storage, n_existing: int = 0, parallel: int = 1):
    """The study of ``config`` in ``storage`` (created if new), with a sampler seeded by
    ``config.seed + n_existing`` so a resumed session does not replay the first one's draws,
    in constant-liar mode when ``parallel`` trials run at once."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=config.search.seed + n_existing, n_startup_trials=config.search.startup_trials,
            multivariate=True, constant_liar=parallel > 1)
    return optuna.create_study(storage=storage, study_name=config.name, direction="maximize",
                               sampler=sampler, pruner=_pruner(config), load_if_exists=True)


def _pruner(config: Experiment):
    import optuna

    pruner = config.search.pruner
    if pruner["kind"] == "median":
        pruner_obj = optuna.pruners.MedianPruner(
            n_startup_trials=pruner.get("startup_trials", 5),
            n_warmup_steps=pruner.get("warmup_epochs", 0))
    elif pruner["kind"] == "halving":
        pruner_obj = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=pruner.get("min_epochs", config.search.report_every),
            reduction_factor=pruner.get("reduction_factor", 3))
    else:
        pruner_obj = optuna.pruners.NopPruner()
    return pruner_obj


def _counted(trial) -> bool:
    """Whether a stored trial counts towards the requested total (interrupted ones do not)."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (trial.state == TrialState.FAIL and "error" in trial.user_attrs))


def _train_and_score(config: Experiment, setting: dict, split, features, report=None):
    """Train ``setting`` on ``split.train`` through its checkpoints, scoring ``split.test``.

    ``report(value, epoch, fit_seconds, eval_seconds, last)`` is called at each checkpoint and
    may raise to stop (pruning). Returns (model, score, epochs trained, fit seconds, eval seconds).
    """
    from recsys_bench import models
    from recsys_bench.eval.evaluation import evaluate
    from recsys_bench.experiment.trial import train_curve
    from recsys_bench.models import model_params, wants_features
    from recsys_bench.threads import pinned_blas

    spec, ev = config.search, config.evaluation
    if wants_features(setting) and features is None:
        raise UserError(f"features = \"tags\" but dataset {config.datasets[0].name!r} has no "
                        "item features", path=config.path)
    params = model_params(spec.model, setting, threads=spec.threads, seed=config.split.seeds[0])
    model = models.get(spec.model, **params)
    epochs = spec.epochs_of(params)
    if epochs is None or not model.supports_continue:
        checkpoints = [epochs]
    else:
        checkpoints = list(range(spec.report_every, epochs, spec.report_every)) + [epochs]
    scored: dict[str, Any] = {"eval_s": 0.0, "value": math.nan, "steps": 0}

    def score(model, _epoch: int, fit_s: float) -> None:
        start = time.perf_counter()
        result = evaluate(model, split, k=ev.k, exclude_train=ev.exclude_train,
                          subsets=("test",), metrics=(spec.objective,))
        scored["eval_s"] += time.perf_counter() - start
        scored["value"] = float(result["test"].means[spec.objective])
        scored["steps"] += 1
        if report is not None:
            report(scored["value"], checkpoints[scored["steps"] - 1] or 0, fit_s,
                   scored["eval_s"], scored["steps"] == len(checkpoints))

    with pinned_blas(spec.threads):
        curve = train_curve(model, split.train, checkpoints,
                            item_features=features if wants_features(setting) else None,
                            on_checkpoint=score)
    epochs = checkpoints[-1] or 0
    return model, scored["value"], epochs, curve[-1][1], scored["eval_s"]




def run_trial_body(config: Experiment, out_dir: str, trial_id: int, setting: dict,
                   checkpoint_lines: bool = False, *, cache) -> tuple[str, float | None, dict]:
    """Train one search trial wherever an executor runs it, reporting to the stored study.

    Parameters
    ----------
    config : Experiment
        The search's config.
    out_dir : str
        The search folder (absolute where workers run elsewhere).
    trial_id : int
        The trial's storage id (``trial._trial_id``), asked for by the parent process.
    setting : dict
        The model setting sampled for it.
    checkpoint_lines : bool
        Print one line to stderr at each checkpoint but the last (a trial can train for half an
        hour; with ``processes`` the line lands in the worker's log).
    cache : collections.OrderedDict
        The executor's cache: keeps the validation split between trials.

    Returns
    -------
    tuple
        The outcome (``"complete"``, ``"pruned"`` or ``"failed"``), the validation score
        (None unless complete) and the attributes to store on the trial (``epochs``,
        ``fit_seconds``, ``eval_seconds``, ``error``).
    """
    import optuna

    out = Path(out_dir)
    storage = _storage(out)
    try:
        study = optuna.load_study(study_name=config.name, storage=storage,
                                  sampler=optuna.samplers.RandomSampler(),
                                  pruner=_pruner(config))
        split, features = trial_data(
            out, study.user_attrs["fingerprints"]["validation_split"], cache)
        return _train_trial(config, optuna.trial.Trial(study, trial_id), setting, split,
                            features, checkpoint_lines)
    finally:
        storage.engine.dispose()


def _train_trial(config: Experiment, trial, setting: dict, split, features,
                 checkpoint_lines: bool) -> tuple:
    import optuna

    attrs: dict = {}
    total = config.search.epochs_of(setting)

    def report(value, epoch, fit_s, eval_s, last):
        trial.report(value, epoch)
        if checkpoint_lines and not last:
            print(f"trial {trial.number}: epoch {epoch} of {total}, {config.search.objective} "
                  f"{value:.4f}, {fit_s + eval_s:.0f} s", file=sys.stderr, flush=True)
        if not last and trial.should_prune():
            attrs.update(epochs=epoch, fit_seconds=fit_s, eval_seconds=eval_s)
            raise optuna.TrialPruned(f"behind at epoch {epoch}")

    try:
        _, value, epochs, fit_s, eval_s = _train_and_score(config, setting, split, features,
                                                           report)
    except optuna.TrialPruned:
        return "pruned", None, attrs
    except TrainingDiverged as exc:
        attrs["error"] = exc.message
        return "complete", 0.0, attrs
    except UserError as exc:
        attrs["error"] = exc.message
        return "failed", None, attrs
    attrs.update(epochs=epochs, fit_seconds=fit_s, eval_seconds=eval_s)
    return "complete", value, attrs


def _run_trials(study, config: Experiment, out: Path, pool, todo: int, parallel: int,
                progress=None) -> None:
    """Ask for ``todo`` trials, run them on ``pool`` through the scheduler (``parallel`` at
    once) and tell their outcomes; on any error of this process the running ones are told
    failed (interrupted)."""
    from optuna.trial import TrialState

    from recsys_bench.experiment.scheduler import Job, Scheduler
    from recsys_bench.experiment.tasks import Task
    from recsys_bench.threads import resolve_threads

    folder = str(out.resolve())
    spec = config.search
    threads = resolve_threads(spec.threads)
    limit = spec.timeout_s if spec.timeout_s is not None else math.inf
    asked: dict[str, Any] = {}

    def jobs():
        for _ in range(todo):
            with deferred_signals():
                trial = study.ask()
                setting = spec.setting({d.name: d.suggest(trial) for d in spec.space})
                trial.set_user_attr("setting", setting)
            key = f"search-{trial.number}"
            asked[key] = trial
            task = Task(key, run_trial_body,
                        (config, folder, trial._trial_id, setting, progress is not None),
                        threads=threads)
            yield Job(task, threads=threads, timeout_s=limit)

    def finish(key: str, outcome: str, value, attrs: dict) -> None:
        trial = asked.pop(key)
        with deferred_signals():
            for name, attr in attrs.items():
                trial.set_user_attr(name, attr)
            if outcome == "complete":
                frozen = study.tell(trial, value)
            else:
                frozen = study.tell(trial, state=TrialState.PRUNED if outcome == "pruned"
                                    else TrialState.FAIL)
        if progress is not None:
            progress(study, frozen)

    scheduler = Scheduler(
        pool, max_workers=parallel,
        on_done=lambda entry, result: finish(entry.job.key, *result),
        on_lost=lambda entry, status, error: finish(entry.job.key, "failed", None,
                                                    {"error": error}))
    try:
        scheduler.run(jobs())
    except BaseException:
        pool.close()
        with deferred_signals():
            for trial in asked.values():
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise


def _check_parallel(executor: str, parallel: int | None) -> None:
    if parallel is None:
        return
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise UserError(f"--parallel must be a whole number >= 1, got {parallel!r}")
    if executor == "inline" and parallel > 1:
        raise UserError(f"the inline executor runs one trial at a time, not --parallel "
                        f"{parallel}; use --executor processes or dask")


def run_search(config_path: str | os.PathLike, out_dir: str | os.PathLike, trials: int, *,
               quiet: bool = False, grid_run: str | os.PathLike | None = None,
               executor: str = "inline", scheduler: str | None = None,
               parallel: int | None = None, memory_budget: str | int | None = None) -> Path:
    """Run (or continue) a Bayesian search until the study holds ``trials`` finished trials.

    Parameters
    ----------
    config_path : path-like
        A search config (see the module docstring and ``configs/search-*.toml``).
    out_dir : path-like
        The search folder; created if needed. If it holds this search already, the study
        continues from where it stopped.
    trials : int
        Total number of trials wanted (complete, pruned or failed; interrupted ones excluded).
    quiet : bool
        No line per trial.
    grid_run : path-like, optional
        A run folder of a grid over the same data (``configs/sketchfab-wrmf-grid.toml``): the
        report then compares its best test p@k and compute with the search's.
    executor : {"inline", "processes", "dask"}
        Where trials run (see the module docstring and :mod:`recsys_bench.experiment.executors`): this
        process (default), local worker processes, or a Dask cluster.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:8786``), for ``executor="dask"`` only.
    parallel : int, optional
        Trials at once (default: as many as the executor's thread budget holds at
        ``search.threads`` each; 1 for ``inline``, which runs no more). Lowered so that as many
        of the largest trials of the space fit in the memory budget together.
    memory_budget : str or int, optional
        Memory the trials running at once may need together by their estimates
        (:mod:`recsys_bench.experiment.memory`, the largest setting of the space); a search
        whose largest trial is over it is refused before any trial runs. Default: the available
        memory minus a margin (with ``dask``: no limit unless given).

    Returns
    -------
    pathlib.Path
        The path of ``search.md``.

    Raises
    ------
    UserError
        Bad config, a folder holding another search or other files, a data set or split that
        cannot be loaded, a bad ``parallel`` or an executor that cannot be set up (see
        :func:`recsys_bench.experiment.executors.make`).
    """
    from recsys_bench.experiment import executors

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UserError(f"--trials must be a whole number >= 1, got {trials!r}")
    _check_parallel(executor, parallel)
    config = load_search_config(config_path)
    out = Path(out_dir)
    if grid_run is not None and not Path(grid_run).is_dir():
        raise UserError("no such grid run folder", path=grid_run)
    budget = (None if executor == "dask" and memory_budget is None
              else memory.Budget.of(memory_budget))
    pool = executors.make(executor, out, scheduler=scheduler, models=(config.search.model,))
    restore_signals = interrupt_on_signals()
    try:
        start = Start(out, "search")
        db = RunFolder(out).search_db
        with start.undone_unless(db.exists), study_db(db):
            return _search(config, out, trials, pool, parallel, quiet, grid_run, budget)
    finally:
        pool.close()
        restore_signals()


def _search(config: Experiment, out: Path, trials: int, pool, parallel: int | None,
            quiet: bool, grid_run, budget) -> Path:
    from recsys_bench.threads import resolve_threads

    if parallel is None:
        parallel = max(1, min(pool.slots(None),
                              pool.budget() // resolve_threads(config.search.threads)))
    _claim_folder(out, config)
    data = prepare(config)
    parallel = within_memory(config, data, parallel, budget, quiet)
    storage = _storage(out)
    study = _study(config, storage)
    fingerprints = {"final_split": data.final.fingerprint,
                    "validation_split": data.validation.fingerprint}
    stored = study.user_attrs.get("fingerprints")
    if stored is None:
        for key, value in (("fingerprints", fingerprints), ("k", config.evaluation.k),
                           ("objective", config.search.objective)):
            study.set_user_attr(key, value)
    elif stored != fingerprints:
        raise UserError("the data or split changed since this search started (split "
                        "fingerprints differ); use another --out", path=out)
    existing = study.get_trials(deepcopy=False)
    done = sum(_counted(t) for t in existing)
    study = _study(config, storage, n_existing=len(existing), parallel=parallel)
    _enqueue_start(study, config, existing)
    todo = max(0, trials - done)
    t0 = time.perf_counter()
    if todo:
        save_trial_data(out, data)
        _run_trials(study, config, out, pool, todo, min(parallel, todo),
                    None if quiet else _progress(trials, done))
    study.set_user_attr("sessions", study.user_attrs.get("sessions", []) + [
        {"trials_run": todo, "wall_seconds": round(time.perf_counter() - t0, 3),
         "parallel": parallel, **pool.info()}])
    _final(config, data, study, out, quiet)
    if not quiet:
        print(f"{config.name}: {sum(_counted(t) for t in study.get_trials(deepcopy=False))} "
              "trials", flush=True)
    return out


def _enqueue_start(study, config: Experiment, existing) -> None:
    """Queue the config's start points that no counted or queued trial has tried yet (a start
    point whose trial was interrupted is queued again)."""
    from optuna.trial import TrialState

    tried = [t.params for t in existing if _counted(t)]
    tried += [t.system_attrs.get("fixed_params", {}) for t in existing
              if t.state == TrialState.WAITING]
    for point in config.search.start:
        if not any(all(p.get(k) == v for k, v in point.items()) for p in tried):
            study.enqueue_trial(point)
            tried.append(point)


def _progress(total: int, done_before: int):
    state = {"n": done_before}

    def callback(study, trial) -> None:
        state["n"] += _counted(trial)
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        try:
            best = f"{study.best_value:.4f}"
        except ValueError:
            best = "-"
        print(f"trial {trial.number} ({state['n']}/{total}): {trial.state.name.lower()}, "
              f"value {value} after {trial.user_attrs.get('epochs', '?')} epochs, "
              f"{_seconds(trial)} s; best {best}", file=sys.stderr, flush=True)

    return callback


def _seconds(trial) -> str:
    return f"{trial.user_attrs.get('fit_seconds', 0) + trial.user_attrs.get('eval_seconds', 0):.1f}"


def _best_trial(study):
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return None
    return max(complete, key=lambda t: (t.value, -t.number))


def _final(config: Experiment, data: SearchData, study, out: Path, quiet: bool) -> None:
    """Retrain the best trial on the full train part and score the test set (once per best)."""
    from recsys_bench.store.artifacts import save_model_vectors

    best = _best_trial(study)
    if best is None or study.user_attrs.get("final", {}).get("trial") == best.number:
        return
    setting = best.user_attrs["setting"]
    model, value, epochs, fit_s, eval_s = _train_and_score(config, setting, data.final,
                                                           data.features)
    final = {"trial": best.number, "setting": setting, "test": value,
             "validation": best.value, "epochs": epochs, "fit_seconds": fit_s,
             "eval_seconds": eval_s}
    study.set_user_attr("final", final)
    inter = data.interactions
    save_model_vectors(
        model, RunFolder(out).model(BEST_MODEL), item_ids=inter.item_ids,
        item_names=inter.item_names, feature_names=inter.feature_names,
        item_features=inter.item_features,
        meta={"trial_id": BEST_MODEL, "dataset": config.datasets[0].name,
              "seed": config.split.seeds[0], "score": value, "k": config.evaluation.k,
              "search_trial": best.number})
    if not quiet:
        print(f"best trial {best.number} retrained on the full train part: test "
              f"{config.search.objective}@{config.evaluation.k} {value:.4f} "
              f"(validation {best.value:.4f})", file=sys.stderr, flush=True)


def open_study(out: str | os.PathLike, config: Experiment):
    """The stored study of a search folder (read-only use: reports)."""
    import optuna

    return optuna.load_study(study_name=config.name, storage=_storage(Path(out)))


__all__ = ["BEST_MODEL", "load_search_config", "run_search", "run_trial_body", "open_study"]
