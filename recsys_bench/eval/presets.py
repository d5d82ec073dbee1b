"""Other libraries' and papers' metric semantics, reimplemented from their definitions.

Numbers quoted for "precision@10" differ across libraries because each one divides by something
else, removes different items from the ranking, counts different users and breaks ties its own
way. A preset is one such convention. Each is computed from the harness's own stored top-k lists
and, where the definition needs the whole ranking (AUC, LightFM's tie rule), from dense scores:

``recsys-bench``
    This harness (``docs/metrics.md``): mean over the evaluated users of hits/k, hits/|T|, NDCG
    and MAP over min(k, |T|); train items removed as the run says; AUC over every non-excluded
    item with half credit for ties.
``lightfm``
    ``lightfm.evaluation`` (lightfm 1.17, lightfm-next 1.19): ``precision_at_k`` =
    #{test items of rank < k} / k and ``recall_at_k`` = the same count / |T|, where an item's
    rank is the number of OTHER items, train items skipped when ``train_interactions`` is given,
    whose score is >= its own (ties count against it); ``auc_score`` = mean over positives of
    1 - (rank - #positives above) / n_neg, n_neg = n_items - |T| (- |train row| when train
    items are removed), accumulated in float32. Users: rows with a test item. Each metric
    twice: with ``train_interactions=train`` and, suffixed ``_unfiltered``, without.
``implicit``
    ``implicit.evaluation.ranking_metrics_at_k`` (0.7): lists from ``recommend`` with the
    user's train items filtered; ``precision`` = total hits / sum of min(K, |T|) (pooled over
    users, not a mean); ``map`` and ``ndcg`` over min(K, |T|); ``auc`` a truncated AUC from the
    top-K alone whose negatives are all n_items - |T| items. Users: rows with a test item.
``liang2018``
    Liang et al. 2018 (VAE-CF) and the strong-generalisation papers after it: Recall@20 and
    Recall@50 = hits / min(k, |T|), NDCG@100; the user's given (train) items removed.

Every function returns ``{name: Measure}``; a metric that the given inputs cannot support raises
:class:`NotApplicable` with the reason, so the caller can say it in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

PRESETS = ("recsys-bench", "lightfm", "implicit", "liang2018")
LIANG_RECALL_KS = (20, 50)
LIANG_NDCG_K = 100
_PAIR_CELLS = 1 << 24


class NotApplicable(Exception):
    """A preset's metric cannot be computed from what is available (the message says why)."""


@dataclass(frozen=True)
class Measure:
    """One metric under one preset.

    Attributes
    ----------
    value : float
        The figure the library or paper would report.
    n_users : int
        Users that count towards it.
    source : str
        ``"lists"`` (from top-k lists) or ``"scores"`` (from the full ranking).
    per_user : numpy.ndarray or None
        Per-user values where the figure is their mean; None for pooled figures.
    """

    value: float
    n_users: int
    source: str
    per_user: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class ProtocolInput:
    """What every preset is computed from.

    Attributes
    ----------
    train, test : scipy.sparse.csr_matrix
        users x items of the split, indexed by user id.
    users : numpy.ndarray
        The rows of the lists and of ``scores``: the harness's evaluated users.
    k : int
        The run's cut-off (LightFM's and implicit's ``k``/``K``).
    lists : dict of bool to numpy.ndarray
        Top-k lists (users x >= k item ids, -1 pads) keyed by "train items excluded".
    exclude_train : bool
        Which list the run itself scored (the ``recsys-bench`` preset uses it).
    scores : callable, optional
        ``scores(users_block) -> dense float32 len(block) x n_items``; None when only stored
        lists exist (then AUC and tie-exact ranks are not applicable).
    block_size : int
        Users scored at once.
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    users: np.ndarray
    k: int
    lists: dict
    exclude_train: bool = True
    scores: Callable[[np.ndarray], np.ndarray] | None = None
    block_size: int = 256

    @property
    def n_items(self) -> int:
        """Columns of the split."""
        return int(self.train.shape[1])

    def truth(self) -> sp.csr_matrix:
        """The test rows of ``users``, sorted indices."""
        rows = sp.csr_matrix(self.test)[np.asarray(self.users)]
        rows.sort_indices()
        return rows

    def top(self, excluded: bool, k: int) -> np.ndarray:
        """The stored list with the given exclusion, cut at ``k``; NotApplicable if missing."""
        top = self.lists.get(excluded)
        what = "with" if excluded else "without"
        if top is None and not self.lists:
            raise NotApplicable(f"needs top-k lists {what} train items removed; none given")
        if top is None:
            raise NotApplicable(f"needs top-k lists {what} train items removed; the run stored "
                                f"only lists {'without' if excluded else 'with'} them "
                                "(rescore the models)")
        if top.shape[1] < k:
            raise NotApplicable(f"needs lists of length {k}; the run stored {top.shape[1]} "
                                "(rescore the models)")
        return np.asarray(top)[:, :k]

    def require_scores(self, what: str):
        """``scores``, or NotApplicable naming ``what`` needed them."""
        if self.scores is None:
            raise NotApplicable(f"{what} needs every item's score; the run stored only top-k "
                                "lists (rescore the models)")
        return self.scores


# --------------------------------------------------------------------------- shared pieces

def list_hits(top: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean ``top.shape``: whether each listed item is one of its row's truth items."""
    from recsys_bench.eval.metrics import hits

    return hits(np.asarray(top), sp.csr_matrix(truth))


def _ideal(n_true: np.ndarray, k: int) -> np.ndarray:
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    return np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(n_true, k).astype(np.int64)]


def _dcg(hit: np.ndarray) -> np.ndarray:
    return hit @ (1.0 / np.log2(np.arange(2, hit.shape[1] + 2)))


def _with_truth(n_true: np.ndarray) -> np.ndarray:
    return n_true > 0


def _mean(per_user: np.ndarray, source: str) -> Measure:
    return Measure(float(per_user.mean()) if per_user.size else float("nan"), int(per_user.size),
                   source, per_user)


# --------------------------------------------------------------------------- recsys-bench

def recsys_bench_metrics(data: ProtocolInput) -> dict[str, Measure]:
    """This harness's own definitions (``docs/metrics.md``) from the run's stored list.

    Users: every evaluated user; recall is NaN (not counted) where |T| = 0.
    """
    from recsys_bench.eval.metrics import ranking_metrics

    top = data.top(data.exclude_train, data.k)
    values = ranking_metrics(top, data.truth(), data.k)
    out = {}
    for name, per_user in values.items():
        defined = per_user[~np.isnan(per_user)]
        out[f"{name}@k"] = Measure(float(defined.mean()) if defined.size else float("nan"),
                                   int(defined.size), "lists", per_user)
    return out


def recsys_bench_auc(data: ProtocolInput) -> dict[str, Measure]:
    """The harness's AUC (every non-excluded item, ties half) from re-scored models."""
    from recsys_bench.eval.metrics import auc

    scores = data.require_scores("auc")
    per_user = auc(scores, data.users, data.truth(),
                   exclude=sp.csr_matrix(data.train) if data.exclude_train else None,
                   block_size=data.block_size)
    defined = per_user[~np.isnan(per_user)]
    return {"auc": Measure(float(defined.mean()), int(defined.size), "scores", per_user)}


# --------------------------------------------------------------------------- lightfm

def lightfm_ranks(scores: np.ndarray, truth: sp.csr_matrix,
                  excluded: sp.csr_matrix | None = None) -> sp.csr_matrix:
    """LightFM's ``predict_rank`` on a dense score block: for each truth item i of row u, the
    number of items j != i, not excluded, with ``scores[u, j] >= scores[u, i]``.

    ``truth`` and ``excluded`` have one row per row of ``scores``. Returns a CSR matrix with the
    pattern of ``truth`` (sorted indices) holding the ranks as float64.
    """
    truth = sp.csr_matrix(truth, dtype=np.float64, copy=True)
    truth.sort_indices()
    values = np.array(scores, copy=True)
    if excluded is not None:
        excluded = sp.csr_matrix(excluded)
        rows_x = np.repeat(np.arange(excluded.shape[0]), np.diff(excluded.indptr))
        values[rows_x, excluded.indices] = np.nan
    rows = np.repeat(np.arange(truth.shape[0]), np.diff(truth.indptr))
    own = values[rows, truth.indices]
    ranks = np.empty(rows.size, dtype=np.float64)
    step = max(1, _PAIR_CELLS // max(1, values.shape[1]))
    for start in range(0, rows.size, step):
        stop = start + step
        ranks[start:stop] = (values[rows[start:stop]] >= own[start:stop, None]).sum(axis=1) - 1
    truth.data = ranks
    return truth


def lightfm_auc_from_ranks(ranks: sp.csr_matrix, n_train: np.ndarray) -> np.ndarray:
    """``lightfm.evaluation.auc_score`` from ranks, reproducing its float32 accumulation.

    For each row, positives sorted by rank: AUC = mean of 1 - max(rank_i - i, 0) / n_neg with
    n_neg = n_items - |T| - ``n_train`` (0.5 for a row without positives).
    """
    ranks = sp.csr_matrix(ranks)
    n_pos = np.diff(ranks.indptr)
    n_neg = ranks.shape[1] - n_pos - np.asarray(n_train, dtype=np.int64)
    width = int(n_pos.max()) if n_pos.size else 0
    padded = np.full((ranks.shape[0], width), np.inf, dtype=np.float32)
    rows = np.repeat(np.arange(ranks.shape[0]), n_pos)
    position = np.arange(ranks.nnz) - np.repeat(ranks.indptr[:-1], n_pos)
    padded[rows, position] = ranks.data.astype(np.float32)
    padded.sort(axis=1)
    acc = np.zeros(ranks.shape[0], dtype=np.float32)
    negatives = n_neg.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(width):
            live = i < n_pos
            rank = np.maximum(padded[:, i] - np.float32(i), np.float32(0))
            term = 1.0 - (rank / negatives).astype(np.float64)
            acc = np.where(live, (acc.astype(np.float64) + term).astype(np.float32), acc)
        out = (acc / n_pos.astype(np.float32)).astype(np.float32)
    return np.where(n_pos > 0, out, np.float32(0.5)).astype(np.float64)


def lightfm_metrics(data: ProtocolInput, *, from_scores: bool | None = None
                    ) -> dict[str, Measure | NotApplicable]:
    """``precision_at_k``, ``recall_at_k`` and ``auc_score`` as LightFM computes them.

    With ``train_interactions=train`` (plain names) and without it (suffix ``_unfiltered``).
    Precision and recall follow the exact rank rule when scores are given (``from_scores`` None
    or True), else the stored lists, which agree unless scores tie at the k-th place. AUC needs
    scores. Users: those with a test item (``preserve_rows=False``).
    """
    truth = data.truth()
    n_true = np.diff(truth.indptr)
    counted = _with_truth(n_true)
    use_scores = data.scores is not None if from_scores is None else from_scores
    out: dict[str, Measure | NotApplicable] = {}
    for filtered in (True, False):
        suffix = "" if filtered else "_unfiltered"
        try:
            if use_scores:
                hits, auc = _lightfm_ranked(data, truth, filtered)
                out[f"auc_score{suffix}"] = _mean(auc[counted], "scores")
                source = "scores"
            else:
                hits = list_hits(data.top(filtered, data.k), truth).sum(axis=1).astype(float)
                out[f"auc_score{suffix}"] = NotApplicable(
                    "auc_score needs every item's score; the run stored only top-k lists "
                    "(rescore the models)")
                source = "lists"
        except NotApplicable as error:
            for name in ("precision_at_k", "recall_at_k", "auc_score"):
                out[name + suffix] = error
            continue
        out[f"precision_at_k{suffix}"] = _mean(hits[counted] / data.k, source)
        out[f"recall_at_k{suffix}"] = _mean(hits[counted] / n_true[counted], source)
    order = [f"{name}{suffix}" for suffix in ("", "_unfiltered")
             for name in ("precision_at_k", "recall_at_k", "auc_score")]
    return {name: out[name] for name in order}


def _lightfm_ranked(data: ProtocolInput, truth: sp.csr_matrix, filtered: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per user: LightFM's hit count at k (rank < k) and its AUC, from re-scored blocks."""
    from recsys_bench.eval.topk import iter_blocks

    scores = data.require_scores("lightfm's rank rule")
    users = np.asarray(data.users)
    hits = np.zeros(len(users))
    auc = np.full(len(users), 0.5)
    train = sp.csr_matrix(data.train)
    for start, block, block_scores in iter_blocks(scores, users, data.block_size):
        here = slice(start, start + len(block))
        ranks = lightfm_ranks(block_scores, truth[here], train[block] if filtered else None)
        rows = np.repeat(np.arange(len(block)), np.diff(ranks.indptr))
        hits[here] = np.bincount(rows, weights=ranks.data < data.k, minlength=len(block))
        n_train = np.diff(train[block].indptr) if filtered else np.zeros(len(block), int)
        auc[here] = lightfm_auc_from_ranks(ranks, n_train)
    return hits, auc


# --------------------------------------------------------------------------- implicit

def implicit_metrics(data: ProtocolInput) -> dict[str, Measure]:
    """``implicit.evaluation.ranking_metrics_at_k`` (0.7) from the lists with train removed."""
    truth = data.truth()
    k = data.k
    n_true = np.diff(truth.indptr).astype(np.float64)
    counted = _with_truth(n_true)
    top = data.top(True, k)[counted]
    n_true = n_true[counted]
    hit = list_hits(top, truth[np.flatnonzero(counted)]).astype(np.float64)
    n_hits = hit.sum(axis=1)
    best = np.minimum(n_true, k)
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at * hit).sum(axis=1) / best
    ndcg = _dcg(hit) / _ideal(n_true, k)
    n_neg = data.n_items - n_true
    hits_so_far = np.cumsum(hit, axis=1)
    misses = k - n_hits
    auc = ((hits_so_far * (1.0 - hit)).sum(axis=1)
           + (n_hits + n_true) / 2.0 * (n_neg - misses)) / (n_true * n_neg)
    n = int(counted.sum())
    return {"precision": Measure(float(n_hits.sum() / best.sum()), n, "lists"),
            "map": _mean(average_precision, "lists"), "ndcg": _mean(ndcg, "lists"),
            "auc": _mean(auc, "lists")}


# --------------------------------------------------------------------------- liang2018

def liang_metrics(data: ProtocolInput) -> dict[str, Measure]:
    """Recall@20, Recall@50 (hits / min(k, |T|)) and NDCG@100 with the given items removed."""
    truth = data.truth()
    n_true = np.diff(truth.indptr).astype(np.float64)
    counted = _with_truth(n_true)
    rows = np.flatnonzero(counted)
    out = {}
    for k in LIANG_RECALL_KS:
        try:
            hit = list_hits(data.top(True, k)[counted], truth[rows])
        except NotApplicable as error:
            out[f"recall@{k}"] = error
            continue
        out[f"recall@{k}"] = _mean(hit.sum(axis=1) / np.minimum(n_true[counted], k), "lists")
    try:
        hit = list_hits(data.top(True, LIANG_NDCG_K)[counted], truth[rows]).astype(np.float64)
        out[f"ndcg@{LIANG_NDCG_K}"] = _mean(_dcg(hit) / _ideal(n_true[counted], LIANG_NDCG_K),
                                            "lists")
    except NotApplicable as error:
        out[f"ndcg@{LIANG_NDCG_K}"] = error
    return out


def from_model(model, split, k: int, *, exclude_train: bool = True,
               block_size: int = 256) -> ProtocolInput:
    """Everything a preset can use from a fitted model: its scores and its lists, with and
    without train items removed, long enough for every preset (max(k, 100), at most n_items).

    Parameters
    ----------
    model : Recommender
        Fitted on ``split.train``.
    split : Split
        Train, test and the evaluated users.
    k : int
        The cut-off of the ``recsys-bench``, ``lightfm`` and ``implicit`` presets.
    exclude_train : bool
        The harness's own setting (what the ``recsys-bench`` preset uses).
    block_size : int
        Users scored at once.
    """
    from recsys_bench.eval.topk import score_block, topk

    users = np.asarray(split.users, dtype=np.int64)
    length = min(max(k, LIANG_NDCG_K), split.train.shape[1])
    lists = {excluded: topk(model, users, length, exclude=split.train if excluded else None)
             for excluded in (True, False)}
    return ProtocolInput(train=split.train, test=split.test, users=users, k=k, lists=lists,
                         exclude_train=exclude_train,
                         scores=lambda block: score_block(model, block), block_size=block_size)


def compute(preset: str, data: ProtocolInput) -> dict[str, Measure | NotApplicable]:
    """Every metric of one preset; a metric that cannot be computed maps to its NotApplicable."""
    out: dict[str, Measure | NotApplicable] = {}
    if preset == "recsys-bench":
        for part in (recsys_bench_metrics, recsys_bench_auc):
            try:
                out.update(part(data))
            except NotApplicable as error:
                out["auc" if part is recsys_bench_auc else "precision@k"] = error
    elif preset == "lightfm":
        out.update(lightfm_metrics(data))
    elif preset == "implicit":
        try:
            out.update(implicit_metrics(data))
        except NotApplicable as error:
            out["precision"] = error
    elif preset == "liang2018":
        out.update(liang_metrics(data))
    else:
        from recsys_bench.errors import UserError

        raise UserError(f"unknown protocol preset {preset!r}; valid: {', '.join(PRESETS)}")
    return out
