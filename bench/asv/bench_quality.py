"""Fitted models: recommend and evaluation throughput, and the quality they reach.

The models are trained once, in ``setup_cache`` (each for its ``QUALITY_EPOCHS``), and reused
by every benchmark of the suite; ``track_*`` values are deterministic (fixed seeds; LightFM on one
thread, since its Hogwild updates are not reproducible on more), so a step in their graph is a
real change of the harness or of a library.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from recsys_bench.eval.evaluation import evaluate
from recsys_bench.eval.topk import topk
from recsys_bench.splits import save_split

from .common import (
    CACHE_TIMEOUT,
    MODELS,
    QUALITY_EPOCHS,
    SIZES,
    Benchmark,
    K,
    build_split,
    new_model,
    read_split,
)


def quality_threads(model: str) -> int:
    """Threads of the quality fits: all cores, except LightFM (reproducible on one thread only)."""
    return 1 if model.startswith("lightfm") else 0


class Trained(Benchmark):
    """Benchmarks on models trained to their quality epochs on each size's split."""

    param_names = ["model", "size"]
    params = [list(MODELS), list(SIZES)]

    def setup_cache(self) -> dict:
        folder = Path.cwd()
        out = {"splits": {}, "models": {}, "metrics": {}}
        for size in SIZES:
            split = build_split(size, folder)
            out["splits"][size] = str((folder / f"split-{size}.npz").resolve())
            save_split(split, out["splits"][size])
            for name in MODELS:
                model = new_model(name, quality_threads(name))
                model.fit(split.train, epochs=QUALITY_EPOCHS[name])
                result = evaluate(model, split, k=K, exclude_train=True, subsets=("test",),
                                  metrics=("precision", "mse"))["test"]
                path = folder / f"model-{name}-{size}.pickle"
                path.write_bytes(pickle.dumps(model))
                out["models"][name, size] = str(path.resolve())
                out["metrics"][name, size] = dict(result.means)
        return out

    setup_cache.timeout = CACHE_TIMEOUT

    def setup(self, cache, model, size):
        self.split = read_split(cache["splits"][size])
        self.model = pickle.loads(Path(cache["models"][model, size]).read_bytes())

    def time_recommend(self, cache, model, size):
        """Top-5 with train exclusion for every evaluated user (3,054 at the Sketchfab scale)."""
        topk(self.model, self.split.users, K, exclude=self.split.train)

    def time_evaluate(self, cache, model, size):
        """One learning-curve checkpoint: p@5 and MSE on train and test, one shared top-k pass."""
        evaluate(self.model, self.split, k=K, exclude_train=True, subsets=("train", "test"),
                 metrics=("precision", "mse"))

    def track_precision_at_k(self, cache, model, size):
        """Test precision@5 (train likes excluded) at the model's quality epoch."""
        return cache["metrics"][model, size]["precision"]

    track_precision_at_k.unit = "precision@5"

    def track_mse(self, cache, model, size):
        """Test MSE over all items (closed form) at the model's quality epoch."""
        return cache["metrics"][model, size]["mse"]

    track_mse.unit = "mse"
