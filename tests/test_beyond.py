"""Beyond-accuracy metrics on cases worked by hand."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval.beyond import (
    METRICS,
    PER_USER,
    BeyondContext,
    average_popularity,
    coverage,
    gini,
    intra_list_diversity,
    mrr,
    novelty,
    summarise,
)

# 4 users x 5 items; item popularity c = [3, 2, 1, 0, 0]
TRAIN = sp.csr_matrix(np.array([[1, 1, 0, 0, 0],
                                [1, 1, 0, 0, 0],
                                [1, 0, 1, 0, 0],
                                [0, 0, 0, 0, 0]], dtype=np.float32))
TOP = np.array([[0, 1], [2, 3], [4, -1]])


def test_mrr_first_hit_and_undefined_rows():
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 0],     # hit at rank 2 -> 1/2
                                    [0, 0, 1, 1, 0],     # hit at rank 1 -> 1
                                    [0, 0, 0, 0, 0]],    # no truth -> NaN
                                   dtype=np.float32))
    got = mrr(TOP, BeyondContext(TRAIN, truth=truth))
    assert got[:2].tolist() == [0.5, 1.0] and math.isnan(got[2])
    miss = sp.csr_matrix(np.array([[0, 0, 0, 1, 0]] * 3, dtype=np.float32))
    assert mrr(TOP, BeyondContext(TRAIN, truth=miss)).tolist() == [0.0, 1 / 2, 0.0]


def test_novelty_is_mean_self_information_with_add_one():
    got = novelty(TOP, BeyondContext(TRAIN))
    bits = lambda c: -math.log2((c + 1) / 5)  # noqa: E731  (4 users + 1)
    assert got[0] == pytest.approx((bits(3) + bits(2)) / 2)
    assert got[1] == pytest.approx((bits(1) + bits(0)) / 2)
    assert got[2] == pytest.approx(bits(0))  # the -1 pad is not an item


def test_average_popularity():
    assert average_popularity(TOP, BeyondContext(TRAIN)).tolist() == [2.5, 0.5, 0.0]


def test_intra_list_diversity_cosine_distance():
    vectors = np.array([[1, 0], [0, 1], [1, 1], [2, 2], [0, 0]], dtype=np.float64)
    top = np.array([[0, 1, 2], [2, 3, -1], [4, 0, -1], [1, -1, -1]])
    got = intra_list_diversity(top, BeyondContext(TRAIN, item_vectors=vectors))
    # pairs (0,1): cos 0; (0,2), (1,2): cos 1/sqrt2 -> distance mean 1 - (sqrt2)/3
    assert got[0] == pytest.approx(1 - (2 / math.sqrt(2)) / 3)
    assert got[1] == pytest.approx(0.0)          # parallel vectors
    assert got[2] == pytest.approx(1.0)          # a zero vector has cosine 0
    assert math.isnan(got[3])                    # one item: no pair
    sparse = intra_list_diversity(top, BeyondContext(TRAIN, item_vectors=sp.csr_matrix(vectors)))
    np.testing.assert_allclose(sparse[:3], got[:3])


def test_gini_of_exposure():
    context = BeyondContext(TRAIN)
    # every item once: equal exposure
    assert gini(np.array([[0, 1, 2, 3, 4]]), context) == pytest.approx(0.0)
    # one item takes every slot: (n - 1) / n
    assert gini(np.array([[2], [2], [2]]), context) == pytest.approx(4 / 5)
    # exposures sorted [0, 0, 1, 1, 2]: sum (2i - 6) e_i = 1*1 + 3*1 + 5*2 ... over n*sum = 5*4
    expected = ((2 * 3 - 6) * 1 + (2 * 4 - 6) * 1 + (2 * 5 - 6) * 2) / (5 * 4)
    assert gini(np.array([[0, 1], [0, 2]]), context) == pytest.approx(expected)


def test_coverage_reuses_the_existing_definition():
    assert coverage(TOP, BeyondContext(TRAIN)) == pytest.approx(5 / 5)
    assert coverage(np.array([[0, -1]]), BeyondContext(TRAIN)) == pytest.approx(1 / 5)


def test_uniform_signature_and_summary():
    truth = sp.csr_matrix(np.eye(3, 5, dtype=np.float32))
    context = BeyondContext(TRAIN, truth=truth, item_vectors=np.eye(5))
    for name, metric in METRICS.items():
        value = metric(TOP, context)
        assert (np.ndim(value) == 1) == PER_USER[name], name
    summary = summarise(TOP, context)
    assert set(summary) == set(METRICS)
    assert summary["average_popularity"] == pytest.approx(1.0)
    assert set(summarise(TOP, BeyondContext(TRAIN))) == set(METRICS) - {"mrr",
                                                                        "intra_list_diversity"}
    with pytest.raises(UserError, match="item vectors"):
        summarise(TOP, BeyondContext(TRAIN), names=["intra_list_diversity"])
