"""One training epoch of each model on the Sketchfab-scale split, and the performance targets'
side-by-side ratios (the targets are listed in results/performance.md).

Epoch benchmarks continue a model already fitted for one epoch (``fit_more(1)`` per round), so the
timed figure is the per-epoch cost of a learning curve; ``extra_info`` holds the p@5 the model
reached after its timed epochs, so a speed-up that breaks training shows next to the time.
"""

from __future__ import annotations

from statistics import median

import pytest

from recsys_bench.eval.evaluation import evaluate

EPOCH_ROUNDS = 5


@pytest.mark.benchmark(group="fit-epoch")
@pytest.mark.parametrize("name", ["implicit-als", "numpy-als", "lightfm-warp", "lightfm-bpr"])
def test_fit_epoch(benchmark, bench, split, name):
    model = bench.new_model(name)
    model.fit(split.train, epochs=1)
    benchmark.pedantic(model.fit_more, args=(1,), rounds=EPOCH_ROUNDS, iterations=1)
    benchmark.extra_info.update(threads=bench.threads, epochs=model.epochs_done,
                                precision_at_5=bench.precision_at_k(model, split))


@pytest.mark.benchmark(group="fit-once")
@pytest.mark.parametrize("name", ["popularity", "item-knn"])
def test_fit_without_epochs(benchmark, bench, split, name):
    model = bench.new_model(name)
    benchmark.pedantic(model.fit, args=(split.train,), rounds=3, iterations=1)
    benchmark.extra_info["precision_at_5"] = bench.precision_at_k(model, split)


@pytest.mark.benchmark(group="targets")
@pytest.mark.parametrize("threads", [1, 2])
def test_eval_checkpoint_vs_implicit_epoch(benchmark, bench, split, threads):
    """Target: a grid checkpoint (p@5 + MSE, train and test) <= 1.5x an ALS epoch.

    Both on the same threads, alternating; the model is the grid's best setting (factors 40).
    """
    model = bench.new_model("implicit-als", threads=threads)
    model.fit(split.train, epochs=1)
    checkpoint = dict(k=bench.k, exclude_train=False, subsets=("train", "test"),
                      metrics=("precision", "mse"))
    epochs = bench.side_by_side(benchmark, lambda: evaluate(model, split, **checkpoint),
                                lambda: model.fit_more(1), rounds=5)
    epoch = median(epochs)
    bench.record(benchmark, "eval_over_epoch", bench.timed_median(benchmark) / epoch, target=1.5,
                 at_most=True, epoch_s=epoch, threads=threads)


@pytest.mark.benchmark(group="targets")
def test_numpy_als_vs_implicit_epoch(benchmark, bench, split):
    """Target: numpy-als (CG) epoch within 3x of implicit (CG), factors 40, 2 threads,
    with equal p@5 within noise (both recorded after the same number of epochs)."""
    numpy_als = bench.new_model("numpy-als", threads=2)
    implicit_als = bench.new_model("implicit-als", threads=2)
    numpy_als.fit(split.train, epochs=1)
    implicit_als.fit(split.train, epochs=1)
    epochs = bench.side_by_side(benchmark, lambda: numpy_als.fit_more(1),
                                lambda: implicit_als.fit_more(1), rounds=EPOCH_ROUNDS)
    epoch = median(epochs)
    bench.record(benchmark, "numpy_over_implicit", bench.timed_median(benchmark) / epoch,
                 target=3.0, at_most=True, implicit_epoch_s=epoch,
                 numpy_precision_at_5=bench.precision_at_k(numpy_als, split),
                 implicit_precision_at_5=bench.precision_at_k(implicit_als, split))


@pytest.mark.benchmark(group="targets")
@pytest.mark.parametrize("name", ["implicit-als", "lightfm-warp"])
def test_thread_speedup(benchmark, bench, split, name):
    """Target: >= 1.7x speed-up of an epoch from 1 to 2 threads (BLAS pinned)."""
    one, two = bench.new_model(name, threads=1), bench.new_model(name, threads=2)
    one.fit(split.train, epochs=1)
    two.fit(split.train, epochs=1)
    seconds_one = bench.side_by_side(benchmark, lambda: two.fit_more(1),
                                     lambda: one.fit_more(1), rounds=EPOCH_ROUNDS)
    single = median(seconds_one)
    bench.record(benchmark, "speedup", single / bench.timed_median(benchmark), target=1.7,
                 at_most=False, one_thread_epoch_s=single)
