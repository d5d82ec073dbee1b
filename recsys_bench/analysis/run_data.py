"""What a report computes from a stored run: its table, settings, best settings, paired tests,
thread scaling and data sizes (reading the run folder only, never training)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.errors import UserError
from recsys_bench.eval import registry
from recsys_bench.eval.stats import paired_test, t_half_width
from recsys_bench.experiment.schema import read_toml
from recsys_bench.store.run_folder import RunFolder
from recsys_bench.store.table import raw_path, read_raw, read_results, read_run_info

SETTING = ["dataset", "model", "params", "threads"]
REQUIRED_COLUMNS = ("dataset", "seed", "model", "params", "trial_id", "threads", "epoch", "subset",
                    "k", "precision_at_k", "fit_seconds", "epoch_seconds", "status")
SIZE_COLUMNS = ("nnz", "likes", "n_likes", "n_interactions")
PAIRED_METHOD = "t"
CONFIDENCE = 0.95


def deterministic(model: str) -> bool:
    """Whether ``model`` gives the same scores at any thread count (its declared capability;
    a model this installation does not know counts as deterministic)."""
    from recsys_bench import models

    try:
        return models.model_class(model).capabilities.deterministic_threads
    except (UserError, ImportError):
        return True


def other_metrics() -> dict[str, str]:
    """Column -> label of the registered metrics other than p@k and MSE (which every table
    shows in their own columns)."""
    return {spec.column: spec.label for spec in registry.METRICS.values()
            if spec.name not in ("precision", "mse")}


def plugin_metrics(table: pd.DataFrame) -> list:
    """Registered metrics beyond the harness's default built-ins that ``table`` has values of:
    the opt-in beyond-accuracy metrics a config named, and plug-ins. They are shown as extra
    columns, so reports of runs without them stay as they were."""
    from recsys_bench.eval.metrics import BUILTIN_METRICS

    return [spec for spec in registry.METRICS.values() if spec not in BUILTIN_METRICS
            and spec.column in table and table[spec.column].notna().any()]


def load_table(run_dir: Path) -> pd.DataFrame:
    df = read_results(run_dir)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"results table lacks column(s) {', '.join(missing)}", path=run_dir)
    df = df.copy()
    df["params"] = df["params"].replace("", "{}").fillna("{}").astype(str)
    for column in ("epoch", "threads", "seed"):
        df[column] = pd.to_numeric(df[column], errors="coerce").fillna(0).astype(int)
    df["status"] = df["status"].replace("", "ok").fillna("ok").astype(str)
    df["error"] = df["error"].fillna("").astype(str) if "error" in df else ""
    for column in ("mse", "recommend_users_per_s", "eval_seconds", *other_metrics()):
        if column not in df:
            df[column] = np.nan
    return df


def load_run_info(run_dir: Path) -> dict:
    try:
        return read_run_info(run_dir)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read run.json: {exc}", path=run_dir / "run.json") from None


def load_config(path: Path) -> dict:
    if not path.exists():
        return {}
    return read_toml(path, what="the run's config")[0]


class RunData:
    """Lazy, cached access to a run's splits and raw top-k files."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self._splits: dict = {}

    def split_path(self, dataset: str, seed: int) -> Path:
        return RunFolder(self.run_dir).split(dataset, seed)

    def split(self, dataset: str, seed: int):
        """The stored split, or None when its file is absent."""
        key = (dataset, seed)
        if key not in self._splits:
            path = self.split_path(dataset, seed)
            if path.exists():
                from recsys_bench.splits import load_split
                self._splits[key] = load_split(path)
            else:
                self._splits[key] = None
        return self._splits[key]

    def test_lists(self, trial_id: str, dataset: str, seed: int, epoch: int,
                   fingerprint: str | None) -> StoredLists | str:
        """The stored test top-k lists of one trial at one epoch with their split, or why not
        (a missing raw file or split, a split that does not match the results)."""
        if not raw_path(self.run_dir, trial_id).exists():
            return f"raw/{trial_id}.npz is missing"
        split = self.split(dataset, seed)
        if split is None:
            return f"splits/{self.split_path(dataset, seed).name} is missing"
        if fingerprint and split.fingerprint != fingerprint:
            return f"splits/{self.split_path(dataset, seed).name} does not match the results"
        stored = read_raw(self.run_dir, trial_id)
        key = f"top_test_e{epoch}"
        if key not in stored or "users" not in stored:
            return f"raw/{trial_id}.npz has no {key}"
        return StoredLists(users=stored["users"].astype(np.int64), top=stored[key], split=split)

    def per_user_precision(self, trial_id: str, dataset: str, seed: int, epoch: int, k: int,
                           fingerprint: str | None) -> tuple[np.ndarray, np.ndarray] | str:
        """(users, per-user test precision@k) of one trial at one epoch, or why not."""
        from recsys_bench.eval.metrics import ranking_metrics

        lists = self.test_lists(trial_id, dataset, seed, epoch, fingerprint)
        if isinstance(lists, str):
            return lists
        precision = ranking_metrics(lists.top[:, :k], lists.truth, k)["precision"]
        return lists.users, np.asarray(precision, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class StoredLists:
    """A trial's stored test top-k lists at one epoch, with the split they were scored on.

    Attributes
    ----------
    users : numpy.ndarray
        The evaluated users, one per row of ``top``.
    top : numpy.ndarray
        users x k item ids, best first (-1 pads).
    split : recsys_bench.splits.Split
        The stored split: its test rows are the truth, its train matrix the popularity base.
    """

    users: np.ndarray
    top: np.ndarray
    split: object

    @property
    def truth(self):
        """The test rows of ``users``, aligned with ``top``."""
        return self.split.test[self.users]


# --------------------------------------------------------------------------- analysis

def quality_rows(ok: pd.DataFrame) -> pd.DataFrame:
    """Rows at the smallest thread count of each (data set, model, params)."""
    smallest = ok.groupby(["dataset", "model", "params"])["threads"].transform("min")
    return ok[ok["threads"] == smallest]


def per_epoch(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, interval and seed count of ``column`` per setting, subset and epoch."""
    valid = rows[np.isfinite(rows[column].astype(float))]
    g = valid.groupby(SETTING + ["subset", "epoch"])[column]
    out = g.agg(["mean", "std", "count"]).reset_index()
    half = t_half_width(out["std"].to_numpy(), out["count"].to_numpy(), CONFIDENCE)
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out


def epoch_seconds(rows: pd.DataFrame) -> pd.Series:
    """Fit seconds per epoch of each row: ``epoch_seconds``, else cumulative fit time / epochs."""
    fallback = rows["fit_seconds"] / rows["epoch"].clip(lower=1)
    return rows["epoch_seconds"].astype(float).fillna(fallback)


def settings_table(quality: pd.DataFrame) -> pd.DataFrame:
    """One row per setting at its best epoch, with the interval over seeds and the timings."""
    test = quality[quality["subset"] == "test"]
    curve = per_epoch(test, "precision_at_k")
    if curve.empty:
        return pd.DataFrame()
    curve = curve[curve["subset"] == "test"]
    best = (curve.sort_values(SETTING + ["mean", "epoch"],
                              ascending=[True] * len(SETTING) + [False, True])
            .groupby(SETTING, sort=False).head(1)
            .rename(columns={"epoch": "best_epoch", "mean": "p_mean", "count": "n_seeds"}))
    best["p_low"], best["p_high"] = best["low"], best["high"]
    at_best = test.merge(best[SETTING + ["best_epoch"]], left_on=SETTING + ["epoch"],
                         right_on=SETTING + ["best_epoch"])
    agg = {"fit_to_best": ("fit_seconds", "mean"), "users_per_s": ("recommend_users_per_s", "mean"),
           "test_mse": ("mse", "mean"), "k": ("k", "first")}
    agg.update({name: (name, "mean") for name in other_metrics()})
    means = at_best.groupby(SETTING).agg(**agg).reset_index()
    timing = (test.assign(sec=epoch_seconds(test)).groupby(SETTING)
                 .agg(s_per_epoch=("sec", "median"), n_epochs=("epoch", "nunique"),
                      last_epoch=("epoch", "max"))
                 .reset_index())
    train = quality[quality["subset"] == "train"].merge(
        best[SETTING + ["best_epoch"]], left_on=SETTING + ["epoch"],
        right_on=SETTING + ["best_epoch"])
    train = (train.groupby(SETTING).agg(train_p=("precision_at_k", "mean"),
                                        train_mse=("mse", "mean")).reset_index())
    out = (best[SETTING + ["best_epoch", "p_mean", "p_low", "p_high", "n_seeds"]]
           .merge(means, on=SETTING, how="left").merge(timing, on=SETTING, how="left")
           .merge(train, on=SETTING, how="left"))
    for column in ("train_p", "train_mse"):
        if column not in out:
            out[column] = np.nan
    return out.sort_values(["dataset", "p_mean"], ascending=[True, False]).reset_index(drop=True)


def best_per_model(settings: pd.DataFrame) -> pd.DataFrame:
    ranked = settings.sort_values(["dataset", "model", "p_mean", "best_epoch", "params"],
                                  ascending=[True, True, False, True, True])
    best = ranked.groupby(["dataset", "model"], sort=False).head(1)
    return best.sort_values(["dataset", "p_mean"], ascending=[True, False]).reset_index(drop=True)


def setting_trials(quality: pd.DataFrame, setting: pd.Series) -> dict[int, tuple[str, str]]:
    """Split seed -> (trial id, split fingerprint) of a setting's test rows at its best epoch."""
    mine = quality[(quality["dataset"] == setting["dataset"])
                   & (quality["model"] == setting["model"])
                   & (quality["params"] == setting["params"])
                   & (quality["threads"] == setting["threads"])
                   & (quality["subset"] == "test")
                   & (quality["epoch"] == setting["best_epoch"])]
    fingerprints = (mine["split_fingerprint"] if "split_fingerprint" in mine
                    else pd.Series([""] * len(mine), index=mine.index))
    return {int(s): (t, str(f)) for s, t, f in
            zip(mine["seed"], mine["trial_id"], fingerprints.fillna(""))}


def paired(store: RunData, quality: pd.DataFrame, row: pd.Series, ref: pd.Series
            ) -> tuple[object, str]:
    """Paired test of setting ``row`` against ``ref`` over per-user test precision, or a reason."""
    a_trials, b_trials = setting_trials(quality, row), setting_trials(quality, ref)
    seeds = sorted(set(a_trials) & set(b_trials))
    if not seeds:
        return None, "no split seed in common"
    k = int(row["k"])
    a_all, b_all = [], []
    for seed in seeds:
        a = store.per_user_precision(a_trials[seed][0], row["dataset"], seed,
                                     int(row["best_epoch"]), k, a_trials[seed][1])
        b = store.per_user_precision(b_trials[seed][0], ref["dataset"], seed,
                                     int(ref["best_epoch"]), k, b_trials[seed][1])
        for outcome in (a, b):
            if isinstance(outcome, str):
                return None, outcome
        common, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
        a_all.append(a[1][ia])
        b_all.append(b[1][ib])
    return paired_test(np.concatenate(a_all), np.concatenate(b_all), PAIRED_METHOD), ""


def thread_scaling(ok: pd.DataFrame) -> pd.DataFrame:
    """Fit seconds per epoch at each thread count of settings run at two or more counts."""
    test = ok[ok["subset"] == "test"]
    timed = (test.assign(sec=epoch_seconds(test))
             .groupby(SETTING).agg(s_per_epoch=("sec", "median")).reset_index())
    counts = timed.groupby(["dataset", "model", "params"])["threads"].transform("nunique")
    timed = timed[counts >= 2].copy()
    if timed.empty:
        return timed
    base = timed.groupby(["dataset", "model", "params"])
    timed["base_threads"] = base["threads"].transform("min")
    base_time = timed["s_per_epoch"].where(timed["threads"] == timed["base_threads"])
    timed["base_time"] = base_time.groupby([timed["dataset"], timed["model"], timed["params"]]
                                           ).transform("max")
    timed["speedup"] = timed["base_time"] / timed["s_per_epoch"]
    timed["efficiency"] = timed["speedup"] * timed["base_threads"] / timed["threads"]
    return timed.sort_values(["dataset", "model", "params", "threads"]).reset_index(drop=True)


def dataset_sizes(store: RunData, df: pd.DataFrame) -> dict[str, dict]:
    """Users, items and likes of each data set, from a size column or else its split file."""
    sizes = {}
    for dataset, rows in df.groupby("dataset"):
        info: dict = {}
        for column in SIZE_COLUMNS:
            values = pd.to_numeric(rows[column], errors="coerce") if column in rows else None
            if values is not None and (values > 0).any():
                info["likes"] = int(values[values > 0].iloc[0])
                break
        for seed in sorted(rows["seed"].unique()):
            split = store.split(dataset, int(seed))
            if split is not None:
                info.setdefault("likes", int(split.train.nnz + split.test.nnz))
                info.update(users=split.train.shape[0], items=split.train.shape[1],
                            evaluated=int(len(split.users)), test_likes=int(split.test.nnz))
                break
        meta = RunFolder(store.run_dir).split_meta(dataset)
        if meta.exists():
            features = json.loads(meta.read_text(encoding="utf-8")).get("features")
            if features:
                info["features"] = int(features)
        sizes[dataset] = info
    return sizes


# --------------------------------------------------------------------------- formatting


def params_text(params: str) -> str:
    """A setting's ``params`` JSON as ``key=value, ...`` (``(defaults)`` when empty)."""
    try:
        values = json.loads(params)
    except ValueError:
        return params
    if not values:
        return "(defaults)"
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items()))
