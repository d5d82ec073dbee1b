"""`implicit-bpr` and `implicit-lmf`: implicit 0.7's sampled SGD models on the CPU.

- BPR (Rendle et al. 2009): pairwise ranking, one sampled (liked, not-liked) item pair per train
  interaction each epoch; ``implicit.cpu.bpr``.
- LMF (Johnson 2014, "Logistic Matrix Factorization for Implicit Feedback Data"): a logistic
  model of "liked", Adagrad updates of users then items each epoch, ``neg_prop`` sampled
  negatives per positive; ``implicit.cpu.lmf``.

Continued training. implicit's ``fit`` keeps the stored factors but draws fresh seeds for its
per-thread samplers on every call, and LMF's Adagrad sums live only inside one call, so calling
``fit`` again is not the same as training longer. These adapters therefore run implicit's own
epoch kernels (``bpr_update``, ``lmf_update``, with its ``RNGVector`` samplers) and keep the
whole training state between calls: factors, samplers and Adagrad sums. :meth:`fit` initialises
exactly as implicit's ``fit`` does, so ``fit(n)`` equals implicit's ``fit`` with
``iterations=n`` bit for bit on one thread, and ``fit(2) + fit_more(3)`` equals ``fit(5)``
(both tested).

Threads: the samplers are per thread, so the scores depend on ``num_threads``; BPR's threads also
update shared item factors without locks (Hogwild), so with more than one thread two BPR fits
differ. Results meant to be reproduced use ``num_threads=1``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import implicit.cpu.bpr as _bpr
import implicit.cpu.lmf as _lmf
import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import TrainingDiverged
from recsys_bench.models.base import FactorModel, check_epochs, is_int, is_number
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import resolve_threads

_CAPABILITIES = Capabilities(continues=True, factors=True, item_vectors=True,
                             deterministic_threads=False)


class _ImplicitSGD(FactorModel):
    """Shared parameter checks, state keeping and fit/fit_more of the two SGD adapters.

    A subclass sets ``_n_extra`` (bias columns implicit appends to the factors) and implements
    :meth:`_init_state` and :meth:`_epoch`.
    """

    aliases: ClassVar[dict[str, str]] = {"epochs": "iterations"}
    capabilities: ClassVar[Capabilities] = _CAPABILITIES
    _n_extra: ClassVar[int] = 0

    def validate(self) -> None:
        p = self.params
        self.require(is_int(p["factors"]) and p["factors"] >= 1,
                     f"factors must be an integer >= 1, got {p['factors']!r}")
        self.require(is_number(p["learning_rate"]) and p["learning_rate"] > 0,
                     f"learning_rate must be a finite number > 0, got {p['learning_rate']!r}")
        self.require(is_number(p["regularization"]) and p["regularization"] >= 0,
                     f"regularization must be a finite number >= 0, got {p['regularization']!r}")
        self.require(is_int(p["iterations"]) and p["iterations"] >= 1,
                     f"iterations must be an integer >= 1, got {p['iterations']!r}")
        self.require(is_int(p["num_threads"]) and p["num_threads"] >= 0,
                     f"num_threads must be an integer >= 0 (0 = all cores), "
                     f"got {p['num_threads']!r}")
        self.require(p["random_state"] is None or (is_int(p["random_state"])
                                                   and p["random_state"] >= 0),
                     f"random_state must be an integer >= 0 or None, got {p['random_state']!r}")

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Train from scratch on ``train`` (item features are ignored)."""
        train = self.check_train(train, item_features).copy()
        train.eliminate_zeros()
        epochs = check_epochs(self, self.params["iterations"] if epochs is None else epochs)
        self._threads = resolve_threads(self.params["num_threads"])
        self._train = train
        rs = np.random.default_rng(self.params["random_state"])
        self._init_state(train, rs)
        self._sampler = self._rng_vector(self._threads, len(train.data) - 1,
                                         rs.integers(0, 2**31, size=self._threads, dtype="long"))
        self.epochs_done = 0
        self._run(epochs)

    def _is_fitted(self) -> bool:
        return getattr(self, "_train", None) is not None

    def _continue(self, epochs: int) -> None:
        self._run(epochs)

    def _run(self, epochs: int) -> None:
        for _ in range(epochs):
            self._epoch()
        if not (np.isfinite(self._users).all() and np.isfinite(self._items).all()):
            self._train = None
            self.user_factors = self.item_factors = None
            raise TrainingDiverged(f"{self.name}: training diverged (factors not finite) with "
                                   f"learning_rate={self.params['learning_rate']}; lower it")
        self.epochs_done += epochs
        self.user_factors, self.item_factors = self._users, self._items

    def item_vectors(self) -> np.ndarray | None:
        """The item factors without implicit's bias columns."""
        self._require_factors()
        return self.item_factors[:, :self.params["factors"]]


class ImplicitBPR(_ImplicitSGD):
    """implicit's ``BayesianPersonalizedRanking`` (CPU) behind the harness protocol.

    Parameters
    ----------
    factors : int
        Latent dimension (>= 1); implicit adds one item-bias column.
    learning_rate : float
        SGD step (> 0).
    regularization : float
        L2 penalty (>= 0) in every update.
    iterations : int
        Epochs of a :meth:`fit` (one sampled pair per train interaction each); alias ``epochs``.
    verify_negative_samples : bool
        Skip sampled "negatives" the user has in fact liked.
    num_threads : int
        Threads (0 = all cores); more than one is not reproducible (Hogwild).
    random_state : int or None
        Seed of the initial factors and the samplers.
    """

    name: ClassVar[str] = "implicit-bpr"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 100, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100,
        "verify_negative_samples": True, "num_threads": 0, "random_state": 0,
    }
    _rng_vector = staticmethod(_bpr.RNGVector)

    def validate(self) -> None:
        super().validate()
        value = self.params["verify_negative_samples"]
        self.require(isinstance(value, (bool, np.bool_)),
                     f"verify_negative_samples must be true or false, got {value!r}")

    def _init_state(self, train: sp.csr_matrix, rs: np.random.Generator) -> None:
        users, items = train.shape
        f = self.params["factors"]
        self._items = (rs.random((items, f + 1), dtype=np.float32) - 0.5) / np.float32(f)
        self._items[np.bincount(train.indices, minlength=items) == 0] = 0.0
        self._users = (rs.random((users, f + 1), dtype=np.float32) - 0.5) / np.float32(f)
        counts = np.diff(train.indptr)
        self._users[counts == 0] = 0.0
        self._users[:, f] = 1.0
        self._user_ids = np.repeat(np.arange(users), counts).astype(train.indices.dtype)

    def _epoch(self) -> None:
        p, train = self.params, self._train
        _bpr.bpr_update(self._sampler, self._user_ids, train.indices, train.indptr, self._users,
                        self._items, p["learning_rate"], p["regularization"], self._threads,
                        bool(p["verify_negative_samples"]))


class ImplicitLMF(_ImplicitSGD):
    """implicit's ``LogisticMatrixFactorization`` (CPU) behind the harness protocol.

    Parameters
    ----------
    factors : int
        Latent dimension (>= 1); implicit adds a user-bias and an item-bias column.
    learning_rate : float
        Adagrad step (> 0).
    regularization : float
        L2 penalty (>= 0).
    iterations : int
        Epochs of a :meth:`fit` (users, then items); alias ``epochs``.
    neg_prop : int
        Sampled negatives per positive (>= 1).
    num_threads : int
        Threads (0 = all cores); scores depend on the count (per-thread samplers).
    random_state : int or None
        Seed of the initial factors and the samplers.

    The train values are the confidences ``c_ui`` of the positives (counts are not binarised).
    """

    name: ClassVar[str] = "implicit-lmf"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 30, "learning_rate": 1.0, "regularization": 0.6, "iterations": 30,
        "neg_prop": 30, "num_threads": 0, "random_state": 0,
    }
    _rng_vector = staticmethod(_lmf.RNGVector)

    def validate(self) -> None:
        super().validate()
        self.require(is_int(self.params["neg_prop"]) and self.params["neg_prop"] >= 1,
                     f"neg_prop must be an integer >= 1, got {self.params['neg_prop']!r}")

    def _init_state(self, train: sp.csr_matrix, rs: np.random.Generator) -> None:
        users, items = train.shape
        f = self.params["factors"]
        self._item_users = train.T.tocsr()
        self._item_users.sort_indices()
        self._items = rs.standard_normal(size=(items, f + 2), dtype=np.float32)
        self._items[:, -1] = 1.0
        self._items[np.bincount(train.indices, minlength=items) == 0] = 0.0
        self._users = rs.standard_normal(size=(users, f + 2), dtype=np.float32)
        self._users[:, -2] = 1.0
        self._users[np.diff(train.indptr) == 0] = 0.0
        self._user_sums = np.zeros((users, f + 2), np.float32)
        self._item_sums = np.zeros((items, f + 2), np.float32)

    def _epoch(self) -> None:
        p, train, item_users = self.params, self._train, self._item_users
        _lmf.lmf_update(self._sampler, self._user_sums, self._users, self._items, train.indices,
                        train.indptr, train.data, p["learning_rate"], p["regularization"],
                        p["neg_prop"], self._threads)
        self._users[:, -2] = 1.0
        _lmf.lmf_update(self._sampler, self._item_sums, self._items, self._users,
                        item_users.indices, item_users.indptr, item_users.data,
                        p["learning_rate"], p["regularization"], p["neg_prop"], self._threads)
        self._items[:, -1] = 1.0
