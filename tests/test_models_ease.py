"""EASE: conformance, the closed form against per-item ridge regressions, the memory guard."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models import ease, get
from recsys_bench.testing import ConformanceSuite


class TestEASE(ConformanceSuite):
    model_name = "ease"
    params = {"regularization": 10.0}
    bad_params = [{"regularization": -1.0}, {"regularization": "high"},
                  {"max_memory_gb": 0}, {"max_memory_gb": -2.0}, {"num_threads": -1},
                  {"l2": 5.0}]


def ridge_weights(x: np.ndarray, lam: float) -> np.ndarray:
    """Each item regressed on all other items with an L2 penalty: the EASE problem column by
    column, solved without the closed form's ``-P_ij / P_jj`` shortcut."""
    n = x.shape[1]
    weights = np.zeros((n, n))
    for j in range(n):
        others = np.arange(n) != j
        a = x[:, others]
        weights[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(n - 1), a.T @ x[:, j])
    return weights


@pytest.mark.parametrize("block", [4096, 7])
def test_closed_form_equals_per_item_ridge(small_train, monkeypatch, block):
    monkeypatch.setattr(ease, "_BLOCK", block)
    model = get("ease", regularization=3.0, num_threads=1)
    model.fit(small_train)
    x = small_train.toarray().astype(np.float64)
    expected = ridge_weights(x, 3.0)
    np.testing.assert_allclose(model._weights, expected, rtol=1e-4, atol=1e-6)
    assert not np.diag(model._weights).any()
    users = np.array([0, 9, 59])
    np.testing.assert_allclose(model.scores(users), x[users] @ expected, rtol=1e-4, atol=1e-5)


def test_memory_guard_names_the_figure(small_train):
    with pytest.raises(UserError, match=r"40 items need about 1\.92e-05 GB .* max_memory_gb"):
        get("ease", max_memory_gb=1e-6).fit(small_train)


def test_default_limit_is_half_the_available_memory(small_train, monkeypatch):
    monkeypatch.setattr(ease, "available_memory_bytes", lambda: 30_000)
    with pytest.raises(UserError, match="half of the available memory"):
        get("ease").fit(small_train)
    monkeypatch.setattr(ease, "available_memory_bytes", lambda: 40_000)
    get("ease").fit(small_train)


def test_memory_needed_gb():
    assert ease.EASE.memory_needed_gb(25_000) == pytest.approx(7.5)
    assert ease.available_memory_bytes() > 0


def test_singular_gram_without_regularization_is_a_user_error():
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0]], dtype=np.float32))
    with pytest.raises(UserError, match="not positive definite"):
        get("ease", regularization=0.0).fit(train)


def test_strong_regularization_approaches_cooccurrence_ranking(small_train):
    model = get("ease", regularization=1e6)
    model.fit(small_train)
    gram = (small_train.T @ small_train).toarray().astype(np.float64)
    np.fill_diagonal(gram, 0.0)
    np.testing.assert_allclose(model._weights * 1e6, gram, rtol=1e-2, atol=1e-2)
