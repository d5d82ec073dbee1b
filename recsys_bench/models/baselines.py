"""The floor every model must beat: most-popular items for everyone, and random scores."""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_bench.models.base import BaseRecommender
from recsys_bench.protocol import Capabilities


def _valid_int(value, low: int, high: int | None = None) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return False
    return value >= low and (high is None or value < high)


class _Baseline(BaseRecommender):
    """Shared checks; ``num_threads`` and ``random_state`` are accepted for uniformity."""

    defaults: ClassVar[dict] = {"num_threads": 0, "random_state": 0}
    capabilities: ClassVar[Capabilities] = Capabilities(fold_in=True)

    def validate(self) -> None:
        p = self.params
        self.require(_valid_int(p["num_threads"], 0),
                     f"num_threads must be an integer >= 0 (0 = all cores), "
                     f"got {p['num_threads']!r}")
        self.require(_valid_int(p["random_state"], 0, 2**63),
                     f"random_state must be a non-negative integer, got {p['random_state']!r}")

    def _fitted(self) -> None:
        self.require(self.n_items > 0, "the model is not fitted yet")

    def fold_in(self, history: sp.csr_matrix) -> _Baseline:
        """This model for the (new) users of ``history``; their history does not change the
        scores (the same popularity list; random rows fixed by row number)."""
        self._fitted()
        folded = copy.copy(self)
        folded._n_users = history.shape[0]
        return folded


class Popularity(_Baseline):
    """Ranks items by how many train users interacted with them, the same list for every user.

    The score of item ``i`` is the fraction of train users who interacted with it: the best
    constant-per-item predictor of the 0/1 matrix, so its MSE is a meaningful floor too (the ranking
    is the one of raw counts). ``num_threads`` and ``random_state`` are accepted and unused.
    """

    name = "popularity"
    capabilities: ClassVar[Capabilities] = Capabilities(factors=True, fold_in=True)

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Count each item's train users; ``item_features`` and ``epochs`` are ignored."""
        train = self.check_train(train, item_features)
        counts = np.bincount(train.indices[train.data > 0], minlength=train.shape[1])
        self._n_users = train.shape[0]
        self._popularity = (counts / train.shape[0]).astype(np.float32)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """The popularity row, repeated for each of ``users`` (float32)."""
        self._fitted()
        return np.tile(self._popularity, (len(users), 1))

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """A column of ones for the users and the popularity column for the items."""
        self._fitted()
        return np.ones((self._n_users, 1), np.float32), self._popularity[:, None].copy()


class Random(_Baseline):
    """Uniform random scores in [0, 1), fixed per (``random_state``, user).

    Each user's row comes from its own generator seeded with ``(random_state, user)``, so a user's
    scores do not depend on how users are batched or ordered. ``num_threads`` is unused.
    """

    name = "random"

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Only records the number of items; ``item_features`` and ``epochs`` are ignored."""
        self.check_train(train, item_features)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """``len(users) x n_items`` float32 uniform scores, each row fixed by its user id."""
        self._fitted()
        seed = self.params["random_state"]
        out = np.empty((len(users), self.n_items), np.float32)
        for row, user in enumerate(np.asarray(users, dtype=np.int64)):
            np.random.default_rng([seed, int(user)]).random(out=out[row], dtype=np.float32)
        return out
