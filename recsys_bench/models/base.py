"""What every adapter shares: parameter handling, the ``fit_more`` rule, and (for factor
models) scores, factors and item vectors written once."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.protocol import Capabilities


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, not for booleans."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """True for finite real numbers, not for booleans."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value)))


def check_epochs(model: BaseRecommender, epochs: int) -> int:
    """``epochs`` as an int >= 0, else ``UserError``."""
    model.require(is_int(epochs) and epochs >= 0,
                  f"epochs must be an integer >= 0, got {epochs!r}")
    return int(epochs)


class BaseRecommender:
    """Parameter checking and protocol defaults that every adapter shares.

    A subclass declares ``name``, ``defaults`` (every accepted parameter with its default),
    optionally ``aliases`` (alternative name -> parameter name) and ``capabilities`` (with
    ``fold_in``, a ``fold_in(history)`` method, see :mod:`recsys_bench.fold_in`), and overrides
    :meth:`validate` for value checks.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    aliases: ClassVar[dict[str, str]] = {}
    capabilities: ClassVar[Capabilities] = Capabilities()
    supports_continue: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.supports_continue = cls.capabilities.continues

    def __init__(self, **params: Any):
        for alias, target in self.aliases.items():
            if alias in params:
                if target in params:
                    raise UserError(f"{self.name}: give {target!r} or its alias {alias!r}, not both")
                params[target] = params.pop(alias)
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = sorted(set(self.defaults) | set(self.aliases))
            raise UserError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(valid)}")
        self.params = {**self.defaults, **params}
        self.validate()
        self.epochs_done = 0
        self.n_items = 0

    def validate(self) -> None:
        """Raise ``UserError`` for impossible parameter values."""

    def require(self, ok: bool, message: str) -> None:
        """Raise ``UserError`` naming this model when ``ok`` is false."""
        if not ok:
            raise UserError(f"{self.name}: {message}")

    def check_train(self, train: sp.csr_matrix, item_features: sp.csr_matrix | None = None
                    ) -> sp.csr_matrix:
        """Validate a train matrix (and features) and return it as sorted float32 CSR."""
        if not sp.issparse(train):
            raise UserError(f"{self.name}: train must be a scipy sparse matrix")
        train = sp.csr_matrix(train, dtype=np.float32)
        if train.shape[0] == 0 or train.shape[1] == 0 or train.nnz == 0:
            raise UserError(f"{self.name}: train matrix is empty ({train.shape[0]} x {train.shape[1]},"
                            f" {train.nnz} interactions)")
        if not np.all(np.isfinite(train.data)) or (train.data < 0).any():
            raise UserError(f"{self.name}: train weights must be finite and non-negative")
        if item_features is not None and item_features.shape[0] != train.shape[1]:
            raise UserError(f"{self.name}: item_features has {item_features.shape[0]} rows but train "
                            f"has {train.shape[1]} items")
        train.sort_indices()
        self.n_items = train.shape[1]
        return train

    def fit_more(self, epochs: int) -> None:
        """Train ``epochs`` more epochs from the current state; 0 changes nothing.

        For models with ``supports_continue`` (``NotImplementedError`` otherwise), after
        :meth:`fit` (``UserError`` before). Continuing equals training longer.
        """
        if not self.supports_continue:
            raise NotImplementedError(f"{self.name} cannot continue training")
        if not self._is_fitted():
            raise UserError(f"{self.name}: fit before fit_more")
        epochs = check_epochs(self, epochs)
        if epochs:
            self._continue(epochs)

    def _is_fitted(self) -> bool:
        """True once :meth:`fit` has run (models with ``supports_continue`` say how)."""
        raise NotImplementedError

    def _continue(self, epochs: int) -> None:
        """Train ``epochs`` (>= 1) more epochs (models with ``supports_continue``)."""
        raise NotImplementedError

    def item_vectors(self) -> np.ndarray | None:
        return None

    def factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class FactorModel(BaseRecommender):
    """A model whose scores are ``user_factors[users] @ item_factors.T``.

    The adapter sets ``user_factors`` (users x f) and ``item_factors`` (items x f) when it fits;
    scores, factors and item vectors come from here.
    """

    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None

    def _require_factors(self) -> None:
        if self.user_factors is None or self.item_factors is None:
            raise UserError(f"{self.name}: the model is not fitted yet")

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 ``len(users) x n_items`` scores."""
        self._require_factors()
        users = np.asarray(users, dtype=np.int64)
        return (self.user_factors[users] @ self.item_factors.T).astype(np.float32, copy=False)

    def item_vectors(self) -> np.ndarray | None:
        self._require_factors()
        return self.item_factors

    def factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        self._require_factors()
        return self.user_factors, self.item_factors
