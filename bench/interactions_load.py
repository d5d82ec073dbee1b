"""How fast, and in how much memory, an interaction file of MovieLens-20M's shape loads.

Writes a ``ratings.csv`` shaped like ML-20M's (``userId,movieId,rating,timestamp``; 138,493
users, 26,744 movies, 20,000,263 rows by default) from the synthetic generator
(:mod:`recsys_bench.datasets.synthetic`, so the likes have realistic popularity skew), with
half-star ratings and epoch-second timestamps, and the same table as Parquet. Then loads each
file with the ``interactions`` data set to a thresholded CSR (ratings >= 4, timestamps kept,
sha256 of the file taken) in a fresh process per repeat, and reports the median wall time and
the peak resident memory of those processes.

The target (issue 15): the 20M-row CSV in <= 20 s and <= 3 GB peak; Parquet faster. This is a
measurement to run by hand, not a timed test::

    python bench/interactions_load.py [--rows 20000263] [--repeats 3] [--folder DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ML20M_USERS, ML20M_ITEMS, ML20M_ROWS = 138_493, 26_744, 20_000_263
TARGET_SECONDS, TARGET_GB = 20.0, 3.0

_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from recsys_bench import datasets
data = datasets.load("interactions", path=sys.argv[1], user_col="userId", item_col="movieId",
                     weight_col="rating", timestamp_col="timestamp", min_weight=4)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "users": data.n_users, "items": data.n_items,
    "likes": data.nnz, "rows_read": data.stats["rows_read"]}))
"""


def write_files(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """``ratings.csv`` and ``ratings.parquet`` of ``rows`` rows in ML-20M's layout."""
    from recsys_bench.datasets import synthetic

    scale = rows / ML20M_ROWS
    n_users = max(int(ML20M_USERS * scale ** 0.5), 10)
    n_items = max(int(ML20M_ITEMS * scale ** 0.5), 10)
    data = synthetic.load(n_users=n_users, n_items=n_items, nnz=rows, seed=seed)
    coo = data.matrix.tocoo()
    rng = np.random.default_rng(seed)
    order = rng.permutation(coo.nnz)
    table = pa.table({
        "userId": (coo.row[order] + 1).astype(np.int32),
        "movieId": (coo.col[order] + 1).astype(np.int32),
        "rating": rng.integers(1, 11, size=coo.nnz).astype(np.float32) / 2,
        "timestamp": rng.integers(789_652_009, 1_427_784_002, size=coo.nnz),
    })
    csv_path, parquet_path = folder / "ratings.csv", folder / "ratings.parquet"
    pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
    pq.write_table(table, parquet_path)
    return csv_path, parquet_path


def measure(path: Path, repeats: int) -> dict:
    """Median wall time and peak RSS of loading ``path`` in ``repeats`` fresh processes."""
    runs = []
    root = Path(__file__).resolve().parents[1]
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                              text=True, cwd=root, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"file": path.name, "bytes": path.stat().st_size,
            "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2),
            "seconds": [round(r["seconds"], 2) for r in runs],
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
            **{k: runs[0][k] for k in ("rows_read", "users", "items", "likes")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ML20M_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path,
                        help="keep the files here, and reuse them when present (default: a "
                             "temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="interactions-load-") as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = (folder / "ratings.csv", folder / "ratings.parquet")
        if not (args.folder and all(p.is_file() for p in paths)):
            paths = write_files(folder, args.rows)
        written = time.perf_counter() - t0
        results = [measure(p, args.repeats) for p in paths]
    report = {"rows": args.rows, "repeats": args.repeats, "write_seconds": round(written, 1),
              "results": results}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.rows:,} rows (written in {written:.0f} s); median of {args.repeats} fresh "
          f"processes each:")
    for r in results:
        print(f"  {r['file']:<16} {r['bytes'] / 1e6:8.0f} MB  {r['median_seconds']:6.2f} s "
              f"(runs {r['seconds']})  peak RSS {r['peak_rss_mb']:,} MB  -> "
              f"{r['users']:,} users x {r['items']:,} items, {r['likes']:,} likes")
    if args.rows == ML20M_ROWS:
        csv = results[0]
        ok = csv["median_seconds"] <= TARGET_SECONDS and csv["peak_rss_mb"] <= TARGET_GB * 1024
        print(f"target (CSV <= {TARGET_SECONDS:.0f} s and <= {TARGET_GB:.0f} GB): "
              f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
