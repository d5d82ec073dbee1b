"""`implicit-als`: WRMF trained by implicit 0.7's alternating least squares.

How implicit 0.7 applies ``alpha`` (``implicit/cpu/als.py``, ``fit``): it multiplies the matrix it
is given by ``alpha`` (when ``alpha != 1``) and then uses each stored value directly as the
confidence ``c_ui`` of a positive (``p_ui = 1``), while unstored cells get ``c = 1, p = 0``. So implicit's
confidence is ``c = alpha * d``, not the study's ``c = 1 + alpha * d``; with implicit's default
``alpha=1`` a single like (``d = 1``) weighs no more than a missing one. implicit's GPU ``fit`` does
not apply ``alpha`` at all.

This adapter therefore hands implicit the matrix ``1 + alpha * d`` (see
:func:`recsys_bench.models.numpy_als.confidence`) with implicit's own ``alpha`` left at 1: the
harness's ``alpha`` is the study's alpha on CPU and GPU alike, and the fit agrees with ``numpy-als``
(tested).

Continued training: implicit's ``fit`` draws random factors only when ``user_factors`` /
``item_factors`` are None and otherwise starts from the stored ones, and the state of ALS is the
factors alone; :meth:`ImplicitALS.fit_more` therefore sets ``iterations`` and calls ``fit`` again,
which equals training longer.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import implicit.cpu.als
import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models._als import check_als_params, confidence
from recsys_bench.models.base import FactorModel, check_epochs
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import pinned_blas


def cuda_available() -> bool:
    """True when implicit was built with CUDA and a GPU is usable."""
    try:
        from implicit.gpu import HAS_CUDA
    except ImportError:
        return False
    return bool(HAS_CUDA)


class ImplicitALS(FactorModel):
    """implicit's ``AlternatingLeastSquares`` behind the harness protocol.

    Parameters
    ----------
    factors : int
        Latent dimension (>= 1).
    regularization : float
        lambda (>= 0), on users and items alike.
    alpha : float
        The study's confidence slope: ``c = 1 + alpha * d`` (see the module docstring).
    iterations : int
        Epochs of a :meth:`fit`; alias ``epochs``.
    use_cg : bool
        Conjugate gradient (3 steps per sweep) instead of exact Cholesky solves.
    use_native : bool
        implicit's Cython solvers (False: its pure-Python ones, very slow).
    calculate_training_loss : bool
        Let implicit compute (and log) its training loss each epoch.
    num_threads : int
        implicit's threads (0 = all cores); BLAS is pinned to one thread during fits.
    random_state : int or None
        Seed of the initial factors.
    use_gpu : bool
        Fit with ``implicit.gpu`` (CG only); only when given explicitly, and an error when CUDA
        is not available.
    """

    name: ClassVar[str] = "implicit-als"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15, "use_cg": True,
        "use_native": True, "calculate_training_loss": False, "num_threads": 0,
        "random_state": 0, "use_gpu": False,
    }
    aliases: ClassVar[dict[str, str]] = {"epochs": "iterations"}
    capabilities: ClassVar[Capabilities] = Capabilities(continues=True, factors=True,
                                                        item_vectors=True,
                                                        fold_in=True)

    @classmethod
    def estimate_memory(cls, n_users: int, n_items: int, nnz: int, params: dict) -> int:
        """Peak bytes of a fit (the scheduler's estimate): the float32 train copy, its
        confidence weights and implicit's item x user transpose (CSR, 8 bytes a like each) with
        one conversion temporary, and the float32 user and item factors twice (the fit's and a
        re-fit's during a warm-up)."""
        factors = params.get("factors", cls.defaults["factors"])
        return 4 * 8 * nnz + 4 * 4 * (n_users + n_items) + 2 * 4 * factors * (n_users + n_items)

    def validate(self) -> None:
        check_als_params(self)
        for key in ("use_cg", "use_native", "calculate_training_loss", "use_gpu"):
            self.require(isinstance(self.params[key], (bool, np.bool_)),
                         f"{key} must be true or false, got {self.params[key]!r}")
        if self.params["use_gpu"]:
            self.require(cuda_available(), "use_gpu=True but implicit has no usable CUDA "
                         "(implicit.gpu.HAS_CUDA is False); drop use_gpu to fit on the CPU")
            self.require(self.params["use_cg"], "implicit's GPU ALS has only the CG solver; "
                         "use_cg=False needs use_gpu=False")

    def _new_model(self):
        p = self.params
        if p["use_gpu"]:
            from implicit.gpu.als import AlternatingLeastSquares as GpuALS
            return GpuALS(
                factors=p["factors"], regularization=p["regularization"], alpha=1.0,
                iterations=p["iterations"], calculate_training_loss=p["calculate_training_loss"],
                random_state=p["random_state"])
        return implicit.cpu.als.AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"], alpha=1.0,
            use_native=p["use_native"], use_cg=p["use_cg"], iterations=p["iterations"],
            calculate_training_loss=p["calculate_training_loss"], num_threads=p["num_threads"],
            random_state=p["random_state"])

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None,
            init: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Train from scratch (item features are ignored: WRMF does not use them).

        Parameters
        ----------
        init : (users x f, items x f) arrays, optional
            Start from these factors instead of implicit's seeded random ones (oracle tests).
        """
        train = self.check_train(train, item_features)
        epochs = check_epochs(self, self.params["iterations"] if epochs is None else epochs)
        self._conf = confidence(train, self.params["alpha"])
        with pinned_blas(1):
            self._model = self._new_model()
        if init is not None:
            f = self.params["factors"]
            if init[0].shape != (train.shape[0], f) or init[1].shape != (train.shape[1], f):
                raise UserError(f"{self.name}: init factors must be {train.shape[0]} x {f} and "
                                f"{train.shape[1]} x {f}")
            users, items = (np.array(a, dtype=np.float32) for a in init)
            if self.params["use_gpu"]:
                from implicit.gpu import Matrix
                users, items = Matrix(users), Matrix(items)
            self._model.user_factors, self._model.item_factors = users, items
        self.epochs_done = 0
        self._run(epochs)

    def _is_fitted(self) -> bool:
        return getattr(self, "_model", None) is not None

    def _continue(self, epochs: int) -> None:
        self._run(epochs)

    def _run(self, epochs: int) -> None:
        if epochs > 0 or self._model.user_factors is None:
            self._model.iterations = epochs
            with pinned_blas(1):
                self._model.fit(self._conf, show_progress=False)
        self.epochs_done += epochs
        if self.params["use_gpu"]:
            self.user_factors = self._model.user_factors.to_numpy()
            self.item_factors = self._model.item_factors.to_numpy()
        else:
            self.user_factors = self._model.user_factors
            self.item_factors = self._model.item_factors

    def fold_in(self, history: sp.csr_matrix) -> ImplicitALS:
        """This model for the (new) users of ``history``: implicit's ``recalculate_user`` (exact
        Cholesky solves against the fixed item factors) on the confidences ``1 + alpha * d``."""
        model = self._model.to_cpu() if self.params["use_gpu"] else self._model
        with pinned_blas(1):
            users = model.recalculate_user(np.arange(history.shape[0]),
                                           confidence(history, self.params["alpha"]))
        folded = copy.copy(self)
        folded.user_factors = np.asarray(users, dtype=np.float32).reshape(history.shape[0], -1)
        return folded
