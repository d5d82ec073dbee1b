"""implicit-bpr and implicit-lmf: conformance, and the adapters' epochs equal implicit's own fit."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.lmf import LogisticMatrixFactorization

from recsys_bench.errors import UserError
from recsys_bench.models import get
from recsys_bench.testing import ConformanceSuite

SGD_BAD = [{"factors": 0}, {"learning_rate": 0.0}, {"regularization": -1.0},
           {"iterations": 0}, {"num_threads": -1}, {"random_state": "x"}]


class TestImplicitBPR(ConformanceSuite):
    model_name = "implicit-bpr"
    params = {"factors": 8, "iterations": 20}
    bad_params = SGD_BAD + [{"verify_negative_samples": "yes"}]
    checkerboard_params = {"factors": 2, "iterations": 100, "learning_rate": 0.05,
                           "regularization": 0.05}
    continue_rtol = continue_atol = 0.0


class TestImplicitLMF(ConformanceSuite):
    model_name = "implicit-lmf"
    params = {"factors": 8, "iterations": 10}
    bad_params = SGD_BAD + [{"neg_prop": 0}]
    checkerboard_params = {"factors": 2, "iterations": 30}
    continue_rtol = continue_atol = 0.0


@pytest.mark.parametrize("epochs", [1, 7])
def test_bpr_equals_implicits_own_fit(small_train, epochs):
    model = get("implicit-bpr", factors=6, iterations=epochs, num_threads=1, random_state=4,
                learning_rate=0.05)
    model.fit(small_train)
    reference = BayesianPersonalizedRanking(factors=6, iterations=epochs, num_threads=1,
                                            random_state=4, learning_rate=0.05)
    reference.fit(small_train, show_progress=False)
    users, items = model.factors()
    np.testing.assert_array_equal(users, reference.user_factors)
    np.testing.assert_array_equal(items, reference.item_factors)
    np.testing.assert_array_equal(model.item_vectors(), reference.item_factors[:, :6])


@pytest.mark.parametrize("epochs", [1, 7])
def test_lmf_equals_implicits_own_fit(small_train, epochs):
    model = get("implicit-lmf", factors=6, iterations=epochs, num_threads=1, random_state=4)
    model.fit(small_train)
    reference = LogisticMatrixFactorization(factors=6, iterations=epochs, num_threads=1,
                                            random_state=4)
    reference.fit(small_train, show_progress=False)
    users, items = model.factors()
    np.testing.assert_array_equal(users, reference.user_factors)
    np.testing.assert_array_equal(items, reference.item_factors)


def test_calling_implicits_fit_twice_is_not_training_longer(small_train):
    """Why the adapters keep the samplers: implicit reseeds them on every fit call."""
    twice = BayesianPersonalizedRanking(factors=6, iterations=2, num_threads=1, random_state=4)
    twice.fit(small_train, show_progress=False)
    twice.fit(small_train, show_progress=False)
    straight = get("implicit-bpr", factors=6, iterations=4, num_threads=1, random_state=4)
    straight.fit(small_train)
    assert not np.array_equal(twice.item_factors, straight.factors()[1])


def test_lmf_uses_the_counts_bpr_does_not(small_train):
    doubled = small_train.copy()
    doubled.data *= 3
    for name, same in (("implicit-bpr", True), ("implicit-lmf", False)):
        first, second = (get(name, factors=4, iterations=3, num_threads=1) for _ in range(2))
        first.fit(small_train)
        second.fit(doubled)
        assert np.array_equal(first.factors()[1], second.factors()[1]) == same, name


def test_diverging_bpr_is_reported(small_train):
    model = get("implicit-bpr", factors=4, iterations=50, learning_rate=1e30, num_threads=1)
    with pytest.raises(UserError, match="diverged"):
        model.fit(small_train)
