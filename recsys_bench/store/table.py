"""The result table of a run: one file per trial, one table of all rows, written atomically
and readable at any moment (also mid-run or after a crash).

Where each file lives is :class:`~recsys_bench.store.run_folder.RunFolder`'s; the columns are
documented in ``docs/results-columns.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.errors import CorruptFile, UserError
from recsys_bench.fileio import atomic_write_parquet, atomic_write_text, reading
from recsys_bench.store.run_folder import RunFolder

# Identity columns, then one float column per registered metric, then measurements and status.
_IDENTITY: dict[str, str] = {
    "dataset": "str",
    "dataset_name": "str",
    "dataset_options": "str",
    "split_kind": "str",
    "split_fingerprint": "str",
    "seed": "int",
    "model": "str",
    "params": "str",
    "trial_id": "str",
    "threads": "int",
    "blas_threads": "int",
    "epoch": "int",
    "subset": "str",
    "k": "int",
    "exclude_train": "bool",
}
_AFTER_METRICS: dict[str, str] = {
    "fit_seconds": "float",
    "fit_seconds_min": "float",
    "fit_seconds_max": "float",
    "fit_cpu_seconds": "float",
    "epoch_seconds": "float",
    "eval_seconds": "float",
    "recommend_users_per_s": "float",
    "peak_rss_mb": "float",
    "n_users": "int",
    "n_items": "int",
    "likes": "int",
    "train_likes": "int",
    "repeats": "int",
    "warmup": "int",
    "status": "str",
    "error": "str",
    "started_at": "str",
}


def columns() -> dict[str, str]:
    """Column -> kind (``str``, ``int``, ``float``, ``bool``), in table order: the metric
    columns come from the metric registry (:mod:`recsys_bench.eval.registry`)."""
    from recsys_bench.eval.registry import columns as metric_columns

    return {**_IDENTITY, **{c: "float" for c in metric_columns().values()}, **_AFTER_METRICS}


_NUMPY_KIND = {"int": np.int64, "float": np.float64, "bool": np.bool_}
_REBUILD = "delete it and rerun the command (it is rebuilt from trials/ when that is present)"
_REDO_TRIAL = ("rerun the same `recsys-bench run` command: it moves the file to quarantine/ and "
               "runs the trial again")


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with exactly the columns of :func:`columns`, in order, with stable dtypes.

    Missing metric columns become NaN, so every table has the same schema whatever the run
    measured; extra columns are kept after the known ones.
    """
    n = len(df)
    data = {}
    known = columns()
    for column, kind in known.items():
        if column not in df:
            data[column] = (np.full(n, np.nan) if kind == "float" else
                            np.full(n, "", dtype=object) if kind == "str" else
                            np.zeros(n, dtype=_NUMPY_KIND[kind]))
        elif kind == "str":
            values = df[column]
            if values.dtype == object or values.hasnans:
                values = values.where(values.notna(), "")
            data[column] = values.to_numpy(dtype=object)
        else:
            data[column] = df[column].to_numpy(dtype=_NUMPY_KIND[kind])
    for column in df.columns:
        if column not in known:
            data[column] = df[column].to_numpy()
    out = pd.DataFrame(data)
    for column, kind in known.items():
        if kind == "str":
            out[column] = out[column].astype(str)
    return out


def trial_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the rows of trial ``trial_id`` are stored."""
    return RunFolder(run_dir).trial(trial_id)


def raw_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the top-k ids of trial ``trial_id`` are stored."""
    return RunFolder(run_dir).raw(trial_id)


def write_trial(run_dir: str | os.PathLike, trial_id: str, df: pd.DataFrame) -> Path:
    """Store the rows of one trial (atomically; the file marks the trial as done)."""
    path = trial_path(run_dir, trial_id)
    atomic_write_parquet(normalize(df), path)
    return path


def read_trial(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of one stored trial (:class:`~recsys_bench.errors.CorruptFile` if unreadable)."""
    with reading(path, advice=_REDO_TRIAL):
        return normalize(pd.read_parquet(path))


def read_trials(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every stored trial of a run: trial id -> its rows (in file name order)."""
    folder = RunFolder(run_dir).trials
    if not folder.is_dir():
        return {}
    return {p.stem: read_trial(p) for p in sorted(folder.glob("*.parquet"))}


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Trial frames concatenated into one normalised table."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return normalize(pd.DataFrame())
    return normalize(pd.concat(frames, ignore_index=True))


def write_table(df: pd.DataFrame, run_dir: str | os.PathLike) -> None:
    """Rewrite ``results.parquet`` and ``results.csv`` of ``run_dir`` from ``df``."""
    df = normalize(df)
    folder = RunFolder(run_dir)
    atomic_write_parquet(df, folder.table)
    atomic_write_text(folder.table_csv, df.to_csv(index=False))


def read_results(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The result table of a run folder, complete even mid-run or after a crash.

    Reads ``results.parquet`` when it holds every stored trial, otherwise rebuilds the table
    from ``trials/`` (the trial files are authoritative); a folder with only ``results.csv``
    (e.g. committed results) is read from that.

    Raises
    ------
    UserError
        ``run_dir`` holds no results.
    """
    folder = RunFolder(run_dir)
    trial_files = sorted(folder.trials.glob("*.parquet"))
    table = folder.table
    if table.exists():
        with reading(table, advice=_REBUILD):
            df = normalize(pd.read_parquet(table))
        if not trial_files or set(df["trial_id"]) == {p.stem for p in trial_files}:
            return df
    if trial_files:
        return combine([read_trial(p) for p in trial_files])
    if folder.table_csv.exists():
        with reading(folder.table_csv):
            df = pd.read_csv(folder.table_csv, keep_default_na=False,
                             na_values={c: ["", "NaN", "nan"] for c, k in columns().items()
                                        if k == "float"})
            return normalize(df)
    raise UserError("no results here (no results.parquet, results.csv or trials/)", path=run_dir)


def read_raw(run_dir: str | os.PathLike, trial_id: str) -> dict[str, np.ndarray]:
    """The raw arrays of a trial: ``users`` and ``top_<subset>_e<epoch>`` for each checkpoint.

    Top-k lists shared by two subsets (one pass serves both when train likes are not excluded)
    are stored once; the ``aliases`` entry of the file maps the others back, and this reader
    returns every key.
    """
    path = raw_path(run_dir, trial_id)
    with reading(path):
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        for alias in arrays.pop("aliases", np.array([], dtype=str)):
            name, target = str(alias).split("=", 1)
            arrays[name] = arrays[target]
    return arrays


def read_run_info(run_dir: str | os.PathLike) -> dict:
    """``run.json`` of a run folder (empty dict when absent)."""
    path = RunFolder(run_dir).run_info
    if not path.exists():
        return {}
    with reading(path):
        info = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(info, dict):
        raise CorruptFile(path, "not a JSON object")
    return info
