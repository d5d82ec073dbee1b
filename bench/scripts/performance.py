"""The performance targets, measured side by side in one process on this machine.

Every figure is repeated (``--repeats``, default 5) and quoted as its median with the min-max over
the repeats. Where a target is a ratio, the two things compared are timed in alternation within
each round (A, B, A, B, ...), so both see the same machine state, and the ratio is the median of
the per-round ratios. BLAS is pinned with threadpoolctl (:func:`recsys_bench.threads.pinned_blas`)
to the thread count under test; the models pin it to one thread inside their own thread pools.

Data: the Sketchfab-scale synthetic files (seed 0, cached, 15,265 users x 25,847 items after the
5/5 thresholding) and the study's split, ``user_holdout(matrix, split_count=5, fraction=0.2,
seed=0)``. The WRMF setting is the study's best: factors 40, regularization 0.1, alpha 50, CG.

Targets
-------
T2a
    One evaluation checkpoint as the grid does it (``evaluate(model, split, k=5,
    exclude_train=False, subsets=("train", "test"), metrics=("precision", "mse"))``) costs at most
    1.5x one implicit ALS epoch (``fit_more(1)``) on the same thread count, for 1 and 2 threads.
    Also measured: the "off-the-shelf" checkpoint (implicit's own ``recommend`` for the evaluated
    users, N=5, no filtering, plus a dense NumPy MSE over the full score matrix, train and test),
    expected at 3-4x an epoch when the targets were set.
T2b
    p@5 with train exclusion over all users via ``topk`` + ``metrics.ranking_metrics``, 2 threads,
    at most 2 s.
T3
    ``numpy-als`` (solver "cg") within 3x of ``implicit-als`` (CG) per epoch, factors 40, both on
    2 threads; their test p@5 after the same number of epochs (10) agree within noise (the paired
    per-user difference is reported with its standard error).
T4
    Speed-up of an epoch from 1 to 2 threads of at least 1.7x for implicit-als (factors 40) and
    lightfm-warp (64 components), 1 and 2 threads timed in alternation.
T5
    Sketchfab-format files to thresholded CSR (``sketchfab.load``) in at most 3 s; generating and
    writing the synthetic files (``sketchfab_synthetic.write``) in at most 10 s.
T6
    Peak RSS of a child process that builds the largest data set of ``configs/scaling.toml``
    (20M likes), splits it as that config does and fits implicit-als (its settings, factors 64)
    for one epoch on 2 threads: below 24 GB (10^9 bytes). Also its seconds per epoch. Skipped
    with ``--quick``.
roofline
    Achieved GFLOP/s of an implicit ALS CG epoch (factors 40, Sketchfab split; flops counted by
    :func:`als_cg_flops`) over the machine's practical peak, float32 GEMM of two 2048 x 2048
    matrices, on 1 and 2 threads.

Usage::

    .venv/bin/python bench/scripts/performance.py                    # everything, about 3 minutes
    .venv/bin/python bench/scripts/performance.py --repeats 3 --only T2a,T4
    .venv/bin/python bench/scripts/performance.py --quick            # tiny data, a smoke check

Writes ``results/performance.json`` (``results/performance-quick.json`` with ``--quick``, marked
``"quick": true``; ``--out`` to choose) and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from recsys_bench import datasets, models
from recsys_bench.datasets import sketchfab, sketchfab_synthetic
from recsys_bench.errors import UserError
from recsys_bench.eval import metrics
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.eval.topk import topk
from recsys_bench.fileio import atomic_open
from recsys_bench.splits import user_holdout
from recsys_bench.threads import machine_info, pinned_blas


def _benchmark_helpers():
    """``bench/micro/conftest.py``, the pytest-benchmark suite's shared helpers, under its own name
    (a plain ``import conftest`` could pick up another folder's conftest)."""
    path = Path(__file__).resolve().parents[1] / "micro" / "conftest.py"
    spec = importlib.util.spec_from_file_location("recsys_bench_benchmark_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _benchmark_helpers()
Bench, K, WRMF = _helpers.Bench, _helpers.K, _helpers.WRMF

ROOT = Path(__file__).resolve().parents[2]
SCALING_CONFIG = ROOT / "configs" / "scaling.toml"
THREAD_COUNTS = (1, 2)
CHECKPOINT = {"k": K, "exclude_train": False, "subsets": ("train", "test"),
              "metrics": ("precision", "mse")}
SPLIT = {"split_count": 5, "fraction": 0.2, "seed": 0}
QUALITY_EPOCHS = 10
CG_STEPS = 3
QUICK_SCALE = 0.05
GEMM_SIZE, QUICK_GEMM_SIZE = 2048, 256
MEMORY_TIMEOUT_S = 1800
SECTION_NAMES = ("T2a", "T2b", "T3", "T4", "T5", "T6", "roofline")


@dataclass
class Row:
    """One line of the table: a measured figure, its same-run baseline and its target.

    Attributes
    ----------
    target, what, command : str
        Target id (e.g. ``"T2a"``), what the line measures, and the code that is timed.
    unit : str
        Unit of ``values`` and ``baseline``.
    values : list of float
        The measured figure, one per repeat.
    baseline : list of float, optional
        The baseline, one per repeat, measured in alternation with ``values``.
    baseline_what : str
        What the baseline is.
    ratio : {None, "measured/baseline", "baseline/measured"}
        How the per-round ratio is formed; the target applies to it when given, else to the
        median of ``values``.
    goal : (str, float), optional
        Comparison (``"<="``, ``"<"``, ``">="``) and value of the target; None for a reference.
    notes : dict
        Further figures (JSON-serialisable).
    """

    target: str
    what: str
    command: str
    unit: str
    values: list
    baseline: list | None = None
    baseline_what: str = ""
    ratio: str | None = None
    goal: tuple | None = None
    notes: dict = field(default_factory=dict)

    def ratios(self) -> list[float] | None:
        """The per-round ratios, or None without a baseline."""
        if self.ratio is None:
            return None
        pairs = zip(self.values, self.baseline)
        if self.ratio == "measured/baseline":
            return [m / b for m, b in pairs]
        return [b / m for m, b in pairs]

    def checked(self) -> float:
        """The figure the target applies to: the median ratio, else the median value."""
        ratios = self.ratios()
        return statistics.median(ratios if ratios is not None else self.values)

    def met(self) -> bool | None:
        """Whether the target is met; None for a reference line without a target."""
        if self.goal is None:
            return None
        op, value = self.goal
        figure = self.checked()
        return bool({"<=": figure <= value, "<": figure < value, ">=": figure >= value}[op])

    def to_dict(self) -> dict:
        """The line as JSON: summaries (median, min, max, values) of each series, target, met."""
        ratios = self.ratios()
        return {
            "target": self.target, "what": self.what, "command": self.command, "unit": self.unit,
            "measured": summary(self.values),
            "baseline": None if self.baseline is None else summary(self.baseline),
            "baseline_what": self.baseline_what or None,
            "ratio_kind": self.ratio,
            "ratio": None if ratios is None else summary(ratios),
            "goal": None if self.goal is None else {"op": self.goal[0], "value": self.goal[1]},
            "met": self.met(), "notes": self.notes,
        }


def summary(values: list[float]) -> dict:
    """Median, min, max and the values themselves, rounded for the JSON."""
    return {"median": round(statistics.median(values), 6), "min": round(min(values), 6),
            "max": round(max(values), 6), "values": [round(v, 6) for v in values]}


class Context:
    """Options of the run and the data, loaded on first use (T5 and T6 do not need it)."""

    def __init__(self, repeats: int, quick: bool, workdir: Path):
        self.repeats = repeats
        self.quick = quick
        self.workdir = workdir
        self._split = None
        self.data_info: dict = {}
        self.trained: dict = {}

    @property
    def split(self):
        """The study's split of the Sketchfab-scale synthetic data (a small scale with --quick)."""
        if self._split is None:
            if self.quick:
                folder = self.workdir / "quick-data"
                sketchfab_synthetic.write(folder, seed=0, scale=QUICK_SCALE)
                data = sketchfab.load(folder)
            else:
                data = datasets.load("sketchfab-synthetic", seed=0)
            self._split = user_holdout(data.matrix, **SPLIT)
            self.data_info = {
                "dataset": "sketchfab-synthetic", "seed": 0,
                "scale": QUICK_SCALE if self.quick else 1.0, "users": data.n_users,
                "items": data.n_items, "likes": data.nnz, "train_likes": self._split.train.nnz,
                "evaluated_users": len(self._split.users), "split": SPLIT}
        return self._split


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def interleaved(calls, repeats: int) -> tuple[list[list[float]], list]:
    """Time each of ``calls`` once per round, in order, for ``repeats`` rounds.

    Returns the seconds of each call (one list per call) and what each returned last.
    """
    seconds = [[] for _ in calls]
    last = [None] * len(calls)
    for _ in range(repeats):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            last[i] = call()
            seconds[i].append(time.perf_counter() - start)
    return seconds, last


def new_implicit(threads: int):
    """implicit-als at the study's best setting (factors 40, CG) on ``threads`` threads."""
    return Bench.new_model("implicit-als", threads=threads)


def off_the_shelf_checkpoint(model, split, k: int = K) -> dict:
    """The checkpoint without the harness: implicit's ``recommend`` and a dense NumPy MSE.

    implicit ranks the evaluated users (N = k, no filtering, as with ``exclude_train=False``);
    the full score matrix ``U[users] @ V.T`` is built once and compared with the dense 0/1
    train and test rows. Returns p@k and MSE per subset.
    """
    users = split.users
    ids, _ = model._model.recommend(users, split.train[users], N=k,
                                    filter_already_liked_items=False)
    user_factors, item_factors = model.factors()
    scores = user_factors[users] @ item_factors.T
    out = {}
    for subset, matrix in (("train", split.train), ("test", split.test)):
        truth = matrix[users].toarray()
        out[subset] = {"precision": float(np.take_along_axis(truth, ids, axis=1).mean()),
                       "mse": float(np.square(scores - truth).mean())}
    return out


def t2a(ctx: Context) -> list[Row]:
    """Evaluation checkpoint and off-the-shelf checkpoint against one ALS epoch."""
    split, rows = ctx.split, []
    for threads in THREAD_COUNTS:
        log(f"T2a: checkpoint vs epoch, {threads} thread(s)")
        model = new_implicit(threads)
        with pinned_blas(threads):
            model.fit(split.train, epochs=1)
            evaluate(model, split, **CHECKPOINT)
            off_the_shelf_checkpoint(model, split)
            (epoch, checkpoint, shelf), (_, result, shelf_result) = interleaved(
                [lambda: model.fit_more(1), lambda: evaluate(model, split, **CHECKPOINT),
                 lambda: off_the_shelf_checkpoint(model, split)], ctx.repeats)
        common = {"threads": threads, "epochs_done": model.epochs_done,
                  "evaluated_users": len(split.users)}
        rows.append(Row(
            "T2a", f"checkpoint / ALS epoch, {threads} thread(s)",
            "evaluate(m, split, k=5, exclude_train=False, subsets=(train, test), "
            "metrics=(precision, mse))", "s", checkpoint, epoch, "implicit-als f=40 fit_more(1)",
            "measured/baseline", ("<=", 1.5),
            {**common, "test_precision_at_5": round(result["test"].means["precision"], 6),
             "test_mse": round(result["test"].means["mse"], 6)}))
        rows.append(Row(
            "T2a", f"off-the-shelf checkpoint / ALS epoch, {threads} thread(s)",
            "implicit recommend(users, N=5, no filter) + dense NumPy MSE, train and test", "s",
            shelf, epoch, "implicit-als f=40 fit_more(1)", "measured/baseline", None,
            {**common, "issue_reference": "3-4x an epoch",
             "test_precision_at_5": round(shelf_result["test"]["precision"], 6),
             "test_mse": round(shelf_result["test"]["mse"], 6)}))
    return rows


def trained_implicit(ctx: Context):
    """implicit-als on 2 threads trained ``QUALITY_EPOCHS`` epochs (shared by T3 and T2b)."""
    model = ctx.trained.get("implicit-als")
    if model is None:
        model = new_implicit(2)
        with pinned_blas(2):
            model.fit(ctx.split.train, epochs=QUALITY_EPOCHS)
        ctx.trained["implicit-als"] = model
    return model


def t2b(ctx: Context) -> list[Row]:
    """p@5 with train exclusion over every user, 2 threads."""
    log("T2b: p@5 with exclusion over all users")
    split, model = ctx.split, trained_implicit(ctx)
    users = np.arange(split.train.shape[0])

    def precision_all_users() -> float:
        top = topk(model, users, K, exclude=split.train)
        return float(np.mean(metrics.ranking_metrics(top, split.test[users], K)["precision"]))

    with pinned_blas(2):
        precision_all_users()
        (seconds,), (precision,) = interleaved([precision_all_users], ctx.repeats)
    return [Row("T2b", "p@5 with train exclusion, all users, 2 threads",
                "ranking_metrics(topk(m, all_users, 5, exclude=train), test[all_users], 5)",
                "s", seconds, goal=("<=", 2.0),
                notes={"users": len(users), "threads": 2, "model_epochs": model.epochs_done,
                       "precision_at_5": round(precision, 6)})]


def paired_precision(first, second, split) -> dict:
    """Test p@5 (train excluded) of two models and their paired per-user difference."""
    values = [evaluate(m, split, k=K, exclude_train=True, subsets=("test",),
                       metrics=("precision",))["test"].per_user["precision"]
              for m in (first, second)]
    difference = values[0] - values[1]
    se = float(difference.std(ddof=1) / np.sqrt(len(difference)))
    return {"numpy_precision_at_5": round(float(values[0].mean()), 6),
            "implicit_precision_at_5": round(float(values[1].mean()), 6),
            "difference": round(float(difference.mean()), 6), "difference_se": round(se, 6),
            "within_2se": bool(abs(difference.mean()) <= 2 * se)}


def t3(ctx: Context) -> list[Row]:
    """numpy-als (CG) against implicit-als (CG) per epoch, 2 threads, and their p@5."""
    log("T3: numpy-als vs implicit-als epochs")
    split = ctx.split
    numpy_als, implicit_als = Bench.new_model("numpy-als", threads=2), new_implicit(2)
    with pinned_blas(2):
        numpy_als.fit(split.train, epochs=1)
        implicit_als.fit(split.train, epochs=1)
        (numpy_s, implicit_s), _ = interleaved(
            [lambda: numpy_als.fit_more(1), lambda: implicit_als.fit_more(1)], ctx.repeats)
        for model in (numpy_als, implicit_als):
            model.fit_more(max(0, QUALITY_EPOCHS - model.epochs_done))
    ctx.trained.setdefault("implicit-als", implicit_als)
    return [Row("T3", "numpy-als / implicit-als epoch, f=40, 2 threads",
                "numpy-als(solver=cg).fit_more(1) vs implicit-als(use_cg).fit_more(1)", "s",
                numpy_s, implicit_s, "implicit-als f=40 fit_more(1)", "measured/baseline",
                ("<=", 3.0),
                {"threads": 2, "epochs": numpy_als.epochs_done,
                 **paired_precision(numpy_als, implicit_als, split)})]


def t4(ctx: Context) -> list[Row]:
    """Epoch speed-up from 1 to 2 threads, 1 and 2 threads in alternation."""
    rows = []
    for name, params, label in (("implicit-als", {}, "f=40"),
                                ("lightfm-warp", {"no_components": 64}, "64 components")):
        log(f"T4: {name} speed-up 1 -> 2 threads")
        one, two = (Bench.new_model(name, threads=t, **params) for t in THREAD_COUNTS)
        with pinned_blas(1):
            one.fit(ctx.split.train, epochs=1)
            two.fit(ctx.split.train, epochs=1)
            (single, double), _ = interleaved([lambda: one.fit_more(1), lambda: two.fit_more(1)],
                                              ctx.repeats)
        rows.append(Row("T4", f"{name} ({label}) speed-up, 1 -> 2 threads",
                        f"{name}.fit_more(1) on 2 threads vs 1 thread, BLAS pinned to 1", "s",
                        double, single, "the same epoch on 1 thread", "baseline/measured",
                        (">=", 1.7)))
    return rows


def t5(ctx: Context) -> list[Row]:
    """Writing the synthetic Sketchfab files, and loading them to thresholded CSR."""
    log("T5: generate and load the Sketchfab-format files")
    scale = QUICK_SCALE if ctx.quick else 1.0
    folder = ctx.workdir / "t5-files"
    (generate,), (stats,) = interleaved(
        [lambda: sketchfab_synthetic.write(folder, seed=0, scale=scale)], ctx.repeats)
    sketchfab.load(folder)
    (load,), (data,) = interleaved([lambda: sketchfab.load(folder)], ctx.repeats)
    shape = {"users": data.n_users, "items": data.n_items, "likes": data.nnz}
    return [
        Row("T5", "load Sketchfab-format files to thresholded CSR",
            "sketchfab.load(folder)  # parse, deduplicate, 5/5 threshold, CSR, features", "s",
            load, goal=("<=", 3.0), notes={"scale": scale, **shape}),
        Row("T5", "generate and write the synthetic files",
            "sketchfab_synthetic.write(folder, seed=0)", "s", generate, goal=("<=", 10.0),
            notes={"scale": scale, "like_rows": stats["like_rows"]}),
    ]


def largest_scaling_trial(path: Path = SCALING_CONFIG) -> dict:
    """The data set with the most likes in the scaling config, its split and implicit's setting.

    Raises
    ------
    UserError
        When the config cannot be read or has no synthetic data set or implicit-als entry.
    """
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"cannot read the scaling config: {error}", path=path) from None
    sets = [d for d in config.get("datasets", []) if "nnz" in d.get("options", {})]
    entries = [m for m in config.get("models", [])
               if m.get("name") == "implicit-als" and "factors" in m.get("params", {})]
    if not sets or not entries:
        raise UserError("expected [[datasets]] with nnz and an implicit-als [[models]] entry "
                        "with factors", path=path)
    largest = max(sets, key=lambda d: d["options"]["nnz"])
    split = config.get("split", {})
    return {"dataset": largest["name"], "label": largest.get("label", largest["name"]),
            "options": largest["options"], "split_kind": split.get("kind", "user_holdout"),
            "split_options": {**split.get("options", {}), "seed": split.get("seeds", [0])[0]},
            "params": entries[0]["params"], "threads": 2}


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(spec: dict) -> dict:
    """Body of the T6 child process: build the data, split, fit one epoch, then more epochs.

    Returns seconds and the peak RSS after the data, after the first epoch and at the end.
    """
    if spec["split_kind"] != "user_holdout":
        raise UserError(f"T6 supports only a user_holdout split, not {spec['split_kind']!r}")
    start = time.perf_counter()
    data = datasets.load(spec["dataset"], **spec["options"])
    split = user_holdout(data.matrix, **spec["split_options"])
    data_s = time.perf_counter() - start
    del data
    after_data = peak_rss_bytes()
    model = models.get("implicit-als", **spec["params"], num_threads=spec["threads"],
                       random_state=0)
    with pinned_blas(spec["threads"]):
        start = time.perf_counter()
        model.fit(split.train, epochs=1)
        first_s = time.perf_counter() - start
        after_fit = peak_rss_bytes()
        (epochs,), _ = interleaved([lambda: model.fit_more(1)], spec["epochs"])
    return {"data_s": data_s, "first_fit_s": first_s, "epoch_s": epochs,
            "peak_rss_after_data": after_data, "peak_rss_after_first_epoch": after_fit,
            "peak_rss": peak_rss_bytes(), "train_likes": int(split.train.nnz),
            "users": int(split.train.shape[0]), "items": int(split.train.shape[1])}


def t6(ctx: Context) -> list[Row]:
    """Peak memory and epoch seconds of implicit-als on the scaling config's largest data set."""
    spec = {**largest_scaling_trial(), "epochs": ctx.repeats}
    log(f"T6: peak memory of implicit-als on {spec['label']} (child process)")
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--memory-child", json.dumps(spec)],
            capture_output=True, text=True, timeout=MEMORY_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"T6 child did not finish within {MEMORY_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"T6 child failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    gb = 1e9
    notes = {"dataset": spec["label"], "options": spec["options"], "params": spec["params"],
             "threads": spec["threads"], "users": report["users"], "items": report["items"],
             "train_likes": report["train_likes"], "data_s": round(report["data_s"], 3),
             "first_fit_s": round(report["first_fit_s"], 3),
             "peak_rss_after_data_gb": round(report["peak_rss_after_data"] / gb, 3),
             "peak_rss_after_first_epoch_gb": round(report["peak_rss_after_first_epoch"] / gb, 3),
             "rusage_children_maxrss_gb": round(children / gb, 3)}
    command = (f"child: datasets.load('synthetic', **{spec['label']}) + split + "
               f"implicit-als(factors={spec['params']['factors']}).fit(train, epochs=1), 2 threads")
    return [
        Row("T6", "peak RSS, implicit-als on the largest scaling data set", command, "GB",
            [report["peak_rss"] / gb], goal=("<", 24.0), notes=notes),
        Row("T6", "implicit-als epoch on the largest scaling data set, 2 threads",
            "the same model's fit_more(1)", "s", report["epoch_s"], notes={"runs": 1}),
    ]


def als_cg_flops(n_users: int, n_items: int, nnz: int, factors: int,
                 cg_steps: int = CG_STEPS) -> float:
    """Floating-point operations of one implicit ALS epoch with the CG solver (an upper bound).

    One sweep solves the ``rows`` of one side against the ``others`` fixed (implicit's
    ``_least_squares_cg``): the Gram matrix ``Y^T Y`` (a GEMM, ``2 others f^2``); per row, the
    residual and each CG step multiply by ``Y^T Y`` (a ``symv``, ``2 f^2``, so
    ``(cg_steps + 1) 2 f^2``) and visit the row's likes with one dot and one axpy
    (``4 f`` per like, ``(cg_steps + 1) 4 f nnz`` over the sweep), plus the vector updates
    (``2 f`` for the first residual norm and ``11 f`` per step: two dots, three axpys, a scal).
    An epoch is the user sweep plus the item sweep; CG steps skipped by implicit's early exit
    (residual below 1e-20) are counted, so this is an upper bound.
    """
    f = factors
    total = 0.0
    for rows, others in ((n_users, n_items), (n_items, n_users)):
        total += 2.0 * others * f * f
        total += rows * ((cg_steps + 1) * 2.0 * f * f + 2.0 * f + cg_steps * 11.0 * f)
        total += (cg_steps + 1) * 4.0 * f * nnz
    return total


def gemm_seconds(a: np.ndarray, b: np.ndarray, out: np.ndarray, threads: int) -> float:
    """Seconds of one float32 ``a @ b`` with BLAS pinned to ``threads``."""
    with pinned_blas(threads):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        return time.perf_counter() - start


def roofline(ctx: Context) -> list[Row]:
    """Achieved GFLOP/s of an implicit CG epoch against float32 GEMM, on 1 and 2 threads."""
    split, rows = ctx.split, []
    n_users, n_items = split.train.shape
    flops = als_cg_flops(n_users, n_items, split.train.nnz, WRMF["factors"])
    size = QUICK_GEMM_SIZE if ctx.quick else GEMM_SIZE
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty((size, size), dtype=np.float32)
    gemm_flops = 2.0 * size ** 3
    for threads in THREAD_COUNTS:
        log(f"roofline: ALS epoch and GEMM, {threads} thread(s)")
        model = new_implicit(threads)
        model.fit(split.train, epochs=1)
        gemm_seconds(a, b, out, threads)
        (epoch, gemm), _ = interleaved([lambda: model.fit_more(1),
                                        lambda: gemm_seconds(a, b, out, threads)], ctx.repeats)
        rows.append(Row(
            "roofline", f"implicit ALS CG epoch, achieved / GEMM peak, {threads} thread(s)",
            f"als_cg_flops / fit_more(1) seconds vs float32 {size}x{size} matmul", "GFLOP/s",
            [flops / s / 1e9 for s in epoch], [gemm_flops / s / 1e9 for s in gemm],
            f"float32 GEMM {size}x{size}", "measured/baseline", None,
            {"threads": threads, "flops_per_epoch": flops, "cg_steps": CG_STEPS,
             "epoch_s": summary(epoch)}))
    return rows


SECTIONS = {"T2a": t2a, "T3": t3, "T2b": t2b, "T4": t4, "roofline": roofline, "T5": t5, "T6": t6}
"""Run order: T3 trains the model that T2b reuses."""


def parse_only(text: str | None) -> list[str]:
    """Section names from ``--only`` (comma-separated, case-insensitive), in run order."""
    if not text:
        return list(SECTIONS)
    lookup = {name.lower(): name for name in SECTIONS}
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in wanted if part.lower() not in lookup]
    if unknown or not wanted:
        raise UserError(f"--only: unknown target(s) {', '.join(unknown) or '(none given)'}; "
                        f"valid: {', '.join(SECTION_NAMES)}")
    chosen = {lookup[part.lower()] for part in wanted}
    return [name for name in SECTIONS if name in chosen]


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def spread(series: dict, unit: str) -> str:
    return (f"{fmt(series['median'], unit)} {unit} "
            f"({fmt(series['min'], unit)}-{fmt(series['max'], unit)})")


def markdown_table(rows: list[dict]) -> str:
    """The table the lead quotes: target, command, measured, baseline, ratio, target, met."""
    lines = ["| target | what / command | measured median (min-max) | baseline, same run "
             "| ratio (min-max) | target value | met |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        unit = row["unit"]
        baseline = "-" if row["baseline"] is None else \
            f"{spread(row['baseline'], unit)}: {row['baseline_what']}"
        ratio = "-" if row["ratio"] is None else (
            f"{row['ratio']['median']:.2f}x ({row['ratio']['min']:.2f}-{row['ratio']['max']:.2f})")
        if row["goal"] is None:
            goal = row["notes"].get("issue_reference", "-")
        else:
            subject = "ratio" if row["ratio"] is not None else unit
            goal = f"{subject} {row['goal']['op']} {row['goal']['value']:g}"
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        command = row["command"].replace("|", "\\|")
        lines.append(f"| {row['target']} | {row['what']}: `{command}` | "
                     f"{spread(row['measured'], unit)} | {baseline} | {ratio} | {goal} | {met} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/scripts/performance.py",
        description="Measure the performance targets side by side in one run, write "
                    "results/performance.json and print a Markdown table.",
        epilog="examples:\n"
               "  .venv/bin/python bench/scripts/performance.py                  # all targets, 5 repeats\n"
               "  .venv/bin/python bench/scripts/performance.py --repeats 3 --only T2a,T4\n"
               "  .venv/bin/python bench/scripts/performance.py --quick --only T5 --out /tmp/p.json\n"
               f"\ntargets: {', '.join(SECTION_NAMES)} (see the module docstring)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeats (rounds) of every measurement (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny data (synthetic Sketchfab at scale {QUICK_SCALE}), no T6: "
                             "a smoke check; the JSON is marked quick")
    parser.add_argument("--only", metavar="NAMES",
                        help=f"comma-separated targets to run, of {', '.join(SECTION_NAMES)}")
    parser.add_argument("--out", metavar="PATH", type=Path,
                        help="JSON output (default results/performance.json, "
                             "results/performance-quick.json with --quick)")
    parser.add_argument("--memory-child", metavar="SPEC", help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> dict:
    """Run the chosen sections and return the JSON payload (the caller writes it)."""
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    names = parse_only(args.only)
    if (os.cpu_count() or 1) < max(THREAD_COUNTS):
        log(f"warning: {os.cpu_count()} core(s); the 2-thread figures are meaningless here")
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    skipped = {}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="recsys-bench-performance-") as tmp:
        ctx = Context(args.repeats, args.quick, Path(tmp))
        for name in names:
            if name == "T6" and args.quick:
                skipped[name] = "--quick"
                continue
            rows.extend(SECTIONS[name](ctx))
    order = {name: i for i, name in enumerate(SECTION_NAMES)}
    rows.sort(key=lambda row: order[row.target])
    return {
        "quick": bool(args.quick), "repeats": args.repeats, "targets_run": names,
        "skipped": skipped, "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - clock, 1),
        "command": " ".join(["bench/scripts/performance.py", *sys.argv[1:]]),
        "data": ctx.data_info, "machine": machine_info(), "rows": [r.to_dict() for r in rows],
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.memory_child:
            print(json.dumps(memory_child(json.loads(args.memory_child))))
            return 0
        payload = run(args)
        default = "performance-quick.json" if args.quick else "performance.json"
        out = args.out or ROOT / "results" / default
        with atomic_open(out, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
            handle.write("\n")
    except UserError as error:
        print(f"bench/scripts/performance.py: error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(payload["rows"]))
    print(f"\nwall time {payload['wall_s']} s; JSON written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
