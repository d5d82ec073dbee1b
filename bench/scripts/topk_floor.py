"""The exact top-k against its GEMM floor, side by side, at ML-20M density.

For each ``--likes``: synthetic likes shaped as in ``scale.py stages`` (users and items scaled by
the square root of the likes), the study's user-holdout split, implicit-als f=64 trained for
``--epochs`` epochs on all cores, then, alternated within each of ``--rounds`` rounds:

``floor``
    every score block ``U[users] @ V.T`` of the test users in float32, in the top-k's blocks and
    threads with BLAS at one thread per block, thrown away (``scale.gemm_floor``);
``topk``
    the harness's exact top-10 with train exclusion (:func:`recsys_bench.eval.topk.factor_topk`,
    as the evaluation calls it);
``full`` / ``pruned``
    the same with the choice between the full product and the norm-bounded chunks forced;
``numpy``
    the default path with the C kernel switched off.

The variants take turns going first after the floor, one round to the next. Each time, the
floor's included, is the best of three calls (a call at 0.5M likes lasts a few
hundredths of a second, shorter than the machine's hiccups). Every variant's lists are checked
equal to ``topk``'s. Prints medians (min-max) over the rounds of each time over the floor
measured in the same round, and writes them to ``--out`` as JSON.

Beside the ratios, ``costs`` breaks the full product's path down on one thread, each the best
of ``COST_REPEATS`` calls: the product of one score block, and the C kernel's ranking of that
block without exclusion (which leaves the block as it is, so each call ranks the same scores),
in nanoseconds per score; and the fixed costs of every call: the norm-bounded path's set-up
(norms, order, bounds) and the sample of users that chooses between the paths.

Usage::

    python bench/scripts/topk_floor.py --likes 0.5M 5M 20M --rounds 5 --out results/scale/topk-floor.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import gemm_floor, likes_of, shape_for  # noqa: E402

from recsys_bench.eval import kernel  # noqa: E402
from recsys_bench.eval import topk as topk_module  # noqa: E402

BEST_OF = 3
COST_REPEATS = 20


def variants(user_factors, item_factors, exclude, threads):
    """name -> a call that ranks the test users one way."""
    ranker = topk_module._NormPruning
    original_pays, original_may_pay = vars(ranker)["pays"], vars(ranker)["may_pay"]

    def run(pays=None, compiled=True):
        saved = kernel.LIBRARY
        if pays is not None:
            ranker.pays = lambda self: pays
            ranker.may_pay = classmethod(lambda cls, n_items: pays)
        kernel.LIBRARY = saved if compiled else None
        try:
            return topk_module.factor_topk(user_factors, item_factors, 10, exclude=exclude,
                                           num_threads=threads)
        finally:
            ranker.pays, ranker.may_pay = original_pays, original_may_pay
            kernel.LIBRARY = saved

    return {"topk": run, "full": lambda: run(pays=False), "pruned": lambda: run(pays=True),
            "numpy": lambda: run(compiled=False)}


def best_seconds(call, repeats: int = COST_REPEATS) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def costs(user_factors, item_factors, exclude, k: int = 10) -> dict:
    """Where the full product's time goes, on one thread (see the module's docstring)."""
    from recsys_bench.threads import single_threaded_blas

    users = np.ascontiguousarray(user_factors, dtype=np.float32)
    items = np.ascontiguousarray(item_factors, dtype=np.float32)
    rows = min(len(users), topk_module.block_size_for(len(items)))
    products = topk_module.FactorProducts(users, items)
    found = {"block_rows": rows}
    with single_threaded_blas():
        scores = products(slice(0, rows))
        per_score = 1e9 / scores.size
        found["product_ns_per_score"] = best_seconds(lambda: products(slice(0, rows))) * per_score
        if kernel.LIBRARY is not None:
            found["kernel_ns_per_score"] = best_seconds(lambda: kernel.select(scores, k)) \
                * per_score
        found["pruning_setup_ms"] = 1e3 * best_seconds(
            lambda: topk_module._NormPruning(users, items, k, exclude, None))
        ranker = topk_module._NormPruning(users, items, k, exclude, None)
        found["path_sample_ms"] = 1e3 * best_seconds(ranker.pays)
    return found


def measure(likes: int, rounds: int, epochs: int, threads: int) -> dict:
    from recsys_bench import models, splits
    from recsys_bench.datasets import synthetic

    users, items, _ = shape_for(likes)
    data = synthetic.load(n_users=users, n_items=items, nnz=likes, seed=0)
    split = splits.make_split(data, "user_holdout", seed=0, split_count=5, fraction=0.2)
    model = models.get("implicit-als", factors=64, regularization=0.1, alpha=10.0,
                       num_threads=threads, random_state=0)
    model.fit(split.train, epochs=epochs)
    user_factors = np.asarray(model.user_factors)[split.users]
    item_factors = np.asarray(model.item_factors)
    exclude = split.train[np.asarray(split.users)]
    calls = variants(user_factors, item_factors, exclude, threads)
    expected = calls["topk"]()
    ratios: dict[str, list] = {name: [] for name in calls}
    floors = []
    names = list(calls)
    for round_number in range(rounds):
        floor = gemm_floor(user_factors, item_factors, threads, repeats=BEST_OF)
        floors.append(floor)
        turn = round_number % len(names)
        for name in names[turn:] + names[:turn]:
            call = calls[name]
            best = np.inf
            for _ in range(BEST_OF):
                start = time.perf_counter()
                got = call()
                best = min(best, time.perf_counter() - start)
                if not np.array_equal(got, expected):
                    raise AssertionError(f"{name} lists differ at {likes} likes")
            ratios[name].append(best / floor)
    ranker = topk_module._NormPruning
    pruning_chosen = ranker.may_pay(len(item_factors)) and ranker(
        np.ascontiguousarray(user_factors, dtype=np.float32),
        np.asarray(item_factors, dtype=np.float32), 10, None, None).pays()
    summary = {"likes": likes, "users": users, "items": items,
               "evaluated_users": len(split.users), "rounds": rounds,
               "floor_seconds": {"median": float(np.median(floors)), "min": min(floors),
                                 "max": max(floors)},
               "pruning_chosen": bool(pruning_chosen),
               "costs": costs(user_factors, item_factors, exclude)}
    for name, values in ratios.items():
        summary[name] = {"median": float(np.median(values)), "min": min(values),
                         "max": max(values)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--likes", type=likes_of, nargs="+", default=[likes_of("0.5M")])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args(argv)
    results = []
    for likes in args.likes:
        found = measure(likes, args.rounds, args.epochs, args.threads)
        results.append(found)
        cells = ", ".join(f"{name} {found[name]['median']:.2f}x ({found[name]['min']:.2f}-"
                          f"{found[name]['max']:.2f})" for name in ("topk", "full", "pruned",
                                                                     "numpy"))
        print(f"{likes:,} likes ({found['evaluated_users']:,} users x {found['items']:,} items), "
              f"floor {found['floor_seconds']['median']:.3f} s: {cells}", flush=True)
        print("  one thread: " + ", ".join(f"{name} {value:.3g}"
                                           for name, value in found["costs"].items()), flush=True)
    if args.out:
        payload = {"command": " ".join(["python", *sys.argv]), "threads": args.threads,
                   "results": results}
        Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
