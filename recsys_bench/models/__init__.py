"""Model registry: ``get(name, **params) -> Recommender``.

Each model family is one small adapter module; the registry imports it only when asked for.
"""

from __future__ import annotations

import importlib

from recsys_bench.errors import UserError

# name -> (module, class name)
_MODELS = {
    "implicit-als": ("recsys_bench.models.implicit_als", "ImplicitALS"),
    "numpy-als": ("recsys_bench.models.numpy_als", "NumpyALS"),
    "lightfm-warp": ("recsys_bench.models.lightfm", "LightFMWarp"),
    "lightfm-bpr": ("recsys_bench.models.lightfm", "LightFMBPR"),
    "popularity": ("recsys_bench.models.baselines", "Popularity"),
    "random": ("recsys_bench.models.baselines", "Random"),
    "item-knn": ("recsys_bench.models.item_knn", "ItemKNN"),
    "ease": ("recsys_bench.models.ease", "EASE"),
    "spark-als": ("recsys_bench.models.spark_als", "SparkALS"),
}


def names() -> list[str]:
    """Names of the registered models."""
    return list(_MODELS)


def model_class(name: str) -> type:
    """The adapter class registered under ``name``."""
    if name not in _MODELS:
        raise UserError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    module, cls = _MODELS[name]
    return getattr(importlib.import_module(module), cls)


def get(name: str, **params):
    """A new, unfitted model ``name`` with ``params`` (unknown or invalid ones: ``UserError``)."""
    return model_class(name)(**params)
