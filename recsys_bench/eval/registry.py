"""The metric registry: one :class:`MetricSpec` per metric, from which everything else derives.

Config validation (which names ``evaluation.metrics`` accepts), evaluation (what to compute and
from what), the result table's columns, the report's labels, ``compare``'s verdict direction
and a search's possible objectives all read this registry. A built-in metric is its function
and one :class:`~recsys_bench.eval.metrics.MetricSpec` entry in ``BUILTIN_METRICS``, both in
:mod:`recsys_bench.eval.metrics`; a plug-in calls :func:`register`.

What a metric needs decides where it is computed:

``top``
    One value per user from the top-k ids and the user's truth items:
    ``compute(top, truth, k) -> float64 array`` (``top`` users x k, -1 pads; ``truth`` CSR
    rows aligned with ``top``). Stored raw top-k lists are enough to recompute it.
``catalog``
    One value for the whole list of users from the top-k ids: ``compute(top, n_items)``.
``ranking``
    One value per user from the full score ranking (AUC); computed in the scoring pass.
``scores``
    One value per user from the scores themselves (MSE); closed form for factor models.
"""

from __future__ import annotations

from recsys_bench.errors import UserError
from recsys_bench.eval.metrics import BUILTIN_METRICS, NEEDS, MetricSpec

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in BUILTIN_METRICS}
"""Every registered metric by name, in table order."""

CLASSIC = ("precision", "recall", "ndcg", "map", "hit_rate")
"""The ranking metrics computed together by ``ranking_metrics``."""


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric to the registry (a plug-in or a test's toy metric); returns ``spec``.

    Raises
    ------
    UserError
        The name or column is taken, ``needs`` is unknown, or a ``top``/``catalog`` metric has
        no ``compute``.
    """
    if spec.name in METRICS or spec.column in {m.column for m in METRICS.values()}:
        raise UserError(f"metric {spec.name!r} (column {spec.column!r}) is already registered")
    if spec.needs not in NEEDS:
        raise UserError(f"metric {spec.name!r}: needs must be one of {', '.join(NEEDS)}")
    if spec.needs in ("top", "catalog") and spec.compute is None:
        raise UserError(f"metric {spec.name!r}: a {spec.needs!r} metric needs a compute function")
    METRICS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a metric added with :func:`register` (the built-ins stay)."""
    if name in {spec.name for spec in BUILTIN_METRICS}:
        raise UserError(f"metric {name!r} is built in")
    METRICS.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered metric names, in table order."""
    return tuple(METRICS)


def columns() -> dict[str, str]:
    """Metric name -> result column, in table order."""
    return {m.name: m.column for m in METRICS.values()}


def by_column() -> dict[str, MetricSpec]:
    """Result column -> its metric."""
    return {m.column: m for m in METRICS.values()}


def top_metrics(top, truth, k: int, names=None) -> dict:
    """Per-user values of every ``top`` metric (or those in ``names``) from top-k ids.

    The one place where stored top-k lists become per-user metrics: evaluation, ``compare``
    and the report all call it, so a registered metric is recomputable from raw files.
    """
    import numpy as np

    from recsys_bench.eval.metrics import ranking_metrics

    wanted = [m for m in METRICS.values() if m.needs == "top"
              and (names is None or m.name in names)]
    values = {}
    if any(m.compute is None for m in wanted):
        values.update(ranking_metrics(top, truth, k))
    for spec in wanted:
        if spec.compute is not None:
            values[spec.name] = np.asarray(spec.compute(top, truth, k), dtype=np.float64)
    return {m.name: values[m.name] for m in wanted}
