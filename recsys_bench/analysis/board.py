"""The results board: one static, offline site to explore one or several run folders.

``write_board(run_dirs, out)`` reads what the runs stored (the result table, ``run.json``,
``config.toml``, ``raw/*.npz`` and ``splits/*.npz`` where present), never trains, and writes
``out/index.html`` plus the chart library (plotly.js's cartesian bundle, vendored as package
data) next to it or in a shared folder. The page is built by
:mod:`recsys_bench.analysis.board_page`; the views' data are computed here and in
:mod:`recsys_bench.analysis.board_parts`.

Conventions are the report's: :mod:`recsys_bench.analysis.run_data` computes them for both,
so a board and a report of the same run never disagree:

- a *setting* is one (run, data set, model, params, threads); quality is read at the smallest
  thread count of each (model, params), the others only feed thread scaling;
- a setting's best epoch maximises its mean test precision@k over split seeds; every metric of
  the leaderboard is read at that epoch;
- intervals are Student-t 95% intervals over split seeds;
- significance against the best setting of a (run, data set, metric): a paired t-test over the
  split seeds both settings share (:func:`recsys_bench.eval.stats.paired_test`); for
  precision@k, where the raw top-k lists and splits are stored, the best setting of each model
  is tested per user instead (users paired within each seed, pooled), as in the report.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.analysis import board_parts
from recsys_bench.analysis import run_data as rep
from recsys_bench.analysis.board_parts import rounded as _num
from recsys_bench.errors import UserError
from recsys_bench.eval.stats import paired_test
from recsys_bench.fileio import atomic_write_bytes, atomic_write_text

# Result column -> (label, +1 higher is better / -1 lower is better).
METRICS: dict[str, tuple[str, int]] = {
    "precision_at_k": ("precision@k", 1),
    "recall_at_k": ("recall@k", 1),
    "ndcg_at_k": ("NDCG@k", 1),
    "map_at_k": ("MAP@k", 1),
    "hit_rate_at_k": ("hit rate@k", 1),
    "auc": ("AUC", 1),
    "coverage_at_k": ("coverage@k", 1),
    "mse": ("MSE", -1),
}
LIBRARY_NAME = "plotly-cartesian.min.js"


@dataclass(frozen=True)
class Run:
    """One run folder as the board reads it.

    Attributes
    ----------
    name : str
        Its label on the page (the folder name, made unique).
    path : pathlib.Path
        The folder.
    table : pandas.DataFrame
        Its result table, cleaned as the report cleans it.
    info : dict
        ``run.json`` (empty when absent).
    in_progress : bool
        ``run.json`` says the run is still going: its numbers are partial.
    """

    name: str
    path: Path
    table: pd.DataFrame
    info: dict
    in_progress: bool


def load_run(path: str | os.PathLike, name: str | None = None) -> Run:
    """Read a run folder for the board.

    Raises
    ------
    UserError
        The folder does not exist, is not a run folder (no results, config.toml or run.json),
        or holds no finished trial (an empty run).
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError("no such run folder", path=path)
    markers = ("results.parquet", "results.csv", "trials", "config.toml", "run.json")
    if not any((path / m).exists() for m in markers):
        raise UserError("not a run folder (no results table, trials/, config.toml or run.json)",
                        path=path)
    info = rep.load_run_info(path)
    in_progress = info.get("status") == "running"
    try:
        table = rep.load_table(path)
    except UserError:
        table = None
    state = " (run still in progress)" if in_progress else ""
    if table is None or table.empty:
        raise UserError(f"empty run: no trial has been stored yet{state}", path=path)
    if not (table["status"] == "ok").any():
        raise UserError(f"empty run: none of its {table['trial_id'].nunique()} trial(s) "
                        f"finished{state}", path=path)
    return Run(name or path.resolve().name, path, table, info, in_progress)


def _unique_names(paths: list[Path]) -> list[str]:
    """Folder names; with up to two parents where names clash, numbered where paths do."""
    resolved = [p.resolve() for p in paths]
    for depth in range(1, 4):
        names = ["/".join(p.parts[-depth:]).lstrip("/") for p in resolved]
        if len(set(names)) == len(names):
            return names
    names = [p.name for p in resolved]
    return [f"{n} #{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


# --------------------------------------------------------------------------- leaderboard

def _settings(run: Run, run_index: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(settings at their best epoch with metric means and intervals, their test rows at that
    epoch, the quality rows of the run)."""
    quality = rep.quality_rows(run.table[run.table["status"] == "ok"])
    settings = rep.settings_table(quality)
    if settings.empty:
        return settings, quality.iloc[:0], quality
    test = quality[quality["subset"] == "test"]
    at_best = test.merge(settings[rep.SETTING + ["best_epoch"]], left_on=rep.SETTING + ["epoch"],
                         right_on=rep.SETTING + ["best_epoch"])
    for metric in METRICS:
        stats = rep.per_epoch(at_best, metric)
        stats = stats[stats["subset"] == "test"][rep.SETTING + ["mean", "low", "high", "count"]]
        stats.columns = rep.SETTING + [f"{metric}:{s}" for s in ("mean", "low", "high", "n")]
        settings = settings.merge(stats, on=rep.SETTING, how="left")
    prints = (at_best.groupby(rep.SETTING)["split_fingerprint"]
              .agg(lambda s: ",".join(sorted(set(s) - {""}))).rename("fingerprints"))
    settings = settings.merge(prints.reset_index(), on=rep.SETTING, how="left")
    settings.insert(0, "run", run_index)
    return settings, at_best, quality


def _significance(settings: pd.DataFrame, at_best: pd.DataFrame) -> dict[str, list]:
    """Per metric and setting: [p-value, n, method] of the test against the group's best."""
    out: dict[str, list] = {m: [None] * len(settings) for m in METRICS}
    per_seed = {m: at_best.pivot_table(index=rep.SETTING, columns="seed", values=m,
                                       aggfunc="mean") for m in METRICS}
    for metric, (_, direction) in METRICS.items():
        means = settings[f"{metric}:mean"].astype(float)
        for _, group in settings.groupby("dataset", sort=False):
            values = means[group.index]
            if not np.isfinite(values).any():
                continue
            best = (values * direction).idxmax()
            best_key = tuple(settings.loc[best, rep.SETTING])
            table = per_seed[metric]
            for i in group.index:
                if i == best:
                    out[metric][i] = [None, 0, "best"]
                    continue
                key = tuple(settings.loc[i, rep.SETTING])
                if key not in table.index or best_key not in table.index:
                    continue
                pair = table.loc[[key, best_key]].dropna(axis=1)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    test = paired_test(pair.iloc[0].to_numpy(), pair.iloc[1].to_numpy())
                out[metric][i] = [_num(test.p_value), test.n, "seeds"]
    return out


def _user_significance(run: Run, settings: pd.DataFrame, quality: pd.DataFrame,
                       sig: dict[str, list]) -> None:
    """Replace the precision@k tests of each model's best setting by per-user paired tests."""
    if not (run.path / "raw").is_dir():
        return
    store = rep.RunData(run.path)
    best_models = rep.best_per_model(settings)
    for _, group in best_models.groupby("dataset", sort=False):
        ref = group.iloc[0]
        for _, row in group.iloc[1:].iterrows():
            test, _why = rep.paired(store, quality, row, ref)
            if test is None:
                continue
            index = settings.index[(settings[rep.SETTING] == row[rep.SETTING]).all(axis=1)]
            sig["precision_at_k"][int(index[0])] = [_num(test.p_value), test.n, "users"]


def _curves(quality: pd.DataFrame, settings: pd.DataFrame, offset: int) -> list[dict]:
    """Learning curves (p@k and MSE, train and test, mean and interval) of every setting."""
    index = {tuple(k): offset + i for i, k in enumerate(settings[rep.SETTING].itertuples(
        index=False))}
    frames = []
    for column, short in (("precision_at_k", "p"), ("mse", "mse")):
        stats = rep.per_epoch(quality, column)
        if not stats.empty:
            frames.append(stats.assign(metric=short))
    if not frames:
        return []
    out = []
    stats = pd.concat(frames)
    for keys, g in stats.groupby(rep.SETTING + ["subset", "metric"], sort=False):
        i = index.get(tuple(keys[:4]))
        if i is None or len(g) < 1:
            continue
        g = g.sort_values("epoch")
        curve = {"s": i, "subset": keys[4], "metric": keys[5],
                 "epoch": g["epoch"].astype(int).tolist(), "mean": _nums(g["mean"])}
        if np.isfinite(g["low"].to_numpy(float)).any():
            curve.update(low=_nums(g["low"]), high=_nums(g["high"]))
        out.append(curve)
    return out


# --------------------------------------------------------------------------- the data

def board_data(run_dirs: list, *, asv_dir: str | os.PathLike | None = None,
               comparisons: list | None = None) -> dict:
    """Everything the board page shows, as one JSON-ready dict.

    Parameters
    ----------
    run_dirs : list of path-like
        Run folders; the first is the baseline of the side-by-side comparison.
    asv_dir : path-like, optional
        An asv ``results`` folder whose history to chart.
    comparisons : list of CompareResult, optional
        Comparisons already computed (by ``recsys-bench compare``); by default each run after
        the first is compared with the first by :func:`recsys_bench.analysis.compare.compare_runs`.

    Raises
    ------
    UserError
        No run folder given, or one of them is not a readable, non-empty run.
    """
    if not run_dirs:
        raise UserError("no run folder given")
    paths = [Path(p) for p in run_dirs]
    runs = [load_run(p, name) for p, name in zip(paths, _unique_names(paths))]
    frames, curves, sig = [], [], {m: [] for m in METRICS}
    for i, run in enumerate(runs):
        settings, at_best, quality = _settings(run, i)
        if settings.empty:
            continue
        offset = sum(len(f) for f in frames)
        curves += _curves(quality, settings, offset)
        run_sig = _significance(settings, at_best)
        _user_significance(run, settings, quality, run_sig)
        for metric in METRICS:
            sig[metric] += run_sig[metric]
        frames.append(settings)
    settings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    metrics = {m: {"label": label, "direction": d} for m, (label, d) in METRICS.items()
               if not settings.empty and np.isfinite(settings[f"{m}:mean"].astype(float)).any()}
    return {
        "title": _title(runs),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": [_run_summary(run) for run in runs],
        "metrics": metrics,
        "settings": _settings_records(settings, sig, metrics),
        "curves": curves,
        "users": board_parts.user_distributions(runs),
        "threads": board_parts.thread_scaling(runs),
        "sizes": board_parts.size_scaling(runs),
        "compare": board_parts.side_by_side(runs, settings, comparisons),
        "asv": board_parts.asv_history(asv_dir) if asv_dir else None,
    }


def _title(runs: list[Run]) -> str:
    names = ", ".join(r.name for r in runs[:3]) + (" …" if len(runs) > 3 else "")
    return f"Results board: {names}"


def _run_summary(run: Run) -> dict:
    info = run.info
    table = run.table
    return {
        "name": run.name,
        "experiment": info.get("experiment") or info.get("config", {}).get(
            "experiment", {}).get("name", ""),
        "description": info.get("description", ""),
        "status": info.get("status", "unknown"),
        "in_progress": run.in_progress,
        "commit": (info.get("git") or {}).get("commit", "")[:12],
        "dirty": bool((info.get("git") or {}).get("dirty")),
        "started_at": info.get("started_at", ""),
        "ended_at": info.get("ended_at") or "",
        "trials": int(table["trial_id"].nunique()),
        "failed": int(table.loc[table["status"] != "ok", "trial_id"].nunique()),
        "raw": (run.path / "raw").is_dir(),
        "yardstick": _yardstick_text(info),
    }


def _yardstick_text(info: dict) -> str:
    """How busy the machine was during the run, as the report says it (empty when unknown)."""
    from recsys_bench import yardstick

    stick = yardstick.run_yardstick(info) if info else None
    return stick.summary() if stick else ""


def _settings_records(settings: pd.DataFrame, sig: dict, metrics: dict) -> list[dict]:
    records = []
    for i, row in enumerate(settings.to_dict("records")):
        try:
            params = json.loads(row["params"])
        except ValueError:
            params = {"params": row["params"]}
        record = {"run": int(row["run"]), "dataset": row["dataset"], "model": row["model"],
                  "params": params if isinstance(params, dict) else {"params": params},
                  "threads": int(row["threads"]), "epoch": int(row["best_epoch"]),
                  "k": int(row["k"]), "seeds": int(row["n_seeds"]),
                  "fit_s": _num(row["fit_to_best"]), "epoch_s": _num(row["s_per_epoch"]),
                  "users_per_s": _num(row["users_per_s"])}
        for metric in metrics:
            record[metric] = [_num(row[f"{metric}:mean"]), _num(row[f"{metric}:low"]),
                              _num(row[f"{metric}:high"])]
            record[f"{metric}:sig"] = sig[metric][i]
        records.append(record)
    return records


def _nums(values) -> list:
    return [_num(v) for v in values]


# --------------------------------------------------------------------------- writing

def write_board(run_dirs: list, out: str | os.PathLike, *,
                asv_dir: str | os.PathLike | None = None,
                lib_dir: str | os.PathLike | None = None,
                comparisons: list | None = None) -> Path:
    """Write the board of ``run_dirs`` to ``out/index.html``; return that path.

    Parameters
    ----------
    run_dirs : list of path-like
        Run folders (the first is the comparison baseline).
    out : path-like
        The site folder (created).
    asv_dir : path-like, optional
        An asv ``results`` folder to chart.
    lib_dir : path-like, optional
        Where the chart library lives: written there once and linked relatively, so several
        boards share one copy. Default: the folder an existing ``out/index.html`` already
        links to when that copy is current (a board rewritten in place keeps its link),
        else ``out`` itself (a self-contained site).
    comparisons : list of CompareResult, optional
        Precomputed comparisons (see :func:`board_data`).
    """
    from recsys_bench.analysis import board_page

    data = board_data(run_dirs, asv_dir=asv_dir, comparisons=comparisons)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if lib_dir is None:
        lib_dir = _linked_library(out) or out
    library = write_library(Path(lib_dir))
    source = Path(os.path.relpath(library, out.resolve())).as_posix()
    page = out / "index.html"
    atomic_write_text(page, board_page.render(data, source))
    return page


def _vendored() -> bytes:
    """The vendored chart library: plotly.js's cartesian bundle (MIT, see plotly.LICENSE)."""
    return (resources.files("recsys_bench.analysis") / "board_assets" / LIBRARY_NAME).read_bytes()


def write_library(folder: Path) -> Path:
    """Write the vendored chart library to ``folder`` unless an identical copy is there."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder.resolve() / LIBRARY_NAME
    blob = _vendored()
    if not (path.exists() and path.stat().st_size == len(blob) and path.read_bytes() == blob):
        atomic_write_bytes(path, blob)
    return path


def _linked_library(out: Path) -> Path | None:
    """The folder of the library an existing ``out/index.html`` links to, if still current."""
    page = out / "index.html"
    if not page.exists():
        return None
    found = re.search(r'<script src="([^"]*' + re.escape(LIBRARY_NAME) + ')">',
                      page.read_text(encoding="utf-8", errors="replace"))
    if not found:
        return None
    library = (out / html.unescape(found.group(1))).resolve()
    if library.exists() and library.read_bytes() == _vendored():
        return library.parent
    return None


__all__ = ["METRICS", "Run", "board_data", "load_run", "write_board", "write_library",
           "LIBRARY_NAME"]
