"""Data set registry: ``load(name, **options) -> Interactions``.

Each source is one module with a ``load(**options)`` function; the registry maps a name to it and
imports the module only when that data set is asked for.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError

_LOADERS = {
    "sketchfab": ("recsys_bench.datasets.sketchfab", "Real Sketchfab likes files (model_likes_anon.psv, model_feats.psv) from --path"),
    "sketchfab-synthetic": ("recsys_bench.datasets.sketchfab_synthetic", "Seeded stand-in for the Sketchfab files at their scale, written and read in their exact format"),
    "movielens-100k": ("recsys_bench.datasets.movielens", "MovieLens-100k ratings as implicit feedback (ratings >= min_rating), genres as tags"),
    "synthetic": ("recsys_bench.datasets.synthetic", "In-memory random data of any size, for scaling studies"),
}


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
    module = importlib.import_module(_LOADERS[_check(name)][0])
    return module.load


def option_names(name: str) -> list[str]:
    """Keyword options accepted by a data set's loader."""
    return [p for p in inspect.signature(loader(name)).parameters]


def load(name: str, **options) -> Interactions:
    """Load a registered data set.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **options
        Loader options (see each module's ``load``); unknown options are a ``UserError``.
    """
    fn = loader(name)
    valid = option_names(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; "
                        f"valid: {', '.join(valid)}")
    return fn(**options)


def data_dir() -> Path:
    """Folder for cached and generated data: ``$RECSYS_BENCH_DATA`` or ``~/.cache/recsys-bench``."""
    root = os.environ.get("RECSYS_BENCH_DATA") or Path.home() / ".cache" / "recsys-bench"
    return Path(root)
