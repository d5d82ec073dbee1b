"""The result store: one folder per run, written atomically and readable at any moment.

Layout (documented column by column in ``docs/results-columns.md``)::

    config.toml            the experiment file as run
    run.json               provenance: commit, packages, machine, thread pools, sessions
    splits/                <dataset>-seed<N>.npz, <dataset>-features.npz, <dataset>.json
    trials/<id>.parquet    the rows of one finished (or failed) trial
    raw/<id>.npz           evaluated users and top-k ids at every checkpoint and subset
    results.parquet/.csv   all trial rows, rewritten as trials finish (at most ~1% of a core)

Every file is written to a temporary name in its own folder and renamed into place, so a reader
(or a crash) never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_bench.errors import UserError
from recsys_bench.fileio import atomic_write_bytes

# Column -> kind ("str", "int", "float", "bool"), in table order.
COLUMNS: dict[str, str] = {
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
    "precision_at_k": "float",
    "recall_at_k": "float",
    "ndcg_at_k": "float",
    "map_at_k": "float",
    "hit_rate_at_k": "float",
    "auc": "float",
    "coverage_at_k": "float",
    "mse": "float",
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

# Metric name (as in the config and ``EvalResult.means``) -> column.
METRIC_COLUMNS: dict[str, str] = {
    "precision": "precision_at_k",
    "recall": "recall_at_k",
    "ndcg": "ndcg_at_k",
    "map": "map_at_k",
    "hit_rate": "hit_rate_at_k",
    "auc": "auc",
    "coverage": "coverage_at_k",
    "mse": "mse",
}

_NUMPY_KIND = {"int": np.int64, "float": np.float64, "bool": np.bool_}


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (non-JSON values as their ``str``)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], *,
                    compressed: bool = True) -> None:
    """Save ``arrays`` as one ``.npz`` file atomically."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as Parquet atomically."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with exactly the columns of :data:`COLUMNS`, in order, with stable dtypes.

    Missing metric columns become NaN, so every table has the same schema whatever the run
    measured; extra columns are kept after the known ones.
    """
    n = len(df)
    data = {}
    for column, kind in COLUMNS.items():
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
        if column not in COLUMNS:
            data[column] = df[column].to_numpy()
    out = pd.DataFrame(data)
    for column, kind in COLUMNS.items():
        if kind == "str":
            out[column] = out[column].astype(str)
    return out


def trial_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the rows of trial ``trial_id`` are stored."""
    return Path(run_dir) / "trials" / f"{trial_id}.parquet"


def raw_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the top-k ids of trial ``trial_id`` are stored."""
    return Path(run_dir) / "raw" / f"{trial_id}.npz"


def write_trial(run_dir: str | os.PathLike, trial_id: str, df: pd.DataFrame) -> Path:
    """Store the rows of one trial (atomically; the file marks the trial as done)."""
    path = trial_path(run_dir, trial_id)
    atomic_write_parquet(normalize(df), path)
    return path


def read_trial(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of one stored trial."""
    return normalize(pd.read_parquet(path))


def read_trials(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every stored trial of a run: trial id -> its rows (in file name order)."""
    folder = Path(run_dir) / "trials"
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
    run_dir = Path(run_dir)
    atomic_write_parquet(df, run_dir / "results.parquet")
    atomic_write_text(run_dir / "results.csv", df.to_csv(index=False))


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
    run_dir = Path(run_dir)
    trial_files = sorted((run_dir / "trials").glob("*.parquet"))
    table = run_dir / "results.parquet"
    if table.exists():
        df = normalize(pd.read_parquet(table))
        if not trial_files or set(df["trial_id"]) == {p.stem for p in trial_files}:
            return df
    if trial_files:
        return combine([read_trial(p) for p in trial_files])
    if (run_dir / "results.csv").exists():
        df = pd.read_csv(run_dir / "results.csv", keep_default_na=False,
                         na_values={c: ["", "NaN", "nan"] for c, k in COLUMNS.items()
                                    if k == "float"})
        return normalize(df)
    raise UserError("no results here (no results.parquet, results.csv or trials/)", path=run_dir)


def read_raw(run_dir: str | os.PathLike, trial_id: str) -> dict[str, np.ndarray]:
    """The raw arrays of a trial: ``users`` and ``top_<subset>_e<epoch>`` for each checkpoint.

    Top-k lists shared by two subsets (one pass serves both when train likes are not excluded)
    are stored once; the ``aliases`` entry of the file maps the others back, and this reader
    returns every key.
    """
    with np.load(raw_path(run_dir, trial_id), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for alias in arrays.pop("aliases", np.array([], dtype=str)):
        name, target = str(alias).split("=", 1)
        arrays[name] = arrays[target]
    return arrays


def read_run_info(run_dir: str | os.PathLike) -> dict:
    """``run.json`` of a run folder (empty dict when absent)."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
