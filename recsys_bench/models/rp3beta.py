"""`rp3beta`: the item-item random-walk graph model of Paudel et al. (2016), "Updatable,
Accurate, Diverse, and Scalable Recommendations for Interactive Applications".

A three-step walk user -> item -> user -> item on the bipartite train graph scores item ``j``
from item ``i``; each transition probability is raised to the power ``alpha`` (P3alpha), and the
arrival item's popularity divides the result, raised to ``beta`` (RP3beta), which lifts the
long tail:

    P_ui = rows of train divided by their sums          (user -> item)
    P_iu = rows of binary train^T divided by their sums (item -> user: each of its users)
    W    = (P_iu ** alpha) @ (P_ui ** alpha) / popularity_j ** beta   (powers elementwise)

keeping each item's ``K`` largest entries (itself included). A user's scores are
``train[users] @ W``. This follows the reference implementation of the reproducibility study of
Ferrari Dacrema et al. (2019), where RP3beta is among the strongest simple baselines.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_bench.models.base import BaseRecommender, is_int, is_number

_BLOCK_CELLS = 1 << 24


def _row_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def top_k_rows(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest positive entries of each row of a dense block: ``(rows, columns,
    values)``."""
    if k < block.shape[1]:
        keep = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        keep = np.broadcast_to(np.arange(block.shape[1]), block.shape)
    values = np.take_along_axis(block, keep, axis=1)
    rows = np.broadcast_to(np.arange(block.shape[0])[:, None], keep.shape)
    nonzero = values > 0
    return rows[nonzero], keep[nonzero], values[nonzero]


class RP3beta(BaseRecommender):
    """RP3beta item-item graph model.

    Parameters
    ----------
    alpha : float
        Power of every transition probability (>= 0; 1 = the plain random walk).
    beta : float
        Power of the arrival item's popularity that divides its score (>= 0; 0 = P3alpha).
    K : int
        Neighbours kept per item (>= 1).
    """

    name: ClassVar[str] = "rp3beta"
    defaults: ClassVar[dict[str, Any]] = {"alpha": 1.0, "beta": 0.6, "K": 100}

    def validate(self) -> None:
        p = self.params
        self.require(is_number(p["alpha"]) and p["alpha"] >= 0,
                     f"alpha must be a finite number >= 0, got {p['alpha']!r}")
        self.require(is_number(p["beta"]) and p["beta"] >= 0,
                     f"beta must be a finite number >= 0, got {p['beta']!r}")
        self.require(is_int(p["K"]) and p["K"] >= 1, f"K must be an integer >= 1, got {p['K']!r}")

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Build the item-item matrix (no epochs: ``epochs`` and item features are ignored)."""
        train = self.check_train(train, item_features).copy()
        train.eliminate_zeros()
        alpha, beta, k = self.params["alpha"], self.params["beta"], self.params["K"]
        binary = train.copy()
        binary.data[:] = 1.0
        user_item = _row_normalised(train.astype(np.float64))
        item_user = _row_normalised(binary.T.tocsr().astype(np.float64))
        user_item.data **= alpha
        item_user.data **= alpha
        popularity = np.asarray(binary.sum(axis=0)).ravel()
        damp = np.divide(1.0, popularity ** beta, out=np.zeros_like(popularity),
                         where=popularity > 0)
        n_items = train.shape[1]
        step = max(1, _BLOCK_CELLS // n_items)
        rows, cols, values = [], [], []
        for start in range(0, n_items, step):
            dense = (item_user[start:start + step] @ user_item).toarray() * damp[None, :]
            r, c, v = top_k_rows(dense, min(k, n_items))
            rows.append(r + start)
            cols.append(c)
            values.append(v)
        self.similarity = sp.csr_matrix(
            (np.concatenate(values).astype(np.float32), (np.concatenate(rows),
                                                         np.concatenate(cols))),
            shape=(n_items, n_items))
        self._train = train

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 ``train[users] @ W``."""
        self.require(getattr(self, "_train", None) is not None, "the model is not fitted yet")
        return (self._train[users] @ self.similarity).toarray().astype(np.float32, copy=False)
