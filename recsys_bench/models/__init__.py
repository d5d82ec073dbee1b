"""Model registry: ``get(name, **params) -> Recommender``.

Each built-in model family is one small adapter module, imported only when asked for. Models
from outside the package plug in two ways, with no edit here:

- by import path in a config: ``name = "mypackage.recs:MyModel"``;
- as an entry point of the group ``recsys_bench.models`` in the other package's metadata
  (``[project.entry-points."recsys_bench.models"] my-model = "mypackage.recs:MyModel"``).

A plug-in class satisfies the contract of :class:`recsys_bench.protocol.Recommender` (most
simply by subclassing :class:`recsys_bench.models.base.BaseRecommender` or
:class:`~recsys_bench.models.base.FactorModel`); one that does not is refused with the missing
member named.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from recsys_bench.errors import UserError

ENTRY_POINTS = "recsys_bench.models"

# name -> "module:Class"
_MODELS = {
    "implicit-als": "recsys_bench.models.implicit_als:ImplicitALS",
    "numpy-als": "recsys_bench.models.numpy_als:NumpyALS",
    "lightfm-warp": "recsys_bench.models.lightfm:LightFMWarp",
    "lightfm-bpr": "recsys_bench.models.lightfm:LightFMBPR",
    "popularity": "recsys_bench.models.baselines:Popularity",
    "random": "recsys_bench.models.baselines:Random",
    "item-knn": "recsys_bench.models.item_knn:ItemKNN",
    "ease": "recsys_bench.models.ease:EASE",
    "spark-als": "recsys_bench.models.spark_als:SparkALS",
    "implicit-bpr": "recsys_bench.models.implicit_sgd:ImplicitBPR",
    "implicit-lmf": "recsys_bench.models.implicit_sgd:ImplicitLMF",
    "rp3beta": "recsys_bench.models.rp3beta:RP3beta",
}
_BUILTIN = frozenset(_MODELS)

_REQUIRED = ("name", "defaults", "aliases", "capabilities", "fit", "fit_more", "scores",
             "factors", "item_vectors")


def register(name: str, target: str) -> None:
    """Register a model under ``name``: ``target`` is its ``package.module:Class``.

    The built-ins are the lines of ``_MODELS``; a test or an application registers its own here
    (an installed package uses the entry-point group instead).

    Raises
    ------
    UserError
        The name is taken or ``target`` is not an import path.
    """
    if name in _MODELS:
        raise UserError(f"model {name!r} is already registered")
    if not is_import_path(target):
        raise UserError(f"model {name!r}: give the class as package.module:Class, not {target!r}")
    _MODELS[name] = target


def unregister(name: str) -> None:
    """Remove a model added with :func:`register`."""
    _MODELS.pop(name, None)


def builtin_names() -> list[str]:
    """Names of the models this package ships."""
    return [name for name in _MODELS if name in _BUILTIN]


def _entry_points() -> dict[str, str]:
    """Plug-in name -> "module:Class" of the installed packages' entry points."""
    return {name: value for name, (value, _) in _entry_point_sources().items()}


def _entry_point_sources() -> dict[str, tuple[str, str]]:
    """Plug-in name -> ("module:Class", the distribution that declares it)."""
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        if ep.name not in _MODELS:
            found[ep.name] = (ep.value, ep.dist.name if ep.dist is not None else "?")
    return found


def targets() -> dict[str, tuple[str, str]]:
    """Every registered name -> ``("module:Class", source)``; the source is ``"built-in"``,
    ``"registered"`` (:func:`register` in this process) or ``"entry point of DIST"``."""
    own = {name: (target, "built-in" if name in _BUILTIN else "registered")
           for name, target in _MODELS.items()}
    plugins = {name: (target, f"entry point of {dist}")
               for name, (target, dist) in sorted(_entry_point_sources().items())}
    return own | plugins


def names() -> list[str]:
    """Names of the registered models: built-ins, then installed plug-ins."""
    return list(_MODELS) + sorted(_entry_points())


def is_import_path(name: str) -> bool:
    """Whether ``name`` names a class by import path (``package.module:Class``)."""
    return ":" in name


def worker_modules(names) -> dict[str, str]:
    """Model name -> the module another interpreter must find to build it, for the plug-ins
    among ``names`` (built-ins need none).

    An executor whose workers are other machines checks these before the first task.

    Raises
    ------
    UserError
        A name added with :func:`register`: that registration lives in this process only.
    """
    plugins = _entry_points()
    out = {}
    for name in names:
        if name in _BUILTIN:
            continue
        if name in _MODELS:
            raise UserError(f"model {name!r} is registered in this process only, so other "
                            f"workers cannot build it; name it by import path ({_MODELS[name]}) "
                            "or as an entry point")
        target = plugins.get(name, name)
        if is_import_path(target):
            out[name] = target.partition(":")[0]
    return out


def model_class(name: str) -> type:
    """The adapter class registered under ``name`` (or at the import path ``name``).

    Raises
    ------
    UserError
        An unknown name, a path that does not import, or a class that does not satisfy the
        model contract (the message names the missing member).
    """
    target = _MODELS.get(name) or _entry_points().get(name)
    if target is None and not is_import_path(name):
        raise UserError(f"unknown model {name!r}; known: {', '.join(names())} (or give a "
                        "plug-in as package.module:Class)")
    module_name, _, attr = (target or name).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if target is not None and module_name.startswith("recsys_bench."):
            raise
        raise UserError(f"model {name!r}: cannot import {module_name!r}: {exc}") from None
    except Exception as exc:
        raise UserError(f"model {name!r}: importing {module_name!r} failed: "
                        f"{type(exc).__name__}: {exc}") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise UserError(f"model {name!r}: {module_name!r} has no class {attr!r}")
    missing = [member for member in _REQUIRED if not hasattr(cls, member)]
    if missing:
        raise UserError(f"model {name!r}: {cls.__name__} does not satisfy the model contract; "
                        f"missing: {', '.join(missing)} (subclass recsys_bench.models.base."
                        "BaseRecommender)")
    return cls


def get(name: str, **params):
    """A new, unfitted model ``name`` with ``params`` (unknown or invalid ones: ``UserError``)."""
    return model_class(name)(**params)


def model_params(name: str, setting: dict, *, threads: int | None = None,
                 seed: int | None = None) -> dict:
    """Constructor parameters of model ``name`` for one config ``setting``.

    ``features`` is the runner's (which item features ``fit`` gets) and is removed unless the
    model itself takes it; ``num_threads`` and ``random_state`` (the split seed, unless the setting
    gives one) are added where the model accepts them.
    """
    defaults = getattr(model_class(name), "defaults", {})
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
