"""Each preset against the library it reimplements, on the same trained model and split."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench import models
from recsys_bench.eval.presets import (
    NotApplicable,
    ProtocolInput,
    compute,
    implicit_metrics,
    liang_metrics,
    lightfm_auc_from_ranks,
    lightfm_metrics,
    lightfm_ranks,
)
from recsys_bench.eval.topk import topk
from recsys_bench.splits import make_split


def _likes(n_users=120, n_items=90, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_users, 4)) @ rng.normal(size=(4, n_items))
    popular = np.linspace(1.5, -1.5, n_items)
    liked = (taste + popular + rng.normal(size=taste.shape)) > 1.6
    return sp.csr_matrix(liked.astype(np.float32))


@pytest.fixture(scope="module")
def split():
    return make_split(_likes(), "ratio", seed=0, fraction=0.3)


def _input(split, scorer, k, scores=True) -> ProtocolInput:
    lists = {True: topk(scorer, split.users, max(k, 100) if split.shape[1] >= 100 else k,
                        exclude=split.train, block_size=64),
             False: topk(scorer, split.users, k, block_size=64)}
    return ProtocolInput(train=split.train, test=split.test, users=split.users, k=k, lists=lists,
                         scores=scorer if scores else None, block_size=32)


@pytest.fixture(scope="module")
def lightfm_model(split):
    model = models.get("lightfm-warp", no_components=8, epochs=5, random_state=3, num_threads=1)
    model.fit(split.train)
    inner = model._model
    n_items = split.shape[1]

    def library_scores(users):
        users = np.asarray(users, dtype=np.int32)
        return inner.predict(np.repeat(users, n_items), np.tile(np.arange(n_items, dtype=np.int32),
                                                                len(users))
                             ).reshape(len(users), n_items).astype(np.float32)
    return model, inner, library_scores


@pytest.mark.parametrize("k", [5, 10])
def test_lightfm_preset_matches_lightfm_evaluation(split, lightfm_model, k):
    from lightfm.evaluation import auc_score, precision_at_k, recall_at_k

    _, inner, library_scores = lightfm_model
    train, test = split.train, split.test
    ours = lightfm_metrics(_input(split, library_scores, k))
    for suffix, given in (("", train), ("_unfiltered", None)):
        expected = {
            "precision_at_k": precision_at_k(inner, test, train_interactions=given, k=k),
            "recall_at_k": recall_at_k(inner, test, train_interactions=given, k=k),
            "auc_score": auc_score(inner, test, train_interactions=given)}
        for name, values in expected.items():
            got = ours[name + suffix]
            assert got.n_users == len(values)
            np.testing.assert_allclose(got.per_user, values, rtol=0, atol=1e-6)
            assert abs(got.value - float(np.mean(values))) < 1e-6
    # the train subset (many positives per user) exercises the float32 AUC accumulation
    on_train = ProtocolInput(train=sp.csr_matrix(train.shape, dtype=np.float32), test=train,
                             users=np.flatnonzero(np.diff(train.indptr)), k=k, lists={},
                             scores=library_scores)
    got = lightfm_metrics(on_train)["auc_score_unfiltered"]
    np.testing.assert_allclose(got.per_user, auc_score(inner, train), rtol=0, atol=1e-6)


def test_lightfm_from_stored_lists_agrees_without_ties(split, lightfm_model):
    from lightfm.evaluation import precision_at_k

    _, inner, library_scores = lightfm_model
    data = _input(split, library_scores, 10)
    from_lists = lightfm_metrics(data, from_scores=False)
    expected = precision_at_k(inner, split.test, train_interactions=split.train, k=10)
    np.testing.assert_allclose(from_lists["precision_at_k"].per_user, expected, atol=1e-6)
    assert isinstance(from_lists["auc_score"], NotApplicable)


def test_lightfm_ranks_count_ties_against_the_item():
    scores = np.array([[0.5, 0.5, 0.1, 0.9]], dtype=np.float32)
    truth = sp.csr_matrix(np.array([[1, 0, 1, 0]], dtype=np.float32))
    ranks = lightfm_ranks(scores, truth)
    assert ranks.data.tolist() == [2.0, 3.0]
    excluded = sp.csr_matrix(np.array([[0, 0, 0, 1]], dtype=np.float32))
    assert lightfm_ranks(scores, truth, excluded).data.tolist() == [1.0, 2.0]
    # ranks [1, 2] minus positives above [0, 1] -> one negative above each, of 1 negative
    auc = lightfm_auc_from_ranks(lightfm_ranks(scores, truth, excluded), np.array([1]))
    assert auc.tolist() == [0.0]


def test_implicit_preset_matches_ranking_metrics_at_k(split):
    from implicit.evaluation import ranking_metrics_at_k

    model = models.get("implicit-als", factors=8, iterations=4, regularization=0.1, random_state=1,
                       num_threads=1)
    model.fit(split.train)
    inner = model._model
    k = 10
    expected = ranking_metrics_at_k(inner, split.train, split.test, K=k, show_progress=False)
    # the harness's own lists (its top-k of its own scores, train removed)
    ours = implicit_metrics(_input(split, model, k, scores=False))
    for name in ("precision", "map", "ndcg", "auc"):
        assert abs(ours[name].value - expected[name]) < 1e-6, name
    # the user set: rows of test with at least one item
    assert ours["map"].n_users == int((np.diff(split.test.indptr) > 0).sum())


def test_implicit_precision_is_pooled_not_averaged():
    train = sp.csr_matrix((2, 6), dtype=np.float32)
    test = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0]], dtype=np.float32))
    lists = {True: np.array([[0, 2, 3], [1, 5, 0]])}
    data = ProtocolInput(train=train, test=test, users=np.array([0, 1]), k=3, lists=lists)
    got = implicit_metrics(data)
    # hits 1 and 1; divisors min(3, 1) = 1 and min(3, 4) = 3: pooled 2/4, not mean(1, 1/3)
    assert got["precision"].value == pytest.approx(0.5)
    # AP: user 0 hit at rank 1 -> 1/1; user 1 hit at rank 1 -> 1/3
    assert got["map"].value == pytest.approx((1 + 1 / 3) / 2)
    # AUC user 0: misses at ranks 2, 3 after 1 hit -> 2, plus (1 + 1)/2 * (5 - 2) = 3 -> 5/5
    # user 1: 1 hit then 2 misses -> 2, plus (1 + 4)/2 * (2 - 2) = 0 -> 2 / (4 * 2)
    assert got["auc"].value == pytest.approx((1.0 + 0.25) / 2)


def test_liang_recall_divides_by_min_k_and_truth():
    n_items = 120
    train = sp.csr_matrix((1, n_items), dtype=np.float32)
    truth_items = np.arange(30)
    test = sp.csr_matrix((np.ones(30, np.float32), (np.zeros(30, int), truth_items)),
                         shape=(1, n_items))
    top = np.concatenate([np.arange(10), np.arange(30, 120), np.arange(10, 30)])[None, :]
    data = ProtocolInput(train=train, test=test, users=np.array([0]), k=10,
                         lists={True: top[:, :100]})
    got = liang_metrics(data)
    assert got["recall@20"].value == pytest.approx(10 / 20)
    assert got["recall@50"].value == pytest.approx(10 / 30)
    discount = 1 / np.log2(np.arange(2, 102))
    assert got["ndcg@100"].value == pytest.approx(discount[:10].sum() / discount[:30].sum())
    short = ProtocolInput(train=train, test=test, users=np.array([0]), k=10,
                          lists={True: top[:, :10]})
    assert isinstance(liang_metrics(short)["ndcg@100"], NotApplicable)


def test_compute_reports_what_cannot_apply(split):
    data = ProtocolInput(train=split.train, test=split.test, users=split.users, k=5,
                         lists={True: np.zeros((len(split.users), 5), dtype=np.int32)})
    values = compute("recsys-bench", data)
    assert isinstance(values["auc"], NotApplicable)
    assert "score" in str(values["auc"])
    lightfm = compute("lightfm", data)
    assert isinstance(lightfm["precision_at_k_unfiltered"], NotApplicable)
    assert "without train items removed" in str(lightfm["precision_at_k_unfiltered"])


def test_lightfm_preset_on_the_harness_scores_matches_the_library(split, lightfm_model):
    """The harness scores LightFM with one matrix product instead of LightFM's own loop; on
    this split the rounding difference moves no rank, so the figures still agree to 1e-6."""
    from lightfm.evaluation import auc_score, precision_at_k

    model, inner, _ = lightfm_model
    ours = lightfm_metrics(_input(split, model.scores, 10))
    expected = precision_at_k(inner, split.test, train_interactions=split.train, k=10)
    np.testing.assert_allclose(ours["precision_at_k"].per_user, expected, atol=1e-6)
    expected = auc_score(inner, split.test, train_interactions=split.train)
    np.testing.assert_allclose(ours["auc_score"].per_user, expected, atol=1e-6)
