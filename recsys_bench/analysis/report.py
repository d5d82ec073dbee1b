"""A run folder's report: ``report.md``, a self-contained ``report.html``, ``figures/*.png``.

Everything is computed from what the run stored (the results table, ``run.json``, ``config.toml``,
``raw/*.npz`` top-k lists and ``splits/*.npz``), never by training again, so a report can be
rewritten at any time, also while a run is still going.

Conventions
-----------
- A *setting* is one (data set, model, params) at one thread count. Quality is read at the smallest
  thread count each (model, params) was run with; the other counts only feed thread scaling.
- The best epoch of a setting maximises its test precision@k averaged over split seeds (ties: the
  earliest epoch); the best setting of a model maximises that average (ties: the earlier epoch).
- Intervals are Student-t 95% intervals over split seeds (as :func:`recsys_bench.eval.stats.mean_ci`).
- Significance: per-user test precision@k of a model's best setting against the best model's,
  recomputed from the raw top-k lists and the split, users paired within each seed and pooled over
  seeds, two-sided paired t-test (:func:`recsys_bench.eval.stats.paired_test`). With two or more
  models tested against the best, their p-values are also given Holm-adjusted over those tests
  (:func:`recsys_bench.eval.stats.holm`).
- Beyond accuracy: the best settings re-scored from their stored lists
  (:mod:`recsys_bench.analysis.report_beyond`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench import yardstick
from recsys_bench.analysis import plots
from recsys_bench.analysis.document import (
    Cell,
    Document,
    Table,
    number_text,
    render_html,
    render_markdown,
    sort_value,
)
from recsys_bench.analysis.report_beyond import beyond_section
from recsys_bench.analysis.run_data import (
    CONFIDENCE,
    PAIRED_METHOD,
    SETTING,
    RunData,
    best_per_model,
    dataset_sizes,
    deterministic,
    epoch_seconds,
    load_config,
    load_run_info,
    load_table,
    paired,
    params_text,
    per_epoch,
    plugin_metrics,
    quality_rows,
    settings_table,
    thread_scaling,
)
from recsys_bench.errors import UserError
from recsys_bench.eval.stats import PAIRED_METHODS, holm
from recsys_bench.fileio import atomic_write_text
from recsys_bench.store.run_folder import RunFolder

NONDETERMINISTIC = "†"


# --------------------------------------------------------------------------- reading the run

def _fmt_g(x, digits: int = 3) -> str:
    if x is None or not math.isfinite(float(x)):
        return "—"
    return f"{float(x):.{digits}g}"


def _fmt_rate(x) -> str:
    if x is None or not math.isfinite(float(x)):
        return "—"
    return f"{float(x):,.0f}" if float(x) >= 100 else f"{float(x):.3g}"


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _model_label(model: str, threads: int) -> str:
    mark = NONDETERMINISTIC if not deterministic(model) and threads > 1 else ""
    return f"{model}{mark}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _interval_text(row: pd.Series) -> tuple[str, str]:
    n = int(row["n_seeds"])
    if n < 2:
        return f"{number_text(row['p_mean'])} (n=1)", "— (n=1)"
    half = (row["p_high"] - row["p_low"]) / 2
    return (f"{number_text(row['p_mean'])} ± {number_text(half)}",
            f"[{number_text(row['p_low'])}, {number_text(row['p_high'])}]")


# --------------------------------------------------------------------------- figures

class _Figures:
    """Draws figures into ``figures/`` and links them, or says in the report why one is absent."""

    def __init__(self, run_dir: Path, doc: Document):
        self.dir = run_dir / "figures"
        self.doc = doc
        self.written: list[Path] = []

    def add(self, name: str, alt: str, draw) -> None:
        path = draw(self.dir / f"{_slug(name)}.png")
        self.written.append(path)
        self.doc.image(path, alt)

    def skip(self, what: str, why: str) -> None:
        self.doc.para(f"Figure skipped — {what}: {why}.")


def _curve(frame: pd.DataFrame, label: str) -> plots.Curve:
    frame = frame.sort_values("epoch")
    return plots.Curve(frame["epoch"].to_numpy(float), frame["mean"].to_numpy(float), label,
                       frame["low"].to_numpy(float), frame["high"].to_numpy(float))


def _learning_figure(figs: _Figures, quality: pd.DataFrame, row: pd.Series) -> None:
    mine = quality[(quality["dataset"] == row["dataset"]) & (quality["model"] == row["model"])
                   & (quality["params"] == row["params"]) & (quality["threads"] == row["threads"])]
    k = int(row["k"])
    p = per_epoch(mine, "precision_at_k")
    precision = [_curve(p[p["subset"] == s], f"{s} p@{k}") for s in ("test", "train")
                 if (p["subset"] == s).any()]
    m = per_epoch(mine, "mse")
    mse = [_curve(m[m["subset"] == s], f"{s} MSE") for s in ("test", "train")
           if (m["subset"] == s).any()]
    seeds = int(row["n_seeds"])
    band = "band: 95% interval over seeds" if seeds > 1 else "one split seed"
    title = (f"{row['dataset']} · {row['model']} · {params_text(row['params'])}\n"
             f"best setting's learning curve (mean over {seeds} seed(s), {band})")
    figs.add(f"{row['dataset']}-{row['model']}-learning-curve",
             f"Learning curve of the best {row['model']} setting on {row['dataset']}",
             lambda path: plots.learning_curve(precision, mse or None, path, title=title, k=k,
                                               best_epoch=float(row["best_epoch"])))


def _traces_figure(figs: _Figures, quality: pd.DataFrame, settings: pd.DataFrame,
                   row: pd.Series) -> None:
    mine = quality[(quality["dataset"] == row["dataset"]) & (quality["model"] == row["model"])
                   & (quality["subset"] == "test")]
    curve = per_epoch(mine, "precision_at_k")
    traces, best = [], None
    for (params, threads), frame in curve.groupby(["params", "threads"]):
        trace = _curve(frame, params_text(params))
        traces.append(trace)
        if params == row["params"] and threads == row["threads"]:
            best = trace
    k = int(row["k"])
    title = f"{row['dataset']} · {row['model']}: test precision@{k} of every grid setting"
    figs.add(f"{row['dataset']}-{row['model']}-grid-traces",
             f"All {len(traces)} grid traces of {row['model']} on {row['dataset']}",
             lambda path: plots.grid_traces(traces, best, path, title=title, k=k))


# --------------------------------------------------------------------------- sections

def _setting_cells(row: pd.Series) -> list[Cell]:
    mean_text, ci_text = _interval_text(row)
    return [Cell(_model_label(row["model"], int(row["threads"])), row["model"]),
            Cell(params_text(row["params"]), row["params"]),
            Cell(str(int(row["threads"])), int(row["threads"])),
            Cell(str(int(row["best_epoch"])), int(row["best_epoch"])),
            Cell(mean_text, sort_value(row["p_mean"])),
            Cell(ci_text, sort_value(row["p_low"])),
            Cell(str(int(row["n_seeds"])), int(row["n_seeds"]))]


def _best_section(doc: Document, store: RunData, quality: pd.DataFrame, best: pd.DataFrame
                  ) -> None:
    k = int(best["k"].iloc[0])
    ref = best.iloc[0]
    notes: list[str] = []
    extra = plugin_metrics(best)
    tests = {}
    for i, row in best.iterrows():
        if row["model"] != ref["model"]:
            result, why = paired(store, quality, row, ref)
            tests[i] = result
            if result is None:
                notes.append(f"No paired test of {row['model']}: {why}.")
    p_values = {i: result.p_value for i, result in tests.items() if result is not None}
    family = sum(np.isfinite(p) for p in p_values.values())
    adjusted = dict(zip(p_values, holm(list(p_values.values())))) if family > 1 else None
    test_columns = [f"Δ p@{k} vs best (per-user)", "p-value",
                    *(["Holm-adjusted p"] if adjusted else []), "users paired"]
    columns = ["model", "best setting", "threads", "best epoch", f"test p@{k} mean ± 95% CI half",
               "95% interval", "seeds", f"train p@{k}", "test MSE", "recall", "NDCG",
               *(spec.label for spec in extra), "fit s/epoch", "recommend users/s",
               *test_columns]
    rows = []
    for i, row in best.iterrows():
        result = tests.get(i)
        if row["model"] == ref["model"]:
            test_cells = [Cell("reference", "")] + [Cell("—", "")] * (len(test_columns) - 1)
        elif result is None:
            test_cells = [Cell("—", "")] * len(test_columns)
        else:
            test_cells = [Cell(f"{result.mean_difference:+.4f}", result.mean_difference),
                          Cell(_fmt_p(result.p_value), sort_value(result.p_value))]
            if adjusted:
                test_cells.append(Cell(_fmt_p(adjusted[i]), sort_value(adjusted[i])))
            test_cells.append(Cell(str(result.n), result.n))
        rows.append(_setting_cells(row) + [
            Cell(number_text(row["train_p"]), sort_value(row["train_p"])),
            Cell(_fmt_g(row["test_mse"], 4), sort_value(row["test_mse"])),
            Cell(number_text(row["recall_at_k"]), sort_value(row["recall_at_k"])),
            Cell(number_text(row["ndcg_at_k"]), sort_value(row["ndcg_at_k"])),
            *(Cell(number_text(row[spec.column]), sort_value(row[spec.column]))
              for spec in extra),
            Cell(_fmt_g(row["s_per_epoch"]), sort_value(row["s_per_epoch"])),
            Cell(_fmt_rate(row["users_per_s"]), sort_value(row["users_per_s"])),
        ] + test_cells)
    doc.table(Table(columns, rows, sortable=True))
    text = (f"Best setting of each model by mean test precision@{k} at its best epoch over split "
            f"seeds; ± is the half-width of the Student-t {CONFIDENCE:.0%} interval over seeds "
            f"(none with one seed). Fit s/epoch is the median over epochs and seeds.")
    if len(best) > 1:
        text += (f" Significance: {PAIRED_METHODS[PAIRED_METHOD]}, two-sided, of per-user test "
                 f"precision@{k} (recomputed from the stored top-k lists and the split) against "
                 f"the best model `{ref['model']}`, users paired within each seed and pooled "
                 f"over seeds.")
    if adjusted:
        text += (f" With {family} models tested against the best one, the p-values are also "
                 f"Holm-adjusted over the {family} tests (Holm-adjusted p: Holm's step-down "
                 f"correction keeps the chance of any false difference among them at the chosen "
                 f"level; a raw p-value holds for one test alone).")
    doc.para(text)
    doc.bullets(notes)


def _grid_section(doc: Document, settings: pd.DataFrame) -> None:
    settings = settings.reset_index(drop=True)
    k = int(settings["k"].iloc[0])
    parsed = [json.loads(p) if p.startswith("{") else {} for p in settings["params"]]
    varying = []
    for model, group in settings.groupby("model"):
        values = [parsed[i] for i in group.index]
        for key in sorted({key for v in values for key in v}):
            if len({json.dumps(v.get(key)) for v in values}) > 1 and key not in varying:
                varying.append(key)
    columns = ["model", "params", "threads", "best epoch", f"test p@{k}", "95% interval",
               "seeds"] + varying + [f"train p@{k}", "test MSE", "fit s/epoch",
                                     "fit s to best epoch", "recommend users/s"]
    rows = []
    for i, row in settings.iterrows():
        extra = []
        for key in varying:
            value = parsed[i].get(key)
            text = "" if value is None else str(value)
            extra.append(Cell(text, text if sort_value(value) == "" else sort_value(value)))
        rows.append(_setting_cells(row) + extra + [
            Cell(number_text(row["train_p"]), sort_value(row["train_p"])),
            Cell(_fmt_g(row["test_mse"], 4), sort_value(row["test_mse"])),
            Cell(_fmt_g(row["s_per_epoch"]), sort_value(row["s_per_epoch"])),
            Cell(_fmt_g(row["fit_to_best"]), sort_value(row["fit_to_best"])),
            Cell(_fmt_rate(row["users_per_s"]), sort_value(row["users_per_s"]))])
    doc.table(Table(columns, rows, sortable=True))


def _dataset_section(doc: Document, figs: _Figures, store: RunData, dataset: str,
                     quality: pd.DataFrame, settings: pd.DataFrame, size: dict) -> None:
    doc.heading(2, f"Data set `{dataset}`")
    if size:
        parts = [f"{size[key]:,} {label}" for key, label in
                 (("users", "users"), ("items", "items"), ("likes", "likes"),
                  ("evaluated", "evaluated users"), ("test_likes", "test likes"),
                  ("features", "item features kept (tags and categories)")) if key in size]
        doc.para("; ".join(parts) + ".")
    mine = settings[settings["dataset"] == dataset]
    if mine.empty:
        doc.para("No finished trial with test metrics yet.")
        return
    k = int(mine["k"].iloc[0])
    best = best_per_model(mine)
    doc.heading(3, "Best setting of each model")
    _best_section(doc, store, quality, best)
    if (~mine["model"].map(deterministic) & (mine["threads"] > 1)).any():
        doc.para(f"{NONDETERMINISTIC} LightFM with more than one thread is not deterministic "
                 "(Hogwild: threads update shared embeddings without locks), so its repeats differ "
                 "even at a fixed seed.")
    beyond_section(doc, store, quality, best)

    doc.heading(3, "Learning curves")
    for _, row in best.iterrows():
        if row["n_epochs"] >= 2:
            _learning_figure(figs, quality, row)
        else:
            figs.skip(f"learning curve of {row['model']} on {dataset}",
                      "one checkpoint only (no epochs to plot)")

    doc.heading(3, "All grid traces")
    for _, row in best.iterrows():
        count = int((mine["model"] == row["model"]).sum())
        if count >= 2 and row["n_epochs"] >= 2:
            _traces_figure(figs, quality, mine, row)
        elif count >= 2:
            figs.skip(f"grid traces of {row['model']} on {dataset}",
                      "one checkpoint only (no epochs to plot)")
        else:
            figs.skip(f"grid traces of {row['model']} on {dataset}", "a single setting, no grid")

    doc.heading(3, f"Precision@{k} vs fit time")
    points = mine[np.isfinite(mine["fit_to_best"].astype(float))].reset_index(drop=True)
    if len(points) >= 2:
        figs.add(f"{dataset}-quality-vs-fit-time",
                 f"Test precision@{k} against fit time on {dataset}, Pareto front marked",
                 lambda path: plots.quality_vs_time(
                     list(points["model"]), points["fit_to_best"], points["p_mean"], path,
                     title=f"{dataset}: test precision@{k} vs fit time, every setting", k=k))
        front = points.iloc[plots.front_order(points["fit_to_best"], points["p_mean"])]
        rows = [[Cell(str(rank), rank), Cell(_model_label(r["model"], int(r["threads"])),
                                             r["model"]),
                 Cell(params_text(r["params"]), r["params"]),
                 Cell(str(int(r["threads"])), int(r["threads"])),
                 Cell(str(int(r["best_epoch"])), int(r["best_epoch"])),
                 Cell(_fmt_g(r["fit_to_best"]), sort_value(r["fit_to_best"])),
                 Cell(number_text(r["p_mean"]), sort_value(r["p_mean"]))]
                for rank, (_, r) in enumerate(front.iterrows(), start=1)]
        doc.para("The Pareto front: no other setting reaches a higher test precision in less fit "
                 "time (numbers as in the figure).")
        doc.table(Table(["#", "model", "params", "threads", "best epoch", "fit s to best epoch",
                         f"test p@{k}"], rows))
    else:
        figs.skip(f"precision vs fit time on {dataset}", "fewer than two timed settings")

    doc.heading(3, "Full grid")
    doc.para("Every setting at its best epoch, best first (click a column header of the HTML "
             "report to sort).")
    _grid_section(doc, mine)


def _scaling_section(doc: Document, figs: _Figures, ok: pd.DataFrame) -> None:
    doc.heading(2, "Thread scaling")
    scaling = thread_scaling(ok)
    if scaling.empty:
        doc.para("No setting was run at more than one thread count.")
        figs.skip("thread speedup", "no setting was run at more than one thread count")
        return
    rows = []
    for _, row in scaling.iterrows():
        rows.append([Cell(row["dataset"]), Cell(_model_label(row["model"], int(row["threads"]))),
                     Cell(params_text(row["params"]), row["params"]),
                     Cell(str(int(row["threads"])), int(row["threads"])),
                     Cell(_fmt_g(row["s_per_epoch"]), sort_value(row["s_per_epoch"])),
                     Cell(f"{row['speedup']:.2f}×", sort_value(row["speedup"])),
                     Cell(f"{row['efficiency']:.0%}", sort_value(row["efficiency"]))])
    doc.table(Table(["data set", "model", "params", "threads", "fit s/epoch", "speedup",
                     "efficiency"], rows, sortable=True))
    base = sorted(scaling["base_threads"].unique())
    vs = ("1 thread" if base == [1] else
          f"the smallest thread count run ({', '.join(map(str, base))})")
    doc.para(f"Speedup = fit seconds per epoch at {vs} / at n threads (median over epochs and "
             f"seeds); efficiency = speedup × base threads / n.")
    if (~scaling["model"].map(deterministic) & (scaling["threads"] > 1)).any():
        doc.para(f"{NONDETERMINISTIC} LightFM with more than one thread is not deterministic "
                 "(Hogwild).")
    for dataset, frame in scaling.groupby("dataset"):
        base_threads = int(frame["base_threads"].min())
        frame = frame[frame["base_threads"] == base_threads]
        lines = [plots.Curve(g["threads"].to_numpy(float), g["speedup"].to_numpy(float),
                             f"{model} ({params_text(params)})")
                 for (model, params), g in frame.groupby(["model", "params"])]
        figs.add(f"{dataset}-thread-speedup", f"Thread speedup on {dataset}",
                 lambda path: plots.thread_speedup(
                     lines, path, title=f"{dataset}: speedup of a fit epoch vs threads",
                     base=base_threads))


def _size_section(doc: Document, figs: _Figures, ok: pd.DataFrame, sizes: dict) -> None:
    doc.heading(2, "Fit time vs data size")
    likes = {d: s["likes"] for d, s in sizes.items() if "likes" in s}
    if len(set(likes.values())) < 2:
        figs.skip("fit time vs likes", "the run has fewer than two data sizes")
        return
    test = ok[(ok["subset"] == "test") & ok["dataset"].isin(likes)]
    timed = (test.assign(sec=epoch_seconds(test), likes=test["dataset"].map(likes))
             .groupby(["model", "params", "threads", "likes"])["sec"].median().reset_index())
    lines, rows = [], []
    for (model, params, threads), g in timed.groupby(["model", "params", "threads"]):
        if g["likes"].nunique() < 2:
            continue
        label = f"{model}, {threads} thr ({params_text(params)})"
        lines.append(plots.Curve(g["likes"].to_numpy(float), g["sec"].to_numpy(float), label))
        slope = plots.loglog_slope(g["likes"], g["sec"])
        rows.append([Cell(_model_label(model, int(threads)), model),
                     Cell(params_text(params), params), Cell(str(threads), int(threads)),
                     Cell(f"{int(g['likes'].min()):,}–{int(g['likes'].max()):,}",
                          float(g["likes"].max())),
                     Cell(f"{slope:.2f}", sort_value(slope))])
    if not lines:
        figs.skip("fit time vs likes", "no setting was run on two or more data sizes")
        return
    doc.table(Table(["model", "params", "threads", "likes", "log-log slope"], rows, sortable=True))
    doc.para("Slope of log(fit seconds per epoch) against log(likes): 1 = linear in the data.")
    figs.add("fit-time-vs-likes", "Fit time per epoch against likes, log-log",
             lambda path: plots.fit_time_vs_likes(
                 lines, path, title="Fit time per epoch vs data size (log-log)"))


def _protocols_section(doc: Document, run_dir: Path) -> None:
    """The run's reconciliation across protocol presets, as ``reconcile`` last wrote it."""
    from recsys_bench.analysis.reconcile import DOCUMENT

    path = run_dir / DOCUMENT
    if path.exists():
        doc.include(Document.from_json(path.read_text(encoding="utf-8")), shift=1)


def _failed_section(doc: Document, df: pd.DataFrame) -> None:
    failed = df[df["status"] != "ok"].drop_duplicates("trial_id")
    doc.heading(2, "Failed trials")
    if failed.empty:
        doc.para("None.")
        return
    rows = [[Cell(r["dataset"]), Cell(r["model"]), Cell(params_text(r["params"]), r["params"]),
             Cell(str(r["seed"]), int(r["seed"])), Cell(str(r["threads"]), int(r["threads"])),
             Cell(r["status"]), Cell(r["error"] or "(no message)")]
            for _, r in failed.iterrows()]
    doc.table(Table(["data set", "model", "params", "seed", "threads", "status", "error"], rows,
                    sortable=True))


def _header(doc: Document, run_dir: Path, df: pd.DataFrame, config: dict, run: dict) -> None:
    experiment = config.get("experiment", {})
    name = experiment.get("name") or run.get("experiment") or run_dir.name
    doc.heading(1, f"Report: {name}")
    description = experiment.get("description") or run.get("description")
    if description:
        doc.para(str(description))
    facts = []
    ok = df[df["status"] == "ok"]
    if not ok.empty:
        ks = sorted(ok["k"].dropna().astype(int).unique())
        exclude = sorted(ok["exclude_train"].dropna().astype(bool).unique()) \
            if "exclude_train" in ok else []
        kinds = sorted(ok["split_kind"].dropna().unique()) if "split_kind" in ok else []
        seeds = sorted(int(s) for s in ok["seed"].unique())
        excluded = ", ".join("yes" if e else "no (the study's protocol)" for e in exclude)
        facts.append(f"Protocol: split {', '.join(kinds) or '?'}, seeds {seeds}, "
                     f"k = {', '.join(map(str, ks))}, train likes excluded from the ranking: "
                     f"{excluded or '?'}.")
    trials = df["trial_id"].nunique()
    failed = df.loc[df["status"] != "ok", "trial_id"].nunique()
    facts.append(f"Trials: {trials} ({failed} failed).")
    if run.get("started_at"):
        sessions = run.get("sessions") or []
        wall = sum(float(x.get("wall_seconds") or 0) for x in sessions)
        end = run.get("ended_at")
        facts.append(f"Run: started {run['started_at']}, "
                     f"{'ended ' + str(end) if end else 'not finished'} "
                     f"(status {run.get('status', '?')}; wall time {wall:,.0f} s = "
                     f"{wall / 3600:.2f} h over {len(sessions)} session(s)).")
    fit_total = ok.groupby("trial_id")["fit_seconds"].max().sum() if not ok.empty else 0.0
    eval_total = (ok.groupby(["trial_id", "epoch"])["eval_seconds"].max().sum()
                  if not ok.empty else 0.0)
    facts.append(f"Time spent: fitting {fit_total:,.1f} s, evaluating {eval_total:,.1f} s "
                 "(summed over trials).")
    machine = run.get("machine") or {}
    if machine:
        facts.append(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} logical "
                     f"cores, Python {machine.get('python', '?')}.")
    if run:
        stick = yardstick.run_yardstick(run)
        facts.append("Yardstick (how busy the machine was; a fixed probe, lower is faster): "
                     + (f"{stick.summary()}." if stick else "none recorded."))
    git = run.get("git") or {}
    if git.get("commit"):
        dirty = " (with uncommitted changes)" if git.get("dirty") else ""
        facts.append(f"Code: commit {git['commit'][:12]}{dirty}.")
    doc.bullets(facts)


# --------------------------------------------------------------------------- rendering

def write_report(run_dir) -> Path:
    """Write ``report.md``, ``report.html``, ``figures/*.png`` and ``board/`` of a run folder.

    Reads only what the run stored; figures whose data is absent are skipped with a note in the
    report. Safe to call while the run is still writing results.

    Parameters
    ----------
    run_dir : path-like
        The folder given to ``recsys-bench run --out``.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    UserError
        When the folder holds no results table, or the table lacks a required column.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError("no such run folder", path=run_dir)
    df = load_table(run_dir)
    config = load_config(RunFolder(run_dir).config)
    run = load_run_info(run_dir)
    store = RunData(run_dir)
    doc = Document()
    figs = _Figures(run_dir, doc)
    _header(doc, run_dir, df, config, run)
    ok = df[df["status"] == "ok"]
    quality = quality_rows(ok) if not ok.empty else ok
    settings = settings_table(quality) if not ok.empty else pd.DataFrame()
    sizes = dataset_sizes(store, df)
    for dataset in pd.unique(df["dataset"]):
        _dataset_section(doc, figs, store, dataset, quality,
                         settings if not settings.empty else pd.DataFrame(
                             columns=SETTING + ["k"]), sizes.get(dataset, {}))
    if not ok.empty:
        _scaling_section(doc, figs, ok)
        _size_section(doc, figs, ok, sizes)
    _protocols_section(doc, run_dir)
    _failed_section(doc, df)

    title = doc.blocks[0][2]
    md_path = run_dir / "report.md"
    atomic_write_text(md_path, render_markdown(doc, run_dir))
    atomic_write_text(run_dir / "report.html", render_html(doc, title))
    if not ok.empty:
        from recsys_bench.analysis.board import write_board

        write_board([run_dir], run_dir / "board")
    return md_path
