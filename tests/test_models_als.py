"""implicit-als and numpy-als: conformance, the oracle agreement, alpha semantics, threads."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares, least_squares_cg
from threadpoolctl import threadpool_info as raw_threadpool_info

from recsys_bench.errors import UserError
from recsys_bench.eval.topk import topk
from recsys_bench.models import get
from recsys_bench.models.implicit_als import cuda_available
from recsys_bench.models.numpy_als import (
    confidence,
    initial_factors,
    row_blocks,
    solve_cg,
    solve_exact,
    wrmf_loss,
)
from recsys_bench.testing import ConformanceSuite, low_rank_likes
from recsys_bench.threads import machine_info, pinned_blas, resolve_threads, threadpool_info

ALS = {"factors": 8, "regularization": 0.1, "alpha": 10.0, "iterations": 10}
BOARD = {"factors": 2}
ALS_BAD = [{"factors": 0}, {"factors": 2.5}, {"regularization": -1.0},
           {"regularization": float("nan")}, {"alpha": -1.0}, {"iterations": 0},
           {"num_threads": -1}, {"random_state": "seed"}]


class TestImplicitALSConjugateGradient(ConformanceSuite):
    model_name = "implicit-als"
    params = ALS
    checkerboard_params = BOARD
    bad_params = ALS_BAD + [{"use_cg": "yes"}]


class TestImplicitALSCholesky(ConformanceSuite):
    model_name = "implicit-als"
    params = {**ALS, "use_cg": False}
    checkerboard_params = BOARD


class TestNumpyALSExact(ConformanceSuite):
    model_name = "numpy-als"
    params = ALS
    checkerboard_params = BOARD
    bad_params = ALS_BAD + [{"solver": "lu"}, {"cg_steps": 0}]


class TestNumpyALSConjugateGradient(ConformanceSuite):
    model_name = "numpy-als"
    params = {**ALS, "solver": "cg"}
    checkerboard_params = BOARD


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("regularization", [0.01, 0.1, 10.0])
def test_exact_numpy_als_matches_implicit_cholesky_after_one_sweep(small_train, regularization):
    init = initial_factors(*small_train.shape, 8, random_state=7)
    params = dict(factors=8, regularization=regularization, alpha=10.0, num_threads=1)
    ours = get("numpy-als", solver="exact", **params)
    ours.fit(small_train, epochs=1, init=init)
    theirs = get("implicit-als", use_cg=False, **params)
    theirs.fit(small_train, epochs=1, init=init)
    for got, want in zip(theirs.factors(), ours.factors()):
        assert relative_error(got, want) < 1e-4


def test_seeded_start_is_implicits_start(small_train):
    ours = get("numpy-als", factors=8, random_state=3)
    ours.fit(small_train, epochs=0)
    theirs = AlternatingLeastSquares(factors=8, iterations=0, random_state=3)
    theirs.fit(small_train, show_progress=False)
    np.testing.assert_array_equal(ours.user_factors, theirs.user_factors)
    np.testing.assert_array_equal(ours.item_factors, theirs.item_factors)


def test_harness_alpha_is_the_study_alpha(small_train):
    """implicit 0.7 uses alpha * d as the confidence; the adapter hands it 1 + alpha * d."""
    alpha = 5.0
    adapter = get("implicit-als", factors=8, alpha=alpha, iterations=3, num_threads=1)
    adapter.fit(small_train)
    with pinned_blas(1):
        study = AlternatingLeastSquares(factors=8, iterations=3, num_threads=1, random_state=0)
        study.fit(confidence(small_train, alpha), show_progress=False)
        native = AlternatingLeastSquares(factors=8, alpha=alpha, iterations=3, num_threads=1,
                                         random_state=0)
        native.fit(small_train, show_progress=False)
        scaled = AlternatingLeastSquares(factors=8, iterations=3, num_threads=1, random_state=0)
        scaled.fit((alpha * small_train).tocsr(), show_progress=False)
    np.testing.assert_array_equal(adapter.user_factors, study.user_factors)
    np.testing.assert_array_equal(native.user_factors, scaled.user_factors)
    assert not np.allclose(native.user_factors, study.user_factors, rtol=1e-2)


def test_vectorised_cg_is_implicits_cg_row_for_row(small_train):
    """In float64 the all-rows-at-once CG reproduces implicit's per-row reference CG."""
    conf = confidence(small_train, 10.0).astype(np.float64)
    conf_t = conf.T.tocsr()
    users, items = (a.astype(np.float64) for a in initial_factors(*small_train.shape, 8, 1))
    ours_u, ours_i = users.copy(), items.copy()
    least_squares_cg(conf, users, items, 0.1, cg_steps=3)
    least_squares_cg(conf_t, items, users, 0.1, cg_steps=3)
    rows = np.repeat(np.arange(conf.shape[0]), np.diff(conf.indptr))
    rows_t = np.repeat(np.arange(conf_t.shape[0]), np.diff(conf_t.indptr))
    solve_cg(conf, rows, ours_u, ours_i, 0.1, 3)
    solve_cg(conf_t, rows_t, ours_i, ours_u, 0.1, 3)
    assert relative_error(ours_u, users) < 1e-6
    assert relative_error(ours_i, items) < 1e-6


def test_exact_solve_is_the_normal_equations(small_train):
    conf = confidence(small_train, 3.0)
    items = np.random.default_rng(0).normal(size=(small_train.shape[1], 4))
    got = solve_exact(conf, items, 0.5)
    dense = conf.toarray()
    for u in (0, 13, 59):
        c_u = np.where(dense[u] > 0, dense[u], 1.0)
        p_u = (dense[u] > 0).astype(float)
        lhs = items.T @ (c_u[:, None] * items) + 0.5 * np.eye(4)
        np.testing.assert_allclose(got[u], np.linalg.solve(lhs, items.T @ (c_u * p_u)),
                                   rtol=1e-10)


def test_loss_formula_equals_the_dense_loss(small_train):
    conf = confidence(small_train, 4.0)
    rng = np.random.default_rng(0)
    users = rng.normal(size=(small_train.shape[0], 3))
    items = rng.normal(size=(small_train.shape[1], 3))
    dense = conf.toarray()
    c = np.where(dense > 0, dense, 1.0)
    p = (dense > 0).astype(float)
    want = np.sum(c * (p - users @ items.T) ** 2) + 0.2 * (np.sum(users ** 2) + np.sum(items ** 2))
    assert wrmf_loss(conf, users, items, 0.2) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_training_loss_decreases_monotonically(small_train, solver):
    model = get("numpy-als", factors=8, regularization=0.1, alpha=10.0, solver=solver)
    model.fit(small_train, epochs=0)
    losses = [model.training_loss()]
    for _ in range(12):
        model.fit_more(1)
        losses.append(model.training_loss())
    assert np.all(np.diff(losses) <= 1e-9 * abs(losses[0]))
    assert losses[-1] < 0.5 * losses[0]


def holdout(matrix: sp.csr_matrix, per_user: int, seed: int) -> tuple[sp.csr_matrix,
                                                                       sp.csr_matrix]:
    """Move ``per_user`` random likes of every user from train to test."""
    rng = np.random.default_rng(seed)
    coo = matrix.tocoo()
    order = np.lexsort((rng.random(coo.nnz), coo.row))
    rank = np.arange(coo.nnz) - np.repeat(matrix.indptr[:-1], np.diff(matrix.indptr))
    test = np.zeros(coo.nnz, bool)
    test[order[rank < per_user]] = True
    pick = lambda mask: sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])),
                                      shape=matrix.shape)
    return pick(~test), pick(test)


def precision_at(model, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> float:
    users = np.arange(train.shape[0])
    top = topk(model, users, k, exclude=train)
    return float((np.take_along_axis(test.toarray(), top, axis=1) > 0).mean())


def test_solvers_and_libraries_agree_on_precision():
    """Same split, same settings: exact, CG and implicit reach the same p@5 within noise."""
    train, test = holdout(low_rank_likes(400, 150, rank=4, per_user=15, seed=5), 3, seed=0)
    settings = dict(factors=10, regularization=0.1, alpha=5.0, iterations=10, num_threads=1)
    found = {}
    for name, extra in [("numpy-als", {"solver": "exact"}), ("numpy-als", {"solver": "cg"}),
                        ("implicit-als", {"use_cg": True}), ("implicit-als", {"use_cg": False})]:
        model = get(name, **settings, **extra)
        model.fit(train)
        found[f"{name} {extra}"] = precision_at(model, train, test, 5)
    popularity = np.argsort(-np.asarray(train.sum(axis=0)).ravel(), kind="stable")
    floor = precision_at(lambda users: np.tile(-np.argsort(popularity).astype(np.float32),
                                               (len(users), 1)), train, test, 5)
    values = np.array(list(found.values()))
    assert values.min() > floor + 0.03, (found, floor)
    assert values.max() - values.min() <= 0.02, found


def test_use_gpu_without_cuda_is_a_user_error():
    if cuda_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(UserError, match="CUDA"):
        get("implicit-als", use_gpu=True)


def test_epochs_alias_and_errors(small_train):
    model = get("numpy-als", factors=4, epochs=3)
    assert model.params["iterations"] == 3
    with pytest.raises(UserError, match="not both"):
        get("implicit-als", epochs=3, iterations=4)
    with pytest.raises(UserError, match="fit before"):
        get("implicit-als").fit_more(1)
    with pytest.raises(UserError, match="init factors"):
        get("numpy-als", factors=4).fit(small_train, init=(np.zeros((2, 4)), np.zeros((2, 4))))
    with pytest.raises(UserError, match="epochs"):
        get("implicit-als", factors=4).fit(small_train, epochs=-1)


def test_pinned_blas_limits_and_restores():
    before = [pool["num_threads"] for pool in raw_threadpool_info() if pool["user_api"] == "blas"]
    with pinned_blas(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info()
                   if pool["user_api"] == "blas")
    after = [pool["num_threads"] for pool in raw_threadpool_info() if pool["user_api"] == "blas"]
    assert after == before


def test_resolve_threads_and_machine_info():
    assert resolve_threads(0) == os.cpu_count()
    assert resolve_threads(3) == 3
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(UserError):
            resolve_threads(bad)
    info = machine_info()
    assert info["cores"] == os.cpu_count()
    assert info["packages"]["numpy"] == np.__version__
    assert info["packages"]["implicit"]
    assert all("filepath" not in pool for pool in info["threadpools"])


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_numpy_als_threads_give_the_same_factors(small_train, solver):
    one = get("numpy-als", factors=6, alpha=10.0, iterations=3, solver=solver, num_threads=1)
    three = get("numpy-als", factors=6, alpha=10.0, iterations=3, solver=solver, num_threads=3)
    one.fit(small_train)
    three.fit(small_train)
    for got, want in zip(three.factors(), one.factors()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_row_blocks_cover_every_row_once(small_train):
    blocks = row_blocks(small_train, 4)
    assert [b.start for b in blocks][0] == 0 and blocks[-1].stop == small_train.shape[0]
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    assert sum(b.conf.nnz for b in blocks) == small_train.nnz
    assert max(b.conf.nnz for b in blocks) <= small_train.nnz / 4 + 8
