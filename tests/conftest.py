"""Shared tiny data sets for the model tests (fast to fit, with answers that are known)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp


@dataclass(frozen=True)
class Checkerboard:
    """Two user groups x two item groups; users like (most of) their own group's items.

    Attributes
    ----------
    train : scipy.sparse.csr_matrix
        float32 users x items likes, all inside each user's own item group.
    heldout : scipy.sparse.csr_matrix
        Own-group items removed from ``train``; a sound model ranks every one of them above
        every item of the other group.
    user_group, item_group : numpy.ndarray
        Group (0 or 1) of each user and each item.
    item_features : scipy.sparse.csr_matrix
        Items x 4 one-hot: the item's group and a random noise tag.
    """

    train: sp.csr_matrix
    heldout: sp.csr_matrix
    user_group: np.ndarray
    item_group: np.ndarray
    item_features: sp.csr_matrix


def random_features(n_items: int, n_tags: int, rng: np.random.Generator) -> sp.csr_matrix:
    """Items x ``n_tags`` float32 one-hot, one random tag per item."""
    cols = rng.integers(0, n_tags, n_items)
    return sp.csr_matrix((np.ones(n_items, np.float32), (np.arange(n_items), cols)),
                         shape=(n_items, n_tags))


def low_rank_likes(n_users: int, n_items: int, rank: int, per_user: int,
                   seed: int) -> sp.csr_matrix:
    """Float32 CSR with ``per_user`` likes per user drawn from a rank-``rank`` preference model.

    Every user has exactly ``per_user`` distinct items and item popularity is skewed, as in real
    like data; a few cells hold counts above 1 so that confidence weighting matters.
    """
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items))
    taste += np.log(np.arange(1, n_items + 1))[::-1]
    noisy = taste + rng.gumbel(size=taste.shape)
    cols = np.argsort(-noisy, axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user)
    data = np.ones(rows.size, np.float32)
    data[rng.random(rows.size) < 0.1] = 2.0
    matrix = sp.csr_matrix((data, (rows, cols.ravel())), shape=(n_users, n_items))
    matrix.sort_indices()
    return matrix


@pytest.fixture(scope="session")
def small_train() -> sp.csr_matrix:
    """60 users x 40 items, 8 likes each, low-rank structure."""
    return low_rank_likes(60, 40, rank=3, per_user=8, seed=1)


@pytest.fixture(scope="session")
def small_features(small_train) -> sp.csr_matrix:
    """Items x 5 one-hot tags for ``small_train``."""
    return random_features(small_train.shape[1], 5, np.random.default_rng(2))


@pytest.fixture(scope="session")
def checkerboard() -> Checkerboard:
    """40 users x 30 items in two blocks; each user likes ~70% of the own block, 2 held out."""
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 30
    user_group = np.arange(n_users) % 2
    item_group = (np.arange(n_items) >= n_items // 2).astype(np.int64)
    likes = (user_group[:, None] == item_group[None, :]) & (rng.random((n_users, n_items)) < 0.7)
    heldout = np.zeros_like(likes)
    for u in range(n_users):
        own = np.flatnonzero(likes[u])
        heldout[u, rng.choice(own, 2, replace=False)] = True
    train = sp.csr_matrix((likes & ~heldout).astype(np.float32))
    features = sp.hstack([sp.csr_matrix(np.eye(2, dtype=np.float32)[item_group]),
                          random_features(n_items, 2, rng)]).tocsr()
    return Checkerboard(train=train, heldout=sp.csr_matrix(heldout.astype(np.float32)),
                        user_group=user_group, item_group=item_group, item_features=features)
