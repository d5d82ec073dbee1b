"""Beyond-accuracy metrics, pure functions of stored top-k lists (so old runs can be re-scored).

Every metric has the same signature, so a registry can list them side by side::

    metric(top, context) -> numpy.ndarray (one float64 per row of ``top``) or float

``top`` is users x k item ids, best first, -1 padding ignored; ``context`` is a
:class:`BeyondContext` holding what the metric needs besides the lists (the train matrix as the
popularity base, item vectors, the truth). :data:`PER_USER` says which metrics return one value
per user (their figure is the mean over the users where it is defined, NaN meaning undefined) and
which return one figure for the whole set of lists. Definitions: ``docs/metrics.md``.

:data:`BEYOND_METRICS` registers them (``needs="context"``, opt-in: a config names them in
``evaluation.metrics``) in :mod:`recsys_bench.eval.registry`, pointing at these functions, so
evaluation, ``compare``, the report and ``reconcile`` share one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval.metrics import MetricSpec, hits, nanmean
from recsys_bench.eval.metrics import coverage as catalogue_coverage


@dataclass(frozen=True, eq=False)
class BeyondContext:
    """What beyond-accuracy metrics need besides the lists.

    Attributes
    ----------
    train : scipy.sparse.csr_matrix
        users x items the model was trained on: the popularity base. An item's popularity c_i is
        the number of users with a non-zero for it; |U| is the number of rows.
    truth : scipy.sparse.csr_matrix, optional
        Rows aligned with ``top``: the hits for MRR.
    item_vectors : numpy.ndarray or scipy.sparse matrix, optional
        items x d, for intra-list diversity: a model's item vectors or the data set's item
        features (the caller states which).
    """

    train: sp.csr_matrix
    truth: sp.csr_matrix | None = None
    item_vectors: np.ndarray | sp.spmatrix | None = None

    @property
    def n_items(self) -> int:
        return int(self.train.shape[1])

    def item_counts(self) -> np.ndarray:
        """c_i: users with a train interaction with item i (float64)."""
        train = sp.csr_matrix(self.train)
        counts = np.bincount(train.indices[train.data != 0], minlength=train.shape[1])
        return counts.astype(np.float64)


def _valid(top: np.ndarray, n_items: int) -> np.ndarray:
    top = np.asarray(top)
    if top.ndim != 2:
        raise ValueError(f"top must be users x k, got shape {top.shape}")
    return (top >= 0) & (top < n_items)


def _row_mean_of(values: np.ndarray, top: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row, the mean of ``values[item]`` over its listed items (NaN for an empty list)."""
    picked = np.where(valid, values[np.where(valid, top, 0)], 0.0)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, picked.sum(axis=1) / n, np.nan)


def mrr(top: np.ndarray, context: BeyondContext) -> np.ndarray:
    """Reciprocal rank of the first hit in the list, 0 without a hit, NaN where |T_u| = 0.

    The figure is MRR@k, k the list length.
    """
    if context.truth is None:
        raise UserError("mrr needs the truth rows (test items) aligned with the lists")
    top = np.asarray(top)
    truth = sp.csr_matrix(context.truth)
    hit = hits(top, truth)
    first = np.argmax(hit, axis=1)
    value = np.where(hit.any(axis=1), 1.0 / (first + 1), 0.0)
    return np.where(np.diff(truth.indptr) > 0, value, np.nan)


def novelty(top: np.ndarray, context: BeyondContext) -> np.ndarray:
    """Mean self-information of the listed items, in bits: -log2((c_i + 1) / (|U| + 1)).

    c_i and |U| come from the train matrix (:class:`BeyondContext`); the added one keeps items
    nobody trained on finite. Higher = less popular items recommended.
    """
    counts = context.item_counts()
    n_users = context.train.shape[0]
    information = -np.log2((counts + 1.0) / (n_users + 1.0))
    return _row_mean_of(information, np.asarray(top), _valid(top, context.n_items))


def average_popularity(top: np.ndarray, context: BeyondContext) -> np.ndarray:
    """Average recommendation popularity (ARP): mean train popularity c_i of the listed items."""
    return _row_mean_of(context.item_counts(), np.asarray(top), _valid(top, context.n_items))


def intra_list_diversity(top: np.ndarray, context: BeyondContext) -> np.ndarray:
    """Mean cosine distance 1 - cos(v_i, v_j) over the unordered pairs of a list.

    ``v`` are ``context.item_vectors`` rows; a zero vector has cosine 0 with everything
    (distance 1). NaN for lists with fewer than two items.
    """
    if context.item_vectors is None:
        raise UserError("intra-list diversity needs item vectors or item features")
    vectors = context.item_vectors
    vectors = (vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
               ).astype(np.float64)
    if vectors.shape[0] != context.n_items:
        raise UserError(f"intra-list diversity: {vectors.shape[0]} item vectors for "
                        f"{context.n_items} items")
    norms = np.linalg.norm(vectors, axis=1)
    unit = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors),
                     where=norms[:, None] > 0)
    top = np.asarray(top)
    valid = _valid(top, context.n_items)
    same = np.zeros(top.shape[0])
    step = max(1, (1 << 22) // max(1, top.shape[1] * vectors.shape[1]))
    for start in range(0, top.shape[0], step):
        rows = slice(start, start + step)
        listed = unit[np.where(valid[rows], top[rows], 0)] * valid[rows][..., None]
        summed = listed.sum(axis=1)
        same[rows] = (np.einsum("ud,ud->u", summed, summed)
                      - np.einsum("ukd,ukd->u", listed, listed)) / 2
    n = valid.sum(axis=1).astype(np.float64)
    pairs = n * (n - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - same / pairs, np.nan)


def exposure(top: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists each item appears in (float64, length ``n_items``)."""
    top = np.asarray(top)
    valid = _valid(top, n_items)
    return np.bincount(top[valid], minlength=n_items).astype(np.float64)


def gini(top: np.ndarray, context: BeyondContext) -> float:
    """Gini coefficient of item exposure over the whole catalogue (items never listed count as 0).

    With exposures e sorted ascending, G = Σ_i (2i - n - 1) e_i / (n Σ e), i = 1..n: 0 when every
    item is listed equally often, (n - 1)/n when one item takes every slot. NaN without lists.
    """
    counts = np.sort(exposure(top, context.n_items))
    n, total = counts.size, counts.sum()
    if n == 0 or total == 0:
        return float("nan")
    index = np.arange(1, n + 1)
    return float(((2 * index - n - 1) * counts).sum() / (n * total))


def coverage(top: np.ndarray, context: BeyondContext) -> float:
    """Catalogue coverage: :func:`recsys_bench.eval.metrics.coverage` in this signature."""
    return catalogue_coverage(top, context.n_items)


BEYOND_METRICS = (
    MetricSpec("mrr", "mrr_at_k", "MRR", True, "context", mrr, default=False),
    MetricSpec("novelty", "novelty_at_k", "novelty (bits)", None, "context", novelty,
               default=False),
    MetricSpec("intra_list_diversity", "intra_list_diversity_at_k", "ILD", None, "context",
               intra_list_diversity, default=False),
    MetricSpec("average_popularity", "average_popularity_at_k", "ARP", None, "context",
               average_popularity, default=False),
    MetricSpec("gini", "gini_at_k", "Gini", None, "context", gini, per_user=False,
               default=False),
)
"""The registry's specs of the beyond-accuracy metrics (coverage is the built-in ``catalog``
metric). MRR is higher-is-better; the others describe the lists and never regress."""

METRICS = {**{spec.name: spec.compute for spec in BEYOND_METRICS}, "coverage": coverage}
PER_USER = {**{spec.name: spec.per_user for spec in BEYOND_METRICS}, "coverage": False}

ITEM_VECTOR_METRICS = frozenset({"intra_list_diversity"})
"""Metrics computed from item vectors: in a run, those of the evaluated model."""


def no_item_vectors(model_name: str) -> str:
    """The message refusing intra-list diversity for a model without item vectors.

    A run computes it from the model's own item vectors (never from data set features, which
    answer another question), so a model that has none cannot give it; saying so beats a column
    of NaN whose reason is nowhere.
    """
    return (f"intra_list_diversity is computed from the model's item vectors and {model_name} "
            "has none (its adapter does not declare capabilities.item_vectors); leave "
            "intra_list_diversity out of evaluation.metrics, or evaluate this model in a "
            "config of its own")


def summarise(top: np.ndarray, context: BeyondContext, names=None) -> dict[str, float]:
    """Each metric's figure: the NaN-ignoring mean of per-user values, or the set-level value.

    Metrics whose inputs are missing from ``context`` (no truth for MRR, no vectors for
    diversity) are left out when ``names`` is None and raise UserError when named.
    """
    asked = names is not None
    out = {}
    for name in (names or METRICS):
        if name not in METRICS:
            raise UserError(f"unknown beyond-accuracy metric {name!r}; valid: "
                            f"{', '.join(METRICS)}")
        if not asked and ((name == "mrr" and context.truth is None)
                          or (name in ITEM_VECTOR_METRICS and context.item_vectors is None)):
            continue
        value = METRICS[name](top, context)
        out[name] = nanmean(value) if PER_USER[name] else float(value)
    return out
