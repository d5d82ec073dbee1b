"""LightFM adapters: conformance, scores against LightFM's own predict, and the part-2 question
"do tags help?" on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models import get
from recsys_bench.testing import ConformanceSuite

BAD_PARAMS = [{"factors": 0}, {"no_components": 2.5}, {"learning_rate": -0.1},
              {"learning_rate": 0.0}, {"item_alpha": -1e-3}, {"epochs": 0},
              {"iterations": -1}, {"features": "genres"}, {"num_threads": -1},
              {"learning_schedule": "sgd"}, {"factors": 4, "no_components": 4}]


class TestLightFMWarp(ConformanceSuite):
    model_name = "lightfm-warp"
    params = {"no_components": 8, "epochs": 5}
    bad_params = BAD_PARAMS + [{"max_sampled": 0}]


class TestLightFMBPR(ConformanceSuite):
    model_name = "lightfm-bpr"
    params = {"no_components": 8, "epochs": 5}
    bad_params = BAD_PARAMS
    checkerboard_params = {"epochs": 20}


class TestLightFMWarpTags(ConformanceSuite):
    model_name = "lightfm-warp"
    params = {"no_components": 8, "epochs": 5, "features": "tags"}
    needs_features = True


def tag_world(seed: int, *, informative: bool, train_likes: int, n_users: int = 200,
              n_items: int = 400, n_groups: int = 4):
    """Users like exactly the items of their group; train holds ``train_likes`` of them per user.

    Returns ``(train, truth, tags)``: ``truth`` (users x items bool) is every liked item not in
    train; ``tags`` is one tag per item, equal to its group when ``informative``, otherwise drawn
    independently of it. With 3 train likes per user most items have 0-2 train interactions, so
    identity embeddings alone cannot place them.
    """
    rng = np.random.default_rng(seed)
    item_group = rng.integers(0, n_groups, n_items)
    user_group = rng.integers(0, n_groups, n_users)
    liked = user_group[:, None] == item_group[None, :]
    cols = np.concatenate([rng.choice(np.flatnonzero(row), train_likes, replace=False)
                           for row in liked])
    rows = np.repeat(np.arange(n_users), train_likes)
    train = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)),
                          shape=(n_users, n_items))
    truth = liked & (train.toarray() == 0)
    tag = item_group if informative else rng.integers(0, n_groups, n_items)
    tags = sp.csr_matrix((np.ones(n_items, np.float32), (np.arange(n_items), tag)),
                         shape=(n_items, n_groups))
    return train, truth, tags


def precision_at_k(model, train: sp.csr_matrix, truth: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-user precision@k with train items excluded."""
    scores = model.scores(np.arange(train.shape[0]))
    scores[train.toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(truth, top, axis=1).mean(axis=1)


def fit_pair(name: str, train, tags, **params):
    common = {"factors": 8, "epochs": 20, "num_threads": 1, "random_state": 0, **params}
    plain, tagged = get(name, features="none", **common), get(name, features="tags", **common)
    plain.fit(train, item_features=tags)
    tagged.fit(train, item_features=tags)
    return plain, tagged


@pytest.mark.parametrize("name", ["lightfm-warp", "lightfm-bpr"])
@pytest.mark.parametrize("seed", [0, 1])
def test_informative_tags_beat_identity_only(name, seed):
    train, truth, tags = tag_world(seed, informative=True, train_likes=3)
    plain, tagged = fit_pair(name, train, tags)
    p_plain = precision_at_k(plain, train, truth)
    p_tagged = precision_at_k(tagged, train, truth)
    # 4 groups: chance is 0.25; measured 0.24-0.44 without tags, 1.00 with.
    assert p_tagged.mean() >= 0.9
    assert p_tagged.mean() >= p_plain.mean() + 0.3
    assert (p_tagged >= p_plain).mean() >= 0.8


@pytest.mark.parametrize("seed", [0, 1])
def test_noise_tags_do_not_help(seed):
    train, truth, tags = tag_world(seed, informative=False, train_likes=6)
    plain, tagged = fit_pair("lightfm-warp", train, tags)
    p_plain = precision_at_k(plain, train, truth)
    p_tagged = precision_at_k(tagged, train, truth)
    # Collaborative filtering works here (measured 0.66-0.87); noise tags only blur items.
    assert p_plain.mean() >= 0.5
    diff = p_tagged - p_plain
    assert diff.mean() <= 2 * diff.std(ddof=1) / np.sqrt(diff.size)


@pytest.mark.parametrize("features", ["none", "tags"])
@pytest.mark.parametrize("normalize", [False, True])
def test_scores_equal_lightfm_predict(small_train, small_features, features, normalize):
    model = get("lightfm-warp", factors=6, epochs=3, num_threads=1, features=features,
                normalize_features=normalize)
    model.fit(small_train, item_features=small_features)
    n_users, n_items = small_train.shape
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    expected = model._model.predict(users, items, item_features=model._item_features,
                                    num_threads=1).reshape(n_users, n_items)
    np.testing.assert_allclose(model.scores(np.arange(n_users)), expected, rtol=1e-5, atol=1e-5)


def test_tag_item_matrix_is_identity_then_tags(small_train, small_features):
    model = get("lightfm-warp", factors=4, epochs=1, num_threads=1, features="tags")
    model.fit(small_train, item_features=small_features)
    n_items = small_train.shape[1]
    full = model._item_features
    assert full.dtype == np.float32 and full.shape == (n_items, n_items + small_features.shape[1])
    np.testing.assert_array_equal(full[:, :n_items].toarray(), np.eye(n_items))
    np.testing.assert_array_equal(full[:, n_items:].toarray(), small_features.toarray())
    embeddings = model._model.item_embeddings
    np.testing.assert_allclose(model.item_vectors(),
                               embeddings[:n_items] + small_features @ embeddings[n_items:],
                               rtol=1e-5, atol=1e-6)


def test_normalized_rows_sum_to_one(small_train, small_features):
    model = get("lightfm-bpr", factors=4, epochs=1, num_threads=1, features="tags",
                normalize_features=True)
    model.fit(small_train, item_features=small_features)
    np.testing.assert_allclose(np.asarray(model._item_features.sum(axis=1)).ravel(), 1.0,
                               rtol=1e-6)


def test_counts_are_binarised(small_train):
    doubled = small_train.copy()
    doubled.data *= 3
    users = np.arange(small_train.shape[0])
    first = get("lightfm-warp", factors=4, epochs=2, num_threads=1)
    second = get("lightfm-warp", factors=4, epochs=2, num_threads=1)
    first.fit(small_train)
    second.fit(doubled)
    np.testing.assert_array_equal(first.scores(users), second.scores(users))


def test_tags_without_item_features_is_a_user_error(small_train):
    with pytest.raises(UserError, match="features='tags' needs item features"):
        get("lightfm-warp", features="tags", epochs=1).fit(small_train)


def test_item_features_with_wrong_rows_is_a_user_error(small_train, small_features):
    with pytest.raises(UserError, match="rows"):
        get("lightfm-warp", features="tags", epochs=1).fit(small_train,
                                                           item_features=small_features[:-1])


def test_aliases_and_epoch_override(small_train):
    model = get("lightfm-warp", factors=5, iterations=3, num_threads=1)
    assert model.params["no_components"] == 5 and model.params["epochs"] == 3
    model.fit(small_train, epochs=2)
    assert model.epochs_done == 2
    assert model.item_vectors().shape == (small_train.shape[1], 5)
    user_factors, item_factors = model.factors()
    assert user_factors.shape == (small_train.shape[0], 7)
    assert item_factors.shape == (small_train.shape[1], 7)
    with pytest.raises(UserError, match="epochs must be an integer >= 0"):
        model.fit_more(-1)


@pytest.mark.parametrize("name", ["lightfm-warp", "lightfm-bpr"])
def test_divergence_is_a_user_error(small_train, name):
    model = get(name, learning_rate=1e4, epochs=5, num_threads=1)
    with pytest.raises(UserError, match="diverged"):
        model.fit(small_train)
    with pytest.raises(UserError):
        model.scores(np.arange(2))


def test_all_cores_thread_setting_fits(small_train):
    model = get("lightfm-warp", factors=4, epochs=2, num_threads=0)
    model.fit(small_train)
    assert np.isfinite(model.scores(np.arange(3))).all()
