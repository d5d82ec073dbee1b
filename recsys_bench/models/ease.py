"""EASE: the closed-form item-item model of Steck (2019), "Embarrassingly Shallow Autoencoders".

EASE learns an items x items weight matrix ``B`` that reconstructs each user's row from the user's
other items:

    min_B |X - X B|_F^2 + lambda |B|_F^2   subject to   diag(B) = 0

whose solution, with ``P = (X^T X + lambda I)^-1``, is

    B = I - P diag(1 / diag(P))      i.e.  B_ij = -P_ij / P_jj  (i != j),  B_jj = 0,

and a user's scores are ``x_u B``. There is nothing to iterate; the cost is one dense
items x items inverse, O(items^3) time and O(items^2) memory, which is why EASE is often the
strongest model on small catalogues and impossible on large ones.

Memory: the Gram matrix is built dense in float64 (8 bytes x items^2) and inverted in place by a
Cholesky factorisation (LAPACK ``potrf``/``potri``); ``B`` is then stored as float32
(4 bytes x items^2). The fit therefore needs about 12 bytes x items^2 (1.2 GB for 10,000 items,
7.5 GB for 25,000) and refuses, before allocating anything, when that exceeds ``max_memory_gb``.
"""

from __future__ import annotations

import copy
import os
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from recsys_bench.errors import UserError
from recsys_bench.models.base import BaseRecommender
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import pinned_blas

_BYTES_PER_CELL = 12
_BLOCK = 2048


def available_memory_bytes() -> int:
    """Memory the system can give without swapping (``MemAvailable``), in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _blocks(n: int):
    return ((start, min(start + _BLOCK, n)) for start in range(0, n, _BLOCK))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class EASE(BaseRecommender):
    """Steck's EASE, fitted in closed form.

    Parameters
    ----------
    regularization : float
        ``lambda`` added to the Gram diagonal (Steck uses a few hundred on binary data).
        0 works only when ``X^T X`` is positive definite.
    max_memory_gb : float or None
        Refuse to fit when the dense items x items matrices need more than this many GB
        (10^9 bytes). None: half of the memory available when ``fit`` runs.
    num_threads : int
        BLAS threads for the factorisation (0 = all cores).
    """

    name = "ease"
    capabilities: ClassVar[Capabilities] = Capabilities(fold_in=True)
    defaults: ClassVar[dict] = {"regularization": 500.0, "max_memory_gb": None, "num_threads": 0}

    def __init__(self, **params):
        super().__init__(**params)
        self._train: sp.csr_matrix | None = None
        self._weights: np.ndarray | None = None

    def validate(self) -> None:
        p = self.params
        self.require(_is_number(p["regularization"]) and 0 <= p["regularization"] < np.inf,
                     f"regularization must be a non-negative number, got {p['regularization']!r}")
        limit = p["max_memory_gb"]
        self.require(limit is None or (_is_number(limit) and 0 < limit < np.inf),
                     f"max_memory_gb must be a positive number or null, got {limit!r}")
        threads = p["num_threads"]
        self.require(isinstance(threads, (int, np.integer)) and not isinstance(threads, bool)
                     and threads >= 0,
                     f"num_threads must be an integer >= 0 (0 = all cores), got {threads!r}")

    @staticmethod
    def memory_needed_gb(n_items: int) -> float:
        """GB (10^9 bytes) the fit needs for ``n_items`` items: a float64 Gram inverted in place
        plus the float32 weights."""
        return _BYTES_PER_CELL * float(n_items) ** 2 / 1e9

    @classmethod
    def estimate_memory(cls, n_users: int, n_items: int, nnz: int, params: dict) -> int:
        """Peak bytes of a fit (the scheduler's estimate): the items x items matrices, the
        float64 train copy and a dense block of scores."""
        return int(cls.memory_needed_gb(n_items) * 1e9) + 12 * nnz + 4 * _BLOCK * n_items

    def check_memory(self, n_items: int) -> None:
        """UserError when fitting ``n_items`` items would not fit in memory (the runner calls
        this optional member of the contract before any trial starts)."""
        limit = self.params["max_memory_gb"]
        source = "max_memory_gb"
        if limit is None:
            limit = available_memory_bytes() / 2 / 1e9
            source = "half of the available memory"
        need = self.memory_needed_gb(n_items)
        if need > limit:
            raise UserError(f"{self.name}: {n_items} items need about {need:.3g} GB for the "
                            f"items x items matrices (12 bytes x items^2), more than the "
                            f"{limit:.3g} GB allowed ({source}); use fewer items or raise "
                            f"max_memory_gb")

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Solve for ``B`` from ``train`` (values used as given); features and epochs are ignored.

        Raises
        ------
        UserError
            When the items x items matrices would not fit in ``max_memory_gb``, or when the
            regularised Gram matrix is singular (``regularization=0`` on degenerate data).
        """
        train = self.check_train(train, item_features)
        self.check_memory(train.shape[1])
        self._weights = None
        with pinned_blas(self.params["num_threads"]):
            self._weights = self._solve(train.astype(np.float64))
        self._train = train

    def _solve(self, x: sp.csr_matrix) -> np.ndarray:
        """``B`` as float32, with the Gram matrix built and inverted in one float64 buffer."""
        n = x.shape[1]
        gram = np.empty((n, n), dtype=np.float64)
        columns = x.tocsc()
        for start, stop in _blocks(n):
            (columns[:, start:stop].T @ x).toarray(out=gram[start:stop])
        gram[np.diag_indices(n)] += self.params["regularization"]

        # gram.T is the same symmetric matrix in Fortran order, so LAPACK works in place; its
        # upper triangle, where the inverse lands, is gram's lower triangle.
        factor, info = lapack.dpotrf(gram.T, lower=False, overwrite_a=True, clean=False)
        if info == 0:
            _, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
        if info != 0:
            raise UserError(f"{self.name}: X^T X + regularization * I is not positive definite; "
                            f"use regularization > 0")
        for start, stop in _blocks(n):
            block = gram[start:stop, start:stop]
            block[:] = np.tril(block) + np.tril(block, -1).T
            gram[start:stop, stop:] = gram[stop:, start:stop].T

        gram /= -np.diag(gram).copy()
        gram[np.diag_indices(n)] = 0.0
        return gram.astype(np.float32)

    def _fitted(self) -> None:
        self.require(self._weights is not None, "the model is not fitted yet")

    def fold_in(self, history: sp.csr_matrix) -> EASE:
        """This model for the (new) users of ``history``: ``x_u B`` from their given rows."""
        self._fitted()
        folded = copy.copy(self)
        folded._train = history
        return folded

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 ``x_u B`` for each of ``users``."""
        self._fitted()
        return np.asarray(self._train[np.asarray(users, dtype=np.int64)] @ self._weights,
                          dtype=np.float32)
