"""Shared data of the pytest-benchmark micro-benchmarks: the Sketchfab-scale synthetic files.

The files are generated once (cached under ``recsys_bench.datasets.data_dir()``, so later
sessions reuse them) and everything derived from them — the parsed columns, the thresholded
matrix, the study's split, a fitted WRMF model — is built once per session.

Run with ``make bench`` (``pytest bench --benchmark-only --benchmark-autosave``); ``make test``
never collects this folder. Figures that the performance targets (results/performance.md) are
about (ratios measured side by side in one run) go to ``extra_info`` and the saved JSON; a missed
target is reported as a warning.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_bench import models
from recsys_bench.datasets import sketchfab, sketchfab_synthetic
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.experiment.config import load_config
from recsys_bench.splits import user_holdout

K = 5
THREADS = min(2, os.cpu_count() or 1)
# The study's best WRMF setting, as configs/study-protocol.toml runs it.
WRMF = load_config(Path(__file__).resolve().parents[2] / "configs" / "study-protocol.toml"
                   ).models[0].params


@dataclass(frozen=True)
class Codes:
    """Deduplicated (user, item) integer codes of the likes file, before thresholding."""

    users: np.ndarray
    items: np.ndarray


@pytest.fixture(scope="session")
def sketchfab_folder():
    """Folder holding the synthetic ``model_likes_anon.psv`` and ``model_feats.psv`` (seed 0)."""
    return sketchfab_synthetic.ensure_files(seed=0)


@pytest.fixture(scope="session")
def likes_columns(sketchfab_folder):
    return sketchfab.read_psv(sketchfab_folder / sketchfab.LIKES_FILE, sketchfab.LIKES_HEADER)


@pytest.fixture(scope="session")
def like_codes(likes_columns) -> Codes:
    _, mids, uids = likes_columns
    users = pd.factorize(uids)[0].astype(np.int64)
    items = pd.factorize(mids)[0].astype(np.int64)
    n_items = int(items.max()) + 1
    unique = np.unique(users * n_items + items)
    return Codes(users=unique // n_items, items=unique % n_items)


@pytest.fixture(scope="session")
def data(sketchfab_folder):
    return sketchfab.load(sketchfab_folder)


@pytest.fixture(scope="session")
def split(data):
    """The study's split: 20% of the users give 5 likes each to test (3,054 users at scale)."""
    return user_holdout(data.matrix, split_count=5, fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def wrmf(split):
    """implicit ALS at the study's best setting, trained 15 epochs on the split's train."""
    model = Bench.new_model("implicit-als")
    model.fit(split.train, epochs=15)
    return model


class Bench:
    """Helpers the benchmark modules share (the ``bench`` fixture), so they need no imports.

    Attributes
    ----------
    k, threads : int
        Cut-off of the metrics; threads of the multi-threaded benchmarks (2 on the reference
        machine, the figure the performance targets are stated for).
    """

    k = K
    threads = THREADS

    @staticmethod
    def new_model(name: str, threads: int = THREADS, **params):
        """A model of the benchmarks' fixed settings (seed 0) on ``threads`` threads."""
        defaults = {
            "implicit-als": WRMF,
            "numpy-als": {**WRMF, "solver": "cg"},
            "lightfm-warp": {"no_components": 40, "learning_rate": 0.05},
            "lightfm-bpr": {"no_components": 40, "learning_rate": 0.05},
        }.get(name, {})
        accepted = models.model_class(name).defaults
        fixed = {key: value for key, value in (("num_threads", threads), ("random_state", 0))
                 if key in accepted}
        return models.get(name, **{**defaults, **fixed, **params})

    @staticmethod
    def precision_at_k(model, split) -> float:
        """Test p@5 with train likes excluded (the harness default), for ``extra_info``."""
        result = evaluate(model, split, k=K, exclude_train=True, subsets=("test",),
                          metrics=("precision",))
        return round(float(result["test"].means["precision"]), 6)

    @staticmethod
    def side_by_side(benchmark, target, baseline, *, rounds: int) -> list[float]:
        """Time ``target`` with ``benchmark`` and ``baseline`` by hand, alternating, in one run.

        Each round first times ``baseline`` (in pytest-benchmark's untimed setup hook), then
        the benchmark times ``target``, so both see the same machine state and their ratio is
        fair. Returns the baseline's seconds per round.
        """
        seconds = []

        def setup():
            start = time.perf_counter()
            baseline()
            seconds.append(time.perf_counter() - start)

        benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)
        return seconds

    @staticmethod
    def timed_median(benchmark) -> float:
        """Median seconds of what ``benchmark`` timed."""
        return float(benchmark.stats.stats.median)

    @staticmethod
    def record(benchmark, name: str, value: float, *, target: float, at_most: bool,
               **figures) -> None:
        """Store a figure and its target in ``extra_info``; warn when it is missed."""
        met = value <= target if at_most else value >= target
        benchmark.extra_info.update({name: round(value, 4), f"{name}_target": target,
                                     f"{name}_met": bool(met)},
                                    **{k: round(float(v), 6) for k, v in figures.items()})
        if not met:
            warnings.warn(f"{benchmark.name}: {name} = {value:.3f}, target "
                          f"{'<=' if at_most else '>='} {target}", stacklevel=2)


@pytest.fixture(scope="session")
def bench() -> Bench:
    return Bench()
