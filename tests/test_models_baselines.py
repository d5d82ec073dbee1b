"""Popularity and random baselines."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models import get
from recsys_bench.testing import ConformanceSuite


class TestPopularity(ConformanceSuite):
    model_name = "popularity"
    personalised = False
    bad_params = [{"num_threads": -1}, {"random_state": -3}]


class TestRandom(ConformanceSuite):
    model_name = "random"
    personalised = False
    bad_params = [{"random_state": "seven"}, {"random_state": -1}]


def test_popularity_is_the_fraction_of_users(small_train):
    model = get("popularity")
    model.fit(small_train)
    counts = (small_train.toarray() > 0).sum(axis=0)
    scores = model.scores(np.array([0, 7]))
    np.testing.assert_allclose(scores, np.tile(counts / small_train.shape[0], (2, 1)), rtol=1e-6)
    assert np.argmax(scores[0]) == np.argmax(counts)


def test_random_rows_do_not_depend_on_batching(small_train):
    model = get("random", random_state=4)
    model.fit(small_train)
    users = np.arange(small_train.shape[0])
    whole = model.scores(users)
    order = np.random.default_rng(0).permutation(users)
    np.testing.assert_array_equal(model.scores(order), whole[order])
    np.testing.assert_array_equal(model.scores(users[7:8])[0], whole[7])
    assert ((whole >= 0) & (whole < 1)).all()
    assert not np.array_equal(whole[0], whole[1])


def test_random_seed_changes_scores(small_train):
    users = np.arange(5)
    first, second = get("random", random_state=0), get("random", random_state=1)
    first.fit(small_train)
    second.fit(small_train)
    assert not np.array_equal(first.scores(users), second.scores(users))


def test_random_top_items_are_uniform():
    n_users, n_items = 4000, 40
    train = sp.csr_matrix((np.ones(n_users, np.float32), (np.arange(n_users),
                                                          np.arange(n_users) % n_items)))
    model = get("random")
    model.fit(train)
    counts = np.bincount(np.argmax(model.scores(np.arange(n_users)), axis=1), minlength=n_items)
    # 100 expected per item; a binomial(4000, 1/40) lies in [55, 145] with overwhelming odds.
    assert counts.min() >= 55 and counts.max() <= 145


def test_scores_before_fit_is_a_user_error():
    with pytest.raises(UserError, match="not fitted"):
        get("popularity").scores(np.arange(2))
