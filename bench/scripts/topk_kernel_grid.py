"""The study grid's evaluation with the compiled top-k kernel on and off, side by side.

On ``sketchfab-synthetic`` (seed 0) and the study's split, implicit-als (CG, one thread, 10
epochs) at each ``--factors``; then the grid's evaluation (p@5 and MSE on train and test, no
exclusion, one thread), alternating kernel on / off over ``--rounds`` rounds. Checks both give
the same p@5 and prints the median seconds each way and the median per-round ratio.

Usage::

    python bench/scripts/topk_kernel_grid.py --factors 10 40 120 --rounds 6
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from recsys_bench import datasets, models, splits
from recsys_bench.eval import kernel
from recsys_bench.eval.evaluation import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 40, 120])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    library = kernel.LIBRARY
    if library is None:
        print("topk_kernel_grid: the C kernel is not built", file=sys.stderr)
        return 2
    data = datasets.load("sketchfab-synthetic", seed=0)
    split = splits.make_split(data, "user_holdout", seed=0, split_count=5, fraction=0.2)
    for factors in args.factors:
        model = models.get("implicit-als", factors=factors, regularization=0.1, alpha=10,
                           use_cg=True, num_threads=1, random_state=0)
        model.fit(split.train, epochs=10)
        seconds: dict[bool, list] = {True: [], False: []}
        found = {}
        for round_number in range(args.rounds):
            for on in (True, False) if round_number % 2 == 0 else (False, True):
                kernel.LIBRARY = library if on else None
                try:
                    start = time.perf_counter()
                    result = evaluate(model, split, k=5, exclude_train=False,
                                      subsets=("train", "test"), metrics=("precision", "mse"),
                                      num_threads=1)
                    seconds[on].append(time.perf_counter() - start)
                finally:
                    kernel.LIBRARY = library
                found[on] = result["test"].means["precision"]
            if found[True] != found[False]:
                raise AssertionError(f"p@5 differs at factors {factors}")
        ratios = np.array(seconds[True]) / np.array(seconds[False])
        print(f"factors {factors}: kernel {np.median(seconds[True]):.4f} s, NumPy "
              f"{np.median(seconds[False]):.4f} s, ratio {np.median(ratios):.2f} "
              f"({ratios.min():.2f}-{ratios.max():.2f}); p@5 {found[True]:.6f} both ways",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
