"""implicit's ALS on the GPU against the CPU on one split: agreement, seconds per epoch, a grid.

One prepared script for the day a machine with a CUDA GPU is lent; it finishes within
``--budget-s`` (default 270 s, so a 5-minute slot holds it with its start-up):

1. the device and driver (``nvidia-smi``), Python, implicit, and whether implicit has CUDA;
2. on the Sketchfab-scale synthetic data (550k likes; or ``--synthetic USERS ITEMS LIKES``), one
   user-holdout split, implicit-als (CG) at each ``--factors`` on the CPU and on the GPU: one
   untimed epoch, then ``--epochs`` timed epochs one at a time, p@5 with and without train
   exclusion through the harness's own top-k and metrics;
3. **agreement**: the GPU's p@5 must be within ``--tolerance`` (default 0.05, relative) of the
   CPU's, or within 0.005 absolute for small values: the two solvers start from different random
   factors and round differently (float32 on both), so equality is not expected;
4. with the time left, settings of the study's WRMF grid (factors x regularization x alpha) on
   the GPU, each fitted ``--epochs`` epochs, p@5 recorded, until the budget is spent.

Without CUDA the CPU half runs and the GPU half is skipped with the reason (recorded in the
output as ``gpu_skipped``); the exit status is 0. An agreement failure exits 1.

Usage::

    python bench/scripts/gpu_check.py --out results/gpu-check      # writes run.json there

implicit's PyPI wheel carries the CUDA kernels; at run time they need RMM. On a GPU machine
without network access, bring the wheels along (for the machine's Python, e.g. 3.12)::

    pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d wheels \\
        implicit==0.7.3 rmm-cu13 "librmm-cu13==26.10.*" "rapids-logger==0.3.*"

and install them there with ``pip install --no-index --no-deps wheels/*.whl``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from recsys_bench import datasets, models, splits
from recsys_bench.errors import UserError
from recsys_bench.eval.evaluation import evaluate

GRID = {"factors": [10, 20, 40, 80, 120], "regularization": [1e-5, 1e-3, 0.1, 10, 100],
        "alpha": [1, 10, 50, 100, 500]}
ABSOLUTE_TOLERANCE = 0.005


def cuda_status() -> tuple[bool, str]:
    """Whether implicit can use CUDA here, and why not when it cannot."""
    try:
        import implicit.gpu
    except ImportError as error:  # pragma: no cover - implicit is a dependency
        return False, f"implicit not importable: {error}"
    if not implicit.gpu.HAS_CUDA:
        return False, "implicit was loaded without CUDA (no GPU, or rmm-cu13 missing)"
    return True, f"{implicit.gpu.get_device_count()} CUDA device(s)"


def device_info() -> dict:
    """The GPUs and driver as ``nvidia-smi`` reports them, or why there is nothing to report."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"gpus": [], "driver": None, "why": "nvidia-smi not found"}
    query = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        done = subprocess.run([smi, *query], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return {"gpus": [], "driver": None, "why": f"nvidia-smi failed: {error}"}
    if done.returncode != 0:
        return {"gpus": [], "driver": None, "why": f"nvidia-smi: {done.stderr.strip()}"}
    gpus = [dict(zip(("name", "driver", "memory"), (p.strip() for p in line.split(","))))
            for line in done.stdout.strip().splitlines()]
    return {"gpus": gpus, "driver": gpus[0]["driver"] if gpus else None}


def quality(model, split) -> dict:
    """p@5 on the test users, with and without their train items."""
    out = {}
    for exclude in (False, True):
        result = evaluate(model, split, k=5, exclude_train=exclude, subsets=("test",),
                          metrics=("precision",))["test"]
        out[f"test_p@5_exclude_{str(exclude).lower()}"] = result.means["precision"]
    return out


def time_fit(split, *, use_gpu: bool, factors: int, epochs: int, threads: int,
             regularization: float = 0.1, alpha: float = 50.0) -> dict:
    """Fit one epoch untimed (the warm-up: conversions, GPU transfer), then ``epochs`` timed
    epochs one at a time; seconds per epoch and p@5 after ``epochs + 1`` epochs."""
    params = dict(factors=factors, regularization=regularization, alpha=alpha,
                  use_gpu=use_gpu, num_threads=threads, random_state=0)
    model = models.get("implicit-als", **params)
    model.fit(split.train, epochs=1)
    per_epoch = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit_more(1)
        per_epoch.append(time.perf_counter() - start)
    return {"device": "gpu" if use_gpu else "cpu", "factors": factors,
            "regularization": regularization, "alpha": alpha, "epochs": model.epochs_done,
            "threads": threads, "seconds_per_epoch_median": statistics.median(per_epoch),
            "seconds_per_epoch_min": min(per_epoch), "seconds_per_epoch_max": max(per_epoch),
            **quality(model, split)}


def agreement(cpu: dict, gpu: dict, tolerance: float) -> dict:
    """Whether the GPU's p@5 is within ``tolerance`` (relative) of the CPU's, or within
    :data:`ABSOLUTE_TOLERANCE`, with and without exclusion."""
    checks = {}
    for key in ("test_p@5_exclude_false", "test_p@5_exclude_true"):
        difference = abs(gpu[key] - cpu[key])
        allowed = max(tolerance * abs(cpu[key]), ABSOLUTE_TOLERANCE)
        checks[key] = {"cpu": cpu[key], "gpu": gpu[key], "difference": difference,
                       "allowed": allowed, "agree": difference <= allowed}
    return {"factors": cpu["factors"], "checks": checks,
            "agree": all(c["agree"] for c in checks.values()),
            "gpu_speedup": cpu["seconds_per_epoch_median"] / gpu["seconds_per_epoch_median"]}


def load_split(synthetic: list[int] | None):
    """The Sketchfab-scale synthetic data (or synthetic data of the given shape), split once."""
    if synthetic:
        users, items, likes = synthetic
        data = datasets.load("synthetic", n_users=users, n_items=items, nnz=likes, seed=0)
    else:
        data = datasets.load("sketchfab-synthetic", seed=0)
    return data, splits.make_split(data, "user_holdout", seed=0, split_count=5, fraction=0.2)


def run(args) -> dict:
    """Everything the script measures, as the dict written to ``run.json``."""
    started = time.monotonic()
    has_cuda, why = cuda_status()
    import implicit

    info = {"python": platform.python_version(), "implicit": implicit.__version__,
            "cores": os.cpu_count(), "cuda": why, "device": device_info(),
            "tolerance": {"relative": args.tolerance, "absolute": ABSOLUTE_TOLERANCE}}
    print(f"python {info['python']}, implicit {info['implicit']}, {info['cores']} cores; "
          f"CUDA: {why}; GPUs: {info['device'].get('gpus') or info['device'].get('why')}",
          flush=True)
    data, split = load_split(args.synthetic)
    info["data"] = {"users": data.n_users, "items": data.n_items, "likes": data.nnz,
                    "split": split.fingerprint[:12], "evaluated_users": len(split.users)}
    print(f"data: {data.n_users} users x {data.n_items} items, {data.nnz} likes", flush=True)
    rows, agreements = [], []
    for factors in args.factors:
        cpu = time_fit(split, use_gpu=False, factors=factors, epochs=args.epochs,
                       threads=args.threads)
        rows.append(cpu)
        print(json.dumps(cpu), flush=True)
        if not has_cuda:
            continue
        gpu = time_fit(split, use_gpu=True, factors=factors, epochs=args.epochs,
                       threads=args.threads)
        rows.append(gpu)
        agreements.append(agreement(cpu, gpu, args.tolerance))
        print(json.dumps(gpu), flush=True)
        print(f"factors={factors}: GPU {agreements[-1]['gpu_speedup']:.1f}x the CPU per epoch; "
              f"agree: {agreements[-1]['agree']}", flush=True)
    info.update(rows=rows, agreement=agreements)
    if not has_cuda:
        info["gpu_skipped"] = why
        print(f"gpu: skipped ({why})", flush=True)
        return info
    grid, per_setting = [], None
    for factors, reg, alpha in itertools.product(*GRID.values()):
        left = args.budget_s - (time.monotonic() - started)
        if per_setting is not None and per_setting * 1.5 > left or left <= 0:
            break
        start = time.monotonic()
        grid.append(time_fit(split, use_gpu=True, factors=factors, epochs=args.epochs,
                             threads=args.threads, regularization=reg, alpha=alpha))
        per_setting = max(per_setting or 0.0, time.monotonic() - start)
    info["grid"] = {"settings_run": len(grid), "settings": len(list(itertools.product(
        *GRID.values()))), "rows": grid}
    print(f"grid on the GPU: {len(grid)} settings in the time left", flush=True)
    return info


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--factors", type=int, nargs="+", default=[40, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="relative p@5 difference allowed between GPU and CPU")
    parser.add_argument("--budget-s", type=float, default=270.0,
                        help="seconds for the whole check; the grid stops before it")
    parser.add_argument("--synthetic", type=int, nargs=3, metavar=("USERS", "ITEMS", "LIKES"),
                        help="synthetic data of this shape instead of the Sketchfab-scale data")
    parser.add_argument("--out", type=Path, help="folder to write run.json into")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    info = run(args)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return 0 if all(a["agree"] for a in info["agreement"]) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        sys.exit(2)
