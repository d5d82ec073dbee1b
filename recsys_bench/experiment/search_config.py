"""The ``[search]`` table of an experiment: what a Bayesian search tunes and how.

A search is an experiment (one data set, one split seed, the evaluation's ``k`` and
``exclude_train``) plus this table, read by the same reader as every experiment
(:mod:`recsys_bench.experiment.schema`)::

    [search]
    model = "lightfm-warp"
    objective = "precision"                      # or recall, ndcg, map, hit_rate
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
    [search.derived]
    user_alpha = "alpha"                          # a name, a number, or a product "a * b"

Names in ``space`` that the model does not take (``alpha``, ``scale``) must be used by
``derived``, and are not passed to the model. The split's ``validation_seed`` (default: the
split seed + 1) carves the validation split the trials are scored on.

Search files written before searches became experiments (``[dataset]``, ``split.seed``,
``evaluation.objective``) are read as the equivalent ``[[datasets]]``, ``split.seeds`` and
``search.objective`` (:func:`upgrade_legacy`), so old configs and search folders keep working.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from recsys_bench.errors import UserError

SEARCH_SPLITS = ("user_holdout", "leave_k_out", "ratio", "given", "strong_generalization")
PRUNERS = ("median", "halving", "none")

_SEARCH = {"model", "objective", "params", "threads", "seed", "startup_trials", "report_every",
           "pruner", "start", "space", "derived", "timeout_s"}
_DIMENSION = {"low", "high", "log", "step", "type", "choices"}
_PRUNER = {"median": {"kind", "startup_trials", "warmup_epochs"},
           "halving": {"kind", "min_epochs", "reduction_factor"}, "none": {"kind"}}


def objectives() -> tuple[str, ...]:
    """Metrics a search may maximise: the registry's higher-is-better top-k metrics."""
    from recsys_bench.eval.registry import METRICS

    return tuple(m.name for m in METRICS.values() if m.higher_is_better and m.needs == "top")


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
        """Draw this parameter's value for an Optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),
                                   step=self.step, log=self.log)

    def contains(self, value) -> bool:
        """Whether ``value`` lies in this dimension."""
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def corners(self) -> tuple:
        """The extreme values (every choice of a categorical one)."""
        return tuple(self.choices) if self.kind == "categorical" else (self.low, self.high)


@dataclass(frozen=True)
class SearchSpec:
    """A parsed ``[search]`` table (see the module docstring)."""

    model: str
    objective: str
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


def upgrade_legacy(raw: dict) -> dict:
    """A search file in the form it had before searches were experiments, in today's form.

    ``[dataset]`` becomes ``[[datasets]]``, ``split.seed`` becomes ``split.seeds = [seed]`` and
    ``evaluation.objective`` becomes ``search.objective``; anything else is left as it is.
    """
    split, evaluation = raw.get("split"), raw.get("evaluation")
    legacy = ("dataset" in raw or isinstance(split, dict) and "seed" in split
              or isinstance(evaluation, dict) and "objective" in evaluation)
    if not legacy:
        return raw
    out = copy.deepcopy(raw)
    if "dataset" in out and "datasets" not in out:
        out["datasets"] = [out.pop("dataset")]
    split = out.get("split")
    if isinstance(split, dict) and "seed" in split and "seeds" not in split:
        split["seeds"] = [split.pop("seed")]
    evaluation = out.get("evaluation")
    search = out.get("search")
    if isinstance(evaluation, dict) and "objective" in evaluation and isinstance(search, dict) \
            and "objective" not in search:
        search["objective"] = evaluation.pop("objective")
    return out


def _evaluate(expression: str | float | int, scope: dict) -> float:
    """Value of a derived expression: a number, a name, or a product of those with ``*``."""
    if isinstance(expression, (int, float)) and not isinstance(expression, bool):
        return expression
    value = 1.0
    for token in str(expression).split("*"):
        token = token.strip()
        value *= scope[token] if token in scope else float(token)
    return value


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _dimension(reader, name: str, spec) -> Dimension:
    where = ("search", "space", name)
    reader.table(spec, where, _DIMENSION)
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            reader.fail(where + ("choices",), "must be a non-empty list")
        return Dimension(name, "categorical", choices=tuple(spec["choices"]))
    for bound in ("low", "high"):
        if bound not in spec:
            reader.fail(where + (bound,), "missing (give low and high, or choices)")
        if isinstance(spec[bound], bool) or not isinstance(spec[bound], (int, float)):
            reader.fail(where + (bound,), f"must be a number, got {spec[bound]!r}")
    low, high = spec["low"], spec["high"]
    inferred = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    kind = reader.string(spec.get("type", inferred), where + ("type",), ("int", "float"))
    log = reader.boolean(spec.get("log", False), where + ("log",))
    if not low < high:
        reader.fail(where, f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        reader.fail(where + ("low",), f"must be > 0 on a log scale, got {low}")
    step = spec.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                             or step <= 0 or log):
        reader.fail(where + ("step",), "must be a positive number (and not with log = true)")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        reader.fail(where, "an integer parameter needs integer bounds")
    return Dimension(name, kind, low=low, high=high, log=log, step=step)


def _pruner(reader, value) -> dict:
    where = ("search", "pruner")
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        reader.fail(where, "must be a table such as { kind = \"median\" }")
    kind = reader.string(value.get("kind", "median"), where + ("kind",), PRUNERS)
    reader.table(value, where, _PRUNER[kind])
    for key, number in value.items():
        if key != "kind":
            reader.integer(number, where + (key,), 1 if key != "startup_trials" else 0)
    return {"kind": kind, **{k: v for k, v in value.items() if k != "kind"}}


def _derived(reader, derived, space: tuple[Dimension, ...], params: dict) -> dict:
    reader.options(derived, ("search", "derived"))
    names = {d.name for d in space} | set(params)
    for target, expression in derived.items():
        where = ("search", "derived", target)
        tokens = ([expression] if isinstance(expression, (int, float))
                  and not isinstance(expression, bool) else
                  str(expression).split("*") if isinstance(expression, str) else None)
        if tokens is None:
            reader.fail(where, "must be a name, a number or \"a * b\"")
        for token in tokens:
            token = str(token).strip()
            if token not in names and not _is_number(token):
                reader.fail(where, f"{token!r} is neither a searched or fixed parameter nor "
                            "a number")
        if target in {d.name for d in space} or target in params:
            reader.fail(where, "is also searched or fixed")
    return dict(derived)


def parse_search(reader, value, split) -> SearchSpec:
    """Check a ``[search]`` table with ``reader`` (a :class:`~recsys_bench.experiment.schema.
    Reader`); ``split`` is the experiment's parsed split, whose seed seeds the models."""
    from recsys_bench import models
    from recsys_bench.models import model_params

    search = reader.table(value, ("search",), _SEARCH, required=("model", "space"))
    if split.kind not in SEARCH_SPLITS:
        reader.fail(("split", "kind"), f"a search carves its validation split with "
                    f"{', '.join(SEARCH_SPLITS)}, not {split.kind!r}")
    model = reader.model_name(search["model"], ("search", "model"))
    cls = models.model_class(model)
    objective = reader.string(search.get("objective", "precision"), ("search", "objective"),
                              objectives())
    params = reader.options(search.get("params", {}), ("search", "params"))
    if "num_threads" in params:
        reader.fail(("search", "params", "num_threads"), "set threads with search.threads")
    threads = reader.integer(search.get("threads", 1), ("search", "threads"), 0)
    sampler_seed = reader.integer(search.get("seed", 0), ("search", "seed"), 0)
    startup = reader.integer(search.get("startup_trials", 10), ("search", "startup_trials"), 0)
    report_every = reader.integer(search.get("report_every", 10), ("search", "report_every"), 1)
    timeout_s = search.get("timeout_s")
    if timeout_s is not None:
        timeout_s = reader.seconds(timeout_s, ("search", "timeout_s"))
    pruner = _pruner(reader, search.get("pruner", {"kind": "median"}))

    space_raw = search["space"]
    if not isinstance(space_raw, dict) or not space_raw:
        reader.fail(("search", "space"), "give at least one parameter to search")
    space = tuple(_dimension(reader, n, s) for n, s in space_raw.items())
    derived = _derived(reader, search.get("derived", {}), space, params)
    known = set(cls.defaults) | set(cls.aliases) | {"features"}
    used = {str(t).strip() for e in derived.values() for t in str(e).split("*")}
    for d in space:
        if d.name not in known and d.name not in used:
            reader.fail(("search", "space", d.name), f"{model} has no parameter {d.name!r} "
                        "and no derived parameter uses it")
    epoch_key = next((key for key in ("epochs", "iterations") if key in cls.defaults), None)

    start = search.get("start", [])
    if not isinstance(start, list) or not all(isinstance(p, dict) for p in start):
        reader.fail(("search", "start"), "must be a list of tables of searched parameters")
    by_name = {d.name: d for d in space}
    for i, point in enumerate(start):
        for key, number in point.items():
            if key not in by_name:
                reader.fail(("search", "start", i, key), "is not a searched parameter")
            if not by_name[key].contains(number):
                reader.fail(("search", "start", i, key), f"{number!r} is outside the space")

    spec = SearchSpec(model=model, objective=objective, params=dict(params), threads=threads,
                      seed=sampler_seed, startup_trials=startup, report_every=report_every,
                      pruner=pruner, space=space, derived=derived, start=tuple(start),
                      epoch_key=epoch_key, timeout_s=timeout_s)
    low = {d.name: d.corners()[0] for d in space}
    corners = [low, {d.name: d.corners()[-1] for d in space}, *({**low, **p} for p in start)]
    for values in corners:
        try:
            models.get(model, **model_params(model, spec.setting(values), threads=threads,
                                             seed=split.seeds[0]))
        except UserError as exc:
            reader.fail(("search",), f"with {values}: {exc.message}")
    return spec
