import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.eval.metrics import auc, coverage, mse_dense, ranking_metrics
from recsys_bench.eval.registry import default_names as default_metric_names
from recsys_bench.eval.topk import topk
from recsys_bench.splits import user_holdout


class FactorModel:
    """scores = U[users] @ V.T; factors() gives (U, V) unless ``with_factors`` is False."""

    def __init__(self, user_factors, item_factors, with_factors=True):
        self.user_factors, self.item_factors = user_factors, item_factors
        self.with_factors = with_factors
        self.score_calls = 0

    def scores(self, users):
        self.score_calls += 1
        return (self.user_factors[users] @ self.item_factors.T).astype(np.float32)

    def factors(self):
        return (self.user_factors, self.item_factors) if self.with_factors else None


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    n_users, n_items, d = 120, 90, 4
    taste_u, taste_i = rng.standard_normal((n_users, d)), rng.standard_normal((n_items, d))
    likes = (taste_u @ taste_i.T + rng.standard_normal((n_users, n_items)) > 2.0)
    split = user_holdout(sp.csr_matrix(likes.astype(np.float32)), split_count=3, fraction=0.3,
                         seed=1)
    model = FactorModel(taste_u.astype(np.float32), taste_i.astype(np.float32))
    return split, model


@pytest.mark.parametrize("exclude_train", [True, False])
def test_matches_the_building_blocks(setup, exclude_train):
    split, model = setup
    users = split.users
    results = evaluate(model, split, k=5, exclude_train=exclude_train, subsets=("train", "test"),
                       block_size=16)
    for subset, truth_matrix in (("train", split.train), ("test", split.test)):
        result = results[subset]
        excluded = split.train if subset == "test" and exclude_train else None
        top = topk(model, users, 5, exclude=excluded)
        np.testing.assert_array_equal(result.top, top)
        truth = truth_matrix[users]
        for name, values in ranking_metrics(top, truth, 5).items():
            np.testing.assert_allclose(result.per_user[name], values, err_msg=name)
        np.testing.assert_allclose(result.per_user["auc"],
                                   auc(model, users, truth, exclude=excluded))
        np.testing.assert_allclose(result.per_user["mse"], mse_dense(model, users, truth),
                                   rtol=1e-5)
        assert result.means["coverage"] == coverage(top, split.train.shape[1])
        assert result.means["precision"] == pytest.approx(result.per_user["precision"].mean())
        assert list(result.means) == list(default_metric_names())
        assert result.k == 5 and result.exclude_train is exclude_train
        assert all(len(v) == len(users) for v in result.per_user.values())


def test_exclusion_keeps_train_items_out_of_test_ranking(setup):
    split, model = setup
    results = evaluate(model, split, k=10, subsets=("test", "train"), metrics=("precision",))
    test_top, train_top = results["test"].top, results["train"].top
    train_rows = split.train[split.users]
    for row, items in enumerate(test_top):
        assert not set(items) & set(train_rows[row].indices)
    assert results["train"].means["precision"] > results["test"].means["precision"]
    assert (test_top != train_top).any()


def test_one_scoring_pass_serves_both_subsets_without_exclusion(setup):
    split, _ = setup
    model = FactorModel(*setup[1].factors(), with_factors=False)
    results = evaluate(model, split, k=5, exclude_train=False, subsets=("train", "test"),
                       metrics=("precision", "auc", "mse"), block_size=10)
    assert model.score_calls == -(-len(split.users) // 10)
    assert results["train"].top is results["test"].top
    closed = evaluate(setup[1], split, k=5, exclude_train=False, subsets=("test",),
                      metrics=("mse",))["test"]
    np.testing.assert_allclose(results["test"].per_user["mse"], closed.per_user["mse"], rtol=1e-5)
    assert closed.top.shape == (len(split.users), 0)


def test_rank_seconds_time_only_lists_ranked_on_their_own(setup, monkeypatch):
    import recsys_bench.eval.evaluation as evaluation

    split, model = setup
    clock = iter(range(0, 1000, 7))
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: float(next(clock)))
    alone = evaluate(model, split, k=5, exclude_train=True, subsets=("train", "test"),
                     metrics=("precision", "mse"))
    assert alone["train"].rank_seconds == alone["test"].rank_seconds == 7.0
    shared = evaluate(model, split, k=5, exclude_train=True, subsets=("train", "test"),
                      metrics=("precision", "auc"))
    assert shared["train"].rank_seconds is None and shared["test"].rank_seconds is None
    unranked = evaluate(model, split, subsets=("test",), metrics=("mse",))["test"]
    assert unranked.rank_seconds is None


def test_factor_models_are_not_scored_for_mse_alone(setup):
    split, model = setup
    model.score_calls = 0
    evaluate(model, split, metrics=("mse",), subsets=("train", "test"))
    assert model.score_calls == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": ("precision", "rmse")}, "unknown metric.*rmse; valid: precision, recall"),
    ({"subsets": ("validation",)}, "unknown subset.*validation; valid: train, test"),
    ({"k": 1000}, "k=1000 is larger than the number of items"),
])
def test_bad_arguments(setup, kwargs, message):
    with pytest.raises(UserError, match=message):
        evaluate(setup[1], setup[0], **kwargs)


def test_threads_and_block_size_do_not_change_results(setup):
    split, model = setup
    model.params = {"num_threads": 2}
    try:
        threaded = evaluate(model, split, k=7, subsets=("train", "test"), block_size=9)
    finally:
        del model.params
    single = evaluate(model, split, k=7, subsets=("train", "test"), num_threads=1)
    for s in ("train", "test"):
        np.testing.assert_array_equal(threaded[s].top, single[s].top)
        for name, values in single[s].per_user.items():
            np.testing.assert_allclose(threaded[s].per_user[name], values, err_msg=name)


def test_float64_factors_rank_like_the_float32_scores_of_the_model():
    rng = np.random.default_rng(3)
    item_factors = np.repeat(rng.standard_normal((10, 2)), 3, axis=0)
    item_factors[1::3] += 1e-12  # differs in float64, ties once rounded to float32
    model = FactorModel(rng.standard_normal((40, 2)), item_factors)
    split = user_holdout(sp.random(40, 30, density=0.5, format="csr", random_state=3),
                         split_count=2, fraction=0.5, seed=0)
    result = evaluate(model, split, k=6, exclude_train=False, metrics=("precision",))["test"]
    np.testing.assert_array_equal(result.top, topk(model, split.users, 6))
