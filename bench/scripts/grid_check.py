"""Check a WRMF grid run against the straightforward way of computing the same numbers.

The harness trains each setting once, 2 epochs at a time, and evaluates after every step with its
own top-k (norm-pruned when that pays) and the closed-form MSE. The straightforward way, used here,
refits implicit from scratch for every checkpoint (``iterations = epoch``), scores every item of
every evaluated user with a dense ``U V^T``, ranks with a full stable ``argsort`` and computes MSE
from the dense error matrix. For a sample of the run's settings this script recomputes p@k and MSE
on train and test at the chosen checkpoints and prints the largest difference from the run's
``results.csv`` (the performance target asks for 1e-6), plus the seconds each way took.

Usage::

    python bench/scripts/grid_check.py results/sketchfab-wrmf-grid [--settings 3] [--seed 0]
        [--params JSON ...] [--checkpoints 2 10 38] [--out check.json]

Needs the run's ``splits/`` folder (kept locally, not in git), i.e. a run made on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import implicit.cpu.als
import numpy as np
import pandas as pd

from recsys_bench.fileio import atomic_open
from recsys_bench.models.numpy_als import confidence
from recsys_bench.splits import load_split
from recsys_bench.threads import pinned_blas


def straightforward(split, params: dict, epoch: int, k: int, seed: int) -> dict:
    """p@k and MSE on train and test after fitting ``epoch`` epochs from scratch."""
    model = implicit.cpu.als.AlternatingLeastSquares(
        factors=params["factors"], regularization=params["regularization"], alpha=1.0,
        iterations=epoch, use_cg=params.get("use_cg", True), num_threads=1, random_state=seed)
    model.fit(confidence(split.train, params["alpha"]), show_progress=False)
    users = np.asarray(split.users)
    scores = (model.user_factors[users] @ model.item_factors.T).astype(np.float32)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    out = {}
    for subset, truth in (("train", split.train), ("test", split.test)):
        liked = truth[users].toarray() > 0
        hits = np.take_along_axis(liked, top, axis=1).sum(axis=1)
        error = scores.astype(np.float64) - liked
        out[subset] = {"precision_at_k": float(np.mean(hits / k)),
                       "mse": float(np.mean(np.mean(error * error, axis=1)))}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: python bench/scripts/grid_check.py "
                                            "results/sketchfab-wrmf-grid --settings 3")
    parser.add_argument("run_dir", type=Path, help="result folder of the grid run")
    parser.add_argument("--settings", type=int, default=3, help="settings sampled (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--params", nargs="+", metavar="JSON",
                        help="check these settings (the run's params column) instead of a sample")
    parser.add_argument("--checkpoints", type=int, nargs="+",
                        help="epochs to check (default: every checkpoint of the run)")
    parser.add_argument("--out", type=Path, help="also write the comparison as JSON")
    args = parser.parse_args(argv)

    table = pd.read_csv(args.run_dir / "results.csv")
    table = table[(table["status"] == "ok") & (table["model"] == "implicit-als")]
    if table.empty:
        print(f"{args.run_dir}: no successful implicit-als rows", file=sys.stderr)
        return 2
    split_files = sorted((args.run_dir / "splits").glob("*-seed*.npz"))
    if len(split_files) != 1:
        print(f"{args.run_dir}/splits: expected one split file, found {len(split_files)}",
              file=sys.stderr)
        return 2
    split = load_split(split_files[0])
    k = int(table["k"].iloc[0])
    seed = int(table["seed"].iloc[0])
    settings = sorted(table["params"].unique())
    if args.params:
        wanted = [json.dumps(json.loads(text), sort_keys=True) for text in args.params]
        known = {json.dumps(json.loads(text), sort_keys=True): i for i, text in enumerate(settings)}
        missing = [text for text in wanted if text not in known]
        if missing:
            print(f"{args.run_dir}: no setting {missing[0]} in the run", file=sys.stderr)
            return 2
        chosen = [known[text] for text in wanted]
    else:
        rng = np.random.default_rng(args.seed)
        chosen = rng.choice(len(settings), size=min(args.settings, len(settings)), replace=False)

    rows, worst = [], 0.0
    with pinned_blas(1):
        for index in sorted(chosen):
            text = settings[index]
            params = json.loads(text)
            mine = table[table["params"] == text]
            epochs = args.checkpoints or sorted(mine["epoch"].unique())
            start = time.perf_counter()
            for epoch in epochs:
                expected = straightforward(split, params, int(epoch), k, seed)
                for subset, values in expected.items():
                    row = mine[(mine["epoch"] == epoch) & (mine["subset"] == subset)]
                    if row.empty:
                        print(f"{text} epoch {epoch} {subset}: not in the run", file=sys.stderr)
                        return 2
                    for column, value in values.items():
                        difference = abs(float(row[column].iloc[0]) - value)
                        worst = max(worst, difference)
                        rows.append({"params": text, "epoch": int(epoch), "subset": subset,
                                     "metric": column, "run": float(row[column].iloc[0]),
                                     "straightforward": value, "difference": difference})
            seconds = time.perf_counter() - start
            harness = float(mine["fit_seconds"].max()) + float(
                mine.drop_duplicates("epoch")["eval_seconds"].sum())
            print(f"{text}: {len(epochs)} checkpoints, largest difference "
                  f"{max(r['difference'] for r in rows if r['params'] == text):.2e}; "
                  f"straightforward {seconds:.1f} s, the run's fit + evaluation "
                  f"{harness:.1f} s (all {mine['epoch'].nunique()} checkpoints)", flush=True)
    print(f"largest difference over {len(rows)} values: {worst:.2e} "
          f"({'within' if worst <= 1e-6 else 'OUTSIDE'} 1e-6)")
    if args.out:
        with atomic_open(args.out, "w") as handle:
            json.dump({"run": str(args.run_dir), "largest_difference": worst, "rows": rows},
                      handle, indent=1)
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
