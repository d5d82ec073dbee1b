"""Fit the Sketchfab-scale data with implicit's ALS on CPU and on GPU; print p@5 and s/epoch.

One short script for a machine with a CUDA GPU (implicit >= 0.7.3 with ``rmm-cu13``). On a machine
without one it still runs the CPU half and says why the GPU half was skipped. Both halves go
through the harness: the same split, the same adapter, the same top-k and metrics.

Usage::

    python bench/scripts/gpu_check.py [--epochs 15] [--factors 40 128] [--out gpu_check.json]

implicit's PyPI wheel carries the CUDA kernels; at run time they need RMM. On a GPU machine
without network access, bring the wheels along (for the machine's Python, e.g. 3.12)::

    pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d wheels \
        implicit==0.7.3 rmm-cu13 "librmm-cu13==26.10.*" "rapids-logger==0.3.*"

and install them there with ``pip install --no-index --no-deps wheels/*.whl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

from recsys_bench import datasets, models, splits
from recsys_bench.errors import UserError
from recsys_bench.eval.evaluation import evaluate


def cuda_status() -> tuple[bool, str]:
    """Whether implicit can use CUDA here, and why not when it cannot."""
    try:
        import implicit.gpu
    except ImportError as error:  # pragma: no cover - implicit is a dependency
        return False, f"implicit not importable: {error}"
    if not implicit.gpu.HAS_CUDA:
        return False, "implicit was loaded without CUDA (no GPU, or rmm-cu13 missing)"
    return True, f"{implicit.gpu.get_device_count()} CUDA device(s)"


def time_fit(split, *, use_gpu: bool, factors: int, epochs: int, threads: int) -> dict:
    """Fit one epoch untimed (warm-up), then ``epochs`` timed epochs one at a time."""
    params = dict(factors=factors, regularization=0.1, alpha=50.0, use_gpu=use_gpu,
                  num_threads=threads, random_state=0)
    model = models.get("implicit-als", **params)
    model.fit(split.train, epochs=1)
    model.fit(split.train, epochs=1)
    per_epoch = []
    for _ in range(epochs - 1):
        start = time.perf_counter()
        model.fit_more(1)
        per_epoch.append(time.perf_counter() - start)
    out = {"device": "gpu" if use_gpu else "cpu", "factors": factors, "epochs": model.epochs_done,
           "threads": threads, "seconds_per_epoch_median": statistics.median(per_epoch),
           "seconds_per_epoch_min": min(per_epoch), "seconds_per_epoch_max": max(per_epoch)}
    for exclude in (False, True):
        result = evaluate(model, split, k=5, exclude_train=exclude, subsets=("test",),
                          metrics=("precision",))["test"]
        out[f"test_p@5_exclude_{str(exclude).lower()}"] = result.means["precision"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--factors", type=int, nargs="+", default=[40, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()

    has_cuda, why = cuda_status()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores; CUDA: {why}")
    data = datasets.load("sketchfab-synthetic", seed=0)
    split = splits.make_split(data, "user_holdout", seed=0, split_count=5, fraction=0.2)
    print(f"data: {data.n_users} users x {data.n_items} items, {data.nnz} likes; "
          f"split {split.fingerprint[:12]}, {len(split.users)} evaluated users")
    rows = []
    for factors in args.factors:
        for use_gpu in (False, True):
            if use_gpu and not has_cuda:
                print(f"factors={factors} gpu: skipped ({why})")
                continue
            row = time_fit(split, use_gpu=use_gpu, factors=factors, epochs=args.epochs,
                           threads=args.threads)
            rows.append(row)
            print(json.dumps(row))
    cpu = {r["factors"]: r for r in rows if r["device"] == "cpu"}
    for row in rows:
        if row["device"] == "gpu":
            ratio = cpu[row["factors"]]["seconds_per_epoch_median"] / row["seconds_per_epoch_median"]
            print(f"factors={row['factors']}: GPU {ratio:.1f}x faster per epoch than "
                  f"{row['threads']} CPU threads; p@5 cpu "
                  f"{cpu[row['factors']]['test_p@5_exclude_false']:.4f} vs gpu "
                  f"{row['test_p@5_exclude_false']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cuda": why, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    try:
        main()
    except UserError as error:
        raise SystemExit(f"gpu_check: error: {error}")
