import os

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError
from recsys_bench.splits import (
    fingerprint,
    leave_k_out,
    load_split,
    make_split,
    ratio,
    save_split,
    temporal,
    user_holdout,
)


def random_matrix(seed, n_users=300, n_items=200, density=0.08):
    matrix = sp.random(n_users, n_items, density=density, format="csr", random_state=seed,
                       data_rvs=lambda n: np.ones(n))
    return matrix.astype(np.float32)


def random_stamps(matrix, seed, distinct=1000):
    stamps = matrix.copy().astype(np.float64)
    stamps.data = np.random.default_rng(seed).integers(0, distinct, stamps.nnz).astype(float)
    return stamps


def assert_partition(split, matrix):
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    train, test = split.train, split.test
    assert train.shape == test.shape == matrix.shape
    assert train.dtype == test.dtype == np.float32
    assert train.has_sorted_indices and test.has_sorted_indices
    assert (train + test != matrix).nnz == 0
    assert train.multiply(test).nnz == 0
    assert train.nnz + test.nnz == matrix.nnz
    assert split.users.dtype == np.int64
    np.testing.assert_array_equal(split.users, np.flatnonzero(np.diff(test.indptr)))
    assert split.fingerprint == fingerprint(train, test, split.users)


sparse_matrices = st.builds(
    lambda seed, n_users, n_items, density: random_matrix(seed, n_users, n_items, density),
    st.integers(0, 2**16), st.integers(1, 40), st.integers(1, 30), st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=sparse_matrices, split_count=st.integers(1, 4),
       fraction=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
def test_user_holdout_properties(matrix, split_count, fraction, seed):
    counts = np.diff(matrix.indptr)
    eligible = np.flatnonzero(counts >= 2 * split_count)
    wanted = int(np.floor(fraction * matrix.shape[0]))
    if wanted < 1 or wanted > eligible.size:
        with pytest.raises(UserError):
            user_holdout(matrix, split_count=split_count, fraction=fraction, seed=seed)
        return
    split = user_holdout(matrix, split_count=split_count, fraction=fraction, seed=seed)
    assert_partition(split, matrix)
    assert len(split.users) == wanted
    assert np.isin(split.users, eligible).all()
    assert (np.diff(split.test.indptr)[split.users] == split_count).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=sparse_matrices, k=st.integers(1, 4), fraction=st.floats(0.01, 0.99),
       seed=st.integers(0, 1000))
def test_leave_k_out_ratio_temporal_properties(matrix, k, fraction, seed):
    counts = np.diff(matrix.indptr)
    if (counts > k).any():
        split = leave_k_out(matrix, k=k, seed=seed)
        assert_partition(split, matrix)
        np.testing.assert_array_equal(np.diff(split.test.indptr), np.where(counts > k, k, 0))
    else:
        with pytest.raises(UserError, match="no user"):
            leave_k_out(matrix, k=k, seed=seed)
    expected = np.floor(fraction * counts).astype(int)
    if expected.any():
        split = ratio(matrix, fraction=fraction, seed=seed)
        assert_partition(split, matrix)
        np.testing.assert_array_equal(np.diff(split.test.indptr), expected)
        assert (np.diff(split.train.indptr)[split.users] >= 1).all()
    else:
        with pytest.raises(UserError):
            ratio(matrix, fraction=fraction, seed=seed)
    stamps = random_stamps(matrix, seed, distinct=5)
    if (counts > k).any():
        split = temporal(matrix, stamps, k=k, seed=seed)
        assert_partition(split, matrix)
        for u in split.users:
            lo, hi = matrix.indptr[u], matrix.indptr[u + 1]
            items = matrix.indices[lo:hi]
            test_items = set(split.test.indices[split.test.indptr[u]:split.test.indptr[u + 1]])
            test_stamps = stamps.data[lo:hi][np.isin(items, list(test_items))]
            train_stamps = stamps.data[lo:hi][~np.isin(items, list(test_items))]
            assert test_stamps.min() >= train_stamps.max()


@pytest.mark.parametrize("kind, options", [("user_holdout", {}), ("leave_k_out", {"k": 2}),
                                           ("ratio", {"fraction": 0.3}),
                                           ("temporal", {"k": 2}),
                                           ("temporal", {"fraction": 0.3})])
def test_same_inputs_give_byte_identical_split(kind, options):
    matrix = random_matrix(0, n_users=400)
    data = Interactions(matrix=matrix, user_ids=np.arange(400), item_ids=np.arange(200),
                        timestamps=random_stamps(matrix, 0, distinct=3))
    first = make_split(data, kind, seed=7, **options)
    again = make_split(data, kind, seed=7, **options)
    other = make_split(data, kind, seed=8, **options)
    assert first.fingerprint == again.fingerprint != other.fingerprint
    for name in ("train", "test"):
        for part in ("indptr", "indices", "data"):
            a = getattr(getattr(first, name), part)
            b = getattr(getattr(again, name), part)
            assert a.tobytes() == b.tobytes()
    assert first.kind == kind and first.seed == 7
    assert_partition(first, matrix)


def test_study_counts_floor_of_fraction_of_all_users():
    matrix = random_matrix(1, n_users=1234, n_items=300, density=0.06)
    split = make_split(matrix, "user-holdout", seed=0, split_count=5, fraction=0.2)
    assert len(split.users) == 246  # floor(0.2 * 1234)
    assert split.options == {"split_count": 5, "fraction": 0.2}
    assert split.test.nnz == 246 * 5


def test_fingerprint_ignores_index_dtype():
    split = user_holdout(random_matrix(2), seed=0)
    wide = [sp.csr_matrix((m.data, m.indices.astype(np.int64), m.indptr.astype(np.int64)),
                          shape=m.shape) for m in (split.train, split.test)]
    assert fingerprint(*wide, split.users) == split.fingerprint


def test_input_duplicates_and_explicit_zeros_are_canonicalised():
    coo = sp.coo_matrix((np.array([1, 1, 0, 1, 1, 1], dtype=np.float32),
                         (np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 2, 0, 1]))),
                        shape=(2, 3))
    split = leave_k_out(coo, k=1, seed=0)
    np.testing.assert_array_equal((split.train + split.test).toarray(), [[2, 0, 1], [1, 1, 0]])


@pytest.mark.parametrize("call, message", [
    (lambda m: user_holdout(m, split_count=50), "only 0 have"),
    (lambda m: user_holdout(m, fraction=0.001), "chooses no user"),
    (lambda m: user_holdout(m, fraction=1.5), r"fraction must be a number in \(0, 1\]"),
    (lambda m: user_holdout(m, split_count=0), "split_count must be an integer >= 1"),
    (lambda m: ratio(m, fraction=1.0), r"in \(0, 1\)"),
    (lambda m: leave_k_out(m, k=1000), "no user has more than k=1000"),
    (lambda m: make_split(m, "kfold"), "unknown split kind 'kfold'; valid: user_holdout, "
                                       "leave_k_out, ratio, leave_last_k_out, temporal, "
                                       "time_cut, given, movielens_official, "
                                       "strong_generalization"),
    (lambda m: make_split(m, "ratio", frac=0.2), "unknown split option.*frac; valid: fraction"),
    (lambda m: make_split(m, "temporal"), "needs interaction timestamps"),
    (lambda m: temporal(m, random_stamps(m, 0), k=1, fraction=0.5), "not both"),
    (lambda m: temporal(m, random_stamps(m, 0)[:, :10], k=1), "sparsity"),
    (lambda m: user_holdout(m.toarray()), "2-D scipy sparse matrix"),
    (lambda m: user_holdout(m, seed=-1), "seed"),
])
def test_impossible_splits_raise_user_error(call, message):
    with pytest.raises(UserError, match=message):
        call(random_matrix(3, n_users=20, n_items=30, density=0.3))


def test_save_and_load_round_trip(tmp_path):
    split = make_split(random_matrix(4), "user_holdout", seed=3, split_count=2, fraction=0.1)
    path = tmp_path / "sub" / "split.npz"
    save_split(split, path)
    assert os.listdir(path.parent) == ["split.npz"]
    loaded = load_split(path)
    assert loaded.fingerprint == split.fingerprint
    assert (loaded.kind, loaded.options, loaded.seed) == (split.kind, split.options, split.seed)
    assert (loaded.train != split.train).nnz == 0 and (loaded.test != split.test).nnz == 0
    np.testing.assert_array_equal(loaded.users, split.users)


def test_load_rejects_missing_corrupt_and_tampered_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_split(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a split file"):
        load_split(tmp_path / "junk.npz")
    split = user_holdout(random_matrix(5), seed=0)
    path = tmp_path / "split.npz"
    save_split(split, path)
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["users"] = arrays["users"][::-1].copy()
    np.savez(path, **arrays)
    with pytest.raises(UserError, match="do not match its fingerprint") as info:
        load_split(path)
    assert str(path) in str(info.value)
