"""The one top-k routine: every model's scores pass through here, with or without train exclusion.

Ranking rule (``docs/metrics.md``): higher score first, ties broken by the lower item index, so the
result is deterministic and independent of the block size. Excluded items never appear; NaN and -inf
scores never appear either (a model may use -inf to mean "never recommend"). A row with fewer than k
candidates is padded with -1.

How it stays fast. A full ``argpartition`` of every score row costs several times the matrix
product that produced the scores, and it does not break ties by index. Instead, per block of users
(about 16 MB of scores, so the block stays in cache between the product and the ranking):

1. one pass folds each row into 1,024 strided groups of columns and keeps each group's maximum;
   the k-th largest of those maxima, ``t_u``, is a lower bound of the row's k-th largest score
   (k distinct items reach it), and usually equals it;
2. only the groups whose maximum reaches ``t_u`` (about k per row) are opened, their items with
   ``score >= t_u`` are the candidates, and only those are sorted by (row, -score, item).

Rows drowned in ties (a constant score row makes every group a candidate) and rows with NaN fall
back to an exact path: the true k-th value by partition, the items strictly above it sorted, then
the first tied items in index order. Both paths give exactly the same answer.

Where the package was built with its C kernel (:mod:`recsys_bench.eval.kernel`), the same two
steps run per row in compiled code instead, with the same answer; that takes the ranking from
several times the matrix product to a fraction of it. NumPy ranks where the kernel is missing,
and for score blocks it does not take (not float32/float64, or rows not contiguous).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Callable, Union

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval import kernel
from recsys_bench.protocol import Recommender
from recsys_bench.threads import resolve_threads, single_threaded_blas

Scorer = Union[Recommender, Callable[[np.ndarray], np.ndarray]]

BLOCK_BYTES = 16 * 2**20
GROUPS = 1024


def block_size_for(n_items: int, itemsize: int = 4, block_bytes: int = BLOCK_BYTES) -> int:
    """Users per block so that one dense block of scores stays near ``block_bytes`` (L3-sized)."""
    return int(max(16, block_bytes // max(1, n_items * itemsize)))


def score_block(scorer: Scorer, users: np.ndarray) -> np.ndarray:
    """Dense scores of ``users`` from a Recommender (``.scores``) or a plain callable."""
    fn = scorer.scores if hasattr(scorer, "scores") else scorer
    scores = np.asarray(fn(users))
    if scores.ndim != 2 or scores.shape[0] != len(users):
        raise ValueError(f"scorer returned shape {scores.shape} for {len(users)} users")
    if scores.dtype.kind != "f":
        scores = scores.astype(np.float64)
    return scores


def rows_of(matrix: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local row, column) of the non-zeros of ``matrix[users]``, rows numbered 0..len(users)-1."""
    starts = matrix.indptr[users]
    lengths = matrix.indptr[users + 1] - starts
    local = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(local.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return local, matrix.indices[np.repeat(starts, lengths) + offsets]


def check_k(k: int, n_items: int | None = None) -> int:
    """Validate ``k`` (and against the catalogue size when given); UserError when impossible."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}")
    if n_items is not None and k > n_items:
        raise UserError(f"k={k} is larger than the number of items ({n_items})")
    return int(k)


def check_users(users, n_users: int | None = None) -> np.ndarray:
    """Users as a 1-D int64 array, optionally checked against ``n_users``."""
    users = np.asarray(users)
    if users.ndim != 1 or (users.size and users.dtype.kind not in "iu"):
        raise UserError("users must be a 1-D array of integer user indices")
    users = users.astype(np.int64, copy=False)
    if n_users is not None and users.size and (users.min() < 0 or users.max() >= n_users):
        raise UserError(f"user indices must lie in [0, {n_users}), "
                        f"got [{users.min()}, {users.max()}]")
    return users


def topk(scorer: Scorer, users: np.ndarray, k: int, *, exclude: sp.csr_matrix | None = None,
         block_size: int | None = None, num_threads: int | None = None) -> np.ndarray:
    """Top-k item indices per user, best first, ties broken by lower item index.

    Parameters
    ----------
    scorer : Recommender or callable
        ``scorer.scores(users_block)`` (or ``scorer(users_block)``) returns dense
        ``len(users_block) x n_items`` scores. The returned blocks are consumed: excluded entries
        are overwritten with -inf. A model whose ``factors()`` gives ``(U, V)`` is ranked from
        them by :func:`factor_topk` (the same lists, usually much faster) unless ``block_size``
        is given.
    users : array of int
        The users (row ids) to rank for, in output order.
    k : int
        List length; ``1 <= k <= n_items``.
    exclude : scipy.sparse.csr_matrix, optional
        users x items, indexed by user id (e.g. ``split.train``): its non-zeros never appear.
    block_size : int, optional
        Users scored at once; by default a block of scores stays near 16 MB.
    num_threads : int, optional
        Blocks ranked in parallel (0 = all cores); by default the scorer's own
        ``params["num_threads"]`` (the model's threads), else 1. Above 1 the scorer must be
        thread-safe. BLAS is held to one thread per block throughout. The result does not
        depend on it.

    Returns
    -------
    numpy.ndarray
        int32 ``len(users) x k``; -1 pads rows with fewer than k candidates.
    """
    users = check_users(users, None if exclude is None else exclude.shape[0])
    k = check_k(k, None if exclude is None else exclude.shape[1])
    exclude = None if exclude is None else sp.csr_matrix(exclude)
    out = np.full((len(users), k), -1, dtype=np.int32)
    factors = scorer.factors() if hasattr(scorer, "factors") and block_size is None else None
    if factors is not None:
        user_factors, item_factors = (np.asarray(f) for f in factors)
        if exclude is not None and exclude.shape[1] != item_factors.shape[0]:
            raise UserError(f"exclude has {exclude.shape[1]} items but the model "
                            f"{item_factors.shape[0]}")
        return factor_topk(user_factors[users], item_factors, check_k(k, len(item_factors)),
                           exclude=None if exclude is None else exclude[users],
                           num_threads=threads_of(scorer, num_threads))

    def work(start: int, stop: int) -> np.ndarray:
        block = users[start:stop]
        scores = score_block(scorer, block)
        if exclude is not None:
            if scores.shape[1] != exclude.shape[1]:
                raise UserError(f"exclude has {exclude.shape[1]} items but the scores have "
                                f"{scores.shape[1]}")
            scores = exclude_in_place(scores, exclude, block)
        out[start:stop] = topk_block(scores, check_k(k, scores.shape[1]))
        return scores

    check_block_size(block_size)
    num_threads = threads_of(scorer, num_threads)
    if not len(users):
        return out
    with single_threaded_blas():
        first = min(len(users), block_size or 16)
        first_scores = work(0, first)
        block_size = block_size or block_size_for(first_scores.shape[1],
                                                  first_scores.dtype.itemsize)
        run_blocks(work, first, len(users), block_size, num_threads)
    return out


def check_block_size(block_size: int | None) -> None:
    """UserError unless ``block_size`` is None or a positive integer."""
    if block_size is not None and (isinstance(block_size, bool) or block_size < 1
                                   or not isinstance(block_size, (int, np.integer))):
        raise UserError(f"block_size must be a positive integer, got {block_size!r}")


def threads_of(model, num_threads: int | None) -> int:
    """``num_threads`` resolved (0 = all cores); None takes the model's ``params["num_threads"]``
    (the threads it trains with), else 1."""
    if num_threads is None:
        num_threads = (getattr(model, "params", None) or {}).get("num_threads", 1)
    return resolve_threads(num_threads)


def run_blocks(work: Callable[[int, int], object], start: int, stop: int, block_size: int,
               num_threads: int = 1) -> None:
    """Call ``work(lo, hi)`` on consecutive blocks of ``range(start, stop)``.

    With ``num_threads > 1`` blocks run on a thread pool (NumPy and BLAS release the GIL);
    callers hold BLAS to one thread meanwhile (:func:`single_threaded_blas`).
    ``work`` must write only its own block of any shared output.
    """
    bounds = [(lo, min(lo + block_size, stop)) for lo in range(start, stop, block_size)]
    threads = min(resolve_threads(num_threads), len(bounds))
    if threads <= 1:
        for lo, hi in bounds:
            work(lo, hi)
        return
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda bound: work(*bound), bounds):
            pass


def iter_blocks(scorer: Scorer, users: np.ndarray, block_size: int | None = None):
    """Yield ``(start, users_block, scores_block)`` over ``users`` in consecutive blocks.

    Without ``block_size`` the first block has 16 users and the next ones are sized from the
    width of its scores (:func:`block_size_for`).
    """
    start, step = 0, block_size or 16
    while start < len(users):
        block = users[start:start + step]
        scores = score_block(scorer, block)
        yield start, block, scores
        start += len(block)
        if block_size is None:
            step = block_size_for(scores.shape[1], scores.dtype.itemsize)


def exclude_in_place(scores: np.ndarray, exclude: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """Set the excluded entries of a score block to -inf (copying only a read-only block)."""
    if not scores.flags.writeable:
        scores = scores.copy()
    rows, cols = rows_of(exclude, users)
    scores[rows, cols] = -np.inf
    return scores


def topk_block(scores: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k of one dense score block (rows = users); -inf and NaN are never candidates.

    This is the kernel of :func:`topk`; callers that already hold a score block (the evaluation
    scores a block once for several uses) call it directly. ``scores`` is not modified.
    """
    if kernel.takes(scores):
        return kernel.select(scores, k)
    n_rows, n_items = scores.shape
    floor = -np.finfo(scores.dtype).max
    groups = max(GROUPS, 8 * k)
    depth = n_items // groups if n_items >= 2 * groups else 1
    if depth == 1:
        groups, summary = n_items, scores
    else:
        width = depth * groups
        strided_max = scores[:, :width].reshape(n_rows, depth, groups).max(axis=1)
        summary = np.concatenate([strided_max, scores[:, width:]], axis=1)
    bound = np.fmax(_kth_largest(summary, k), floor)
    flat = np.flatnonzero(summary >= bound[:, None])
    if flat.size > n_rows * (4 * k + 64) or (depth > 1 and np.isnan(strided_max).any()):
        return _top_with_ties(scores, np.fmax(_kth_largest(scores, k), floor), k)
    rows, group = np.divmod(flat, summary.shape[1])
    in_head = group < groups
    offsets = np.arange(depth) * groups
    rows = np.concatenate([np.repeat(rows[in_head], depth), rows[~in_head]])
    cols = np.concatenate([(group[in_head, None] + offsets).ravel(),
                           group[~in_head] - groups + depth * groups])
    keep = scores[rows, cols] >= bound[rows]
    return _first_k(scores, rows[keep], cols[keep], k)


def _kth_of(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k-th largest candidate score (ranking rule of :func:`topk_block`), or the
    lowest finite float32 when a row has fewer than k candidates."""
    floor = np.float32(-np.finfo(np.float32).max)
    if scores.shape[1] < k:
        return np.full(scores.shape[0], floor)
    last = topk_block(scores, k)[:, -1]
    kth = scores[np.arange(scores.shape[0]), last]
    return np.where(last >= 0, kth, floor)


def _kth_largest(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k-th largest score, NaN ignored (NaN when fewer than k non-NaN values)."""
    negated = np.negative(scores)
    negated.partition(k - 1, axis=1)
    return -negated[:, k - 1]


def _first_k(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Order candidates by (row, -score, item) and write the first k of each row."""
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=scores.shape[0])
    position = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.full((scores.shape[0], k), -1, dtype=np.int32)
    keep = position < k
    out[rows[keep], position[keep]] = cols[keep]
    return out


def _top_with_ties(scores: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    """Exact path given each row's k-th value: items above it by score, then ties by index."""
    above = scores > kth[:, None]
    n_above = np.count_nonzero(above, axis=1)
    out = _first_k(scores, *_nonzero(above), k)
    del above
    tied = scores == kth[:, None]
    rank = np.cumsum(tied, axis=1, dtype=np.int32)
    rows, cols = _nonzero(tied & (rank <= (k - n_above)[:, None]))
    out[rows, n_above[rows] + rank[rows, cols] - 1] = cols
    return out


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask, row-major, via the much faster 1-D ``flatnonzero``."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])



def factor_topk(user_factors: np.ndarray, item_factors: np.ndarray, k: int, *,
                exclude: sp.spmatrix | tuple[np.ndarray, np.ndarray] | None = None,
                num_threads: int = 1) -> np.ndarray:
    """Exact top-k of ``user_factors @ item_factors.T``, skipping items that cannot make a list.

    Items are visited in chunks of decreasing norm (the first ``FIRST_CHUNK``, then doubling).
    A score cannot exceed ``|x_u| |y_i|``, so once a user's k-th best score beats that bound for
    the longest item vector not yet visited, no later item can enter the list and the user is
    done. After the first chunk, only the scores that reach a user's current k-th best are
    candidates, so a chunk costs little more than its product. When k is small and the item
    norms are spread out (popular items have long vectors in a factor model), most users finish
    after the first chunk and ranking costs a fraction of the full product. A sample of users
    tells beforehand whether that happens: when the chunks they would need cost more than the
    full product (large f or little regularization flattens the bound), the full product is
    used instead. Where the items are too few for even the best case to save a tenth of the
    product (under about 4,550 items with the C kernel, 2,730 without), no sample is drawn.

    The bound is inflated by the worst-case rounding error of a float32 dot product of this
    length, scores are rounded to float32 as the adapters' ``scores`` do, and the ranking rule
    is :func:`topk_block`'s (score, then lower item index; -inf never listed), so the result is
    exactly that of ranking the full score matrix. Non-finite or huge factors take the full
    product.

    Parameters
    ----------
    user_factors : numpy.ndarray
        n_users x f, one row per user to rank for (e.g. ``U[users]``).
    item_factors : numpy.ndarray
        n_items x f.
    k : int
        List length.
    exclude : scipy.sparse matrix, or (rows, items) arrays, optional
        Entries never listed: a matrix whose rows are those of ``user_factors`` (e.g.
        ``train[users]``, the cheapest form), or the arrays :func:`rows_of` gives.
    num_threads : int
        Blocks ranked in parallel; BLAS is held to one thread per block.

    Returns
    -------
    numpy.ndarray
        int32 n_users x k item indices; -1 pads rows with fewer than k candidates.
    """
    dtype = np.result_type(user_factors.dtype, item_factors.dtype, np.float32)
    users = np.ascontiguousarray(user_factors, dtype=dtype)
    items = np.asarray(item_factors, dtype=dtype)
    n_users, n_items = users.shape[0], items.shape[0]
    k = check_k(k, n_items)
    out = np.full((n_users, k), -1, dtype=np.int32)
    if exclude is None or sp.issparse(exclude):
        excluded = None if exclude is None else sp.csr_matrix(exclude)
    else:
        excluded = sp.csr_matrix((np.ones(len(exclude[0]), dtype=bool), (exclude[0], exclude[1])),
                                 shape=(n_users, n_items))
    if excluded is not None and excluded.shape != (n_users, n_items):
        raise UserError(f"exclude has shape {excluded.shape}, the factors "
                        f"{(n_users, n_items)}")

    products = FactorProducts(users, items)

    skip = None if excluded is None else (excluded.indptr.astype(np.int64),
                                          excluded.indices.astype(np.int32))

    def full(start: int, stop: int) -> None:
        step = block_size_for(n_items)
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            scores = products(slice(lo, hi))
            if kernel.takes(scores):
                out[lo:hi] = kernel.select(
                    scores, k, None if skip is None else (skip[0][lo:hi + 1], skip[1]))
                continue
            if excluded is not None:
                scores = exclude_in_place(scores, excluded, np.arange(lo, hi))
            out[lo:hi] = topk_block(scores, k)

    with single_threaded_blas():
        ranker = (_NormPruning(users, items, k, excluded, full)
                  if _NormPruning.may_pay(n_items) else None)
        if ranker is not None and ranker.pays():
            run_blocks(ranker.rank, 0, n_users, block_size_for(FIRST_CHUNK), num_threads)
            ranker.write(out)
        else:
            run_blocks(full, 0, n_users, block_size_for(n_items), num_threads)
    return out


FIRST_CHUNK = 2048


class FactorProducts:
    """Score blocks ``users[rows] @ items[lo:hi].T`` of a factor model, in reused buffers.

    The product is computed in the factors' precision and rounded to float32, exactly as the
    adapters' ``scores`` do, so rankings (ties included) match ranking ``scores``. Each block is
    written into a buffer of the calling thread and is overwritten by that thread's next call:
    a fresh 16 MB array per block can cost more in page faults than the product itself at small
    factor counts.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray):
        dtype = np.result_type(users.dtype, items.dtype, np.float32)
        self.users = np.ascontiguousarray(users, dtype=dtype)
        self.items_t = np.ascontiguousarray(items, dtype=dtype).T
        self.local = threading.local()

    def __call__(self, rows, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Scores of users ``rows`` (a slice or index array) for items ``lo:hi``."""
        users, items_t = self.users[rows], self.items_t[:, lo:hi]
        shape = (users.shape[0], items_t.shape[1])
        product = np.matmul(users, items_t, out=self._buffer(users.dtype, shape))
        if product.dtype == np.float32:
            return product
        scores = self._buffer(np.dtype(np.float32), shape)
        np.copyto(scores, product, casting="same_kind")
        return scores

    def _buffer(self, dtype: np.dtype, shape: tuple[int, int]) -> np.ndarray:
        buffers = self.local.__dict__.setdefault("buffers", {})
        size = shape[0] * shape[1]
        if dtype not in buffers or buffers[dtype].size < size:
            buffers[dtype] = np.empty(size, dtype=dtype)
        return buffers[dtype][:size].reshape(shape)


class _NormPruning:
    """The chunked, norm-bounded ranking of :func:`factor_topk` over blocks of users."""

    SAMPLE = 64
    # A needed chunk column's cost (its product and merge) over a column of the full product.
    # With the C kernel, bench/scripts/topk_floor.py measured about 1.8-2.4 at 0.5M-5M likes
    # (both ways cost about the same at 0.5M, where the rule picks the full product).
    CHUNK_COST = 1.2
    CHUNK_COST_COMPILED = 2.0
    # The set-up and the sample cost about 0.1x of the full product at 0.5M likes
    # (bench/scripts/topk_floor.py's costs); they are skipped where even the best case, every
    # user certain after the first chunk, would save less than that.
    MIN_SAVING = 0.1

    @classmethod
    def chunk_cost(cls) -> float:
        """``CHUNK_COST``, or ``CHUNK_COST_COMPILED`` where the C kernel ranks."""
        return cls.CHUNK_COST if kernel.LIBRARY is None else cls.CHUNK_COST_COMPILED

    @classmethod
    def may_pay(cls, n_items: int) -> bool:
        """False when pruning cannot save ``MIN_SAVING`` of the full product over ``n_items``
        items even if every user were done after the first chunk."""
        return FIRST_CHUNK * cls.chunk_cost() < (1.0 - cls.MIN_SAVING) * n_items

    def __init__(self, users, items, k, excluded, full):
        self.users, self.k, self.excluded, self.full = users, k, excluded, full
        n_items = items.shape[0]
        self.n_items = n_items
        self.finite = bool(np.isfinite(users).all() and np.isfinite(items).all())
        item_norms = np.sqrt(np.einsum("ij,ij->i", items, items, dtype=np.float64))
        user_norms = np.sqrt(np.einsum("ij,ij->i", users, users, dtype=np.float64))
        self.user_norms = user_norms
        self.order = np.argsort(-item_norms, kind="stable")
        self.items = items
        self.position = np.empty(n_items, dtype=np.int64)
        self.position[self.order] = np.arange(n_items)
        # A float32 dot product of length f errs by at most about f * eps * |x| |y|.
        slack = 1.0 + 4.0 * (users.shape[1] + 2) * float(np.finfo(np.float32).eps)
        self.ceiling = np.append(item_norms[self.order], 0.0) * slack
        self.edges = [0]
        while self.edges[-1] < n_items:
            self.edges.append(min(n_items, max(FIRST_CHUNK, 2 * self.edges[-1])))
        self.huge = float(user_norms.max(initial=0.0)) * self.ceiling[0] > 1e30
        self.best_scores = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
        self.best_items = np.full((users.shape[0], k), -1, dtype=np.int64)
        self.fell_back = np.zeros(users.shape[0], dtype=bool)

    def pays(self) -> bool:
        """True when, on a sample of users, the chunks they would need cost less than the
        full product (each chunk column counted ``CHUNK_COST`` times for its merge, or
        ``CHUNK_COST_COMPILED`` times where the full product is ranked by the C kernel)."""
        if not self.finite or self.huge or len(self.edges) <= 2 or not len(self.users):
            return False
        pick = np.unique(np.linspace(0, len(self.users) - 1, self.SAMPLE).astype(np.int64))
        kth = _kth_of(FactorProducts(self.users[pick], self.items)(slice(None)), self.k)
        bounds = self.user_norms[pick, None] * self.ceiling[None, self.edges[1:-1]]
        still_active = np.concatenate([[1.0], (kth[:, None] <= bounds).mean(axis=0)])
        needed = float(still_active @ np.diff(self.edges))
        return needed * self.chunk_cost() < self.n_items

    @cached_property
    def products(self) -> FactorProducts:
        """Score blocks against the items in norm order (built only when pruning is used)."""
        return FactorProducts(self.users, self.items[self.order])

    def rank(self, start: int, stop: int) -> None:
        """Rank users ``start:stop`` chunk by chunk until each is certain."""
        active = np.arange(start, stop)
        for lo, hi in zip(self.edges[:-1], self.edges[1:]):
            step = block_size_for(hi - lo)
            for at in range(0, len(active), step):
                if not self._merge(active[at:at + step], lo, hi):
                    self.fell_back[start:stop] = True
                    return self.full(start, stop)
            if hi == self.n_items:
                break
            done = self.best_scores[active, -1] > self.user_norms[active] * self.ceiling[hi]
            active = active[~done]
            if not active.size:
                break

    def _merge(self, rows: np.ndarray, lo: int, hi: int) -> bool:
        """Fold items ``lo:hi`` (norm order) into the lists of ``rows``; False on a tie flood.

        The candidates are the scores reaching a row's current k-th best; in the first chunk,
        or when too many reach it, the chunk's own k-th best raises that threshold first.
        """
        k = self.k
        scores = self.products(rows, lo, hi)
        if self.excluded is not None:
            at, cols = rows_of(self.excluded, rows)
            cols = self.position[cols]
            here = (cols >= lo) & (cols < hi)
            scores[at[here], cols[here] - lo] = -np.inf
        best_scores, best_items = self.best_scores[rows], self.best_items[rows]
        if scores.dtype == np.float32 and kernel.takes(scores):
            kernel.merge(scores, self.order[lo:hi], best_scores, best_items)
            self.best_scores[rows], self.best_items[rows] = best_scores, best_items
            return True
        limit = len(rows) * (4 * k + 64)
        kth = np.fmax(best_scores[:, -1], -np.finfo(np.float32).max)
        at, cols = _nonzero(scores >= kth[:, None]) if lo > 0 else (None, None)
        if at is None or at.size > limit:
            if scores.shape[1] >= k:
                kth = np.fmax(_kth_largest(scores, k), kth)
            at, cols = _nonzero(scores >= kth[:, None])
            if at.size > limit:
                return False
        old_at, old_slot = np.nonzero(best_items >= 0)
        cand_at = np.concatenate([at, old_at])
        cand_items = np.concatenate([self.order[cols + lo], best_items[old_at, old_slot]])
        cand_scores = np.concatenate([scores[at, cols], best_scores[old_at, old_slot]])
        keep = np.lexsort((cand_items, -cand_scores, cand_at))
        cand_at, cand_items, cand_scores = cand_at[keep], cand_items[keep], cand_scores[keep]
        counts = np.bincount(cand_at, minlength=len(rows))
        rank = np.arange(cand_at.size) - np.repeat(np.cumsum(counts) - counts, counts)
        first = rank < k
        best_items[:], best_scores[:] = -1, -np.inf
        best_items[cand_at[first], rank[first]] = cand_items[first]
        best_scores[cand_at[first], rank[first]] = cand_scores[first]
        self.best_scores[rows], self.best_items[rows] = best_scores, best_items
        return True

    def write(self, out: np.ndarray) -> None:
        """Copy the lists of the users ranked by pruning into ``out``."""
        kept = ~self.fell_back
        out[kept] = self.best_items[kept]
