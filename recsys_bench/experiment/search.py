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

So every executor runs the same trial body, and with ``parallel = 1`` gives the same trials as
another (for a fixed seed). The body reads the validation split and item features from
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

Config (TOML)::

    [experiment]
    name = "search-lightfm"                      # also the study name
    [dataset]
    name = "sketchfab-synthetic"
    options = { seed = 0 }
    [split]
    kind = "user_holdout"                        # or leave_k_out, ratio
    seed = 0
    validation_seed = 1                          # default: seed + 1
    options = { split_count = 5, fraction = 0.2 }
    [evaluation]
    k = 5
    exclude_train = false                        # false = the study's protocol
    objective = "precision"                      # or recall, ndcg, map, hit_rate
    [search]
    model = "lightfm-warp"
    params = { features = "none" }               # fixed parameters
    threads = 1
    seed = 0                                     # sampler seed
    startup_trials = 10                          # random trials before TPE models the space
    report_every = 10                            # epochs between pruning checks
    pruner = { kind = "median", startup_trials = 5, warmup_epochs = 10 }
    timeout_s = 3600                             # optional: stop a longer trial (failed)
    start = [{ epochs = 168, learning_rate = 0.0913, no_components = 104, alpha = 2.35e-4 }]
    [search.space]
    epochs = { low = 1, high = 260 }             # integers: an integer parameter
    learning_rate = { low = 1e-4, high = 1.0, log = true }
    no_components = { low = 20, high = 200 }
    alpha = { low = 1e-6, high = 1e-1, log = true }
    [search.derived]
    user_alpha = "alpha"                          # a name, a number, or a product "a * b"
    item_alpha = "alpha"

Names in ``space`` that the model does not take (``alpha``, ``scale``) must be used by
``derived``, and are not passed to the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_bench.experiment.config import control_character, read_config_text
from recsys_bench.errors import UserError
from recsys_bench.experiment.guard import (Start, deferred_signals, interrupt_on_signals,
                                           study_db)
from recsys_bench.fileio import LOCK_NAME
from recsys_bench.protocol import fit_through
from recsys_bench.store.table import atomic_write_json, atomic_write_text

DB_FILE = "search.db"
BEST_MODEL = "search-best"
OBJECTIVES = ("precision", "recall", "ndcg", "map", "hit_rate")
SEARCH_SPLITS = ("user_holdout", "leave_k_out", "ratio")
PRUNERS = ("median", "halving", "none")
VALIDATION_FILE = "splits/validation.npz"
FEATURES_FILE = "splits/features.npz"
# How long a trial waits for another process's write lock on search.db.
_LOCK_WAIT_S = 60.0
_DATA_CACHED = 2

_TOP = {"experiment", "dataset", "split", "evaluation", "search"}
_EXPERIMENT = {"name", "description"}
_DATASET = {"name", "options"}
_SPLIT = {"kind", "seed", "validation_seed", "options"}
_EVALUATION = {"k", "exclude_train", "objective"}
_SEARCH = {"model", "params", "threads", "seed", "startup_trials", "report_every", "pruner",
           "start", "space", "derived", "timeout_s"}
_DIMENSION = {"low", "high", "log", "step", "type", "choices"}
_PRUNER = {"median": {"kind", "startup_trials", "warmup_epochs"},
           "halving": {"kind", "min_epochs", "reduction_factor"}, "none": {"kind"}}


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class Dimension:
    """One searched parameter: ``int``/``float`` in ``[low, high]`` (log scale or not), or a
    ``categorical`` choice."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),
                                   step=self.step, log=self.log)

    def contains(self, value) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def corners(self) -> tuple:
        return tuple(self.choices) if self.kind == "categorical" else (self.low, self.high)


@dataclass(frozen=True)
class SearchConfig:
    """A parsed search config (see the module docstring for the format)."""

    name: str
    description: str
    dataset: str
    dataset_options: dict
    split_kind: str
    split_seed: int
    validation_seed: int
    split_options: dict
    k: int
    exclude_train: bool
    objective: str
    model: str
    params: dict
    threads: int
    seed: int
    startup_trials: int
    report_every: int
    pruner: dict
    space: tuple[Dimension, ...]
    derived: dict
    start: tuple[dict, ...]
    epoch_key: str | None
    raw: dict = field(repr=False)
    source: str = field(repr=False)
    path: Path | None = None
    timeout_s: float | None = None

    def setting(self, values: dict) -> dict:
        """Model setting (config-level, ``features`` included) of the sampled ``values``."""
        from recsys_bench import models

        cls = models.model_class(self.model)
        known = set(cls.defaults) | {"features"}
        scope = {**self.params, **values}
        out = {cls.aliases.get(name, name): value for name, value in self.params.items()}
        for name, value in values.items():
            name = cls.aliases.get(name, name)
            if name in known:
                out[name] = value
        for target, expression in self.derived.items():
            out[cls.aliases.get(target, target)] = _evaluate(expression, scope)
        return out

    def epochs_of(self, setting: dict) -> int | None:
        """Epochs a trial with ``setting`` trains for (None: the model has no epochs)."""
        from recsys_bench import models

        if self.epoch_key is None:
            return None
        cls = models.model_class(self.model)
        return int(setting.get(self.epoch_key, cls.defaults[self.epoch_key]))


def _evaluate(expression: str | float | int, scope: dict) -> float:
    """Value of a derived expression: a number, a name, or a product of those with ``*``."""
    if isinstance(expression, (int, float)) and not isinstance(expression, bool):
        return expression
    value = 1.0
    for token in str(expression).split("*"):
        token = token.strip()
        value *= scope[token] if token in scope else float(token)
    return value


class _Parser:
    def __init__(self, raw: dict, path: Path | None):
        self.raw, self.path = raw, path

    def fail(self, key: str, message: str):
        raise UserError(f"{key}: {message}", path=self.path)

    def table(self, value, key: str, allowed: set, required: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        for name in value:
            if name not in allowed:
                self.fail(f"{key}.{name}" if key else name,
                          f"unknown key; allowed: {', '.join(sorted(allowed))}")
        for name in required:
            if name not in value:
                self.fail(f"{key}.{name}" if key else name, "missing (required)")
        return value

    def integer(self, value, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def text(self, value, key: str, choices=None) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {value!r}")
        if (bad := control_character(value)) is not None:
            self.fail(key, f"must not contain control characters, found {bad!r} in {value!r}")
        if choices is not None and value not in choices:
            self.fail(key, f"unknown value {value!r}; known: {', '.join(choices)}")
        return value

    def dimension(self, name: str, spec) -> Dimension:
        key = f"search.space.{name}"
        self.table(spec, key, _DIMENSION)
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                self.fail(f"{key}.choices", "must be a non-empty list")
            return Dimension(name, "categorical", choices=tuple(spec["choices"]))
        for bound in ("low", "high"):
            if bound not in spec:
                self.fail(f"{key}.{bound}", "missing (give low and high, or choices)")
            if isinstance(spec[bound], bool) or not isinstance(spec[bound], (int, float)):
                self.fail(f"{key}.{bound}", f"must be a number, got {spec[bound]!r}")
        low, high = spec["low"], spec["high"]
        inferred = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        kind = self.text(spec.get("type", inferred), f"{key}.type", ("int", "float"))
        log = spec.get("log", False)
        if not isinstance(log, bool):
            self.fail(f"{key}.log", "must be true or false")
        if not low < high:
            self.fail(key, f"low ({low}) must be below high ({high})")
        if log and low <= 0:
            self.fail(f"{key}.low", f"must be > 0 on a log scale, got {low}")
        step = spec.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                                 or step <= 0 or log):
            self.fail(f"{key}.step", "must be a positive number (and not with log = true)")
        if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            self.fail(key, "an integer parameter needs integer bounds")
        return Dimension(name, kind, low=low, high=high, log=log, step=step)

    def config(self, source: str) -> SearchConfig:
        from recsys_bench import datasets, models
        from recsys_bench.experiment.config import model_params

        raw = self.table(self.raw, "", _TOP, required=("experiment", "dataset", "search"))
        head = self.table(raw["experiment"], "experiment", _EXPERIMENT, required=("name",))
        name = self.text(head["name"], "experiment.name")
        description = head.get("description", "")
        if not isinstance(description, str):
            self.fail("experiment.description", "must be a string")

        data = self.table(raw["dataset"], "dataset", _DATASET, required=("name",))
        dataset = self.text(data["name"], "dataset.name", datasets.names())
        options = data.get("options", {})
        if not isinstance(options, dict):
            self.fail("dataset.options", "must be a table")
        valid = datasets.option_names(dataset)
        for key in options:
            if key not in valid:
                self.fail(f"dataset.options.{key}", f"unknown option for dataset {dataset!r}; "
                          f"valid: {', '.join(valid)}")

        split = self.table(raw.get("split", {}), "split", _SPLIT)
        kind = self.text(split.get("kind", "user_holdout"), "split.kind", SEARCH_SPLITS)
        seed = self.integer(split.get("seed", 0), "split.seed", 0)
        validation_seed = self.integer(split.get("validation_seed", seed + 1),
                                       "split.validation_seed", 0)
        split_options = split.get("options", {})
        if not isinstance(split_options, dict):
            self.fail("split.options", "must be a table")

        evaluation = self.table(raw.get("evaluation", {}), "evaluation", _EVALUATION)
        k = self.integer(evaluation.get("k", 5), "evaluation.k", 1)
        exclude = evaluation.get("exclude_train", True)
        if not isinstance(exclude, bool):
            self.fail("evaluation.exclude_train", "must be true or false")
        objective = self.text(evaluation.get("objective", "precision"), "evaluation.objective",
                              OBJECTIVES)

        search = self.table(raw["search"], "search", _SEARCH, required=("model", "space"))
        model = self.text(search["model"], "search.model", models.names())
        cls = models.model_class(model)
        params = search.get("params", {})
        if not isinstance(params, dict):
            self.fail("search.params", "must be a table")
        if "num_threads" in params:
            self.fail("search.params.num_threads", "set threads with search.threads")
        threads = self.integer(search.get("threads", 1), "search.threads", 0)
        sampler_seed = self.integer(search.get("seed", 0), "search.seed", 0)
        startup = self.integer(search.get("startup_trials", 10), "search.startup_trials", 0)
        report_every = self.integer(search.get("report_every", 10), "search.report_every", 1)
        timeout_s = search.get("timeout_s")
        if timeout_s is not None and (isinstance(timeout_s, bool)
                                      or not isinstance(timeout_s, (int, float))
                                      or not 0 < timeout_s < math.inf):
            self.fail("search.timeout_s", f"must be a number of seconds > 0, got {timeout_s!r}")
        pruner = search.get("pruner", {"kind": "median"})
        if isinstance(pruner, str):
            pruner = {"kind": pruner}
        if not isinstance(pruner, dict):
            self.fail("search.pruner", "must be a table such as { kind = \"median\" }")
        pruner_kind = self.text(pruner.get("kind", "median"), "search.pruner.kind", PRUNERS)
        self.table(pruner, "search.pruner", _PRUNER[pruner_kind])
        for key, value in pruner.items():
            if key != "kind":
                self.integer(value, f"search.pruner.{key}", 1 if key != "startup_trials" else 0)
        pruner = {"kind": pruner_kind, **{k: v for k, v in pruner.items() if k != "kind"}}

        space_raw = search["space"]
        if not isinstance(space_raw, dict) or not space_raw:
            self.fail("search.space", "give at least one parameter to search")
        space = tuple(self.dimension(n, s) for n, s in space_raw.items())
        derived = search.get("derived", {})
        if not isinstance(derived, dict):
            self.fail("search.derived", "must be a table")
        names = {d.name for d in space} | set(params)
        for target, expression in derived.items():
            tokens = ([expression] if isinstance(expression, (int, float))
                      and not isinstance(expression, bool) else
                      str(expression).split("*") if isinstance(expression, str) else None)
            if tokens is None:
                self.fail(f"search.derived.{target}", "must be a name, a number or \"a * b\"")
            for token in tokens:
                token = str(token).strip()
                if token not in names and not _is_number(token):
                    self.fail(f"search.derived.{target}", f"{token!r} is neither a searched or "
                              f"fixed parameter nor a number")
            if target in {d.name for d in space} or target in params:
                self.fail(f"search.derived.{target}", "is also searched or fixed")
        known = set(cls.defaults) | set(cls.aliases) | {"features"}
        used = {str(t).strip() for e in derived.values() for t in str(e).split("*")}
        for d in space:
            if d.name not in known and d.name not in used:
                self.fail(f"search.space.{d.name}", f"{model} has no parameter {d.name!r} and "
                          "no derived parameter uses it")
        epoch_key = next((key for key in ("epochs", "iterations") if key in cls.defaults), None)

        start = search.get("start", [])
        if not isinstance(start, list) or not all(isinstance(p, dict) for p in start):
            self.fail("search.start", "must be a list of tables of searched parameters")
        space_by_name = {d.name: d for d in space}
        for i, point in enumerate(start):
            for key, value in point.items():
                if key not in space_by_name:
                    self.fail(f"search.start[{i}].{key}", "is not a searched parameter")
                if not space_by_name[key].contains(value):
                    self.fail(f"search.start[{i}].{key}", f"{value!r} is outside the space")

        config = SearchConfig(
            name=name, description=description, dataset=dataset, dataset_options=dict(options),
            split_kind=kind, split_seed=seed, validation_seed=validation_seed,
            split_options=dict(split_options), k=k, exclude_train=exclude, objective=objective,
            model=model, params=dict(params), threads=threads, seed=sampler_seed,
            startup_trials=startup, report_every=report_every, pruner=pruner, space=space,
            derived=dict(derived), start=tuple(start), epoch_key=epoch_key, raw=self.raw,
            source=source, path=self.path,
            timeout_s=None if timeout_s is None else float(timeout_s))
        low = {d.name: d.corners()[0] for d in space}
        corners = [low, {d.name: d.corners()[-1] for d in space}, *({**low, **p} for p in start)]
        for values in corners:
            try:
                models.get(model, **model_params(model, config.setting(values), threads=threads,
                                                 seed=seed))
            except UserError as exc:
                self.fail("search", f"with {values}: {exc.message}")
        return config


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def load_search_config(path: str | os.PathLike) -> SearchConfig:
    """Read and validate a search config.

    Raises
    ------
    UserError
        Missing or unreadable file, invalid TOML, unknown keys, models, parameters or values.
    """
    path = Path(path)
    text = read_config_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML: {exc}", path=path) from None
    return _Parser(raw, path).config(text)


# --------------------------------------------------------------------------- running

@dataclass(frozen=True)
class _Data:
    """The final split, the validation split carved from its train part, and item data."""

    final: Any
    validation: Any
    features: Any
    interactions: Any


def _prepare(config: SearchConfig) -> _Data:
    from recsys_bench import datasets
    from recsys_bench.splits import make_split

    from recsys_bench.experiment.config import wants_features

    data = datasets.load(config.dataset, **config.dataset_options)
    if wants_features(config.params) and data.item_features is None:
        raise UserError(f"search.params: features = \"tags\" but dataset {config.dataset!r} "
                        "has no item features", path=config.path)
    final = make_split(data, config.split_kind, seed=config.split_seed, **config.split_options)
    try:
        validation = make_split(final.train, config.split_kind, seed=config.validation_seed,
                                **config.split_options)
    except UserError as exc:
        raise UserError(f"cannot carve a validation split from the train part: {exc.message}",
                        path=config.path) from None
    return _Data(final=final, validation=validation, features=data.item_features,
                 interactions=data)


def _claim_folder(out: Path, config: SearchConfig) -> None:
    stored = out / "config.toml"
    if stored.exists():
        try:
            same = tomllib.loads(stored.read_text(encoding="utf-8")) == config.raw
        except (OSError, tomllib.TOMLDecodeError):
            same = False
        if not same:
            raise UserError("the folder holds another search or run (its config.toml "
                            "differs); use another --out", path=out)
        return
    if out.exists() and (not out.is_dir() or any(p.name != LOCK_NAME for p in out.iterdir())):
        raise UserError("not an empty folder and not a search folder (no config.toml); use "
                        "another --out", path=out)
    atomic_write_text(stored, config.source)


def _storage(out: Path):
    try:
        import optuna
    except ImportError:
        raise UserError("the search needs Optuna: pip install 'recsys-bench[search]' "
                        "(or pip install optuna)") from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with study_db(out / DB_FILE):
        return optuna.storages.RDBStorage(
            f"sqlite:///{(out / DB_FILE).resolve()}",
            engine_kwargs={"connect_args": {"timeout": _LOCK_WAIT_S}})


def _study(config: SearchConfig, storage, n_existing: int = 0, parallel: int = 1):
    """The study of ``config`` in ``storage`` (created if new), with a sampler seeded by
    ``config.seed + n_existing`` so a resumed session does not replay the first one's draws,
    in constant-liar mode when ``parallel`` trials run at once."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=config.seed + n_existing, n_startup_trials=config.startup_trials,
            multivariate=True, constant_liar=parallel > 1)
    return optuna.create_study(storage=storage, study_name=config.name, direction="maximize",
                               sampler=sampler, pruner=_pruner(config), load_if_exists=True)


def _pruner(config: SearchConfig):
    import optuna

    pruner = config.pruner
    if pruner["kind"] == "median":
        pruner_obj = optuna.pruners.MedianPruner(
            n_startup_trials=pruner.get("startup_trials", 5),
            n_warmup_steps=pruner.get("warmup_epochs", 0))
    elif pruner["kind"] == "halving":
        pruner_obj = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=pruner.get("min_epochs", config.report_every),
            reduction_factor=pruner.get("reduction_factor", 3))
    else:
        pruner_obj = optuna.pruners.NopPruner()
    return pruner_obj


def _counted(trial) -> bool:
    """Whether a stored trial counts towards the requested total (interrupted ones do not)."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (trial.state == TrialState.FAIL and "error" in trial.user_attrs))


def _train_and_score(config: SearchConfig, setting: dict, split, features, report=None):
    """Train ``setting`` on ``split.train`` through its checkpoints, scoring ``split.test``.

    ``report(value, epoch, fit_seconds, eval_seconds, last)`` is called at each checkpoint and
    may raise to stop (pruning). Returns (model, score, epochs trained, fit seconds, eval seconds).
    """
    from recsys_bench import models
    from recsys_bench.experiment.config import model_params, wants_features
    from recsys_bench.eval.evaluation import evaluate
    from recsys_bench.threads import pinned_blas

    if wants_features(setting) and features is None:
        raise UserError(f"features = \"tags\" but dataset {config.dataset!r} has no item "
                        "features", path=config.path)
    params = model_params(config.model, setting, threads=config.threads, seed=config.split_seed)
    model = models.get(config.model, **params)
    item_features = features if wants_features(setting) else None
    epochs = config.epochs_of(params)
    if epochs is None or not model.supports_continue:
        checkpoints = [epochs]
    else:
        checkpoints = list(range(config.report_every, epochs, config.report_every)) + [epochs]
    fit_s = eval_s = 0.0
    done, value = 0, math.nan
    with pinned_blas(config.threads):
        steps = fit_through(model, split.train, checkpoints, item_features=item_features)
        for i, (target, seconds) in enumerate(zip(checkpoints, steps)):
            fit_s += seconds
            done = target or 0
            start = time.perf_counter()
            result = evaluate(model, split, k=config.k, exclude_train=config.exclude_train,
                              subsets=("test",), metrics=(config.objective,))
            eval_s += time.perf_counter() - start
            value = float(result["test"].means[config.objective])
            if report is not None:
                report(value, done, fit_s, eval_s, i == len(checkpoints) - 1)
    return model, value, done, fit_s, eval_s


def _save_trial_data(out: Path, data: _Data) -> None:
    """Write the validation split and item features that trial bodies read (``splits/``)."""
    from recsys_bench.store.table import atomic_save_npz
    from recsys_bench.splits import save_split

    save_split(data.validation, out / VALIDATION_FILE)
    if data.features is not None:
        features = data.features.tocsr()
        atomic_save_npz(out / FEATURES_FILE, {
            "data": features.data, "indices": features.indices, "indptr": features.indptr,
            "shape": np.asarray(features.shape, dtype=np.int64)})


def _trial_data(out: Path, fingerprint: str, cache) -> tuple:
    """The validation split (with ``fingerprint``) and item features of a search folder, kept
    in the executor's ``cache`` between trials."""
    import scipy.sparse as sp

    from recsys_bench.splits import load_split

    key = ("search", str(out), fingerprint)
    if key not in cache:
        split = load_split(out / VALIDATION_FILE)
        if split.fingerprint != fingerprint:
            raise UserError("the stored validation split is not the study's", path=out)
        features = None
        if (out / FEATURES_FILE).exists():
            with np.load(out / FEATURES_FILE, allow_pickle=False) as npz:
                features = sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]),
                                         shape=tuple(npz["shape"]))
        cache[key] = (split, features)
        while len(cache) > _DATA_CACHED:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return cache[key]


def run_trial_body(config: SearchConfig, out_dir: str, trial_id: int, setting: dict, *,
                   cache) -> tuple[str, float | None, dict]:
    """Train one search trial wherever an executor runs it, reporting to the stored study.

    Parameters
    ----------
    config : SearchConfig
        The search's config.
    out_dir : str
        The search folder (absolute where workers run elsewhere).
    trial_id : int
        The trial's storage id (``trial._trial_id``), asked for by the parent process.
    setting : dict
        The model setting sampled for it.
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
        split, features = _trial_data(
            out, study.user_attrs["fingerprints"]["validation_split"], cache)
        return _train_trial(config, optuna.trial.Trial(study, trial_id), setting, split,
                            features)
    finally:
        storage.engine.dispose()


def _train_trial(config: SearchConfig, trial, setting: dict, split, features) -> tuple:
    import optuna

    attrs: dict = {}

    def report(value, epoch, fit_s, eval_s, last):
        trial.report(value, epoch)
        if not last and trial.should_prune():
            attrs.update(epochs=epoch, fit_seconds=fit_s, eval_seconds=eval_s)
            raise optuna.TrialPruned(f"behind at epoch {epoch}")

    try:
        _, value, epochs, fit_s, eval_s = _train_and_score(config, setting, split, features,
                                                           report)
    except optuna.TrialPruned:
        return "pruned", None, attrs
    except UserError as exc:
        attrs["error"] = exc.message
        return ("complete", 0.0, attrs) if "diverged" in exc.message else ("failed", None, attrs)
    attrs.update(epochs=epochs, fit_seconds=fit_s, eval_seconds=eval_s)
    return "complete", value, attrs


def _run_trials(study, config: SearchConfig, out: Path, pool, todo: int, parallel: int,
                progress=None) -> None:
    """Ask for ``todo`` trials, run them on ``pool`` (``parallel`` at once) and tell their
    outcomes; on any error of this process the running ones are told failed (interrupted)."""
    from optuna.trial import TrialState

    from recsys_bench.experiment.executors import Task
    from recsys_bench.threads import resolve_threads

    folder = str(out.resolve())
    threads = resolve_threads(config.threads)
    limit = config.timeout_s if config.timeout_s is not None else math.inf
    running: dict = {}
    started: dict[str, float] = {}
    asked = 0

    def finish(key: str, outcome: str, value, attrs: dict) -> None:
        trial = running.pop(key)
        del started[key]
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

    try:
        while asked < todo or running:
            while asked < todo and len(running) < parallel:
                with deferred_signals():
                    trial = study.ask()
                    asked += 1
                    setting = config.setting({d.name: d.suggest(trial) for d in config.space})
                    trial.set_user_attr("setting", setting)
                key = f"search-{trial.number}"
                running[key] = trial
                started[key] = time.monotonic()
                pool.start(Task(key, run_trial_body, (config, folder, trial._trial_id, setting),
                                threads=threads))
            first_deadline = min(started.values(), default=math.inf) + limit
            for done in pool.wait(min(60.0, max(0.0, first_deadline - time.monotonic()) + 0.05)):
                if done.trial_id in running:         # not a late result of a timed-out trial
                    finish(done.trial_id, *(done.result if done.status is None
                                            else ("failed", None, {"error": done.error})))
            for key in [k for k, t0 in started.items() if time.monotonic() - t0 > limit]:
                how = pool.cancel(key)
                finish(key, "failed", None,
                       {"error": f"exceeded timeout_s = {limit:g} and {how}"})
    except BaseException:
        pool.close()
        with deferred_signals():
            for trial in running.values():
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
               parallel: int | None = None) -> Path:
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
        ``search.threads`` each; 1 for ``inline``, which runs no more).

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
    pool = executors.make(executor, out, scheduler=scheduler)
    restore_signals = interrupt_on_signals()
    try:
        start = Start(out, "search")
        with start.undone_unless((out / DB_FILE).exists), study_db(out / DB_FILE):
            return _search(config, out, trials, pool, parallel, quiet, grid_run)
    finally:
        pool.close()
        restore_signals()


def _search(config: SearchConfig, out: Path, trials: int, pool, parallel: int | None,
            quiet: bool, grid_run) -> Path:
    from recsys_bench.threads import resolve_threads

    if parallel is None:
        parallel = max(1, min(pool.slots(None), pool.budget() // resolve_threads(config.threads)))
    _claim_folder(out, config)
    data = _prepare(config)
    storage = _storage(out)
    study = _study(config, storage)
    fingerprints = {"final_split": data.final.fingerprint,
                    "validation_split": data.validation.fingerprint}
    stored = study.user_attrs.get("fingerprints")
    if stored is None:
        for key, value in (("fingerprints", fingerprints), ("k", config.k),
                           ("objective", config.objective)):
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
        _save_trial_data(out, data)
        _run_trials(study, config, out, pool, todo, min(parallel, todo),
                    None if quiet else _progress(trials, done))
    study.set_user_attr("sessions", study.user_attrs.get("sessions", []) + [
        {"trials_run": todo, "wall_seconds": round(time.perf_counter() - t0, 3),
         "parallel": parallel, **pool.info()}])
    _final(config, data, study, out, quiet)
    from recsys_bench.analysis.gallery import write_gallery

    write_gallery(out)
    report = _write_report(out, config, study, grid_run)
    if not quiet:
        print(f"{config.name}: {sum(_counted(t) for t in study.get_trials(deepcopy=False))} "
              f"trials; report: {report}", flush=True)
    return report


def _enqueue_start(study, config: SearchConfig, existing) -> None:
    """Queue the config's start points that no counted or queued trial has tried yet (a start
    point whose trial was interrupted is queued again)."""
    from optuna.trial import TrialState

    tried = [t.params for t in existing if _counted(t)]
    tried += [t.system_attrs.get("fixed_params", {}) for t in existing
              if t.state == TrialState.WAITING]
    for point in config.start:
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


def _final(config: SearchConfig, data: _Data, study, out: Path, quiet: bool) -> None:
    """Retrain the best trial on the full train part and score the test set (once per best)."""
    from recsys_bench import embeddings as similarity

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
    similarity.save_model_vectors(
        model, out / similarity.MODELS_DIR / f"{BEST_MODEL}.npz", item_ids=inter.item_ids,
        item_names=inter.item_names, feature_names=inter.feature_names,
        item_features=inter.item_features,
        meta={"trial_id": BEST_MODEL, "dataset": config.dataset, "seed": config.split_seed,
              "score": value, "k": config.k, "search_trial": best.number})
    if not quiet:
        print(f"best trial {best.number} retrained on the full train part: test "
              f"{config.objective}@{config.k} {value:.4f} (validation {best.value:.4f})",
              file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- report

def trial_table(study):
    """One row per trial (a ``pandas.DataFrame``): number, state (``complete``, ``pruned``,
    ``diverged``, ``fail`` or ``interrupted``), objective ``value`` (the last reported one for
    pruned trials), ``epochs_run``, fit and eval seconds, error and the sampled parameters."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        if state == "fail" and "error" not in t.user_attrs:
            state = "interrupted"
        elif state == "complete" and "diverged" in t.user_attrs.get("error", ""):
            state = "diverged"
        last = max(t.intermediate_values) if t.intermediate_values else None
        value = t.value if t.value is not None else (
            t.intermediate_values[last] if last is not None else math.nan)
        rows.append({"trial": t.number, "state": state, "value": value,
                     "epochs_run": t.user_attrs.get("epochs", last),
                     "fit_seconds": t.user_attrs.get("fit_seconds", math.nan),
                     "eval_seconds": t.user_attrs.get("eval_seconds", math.nan),
                     "error": t.user_attrs.get("error", ""), **t.params})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class GridSummary:
    """The best test p@k of a grid run folder and the compute it used."""

    folder: str
    model: str
    dataset: str
    best: float
    best_params: str
    best_epoch: int
    k: int
    exclude_train: bool
    trials: int
    epochs: int
    fit_seconds: float
    eval_seconds: float


def grid_summary(grid_run: str | os.PathLike, model: str) -> GridSummary:
    """Best test p@k (mean over split seeds, best epoch) of ``model`` in a grid run folder.

    Uses ``model`` when the grid ran it, else the grid's only model, else ``implicit-als``.
    Compute: distinct trials, epochs trained (each trial's last checkpoint), fit seconds up to
    the last checkpoint and evaluation seconds of every checkpoint, summed over trials.
    """
    from recsys_bench.store.table import read_results

    df = read_results(grid_run)
    ok = df[(df["status"] == "ok") & (df["subset"] == "test")]
    models_run = sorted(set(ok["model"]))
    if model not in models_run:
        if len(models_run) == 1:
            model = models_run[0]
        elif "implicit-als" in models_run:
            model = "implicit-als"
        else:
            raise UserError(f"the grid run has no {model} results (models: "
                            f"{', '.join(models_run) or 'none'})", path=grid_run)
    ok = ok[ok["model"] == model]
    by_setting = ok.groupby(["dataset", "params", "epoch"], as_index=False).agg(
        p=("precision_at_k", "mean"), k=("k", "first"), exclude=("exclude_train", "first"))
    best = by_setting.sort_values(["p", "epoch"], ascending=[False, True]).iloc[0]
    last = ok.sort_values("epoch").groupby("trial_id").tail(1)
    per_checkpoint = ok.drop_duplicates(["trial_id", "epoch"])
    return GridSummary(folder=Path(grid_run).name, model=model, dataset=str(best["dataset"]),
                       best=float(best["p"]), best_params=str(best["params"]),
                       best_epoch=int(best["epoch"]), k=int(best["k"]),
                       exclude_train=bool(best["exclude"]), trials=int(last["trial_id"].nunique()),
                       epochs=int(last["epoch"].sum()),
                       fit_seconds=float(last["fit_seconds"].sum()),
                       eval_seconds=float(per_checkpoint["eval_seconds"].sum()))


def _history_figure(table, path: Path, title: str, ylabel: str, study) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.85, wspace=0.22)
    styles = {"complete": ("o", "C0"), "pruned": ("x", "C3"), "diverged": ("v", "C7"),
              "fail": ("v", "C7")}
    for state, (marker, color) in styles.items():
        rows = table[table["state"] == state]
        if len(rows):
            left.scatter(rows["trial"], rows["value"], marker=marker, color=color, label=state,
                         s=22)
    complete = table[table["state"] == "complete"].sort_values("trial")
    if len(complete):
        trials = list(complete["trial"]) + [int(table["trial"].max())]
        best = list(complete["value"].cummax())
        left.step(trials, best + best[-1:], where="post", color="C2", label="best so far")
    left.set(xlabel="trial", ylabel=ylabel, title="trial history")
    left.legend(fontsize=8)
    for t in study.get_trials(deepcopy=False):
        if t.intermediate_values:
            steps = sorted(t.intermediate_values)
            pruned = t.state.name == "PRUNED"
            right.plot(steps, [t.intermediate_values[s] for s in steps], marker=".",
                       markersize=3, color="C3" if pruned else "C0",
                       alpha=0.45 if pruned else 0.7, linewidth=0.9)
    right.set(xlabel="epoch", ylabel=ylabel,
              title="learning curves (red: pruned)")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else \
            f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def _md_table(columns: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return out


def write_search_report(out_dir: str | os.PathLike, *, grid_run: str | os.PathLike | None = None
                        ) -> Path:
    """Write ``search.md``, ``search.json``, ``search.csv`` and the history figure of a search
    folder from its stored study (no training).

    Raises
    ------
    UserError
        The folder holds no search.
    """
    out = Path(out_dir)
    if not (out / DB_FILE).exists() or not (out / "config.toml").exists():
        raise UserError(f"not a search folder (no {DB_FILE} or config.toml)", path=out)
    config = load_search_config(out / "config.toml")
    storage = _storage(out)
    import optuna

    study = optuna.load_study(study_name=config.name, storage=storage)
    return _write_report(out, config, study, grid_run)


def _write_report(out: Path, config: SearchConfig, study, grid_run) -> Path:
    table = trial_table(study)
    metric = f"{config.objective}@{config.k}"
    final = study.user_attrs.get("final")
    counted = table[table["state"] != "interrupted"] if len(table) else table
    fit_total = float(np.nansum(counted["fit_seconds"])) if len(counted) else 0.0
    eval_total = float(np.nansum(counted["eval_seconds"])) if len(counted) else 0.0
    epochs_total = int(np.nansum(counted["epochs_run"].astype(float))) if len(counted) else 0
    states = counted["state"].value_counts().to_dict() if len(counted) else {}
    grid = grid_summary(grid_run, config.model) if grid_run is not None else None

    lines = [f"# Bayesian search: {config.name}", ""]
    if config.description:
        lines += [config.description, ""]
    options = ", ".join(f"{k}={v}" for k, v in config.dataset_options.items())
    lines += [
        f"Model `{config.model}` on `{config.dataset}`" + (f" ({options})" if options else "")
        + f"; Optuna TPE (seed {config.seed}, {config.startup_trials} random start-up trials), "
        f"pruner: {config.pruner['kind']}, checks every {config.report_every} epochs.", "",
        "**Protocol.** The final split is `" + config.split_kind + "` (seed "
        f"{config.split_seed}, {json.dumps(config.split_options)}). A validation split is carved "
        f"from its train part by the same splitter (seed {config.validation_seed}): every trial "
        f"trains on what remains and is scored by validation {metric}; only the best trial is "
        f"retrained on the full train part and scored on the test likes, once. Training likes "
        f"are {'excluded from' if config.exclude_train else 'kept in'} the rankings "
        f"({'harness default' if config.exclude_train else 'the study protocol'}). The study "
        "tuned directly on its test set, so its reported best is selected on test.", ""]

    if grid is not None:
        retrain = final or {"epochs": 0, "fit_seconds": 0.0, "eval_seconds": 0.0}
        lines += ["## Headline: grid vs Bayesian search", ""]
        rows = [[f"Bayesian search ({config.model})",
                 final["test"] if final else math.nan,
                 "validation" + (f" ({final['validation']:.4f})" if final else ""),
                 len(counted), epochs_total + retrain["epochs"],
                 fit_total + eval_total + retrain["fit_seconds"] + retrain["eval_seconds"]],
                [f"full grid `{grid.folder}` ({grid.model})", grid.best, "test",
                 grid.trials, grid.epochs, grid.fit_seconds + grid.eval_seconds]]
        lines += _md_table(["method", f"best test p@{config.k}", "selected on", "trials",
                            "epochs trained", "seconds (fit + eval)"], rows)
        notes = [f"Grid best: {grid.best_params} at epoch {grid.best_epoch}, "
                 f"{grid.dataset}, mean over its split seeds. The search's epochs and seconds "
                 "include the final retrain of its best trial; the grid's, every checkpoint's "
                 "evaluation (its train subset too, where it scored one)."]
        if grid.k != config.k or grid.exclude_train != config.exclude_train:
            notes.append(f"**Not like for like:** the grid used k={grid.k}, "
                         f"exclude_train={grid.exclude_train}.")
        if grid.dataset != config.dataset:
            notes.append(f"The grid ran on `{grid.dataset}`, the search on `{config.dataset}`.")
        if config.objective != "precision":
            notes.append(f"The search optimised {metric}; the table shows its final test "
                         f"{metric} against the grid's p@{config.k}.")
        lines += ["", " ".join(notes), ""]

    lines += ["## Best trial", ""]
    if final is None:
        lines += ["No trial completed yet.", ""]
    else:
        lines += [f"Trial {final['trial']}: validation {metric} **{final['validation']:.4f}**; "
                  f"retrained on the full train part for {final['epochs']} epochs "
                  f"({final['fit_seconds']:.1f} s): **test {metric} {final['test']:.4f}**.", ""]
        lines += _md_table(["parameter", "value"], [[k, v] for k, v in
                                                    sorted(final["setting"].items())])
        lines += ["", f"Saved vectors: `models/{BEST_MODEL}.npz` (for `recsys-bench similar`); "
                  "queries on them: [gallery](gallery/index.html).", ""]

    lines += ["## Compute", ""]
    lines += _md_table(["trials", "complete", "pruned", "diverged", "failed", "epochs trained",
                        "fit seconds", "eval seconds"],
                       [[len(counted), states.get("complete", 0), states.get("pruned", 0),
                         states.get("diverged", 0), states.get("fail", 0), epochs_total,
                         fit_total, eval_total]])
    interrupted = int((table["state"] == "interrupted").sum()) if len(table) else 0
    if interrupted:
        lines += ["", f"{interrupted} interrupted trial(s) not counted."]
    lines += [""]

    if len(table):
        figure = _history_figure(table, out / "figures" / "search-history.png",
                                 f"{config.name}: validation {metric}", f"validation {metric}",
                                 study)
        lines += ["## Trial history", "", f"![trial history]({figure.relative_to(out)})", ""]
        params = [d.name for d in config.space]
        shown = table.reindex(columns=["trial", "state", "value", "epochs_run", "fit_seconds",
                                       "eval_seconds", *params])
        lines += _md_table(["#", "state", f"validation {metric}", "epochs", "fit s", "eval s",
                            *params], shown.values.tolist())
        errors = table[table["error"] != ""]
        if len(errors):
            lines += ["", "Errors: " + "; ".join(f"trial {r.trial}: {r.error}"
                                                 for r in errors.itertuples())]
        lines += [""]
        from recsys_bench.store.table import atomic_write_bytes

        atomic_write_bytes(out / "search.csv", table.to_csv(index=False).encode("utf-8"))

    summary = {"name": config.name, "model": config.model, "dataset": config.dataset,
               "metric": metric, "trials": len(counted), "states": states,
               "epochs": epochs_total, "fit_seconds": fit_total, "eval_seconds": eval_total,
               "final": final, "sessions": study.user_attrs.get("sessions", []),
               "grid": None if grid is None else dataclasses.asdict(grid)}
    atomic_write_json(out / "search.json", summary)
    path = out / "search.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def command_search(args) -> int:
    """``recsys-bench search``: run or continue a search and print where its report is."""
    path = run_search(args.config, args.out, args.trials, quiet=args.quiet,
                      grid_run=getattr(args, "grid_run", None),
                      executor=getattr(args, "executor", "inline"),
                      scheduler=getattr(args, "scheduler", None),
                      parallel=getattr(args, "parallel", None))
    if args.quiet:
        print(path)
    return 0


__all__ = ["Dimension", "SearchConfig", "GridSummary", "load_search_config", "run_search",
           "run_trial_body",
           "write_search_report", "grid_summary", "trial_table", "command_search"]
