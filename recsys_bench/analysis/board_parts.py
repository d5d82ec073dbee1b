"""The board's secondary views: per-user distributions, scaling, runs side by side, asv history.

Each function returns JSON-ready data for one view of :mod:`recsys_bench.analysis.board`, or a
``{"message": ...}`` saying why the view has nothing to show, so the page never draws a blank
chart.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.analysis import run_data as rep
from recsys_bench.errors import UserError

SETTING = ["dataset", "model", "params", "threads"]


def rounded(x, digits: int = 5):
    """A float rounded to ``digits`` significant digits for the page, None when not finite."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


def _ok_quality(run) -> pd.DataFrame:
    return rep.quality_rows(run.table[run.table["status"] == "ok"])


# --------------------------------------------------------------------------- per-user metrics

def user_distributions(runs: list) -> list[dict]:
    """Per run and data set: per-user test precision@k of each model's best setting.

    Values are recomputed from ``raw/`` top-k lists and ``splits/`` (users of every seed
    pooled) and sent as counts per distinct value, since precision@k takes only k + 1 values.
    A run or model whose files are absent gets a ``message`` instead.
    """
    out = []
    for run in runs:
        if not (run.path / "raw").is_dir():
            out.append({"run": run.name, "message": (
                f"{run.name}: no per-user data, the run folder has no raw/ (committed runs "
                "leave out the bulky raw top-k lists and splits); build the board from the "
                "full run folder to see these distributions.")})
            continue
        quality = _ok_quality(run)
        settings = rep.settings_table(quality)
        if settings.empty:
            continue
        store = rep.RunData(run.path)
        for dataset, best in rep.best_per_model(settings).groupby("dataset", sort=False):
            models, missing = [], []
            for _, row in best.iterrows():
                values = _per_user(store, quality, row)
                if isinstance(values, str):
                    missing.append(f"{row['model']}: {values}")
                    continue
                levels, counts = np.unique(np.round(values, 6), return_counts=True)
                models.append({"model": row["model"], "params": rep.params_text(row["params"]),
                               "epoch": int(row["best_epoch"]), "n": int(values.size),
                               "mean": rounded(values.mean()),
                               "values": [rounded(v) for v in levels],
                               "counts": counts.astype(int).tolist()})
            entry = {"run": run.name, "dataset": dataset, "k": int(best["k"].iloc[0]),
                     "models": models}
            if missing:
                entry["missing"] = missing
            if not models:
                entry["message"] = (f"{run.name} / {dataset}: no per-user data "
                                    f"({'; '.join(missing)})")
            out.append(entry)
    return out


def _per_user(store, quality: pd.DataFrame, row: pd.Series) -> np.ndarray | str:
    """Per-user test precision@k of one setting at its best epoch, seeds pooled, or why not."""
    mine = quality[(quality[SETTING] == row[SETTING]).all(axis=1)
                   & (quality["subset"] == "test") & (quality["epoch"] == row["best_epoch"])]
    pooled = []
    for _, trial in mine.drop_duplicates("trial_id").iterrows():
        got = store.per_user_precision(trial["trial_id"], row["dataset"], int(trial["seed"]),
                                       int(row["best_epoch"]), int(row["k"]),
                                       trial.get("split_fingerprint") or None)
        if isinstance(got, str):
            return got
        pooled.append(got[1])
    return np.concatenate(pooled) if pooled else "no stored trial"


# --------------------------------------------------------------------------- scaling

def thread_scaling(runs: list) -> list[dict]:
    """Fit seconds per epoch and speedup of every setting run at two or more thread counts."""
    out = []
    for run in runs:
        scaling = rep.thread_scaling(run.table[run.table["status"] == "ok"])
        for (dataset, model, params), g in scaling.groupby(["dataset", "model", "params"],
                                                           sort=False):
            out.append({"run": run.name, "dataset": dataset, "model": model,
                        "params": rep.params_text(params),
                        "base": int(g["base_threads"].iloc[0]),
                        "threads": g["threads"].astype(int).tolist(),
                        "s_per_epoch": [rounded(v) for v in g["s_per_epoch"]],
                        "speedup": [rounded(v) for v in g["speedup"]]})
    return out


def size_scaling(runs: list) -> list[dict]:
    """Fit seconds per epoch against likes, with the fitted power law ``sec = a * likes**b``."""
    out = []
    for run in runs:
        ok = run.table[run.table["status"] == "ok"]
        sizes = rep.dataset_sizes(rep.RunData(run.path), run.table)
        likes = {d: s["likes"] for d, s in sizes.items() if "likes" in s}
        test = ok[(ok["subset"] == "test") & ok["dataset"].isin(likes)]
        if test.empty:
            continue
        timed = (test.assign(sec=rep.epoch_seconds(test), likes=test["dataset"].map(likes))
                 .groupby(["model", "params", "threads", "likes"])["sec"].median().reset_index())
        for (model, params, threads), g in timed.groupby(["model", "params", "threads"]):
            x, y = g["likes"].to_numpy(float), g["sec"].to_numpy(float)
            keep = (x > 0) & (y > 0)
            if np.unique(x[keep]).size < 2:
                continue
            slope, intercept = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
            out.append({"run": run.name, "model": model, "params": rep.params_text(params),
                        "threads": int(threads), "likes": [int(v) for v in x],
                        "sec": [rounded(v) for v in y], "slope": rounded(slope, 4),
                        "intercept": rounded(intercept, 6)})
    return out


# --------------------------------------------------------------------------- side by side

def side_by_side(runs: list, settings: pd.DataFrame, comparisons: list | None) -> dict:
    """The settings found in two or more runs, each run's values, and ``compare``'s verdicts.

    Every run after the first is compared with the first by
    :func:`recsys_bench.analysis.compare.compare_runs` (or ``comparisons`` when given); when it
    refuses (different experiments, configs or splits) its reason is shown and the rows are
    still put side by side. A row whose split fingerprints differ from the first run's is marked
    not comparable.
    """
    if len(runs) < 2:
        return {"message": "One run given: pass two or more run folders (e.g. two commits of one "
                           "experiment) to put the same settings side by side."}
    from recsys_bench.analysis.compare import compare_runs

    results, notes = {}, []
    for i, run in enumerate(runs[1:], start=1):
        if comparisons is not None and i - 1 < len(comparisons):
            results[i] = comparisons[i - 1]
            continue
        try:
            results[i] = compare_runs(runs[0].path, run.path)
        except UserError as error:
            notes.append(f"compare {runs[0].name} → {run.name}: {error}")
    verdicts = _verdicts(results)
    rows = []
    for key, g in settings.groupby(SETTING, sort=False):
        present = dict(zip(g["run"].astype(int), g.index.astype(int)))
        if len(present) < 2:
            continue
        prints = dict(zip(g["run"].astype(int), g["fingerprints"].fillna("")))
        base = prints[min(prints)]
        row = {"dataset": key[0], "model": key[1], "params": rep.params_text(key[2]),
               "threads": int(key[3]), "s": {str(r): i for r, i in present.items()},
               "not_comparable": sorted(int(r) for r, f in prints.items() if f != base),
               "verdicts": {}}
        for i in present:
            if (i, *key) in verdicts:
                row["verdicts"][str(i)] = verdicts[i, *key]
        rows.append(row)
    if not rows:
        notes.append("The runs share no setting (data set, model, params, threads).")
    return {"baseline": runs[0].name, "rows": rows, "notes": notes,
            "regressed": {runs[i].name: bool(r.regressed) for i, r in results.items()}}


def _verdicts(results: dict) -> dict:
    """(run index, dataset, model, params, threads) -> {"quality": {metric: [...]}, "time"}."""
    out: dict = {}
    for i, result in results.items():
        for q in result.quality:
            if q.subset != "test":
                continue
            entry = out.setdefault((i, q.dataset, q.model, q.params, q.threads),
                                   {"quality": {}, "time": {}})
            entry["quality"][q.metric] = [rounded(q.delta), rounded(q.low), rounded(q.high),
                                          q.method, bool(q.regressed)]
        for t in result.time:
            entry = out.setdefault((i, t.dataset, t.model, t.params, t.threads),
                                   {"quality": {}, "time": {}})
            entry["time"][t.measure] = [rounded(t.ratio), bool(t.regressed)]
    return out


# --------------------------------------------------------------------------- asv

def asv_history(results_dir: str | os.PathLike) -> dict:
    """Every benchmark's value per commit and machine from an asv ``results`` folder.

    Raises
    ------
    UserError
        The folder does not exist or holds no asv result.
    """
    from asv.results import iter_results

    folder = Path(results_dir)
    if not folder.is_dir():
        raise UserError("no such asv results folder", path=folder)
    units = _asv_units(folder / "benchmarks.json")
    series: dict[tuple[str, str], list] = {}
    for result in iter_results(str(folder)):
        machine = str(result.params.get("machine", "?"))
        date = _dt.datetime.fromtimestamp(result.date / 1000, _dt.timezone.utc).isoformat()
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            values = result.get_result_value(key, params)
            values = values if isinstance(values, list) else [values]
            labels = _param_labels(params) if len(values) > 1 else [""]
            for label, value in zip(labels, values):
                if value is None or not math.isfinite(float(value)):
                    continue
                name = f"{key}({label})" if label else key
                series.setdefault((name, machine), []).append(
                    [date, result.commit_hash[:8], rounded(value)])
    if not series:
        raise UserError("no asv results here (expected <machine>/machine.json and result files)",
                        path=folder)
    return {"series": [{"name": name, "machine": machine, "unit": units.get(name.split("(")[0],
                                                                             ""),
                        "points": sorted(points)}
                       for (name, machine), points in sorted(series.items())]}


def _param_labels(params: list) -> list[str]:
    import itertools

    return [", ".join(map(str, combo)) for combo in itertools.product(*params)]


def _asv_units(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: b.get("unit", "") for name, b in data.items() if isinstance(b, dict)}
