"""Holm's step-down correction against a hand-worked example."""

import math

import numpy as np
import pytest

from recsys_bench.eval.stats import holm, paired_test, paired_tests_holm


def test_holm_hand_worked():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_skips_nan():
    got = holm([0.5, math.nan, 0.4])
    assert math.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2]], [0.8, 0.8])  # m = 2: 0.4*2 = 0.8, max(0.5, 0.8)
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]
    assert holm([]).size == 0


def test_paired_tests_holm_adjusts_the_family():
    rng = np.random.default_rng(0)
    base = rng.random(200)
    per_user = {"a": base + 0.05, "b": base + rng.normal(0, 0.05, 200),
                "c": base + 0.01 + rng.normal(0, 0.05, 200)}
    out = paired_tests_holm(per_user, "a")
    assert set(out) == {"b", "c"}
    raw = {name: paired_test(per_user["a"], per_user[name]).p_value for name in ("b", "c")}
    np.testing.assert_allclose([out[n][1] for n in ("b", "c")], holm([raw["b"], raw["c"]]))
    assert all(out[n][1] >= out[n][0].p_value for n in out)
    with pytest.raises(ValueError):
        paired_tests_holm(per_user, "missing")
