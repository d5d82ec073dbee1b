"""Experiment files: TOML in, frozen dataclasses out, every mistake a one-line ``UserError``.

An experiment names data sets, a split (with several seeds for repeats), the evaluation, the
timing policy and the models, each with fixed parameters, an optional grid and thread counts.
Everything is checked here, before any work starts, so a typo never costs a half-finished run:
unknown keys, models, metrics, data sets, split kinds, empty grids, checkpoints that do not
increase, and model parameters (each setting is constructed once).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys_bench.errors import UserError
from recsys_bench.eval.presets import PRESETS
from recsys_bench.eval.registry import default_names as default_metric_names
from recsys_bench.eval.registry import names as metric_names
from recsys_bench.experiment.schema import Reader, kind, parse_toml, read_text
from recsys_bench.models import model_params
from recsys_bench.threads import cores

if TYPE_CHECKING:
    from recsys_bench.experiment.search_config import SearchSpec

SUBSETS = ("train", "test")
SPLIT_KINDS = ("user_holdout", "leave_k_out", "ratio", "leave_last_k_out", "temporal", "time_cut",
               "given", "movielens_official", "strong_generalization")
EXCLUSIVE = ("scaling", "all", "none")
FEATURES = ("tags", "none")

_TOP_KEYS = {"experiment", "datasets", "split", "evaluation", "timing", "models"}
_SEARCH_TOP_KEYS = {"experiment", "datasets", "split", "evaluation", "search"}
_EXPERIMENT_KEYS = {"name", "description"}
_DATASET_KEYS = {"name", "options", "label"}
_SPLIT_KEYS = {"kind", "seeds", "options"}
_SEARCH_SPLIT_KEYS = {"kind", "seeds", "validation_seed", "options"}
_EVALUATION_KEYS = {"k", "metrics", "exclude_train", "subsets", "checkpoints", "protocol",
                    "protocol_rescore"}
_SEARCH_EVALUATION_KEYS = {"k", "exclude_train"}
_CHECKPOINT_KEYS = {"start", "stop", "step"}
_TIMING_KEYS = {"warmup", "repeats", "timeout_s", "exclusive"}
_MODEL_KEYS = {"name", "params", "grid", "threads", "checkpoints", "repeats", "warmup", "datasets"}
_RUNNER_PARAMS = {"num_threads"}
_LABEL_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class DatasetSpec:
    """One data set of the experiment.

    Attributes
    ----------
    name : str
        Registry name (``recsys_bench.datasets.names()``).
    options : dict
        Keyword options of its loader.
    label : str
        The name used in results and file names: ``label`` if the config gives one, else ``name``,
        followed by ``-`` and a short tag of the options that tell it apart from other entries of
        the same data set (e.g. ``synthetic-nnz20M``).
    """

    name: str
    options: dict
    label: str


@dataclass(frozen=True)
class SplitSpec:
    """How train and test are drawn: ``kind`` with ``options``, once per seed.

    A search carves a validation split from the train part with ``validation_seed``.
    """

    kind: str
    seeds: tuple[int, ...]
    options: dict
    validation_seed: int | None = None


@dataclass(frozen=True)
class EvaluationSpec:
    """What is measured at each checkpoint.

    ``checkpoints`` is None when the config gives none: each model then trains once with its own
    epoch count and is evaluated once. ``protocols`` names the presets of
    :mod:`recsys_bench.eval.presets` the finished run's stored lists are reconciled under
    (``reconcile.md`` and the report's section); ``protocol_rescore`` (default: on when presets
    are named) trains each trial again for what needs every item's score (AUC, LightFM's tie
    rule, lists of the other exclusion or of length 100).
    """

    k: int
    metrics: tuple[str, ...]
    exclude_train: bool
    subsets: tuple[str, ...]
    checkpoints: tuple[int, ...] | None
    protocols: tuple[str, ...] = ()
    protocol_rescore: bool = False


@dataclass(frozen=True)
class TimingSpec:
    """How fits are timed.

    Attributes
    ----------
    warmup : int
        Untimed fits of one epoch before each timed run.
    repeats : int
        Timed runs of each trial; the median fit time is recorded, quality from the first.
    timeout_s : float
        Wall-clock limit of one trial; past it the trial is killed and recorded as ``timeout``.
    exclusive : str
        Which trials run alone on the machine so their timings are not disturbed by a neighbour:
        ``"scaling"`` (those of models listing several thread counts), ``"all"`` or ``"none"``.
    """

    warmup: int
    repeats: int
    timeout_s: float
    exclusive: str


@dataclass(frozen=True)
class ModelSpec:
    """One ``[[models]]`` entry: fixed ``params`` crossed with the ``grid``, at each thread count.

    ``checkpoints``, ``repeats`` and ``warmup`` override the experiment-wide values when set;
    ``datasets`` restricts the entry to those data set labels (None: all).
    """

    name: str
    params: dict
    grid: dict
    threads: tuple[int, ...]
    checkpoints: tuple[int, ...] | None = None
    repeats: int | None = None
    warmup: int | None = None
    datasets: tuple[str, ...] | None = None

    def settings(self) -> list[dict]:
        """Every parameter setting: ``params`` updated with each point of the grid's product."""
        keys = sorted(self.grid)
        return [{**self.params, **dict(zip(keys, values))}
                for values in itertools.product(*(self.grid[key] for key in keys))]

    def applies_to(self, label: str) -> bool:
        """True when this entry runs on the data set ``label``."""
        return self.datasets is None or label in self.datasets


@dataclass(frozen=True)
class Experiment:
    """A parsed, validated experiment file.

    Attributes
    ----------
    raw : dict
        The parsed TOML as read (used to tell whether two files describe the same experiment).
    source : str
        The file's text, copied into the run folder as ``config.toml``.
    path : pathlib.Path or None
        Where it was read from.
    search : SearchSpec or None
        The ``[search]`` table of a search experiment (one data set, one split seed, no
        ``[[models]]``).
    """

    name: str
    description: str
    datasets: tuple[DatasetSpec, ...]
    split: SplitSpec
    evaluation: EvaluationSpec
    timing: TimingSpec
    models: tuple[ModelSpec, ...]
    raw: dict
    source: str
    path: Path | None = None
    search: SearchSpec | None = None

    def checkpoints_of(self, model: ModelSpec) -> tuple[int, ...] | None:
        """The checkpoints ``model`` is evaluated at (its own override or the experiment's)."""
        return model.checkpoints if model.checkpoints is not None else self.evaluation.checkpoints

    def repeats_of(self, model: ModelSpec) -> int:
        """Timed repeats of ``model``'s trials."""
        return model.repeats if model.repeats is not None else self.timing.repeats

    def warmup_of(self, model: ModelSpec) -> int:
        """Untimed warm-up fits before each of ``model``'s trials."""
        return model.warmup if model.warmup is not None else self.timing.warmup


def load_config(path: str | os.PathLike, *, search: bool = False) -> Experiment:
    """Read and validate an experiment file.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML experiment file (see ``configs/``).
    search : bool
        True for ``recsys-bench search``: the file must have a ``[search]`` table (an
        experiment with one data set and one split seed); False for ``recsys-bench run``,
        which refuses one.

    Returns
    -------
    Experiment

    Raises
    ------
    UserError
        The file is missing or not TOML, or a key, name or value is wrong; the message names the
        key and the error carries the file and, where it can be found, the line.
    """
    return parse_config(read_text(path), path=path, search=search)


def parse_config(text: str, *, path: str | os.PathLike | None = None,
                 search: bool = False) -> Experiment:
    """Validate the TOML ``text`` of an experiment (``path`` only names it in errors)."""
    return _Parser(parse_toml(text, path), text, path).experiment(search)


class _Parser(Reader):
    """Walks a parsed experiment file (see :class:`~recsys_bench.experiment.schema.Reader`)."""

    def experiment(self, search: bool = False) -> Experiment:
        if search:
            from recsys_bench.experiment.search_config import upgrade_legacy

            self.raw = upgrade_legacy(self.raw)
            if "search" not in self.raw:
                self.fail((), "no [search] table: this is a run's experiment; run it with "
                          "`recsys-bench run`, or add [search] (see configs/search-*.toml)")
        elif "search" in self.raw:
            self.fail(("search",), "this is a search experiment; run it with "
                      "`recsys-bench search`, not `recsys-bench run`")
        required = ("experiment", "datasets", "search") if search else \
            ("experiment", "datasets", "models")
        raw = self.table(self.raw, (), _SEARCH_TOP_KEYS if search else _TOP_KEYS,
                         required=required)
        head = self.table(raw["experiment"], ("experiment",), _EXPERIMENT_KEYS, required=("name",))
        name = self.string(head["name"], ("experiment", "name"))
        description = head.get("description", "")
        if not isinstance(description, str):
            self.fail(("experiment", "description"), "must be a string")
        datasets = self.datasets(raw["datasets"])
        split = self.split(raw.get("split", {}), search)
        evaluation = self.evaluation(raw.get("evaluation", {}), search)
        timing = self.timing(raw.get("timing", {}))
        labels = tuple(d.label for d in datasets)
        models: tuple[ModelSpec, ...] = ()
        search_spec = None
        if search:
            from recsys_bench.experiment.search_config import parse_search

            if len(datasets) != 1:
                self.fail(("datasets",), "a search runs on one data set; give one [[datasets]]")
            search_spec = parse_search(self, raw["search"], split)
        else:
            models = self.models(raw["models"], labels)
            self.check_item_vectors(models, evaluation.metrics)
        return Experiment(name=name, description=description, datasets=datasets, split=split,
                          evaluation=evaluation, timing=timing, models=models, raw=self.raw,
                          source=self.text, path=self.path, search=search_spec)

    def datasets(self, value: Any) -> tuple[DatasetSpec, ...]:
        from recsys_bench import datasets as registry

        if not isinstance(value, list) or not value:
            self.fail(("datasets",), "give at least one [[datasets]] table")
        entries = []
        for i, entry in enumerate(value):
            where = ("datasets", i)
            self.table(entry, where, _DATASET_KEYS, required=("name",))
            name = self.string(entry["name"], where + ("name",), registry.names())
            options = entry.get("options", {})
            if not isinstance(options, dict):
                self.fail(where + ("options",), f"must be a table, got {kind(options)}")
            valid = registry.option_names(name)
            for key in options:
                if key not in valid:
                    self.fail(where + ("options", key),
                              f"unknown option for dataset {name!r}; valid: {', '.join(valid)}")
            label = entry.get("label")
            if label is not None:
                label = self.string(label, where + ("label",))
            entries.append((name, options, label))
        out = []
        for i, (name, options, label) in enumerate(entries):
            if label is None:
                label = dataset_label(name, options, [o for n, o, _ in entries if n == name])
            if not _LABEL_OK.match(label):
                self.fail(("datasets", i, "label"), f"{label!r} may hold only letters, digits "
                          "and . _ + - (it names files)")
            if label in (d.label for d in out):
                self.fail(("datasets", i), f"label {label!r} is used twice; give each entry "
                          "different options or an explicit label")
            out.append(DatasetSpec(name=name, options=dict(options), label=label))
        return tuple(out)

    def split(self, value: Any, search: bool = False) -> SplitSpec:
        where = ("split",)
        self.table(value, where, _SEARCH_SPLIT_KEYS if search else _SPLIT_KEYS)
        kind = self.string(value.get("kind", "user_holdout"), where + ("kind",), SPLIT_KINDS)
        seeds = value.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            self.fail(where + ("seeds",), "must be a non-empty list of integers")
        seeds = tuple(self.integer(s, where + ("seeds",), 0) for s in seeds)
        if len(set(seeds)) != len(seeds):
            self.fail(where + ("seeds",), "a seed is listed twice")
        options = value.get("options", {})
        if not isinstance(options, dict):
            self.fail(where + ("options",), f"must be a table, got {kind(options)}")
        valid = _split_option_names(kind)
        if valid is not None:
            for key in options:
                if key not in valid:
                    self.fail(where + ("options", key), f"unknown option for split kind {kind!r};"
                              f" valid: {', '.join(valid)}")
        validation_seed = None
        if search:
            if len(seeds) != 1:
                self.fail(where + ("seeds",), "a search uses one split seed, e.g. seeds = [0]")
            validation_seed = self.integer(value.get("validation_seed", seeds[0] + 1),
                                           where + ("validation_seed",), 0)
        return SplitSpec(kind=kind, seeds=seeds, options=dict(options),
                         validation_seed=validation_seed)

    def checkpoints(self, value: Any, where: tuple) -> tuple[int, ...]:
        if isinstance(value, dict):
            self.table(value, where, _CHECKPOINT_KEYS, required=("start", "stop"))
            start = self.integer(value["start"], where + ("start",), 1)
            stop = self.integer(value["stop"], where + ("stop",), 1)
            step = self.integer(value.get("step", 1), where + ("step",), 1)
            if stop < start:
                self.fail(where + ("stop",), f"stop ({stop}) is below start ({start})")
            return tuple(range(start, stop + 1, step))
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list of epochs or {start, stop, step}")
        epochs = tuple(self.integer(e, where, 1) for e in value)
        if any(b <= a for a, b in zip(epochs, epochs[1:])):
            self.fail(where, f"epochs must increase strictly, got {list(epochs)}")
        return epochs

    def evaluation(self, value: Any, search: bool = False) -> EvaluationSpec:
        where = ("evaluation",)
        self.table(value, where, _SEARCH_EVALUATION_KEYS if search else _EVALUATION_KEYS)
        k = self.integer(value.get("k", 5), where + ("k",), 1)
        known = metric_names()
        metrics = self.string_list(value.get("metrics", list(default_metric_names())),
                                   where + ("metrics",), known)
        exclude = value.get("exclude_train", True)
        if not isinstance(exclude, bool):
            self.fail(where + ("exclude_train",), f"must be true or false, got {kind(exclude)}")
        subsets = self.string_list(value.get("subsets", ["test"]), where + ("subsets",), SUBSETS)
        checkpoints = None
        if "checkpoints" in value:
            checkpoints = self.checkpoints(value["checkpoints"], where + ("checkpoints",))
        protocols: tuple[str, ...] = ()
        if "protocol" in value:
            protocol = value["protocol"]
            protocols = self.string_list([protocol] if isinstance(protocol, str) else protocol,
                                         where + ("protocol",), PRESETS)
        rescore = value.get("protocol_rescore", bool(protocols))
        if not isinstance(rescore, bool):
            self.fail(where + ("protocol_rescore",), f"must be true or false, got {kind(rescore)}")
        if rescore and not protocols:
            self.fail(where + ("protocol_rescore",), "needs evaluation.protocol (the presets to "
                      "reconcile under)")
        return EvaluationSpec(k=k, metrics=metrics, exclude_train=exclude, subsets=subsets,
                              checkpoints=checkpoints, protocols=protocols,
                              protocol_rescore=rescore)

    def timing(self, value: Any) -> TimingSpec:
        where = ("timing",)
        self.table(value, where, _TIMING_KEYS)
        warmup = self.integer(value.get("warmup", 1), where + ("warmup",), 0)
        repeats = self.integer(value.get("repeats", 1), where + ("repeats",), 1)
        timeout = value.get("timeout_s", 900)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            self.fail(where + ("timeout_s",), f"must be a positive number, got {timeout!r}")
        exclusive = self.string(value.get("exclusive", "scaling"), where + ("exclusive",),
                                EXCLUSIVE)
        return TimingSpec(warmup=warmup, repeats=repeats, timeout_s=float(timeout),
                          exclusive=exclusive)

    def threads(self, value: Any, where: tuple) -> tuple[int, ...]:
        if value == "all":
            return tuple(range(1, cores() + 1))
        if not isinstance(value, list) or not value:
            self.fail(where, 'must be a non-empty list of thread counts or "all"')
        out: list[int] = []
        for item in value:
            counts = range(1, cores() + 1) if item == "all" else [self.integer(item, where, 1)]
            out.extend(c for c in counts if c not in out)
        return tuple(out)

    def models(self, value: Any, labels: tuple[str, ...]) -> tuple[ModelSpec, ...]:

        if not isinstance(value, list) or not value:
            self.fail(("models",), "give at least one [[models]] table")
        out = []
        for i, entry in enumerate(value):
            where = ("models", i)
            self.table(entry, where, _MODEL_KEYS, required=("name",))
            name = self.model_name(entry["name"], where + ("name",))
            params = entry.get("params", {})
            if not isinstance(params, dict):
                self.fail(where + ("params",), f"must be a table, got {kind(params)}")
            grid = entry.get("grid", {})
            if not isinstance(grid, dict):
                self.fail(where + ("grid",), f"must be a table, got {kind(grid)}")
            for key, values in grid.items():
                if not isinstance(values, list) or not values:
                    self.fail(where + ("grid", key), "must be a non-empty list of values")
                if key in params:
                    self.fail(where + ("grid", key), "is also a fixed param; give it in one place")
                if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                    self.fail(where + ("grid", key), "a value is listed twice")
            for key in set(params) | set(grid):
                if key in _RUNNER_PARAMS:
                    self.fail(where + ("params" if key in params else "grid", key),
                              "set thread counts with threads = [...], not as a param")
            threads = self.threads(entry.get("threads", [1]), where + ("threads",))
            checkpoints = None
            if "checkpoints" in entry:
                checkpoints = self.checkpoints(entry["checkpoints"], where + ("checkpoints",))
            repeats = warmup = None
            if "repeats" in entry:
                repeats = self.integer(entry["repeats"], where + ("repeats",), 1)
            if "warmup" in entry:
                warmup = self.integer(entry["warmup"], where + ("warmup",), 0)
            only = None
            if "datasets" in entry:
                only = self.string_list(entry["datasets"], where + ("datasets",), labels)
            spec = ModelSpec(name=name, params=dict(params),
                             grid={k: tuple(v) for k, v in grid.items()}, threads=threads,
                             checkpoints=checkpoints, repeats=repeats, warmup=warmup,
                             datasets=only)
            self.check_settings(spec, where)
            out.append(spec)
        return tuple(out)

    def model_name(self, value: Any, where: tuple) -> str:
        """A registered model name or a plug-in's ``package.module:Class``."""
        from recsys_bench import models as registry

        name = self.string(value, where)
        try:
            registry.model_class(name)
        except UserError as exc:
            self.fail(where, exc.message)
        return name

    def check_item_vectors(self, models: tuple[ModelSpec, ...], metrics: tuple[str, ...]
                           ) -> None:
        """Refuse, before any work, a metric computed from item vectors for a model whose
        adapter declares none (it would fail only after its first fit)."""
        from recsys_bench import models as registry
        from recsys_bench.eval.beyond import ITEM_VECTOR_METRICS, no_item_vectors

        if not ITEM_VECTOR_METRICS & set(metrics):
            return
        for i, spec in enumerate(models):
            if not registry.model_class(spec.name).capabilities.item_vectors:
                self.fail(("models", i, "name"), no_item_vectors(spec.name))

    def check_settings(self, spec: ModelSpec, where: tuple) -> None:
        from recsys_bench import models as registry

        cls = registry.model_class(spec.name)
        for key, setting in [("params", spec.params)] + [("grid", s) for s in spec.settings()]:
            features = setting.get("features", "none")
            if "features" not in getattr(cls, "defaults", {}) and features not in FEATURES:
                self.fail(where + (key, "features"),
                          f"must be one of {', '.join(FEATURES)}, got {features!r}")
            try:
                registry.get(spec.name, **model_params(spec.name, setting))
            except UserError as exc:
                self.fail(where + (key,), exc.message)


def dataset_label(name: str, options: dict, same_name: list[dict]) -> str:
    """The results label of data set ``name`` with ``options``.

    ``name`` alone when it is the only entry of that data set; otherwise ``name`` plus the options
    whose values differ between the entries, e.g. ``synthetic-nnz20M`` or
    ``synthetic-n_users100k-nnz5M``.
    """
    if len(same_name) < 2:
        return name
    keys = sorted({k for o in same_name for k in o})
    differing = [k for k in keys if len({json.dumps(o.get(k), sort_keys=True)
                                         for o in same_name}) > 1]
    tag = "-".join(f"{k}{_short(options.get(k))}" for k in differing)
    return f"{name}-{tag}" if tag else name


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
            if abs(value) >= size and value % (size // 100) == 0:
                return f"{value / size:g}{unit}"
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(value))


def _split_option_names(kind: str) -> list[str] | None:
    """Keyword options of the splitter ``kind`` (None when the splits module cannot say)."""
    import inspect

    try:
        from recsys_bench import splits
    except ImportError:
        return None
    fn = getattr(splits, kind, None)
    if not callable(fn):
        return None
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "seed"]
