"""Scale benchmarks: ML-20M- and Netflix-shaped data end to end, and the cost of each stage.

Two measurements, each written to ``--out`` with the command that made it:

``end-to-end``
    Synthetic likes shaped like ML-20M (138,493 users x 26,744 items, 20,000,263 likes; the
    ``netflix`` shape is 480,189 x 17,770, 100,480,507 likes) through the harness as a user
    would run it: ``recsys-bench run`` on a config this script writes (generate, user-holdout
    split, implicit-als f=64 with checkpoints 5/10/15, p@10, recall@10 and NDCG@10 with train
    exclusion for every test user, the result table), then the report. It records the wall
    time of the command and its peak memory (the largest sum of resident memory over the
    command's process tree, sampled every 0.2 s, and the largest single process's peak).
    Before any work the peak is estimated (:func:`pipeline_estimate`); over the memory budget
    (default: the available memory minus a margin; ``--memory-budget``) the script refuses with
    one line naming the memory it would need and what there is, and exits 2. ``--dry-run``
    stops after the estimate. It keeps ``config.toml``, ``results.csv``, ``run.json``,
    ``report.md`` with its figures, and ``scale.json`` (the measurements) in ``--out``.

``stages``
    In one process, for each ``--likes`` (synthetic data at ML-20M's density, users and items
    scaled by the square root of the likes): generating the data with a seeded timestamp per
    like, the user-holdout split, a time cut at the 0.8 quantile, one implicit-als epoch (f=64,
    the machine's cores), one evaluation (exact top-10 of every test user with train
    exclusion, three metrics) and the GEMM floor of that top-k: the same users' score blocks
    ``U[users] @ V.T`` computed and thrown away (float32, the evaluation's block size and
    threads, BLAS one thread per block; best of three), with no ranking. Each stage records
    its seconds and the process's peak resident memory while it ran (``VmHWM`` reset before
    it). Writes ``stages.csv``, ``stages.json`` and ``stages.png`` (log-log, with slopes
    fitted by least squares on log10).

Usage::

    python bench/scripts/scale.py end-to-end --shape ml20m --out results/scale/ml20m
    python bench/scripts/scale.py end-to-end --shape netflix --memory-budget 6G \
        --out results/scale/netflix
    python bench/scripts/scale.py stages --likes 0.5M 5M 20M --out results/scale/stages
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys_bench.errors import UserError
from recsys_bench.experiment import memory

SHAPES = {"ml20m": (138_493, 26_744, 20_000_263), "netflix": (480_189, 17_770, 100_480_507)}
FACTORS = 64
CHECKPOINTS = [5, 10, 15]
# The parent's peak per like while it generates, fingerprints and splits the data (measured
# in ``stages``: generation ~70 bytes a like at 2M likes, falling with size; kept generous).
PARENT_BYTES_PER_LIKE = 80
KEPT = ("results.csv", "run.json", "report.md", "config.toml")

CONFIG = """# Written by bench/scripts/scale.py: synthetic likes shaped like {shape}.
[experiment]
name = "scale-{shape}"
description = "{users} users x {items} items, {likes} likes: implicit-als f={factors} end to end"

[[datasets]]
name = "synthetic"
options = {{ n_users = {users}, n_items = {items}, nnz = {likes}, seed = 0 }}

[split]
kind = "user_holdout"
seeds = [0]
options = {{ split_count = 5, fraction = 0.2 }}

[evaluation]
k = 10
metrics = ["precision", "recall", "ndcg"]
exclude_train = true
subsets = ["test"]
checkpoints = {checkpoints}

[timing]
warmup = 0
repeats = 1
timeout_s = 3600

[[models]]
name = "implicit-als"
params = {{ factors = {factors}, regularization = 0.1, alpha = 10, use_cg = true }}
threads = [{threads}]
"""


def likes_of(text: str) -> int:
    """``0.5M``, ``20M``, ``100M``, ``500k`` or a plain number, as a count of likes."""
    text = text.strip().lower()
    scale = {"k": 10**3, "m": 10**6}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise UserError(f"--likes: {text!r} is not a count such as 0.5M or 20M") from None
    if value < 1000:
        raise UserError(f"--likes: {text!r} is too small (at least 1k)")
    return int(value)


def shape_for(likes: int) -> tuple[int, int, int]:
    """Users and items at ML-20M's density for ``likes``: both scaled by sqrt(likes / 20M)."""
    users, items, base = SHAPES["ml20m"]
    factor = (likes / base) ** 0.5
    return max(100, round(users * factor)), max(50, round(items * factor)), likes


def pipeline_estimate(users: int, items: int, likes: int, threads: int) -> dict:
    """The end-to-end run's estimated peak, in bytes: the command's process while it generates
    and splits the data, plus the trial's worker (:func:`recsys_bench.experiment.memory.
    estimate`, 20% of users evaluated)."""
    trial = memory.estimate("implicit-als", {"factors": FACTORS}, n_users=users, n_items=items,
                            likes=likes, train_likes=int(0.96 * likes), k=10, threads=threads,
                            evaluated_users=users // 5)
    parent = memory.PROCESS_BYTES + PARENT_BYTES_PER_LIKE * likes
    return {"parent": parent, "trial": trial.total, "trial_parts": trial.describe(),
            "total": parent + trial.total}


# --------------------------------------------------------------------------- end to end

def tree_rss(root: int) -> tuple[int, int]:
    """Resident bytes of ``root`` and its descendants together, and the largest one's peak."""
    children: dict[int, list[int]] = {}
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields.get("VmRSS", "0 kB").split()[0]) * 1024,
                      int(fields.get("VmHWM", "0 kB").split()[0]) * 1024)
    total, largest, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        rss, hwm = stats.get(pid, (0, 0))
        total, largest = total + rss, max(largest, hwm)
        todo.extend(children.get(pid, []))
    return total, largest


def end_to_end(args) -> int:
    users, items, likes = SHAPES[args.shape] if args.likes is None else shape_for(args.likes)
    threads = args.threads
    budget = memory.Budget.of(args.memory_budget)
    need = pipeline_estimate(users, items, likes, threads)
    shape = f"{args.shape} ({users} users x {items} items, {likes} likes)"
    command = " ".join(sys.argv)
    record = {"shape": args.shape, "users": users, "items": items, "likes": likes,
              "threads": threads, "estimate_bytes": need, "budget_bytes": budget.bytes,
              "budget_source": budget.source,
              "command": command.replace(args.run_dir, "RUN_FOLDER") if args.run_dir else command}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if need["total"] > budget.bytes:
        record["refused"] = True
        (out / "scale.json").write_text(json.dumps(record, indent=2) + "\n")
        raise UserError(f"{shape} needs about {memory.gb(need['total'])} (generating and "
                        f"splitting {memory.gb(need['parent'])}, the trial "
                        f"{need['trial_parts']}), more than the memory budget of "
                        f"{memory.gb(budget.bytes)} ({budget.source}); nothing was generated")
    print(f"{shape}: estimated peak {memory.gb(need['total'])} within {memory.gb(budget.bytes)}",
          flush=True)
    if args.dry_run:
        record["dry_run"] = True
        (out / "scale.json").write_text(json.dumps(record, indent=2) + "\n")
        return 0
    config = out / "config.toml"
    config.write_text(CONFIG.format(shape=args.shape, users=users, items=items, likes=likes,
                                    factors=FACTORS, checkpoints=CHECKPOINTS, threads=threads))
    temporary = args.run_dir is None
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="scale-run-"))
    command = [sys.executable, "-m", "recsys_bench", "run", str(config), "--out", str(run_dir),
               "--workers", "1", "--memory-budget", str(budget.bytes)]
    start = time.perf_counter()
    process = subprocess.Popen(command)
    peak_tree, peak_process = 0, 0
    while process.poll() is None:
        tree, largest = tree_rss(process.pid)
        peak_tree, peak_process = max(peak_tree, tree), max(peak_process, largest)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    record.update(returncode=process.returncode, wall_seconds=round(wall, 1),
                  peak_tree_rss_bytes=peak_tree, peak_process_rss_bytes=peak_process,
                  run_command=" ".join(command[1:]).replace(
                      str(run_dir), "TEMPORARY_FOLDER" if temporary else "RUN_FOLDER"))
    for name in KEPT:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, out / name)
    if (run_dir / "figures").is_dir():
        shutil.copytree(run_dir / "figures", out / "figures", dirs_exist_ok=True)
    record.update(_table_summary(run_dir))
    if temporary:
        shutil.rmtree(run_dir, ignore_errors=True)
    (out / "scale.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("wall_seconds", "peak_tree_rss_bytes",
                                             "returncode")}), flush=True)
    return process.returncode


def _table_summary(run_dir: Path) -> dict:
    import pandas as pd

    path = run_dir / "results.csv"
    if not path.exists():
        return {}
    table = pd.read_csv(path)
    columns = ["epoch", "status", "fit_seconds", "epoch_seconds", "eval_seconds",
               "peak_rss_mb", "precision_at_k", "recall_at_k", "ndcg_at_k", "n_users"]
    return {"rows": table[[c for c in columns if c in table]].to_dict("records")}


# --------------------------------------------------------------------------- stages

class Stage:
    """Seconds, and the process's resident memory above its baseline at its peak while a
    block runs (``VmHWM`` reset before it)."""

    def __init__(self, rows: list, likes: int, name: str, baseline: float):
        self.rows, self.likes, self.name, self.baseline = rows, likes, name, baseline

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.start
        peak = _status_mib("VmHWM")
        self.rows.append({"likes": self.likes, "stage": self.name, "seconds": seconds,
                          "peak_rss_mb": peak, "peak_above_baseline_mb": peak - self.baseline})
        print(f"{self.likes:>10} {self.name:<11} {seconds:8.2f} s {peak:8.0f} MiB "
              f"({peak - self.baseline:.0f} above the interpreter's)", flush=True)


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":")) / 1024


def with_timestamps(data, seed: int = 0):
    """The data with a seeded time per like (uniform over a year), for the time cut."""
    import dataclasses

    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    stamps = data.matrix.copy().astype(np.float64)
    stamps.data = 1.5e9 + rng.random(stamps.nnz) * 3.15e7
    return dataclasses.replace(data, timestamps=sp.csr_matrix(stamps))


def gemm_floor(user_factors, item_factors, threads: int, repeats: int = 3) -> float:
    """Best of ``repeats``: seconds to compute every score block of the top-k (same blocks and
    threads as :func:`recsys_bench.eval.topk.factor_topk`'s full product), without ranking."""
    from recsys_bench.eval.topk import block_size_for, run_blocks, single_threaded_blas

    users = np.ascontiguousarray(user_factors, dtype=np.float32)
    items = np.ascontiguousarray(item_factors, dtype=np.float32)
    best = np.inf
    with single_threaded_blas():
        for _ in range(repeats):
            start = time.perf_counter()
            run_blocks(lambda lo, hi: users[lo:hi] @ items.T, 0, len(users),
                       block_size_for(len(items)), threads)
            best = min(best, time.perf_counter() - start)
    return best


def stages(args) -> int:
    """Each size in a fresh interpreter (so no size inherits another's memory), then the
    table and figure."""
    rows, extra = [], []
    with tempfile.TemporaryDirectory() as folder:
        for likes in args.likes:
            path = Path(folder) / f"{likes}.json"
            subprocess.run([sys.executable, __file__, "stage-one", "--likes", str(likes),
                            "--threads", str(args.threads), "--out", str(path)], check=True)
            one = json.loads(path.read_text())
            rows += one["rows"]
            extra.append(one["topk"])
    write_stages(Path(args.out), rows, extra, args)
    return 0


def stage_one(args) -> int:
    """The stages at one size, in this process; writes their rows as JSON to ``--out``."""
    from recsys_bench import models, splits
    from recsys_bench.datasets import synthetic
    from recsys_bench.eval.evaluation import evaluate

    likes = args.likes[0]
    users, items, _ = shape_for(likes)
    warm = with_timestamps(synthetic.load(n_users=2000, n_items=500, nnz=40_000, seed=1))
    warm_split = splits.make_split(warm, "user_holdout", seed=0, split_count=5, fraction=0.2)
    splits.make_split(warm, "time_cut", quantile=0.8)
    warm_model = models.get("implicit-als", factors=8, num_threads=args.threads)
    warm_model.fit(warm_split.train, epochs=1)
    evaluate(warm_model, warm_split, k=10, subsets=("test",),
             metrics=("precision", "recall", "ndcg"))
    del warm, warm_split, warm_model
    baseline = _status_mib("VmRSS")
    rows: list = []
    with Stage(rows, likes, "load", baseline):
        data = with_timestamps(synthetic.load(n_users=users, n_items=items, nnz=likes, seed=0))
    with Stage(rows, likes, "split", baseline):
        split = splits.make_split(data, "user_holdout", seed=0, split_count=5, fraction=0.2)
    with Stage(rows, likes, "time_cut", baseline):
        splits.make_split(data, "time_cut", quantile=0.8)
    del data
    model = models.get("implicit-als", factors=FACTORS, regularization=0.1, alpha=10.0,
                       num_threads=args.threads, random_state=0)
    model.fit(split.train, epochs=1)               # conversions and first touch, untimed
    with Stage(rows, likes, "epoch", baseline):
        model.fit_more(1)
    with Stage(rows, likes, "evaluation", baseline):
        result = evaluate(model, split, k=10, exclude_train=True, subsets=("test",),
                          metrics=("precision", "recall", "ndcg"),
                          num_threads=args.threads)["test"]
    floor = gemm_floor(np.asarray(model.user_factors)[split.users], model.item_factors,
                       args.threads)
    topk = {"likes": likes, "users": users, "items": items,
            "evaluated_users": len(split.users), "topk_seconds": result.rank_seconds,
            "gemm_floor_seconds": floor, "topk_over_floor": result.rank_seconds / floor,
            "evaluation_over_epoch": rows[-1]["seconds"] / rows[-2]["seconds"],
            "p@10": result.means["precision"], "baseline_rss_mb": baseline}
    print(json.dumps(topk), flush=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "topk": topk}))
    return 0


def write_stages(out: Path, rows: list, extra: list, args) -> None:
    """``stages.csv``, ``stages.json`` (with fitted slopes) and the log-log ``stages.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "stages.csv", index=False)
    slopes = {}
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, group in table.groupby("stage", sort=False):
        x = np.log10(group["likes"].to_numpy(float))
        entry = {}
        for column, axis in (("seconds", axes[0]), ("peak_above_baseline_mb", axes[1])):
            y = group[column].to_numpy(float)
            slope = float(np.polyfit(x, np.log10(y), 1)[0]) if len(group) > 1 else float("nan")
            entry[column] = round(slope, 3)
            axis.loglog(group["likes"], y, "o-", label=f"{name} (slope {slope:.2f})")
        slopes[name] = entry
    for axis, label in zip(axes, ("wall seconds", "peak resident MiB above the interpreter")):
        axis.set_xlabel("likes")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"Cost per stage vs likes (ML-20M density, implicit-als f={FACTORS}, "
                    f"{args.threads} threads)")
    figure.tight_layout()
    figure.savefig(out / "stages.png", dpi=110)
    payload = {"command": " ".join(sys.argv), "threads": args.threads, "slopes": slopes,
               "rows": rows, "topk": extra}
    (out / "stages.json").write_text(json.dumps(payload, indent=2) + "\n")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    e2e = commands.add_parser("end-to-end", help="one shape through recsys-bench run")
    e2e.add_argument("--shape", choices=sorted(SHAPES), default="ml20m")
    e2e.add_argument("--likes", type=likes_of, help="ML-20M density at this size instead")
    e2e.add_argument("--memory-budget", help="e.g. 6G (default: available minus a margin)")
    e2e.add_argument("--run-dir", help="the run folder (default: a temporary one, removed)")
    e2e.add_argument("--dry-run", action="store_true",
                     help="estimate the peak, check the budget and stop before any work")
    stage = commands.add_parser("stages", help="per-stage cost at several sizes")
    stage.add_argument("--likes", type=likes_of, nargs="+", default=[likes_of("0.5M")])
    one = commands.add_parser("stage-one", help=argparse.SUPPRESS)
    one.add_argument("--likes", type=likes_of, nargs=1, required=True)
    for sub in (e2e, stage, one):
        sub.add_argument("--threads", type=int, default=os.cpu_count() or 1)
        sub.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return {"end-to-end": end_to_end, "stages": stages, "stage-one": stage_one}[args.command](args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        print(f"scale: error: {error}", file=sys.stderr)
        sys.exit(2)
