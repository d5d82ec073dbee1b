"""`item-knn`: item-item nearest neighbours from implicit (cosine or BM25 weighting).

implicit builds a sparse items x items similarity keeping each item's ``K`` most similar items
(itself included): cosine of the L2-normalised item columns, or the dot product of BM25-weighted
columns (``K1``, ``B``). A user's score for item ``j`` is ``sum_i d_ui * sim[i, j]`` over the user's
train items: ``scores = train[users] @ similarity``, exactly what implicit's own scorer computes,
produced here as dense blocks so the harness's one top-k routine ranks them.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning

from recsys_bench.models.base import BaseRecommender, is_int, is_number
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import pinned_blas


class ItemKNN(BaseRecommender):
    """Item-item kNN (implicit's ``CosineRecommender`` / ``BM25Recommender``).

    Parameters
    ----------
    similarity : {"cosine", "bm25"}
        Column weighting before the item-item dot products.
    K : int
        Neighbours kept per item (>= 1).
    K1, B : float
        BM25 term-frequency saturation (>= 0) and length normalisation (in [0, 1]); used with
        ``similarity="bm25"`` only.
    num_threads : int
        implicit's threads for the similarity computation (0 = all cores).
    """

    name: ClassVar[str] = "item-knn"
    capabilities: ClassVar[Capabilities] = Capabilities(fold_in=True)
    defaults: ClassVar[dict[str, Any]] = {
        "similarity": "cosine", "K": 100, "K1": 1.2, "B": 0.75, "num_threads": 0,
    }

    def validate(self) -> None:
        p = self.params
        self.require(p["similarity"] in ("cosine", "bm25"),
                     f"similarity must be 'cosine' or 'bm25', got {p['similarity']!r}")
        self.require(is_int(p["K"]) and p["K"] >= 1, f"K must be an integer >= 1, got {p['K']!r}")
        self.require(is_number(p["K1"]) and p["K1"] >= 0,
                     f"K1 must be a finite number >= 0, got {p['K1']!r}")
        self.require(is_number(p["B"]) and 0 <= p["B"] <= 1,
                     f"B must be a number in [0, 1], got {p['B']!r}")
        self.require(is_int(p["num_threads"]) and p["num_threads"] >= 0,
                     f"num_threads must be an integer >= 0 (0 = all cores), "
                     f"got {p['num_threads']!r}")

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Compute the similarity matrix (no epochs: ``epochs`` and item features are ignored)."""
        train = self.check_train(train, item_features)
        p = self.params
        if p["similarity"] == "cosine":
            model = CosineRecommender(K=p["K"], num_threads=p["num_threads"])
        else:
            model = BM25Recommender(K=p["K"], K1=p["K1"], B=p["B"], num_threads=p["num_threads"])
        with pinned_blas(1), warnings.catch_warnings():
            # implicit 0.7 passes its own re-weighted COO matrix on and then warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(train, show_progress=False)
        self.similarity = model.similarity.astype(np.float32).tocsr()
        self._train = train

    def fold_in(self, history: sp.csr_matrix) -> ItemKNN:
        """This model for the (new) users of ``history``: scores from their given rows."""
        folded = copy.copy(self)
        folded._train = history
        return folded

    def scores(self, users: np.ndarray) -> np.ndarray:
        return (self._train[users] @ self.similarity).toarray().astype(np.float32, copy=False)
