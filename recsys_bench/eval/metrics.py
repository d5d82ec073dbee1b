"""Every metric of the harness, computed from top-k ids or score blocks, one value per user.

Definitions are those of ``docs/metrics.md`` (one meaning everywhere). Per-user arrays are kept so
that two models can be compared with paired tests; aggregates are their means (``numpy.nanmean``:
users where a metric is undefined, such as recall without test items, hold NaN and do not count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval.topk import Scorer, check_users, iter_blocks, rows_of


def _truth(truth_rows, n_rows: int) -> sp.csr_matrix:
    """Truth as CSR with sorted indices and ``n_rows`` rows (rows aligned with the users)."""
    truth = sp.csr_matrix(truth_rows)
    if truth.shape[0] != n_rows:
        raise ValueError(f"truth has {truth.shape[0]} rows for {n_rows} users")
    if not truth.has_sorted_indices:
        truth = truth.sorted_indices()
    return truth


def hits(top: np.ndarray, truth_rows: sp.csr_matrix) -> np.ndarray:
    """Boolean ``top.shape``: whether ``top[u, r]`` is one of row ``u``'s truth items.

    -1 padding is never a hit. Vectorised with one ``searchsorted`` over (row, item) keys.
    """
    top = np.asarray(top)
    truth = _truth(truth_rows, top.shape[0])
    n_items = truth.shape[1]
    rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    truth_keys = rows * n_items + truth.indices
    top_keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + top
    if truth_keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    where = np.minimum(np.searchsorted(truth_keys, top_keys), truth_keys.size - 1)
    return (truth_keys[where] == top_keys) & (top >= 0) & (top < n_items)


def ranking_metrics(top: np.ndarray, truth: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Precision, recall, NDCG, MAP and hit rate at ``k``, one float64 value per row of ``top``.

    Parameters
    ----------
    top : numpy.ndarray
        users x (>= k) ranked item ids from :func:`recsys_bench.eval.topk.topk` (-1 = no item).
    truth : scipy.sparse.csr_matrix
        Rows aligned with ``top`` (``split.test[users]``): the items that count as hits.
    k : int
        Cut-off; the first ``k`` columns of ``top`` are used.

    Returns
    -------
    dict
        ``precision`` = hits / k; ``recall`` = hits / |T_u| (NaN where |T_u| = 0);
        ``ndcg`` = DCG / IDCG with IDCG over min(k, |T_u|) hits; ``map`` = sum of P@r at hit
        ranks / min(k, |T_u|); ``hit_rate`` = 1 if any hit. NDCG and MAP are 0 where |T_u| = 0.
    """
    top = np.asarray(top)
    if top.ndim != 2 or top.shape[1] < k or k < 1:
        raise ValueError(f"top of shape {top.shape} has no {k} columns")
    hit = hits(top[:, :k], truth).astype(np.float64)
    n_true = np.diff(_truth(truth, top.shape[0]).indptr).astype(np.float64)
    n_hits = hit.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(n_true, k).astype(np.int64)]
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    best = np.minimum(n_true, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_true > 0, n_hits / n_true, np.nan)
        ndcg = np.where(ideal > 0, (hit @ discount) / ideal, 0.0)
        average_precision = np.where(best > 0, (precision_at * hit).sum(axis=1) / best, 0.0)
    return {"precision": n_hits / k, "recall": recall, "ndcg": ndcg, "map": average_precision,
            "hit_rate": (n_hits > 0).astype(np.float64)}


def coverage(top: np.ndarray, n_items: int) -> float:
    """Catalogue coverage: distinct items recommended (-1 padding ignored) / ``n_items``."""
    top = np.asarray(top)
    seen = np.zeros(n_items, dtype=bool)
    seen[top[(top >= 0) & (top < n_items)]] = True
    return float(seen.mean()) if n_items else float("nan")


def auc_block(scores: np.ndarray, positives: tuple[np.ndarray, np.ndarray],
              excluded: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-row AUC of one dense score block (Mann-Whitney over a full sort of each row).

    For a row with positives P (truth items not excluded) and negatives N (every other item not
    excluded), AUC = sum over i in P of (#items below s_i + 1/2 #items tied with s_i)
    - |P|^2 / 2, divided by |P| |N|; the subtracted term removes the positive-positive pairs.
    ``positives`` and ``excluded`` are (row in block, item) pairs. ``scores`` is not modified.
    NaN where a row has no positive or no negative.
    """
    return auc_of_ranked(rank_rows(scores, excluded), positives)


@dataclass(frozen=True)
class RankedRows:
    """A score block prepared for AUC: excluded items as NaN, and each row sorted (NaN last)."""

    values: np.ndarray
    sorted: np.ndarray
    n_valid: np.ndarray


def rank_rows(scores: np.ndarray, excluded: tuple[np.ndarray, np.ndarray] | None = None
              ) -> RankedRows:
    """Sort a score block once for the AUC of any number of truth sets with the same exclusion."""
    values = np.array(scores, dtype=np.float64 if scores.dtype == np.float64 else np.float32)
    if excluded is not None:
        values[excluded] = np.nan
    ordered = np.sort(values, axis=1)
    rows = np.arange(len(values))
    n_valid = _count_below(ordered, rows, np.full(len(values), np.inf), strict=False)
    return RankedRows(values=values, sorted=ordered, n_valid=n_valid)


def auc_of_ranked(ranked: RankedRows, positives: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-row AUC (see :func:`auc_block`) from a block prepared by :func:`rank_rows`."""
    n_rows = len(ranked.values)
    rows, cols = positives
    values = ranked.values[rows, cols]
    keep = ~np.isnan(values)
    rows, values = rows[keep], values[keep]
    below = _count_below(ranked.sorted, rows, values, strict=True)
    below_or_tied = _count_below(ranked.sorted, rows, values, strict=False)
    n_pos = np.bincount(rows, minlength=n_rows).astype(np.float64)
    n_neg = ranked.n_valid - n_pos
    wins = np.bincount(rows, weights=0.5 * (below + below_or_tied), minlength=n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = (wins - 0.5 * n_pos**2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), result, np.nan)


def _count_below(sorted_rows: np.ndarray, rows: np.ndarray, values: np.ndarray,
                 strict: bool) -> np.ndarray:
    """Per (row, value): how many entries of the sorted row are < value (or <= when not strict).

    A binary search run for all pairs at once; NaN entries (at the end of each row) never count.
    """
    n_items = sorted_rows.shape[1]
    flat = sorted_rows.ravel()
    base = rows.astype(np.int64) * n_items
    low = np.zeros(rows.size, dtype=np.int64)
    high = np.full(rows.size, n_items, dtype=np.int64)
    for _ in range(int(n_items).bit_length()):
        active = low < high
        middle = (low + high) // 2
        probe = flat[base + np.minimum(middle, n_items - 1)]
        before = (probe < values) if strict else (probe <= values)
        low = np.where(active & before, middle + 1, low)
        high = np.where(active & ~before, middle, high)
    return low.astype(np.float64)


def auc(scorer: Scorer, users, truth_rows: sp.csr_matrix, *,
        exclude: sp.csr_matrix | None = None, block_size: int | None = None) -> np.ndarray:
    """Per-user AUC over the full ranking of all items (see :func:`auc_block`).

    Parameters
    ----------
    scorer : Recommender or callable
        Gives dense score blocks, as for :func:`recsys_bench.eval.topk.topk`.
    users : array of int
        Evaluated users.
    truth_rows : scipy.sparse.csr_matrix
        Rows aligned with ``users``: the positives.
    exclude : scipy.sparse.csr_matrix, optional
        Indexed by user id; these items are neither positives nor negatives.
    block_size : int, optional
        Users scored at once.
    """
    users = check_users(users, None if exclude is None else exclude.shape[0])
    truth = _truth(truth_rows, len(users))
    exclude = None if exclude is None else sp.csr_matrix(exclude)
    out = np.full(len(users), np.nan)
    for start, block, scores in iter_blocks(scorer, users, block_size):
        positives = rows_of(truth, np.arange(start, start + len(block)))
        excluded = None if exclude is None else rows_of(exclude, block)
        out[start:start + len(block)] = auc_block(scores, positives, excluded)
    return out


def mse_closed_form(user_factors: np.ndarray, item_factors: np.ndarray,
                    truth_rows: sp.csr_matrix, *, gram: np.ndarray | None = None) -> np.ndarray:
    """Per-user squared error over ALL items / n_items, without building the dense matrix.

    With s_ui = x_u . y_i and p_ui = 1 for the truth items of row u:
    sum_i (p_ui - s_ui)^2 = |T_u| - 2 x_u . (sum_{i in T_u} y_i) + x_u^T (Y^T Y) x_u.
    Computed in float64. ``user_factors`` rows are aligned with ``truth_rows`` (``U[users]``).
    ``gram`` is ``Y^T Y`` in float64 when the caller already has it (several subsets, one model).
    """
    user_factors = np.asarray(user_factors, dtype=np.float64)
    item_factors = np.asarray(item_factors, dtype=np.float64)
    if gram is None:
        gram = item_factors.T @ item_factors
    n_items = item_factors.shape[0]
    truth = _truth(truth_rows, user_factors.shape[0])
    if truth.shape[1] != n_items:
        raise ValueError(f"truth has {truth.shape[1]} items, item factors {n_items}")
    pattern = sp.csr_matrix((np.ones(truth.nnz), truth.indices, truth.indptr), shape=truth.shape)
    n_true = np.diff(truth.indptr)
    on_truth = np.einsum("ij,ij->i", pattern @ item_factors, user_factors)
    quadratic = np.einsum("ij,ij->i", user_factors @ gram, user_factors)
    return (n_true - 2.0 * on_truth + quadratic) / n_items


def mse_block(scores: np.ndarray, truth: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-row squared error of a dense score block against its 0/1 truth, / n_items (float64)."""
    error = np.array(scores, dtype=np.float64)
    error[truth] -= 1.0
    return np.einsum("ij,ij->i", error, error) / scores.shape[1]


def mse_dense(scorer: Scorer, users, truth_rows: sp.csr_matrix, *,
              block_size: int | None = None) -> np.ndarray:
    """Per-user MSE (as :func:`mse_closed_form`) from dense score blocks, for models without
    factors and as the reference the closed form is tested against."""
    users = check_users(users)
    truth = _truth(truth_rows, len(users))
    out = np.empty(len(users))
    for start, block, scores in iter_blocks(scorer, users, block_size):
        truth_block = rows_of(truth, np.arange(start, start + len(block)))
        out[start:start + len(block)] = mse_block(scores, truth_block)
    return out


def nanmean(values) -> float:
    """Mean over the defined (non-NaN) values; NaN when there are none, without a warning."""
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def check_metrics(names, valid) -> tuple[str, ...]:
    """Metric names as a tuple, UserError listing the valid ones for any unknown name."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(map(str, unknown))}; "
                        f"valid: {', '.join(valid)}")
    return names


# --------------------------------------------------------------------------- the specs

NEEDS = ("top", "catalog", "ranking", "scores", "context")


@dataclass(frozen=True)
class MetricSpec:
    """Everything the harness needs to know about one metric.

    Attributes
    ----------
    name : str
        The config name (``evaluation.metrics``) and the key of ``EvalResult.means``.
    column : str
        The result table's column.
    label : str
        The short label of reports and charts.
    higher_is_better : bool or None
        The direction of ``compare``'s verdicts; None for a descriptive metric that is reported
        but never a regression (coverage).
    needs : str
        One of :data:`NEEDS` (see the module docstring).
    compute : callable or None
        How it is computed (signature per ``needs``); None for the five classic ranking metrics,
        which :func:`recsys_bench.eval.metrics.ranking_metrics` computes in one pass, and for
        ``ranking``/``scores`` metrics, which the scoring pass computes.
    per_user : bool
        Whether ``compute`` gives one value per user (their mean is the figure, and ``compare``
        pairs them) or one figure for the whole set of lists (``catalog`` metrics, Gini).
    default : bool
        Whether a config that names no ``evaluation.metrics`` gets it. False for the opt-in
        beyond-accuracy metrics, so adding them changed no existing config's results.
    """

    name: str
    column: str
    label: str
    higher_is_better: bool | None
    needs: str
    compute: Callable | None = None
    per_user: bool = True
    default: bool = True

    @property
    def direction(self) -> int:
        """+1 higher is better, -1 lower is better, 0 never a regression."""
        return 0 if self.higher_is_better is None else (1 if self.higher_is_better else -1)


BUILTIN_METRICS = (
    MetricSpec("precision", "precision_at_k", "p@k", True, "top"),
    MetricSpec("recall", "recall_at_k", "recall", True, "top"),
    MetricSpec("ndcg", "ndcg_at_k", "NDCG", True, "top"),
    MetricSpec("map", "map_at_k", "MAP", True, "top"),
    MetricSpec("hit_rate", "hit_rate_at_k", "hit rate", True, "top"),
    MetricSpec("auc", "auc", "AUC", True, "ranking"),
    MetricSpec("coverage", "coverage_at_k", "coverage", None, "catalog", coverage,
               per_user=False),
    MetricSpec("mse", "mse", "MSE", False, "scores"),
)
"""The harness's default metrics in table order: one spec each (see
:mod:`recsys_bench.eval.registry`; the opt-in beyond-accuracy specs are
:data:`recsys_bench.eval.beyond.BEYOND_METRICS`)."""
