"""Confidence intervals and paired tests against scipy on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from recsys_bench.eval.stats import mean_ci, paired_test, t_half_width


def test_mean_ci_matches_scipy_t_interval():
    values = [0.0476, 0.0451, 0.0502, 0.0469]
    ci = mean_ci(values)
    low, high = sps.t.interval(0.95, df=3, loc=np.mean(values), scale=sps.sem(values))
    assert ci.n == 4
    assert ci.mean == pytest.approx(np.mean(values))
    assert (ci.low, ci.high) == pytest.approx((low, high))
    assert ci.half_width == pytest.approx((high - low) / 2)


def test_mean_ci_by_hand_three_seeds():
    # mean 2, s = 1, t_{0.975, 2} = 4.302653 -> half = 4.302653 / sqrt(3)
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_mean_ci_other_confidence_is_narrower():
    values = np.random.default_rng(0).normal(size=10)
    assert mean_ci(values, 0.8).half_width < mean_ci(values, 0.95).half_width
    with pytest.raises(ValueError):
        mean_ci(values, 1.0)


def test_mean_ci_one_value_has_no_interval_and_nan_is_dropped():
    ci = mean_ci([0.3, float("nan")])
    assert ci.n == 1 and ci.mean == 0.3
    assert math.isnan(ci.low) and math.isnan(ci.high)
    empty = mean_ci([])
    assert empty.n == 0 and math.isnan(empty.mean)


def test_t_half_width_vectorised_matches_scalar():
    half = t_half_width([1.0, 2.0, 0.5], [3, 5, 1])
    assert half[0] == pytest.approx(mean_ci([1.0, 2.0, 3.0]).half_width)
    assert half[1] == pytest.approx(sps.t.ppf(0.975, 4) * 2.0 / math.sqrt(5))
    assert math.isnan(half[2])


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, 300) / 5
    b = np.clip(a - (rng.random(300) < 0.2) / 5, 0, 1)
    result = paired_test(a, b)
    expected = sps.ttest_rel(a, b)
    assert result.method == "t" and result.n == 300
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.mean_difference == pytest.approx(np.mean(a - b))
    assert result.p_value < 1e-6


def test_paired_wilcoxon_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=80)
    b = a + rng.normal(0.3, 1.0, size=80)
    result = paired_test(a, b, method="wilcoxon")
    expected = sps.wilcoxon(a, b)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_paired_drops_nan_pairs_and_handles_equal_samples():
    a = np.array([0.2, np.nan, 0.4, 0.0, 0.6])
    b = np.array([0.0, 0.2, np.nan, 0.2, 0.2])
    result = paired_test(a, b)
    expected = sps.ttest_rel([0.2, 0.0, 0.6], [0.0, 0.2, 0.2])
    assert result.n == 3
    assert result.p_value == pytest.approx(expected.pvalue)
    same = paired_test([0.2, 0.4, 0.0], [0.2, 0.4, 0.0])
    assert same.p_value == 1.0 and same.mean_difference == 0.0
    assert math.isnan(paired_test([1.0], [0.0]).p_value)


def test_paired_rejects_misaligned_or_unknown():
    with pytest.raises(ValueError):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        paired_test([1, 2, 3], [1, 2, 4], method="sign")
