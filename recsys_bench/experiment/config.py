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
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_bench.errors import UserError

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "auc", "coverage", "mse")
SUBSETS = ("train", "test")
SPLIT_KINDS = ("user_holdout", "leave_k_out", "ratio", "temporal")
EXCLUSIVE = ("scaling", "all", "none")
FEATURES = ("tags", "none")

_TOP_KEYS = {"experiment", "datasets", "split", "evaluation", "timing", "models"}
_EXPERIMENT_KEYS = {"name", "description"}
_DATASET_KEYS = {"name", "options", "label"}
_SPLIT_KEYS = {"kind", "seeds", "options"}
_EVALUATION_KEYS = {"k", "metrics", "exclude_train", "subsets", "checkpoints"}
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
    """How train and test are drawn: ``kind`` with ``options``, once per seed."""

    kind: str
    seeds: tuple[int, ...]
    options: dict


@dataclass(frozen=True)
class EvaluationSpec:
    """What is measured at each checkpoint.

    ``checkpoints`` is None when the config gives none: each model then trains once with its own
    epoch count and is evaluated once.
    """

    k: int
    metrics: tuple[str, ...]
    exclude_train: bool
    subsets: tuple[str, ...]
    checkpoints: tuple[int, ...] | None


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

    def checkpoints_of(self, model: ModelSpec) -> tuple[int, ...] | None:
        """The checkpoints ``model`` is evaluated at (its own override or the experiment's)."""
        return model.checkpoints if model.checkpoints is not None else self.evaluation.checkpoints

    def repeats_of(self, model: ModelSpec) -> int:
        """Timed repeats of ``model``'s trials."""
        return model.repeats if model.repeats is not None else self.timing.repeats

    def warmup_of(self, model: ModelSpec) -> int:
        """Untimed warm-up fits before each of ``model``'s trials."""
        return model.warmup if model.warmup is not None else self.timing.warmup


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def load_config(path: str | os.PathLike) -> Experiment:
    """Read and validate an experiment file.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML experiment file (see ``configs/``).

    Returns
    -------
    Experiment

    Raises
    ------
    UserError
        The file is missing or not TOML, or a key, name or value is wrong; the message names the
        key and the error carries the file and, where it can be found, the line.
    """
    return parse_config(read_config_text(path), path=path)


def read_config_text(path: str | Path) -> str:
    """The text of a config file; a missing or unreadable file is a ``UserError``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("config file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config: {exc}", path=path) from None


def parse_config(text: str, *, path: str | os.PathLike | None = None) -> Experiment:
    """Validate the TOML ``text`` of an experiment (``path`` only names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise UserError(f"not valid TOML: {exc}", path=path,
                        line=int(line.group(1)) if line else None) from None
    return _Parser(raw, text, path).experiment()


class _Parser:
    """Walks the parsed TOML, raising ``UserError`` with the key path and its line."""

    def __init__(self, raw: dict, text: str, path: str | os.PathLike | None):
        self.raw = raw
        self.text = text
        self.path = None if path is None else Path(path)

    def fail(self, where: tuple, message: str):
        name = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in where)
        name = name.replace(".[", "[")
        raise UserError(f"{name}: {message}" if name else message, path=self.path,
                        line=_find_line(self.text, where))

    def table(self, value: Any, where: tuple, allowed: set[str], required: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a table, got {_kind(value)}")
        for key in value:
            if key not in allowed:
                self.fail(where + (key,), f"unknown key; allowed: {', '.join(sorted(allowed))}")
        for key in required:
            if key not in value:
                self.fail(where + (key,), "missing (required)")
        return value

    def integer(self, value: Any, where: tuple, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be an integer, got {_kind(value)}")
        if value < minimum:
            self.fail(where, f"must be >= {minimum}, got {value}")
        return value

    def string(self, value: Any, where: tuple, choices: tuple | list | None = None) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, f"must be a non-empty string, got {_kind(value)}")
        if (bad := control_character(value)) is not None:
            self.fail(where, f"must not contain control characters, found {bad!r} in {value!r}")
        if choices is not None and value not in choices:
            self.fail(where, f"unknown {where[-1]} {value!r}; known: {', '.join(choices)}")
        return value

    def string_list(self, value: Any, where: tuple, choices: tuple | list | None = None
                    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list of strings")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(where, f"item {i} must be a string, got {_kind(item)}")
            if choices is not None and item not in choices:
                self.fail(where, f"unknown value {item!r}; known: {', '.join(choices)}")
            if item in out:
                self.fail(where, f"{item!r} is listed twice")
            out.append(item)
        return tuple(out)

    def experiment(self) -> Experiment:
        if "search" in self.raw:
            self.fail(("search",), "this is a search experiment; run it with "
                      "`recsys-bench search`, not `recsys-bench run`")
        raw = self.table(self.raw, (), _TOP_KEYS, required=("experiment", "datasets", "models"))
        head = self.table(raw["experiment"], ("experiment",), _EXPERIMENT_KEYS, required=("name",))
        name = self.string(head["name"], ("experiment", "name"))
        description = head.get("description", "")
        if not isinstance(description, str):
            self.fail(("experiment", "description"), "must be a string")
        datasets = self.datasets(raw["datasets"])
        split = self.split(raw.get("split", {}))
        evaluation = self.evaluation(raw.get("evaluation", {}))
        timing = self.timing(raw.get("timing", {}))
        labels = tuple(d.label for d in datasets)
        models = self.models(raw["models"], labels)
        return Experiment(name=name, description=description, datasets=datasets, split=split,
                          evaluation=evaluation, timing=timing, models=models, raw=self.raw,
                          source=self.text, path=self.path)

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
                self.fail(where + ("options",), f"must be a table, got {_kind(options)}")
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

    def split(self, value: Any) -> SplitSpec:
        where = ("split",)
        self.table(value, where, _SPLIT_KEYS)
        kind = self.string(value.get("kind", "user_holdout"), where + ("kind",), SPLIT_KINDS)
        seeds = value.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            self.fail(where + ("seeds",), "must be a non-empty list of integers")
        seeds = tuple(self.integer(s, where + ("seeds",), 0) for s in seeds)
        if len(set(seeds)) != len(seeds):
            self.fail(where + ("seeds",), "a seed is listed twice")
        options = value.get("options", {})
        if not isinstance(options, dict):
            self.fail(where + ("options",), f"must be a table, got {_kind(options)}")
        valid = _split_option_names(kind)
        if valid is not None:
            for key in options:
                if key not in valid:
                    self.fail(where + ("options", key), f"unknown option for split kind {kind!r};"
                              f" valid: {', '.join(valid)}")
        return SplitSpec(kind=kind, seeds=seeds, options=dict(options))

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

    def evaluation(self, value: Any) -> EvaluationSpec:
        where = ("evaluation",)
        self.table(value, where, _EVALUATION_KEYS)
        k = self.integer(value.get("k", 5), where + ("k",), 1)
        metrics = self.string_list(value.get("metrics", list(METRICS)), where + ("metrics",),
                                   METRICS)
        exclude = value.get("exclude_train", True)
        if not isinstance(exclude, bool):
            self.fail(where + ("exclude_train",), f"must be true or false, got {_kind(exclude)}")
        subsets = self.string_list(value.get("subsets", ["test"]), where + ("subsets",), SUBSETS)
        checkpoints = None
        if "checkpoints" in value:
            checkpoints = self.checkpoints(value["checkpoints"], where + ("checkpoints",))
        return EvaluationSpec(k=k, metrics=metrics, exclude_train=exclude, subsets=subsets,
                              checkpoints=checkpoints)

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
        from recsys_bench import models as registry

        if not isinstance(value, list) or not value:
            self.fail(("models",), "give at least one [[models]] table")
        out = []
        for i, entry in enumerate(value):
            where = ("models", i)
            self.table(entry, where, _MODEL_KEYS, required=("name",))
            name = self.string(entry["name"], where + ("name",), registry.names())
            params = entry.get("params", {})
            if not isinstance(params, dict):
                self.fail(where + ("params",), f"must be a table, got {_kind(params)}")
            grid = entry.get("grid", {})
            if not isinstance(grid, dict):
                self.fail(where + ("grid",), f"must be a table, got {_kind(grid)}")
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


def control_character(text: str) -> str | None:
    """The first control character (NUL, a line break, ...) in ``text``, or None: names and
    labels end up in file names, tables and single-line messages, where those break things."""
    return next((c for c in text if ord(c) < 32 or ord(c) == 127), None)


def model_params(name: str, setting: dict, *, threads: int | None = None,
                 seed: int | None = None) -> dict:
    """Constructor parameters of model ``name`` for one config ``setting``.

    ``features`` is the runner's (which item features ``fit`` gets) and is removed unless the
    model itself takes it; ``num_threads`` and ``random_state`` (the split seed, unless the setting
    gives one) are added where the model accepts them.
    """
    from recsys_bench import models as registry

    defaults = getattr(registry.model_class(name), "defaults", {})
    params = dict(setting)
    if "features" not in defaults:
        params.pop("features", None)
    if threads is not None and "num_threads" in defaults:
        params["num_threads"] = threads
    if seed is not None and "random_state" in defaults and "random_state" not in params:
        params["random_state"] = seed
    return params


def wants_features(setting: dict) -> bool:
    """True when a model setting asks for the data set's item features (``features = "tags"``)."""
    return setting.get("features", "none") == "tags"


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


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _find_line(text: str, where: tuple) -> int | None:
    """Best-effort 1-based line of the key path ``where`` in the TOML ``text``.

    Tracks ``[table]`` / ``[[array]]`` headers, then prefers a line ``first = {... last = ...}``
    (inline tables), then ``last = ...``, then ``first = ...``, then the section's header.
    """
    if not where:
        return None
    section: tuple = ()
    counts: dict[str, int] = {}
    best: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        array = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]$", stripped)
        table = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]$", stripped)
        if array or table:
            parts = tuple((array or table).group(1).split("."))
            if array:
                counts[parts[0]] = counts.get(parts[0], -1) + 1
            section = parts if parts[0] not in counts else (parts[0], counts[parts[0]]) + parts[1:]
            if tuple(where[:len(section)]) == section:
                best[3] = number
            continue
        if not section and len(where) > 1 or tuple(where[:len(section)]) != section:
            continue
        rest = [p for p in where[len(section):] if isinstance(p, str)]
        if not rest:
            continue
        first, last = (re.escape(rest[0]), re.escape(rest[-1]))
        if re.match(rf"^{first}\s*=", stripped):
            if len(rest) > 1 and re.search(rf"[{{,]\s*{last}\s*=", stripped):
                best.setdefault(0, number)
            best.setdefault(2, number)
        elif re.match(rf"^{last}\s*=", stripped):
            best.setdefault(1, number)
    return best[min(best)] if best else None
