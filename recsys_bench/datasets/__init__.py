"""Data set registry: ``load(name, **options) -> Interactions``.

Each source is a ``load(**options)`` function in a module; the registry maps a name to it and
imports the module only when that data set is asked for. Every data set accepts
``min_user_likes`` and ``min_item_likes``: loaders that do not threshold by themselves get the
shared k-core (:func:`recsys_bench.datasets.kcore.apply`) applied after loading.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

from recsys_bench.data import Interactions
from recsys_bench.datasets.catalog import CATALOG
from recsys_bench.errors import UserError

_LOADERS = {
    "sketchfab": ("recsys_bench.datasets.sketchfab", "Real Sketchfab likes files (model_likes_anon.psv, model_feats.psv) from --path"),
    "sketchfab-synthetic": ("recsys_bench.datasets.sketchfab_synthetic", "Seeded stand-in for the Sketchfab files at their scale, written and read in their exact format"),
    "movielens-100k": ("recsys_bench.datasets.movielens", "MovieLens-100k ratings as implicit feedback (ratings >= min_rating), genres as tags"),
    "synthetic": ("recsys_bench.datasets.synthetic", "In-memory random data of any size, for scaling studies"),
    "interactions": ("recsys_bench.datasets.interactions", "Your own interaction file: CSV/TSV/any delimiter, gzip/bz2/zstd, or Parquet (--option path=FILE)"),
}
_LOADERS.update({name: ("recsys_bench.datasets.field", f"{spec.title} from a local copy of {spec.archive}",
                        "load_" + name.replace("-", "_")) for name, spec in CATALOG.items()})
KCORE_OPTIONS = ("min_user_likes", "min_item_likes")


def register(name: str, module: str, description: str) -> None:
    """Register a data set: ``module`` (an importable module name) has a ``load(**options)``
    function returning :class:`~recsys_bench.data.Interactions`.

    Built-ins are listed in ``_LOADERS``; a plug-in or a test registers its own here.

    Raises
    ------
    UserError
        The name is taken.
    """
    if name in _LOADERS:
        raise UserError(f"dataset {name!r} is already registered")
    _LOADERS[name] = (module, description)


def unregister(name: str) -> None:
    """Remove a data set added with :func:`register`."""
    _LOADERS.pop(name, None)


def names() -> list[str]:
    """Names of the registered data sets."""
    return list(_LOADERS)


def describe(name: str) -> str:
    """One-line description of a registered data set."""
    return _LOADERS[_check(name)][1]


def _check(name: str) -> str:
    if name not in _LOADERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(_LOADERS)}")
    return name


def loader(name: str):
    """The ``load`` function of a registered data set."""
    entry = _LOADERS[_check(name)]
    module = importlib.import_module(entry[0])
    return getattr(module, entry[2] if len(entry) > 2 else "load")


def option_names(name: str) -> list[str]:
    """Keyword options a data set accepts: its loader's, and the k-core thresholds."""
    own = list(inspect.signature(loader(name)).parameters)
    return own + [k for k in KCORE_OPTIONS if k not in own]


def load(name: str, **options) -> Interactions:
    """Load a registered data set.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **options
        Loader options (see each module's ``load``), and ``min_user_likes`` /
        ``min_item_likes`` for any data set; unknown options are a ``UserError``.
    """
    from recsys_bench.datasets import kcore

    fn = loader(name)
    valid = option_names(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; "
                        f"valid: {', '.join(valid)}")
    own = inspect.signature(fn).parameters
    core = {k: options.pop(k) for k in KCORE_OPTIONS if k in options and k not in own}
    data = fn(**options)
    if core:
        data = kcore.apply(data, core.get("min_user_likes", 0), core.get("min_item_likes", 0),
                           where=f"dataset {name}")
    return data


def catalog_rows() -> list[dict]:
    """One row per data set for ``datasets list``: name, description and, for the field's
    published data sets, source, archive size, license note and whether it is present."""
    from recsys_bench.datasets import field

    rows = []
    for name in names():
        row = {"name": name, "description": describe(name)}
        spec = CATALOG.get(name)
        if spec is not None:
            row.update(source=spec.url, archive=spec.archive,
                       size=(f"{spec.size / 1e6:.1f} MB" if spec.size else "size not recorded"),
                       rows=spec.rows, checksum=spec.expected(), license=spec.license,
                       present=field.present(name))
        rows.append(row)
    return rows


def data_dir() -> Path:
    """Folder for cached and generated data: ``$RECSYS_BENCH_DATA`` or ``~/.cache/recsys-bench``."""
    root = os.environ.get("RECSYS_BENCH_DATA") or Path.home() / ".cache" / "recsys-bench"
    return Path(root)


def recorded_sources(run_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """The source files (name, size, sha256) of each data set of a run folder, by label, as
    stored in its ``splits/<label>.json``; for ``run.json``, so changed data shows."""
    import json

    out = {}
    for meta in sorted((Path(run_dir) / "splits").glob("*.json")):
        try:
            stored = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(stored, dict) and "label" in stored:
            out[stored["label"]] = stored.get("sources", [])
    return out
