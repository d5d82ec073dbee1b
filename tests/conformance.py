"""The conformance tests every registered model passes.

A test module subclasses :class:`RecommenderConformance` and sets the class attributes::

    from conformance import RecommenderConformance

    class TestImplicitALS(RecommenderConformance):
        model_name = "implicit-als"
        params = {"factors": 8, "iterations": 10}
        bad_params = [{"factors": 0}, {"regularization": -1.0}]

Attributes a subclass may set
-----------------------------
model_name : str
    Registry name.
params : dict
    Constructor parameters for every fit (keep the model small and fast). ``num_threads=1`` and
    ``random_state`` are added where the model accepts them unless given here.
fit_epochs : int or None
    ``epochs`` passed to ``fit`` (None: the model's own default).
needs_features : bool
    Pass item features to ``fit``.
personalised : bool
    The model ranks by the user's own history, so the checkerboard must come out right
    (False for popularity and random).
checkerboard_params : dict
    Extra parameters for the checkerboard fit only. The board is a rank-2 problem on 40 x 30
    cells: a factor model with many free factors and little regularisation memorises the held-out
    zeros, so give it 2 factors (or strong regularisation) here, and enough epochs.
checkerboard_auc : float
    Least mean fraction of (held-out own-group item, other-group item) pairs ordered correctly;
    1.0 means every held-out item beats every item of the other group for every user.
bad_params : list of dict
    Parameter sets that must raise ``UserError`` at construction.
continue_rtol, continue_atol : float
    Tolerance of "fit(2) + fit_more(3) equals fit(5)" on the scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models import get, model_class
from recsys_bench.eval.topk import topk


class RecommenderConformance:
    """Mixin of protocol tests; see the module docstring for the knobs."""

    model_name: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    fit_epochs: ClassVar[int | None] = None
    needs_features: ClassVar[bool] = False
    personalised: ClassVar[bool] = True
    checkerboard_params: ClassVar[dict[str, Any]] = {}
    checkerboard_auc: ClassVar[float] = 1.0
    bad_params: ClassVar[list[dict[str, Any]]] = []
    continue_rtol: ClassVar[float] = 1e-4
    continue_atol: ClassVar[float] = 1e-5

    # -- helpers -----------------------------------------------------------------------------

    def make(self, **overrides):
        """A new model with the class params, one thread and a fixed seed where accepted."""
        accepted = model_class(self.model_name).defaults
        params = {key: value for key, value in (("num_threads", 1), ("random_state", 0))
                  if key in accepted}
        params.update(self.params)
        params.update(overrides)
        return get(self.model_name, **params)

    def fitted(self, train, features=None, *, epochs=None, **overrides):
        model = self.make(**overrides)
        model.fit(train, item_features=features if self.needs_features else None,
                  epochs=self.fit_epochs if epochs is None else epochs)
        return model

    @staticmethod
    def all_users(train) -> np.ndarray:
        return np.arange(train.shape[0], dtype=np.int64)

    # -- the protocol ------------------------------------------------------------------------

    def test_registry_name_and_params(self):
        model = self.make()
        assert model.name == self.model_name
        assert model.epochs_done == 0
        for key, value in self.params.items():
            assert model.params[key] == value

    def test_unknown_parameter_is_a_user_error(self):
        with pytest.raises(UserError, match="unknown parameter"):
            self.make(no_such_parameter=1)

    def test_bad_params_are_user_errors(self):
        for bad in self.bad_params:
            with pytest.raises(UserError):
                self.make(**bad)

    def test_bad_train_is_a_user_error(self, small_train, small_features):
        empty = sp.csr_matrix(small_train.shape, dtype=np.float32)
        nan = small_train.copy()
        nan.data[0] = np.nan
        negative = small_train.copy()
        negative.data[0] = -1.0
        for train in (empty, nan, negative):
            with pytest.raises(UserError):
                self.fitted(train, small_features)

    def test_scores_shape_and_dtype(self, small_train, small_features):
        model = self.fitted(small_train, small_features)
        users = np.array([3, 0, 59, 3], dtype=np.int64)
        scores = model.scores(users)
        assert scores.shape == (4, small_train.shape[1])
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(scores[0], scores[3])
        vectors = model.item_vectors()
        if vectors is not None:
            assert vectors.ndim == 2 and vectors.shape[0] == small_train.shape[1]

    def test_fit_leaves_train_untouched(self, small_train, small_features):
        train = small_train.copy()
        self.fitted(train, small_features)
        assert (train != small_train).nnz == 0
        assert train.dtype == small_train.dtype

    def test_deterministic_with_fixed_seed_one_thread(self, small_train, small_features):
        users = self.all_users(small_train)
        first = self.fitted(small_train, small_features).scores(users)
        second = self.fitted(small_train, small_features).scores(users)
        np.testing.assert_array_equal(first, second)

    def test_no_train_item_in_top_k_when_excluded(self, small_train, small_features):
        model = self.fitted(small_train, small_features)
        users = self.all_users(small_train)
        top = topk(model, users, 10, exclude=small_train)
        assert top.shape == (len(users), 10)
        seen = small_train.toarray() > 0
        hit = np.take_along_axis(seen, np.maximum(top, 0), axis=1) & (top >= 0)
        assert not hit.any()

    def test_factors_reproduce_scores(self, small_train, small_features):
        model = self.fitted(small_train, small_features)
        factors = model.factors()
        if factors is None:
            pytest.skip(f"{self.model_name} is not a dot-product model")
        user_factors, item_factors = factors
        assert user_factors.shape[0] == small_train.shape[0]
        assert item_factors.shape[0] == small_train.shape[1]
        users = np.array([5, 1, 17], dtype=np.int64)
        scores = model.scores(users)
        expected = user_factors[users] @ item_factors.T
        scale = np.abs(expected).max() + 1e-12
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5 * scale)

    def test_continued_training_equals_training_longer(self, small_train, small_features):
        if not model_class(self.model_name).supports_continue:
            model = self.fitted(small_train, small_features)
            with pytest.raises(NotImplementedError):
                model.fit_more(1)
            return
        with pytest.raises(UserError, match="fit before fit_more"):
            model_class(self.model_name)().fit_more(1)
        users = self.all_users(small_train)
        stepped = self.fitted(small_train, small_features, epochs=2)
        assert stepped.epochs_done == 2
        before = stepped.scores(users)
        stepped.fit_more(0)
        assert stepped.epochs_done == 2
        np.testing.assert_array_equal(stepped.scores(users), before)
        stepped.fit_more(3)
        assert stepped.epochs_done == 5
        straight = self.fitted(small_train, small_features, epochs=5)
        assert straight.epochs_done == 5
        np.testing.assert_allclose(stepped.scores(users), straight.scores(users),
                                   rtol=self.continue_rtol, atol=self.continue_atol)

    def test_refit_starts_from_scratch(self, small_train, small_features):
        model = self.fitted(small_train, small_features)
        users = self.all_users(small_train)
        first = model.scores(users)
        model.fit(small_train, item_features=small_features if self.needs_features else None,
                  epochs=self.fit_epochs)
        np.testing.assert_array_equal(model.scores(users), first)

    def test_checkerboard_known_answer(self, checkerboard):
        if not self.personalised:
            pytest.skip(f"{self.model_name} does not personalise")
        board = checkerboard
        model = self.fitted(board.train, board.item_features, **self.checkerboard_params)
        users = self.all_users(board.train)
        scores = model.scores(users)
        other = board.user_group[:, None] != board.item_group[None, :]
        held = board.heldout.toarray() > 0
        fractions = []
        for u in users:
            pairs = scores[u, held[u]][:, None] > scores[u, other[u]][None, :]
            fractions.append(pairs.mean())
        assert np.mean(fractions) >= self.checkerboard_auc, (
            f"mean pairwise order {np.mean(fractions):.3f}, worst user {np.min(fractions):.3f}")
