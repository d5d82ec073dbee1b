"""One evaluation for every model: top-k, ranking metrics, AUC and MSE from one pass over scores.

Each block of evaluated users is scored once and that block serves everything: the top-k list
without exclusion (shared by the "train" subset and, with ``exclude_train=False``, by "test"),
the AUC of each subset, the dense MSE of models without factors, and finally, after writing -inf
over the train items, the top-k list with exclusion. For factor models the MSE is the closed form
(:func:`recsys_bench.eval.metrics.mse_closed_form`) and the scores come straight from the factors,
``U[users] @ V.T`` rounded to float32 as the adapters do, into reused buffers, block-parallel.
When no AUC is asked for, a factor model's lists come from
:func:`recsys_bench.eval.topk.factor_topk`,
which skips the items whose norm bound cannot reach a list and gives the same lists.
The beyond-accuracy metrics (``context`` metrics, opt-in) are computed afterwards from the same
lists, the split's train matrix as popularity base and, for intra-list diversity, the model's
item vectors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval import registry
from recsys_bench.eval.beyond import ITEM_VECTOR_METRICS, BeyondContext, no_item_vectors
from recsys_bench.eval.metrics import (
    auc_of_ranked,
    check_metrics,
    mse_block,
    mse_closed_form,
    nanmean,
    rank_rows,
)
from recsys_bench.eval.topk import (
    FactorProducts,
    block_size_for,
    check_block_size,
    check_k,
    exclude_in_place,
    factor_topk,
    rows_of,
    run_blocks,
    score_block,
    threads_of,
    topk_block,
)
from recsys_bench.fold_in import folded
from recsys_bench.splits import Split
from recsys_bench.threads import single_threaded_blas

SUBSETS = ("train", "test")


@dataclass(frozen=True, eq=False)
class EvalResult:
    """The evaluation of one subset ("train" or "test") of a split.

    Attributes
    ----------
    subset : str
        Whose items count as hits: the test likes or the train likes of the evaluated users.
    k : int
        Cut-off of the ranking metrics.
    exclude_train : bool
        The setting of the call (train items removed from the "test" ranking); the "train"
        subset is never ranked with exclusion.
    top : numpy.ndarray
        int32 users x k item ids (-1 pads); users x 0 when no ranking metric was asked for.
    per_user : dict of str to numpy.ndarray
        One float64 value per evaluated user (``split.users`` order) for each per-user metric
        (all but coverage and Gini).
    means : dict of str to float
        NaN-ignoring means of ``per_user``, plus the set-level figures (coverage, Gini).
    rank_seconds : float or None
        Seconds spent computing ``top`` when it was ranked on its own (a factor model's lists,
        no AUC asked for): the cost of recommending to these users. None when the lists came
        out of the shared scoring pass, where ranking is not timed apart.
    """

    subset: str
    k: int
    exclude_train: bool
    top: np.ndarray
    per_user: dict
    means: dict
    rank_seconds: float | None = None


def _subsets(values) -> tuple[str, ...]:
    values = (values,) if isinstance(values, str) else tuple(dict.fromkeys(values))
    unknown = [v for v in values if v not in SUBSETS]
    if unknown or not values:
        raise UserError(f"unknown subset(s) {', '.join(map(str, unknown)) or '(none given)'}; "
                        f"valid: {', '.join(SUBSETS)}")
    return values


def evaluate(model, split: Split, *, k: int = 5, exclude_train: bool = True,
             subsets=("test",), metrics=None, block_size: int | None = None,
             num_threads: int | None = None) -> dict[str, EvalResult]:
    """Evaluate a fitted model on the evaluated users of a split.

    Parameters
    ----------
    model : Recommender
        Fitted; ``scores`` gives dense blocks, ``factors()`` (if not None) gives ``(U, V)`` for
        ALL users with ``scores == U[users] @ V.T``.
    split : Split
        Train, test and the evaluated users. With a ``fold_in`` part (strong generalisation)
        the evaluated users are unseen in training: the model folds them in from their given
        history, which then stands for their train items (:func:`recsys_bench.fold_in.folded`).
    k : int
        Cut-off of the ranking metrics and coverage.
    exclude_train : bool
        Remove each user's train items from the "test" ranking (True, the default) or not (the
        study's convention). The "train" subset is never ranked with exclusion.
    subsets : sequence of {"train", "test"}
        Whose items count as hits.
    metrics : sequence of str, optional
        Names from the metric registry (:mod:`recsys_bench.eval.registry`); by default its
        default metrics (:func:`~recsys_bench.eval.registry.default_names`: not the opt-in
        beyond-accuracy ones). ``intra_list_diversity`` needs a model with item vectors.
    block_size : int, optional
        Users scored at once; by default a score block stays near 16 MB.
    num_threads : int, optional
        Blocks evaluated in parallel for factor models (0 = all cores); by default the model's
        own ``params["num_threads"]``, else 1. BLAS is held to one thread per block throughout.
        Models without factors are scored one block at a time. Results do not depend on it.

    Returns
    -------
    dict of str to EvalResult
        One result per subset.

    Raises
    ------
    UserError
        An unknown metric or subset, a bad ``k`` or ``block_size``, or ``intra_list_diversity``
        asked of a model without item vectors.
    """
    subsets = _subsets(subsets)
    metrics = check_metrics(registry.default_names() if metrics is None else metrics,
                            registry.names())
    specs = [registry.METRICS[m] for m in metrics]
    item_vectors = _item_vectors(model) if ITEM_VECTOR_METRICS & set(metrics) else None
    popularity_base = split.train
    if getattr(split, "fold_in", None) is not None:
        model, split = folded(model, split)
    users = np.asarray(split.users, dtype=np.int64)
    n_items = split.train.shape[1]
    k = check_k(k, n_items)
    check_block_size(block_size)
    threads = threads_of(model, num_threads)
    truth = {s: (split.test if s == "test" else split.train)[users] for s in subsets}
    excluded = {s: bool(s == "test" and exclude_train) for s in subsets}
    factors = model.factors()
    if factors is not None:
        factors = (np.asarray(factors[0])[users], np.asarray(factors[1]))
    per_user = {s: {} for s in subsets}
    wants_top = any(spec.needs in ("top", "catalog", "context") for spec in specs)
    with single_threaded_blas():
        if factors is not None and "mse" in metrics:
            users64, items64 = (np.asarray(f, dtype=np.float64) for f in factors)
            gram = items64.T @ items64
            for s in subsets:
                per_user[s]["mse"] = mse_closed_form(users64, items64, truth[s], gram=gram)
        tops, rank_seconds = _score_pass(model, factors, split, users, truth, excluded, k,
                                         metrics, per_user, wants_top,
                                         block_size or block_size_for(n_items), threads)

    results = {}
    for s in subsets:
        top = tops.get(excluded[s], np.empty((len(users), 0), dtype=np.int32))
        values = dict(per_user[s])
        means = {}
        if wants_top:
            context = BeyondContext(train=popularity_base, truth=truth[s],
                                    item_vectors=item_vectors)
            values.update(registry.top_metrics(top, truth[s], k, metrics, context))
            means.update(registry.set_metrics(top, n_items, metrics, context))
        means.update({m: nanmean(v) for m, v in values.items()})
        results[s] = EvalResult(subset=s, k=k, exclude_train=bool(exclude_train), top=top,
                                per_user={m: values[m] for m in metrics if m in values},
                                means={m: means[m] for m in metrics if m in means},
                                rank_seconds=rank_seconds.get(excluded[s]))
    return results


def _item_vectors(model):
    """The model's item vectors (items x d), or a UserError saying it has none."""
    name = getattr(model, "name", type(model).__name__)
    capabilities = getattr(model, "capabilities", None)
    vectors = model.item_vectors() if getattr(capabilities, "item_vectors", False) else None
    if vectors is None:
        raise UserError(no_item_vectors(name))
    return vectors


def _score_pass(model, factors, split, users, truth, excluded, k, metrics, per_user, wants_top,
                block_size, threads) -> tuple[dict[bool, np.ndarray], dict[bool, float]]:
    """Score each block of users once and fill top-k lists, AUC and dense MSE from it.

    ``factors`` is None or ``(U[users], V)``. Returns the top-k lists and the seconds spent on
    each list where it was ranked on its own, both keyed by "train items excluded", and fills
    ``per_user`` in place. In the shared pass the list without exclusion is computed first,
    then -inf is written over the train items for the list with exclusion.
    """
    variants = sorted(set(excluded.values())) if wants_top else []
    dense_mse = factors is None and "mse" in metrics
    if not (variants or "auc" in metrics or dense_mse):
        return {}, {}
    if factors is not None and "auc" not in metrics:
        tops, seconds = {}, {}
        for v in variants:
            start = time.perf_counter()
            tops[v] = factor_topk(*factors, k, exclude=split.train[users] if v else None,
                                  num_threads=threads)
            seconds[v] = time.perf_counter() - start
        return tops, seconds
    tops = {v: np.full((len(users), k), -1, dtype=np.int32) for v in variants}
    for s in per_user:
        if "auc" in metrics:
            per_user[s]["auc"] = np.full(len(users), np.nan)
        if dense_mse:
            per_user[s]["mse"] = np.full(len(users), np.nan)
    train = sp.csr_matrix(split.train)
    if factors is not None:
        products = FactorProducts(*factors)

        def scores_of(start: int, stop: int) -> np.ndarray:
            return products(slice(start, stop))
    else:
        threads = 1

        def scores_of(start: int, stop: int) -> np.ndarray:
            return score_block(model, users[start:stop])

    def work(start: int, stop: int) -> None:
        positions, block = np.arange(start, stop), users[start:stop]
        scores = scores_of(start, stop)
        if False in tops:
            tops[False][start:stop] = topk_block(scores, k)
        ranked = {}
        for s, values in per_user.items() if "auc" in metrics or dense_mse else ():
            here = rows_of(truth[s], positions)
            if "auc" in metrics:
                if excluded[s] not in ranked:
                    removed = rows_of(train, block) if excluded[s] else None
                    ranked[excluded[s]] = rank_rows(scores, removed)
                values["auc"][start:stop] = auc_of_ranked(ranked[excluded[s]], here)
            if dense_mse:
                values["mse"][start:stop] = mse_block(scores, here)
        if True in tops:
            tops[True][start:stop] = topk_block(exclude_in_place(scores, train, block), k)

    run_blocks(work, 0, len(users), block_size, threads)
    return tops, {}
