"""The Recommender protocol every model adapter implements.

Models only compute: they fit a train matrix and return dense score blocks. Top-k with train
exclusion (``recsys_bench.eval.topk``), every metric (``recsys_bench.eval.metrics``) and all timing
(``recsys_bench.experiment.runner``) are written once, outside the models.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Capabilities:
    """What a model can do beyond fit and scores, declared by its adapter (never inferred from
    its name).

    Attributes
    ----------
    continues : bool
        :meth:`Recommender.fit_more` adds epochs to the current state, so learning curves never
        refit from scratch (``supports_continue``).
    factors : bool
        :meth:`Recommender.factors` returns ``(U, V)`` with ``scores == U[users] @ V.T``.
    item_vectors : bool
        :meth:`Recommender.item_vectors` returns item representations (similar-item queries).
    feature_embeddings : bool
        ``feature_embeddings()`` returns ``(item x feature matrix, feature embeddings)``: the
        model puts item features (tags) in the item space (tag queries).
    deterministic_threads : bool
        The same seed gives the same scores at any thread count (False for Hogwild-style
        training such as LightFM's, which the report marks).
    fold_in : bool
        The model can score users unseen in training from their given history.
    """

    continues: bool = False
    factors: bool = False
    item_vectors: bool = False
    feature_embeddings: bool = False
    deterministic_threads: bool = True
    fold_in: bool = False


@runtime_checkable
class Recommender(Protocol):
    """What the harness needs from a model.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"implicit-als"``.
    defaults : dict
        Every accepted parameter with its default (the config layer checks names against it).
    aliases : dict
        Alternative parameter name -> parameter name (``epochs`` -> ``iterations``).
    capabilities : Capabilities
        What the model can do beyond fit and scores.
    params : dict
        The model's parameters as given (JSON-serialisable), recorded with every result.
    supports_continue : bool
        ``capabilities.continues``.
    epochs_done : int
        Epochs trained so far (0 for models that have no epochs, such as popularity).
    """

    name: str
    defaults: dict[str, Any]
    aliases: dict[str, str]
    capabilities: Capabilities
    params: dict
    supports_continue: bool
    epochs_done: int

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Train from scratch on ``train`` (users x items, float32 counts).

        ``epochs`` overrides the model's own ``iterations``/``epochs`` parameter.
        """

    def fit_more(self, epochs: int) -> None:
        """Continue training on the same data for ``epochs`` more epochs (0 changes nothing).

        Raises ``NotImplementedError`` where ``supports_continue`` is False and ``UserError``
        before ``fit``.
        """

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 scores, ``len(users) x n_items``; higher ranks first."""

    def item_vectors(self) -> np.ndarray | None:
        """Item representations (items x d) for similar-item queries; None where there are none."""

    # Optional: ``check_memory(n_items)`` raises UserError when a fit could not fit in memory;
    # the runner calls it before any trial starts.

    def factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(U, V)`` with ``scores(users) == U[users] @ V.T`` exactly (biases folded in as extra
        columns), enabling the closed-form MSE; None for models that are not a dot product."""


def fit_through(model: Recommender, train: sp.csr_matrix, checkpoints: list[int | None], *,
                item_features: sp.csr_matrix | None = None) -> Iterator[float]:
    """Train ``model`` up to each epoch count in ``checkpoints`` in turn, yielding fit seconds.

    The first checkpoint is a fresh :meth:`~Recommender.fit`; each later one adds the missing
    epochs with :meth:`~Recommender.fit_more`, so a learning curve never refits from scratch.
    The caller evaluates the model between steps; ``None`` means the model's own epoch count.
    """
    for i, target in enumerate(checkpoints):
        start = time.perf_counter()
        if i == 0:
            model.fit(train, item_features=item_features, epochs=target)
        else:
            model.fit_more(target - model.epochs_done)
        yield time.perf_counter() - start
