"""`Interactions`: the one in-memory form of a data set that every loader returns."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class SourceFile:
    """A file a data set was read from, identified by content so changed data is never mistaken
    for the same data.

    Attributes
    ----------
    name : str
        The file's name (no folder: the same data moved elsewhere stays the same).
    size : int
        Bytes.
    sha256 : str
        Hex digest of the bytes.
    """

    name: str
    size: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike, chunk: int = 1 << 22) -> SourceFile:
        """Size and sha256 of the file at ``path`` (read in chunks, any size)."""
        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
        return cls(name=path.name, size=path.stat().st_size, sha256=digest.hexdigest())

    def as_dict(self) -> dict:
        """Plain form for JSON (``splits/<label>.json``, ``run.json``)."""
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


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
    sources : tuple of SourceFile
        The files read (empty for generated data), for recording with a run.
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
    sources: tuple[SourceFile, ...] = ()

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
