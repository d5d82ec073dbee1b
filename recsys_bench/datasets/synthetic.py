"""In-memory random likes of any size, for scaling studies.

The data has a structure models can learn, so quality figures stay meaningful as the size
grows: a rank-``factors`` taste model (topics) mixed with a heavy-tailed popularity.

- Every item belongs to one of ``factors`` topics (uneven topic sizes) and has a popularity
  weight that follows a power law of a random rank (``(1 + rank) ** -0.9``).
- Every user has a heavy-tailed activity (lognormal) and two favourite topics with a random
  preference between them.
- A like of user ``u`` is, with probability ``noise``, an item drawn by popularity alone;
  otherwise a topic is drawn from the user's two, then an item of that topic by popularity.
  So ``P(item | user)`` is a mixture of ``factors + 1`` item distributions: low rank plus
  popularity.

Likes are drawn with replacement in fixed-size chunks (memory stays bounded), repeats are
removed, further rounds make up the shortfall, and a random surplus is dropped: the result has
**exactly** ``nnz`` distinct interactions. Everything depends only on the arguments (chunk sizes
are fixed, not tuned to the machine), so the same seed gives the same matrix on any machine with
the same NumPy release. 50M likes over 1M users x 100k items take about 1.5 GB at peak.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError

DEFAULT_DENSITY = 0.01
MAX_DENSITY = 0.25
POPULARITY_EXPONENT = 0.9
CHUNK = 1 << 20
MAX_ROUNDS = 64


def load(n_users: int = 10_000, n_items: int = 2_000, nnz: int | None = None,
         density: float | None = None, seed: int = 0, factors: int = 16,
         noise: float = 0.2) -> Interactions:
    """Generate a users x items like matrix with taste structure and popularity skew.

    Parameters
    ----------
    n_users, n_items : int
        Shape of the matrix (ids are ``0..n-1``; some users or items may have no like).
    nnz : int, optional
        Number of distinct likes, exactly. Give ``nnz`` or ``density``, not both.
    density : float, optional
        Fraction of the cells that are likes (``nnz = round(density * n_users * n_items)``);
        at most 0.25. Default 0.01 when neither is given.
    seed : int
        Seed of the generator; the same arguments give the same matrix.
    factors : int
        Number of taste topics (the rank of the taste part); capped at ``n_items``.
    noise : float
        Fraction of likes drawn by popularity alone, between 0 and 1.

    Returns
    -------
    Interactions
        float32 CSR of ones with sorted indices; no item names or features.
    """
    n_users = _whole("n_users", n_users, 1)
    n_items = _whole("n_items", n_items, 1)
    seed = _whole("seed", seed, 0)
    factors = min(_whole("factors", factors, 1), n_items)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise <= 1:
        raise UserError(f"noise must be a number between 0 and 1, got {noise!r}")
    nnz = _target(nnz, density, n_users * n_items)

    rng = np.random.default_rng(seed)
    model = _Model(rng, n_users, n_items, factors, float(noise))
    keys = np.empty(0, dtype=np.int64)
    draws, draws_per_new = 0, 1.0
    for _ in range(MAX_ROUNDS):
        need = nnz - len(keys)
        if need <= 0:
            break
        size = int(need * 1.05 * draws_per_new) + 16
        new = model.draw(rng, size)
        merged = _sorted_unique(np.concatenate((keys, new)))
        draws_per_new = size / max(len(merged) - len(keys), 1)
        keys, draws = merged, draws + size
    else:
        raise UserError(f"could not place {nnz} distinct likes in {n_users} x {n_items}; "
                        "lower nnz or density")
    if len(keys) > nnz:
        drop = rng.choice(len(keys), len(keys) - nnz, replace=False)
        keep = np.ones(len(keys), dtype=bool)
        keep[drop] = False
        keys = keys[keep]

    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_items, minlength=n_users), out=indptr[1:])
    indices = (keys % n_items).astype(np.int32)
    del keys
    if nnz <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    matrix = sp.csr_matrix((np.ones(nnz, dtype=np.float32), indices, indptr),
                           shape=(n_users, n_items))
    matrix.has_sorted_indices = True
    stats = dict(users_before=n_users, items_before=n_items, likes_before=nnz,
                 duplicates_dropped=0, draws=draws, seed=seed, factors=factors, noise=noise)
    return Interactions(matrix=matrix, user_ids=np.arange(n_users, dtype=np.int64),
                        item_ids=np.arange(n_items, dtype=np.int64), name="synthetic",
                        stats=stats)


class _Model:
    """The parameters of the generator and the vectorised draw of likes.

    Items are drawn with Walker's alias method (one random gather per draw; a binary search of
    the cumulative weights was the bottleneck at tens of millions of draws): one table over all
    items for popularity picks and one table per topic, laid out one after another.
    """

    def __init__(self, rng: np.random.Generator, n_users: int, n_items: int, factors: int,
                 noise: float):
        self.n_items = n_items
        self.noise = noise
        topic = rng.choice(factors, size=n_items, p=rng.dirichlet(np.full(factors, 2.0)))
        topic[rng.choice(n_items, size=factors, replace=False)] = np.arange(factors)
        popularity = (1.0 + rng.permutation(n_items)) ** -POPULARITY_EXPONENT
        self.popular = _alias_table(popularity, np.arange(n_items))
        order = np.argsort(topic, kind="stable")
        self.topic_size = np.bincount(topic, minlength=factors)
        self.topic_start = np.concatenate(([0], np.cumsum(self.topic_size)[:-1]))
        parts = [_alias_table(popularity[order[a:a + n]], order[a:a + n])
                 for a, n in zip(self.topic_start, self.topic_size)]
        self.by_topic = tuple(np.concatenate(column) for column in zip(*parts))

        self.activity = rng.lognormal(0.0, 1.0, n_users)
        self.activity /= self.activity.sum()
        self.first = rng.integers(0, factors, n_users).astype(np.int32)
        self.second = rng.integers(0, factors, n_users).astype(np.int32)
        self.prefer_first = rng.beta(2.0, 1.0, n_users)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` likes drawn with replacement, as keys ``user * n_items + item``.

        The keys come in sorted runs of at most ``CHUNK``.
        """
        counts = rng.multinomial(size, self.activity)
        users = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        keys = np.empty(size, dtype=np.int64)
        for start in range(0, size, CHUNK):
            u = users[start:start + CHUNK]
            pick = rng.random(len(u))
            where = rng.random(len(u))
            items = np.empty(len(u), dtype=np.int64)
            by_pop = pick < self.noise
            items[by_pop] = _alias_draw(self.popular, where[by_pop], 0, self.n_items)
            taste = ~by_pop
            ut = u[taste]
            first = pick[taste] < self.noise + (1 - self.noise) * self.prefer_first[ut]
            topic = np.where(first, self.first[ut], self.second[ut])
            items[taste] = _alias_draw(self.by_topic, where[taste], self.topic_start[topic],
                                       self.topic_size[topic])
            chunk = keys[start:start + len(u)]
            np.multiply(u, self.n_items, out=chunk, dtype=np.int64)
            chunk += items
            chunk.sort()
        return keys


def _alias_table(weights: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """Walker/Vose alias table of ``weights``: (threshold, own label, alias label) per slot."""
    n = len(weights)
    scaled = (weights * (n / weights.sum())).tolist()
    alias = list(range(n))
    small = [i for i, q in enumerate(scaled) if q < 1.0]
    large = [i for i, q in enumerate(scaled) if q >= 1.0]
    while small and large:
        s, g = small.pop(), large[-1]
        alias[s] = g
        scaled[g] += scaled[s] - 1.0
        if scaled[g] < 1.0:
            small.append(large.pop())
    for i in small + large:
        scaled[i] = 1.0
    return np.array(scaled), labels, labels[np.array(alias, dtype=np.int64)]


def _alias_draw(table, uniform: np.ndarray, start, size) -> np.ndarray:
    """Labels drawn from alias tables at ``start`` of ``size`` slots, one per uniform number.

    The integer part of ``uniform * size`` picks the slot, its fractional part (independent
    of it and uniform) decides between the slot's own label and its alias.
    """
    threshold, own, alias = table
    x = uniform * size
    slot = np.minimum(x.astype(np.int64), np.asarray(size) - 1)
    position = slot + start
    return np.where(x - slot < threshold[position], own[position], alias[position])


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Distinct values of ``keys`` in order; sorts ``keys`` in place (stable: merges runs)."""
    keys.sort(kind="stable")
    if len(keys) > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def _whole(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _target(nnz, density, cells: int) -> int:
    if nnz is not None and density is not None:
        raise UserError("give nnz or density, not both")
    if nnz is None:
        density = DEFAULT_DENSITY if density is None else density
        if isinstance(density, bool) or not isinstance(density, numbers.Real) \
                or not 0 < density <= MAX_DENSITY:
            raise UserError(f"density must be in (0, {MAX_DENSITY}], got {density!r}")
        nnz = max(1, round(density * cells))
    nnz = _whole("nnz", nnz, 1)
    if nnz > MAX_DENSITY * cells:
        raise UserError(f"nnz={nnz} exceeds {MAX_DENSITY:.0%} of the {cells} cells")
    return nnz
