"""Seconds per ALS iteration of Spark MLlib, implicit and the NumPy reference, as ratios.

All models fit the same random matrix (``synthetic``, about Sketchfab's size) in one run, at the
same factors and thread counts; Spark runs on ``local[N]`` for ``N`` threads. implicit and numpy-als
continue training, so one epoch is timed by ``fit_more(1)`` after a warm-up epoch; Spark cannot
continue, so its time per iteration is the difference of two fits, ``(t(hi) - t(lo)) / (hi - lo)``,
which leaves out its fixed costs (DataFrame, blocking, collecting the factors), printed apart as
``setup``. Ratios are against implicit's conjugate-gradient solver at the same thread count
(implicit's own benchmarks claim 23-30x over Spark at 256 factors).

Usage::

    python bench/scripts/spark_vs_implicit.py [--factors 40] [--threads 1 2] [--repeats 3]
        [--users 15000] [--items 25000] [--nnz 550000] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

from recsys_bench import datasets, models
from recsys_bench.errors import UserError

SETTINGS = {"regularization": 0.1, "alpha": 50.0, "random_state": 0}

# label -> (registry name, extra parameters)
SINGLE_MACHINE = {
    "implicit-cg": ("implicit-als", {"use_cg": True}),
    "implicit-cholesky": ("implicit-als", {"use_cg": False}),
    "numpy-cg": ("numpy-als", {"solver": "cg"}),
}


def time_continuing(name: str, extra: dict, train, factors: int, threads: int,
                    repeats: int) -> dict:
    """Median seconds of ``fit_more(1)`` after one untimed epoch."""
    model = models.get(name, factors=factors, num_threads=threads, **SETTINGS, **extra)
    model.fit(train, epochs=1)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit_more(1)
        seconds.append(time.perf_counter() - start)
    return {"seconds_per_iteration": statistics.median(seconds), "setup": None}


def time_spark(train, factors: int, threads: int, repeats: int, lo: int, hi: int) -> dict:
    """Seconds per iteration of spark-als on ``local[threads]`` from fits of ``lo`` and ``hi``
    iterations (medians over ``repeats``), after one untimed warm-up fit."""
    model = models.get("spark-als", factors=factors, num_threads=threads, **SETTINGS)
    model.fit(train, epochs=1)
    timed = {lo: [], hi: []}
    for _ in range(repeats):
        for epochs in (lo, hi):
            start = time.perf_counter()
            model.fit(train, epochs=epochs)
            timed[epochs].append(time.perf_counter() - start)
    t_lo, t_hi = statistics.median(timed[lo]), statistics.median(timed[hi])
    per_iteration = (t_hi - t_lo) / (hi - lo)
    return {"seconds_per_iteration": per_iteration, "setup": t_lo - lo * per_iteration}


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as JSON atomically (temporary file in the same folder, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, default=40)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=15_000)
    parser.add_argument("--items", type=int, default=25_000)
    parser.add_argument("--nnz", type=int, default=550_000)
    parser.add_argument("--spark-iterations", type=int, nargs=2, default=[2, 6],
                        metavar=("LO", "HI"))
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()
    lo, hi = args.spark_iterations
    if not 1 <= lo < hi:
        raise UserError(f"--spark-iterations needs 1 <= LO < HI, got {lo} {hi}")

    from recsys_bench.models.spark_als import pyspark_version, spark_unavailable, stop_session
    problem = spark_unavailable()
    if problem is not None:
        raise UserError(problem)
    data = datasets.load("synthetic", n_users=args.users, n_items=args.items, nnz=args.nnz,
                         seed=0)
    train = data.matrix
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, pyspark "
          f"{pyspark_version()}; data {train.shape[0]} x {train.shape[1]}, {train.nnz} likes; "
          f"factors={args.factors}")
    rows = []
    for threads in args.threads:
        for label, (name, extra) in SINGLE_MACHINE.items():
            row = time_continuing(name, extra, train, args.factors, threads, args.repeats)
            rows.append({"model": label, "threads": threads, **row})
        row = time_spark(train, args.factors, threads, args.repeats, lo, hi)
        rows.append({"model": "spark", "threads": threads, **row})
    stop_session()

    reference = {r["threads"]: r["seconds_per_iteration"] for r in rows
                 if r["model"] == "implicit-cg"}
    print("spark runs on local[threads]; setup = fixed cost of one spark fit")
    print(f"{'model':<20} {'threads':>7} {'s/iter':>8} {'x implicit-cg':>14} {'setup s':>8}")
    for row in rows:
        row["ratio_to_implicit_cg"] = row["seconds_per_iteration"] / reference[row["threads"]]
        setup = "" if row["setup"] is None else f"{row['setup']:.2f}"
        print(f"{row['model']:<20} {row['threads']:>7} {row['seconds_per_iteration']:>8.3f} "
              f"{row['ratio_to_implicit_cg']:>14.1f} {setup:>8}")
    first = args.threads[0]
    for threads in args.threads[1:]:
        for label in dict.fromkeys(r["model"] for r in rows):
            base, more = (next(r["seconds_per_iteration"] for r in rows
                               if r["model"] == label and r["threads"] == n)
                          for n in (first, threads))
            print(f"{label}: {first} -> {threads} threads, speed-up {base / more:.2f}")
    if args.out:
        write_json(args.out, {"factors": args.factors, "shape": list(train.shape),
                              "nnz": int(train.nnz), "rows": rows})


if __name__ == "__main__":
    try:
        main()
    except UserError as error:
        raise SystemExit(f"spark_vs_implicit: error: {error}")
