"""LightFM (WARP and BPR losses) with optional tag features, as in the study's part 2.

A LightFM user or item representation is the sum of the embeddings of its features. Users have only
an identity feature here. Items have an identity feature and, with ``features="tags"``, their
tag/category one-hot columns too: the item feature matrix is ``[identity | item_features]``, so
items that share tags share information (the study's "side information").

Scores are computed here from the learnt embeddings, not with ``LightFM.predict``:

    q_i = f_i E_item          (item representation: feature row times item feature embeddings)
    b_i = f_i beta_item       (item bias: the sum of its features' biases)
    score(u, i) = p_u . q_i + b_u + b_i

which is one dense matrix product per block of users. The biases are folded into augmented factors
``(p_u | b_u | 1)`` and ``(q_i | 1 | b_i)`` so the closed-form MSE applies.

LightFM trains with Hogwild SGD: with more than one thread, updates race and two runs with the same
``random_state`` differ. Only ``num_threads=1`` is deterministic.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from recsys_bench.errors import TrainingDiverged, UserError
from recsys_bench.models.base import FactorModel, is_int, is_number
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import pinned_blas, resolve_threads


class _LightFMAdapter(FactorModel):
    """Shared adapter of :class:`LightFMWarp` and :class:`LightFMBPR`; only the loss differs.

    Parameters
    ----------
    no_components : int
        Embedding dimension (alias ``factors``).
    learning_rate : float
        Initial SGD step size.
    learning_schedule : {"adagrad", "adadelta"}
        LightFM's per-parameter step-size schedule.
    item_alpha, user_alpha : float
        L2 penalties on item-feature and user-feature embeddings.
    epochs : int
        Epochs run by :meth:`fit` (alias ``iterations``); ``fit(epochs=...)`` overrides it.
    features : {"none", "tags"}
        ``"tags"``: item representations are ``[identity | item_features]`` sums and ``fit`` needs
        ``item_features``; ``"none"``: identity only (any ``item_features`` given are ignored).
    normalize_features : bool
        Scale each row of the ``[identity | item_features]`` matrix to sum to 1 (what
        ``lightfm.data.Dataset`` does by default); the study used unscaled one-hot rows.
    num_threads : int
        Hogwild threads (0 = all cores). Results are reproducible only with 1.
    random_state : int
        Seed of the initial embeddings and of the per-epoch shuffles and negative sampling.
    """

    loss: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities(
        continues=True, factors=True, item_vectors=True, feature_embeddings=True,
        deterministic_threads=False)
    aliases: ClassVar[dict[str, str]] = {"factors": "no_components", "iterations": "epochs"}
    defaults: ClassVar[dict] = {
        "no_components": 10,
        "learning_rate": 0.05,
        "learning_schedule": "adagrad",
        "item_alpha": 0.0,
        "user_alpha": 0.0,
        "epochs": 10,
        "features": "none",
        "normalize_features": False,
        "num_threads": 0,
        "random_state": 0,
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._model: LightFM | None = None
        self._interactions: sp.coo_matrix | None = None
        self._item_features: sp.csr_matrix | None = None
        self._item_representations: np.ndarray | None = None

    def validate(self) -> None:
        p = self.params
        self.require(is_int(p["no_components"]) and p["no_components"] >= 1,
                     f"no_components must be an integer >= 1, got {p['no_components']!r}")
        self.require(is_number(p["learning_rate"]) and 0 < p["learning_rate"] < np.inf,
                     f"learning_rate must be a positive number, got {p['learning_rate']!r}")
        self.require(p["learning_schedule"] in ("adagrad", "adadelta"),
                     f"learning_schedule must be 'adagrad' or 'adadelta', "
                     f"got {p['learning_schedule']!r}")
        for key in ("item_alpha", "user_alpha"):
            self.require(is_number(p[key]) and 0 <= p[key] < np.inf,
                         f"{key} must be a non-negative number, got {p[key]!r}")
        self._check_epochs(p["epochs"], "epochs")
        self.require(p["features"] in ("none", "tags"),
                     f"features must be 'none' or 'tags', got {p['features']!r}")
        self.require(isinstance(p["normalize_features"], bool),
                     f"normalize_features must be true or false, got {p['normalize_features']!r}")
        self.require(is_int(p["num_threads"]) and p["num_threads"] >= 0,
                     f"num_threads must be an integer >= 0 (0 = all cores), "
                     f"got {p['num_threads']!r}")
        self.require(is_int(p["random_state"]) and 0 <= p["random_state"] < 2**32,
                     f"random_state must be an integer in [0, 2**32), got {p['random_state']!r}")
        if "max_sampled" in p:
            self.require(is_int(p["max_sampled"]) and p["max_sampled"] >= 1,
                         f"max_sampled must be an integer >= 1, got {p['max_sampled']!r}")

    def _check_epochs(self, epochs, what: str) -> int:
        self.require(is_int(epochs) and epochs >= 1,
                     f"{what} must be an integer >= 1, got {epochs!r}")
        return int(epochs)

    def _lightfm_params(self) -> dict:
        p = self.params
        extra = {"max_sampled": p["max_sampled"]} if "max_sampled" in p else {}
        return dict(loss=self.loss, no_components=p["no_components"],
                    learning_rate=p["learning_rate"], learning_schedule=p["learning_schedule"],
                    item_alpha=p["item_alpha"], user_alpha=p["user_alpha"],
                    random_state=p["random_state"], **extra)

    def _full_item_features(self, item_features: sp.spmatrix | None,
                            n_items: int) -> sp.csr_matrix | None:
        """``[identity | item_features]`` as float32 CSR (None: LightFM's own identity)."""
        if self.params["features"] == "none":
            return None
        if item_features is None:
            raise UserError(f"{self.name}: features='tags' needs item features, and none were "
                            f"given (use features='none' or a data set with features)")
        if not sp.issparse(item_features):
            raise UserError(f"{self.name}: item_features must be a scipy sparse matrix")
        tags = sp.csr_matrix(item_features, dtype=np.float32)
        if not np.all(np.isfinite(tags.data)) or (tags.data < 0).any():
            raise UserError(f"{self.name}: item feature values must be finite and non-negative")
        full = sp.hstack([sp.identity(n_items, dtype=np.float32, format="csr"), tags],
                         format="csr", dtype=np.float32)
        if self.params["normalize_features"]:
            full = sp.csr_matrix(sp.diags(1.0 / np.asarray(full.sum(axis=1)).ravel()) @ full,
                                 dtype=np.float32)
        full.sort_indices()
        return full

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Train a fresh LightFM model on the binarised ``train`` for ``epochs`` epochs.

        Parameters
        ----------
        train : scipy.sparse.csr_matrix
            Users x items; every stored positive value counts as one interaction.
        item_features : scipy.sparse.csr_matrix, optional
            Items x tags one-hot, without the identity block (added here). Needed with
            ``features="tags"``, ignored with ``features="none"``.
        epochs : int, optional
            Overrides the ``epochs`` parameter.
        """
        epochs = self._check_epochs(self.params["epochs"] if epochs is None else epochs, "epochs")
        train = self.check_train(train, item_features)
        features = self._full_item_features(item_features, train.shape[1])
        coo = train.tocoo()
        positive = coo.data > 0
        self._interactions = sp.coo_matrix(
            (np.ones(int(positive.sum()), np.float32), (coo.row[positive], coo.col[positive])),
            shape=train.shape)
        self._item_features = features
        self._model = LightFM(**self._lightfm_params())
        self.epochs_done = 0
        self._train(epochs)

    def _is_fitted(self) -> bool:
        return self._model is not None

    def _continue(self, epochs: int) -> None:
        self._train(epochs)

    def _train(self, epochs: int) -> None:
        try:
            with pinned_blas(1), np.errstate(over="ignore", invalid="ignore"):
                self._model.fit_partial(self._interactions, item_features=self._item_features,
                                        epochs=epochs,
                                        num_threads=resolve_threads(self.params["num_threads"]))
        except ValueError as error:
            if "diverged" not in str(error):   # LightFM's own word for non-finite parameters
                raise
            self._diverged()
        self.epochs_done += epochs
        self._cache_factors()
        bound = (float(np.abs(self.user_factors).max()) * float(np.abs(self.item_factors).max())
                 * self.user_factors.shape[1])
        if not bound < 1e30:
            self._diverged()

    def _diverged(self) -> None:
        self._model = None
        self.epochs_done = 0
        raise TrainingDiverged(f"{self.name}: training diverged (embeddings too large or not finite) "
                        f"with learning_rate={self.params['learning_rate']}; lower it")

    def _cache_factors(self) -> None:
        model = self._model
        if self._item_features is None:
            vectors = model.item_embeddings.copy()
            item_bias = model.item_biases.copy()
        else:
            vectors = np.asarray(self._item_features @ model.item_embeddings, dtype=np.float32)
            item_bias = np.asarray(self._item_features @ model.item_biases, dtype=np.float32)
        n_users, n_items = model.user_embeddings.shape[0], vectors.shape[0]
        user_factors = np.hstack([model.user_embeddings, model.user_biases[:, None],
                                  np.ones((n_users, 1), np.float32)])
        item_factors = np.hstack([vectors, np.ones((n_items, 1), np.float32), item_bias[:, None]])
        for array in (vectors, user_factors, item_factors):
            array.flags.writeable = False
        self._item_representations = vectors
        self.user_factors = user_factors
        self.item_factors = item_factors

    def _require_factors(self) -> None:
        if self._model is None:
            raise UserError(f"{self.name}: the model is not fitted yet")

    def item_vectors(self) -> np.ndarray:
        """Item representations ``[identity | tags] @ item embeddings`` (items x no_components),
        without biases (read-only)."""
        self._require_factors()
        return self._item_representations

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(p_u | b_u | 1)`` and ``(q_i | 1 | b_i)``: their products are exactly the scores."""
        return super().factors()

    def feature_embeddings(self) -> tuple[sp.csr_matrix, np.ndarray] | None:
        """``([identity | tags] matrix, item-feature embeddings)`` when fitted with tags, else
        None (tag queries need both)."""
        self._require_factors()
        if self.params["features"] != "tags":
            return None
        return sp.csr_matrix(self._item_features), np.asarray(self._model.item_embeddings)


class LightFMWarp(_LightFMAdapter):
    """LightFM with the WARP loss (the study's choice); ``max_sampled`` caps the negatives tried
    per positive. See :class:`_LightFMAdapter` for the other parameters."""

    name = "lightfm-warp"
    loss = "warp"
    defaults = {**_LightFMAdapter.defaults, "max_sampled": 10}


class LightFMBPR(_LightFMAdapter):
    """LightFM with the BPR loss. See :class:`_LightFMAdapter` for the parameters."""

    name = "lightfm-bpr"
    loss = "bpr"
