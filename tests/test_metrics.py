import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_bench.eval.metrics import (
    auc,
    coverage,
    hits,
    mse_closed_form,
    mse_dense,
    nanmean,
    ranking_metrics,
)
from recsys_bench.eval.topk import topk


def reference_ranking(top, truth, k):
    """Per-user metrics straight from the definitions in docs/metrics.md."""
    out = {m: [] for m in ("precision", "recall", "ndcg", "map", "hit_rate")}
    for u in range(top.shape[0]):
        relevant = set(truth[u].indices)
        ranked = list(top[u, :k])
        hit = [1.0 if i in relevant else 0.0 for i in ranked]
        n_hits = sum(hit)
        out["precision"].append(n_hits / k)
        out["recall"].append(n_hits / len(relevant) if relevant else math.nan)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hit))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
        out["ndcg"].append(dcg / idcg if idcg else 0.0)
        ap = sum(sum(hit[:r + 1]) / (r + 1) * hit[r] for r in range(k))
        out["map"].append(ap / min(k, len(relevant)) if relevant else 0.0)
        out["hit_rate"].append(1.0 if n_hits else 0.0)
    return {m: np.array(v) for m, v in out.items()}


def reference_auc(scores, truth, exclude=None):
    out = []
    for u, row in enumerate(scores):
        banned = set() if exclude is None else set(exclude[u].indices)
        pos = [i for i in truth[u].indices if i not in banned]
        neg = [j for j in range(len(row)) if j not in banned and j not in set(truth[u].indices)]
        if not pos or not neg:
            out.append(math.nan)
            continue
        wins = sum(1.0 if row[i] > row[j] else 0.5 if row[i] == row[j] else 0.0
                   for i in pos for j in neg)
        out.append(wins / (len(pos) * len(neg)))
    return np.array(out)


def test_hand_computed_example():
    top = np.array([[3, 1, 2], [0, 4, -1], [2, 3, 4]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 1], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]]))
    got = ranking_metrics(top, truth, 3)
    d2 = 1 / math.log2(3)
    np.testing.assert_allclose(got["precision"], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(got["recall"], [1 / 2, 1, np.nan])
    np.testing.assert_allclose(got["ndcg"], [d2 / (1 + d2), 1, 0])
    np.testing.assert_allclose(got["map"], [(1 / 2) / 2, (1 + 1) / 2, 0])
    np.testing.assert_allclose(got["hit_rate"], [1, 1, 0])
    assert nanmean(got["recall"]) == pytest.approx(0.75)
    assert coverage(top, 10) == pytest.approx(0.5)


def test_padding_is_never_a_hit_even_next_to_the_previous_row():
    truth = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 0]]))
    np.testing.assert_array_equal(hits(np.array([[0, 1], [-1, -1]]), truth), [[0, 0], [0, 0]])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 15), n_items=st.integers(1, 25),
       k=st.integers(1, 25), density=st.floats(0, 0.6))
def test_ranking_metrics_match_reference(seed, n_users, n_items, k, density):
    k = min(k, n_items)
    rng = np.random.default_rng(seed)
    truth = sp.random(n_users, n_items, density=density, format="csr", random_state=seed)
    top = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int32)
    top[rng.random(top.shape) < 0.1] = -1
    got = ranking_metrics(top, truth, k)
    for name, expected in reference_ranking(top, truth, k).items():
        np.testing.assert_allclose(got[name], expected, rtol=1e-12, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 8), n_items=st.integers(2, 30),
       levels=st.sampled_from([2, 4, 1000]), use_exclude=st.booleans(),
       block_size=st.sampled_from([None, 1, 3]))
def test_auc_matches_pairwise_reference(seed, n_users, n_items, levels, use_exclude, block_size):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, (n_users, n_items)).astype(np.float32)
    truth = sp.random(n_users, n_items, density=0.3, format="csr", random_state=seed)
    exclude = sp.random(n_users, n_items, density=0.2, format="csr",
                        random_state=(seed + 1) % 2**32)
    exclude = exclude if use_exclude else None
    users = np.arange(n_users)
    got = auc(lambda u: scores[u].copy(), users, truth, exclude=exclude, block_size=block_size)
    np.testing.assert_allclose(got, reference_auc(scores, truth, exclude), rtol=1e-12)


def test_auc_hand_example():
    scores = np.array([[0.9, 0.1, 0.5, 0.5, 0.3]])
    truth = sp.csr_matrix(np.array([[1, 0, 1, 0, 0]]))
    # pairs: 0.9 beats all 3 negatives; 0.5 beats 0.1 and 0.3, ties 0.5 -> (3 + 2.5) / 6
    assert auc(lambda u: scores[u], np.arange(1), truth)[0] == pytest.approx(5.5 / 6)
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 1, 0]]))
    assert auc(lambda u: scores[u], np.arange(1), truth, exclude=exclude)[0] == pytest.approx(1.0)


def test_mse_closed_form_equals_dense_float64():
    rng = np.random.default_rng(0)
    user_factors, item_factors = rng.standard_normal((40, 6)), rng.standard_normal((70, 6))
    truth = sp.random(40, 70, density=0.1, format="csr", random_state=0)
    truth.data[:] = 3.0  # counts: only presence matters
    closed = mse_closed_form(user_factors, item_factors, truth)
    dense = mse_dense(lambda u: user_factors[u] @ item_factors.T, np.arange(40), truth,
                      block_size=7)
    np.testing.assert_allclose(closed, dense, rtol=1e-9)
    scores = user_factors @ item_factors.T
    expected = ((truth.toarray() > 0) - scores) ** 2
    np.testing.assert_allclose(dense, expected.mean(axis=1), rtol=1e-12)


def test_metrics_of_the_shared_topk_with_ties():
    scores = np.zeros((2, 6))
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0]]))
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]))
    top = topk(lambda u: scores[u].copy(), np.arange(2), 2, exclude=exclude)
    np.testing.assert_array_equal(top, [[1, 2], [1, 2]])
    np.testing.assert_allclose(ranking_metrics(top, truth, 2)["precision"], [0.5, 0])
