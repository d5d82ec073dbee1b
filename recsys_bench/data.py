"""`Interactions`: the one in-memory form of a data set that every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Interactions:
    """A users x items interaction matrix with its id vocabularies and optional item features.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        float32, users x items; values are interaction counts (1 for a single like).
        Sorted indices, no explicit zeros.
    user_ids, item_ids : numpy.ndarray
        Original ids; position = row / column index of ``matrix``.
    item_names : numpy.ndarray or None
        Display names of the items (object array), where the source has them.
    item_features : scipy.sparse.csr_matrix or None
        float32, items x features one-hot (``category_*`` / ``tag_*``; genres for MovieLens).
        Does not include the identity block: models that want [identity | features] add it.
    feature_names : numpy.ndarray or None
        Names of the columns of ``item_features``.
    timestamps : scipy.sparse.csr_matrix or None
        float64 with the same sparsity as ``matrix``: seconds since the epoch of each interaction
        (the latest one where an interaction repeats), for temporal splits.
    name : str
        The registry name the data was loaded under.
    stats : dict
        Before/after figures of the load: ``users_before``, ``items_before``, ``likes_before``,
        ``duplicates_dropped`` and whatever else the loader reports.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_names: np.ndarray | None = None
    item_features: sp.csr_matrix | None = None
    feature_names: np.ndarray | None = None
    timestamps: sp.csr_matrix | None = None
    name: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    @property
    def density_percent(self) -> float:
        cells = self.n_users * self.n_items
        return 100.0 * self.nnz / cells if cells else 0.0

    def summary(self) -> dict:
        """Before/after statistics as one flat dict (the ``datasets stats --json`` object)."""
        out = dict(self.stats)
        out.update(users=self.n_users, items=self.n_items, likes=self.nnz,
                   density_percent=round(self.density_percent, 6))
        if self.item_features is not None:
            out.update(features=int(self.item_features.shape[1]),
                       feature_nonzeros=int(self.item_features.nnz))
        return out
