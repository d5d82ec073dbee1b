"""What every asv suite shares: timing knobs, the two profiles, data and model construction.

Two profiles, chosen by the environment variable ``RECSYS_BENCH_ASV_FAST``:

- full (default): data sizes ``quarter`` (the synthetic Sketchfab files at a quarter of the real
  scale) and ``sketchfab`` (full scale: about 15k users x 26k items, 550k likes after the study's
  thresholding), 1 and 2 threads, several repeats per benchmark;
- fast (``RECSYS_BENCH_ASV_FAST=1``, for CI): one ``tiny`` in-memory data set, one repeat, short
  timeouts; it checks that every benchmark runs, its figures mean little.

Data is a pure function of fixed seeds (generator seed 0, split seed 0, model ``random_state``
0), so two commits benchmark exactly the same inputs. Splits are built once per ``setup_cache``
and stored as files in asv's cache folder, so each benchmark process loads only the size it
measures (which keeps ``peakmem_*`` honest).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from recsys_bench import models
from recsys_bench.experiment.config import load_config
from recsys_bench.splits import Split, load_split, make_split, save_split

FAST = os.environ.get("RECSYS_BENCH_ASV_FAST", "") not in ("", "0")

SIZES = ("tiny",) if FAST else ("quarter", "sketchfab")
THREADS = (1, 2)
MODELS = ("implicit-als", "numpy-als", "lightfm-warp")
K = 5

# The study's best WRMF setting, as configs/study-protocol.toml runs it; LightFM at the same
# dimension.
WRMF = load_config(Path(__file__).resolve().parents[2] / "configs" / "study-protocol.toml"
                   ).models[0].params
MODEL_PARAMS = {
    "implicit-als": WRMF,
    "numpy-als": {**WRMF, "solver": "cg"},
    "lightfm-warp": {"no_components": WRMF["factors"], "learning_rate": 0.05},
}
# Epochs of the models whose quality is tracked (near the study's best epoch for ALS).
QUALITY_EPOCHS = {"implicit-als": 2, "numpy-als": 2, "lightfm-warp": 2} if FAST else \
    {"implicit-als": 16, "numpy-als": 16, "lightfm-warp": 30}
SCALES = {"quarter": 0.25, "sketchfab": 1.0}
CACHE_TIMEOUT = 300.0 if FAST else 1800.0


class Benchmark:
    """asv knobs shared by every suite; subclasses declare ``params``/``param_names`` only.

    Every benchmarked call is long (a fit epoch, a pass over thousands of users), so one call
    is one sample (``number = 1``). The fast profile runs each benchmark once.
    """

    timer = time.perf_counter
    number = 1
    repeat = 1 if FAST else (3, 10, 60.0)
    rounds = 1 if FAST else 2
    warmup_time = 0.0
    timeout = 120.0 if FAST else 1200.0


class WithSplits(Benchmark):
    """Suites whose benchmarks take the stored split of each size as their first argument.

    asv keys ``setup_cache`` by where it is defined, so every subclass shares this one: the
    splits are built once per ``asv run`` and every benchmark process loads only its own size.
    """

    def setup_cache(self) -> dict[str, str]:
        """Build every size's split once; size -> path of its stored split."""
        return {size: str(store_split(size, Path.cwd())) for size in SIZES}

    setup_cache.timeout = CACHE_TIMEOUT


def make_data(size: str, folder: Path):
    """The interactions of a named size (Sketchfab-format files are written under ``folder``)."""
    if size == "tiny":
        from recsys_bench.datasets import synthetic

        return synthetic.load(n_users=400, n_items=250, nnz=8_000, seed=0)
    from recsys_bench.datasets import sketchfab, sketchfab_synthetic

    files = folder / f"sketchfab-{size}"
    sketchfab_synthetic.write(files, seed=0, scale=SCALES[size])
    return sketchfab.load(files)


def store_split(size: str, folder: Path) -> Path:
    """Split a size with the study's user holdout (seed 0) and save it; returns the path."""
    split = build_split(size, folder)
    path = folder / f"split-{size}.npz"
    save_split(split, path)
    return path.resolve()


def build_split(size: str, folder: Path) -> Split:
    """The study's split of a size: 5 likes to test for 20% of the users, seed 0."""
    return make_split(make_data(size, folder), "user_holdout", seed=0, split_count=5,
                      fraction=0.2)


def read_split(path: str) -> Split:
    """A split stored by :func:`store_split`."""
    return load_split(path)


def new_model(name: str, threads: int):
    """An unfitted model of the suite's fixed setting on ``threads`` threads (seed 0)."""
    return models.get(name, **MODEL_PARAMS[name], num_threads=threads, random_state=0)
