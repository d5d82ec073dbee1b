"""The metric registry: one :class:`MetricSpec` per metric, from which everything else derives.

Config validation (which names ``evaluation.metrics`` accepts), evaluation (what to compute and
from what), the result table's columns, the report's labels, ``compare``'s verdict direction
and a search's possible objectives all read this registry. A built-in metric is its function
and one :class:`~recsys_bench.eval.metrics.MetricSpec` entry in ``BUILTIN_METRICS``, both in
:mod:`recsys_bench.eval.metrics`; the beyond-accuracy metrics are ``BEYOND_METRICS`` of
:mod:`recsys_bench.eval.beyond`; a plug-in calls :func:`register`. A spec with
``default=False`` (the beyond-accuracy ones) is computed only where a config names it.

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
``context``
    From the top-k ids and a :class:`~recsys_bench.eval.beyond.BeyondContext` (the train matrix
    as popularity base, the truth rows, item vectors): ``compute(top, context)``, one float64
    value per user where ``per_user`` is set, else one float for the whole set of lists. Stored
    raw top-k lists and the stored split are enough to recompute it (item vectors aside).
"""

from __future__ import annotations

import dataclasses

from recsys_bench.errors import UserError
from recsys_bench.eval.beyond import BEYOND_METRICS, BeyondContext
from recsys_bench.eval.metrics import BUILTIN_METRICS, NEEDS, MetricSpec

_SHIPPED = (*BUILTIN_METRICS, *BEYOND_METRICS)

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SHIPPED}
"""Every registered metric by name, in table order."""

CLASSIC = ("precision", "recall", "ndcg", "map", "hit_rate")
"""The ranking metrics computed together by ``ranking_metrics``."""


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric to the registry (a plug-in or a test's toy metric); returns ``spec``.

    Raises
    ------
    UserError
        The name or column is taken, ``needs`` is unknown, or a ``top``/``catalog``/``context``
        metric has no ``compute``.
    """
    if spec.name in METRICS or spec.column in {m.column for m in METRICS.values()}:
        raise UserError(f"metric {spec.name!r} (column {spec.column!r}) is already registered")
    if spec.needs not in NEEDS:
        raise UserError(f"metric {spec.name!r}: needs must be one of {', '.join(NEEDS)}")
    if spec.needs in ("top", "catalog", "context") and spec.compute is None:
        raise UserError(f"metric {spec.name!r}: a {spec.needs!r} metric needs a compute function")
    METRICS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a metric added with :func:`register` (the shipped ones stay)."""
    if name in {spec.name for spec in _SHIPPED}:
        raise UserError(f"metric {name!r} is built in")
    METRICS.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered metric names, in table order."""
    return tuple(METRICS)


def default_names() -> tuple[str, ...]:
    """The metrics a config that names none gets, in table order (every spec with
    ``default=True``: the opt-in beyond-accuracy metrics are not among them)."""
    return tuple(name for name, spec in METRICS.items() if spec.default)


def columns() -> dict[str, str]:
    """Metric name -> result column, in table order."""
    return {m.name: m.column for m in METRICS.values()}


def by_column() -> dict[str, MetricSpec]:
    """Result column -> its metric."""
    return {m.column: m for m in METRICS.values()}


def top_metrics(top, truth, k: int, names=None, context: BeyondContext | None = None) -> dict:
    """Per-user values of the metrics computable from top-k ids, by name.

    The one place where stored top-k lists become per-user metrics: evaluation, ``compare``
    and the report all call it, so a registered metric is recomputable from raw files.

    Parameters
    ----------
    top : numpy.ndarray
        users x (>= k) item ids, best first (-1 pads).
    truth : scipy.sparse.csr_matrix
        Rows aligned with ``top``: the items that count as hits.
    k : int
        Cut-off.
    names : sequence of str, optional
        The metrics wanted; by default every ``top`` metric. ``context`` metrics are opt-in:
        only those named are computed.
    context : BeyondContext, optional
        What the named per-user ``context`` metrics need (its ``truth``, when None, is
        ``truth``); without it naming one is a UserError. They see the first ``k`` columns of
        ``top``, as the ``top`` metrics do.

    Returns
    -------
    dict of str to numpy.ndarray
        One float64 array per metric, aligned with ``top``, in table order.
    """
    import numpy as np

    from recsys_bench.eval.metrics import ranking_metrics

    wanted = [m for m in METRICS.values() if m.per_user and (
        (m.needs == "top" and (names is None or m.name in names))
        or (m.needs == "context" and names is not None and m.name in names))]
    context = _with_truth(context, truth, [m for m in wanted if m.needs == "context"])
    values = {}
    if any(m.compute is None for m in wanted):
        values.update(ranking_metrics(top, truth, k))
    for spec in wanted:
        if spec.needs == "context":
            values[spec.name] = np.asarray(spec.compute(np.asarray(top)[:, :k], context),
                                           dtype=np.float64)
        elif spec.compute is not None:
            values[spec.name] = np.asarray(spec.compute(top, truth, k), dtype=np.float64)
    return {m.name: values[m.name] for m in wanted}


def set_metrics(top, n_items: int, names, context: BeyondContext | None = None
                ) -> dict[str, float]:
    """The named metrics that give one figure for the whole set of lists (``catalog``
    metrics from ``n_items``, set-level ``context`` metrics from ``context``), by name.

    The set-level counterpart of :func:`top_metrics`, for evaluation and for re-scoring
    stored lists.
    """
    wanted = [m for m in METRICS.values() if not m.per_user and m.name in names
              and m.needs in ("catalog", "context")]
    context = _with_truth(context, None, [m for m in wanted if m.needs == "context"])
    return {m.name: float(m.compute(top, context) if m.needs == "context"
                          else m.compute(top, n_items)) for m in wanted}


def _with_truth(context: BeyondContext | None, truth, specs: list) -> BeyondContext | None:
    """``context`` with ``truth`` filled in where it has none; UserError when ``specs`` need a
    context and none was given."""
    if not specs:
        return context
    if context is None:
        raise UserError(f"metric(s) {', '.join(m.name for m in specs)} need a context (the "
                        "train matrix, the truth, item vectors) besides the top-k lists")
    if context.truth is None and truth is not None:
        return dataclasses.replace(context, truth=truth)
    return context
