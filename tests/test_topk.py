import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_bench.errors import UserError
from recsys_bench.eval import kernel
from recsys_bench.eval.topk import FIRST_CHUNK, _NormPruning, factor_topk, topk, topk_block

VECTOR_BITS = {"compiled": 512, "compiled-avx2": 256, "compiled-plain": 0}


@pytest.fixture(scope="module", autouse=True, params=[*VECTOR_BITS, "numpy"])
def ranked_by(request):
    """Every test runs four times: ranked by the C kernel at each vector width this CPU has
    (AVX-512, AVX2, plain C; a narrower one stands in for one it lacks), then by NumPy alone."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "numpy":
            patch.setattr(kernel, "LIBRARY", None)
        elif kernel.LIBRARY is not None:
            kernel.use_vector_bits(VECTOR_BITS[request.param])
        yield request.param
        if kernel.LIBRARY is not None:
            kernel.use_vector_bits(512)


def test_the_c_kernel_is_built_and_loaded(ranked_by):
    if ranked_by.startswith("compiled"):
        assert kernel.LIBRARY is not None, "recsys_bench/eval/_select.c was not built"


def reference_topk(scores, k, exclude=None):
    """Obvious version: sort each row's allowed items by (-score, item), pad with -1."""
    out = np.full((scores.shape[0], k), -1, dtype=np.int32)
    for u, row in enumerate(scores):
        allowed = ~np.isnan(row) & (row != -np.inf)
        if exclude is not None:
            allowed[exclude[u].indices] = False
        items = np.flatnonzero(allowed)
        ranked = items[np.lexsort((items, -row[items]))][:k]
        out[u, :len(ranked)] = ranked
    return out


class Model:
    def __init__(self, scores):
        self.table = scores
        self.calls = 0

    def scores(self, users):
        self.calls += 1
        return self.table[users].copy()


def tied_scores(rng, n_users, n_items, levels):
    return rng.integers(0, levels, (n_users, n_items)).astype(np.float32)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 12), n_items=st.integers(1, 60),
       k=st.integers(1, 60), levels=st.sampled_from([1, 2, 3, 1000]),
       block_size=st.sampled_from([None, 1, 5]), exclusion=st.floats(0, 1))
def test_matches_reference_with_ties_and_exclusion(seed, n_users, n_items, k, levels, block_size,
                                                   exclusion):
    k = min(k, n_items)
    rng = np.random.default_rng(seed)
    scores = tied_scores(rng, n_users, n_items, levels)
    exclude = sp.random(n_users, n_items, density=exclusion, format="csr", random_state=seed)
    got = topk(Model(scores), np.arange(n_users), k, exclude=exclude, block_size=block_size)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(got, reference_topk(scores, k, exclude))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(100, 900), k=st.integers(1, 300),
       levels=st.sampled_from([1, 2, 3, 50, 10**6]), holes=st.sampled_from(["none", "nan", "inf"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_wide_blocks_fold_exactly(seed, n_items, k, levels, holes, dtype):
    k = min(k, n_items)
    rng = np.random.default_rng(seed)
    scores = tied_scores(rng, 9, n_items, levels).astype(dtype)
    scores[1:4] *= rng.standard_normal(n_items).astype(dtype)
    if holes != "none":
        scores[rng.random(scores.shape) < rng.random((9, 1))] = np.nan if holes == "nan" else -np.inf
    np.testing.assert_array_equal(topk_block(scores, k), reference_topk(scores, k))
    view = np.repeat(scores, 2, axis=0)[::2, : n_items - 1]      # strided rows, one column fewer
    np.testing.assert_array_equal(topk_block(view, min(k, n_items - 1)),
                                  reference_topk(view, min(k, n_items - 1)))


@pytest.mark.parametrize("levels", [1, 2, 7, 10**6])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_large_catalogue_sampled_path_is_exact(levels, k):
    rng = np.random.default_rng(levels + k)
    n_items = 9000
    scores = tied_scores(rng, 20, n_items, levels)
    scores[:5] *= np.linspace(0, 1, n_items, dtype=np.float32)
    scores[5:8, ::3] = -np.inf
    scores[8, rng.random(n_items) < 0.5] = np.nan
    exclude = sp.random(20, n_items, density=0.05, format="csr", random_state=1)
    got = topk(lambda u: scores[u].copy(), np.arange(20), k, exclude=exclude, block_size=7)
    np.testing.assert_array_equal(got, reference_topk(scores, k, exclude))


def test_all_zero_scores_give_lowest_items_minus_excluded():
    n_items = 6000
    exclude = sp.csr_matrix((np.ones(4), ([0, 0, 1, 1], [0, 2, 1, 3])), shape=(3, n_items))
    got = topk(lambda u: np.zeros((len(u), n_items), np.float32), np.arange(3), 4, exclude=exclude)
    np.testing.assert_array_equal(got, [[1, 3, 4, 5], [0, 2, 4, 5], [0, 1, 2, 3]])


def test_rows_with_too_few_candidates_are_padded():
    scores = np.array([[1, 2, 3, 4], [np.nan, -np.inf, 5, 1]], dtype=np.float32)
    exclude = sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 0, 0, 0]]))
    got = topk(lambda u: scores[u].copy(), np.arange(2), 3, exclude=exclude)
    np.testing.assert_array_equal(got, [[2, -1, -1], [2, 3, -1]])


def test_exclude_is_indexed_by_user_id_and_order_of_users_is_kept():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((10, 30)).astype(np.float32)
    exclude = sp.random(10, 30, density=0.3, format="csr", random_state=0)
    users = np.array([7, 2, 9, 2])
    got = topk(Model(scores), users, 4, exclude=exclude, block_size=3)
    np.testing.assert_array_equal(got, reference_topk(scores, 4, exclude)[users])


def test_float64_and_block_size_do_not_change_the_answer():
    rng = np.random.default_rng(1)
    scores = np.round(rng.standard_normal((50, 5000)), 1)
    model = Model(scores)
    first = topk(model, np.arange(50), 10, block_size=4)
    assert model.calls == 13
    np.testing.assert_array_equal(first, topk(model, np.arange(50), 10))
    np.testing.assert_array_equal(first, topk(Model(scores.astype(np.float32)), np.arange(50), 10))
    np.testing.assert_array_equal(first, reference_topk(scores, 10))


def test_signed_zero_and_infinities_rank_by_value_then_index():
    scores = np.array([[0.0, -0.0, np.inf, -1.0, 0.0, -np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(topk_block(scores, 5), [[2, 0, 1, 4, 3]])


def test_empty_users():
    got = topk(lambda u: np.zeros((len(u), 5)), np.array([], dtype=int), 3)
    assert got.shape == (0, 3)


@pytest.mark.parametrize("k, message", [(6, "k=6 is larger than the number of items"),
                                        (0, "positive integer"), (2.5, "positive integer")])
def test_impossible_k(k, message):
    with pytest.raises(UserError, match=message):
        topk(lambda u: np.zeros((len(u), 5)), np.arange(2), k)


def test_bad_exclude_and_users():
    with pytest.raises(UserError, match="exclude has 4 items"):
        topk(lambda u: np.zeros((len(u), 5)), np.arange(2), 2, exclude=sp.csr_matrix((2, 4)))
    with pytest.raises(UserError, match=r"user indices must lie in \[0, 2\)"):
        topk(lambda u: np.zeros((len(u), 5)), np.arange(3), 2, exclude=sp.csr_matrix((2, 5)))


def test_threads_give_the_same_answer():
    rng = np.random.default_rng(2)
    scores = np.round(rng.standard_normal((70, 3000)), 2).astype(np.float32)
    exclude = sp.random(70, 3000, density=0.01, format="csr", random_state=2)
    one = topk(Model(scores), np.arange(70), 7, exclude=exclude, block_size=6)
    two = topk(Model(scores), np.arange(70), 7, exclude=exclude, block_size=6, num_threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, reference_topk(scores, 7, exclude))


@pytest.mark.parametrize("kwargs, message", [({"num_threads": -1}, "num_threads"),
                                             ({"block_size": 0}, "block_size")])
def test_bad_threads_and_block_size(kwargs, message):
    with pytest.raises(UserError, match=message):
        topk(lambda u: np.zeros((len(u), 5)), np.arange(40), 2, **kwargs)


def _factors(seed, n_users=300, n_items=6000, f=8, dtype=np.float32):
    """Factors shaped like a trained model's: item norms spread out (long popular items)."""
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, f)).astype(dtype)
    lengths = rng.pareto(1.5, size=(n_items, 1)) + 0.05
    items = (rng.normal(size=(n_items, f)) * lengths).astype(dtype)
    return users, items


def _full_topk(users, items, k, exclude=None):
    scores = (users @ items.T).astype(np.float32)
    if exclude is not None:
        scores[exclude] = -np.inf
    return topk_block(scores, k)


@pytest.mark.parametrize("pruned", [True, False])
@pytest.mark.parametrize("seed,k,f,dtype", [(0, 5, 8, np.float32), (1, 1, 3, np.float32),
                                            (2, 20, 16, np.float64), (3, 5, 64, np.float32),
                                            (4, 3000, 8, np.float64)])
def test_factor_topk_equals_ranking_the_full_product(monkeypatch, pruned, seed, k, f, dtype):
    monkeypatch.setattr(_NormPruning, "pays", lambda self: pruned)
    users, items = _factors(seed, f=f, dtype=dtype)
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, len(users), 4000), rng.integers(0, 40, 4000)
    mask = np.zeros((len(users), len(items)), dtype=bool)
    mask[rows, cols] = True
    np.testing.assert_array_equal(factor_topk(users, items, k), _full_topk(users, items, k))
    np.testing.assert_array_equal(factor_topk(users, items, k, exclude=(rows, cols)),
                                  _full_topk(users, items, k, mask))
    np.testing.assert_array_equal(factor_topk(users, items, k, exclude=sp.csr_matrix(mask)),
                                  _full_topk(users, items, k, mask))


def test_factor_topk_prunes_when_norms_are_spread_and_not_when_they_are_not():
    users, items = _factors(4, n_items=30_000)
    assert _NormPruning(users, items, 5, None, None).pays()
    flat = np.random.default_rng(4).normal(size=items.shape).astype(np.float32)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    assert not _NormPruning(users, flat, 5, None, None).pays()


def test_factor_topk_ties_duplicates_and_zero_users(monkeypatch):
    monkeypatch.setattr(_NormPruning, "pays", lambda self: True)
    users, items = _factors(5, n_users=64)
    items[3000:3010] = items[0]
    users[:8] = 0.0
    np.testing.assert_array_equal(factor_topk(users, items, 5), _full_topk(users, items, 5))


def test_a_later_chunk_above_the_running_list_is_ranked_exactly():
    # The longest items point away from the users, so the lists after the first chunk are poor
    # and a whole later chunk beats them: its own k-th best must become the threshold.
    rng = np.random.default_rng(8)
    users = np.abs(rng.normal(size=(40, 4))).astype(np.float32)
    items = np.abs(rng.normal(size=(9000, 4))).astype(np.float32)
    items[:3000] *= -10.0
    ranker = _NormPruning(users, items, 5, None, None)
    ranker.rank(0, len(users))
    assert not ranker.fell_back.any()
    out = np.full((len(users), 5), -1, dtype=np.int32)
    ranker.write(out)
    np.testing.assert_array_equal(out, _full_topk(users, items, 5))


def test_factor_topk_non_finite_and_huge_factors_take_the_full_product():
    users, items = _factors(6, n_users=32)
    items[7] = np.nan
    np.testing.assert_array_equal(factor_topk(users, items, 5), _full_topk(users, items, 5))
    assert not _NormPruning(users, items, 5, None, None).pays()
    huge = _factors(6, n_users=32)[1] * np.float32(1e30)
    assert not _NormPruning(users, huge, 5, None, None).pays()


def test_factor_topk_threads_and_small_catalogues():
    users, items = _factors(7, n_items=50)
    np.testing.assert_array_equal(factor_topk(users, items, 5, num_threads=2),
                                  _full_topk(users, items, 5))
    users, items = _factors(7)
    np.testing.assert_array_equal(factor_topk(users, items, 5, num_threads=2),
                                  _full_topk(users, items, 5))


def test_factor_topk_refuses_an_exclusion_of_another_shape():
    users, items = _factors(7, n_users=20, n_items=50)
    with pytest.raises(UserError, match="exclude has shape"):
        factor_topk(users, items, 5, exclude=sp.csr_matrix((20, 49)))


def test_pruning_is_not_set_up_where_even_its_best_case_saves_little(monkeypatch):
    built = []
    original = _NormPruning.__init__

    def counting(self, *args):
        built.append(len(args[1]))
        original(self, *args)

    monkeypatch.setattr(_NormPruning, "__init__", counting)
    # every forced-path test above uses 6,000 items, where pruning must still be set up
    assert _NormPruning.may_pay(6000)
    for n_items in (50, 4229, 6000):
        users, items = _factors(9, n_users=40, n_items=n_items)
        np.testing.assert_array_equal(factor_topk(users, items, 5), _full_topk(users, items, 5))
    cost = _NormPruning.CHUNK_COST if kernel.LIBRARY is None else _NormPruning.CHUNK_COST_COMPILED
    smallest = FIRST_CHUNK * cost / (1 - _NormPruning.MIN_SAVING)
    assert cost == _NormPruning.chunk_cost()
    assert built == [n for n in (50, 4229, 6000) if n > smallest]
    assert 6000 in built
