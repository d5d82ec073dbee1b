r"""`numpy-als`: weighted regularised matrix factorisation (WRMF) in plain NumPy/SciPy.

The reference implementation: written from the formulas, readable, and the correctness oracle for
``implicit-als``.

The model (Hu, Koren & Volinsky 2008) minimises, over the WHOLE users x items matrix,

.. math::

    L(X, Y) = \sum_{u,i} c_{ui} (p_{ui} - x_u^T y_i)^2
              + \lambda \Big(\sum_u \|x_u\|^2 + \sum_i \|y_i\|^2\Big),
    \qquad p_{ui} = [d_{ui} > 0], \qquad c_{ui} = 1 + \alpha d_{ui},

where :math:`d_{ui}` is the interaction count in the train matrix. Unobserved cells have
:math:`p = 0, c = 1`: weak negatives. With :math:`Y` fixed, :math:`L` is quadratic in each
:math:`x_u` and the minimiser solves the normal equations

.. math::

    \big(Y^T C_u Y + \lambda I\big)\, x_u = Y^T C_u p_u,
    \qquad Y^T C_u Y = Y^T Y + Y^T (C_u - I) Y,

with :math:`C_u = \mathrm{diag}(c_{u\cdot})`. :math:`Y^T Y` is shared by all users and
:math:`C_u - I` is zero outside the user's own items, so one user costs
:math:`O(n_u f^2 + f^3)` instead of :math:`O(n_{items} f^2)`. The right-hand side is
:math:`Y^T C_u p_u = \sum_{i \in I_u} c_{ui} y_i`. One epoch solves every user given the items, then
every item given the users (the same order as implicit).

Two solvers:

``solver="exact"``
    Builds every :math:`A_u` (users in chunks: the outer products :math:`(c_{ui}-1) y_i y_i^T` are
    summed per user by one sparse product) and solves the stacked systems with
    ``numpy.linalg.solve``, in float64. The oracle.
``solver="cg"``
    A few conjugate-gradient steps per sweep for all users at once, warm-started from the current
    factors (Takács et al. 2011, as in implicit). The product :math:`A_u p_u` for every user is
    :math:`P (Y^T Y + \lambda I) + W Y` with :math:`W` sparse,
    :math:`W_{ui} = (c_{ui} - 1)\, y_i^T p_u` on the user's items: a gather, a row-wise dot and one
    sparse-dense product, no per-user Python loop. float32, like implicit.

Rows are independent given the other side, so ``num_threads`` worker threads each solve a block of
rows (of about equal nnz); with a fixed thread count the result is deterministic.

Initialisation follows implicit 0.7 on the CPU: ``rng = numpy.random.default_rng(random_state)``,
user factors ``rng.random((users, f), float32) * 0.01``, then item factors the same way; with the
same seed both start from identical factors.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models._als import check_als_params, confidence
from recsys_bench.models.base import FactorModel, check_epochs, is_int
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import pinned_blas, resolve_threads

# Bytes of outer products the exact solver materialises at once.
_EXACT_CHUNK_BYTES = 64 << 20


def initial_factors(n_users: int, n_items: int, factors: int, random_state: int | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Random start, drawn exactly as implicit 0.7 (CPU) draws it."""
    rng = np.random.default_rng(random_state)
    users = rng.random((n_users, factors), dtype=np.float32) * 0.01
    items = rng.random((n_items, factors), dtype=np.float32) * 0.01
    return users, items


def _row_chunks(indptr: np.ndarray, max_nnz: int, max_rows: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges holding at most ``max_nnz`` entries and ``max_rows`` rows each
    (a single longer row gets a range of its own)."""
    n_rows = len(indptr) - 1
    start = 0
    while start < n_rows:
        stop = int(np.searchsorted(indptr, indptr[start] + max_nnz, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n_rows)
        yield start, stop
        start = stop


@dataclass(frozen=True)
class RowBlock:
    """Rows ``start:stop`` of a confidence matrix, solved by one worker thread."""

    start: int
    stop: int
    conf: sp.csr_matrix
    rows: np.ndarray  # block-local row of each stored entry


def row_blocks(conf: sp.csr_matrix, n: int) -> list[RowBlock]:
    """Split ``conf`` into at most ``n`` consecutive row blocks of about equal nnz."""
    cuts = np.searchsorted(conf.indptr, np.linspace(0, conf.nnz, n + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [conf.shape[0]]]))
    blocks = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        block = conf[start:stop]
        rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        blocks.append(RowBlock(int(start), int(stop), block, rows))
    return blocks


def solve_exact(conf: sp.csr_matrix, fixed: np.ndarray, regularization: float) -> np.ndarray:
    """Exact least squares for every row of ``conf`` given the other side's factors ``fixed``.

    Parameters
    ----------
    conf : scipy.sparse.csr_matrix
        Rows x columns confidences ``c`` on the observed cells (``p = 1`` there).
    fixed : numpy.ndarray
        Columns x f factors held fixed.
    regularization : float
        lambda.

    Returns
    -------
    numpy.ndarray
        Rows x f float64: ``x_r = (F^T F + F^T (C_r - I) F + lambda I)^-1 F^T C_r p_r``.
    """
    fixed = np.asarray(fixed, dtype=np.float64)
    f = fixed.shape[1]
    base = fixed.T @ fixed + regularization * np.eye(f)
    rhs = conf @ fixed
    out = np.empty((conf.shape[0], f))
    budget = max(1, _EXACT_CHUNK_BYTES // (8 * f * f))
    for start, stop in _row_chunks(conf.indptr, budget, budget):
        block = conf[start:stop]
        gathered = fixed[block.indices]
        outer = (gathered * (block.data - 1.0)[:, None])[:, :, None] * gathered[:, None, :]
        per_row = sp.csr_matrix((np.ones(block.nnz), np.arange(block.nnz), block.indptr),
                                shape=(stop - start, block.nnz))
        lhs = (per_row @ outer.reshape(block.nnz, f * f)).reshape(-1, f, f) + base
        out[start:stop] = np.linalg.solve(lhs, rhs[start:stop, :, None])[:, :, 0]
    return out


def solve_cg(conf: sp.csr_matrix, rows: np.ndarray, current: np.ndarray, fixed: np.ndarray,
             regularization: float, steps: int) -> None:
    """``steps`` conjugate-gradient steps on every row's normal equations, in place.

    Mirrors implicit's ``least_squares_cg`` row for row (start from ``current``; rows whose squared
    residual drops below 1e-20 stop), but runs all rows at once.

    Parameters
    ----------
    conf : scipy.sparse.csr_matrix
        Rows x columns confidences (float32).
    rows : numpy.ndarray
        Row index of each stored entry of ``conf`` (``repeat(arange, diff(indptr))``).
    current : numpy.ndarray
        Rows x f float32 factors, updated in place.
    fixed : numpy.ndarray
        Columns x f float32 factors held fixed.
    regularization : float
        lambda.
    steps : int
        Number of CG steps.
    """
    f = fixed.shape[1]
    gram = fixed.T @ fixed + np.float32(regularization) * np.eye(f, dtype=np.float32)
    gathered = np.take(fixed, conf.indices, axis=0)
    excess = conf.data - np.float32(1.0)

    def product(direction: np.ndarray) -> np.ndarray:
        along = np.einsum("ij,ij->i", gathered, np.take(direction, rows, axis=0))
        weights = sp.csr_matrix((excess * along, conf.indices, conf.indptr), shape=conf.shape)
        return direction @ gram + weights @ fixed

    residual = conf @ fixed - product(current)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    active = rs_old >= 1e-20
    for _ in range(steps):
        if not active.any():
            break
        moved = product(direction)
        curvature = np.einsum("ij,ij->i", direction, moved)
        step = np.zeros_like(rs_old)
        np.divide(rs_old, curvature, out=step, where=active)
        current += step[:, None] * direction
        residual -= step[:, None] * moved
        rs_new = np.einsum("ij,ij->i", residual, residual)
        active &= rs_new >= 1e-20
        ratio = np.zeros_like(rs_old)
        np.divide(rs_new, rs_old, out=ratio, where=active)
        direction = np.where(active[:, None], residual + ratio[:, None] * direction, direction)
        rs_old = rs_new


def wrmf_loss(conf: sp.csr_matrix, users: np.ndarray, items: np.ndarray,
              regularization: float) -> float:
    """The full-matrix WRMF loss ``L(X, Y)`` without forming the users x items matrix.

    ``sum_{u,i} c (p - s)^2 = sum_{all} s^2 + sum_{observed} [c (1 - s)^2 - s^2]`` with
    ``sum_{all} s^2 = <X^T X, Y^T Y>``; the observed scores come from row-wise dots. float64.
    """
    x = np.asarray(users, dtype=np.float64)
    y = np.asarray(items, dtype=np.float64)
    coo = conf.tocoo()
    total = float(np.sum((x.T @ x) * (y.T @ y)))
    step = 1 << 18
    for start in range(0, coo.nnz, step):
        r = coo.row[start:start + step]
        c = coo.col[start:start + step]
        s = np.einsum("ij,ij->i", x[r], y[c])
        total += float(np.sum(coo.data[start:start + step] * (1.0 - s) ** 2 - s ** 2))
    return total + regularization * (float(np.sum(x * x)) + float(np.sum(y * y)))


class NumpyALS(FactorModel):
    """Reference WRMF-ALS in NumPy/SciPy (see the module docstring for the math).

    Parameters
    ----------
    factors : int
        Latent dimension f (>= 1).
    regularization : float
        lambda (>= 0), the same for users and items and not scaled by counts, as in implicit.
    alpha : float
        Confidence slope: ``c = 1 + alpha * d`` (the study's alpha).
    iterations : int
        Epochs of a :meth:`fit` (one epoch = users, then items); alias ``epochs``.
    solver : {"exact", "cg"}
        Exact normal equations in float64, or ``cg_steps`` conjugate-gradient steps in float32.
    cg_steps : int
        CG steps per sweep (implicit uses 3).
    num_threads : int
        Worker threads during fits (0 = all cores): each sweep splits the rows into this many
        blocks of about equal nnz and solves them concurrently (NumPy and SciPy's sparse products
        release the GIL). BLAS is pinned to one thread meanwhile: its work here is the small
        f x f Gram products, which a multi-threaded BLAS made up to 100x slower on 2 cores.
    random_state : int or None
        Seed of the initial factors.
    """

    name: ClassVar[str] = "numpy-als"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15,
        "solver": "exact", "cg_steps": 3, "num_threads": 0, "random_state": 0,
    }
    aliases: ClassVar[dict[str, str]] = {"epochs": "iterations"}
    capabilities: ClassVar[Capabilities] = Capabilities(continues=True, factors=True,
                                                        item_vectors=True, fold_in=True)

    def validate(self) -> None:
        check_als_params(self)
        self.require(self.params["solver"] in ("exact", "cg"),
                     f"solver must be 'exact' or 'cg', got {self.params['solver']!r}")
        self.require(is_int(self.params["cg_steps"]) and self.params["cg_steps"] >= 1,
                     f"cg_steps must be an integer >= 1, got {self.params['cg_steps']!r}")

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None,
            init: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Train from scratch (item features are ignored: WRMF does not use them).

        Parameters
        ----------
        init : (users x f, items x f) arrays, optional
            Start from these factors instead of the seeded random ones (for oracle tests).
        """
        train = self.check_train(train, item_features)
        epochs = check_epochs(self, self.params["iterations"] if epochs is None else epochs)
        f = self.params["factors"]
        if init is None:
            init = initial_factors(train.shape[0], train.shape[1], f, self.params["random_state"])
        user_factors, item_factors = (np.asarray(a) for a in init)
        if user_factors.shape != (train.shape[0], f) or item_factors.shape != (train.shape[1], f):
            raise UserError(f"{self.name}: init factors must be {train.shape[0]} x {f} and "
                            f"{train.shape[1]} x {f}")
        dtype = np.float64 if self.params["solver"] == "exact" else np.float32
        self.user_factors = np.array(user_factors, dtype=dtype)
        self.item_factors = np.array(item_factors, dtype=dtype)
        self._conf = confidence(train, self.params["alpha"])
        threads = resolve_threads(self.params["num_threads"])
        self._sides = (row_blocks(self._conf, threads), row_blocks(self._conf.T.tocsr(), threads))
        self.epochs_done = 0
        self._run(epochs)

    def _is_fitted(self) -> bool:
        return getattr(self, "_conf", None) is not None

    def _continue(self, epochs: int) -> None:
        self._run(epochs)

    def _run(self, epochs: int) -> None:
        users, items = self._sides
        with pinned_blas(1), ThreadPoolExecutor(len(users)) as pool:
            for _ in range(epochs):
                self.user_factors = self._sweep(pool, users, self.user_factors, self.item_factors)
                self.item_factors = self._sweep(pool, items, self.item_factors, self.user_factors)
                self.epochs_done += 1

    def _sweep(self, pool: ThreadPoolExecutor, blocks: list[RowBlock], current: np.ndarray,
               fixed: np.ndarray) -> np.ndarray:
        """New factors for one side, its row blocks solved in parallel."""
        reg = self.params["regularization"]
        if self.params["solver"] == "exact":
            return np.vstack(list(pool.map(lambda b: solve_exact(b.conf, fixed, reg), blocks)))
        steps = self.params["cg_steps"]
        list(pool.map(lambda b: solve_cg(b.conf, b.rows, current[b.start:b.stop], fixed, reg,
                                         steps), blocks))
        return current

    def fold_in(self, history: sp.csr_matrix) -> NumpyALS:
        """This model for the (new) users of ``history``: their factors solved exactly against
        the fixed item factors (:func:`solve_exact`, whatever the solver), item factors kept."""
        folded = copy.copy(self)
        with pinned_blas(1):
            users = solve_exact(confidence(history, self.params["alpha"]), self.item_factors,
                                self.params["regularization"])
        folded.user_factors = users.astype(self.item_factors.dtype)
        return folded

    def training_loss(self) -> float:
        """The full-matrix loss ``L(X, Y)`` of the current factors on the train data."""
        if getattr(self, "_conf", None) is None:
            raise UserError(f"{self.name}: fit before training_loss")
        return wrmf_loss(self._conf, self.user_factors, self.item_factors,
                         self.params["regularization"])

