"""Top-k and metrics on a fitted WRMF model over the study's split (3,054 evaluated users)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_bench.eval import metrics
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.eval.topk import topk

pytestmark = pytest.mark.benchmark(group="ranking")


@pytest.fixture(scope="module")
def top(wrmf, split, bench):
    return topk(wrmf, split.users, bench.k, exclude=split.train)


@pytest.fixture(scope="module")
def truth(split):
    return split.test[split.users]


def test_topk_with_exclusion(benchmark, bench, wrmf, split):
    """Block top-5 of the evaluated users with their train likes excluded."""
    result = benchmark(topk, wrmf, split.users, bench.k, exclude=split.train)
    assert result.shape == (len(split.users), bench.k)


def test_topk_all_users_precision(benchmark, bench, wrmf, split):
    """p@5 with exclusion over every user (15,265 at scale): performance target <= 2 s."""
    users = np.arange(split.train.shape[0])
    truth = split.test[users]

    def precision_all_users():
        return metrics.ranking_metrics(topk(wrmf, users, bench.k, exclude=split.train), truth,
                                       bench.k)["precision"]

    benchmark.pedantic(precision_all_users, rounds=3, iterations=1, warmup_rounds=1)
    bench.record(benchmark, "median_s", bench.timed_median(benchmark), target=2.0, at_most=True,
                 users=len(users))


def test_ranking_metrics(benchmark, bench, top, truth):
    """Precision, recall, NDCG, MAP and hit rate from the top-k ids, per user."""
    values = benchmark(metrics.ranking_metrics, top, truth, bench.k)
    benchmark.extra_info["precision_at_5"] = round(float(np.mean(values["precision"])), 6)


def test_hits(benchmark, top, truth):
    benchmark(metrics.hits, top, truth)


def test_coverage(benchmark, top, split):
    benchmark(metrics.coverage, top, split.train.shape[1])


def test_auc(benchmark, wrmf, split, truth):
    benchmark.pedantic(metrics.auc, args=(wrmf, split.users, truth),
                       kwargs={"exclude": split.train}, rounds=3, iterations=1)


def test_mse_closed_form(benchmark, wrmf, split, truth):
    """MSE over all items without the dense matrix: |T| - 2 x.sum(y) + x'(Y'Y)x."""
    user_factors, item_factors = wrmf.factors()
    benchmark(metrics.mse_closed_form, user_factors[split.users], item_factors, truth)


def test_mse_dense(benchmark, wrmf, split, truth):
    """The same MSE from dense score blocks (what models without factors pay)."""
    benchmark.pedantic(metrics.mse_dense, args=(wrmf, split.users, truth), rounds=3,
                       iterations=1)


@pytest.mark.parametrize("exclude_train", [False, True], ids=["study", "excluded"])
def test_evaluate_checkpoint(benchmark, bench, wrmf, split, exclude_train):
    """One learning-curve checkpoint of the grid: p@5 and MSE on train and test, one pass."""
    result = benchmark(evaluate, wrmf, split, k=bench.k, exclude_train=exclude_train,
                       subsets=("train", "test"), metrics=("precision", "mse"))
    benchmark.extra_info["precision_at_5"] = round(result["test"].means["precision"], 6)
