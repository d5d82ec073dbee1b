"""`compare_runs` on run folders built by the real runner's trial code on a tiny experiment.

Trials run in this process (:func:`recsys_bench.testing_runs.build_run`) rather than in worker
processes, so a fixture can swap a model for a deliberately degraded one
(:class:`recsys_bench.testing_runs.Degraded`): a model whose users get each other's factors (worse
ranking) or whose fits sleep (slower). ``compare`` must flag exactly that model.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from recsys_bench.analysis.compare import compare_runs
from recsys_bench.errors import UserError
from recsys_bench.store import table as store
from recsys_bench.testing_runs import Degraded, build_run, scrambled_order

TINY = """\
[experiment]
name = "tiny-compare"
description = "two models on small synthetic data"

[[datasets]]
name = "synthetic"
options = { n_users = 500, n_items = 150, nnz = 9000, seed = 0 }

[split]
seeds = [0, 1]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 5
metrics = ["precision", "recall", "ndcg", "mse"]
exclude_train = true
subsets = ["train", "test"]
checkpoints = [2, 4]

[timing]
warmup = 0

[[models]]
name = "popularity"

[[models]]
name = "implicit-als"
params = { factors = 8, regularization = 0.1, alpha = 10 }
"""

# Timings of a tiny data set on a shared 2-core machine jitter by tenths of a second between two
# identical runs, so the tests ask for a clear slowdown (>= MIN_SECONDS of extra wall time); the
# slowed model sleeps well beyond it.
MIN_SECONDS = 0.6
SLEEP_S = 1.0


def test_scrambled_order_moves_exactly_the_chosen_share():
    order = scrambled_order(1000, 0.3)
    assert sorted(order) == list(range(1000))
    assert (order != np.arange(1000)).sum() == 300
    assert (scrambled_order(10, 0.0) == np.arange(10)).all()
    assert (scrambled_order(10, 1.0) != np.arange(10)).all()
    with pytest.raises(UserError, match="scramble"):
        scrambled_order(10, 1.5)


def test_degraded_scores_agree_with_its_factors():
    from recsys_bench import models
    from recsys_bench.datasets import synthetic

    train = synthetic.load(n_users=60, n_items=40, nnz=600, seed=0).matrix
    model = Degraded(models.get("implicit-als", factors=4, iterations=2, num_threads=1,
                                random_state=0), scramble=0.5)
    model.fit(train)
    users = np.arange(60)
    user_factors, item_factors = model.factors()
    np.testing.assert_allclose(model.scores(users), user_factors @ item_factors.T, rtol=1e-5)
    plain = model.inner.scores(users)
    moved = model.order != users
    assert moved.sum() == 30
    np.testing.assert_array_equal(model.scores(users)[~moved], plain[~moved])
    assert not np.allclose(model.scores(users)[moved], plain[moved])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compare")
    (path / "tiny.toml").write_text(TINY)
    return path


@pytest.fixture(scope="module")
def run_a(folder) -> Path:
    return build_run(folder / "tiny.toml", folder / "a")


@pytest.fixture(scope="module")
def run_a_again(folder) -> Path:
    return build_run(folder / "tiny.toml", folder / "a-again")


@pytest.fixture(scope="module")
def run_degraded(folder) -> Path:
    """implicit-als ranks with scrambled user factors; popularity fits sleep."""
    return build_run(folder / "tiny.toml", folder / "degraded",
                     {"implicit-als": {"scramble": 1.0}, "popularity": {"sleep": SLEEP_S}})


def flagged(result) -> set[tuple[str, str]]:
    return {(row.model, type(row).__name__) for row in result.regressions}


def test_same_run_flags_nothing(folder, run_a):
    copy = folder / "a-copy"
    shutil.copytree(run_a, copy)
    result = compare_runs(run_a, copy)
    assert not result.regressed, result.to_text()
    assert {t.ratio for t in result.time} == {1.0}
    assert {q.delta for q in result.quality} == {0.0}


def test_identical_runs_flag_nothing(run_a, run_a_again):
    result = compare_runs(run_a, run_a_again, min_seconds=MIN_SECONDS)
    assert not result.regressed, result.to_text()
    assert result.experiment == "tiny-compare"
    quality = [q for q in result.quality if q.metric == "precision_at_k"]
    assert {(q.model, q.subset) for q in quality} == {
        (m, s) for m in ("popularity", "implicit-als") for s in ("train", "test")}
    assert all(q.method == "users" and q.n == 200 and q.delta == 0 for q in quality)
    assert {q.epoch for q in quality if q.model == "implicit-als"} == {4}
    assert {t.measure for t in result.time} == {"fit_seconds_per_epoch", "recommend_users_per_s"}
    assert result.status == ()
    assert "no regression" in result.to_text()


def test_degraded_model_is_flagged_and_only_it(run_a, run_degraded):
    result = compare_runs(run_a, run_degraded, min_seconds=MIN_SECONDS)
    assert result.regressed
    assert flagged(result) == {("implicit-als", "QualityChange"), ("popularity", "TimeChange")}

    test_p5 = next(q for q in result.quality if q.model == "implicit-als"
                   and q.subset == "test" and q.metric == "precision_at_k")
    assert test_p5.regressed and test_p5.delta < 0 and test_p5.high < 0
    assert test_p5.b == pytest.approx(
        store.read_results(run_degraded).query(
            "model == 'implicit-als' and subset == 'test' and epoch == 4"
        )["precision_at_k"].mean())

    fit = next(t for t in result.time if t.model == "popularity"
               and t.measure == "fit_seconds_per_epoch")
    assert fit.regressed and fit.ratio > 10 and fit.slowdown_seconds >= SLEEP_S * 0.9
    assert not any(q.regressed for q in result.quality if q.model == "popularity")
    assert not any(t.regressed for t in result.time if t.model == "implicit-als")

    data = json.loads(result.to_json())
    assert data["regressed"] is True
    assert sum(row["regressed"] for row in data["quality"] + data["time"]) == \
        len(result.regressions)
    assert result.to_text().count("REGRESSED") == len(result.regressions)


def test_reverse_direction_is_an_improvement(run_a, run_degraded):
    result = compare_runs(run_degraded, run_a, min_seconds=MIN_SECONDS)
    assert not result.regressed, result.to_text()
    fit = next(t for t in result.time if t.model == "popularity"
               and t.measure == "fit_seconds_per_epoch")
    assert fit.ratio < 0.1


def test_time_threshold_is_configurable(run_a, run_degraded):
    result = compare_runs(run_a, run_degraded, threshold=1e6, min_seconds=MIN_SECONDS)
    assert flagged(result) == {("implicit-als", "QualityChange")}
    with pytest.raises(UserError, match="threshold"):
        compare_runs(run_a, run_degraded, threshold=0.9)


def test_failed_trial_is_a_regression(folder, run_a):
    broken = build_run(folder / "tiny.toml", folder / "broken",
                       {"implicit-als": {"crash": True}})
    result = compare_runs(run_a, broken, min_seconds=MIN_SECONDS)
    assert flagged(result) == {("implicit-als", "StatusChange")}
    assert {(s.a, s.b) for s in result.status} == {("ok", "failed")}
    assert "deliberately broken" in result.status[0].error
    assert not any(q.model == "implicit-als" for q in result.quality)


def test_without_raw_files_intervals_come_from_seeds(folder, run_a, run_a_again):
    copy = folder / "a-no-raw"
    shutil.copytree(run_a_again, copy)
    shutil.rmtree(copy / "raw")
    result = compare_runs(run_a, copy, min_seconds=MIN_SECONDS)
    assert not result.regressed
    assert {q.method for q in result.quality} == {"seeds"}
    assert {q.n for q in result.quality} == {2}


def test_refuses_different_experiments(folder, run_a):
    other = folder / "other"
    other.mkdir()
    shutil.copytree(run_a, other / "renamed")
    config = (other / "renamed" / "config.toml")
    config.write_text(TINY.replace('name = "tiny-compare"', 'name = "something-else"'))
    with pytest.raises(UserError, match="different experiments: 'tiny-compare'"):
        compare_runs(run_a, other / "renamed")

    shutil.copytree(run_a, other / "k10")
    (other / "k10" / "config.toml").write_text(TINY.replace("k = 5", "k = 10"))
    with pytest.raises(UserError, match=r"differ in: evaluation\.k"):
        compare_runs(run_a, other / "k10")

    shutil.copytree(run_a, other / "described")
    (other / "described" / "config.toml").write_text(
        TINY.replace("two models on small synthetic data", "a new description"))
    assert not compare_runs(run_a, other / "described").regressed


def test_refuses_different_splits(folder, run_a, monkeypatch):
    from recsys_bench.datasets import synthetic

    real_load = synthetic.load
    other_data = functools.wraps(real_load)(lambda **o: real_load(**{**o, "seed": 1}))
    monkeypatch.setattr(synthetic, "load", other_data)
    changed = build_run(folder / "tiny.toml", folder / "changed-data")
    with pytest.raises(UserError, match="splits differ for dataset 'synthetic' seed 0"):
        compare_runs(run_a, changed)


def test_refuses_folders_that_are_not_runs(tmp_path, run_a):
    with pytest.raises(UserError, match="no such run folder"):
        compare_runs(run_a, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a run folder"):
        compare_runs(tmp_path / "empty", run_a)
