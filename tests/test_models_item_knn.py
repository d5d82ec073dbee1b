"""item-knn: conformance, the cosine similarity it should compute, and implicit's own scores."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.nearest_neighbours import BM25Recommender

from recsys_bench.errors import UserError
from recsys_bench.models import get
from recsys_bench.testing import ConformanceSuite

KNN_BAD = [{"similarity": "jaccard"}, {"K": 0}, {"K": 2.0}, {"K1": -1.0}, {"B": 1.5},
           {"num_threads": -2}]


class TestItemKNNCosine(ConformanceSuite):
    model_name = "item-knn"
    params = {"similarity": "cosine", "K": 20}
    bad_params = KNN_BAD


class TestItemKNNBM25(ConformanceSuite):
    model_name = "item-knn"
    params = {"similarity": "bm25", "K": 20}


def test_cosine_with_all_neighbours_is_dense_cosine(small_train):
    model = get("item-knn", similarity="cosine", K=small_train.shape[1], num_threads=1)
    model.fit(small_train)
    dense = small_train.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=0, keepdims=True)
    unit = dense / np.where(norms > 0, norms, 1.0)
    np.testing.assert_allclose(model.similarity.toarray(), unit.T @ unit, rtol=1e-5, atol=1e-6)
    users = np.array([0, 7, 42])
    np.testing.assert_allclose(model.scores(users), dense[users] @ unit.T @ unit,
                               rtol=1e-5, atol=1e-6)


def test_k_keeps_at_most_k_neighbours(small_train):
    model = get("item-knn", K=5, num_threads=1)
    model.fit(small_train)
    assert np.diff(model.similarity.indptr).max() <= 5


@pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")
def test_scores_match_implicits_own_recommend(small_train):
    model = get("item-knn", similarity="bm25", K=10, K1=1.5, B=0.5, num_threads=1)
    model.fit(small_train)
    reference = BM25Recommender(K=10, K1=1.5, B=0.5, num_threads=1)
    reference.fit(small_train, show_progress=False)
    for user in (0, 11, 30):
        ids, scores = reference.recommend(user, small_train[user], N=8,
                                          filter_already_liked_items=False)
        np.testing.assert_allclose(model.scores(np.array([user]))[0, ids], scores, rtol=1e-5)


def test_bm25_parameters_matter(small_train):
    users = np.arange(small_train.shape[0])
    first = get("item-knn", similarity="bm25", K1=0.5, B=0.1, num_threads=1)
    second = get("item-knn", similarity="bm25", K1=3.0, B=0.9, num_threads=1)
    first.fit(small_train)
    second.fit(small_train)
    assert not np.allclose(first.scores(users), second.scores(users))


def test_no_epochs_no_vectors(small_train):
    model = get("item-knn", num_threads=1)
    model.fit(small_train, epochs=7)
    assert model.epochs_done == 0
    assert model.item_vectors() is None and model.factors() is None
    with pytest.raises(NotImplementedError):
        model.fit_more(1)
    with pytest.raises(UserError, match="similarity"):
        get("item-knn", similarity="euclid")
