"""The in-memory synthetic generator: exact sizes, determinism, structure, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_bench.datasets import load as registry_load
from recsys_bench.datasets import synthetic
from recsys_bench.errors import UserError


def canonical(m):
    return m.format == "csr" and m.has_canonical_format


@pytest.mark.parametrize("options, shape, nnz", [
    (dict(), (10_000, 2_000), 200_000),
    (dict(n_users=500, n_items=80, nnz=1234), (500, 80), 1234),
    (dict(n_users=300, n_items=40, density=0.25), (300, 40), 3000),
    (dict(n_users=3, n_items=4, nnz=3), (3, 4), 3),
])
def test_exact_distinct_likes_and_shape(options, shape, nnz):
    data = synthetic.load(**options)
    m = data.matrix
    assert m.shape == shape and m.nnz == nnz
    assert m.dtype == np.float32 and set(np.unique(m.data)) == {1.0}
    copy = m.copy()
    copy.sum_duplicates()
    copy.sort_indices()
    assert copy.nnz == nnz and (copy.indices == m.indices).all()    # sorted, no repeats
    assert m.has_sorted_indices
    assert data.user_ids.tolist() == list(range(shape[0]))
    assert data.item_features is None and data.item_names is None
    assert data.stats["likes_before"] == nnz and data.stats["duplicates_dropped"] == 0


def test_same_seed_same_matrix_other_seed_other_matrix():
    a = synthetic.load(n_users=2000, n_items=300, nnz=30_000, seed=7)
    b = synthetic.load(n_users=2000, n_items=300, nnz=30_000, seed=7)
    c = synthetic.load(n_users=2000, n_items=300, nnz=30_000, seed=8)
    assert (a.matrix.indptr == b.matrix.indptr).all()
    assert (a.matrix.indices == b.matrix.indices).all()
    assert (a.matrix != c.matrix).nnz > 10_000


def test_registry_name():
    assert registry_load("synthetic", n_users=50, n_items=20, nnz=100).name == "synthetic"


def hit_rates(matrix, seed=0):
    """Hit rate at 10 of co-occurrence scores vs popularity, one held-out like per user."""
    rng = np.random.default_rng(seed)
    m = matrix.tocsr().copy()
    users = np.flatnonzero(np.diff(m.indptr) >= 5)
    held = np.array([rng.choice(m.indices[m.indptr[u]:m.indptr[u + 1]]) for u in users])
    m = m.tolil()
    m[users, held] = 0
    train = m.tocsr()
    train.eliminate_zeros()
    popularity = np.asarray(train.sum(axis=0)).ravel()
    cooc = (train.T @ train).toarray()
    np.fill_diagonal(cooc, 0)
    cooc /= np.sqrt(np.outer(popularity, popularity)) + 1e-9
    result = []
    for scores in (np.tile(popularity, (len(users), 1)), train[users] @ cooc):
        scores[train[users].nonzero()] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        result.append((top == held[:, None]).any(axis=1).mean())
    return result


def test_taste_structure_beats_popularity_and_noise_removes_it():
    pop, taste = hit_rates(synthetic.load(n_users=2000, n_items=200, density=0.03).matrix)
    assert taste > 1.5 * pop
    pop, taste = hit_rates(synthetic.load(n_users=2000, n_items=200, density=0.03,
                                          noise=1.0).matrix)
    assert taste < 1.2 * pop


def test_popularity_and_activity_are_skewed():
    m = synthetic.load(n_users=5000, n_items=1000, density=0.01).matrix
    per_item = np.bincount(m.indices, minlength=1000)
    per_user = np.diff(m.indptr)
    assert per_item.max() > 10 * np.median(per_item)
    assert per_user.max() > 5 * np.median(per_user)


@pytest.mark.parametrize("options, message", [
    (dict(nnz=10, density=0.1), "not both"),
    (dict(density=0.5), "density"),
    (dict(density=0), "density"),
    (dict(n_users=10, n_items=10, nnz=26), "exceeds 25%"),
    (dict(nnz=0), "nnz"),
    (dict(n_users=0), "n_users"),
    (dict(n_items=2.5), "n_items"),
    (dict(seed=-1), "seed"),
    (dict(factors=0), "factors"),
    (dict(noise=1.5), "noise"),
    (dict(n_users=True), "n_users"),
])
def test_bad_arguments(options, message):
    with pytest.raises(UserError, match=message):
        synthetic.load(**options)


def test_factors_capped_at_items():
    data = synthetic.load(n_users=20, n_items=5, nnz=20, factors=16)
    assert data.stats["factors"] == 5 and data.nnz == 20
