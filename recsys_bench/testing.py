"""The conformance suite every model passes, for your own models too.

Subclass :class:`ConformanceSuite` in a pytest file and name the model; pytest then runs the same
checks every built-in model passes (shapes and dtype, determinism, train exclusion, continued
training, factors, a known-answer checkerboard, bad input refused)::

    from recsys_bench.testing import ConformanceSuite

    class TestMyModel(ConformanceSuite):
        model_name = "mypackage.recs:MyModel"   # or a registered name
        params = {"factors": 8}
        bad_params = [{"factors": 0}]

or hand it the class (or any factory taking the parameters as keywords)::

    class TestMyModel(ConformanceSuite):
        make_model = MyModel

The suite carries its own small data sets (no fixtures needed) and needs only pytest.

Attributes a subclass may set
-----------------------------
model_name : str
    Registry name or ``package.module:Class``.
make_model : callable
    Instead of ``model_name``: a model class, or a function taking the parameters as keywords.
params : dict
    Constructor parameters for every fit (keep the model small and fast). ``num_threads=1`` and
    ``random_state=0`` are added where the model accepts them unless given here.
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

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval.topk import topk

__all__ = ["Checkerboard", "ConformanceSuite", "checkerboard", "low_rank_likes",
           "random_features", "small_features", "small_train"]


@dataclasses.dataclass(frozen=True)
class Checkerboard:
    """Two user groups x two item groups; users like (most of) their own group's items.

    Attributes
    ----------
    train : scipy.sparse.csr_matrix
        float32 users x items likes, all inside each user's own item group.
    heldout : scipy.sparse.csr_matrix
        Own-group items removed from ``train``; a sound model ranks every one of them above
        every item of the other group.
    user_group, item_group : numpy.ndarray
        Group (0 or 1) of each user and each item.
    item_features : scipy.sparse.csr_matrix
        Items x 4 one-hot: the item's group and a random noise tag.
    """

    train: sp.csr_matrix
    heldout: sp.csr_matrix
    user_group: np.ndarray
    item_group: np.ndarray
    item_features: sp.csr_matrix


def random_features(n_items: int, n_tags: int, rng: np.random.Generator) -> sp.csr_matrix:
    """Items x ``n_tags`` float32 one-hot, one random tag per item."""
    cols = rng.integers(0, n_tags, n_items)
    return sp.csr_matrix((np.ones(n_items, np.float32), (np.arange(n_items), cols)),
                         shape=(n_items, n_tags))


def low_rank_likes(n_users: int, n_items: int, rank: int, per_user: int,
                   seed: int) -> sp.csr_matrix:
    """Float32 CSR with ``per_user`` likes per user drawn from a rank-``rank`` preference model.

    Every user has exactly ``per_user`` distinct items and item popularity is skewed, as in real
    like data; a few cells hold counts above 1 so that confidence weighting matters.
    """
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items))
    taste += np.log(np.arange(1, n_items + 1))[::-1]
    noisy = taste + rng.gumbel(size=taste.shape)
    cols = np.argsort(-noisy, axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user)
    data = np.ones(rows.size, np.float32)
    data[rng.random(rows.size) < 0.1] = 2.0
    matrix = sp.csr_matrix((data, (rows, cols.ravel())), shape=(n_users, n_items))
    matrix.sort_indices()
    return matrix


@functools.cache
def _small_train() -> sp.csr_matrix:
    return low_rank_likes(60, 40, rank=3, per_user=8, seed=1)


def small_train() -> sp.csr_matrix:
    """60 users x 40 items, 8 likes each, low-rank structure (a fresh copy on every call, so a
    model that changes its input fails one check, not all that follow)."""
    return _small_train().copy()


def small_features() -> sp.csr_matrix:
    """Items x 5 one-hot tags for :func:`small_train` (a fresh copy on every call)."""
    return random_features(40, 5, np.random.default_rng(2))


@functools.cache
def _checkerboard() -> Checkerboard:
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 30
    user_group = np.arange(n_users) % 2
    item_group = (np.arange(n_items) >= n_items // 2).astype(np.int64)
    likes = (user_group[:, None] == item_group[None, :]) & (rng.random((n_users, n_items)) < 0.7)
    heldout = np.zeros_like(likes)
    for u in range(n_users):
        own = np.flatnonzero(likes[u])
        heldout[u, rng.choice(own, 2, replace=False)] = True
    train = sp.csr_matrix((likes & ~heldout).astype(np.float32))
    features = sp.hstack([sp.csr_matrix(np.eye(2, dtype=np.float32)[item_group]),
                          random_features(n_items, 2, rng)]).tocsr()
    return Checkerboard(train=train, heldout=sp.csr_matrix(heldout.astype(np.float32)),
                        user_group=user_group, item_group=item_group, item_features=features)


def checkerboard() -> Checkerboard:
    """40 users x 30 items in two blocks; each user likes ~70% of the own block, 2 held out
    (train and features freshly copied on every call)."""
    board = _checkerboard()
    return dataclasses.replace(board, train=board.train.copy(),
                               item_features=board.item_features.copy())


def _all_users(train: sp.csr_matrix) -> np.ndarray:
    return np.arange(train.shape[0], dtype=np.int64)


class ConformanceSuite:
    """Protocol tests for one model; see the module docstring for the knobs."""

    model_name: ClassVar[str] = ""
    make_model: ClassVar[Callable[..., Any] | None] = None
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

    def factory(self) -> Callable[..., Any]:
        """What builds the model from keyword parameters: ``make_model`` or the registry."""
        for klass in type(self).__mro__:
            raw = vars(klass).get("make_model")
            if raw is None:
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                return raw.__get__(None, type(self))
            if inspect.isfunction(raw) and next(iter(inspect.signature(raw).parameters),
                                                 None) == "self":
                return raw.__get__(self)
            return raw
        if not self.model_name:
            raise TypeError(f"{type(self).__name__}: set model_name or make_model")
        from recsys_bench import models

        return functools.partial(models.get, self.model_name)

    def accepted(self) -> dict[str, Any]:
        """The model's ``defaults`` (every parameter it accepts)."""
        if self.make_model is None:
            from recsys_bench import models

            return models.model_class(self.model_name).defaults
        made = self.factory()
        return made.defaults if isinstance(made, type) else made(**self.params).defaults

    def make(self, **overrides):
        """A new model with the class params, one thread and a fixed seed where accepted."""
        accepted = self.accepted()
        params = {key: value for key, value in (("num_threads", 1), ("random_state", 0))
                  if key in accepted}
        params.update(self.params)
        params.update(overrides)
        return self.factory()(**params)

    def fitted(self, train, features=None, *, epochs=None, **overrides):
        """A model made by :meth:`make` and fitted on ``train``."""
        model = self.make(**overrides)
        model.fit(train, item_features=features if self.needs_features else None,
                  epochs=self.fit_epochs if epochs is None else epochs)
        return model

    # -- the protocol ------------------------------------------------------------------------

    def test_registry_name_and_params(self):
        model = self.make()
        from recsys_bench import models

        if self.make_model is None and not models.is_import_path(self.model_name):
            assert model.name == self.model_name
        assert isinstance(model.name, str) and model.name
        assert model.epochs_done == 0
        for key, value in self.params.items():
            assert model.params[key] == value
        assert model.supports_continue == model.capabilities.continues

    def test_unknown_parameter_is_a_user_error(self):
        with pytest.raises(UserError, match="unknown parameter"):
            self.make(no_such_parameter=1)

    def test_bad_params_are_user_errors(self):
        for bad in self.bad_params:
            with pytest.raises(UserError):
                self.make(**bad)

    def test_bad_train_is_a_user_error(self):
        train = small_train()
        empty = sp.csr_matrix(train.shape, dtype=np.float32)
        nan = train.copy()
        nan.data[0] = np.nan
        negative = train.copy()
        negative.data[0] = -1.0
        for bad in (empty, nan, negative):
            with pytest.raises(UserError):
                self.fitted(bad, small_features())

    def test_scores_shape_and_dtype(self):
        train = small_train()
        model = self.fitted(train, small_features())
        users = np.array([3, 0, 59, 3], dtype=np.int64)
        scores = model.scores(users)
        assert scores.shape == (4, train.shape[1])
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(scores[0], scores[3])
        vectors = model.item_vectors()
        if vectors is not None:
            assert vectors.ndim == 2 and vectors.shape[0] == train.shape[1]

    def test_fit_leaves_train_untouched(self):
        train = small_train().copy()
        self.fitted(train, small_features())
        assert (train != small_train()).nnz == 0
        assert train.dtype == small_train().dtype

    def test_deterministic_with_fixed_seed_one_thread(self):
        train = small_train()
        users = _all_users(train)
        first = self.fitted(train, small_features()).scores(users)
        second = self.fitted(train, small_features()).scores(users)
        np.testing.assert_array_equal(first, second)

    def test_no_train_item_in_top_k_when_excluded(self):
        train = small_train()
        model = self.fitted(train, small_features())
        users = _all_users(train)
        top = topk(model, users, 10, exclude=train)
        assert top.shape == (len(users), 10)
        seen = train.toarray() > 0
        hit = np.take_along_axis(seen, np.maximum(top, 0), axis=1) & (top >= 0)
        assert not hit.any()

    def test_factors_reproduce_scores(self):
        train = small_train()
        model = self.fitted(train, small_features())
        factors = model.factors()
        if factors is None:
            assert not model.capabilities.factors, "capabilities.factors but factors() is None"
            pytest.skip(f"{model.name} is not a dot-product model")
        user_factors, item_factors = factors
        assert user_factors.shape[0] == train.shape[0]
        assert item_factors.shape[0] == train.shape[1]
        users = np.array([5, 1, 17], dtype=np.int64)
        scores = model.scores(users)
        expected = user_factors[users] @ item_factors.T
        scale = np.abs(expected).max() + 1e-12
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5 * scale)

    def test_continued_training_equals_training_longer(self):
        train, features = small_train(), small_features()
        if not self.make().supports_continue:
            model = self.fitted(train, features)
            with pytest.raises(NotImplementedError):
                model.fit_more(1)
            return
        with pytest.raises(UserError, match="fit before fit_more"):
            self.make().fit_more(1)
        users = _all_users(train)
        stepped = self.fitted(train, features, epochs=2)
        assert stepped.epochs_done == 2
        before = stepped.scores(users)
        stepped.fit_more(0)
        assert stepped.epochs_done == 2
        np.testing.assert_array_equal(stepped.scores(users), before)
        stepped.fit_more(3)
        assert stepped.epochs_done == 5
        straight = self.fitted(train, features, epochs=5)
        assert straight.epochs_done == 5
        np.testing.assert_allclose(stepped.scores(users), straight.scores(users),
                                   rtol=self.continue_rtol, atol=self.continue_atol)

    def test_refit_starts_from_scratch(self):
        train, features = small_train(), small_features()
        model = self.fitted(train, features)
        users = _all_users(train)
        first = model.scores(users)
        model.fit(train, item_features=features if self.needs_features else None,
                  epochs=self.fit_epochs)
        np.testing.assert_array_equal(model.scores(users), first)

    def test_checkerboard_known_answer(self):
        if not self.personalised:
            pytest.skip("the model does not personalise")
        board = checkerboard()
        model = self.fitted(board.train, board.item_features, **self.checkerboard_params)
        users = _all_users(board.train)
        scores = model.scores(users)
        other = board.user_group[:, None] != board.item_group[None, :]
        held = board.heldout.toarray() > 0
        fractions = []
        for u in users:
            pairs = scores[u, held[u]][:, None] > scores[u, other[u]][None, :]
            fractions.append(pairs.mean())
        assert np.mean(fractions) >= self.checkerboard_auc, (
            f"mean pairwise order {np.mean(fractions):.3f}, worst user {np.min(fractions):.3f}")
