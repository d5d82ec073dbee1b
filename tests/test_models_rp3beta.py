"""rp3beta: conformance, the graph walk computed densely from the formulas, and what beta does."""

from __future__ import annotations

import numpy as np

from recsys_bench.models import get
from recsys_bench.testing import ConformanceSuite


class TestRP3beta(ConformanceSuite):
    model_name = "rp3beta"
    params = {"alpha": 0.8, "beta": 0.4, "K": 20}
    bad_params = [{"alpha": -1.0}, {"beta": float("nan")}, {"K": 0}, {"K": 2.5}]


def dense_rp3beta(train, alpha, beta):
    x = train.toarray().astype(np.float64)
    binary = (x > 0).astype(np.float64)
    p_ui = x / x.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_iu = np.nan_to_num(binary.T / binary.T.sum(axis=1, keepdims=True))
        damp = np.where(binary.sum(axis=0) > 0, binary.sum(axis=0) ** -beta, 0.0)
    return (p_iu ** alpha) @ (p_ui ** alpha) * damp[None, :]


def test_all_neighbours_equal_the_dense_formula(small_train):
    model = get("rp3beta", alpha=0.7, beta=0.3, K=small_train.shape[1])
    model.fit(small_train)
    expected = dense_rp3beta(small_train, 0.7, 0.3)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-7)
    users = np.array([0, 9, 33])
    np.testing.assert_allclose(model.scores(users), small_train[users].toarray() @ expected,
                               rtol=1e-5, atol=1e-6)


def test_plain_walk_rows_are_probabilities(small_train):
    model = get("rp3beta", alpha=1.0, beta=0.0, K=small_train.shape[1])
    model.fit(small_train)
    liked = np.asarray((small_train > 0).sum(axis=0)).ravel() > 0
    assert 0 < liked.sum() < small_train.shape[1]
    sums = np.asarray(model.similarity.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[liked], 1.0, rtol=1e-5)
    assert (sums[~liked] == 0).all()


def test_k_keeps_each_items_largest(small_train):
    full = get("rp3beta", K=small_train.shape[1])
    full.fit(small_train)
    top = get("rp3beta", K=5)
    top.fit(small_train)
    assert np.diff(top.similarity.indptr).max() <= 5
    dense = full.similarity.toarray()
    for item in (0, 7, 21):
        row = top.similarity[item]
        assert set(row.indices) <= set(np.argsort(-dense[item])[:5 + 1])
        assert row.data.min() >= np.sort(dense[item])[-5] - 1e-7


def test_beta_lifts_the_long_tail(small_train):
    popularity = np.asarray((small_train > 0).sum(axis=0)).ravel()
    users = np.arange(small_train.shape[0])
    mean_popularity = []
    for beta in (0.0, 0.8):
        model = get("rp3beta", alpha=1.0, beta=beta, K=40)
        model.fit(small_train)
        scores = model.scores(users)
        scores[small_train.toarray() > 0] = -np.inf
        mean_popularity.append(popularity[np.argsort(-scores, axis=1)[:, :5]].mean())
    assert mean_popularity[1] < 0.8 * mean_popularity[0], mean_popularity
