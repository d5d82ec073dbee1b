"""The result store: atomic files, one schema, a table readable from whatever is on disk."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from recsys_bench import fileio
from recsys_bench.errors import UserError
from recsys_bench.store import table as store


def rows(trial_id: str, n: int = 2, **extra) -> pd.DataFrame:
    return pd.DataFrame({"trial_id": [trial_id] * n, "model": ["m"] * n, "epoch": range(1, n + 1),
                         "subset": ["test"] * n, "precision_at_k": np.linspace(0.1, 0.2, n),
                         "status": ["ok"] * n, "threads": [1] * n, **extra})


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    fileio.atomic_write_text(path, "one")
    fileio.atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["f.txt"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "t.parquet"
    fileio.atomic_write_parquet(rows("a"), path)

    class Boom:
        def to_parquet(self, *args, **kwargs):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        fileio.atomic_write_parquet(Boom(), path)
    assert len(pd.read_parquet(path)) == 2
    assert os.listdir(tmp_path) == ["t.parquet"]


def test_normalize_gives_every_column_in_order_with_stable_types():
    df = store.normalize(rows("a", extra_column=[7, 8]))
    assert list(df.columns)[:len(store.columns())] == list(store.columns())
    assert list(df.columns)[-1] == "extra_column"
    assert df["mse"].isna().all() and df["mse"].dtype == np.float64
    assert df["epoch"].dtype == np.int64 and df["exclude_train"].dtype == bool
    assert (df["error"] == "").all() and (df["dataset"] == "").all()
    with_none = store.normalize(pd.DataFrame({"error": [None, "x"], "status": ["ok", "failed"]}))
    assert list(with_none["error"]) == ["", "x"]


def test_table_round_trips_through_parquet_and_csv(tmp_path):
    df = store.combine([rows("a"), rows("b", 3)])
    df.loc[0, "params"] = '{"alpha": 1, "b": "x, y"}'
    df.loc[1, "error"] = 'ValueError: bad "quote", comma'
    store.write_table(df, tmp_path)
    parquet = store.read_results(tmp_path)
    pd.testing.assert_frame_equal(parquet, df)
    (tmp_path / "results.parquet").unlink()
    csv = store.read_results(tmp_path)
    pd.testing.assert_frame_equal(csv, df, check_dtype=False)


def test_read_results_prefers_the_trial_files_when_the_table_is_behind(tmp_path):
    store.write_trial(tmp_path, "a", rows("a"))
    store.write_table(store.combine([rows("a")]), tmp_path)
    assert set(store.read_results(tmp_path)["trial_id"]) == {"a"}
    store.write_trial(tmp_path, "b", rows("b"))  # finished after the last table rewrite
    df = store.read_results(tmp_path)
    assert sorted(df["trial_id"].unique()) == ["a", "b"] and len(df) == 4
    assert set(store.read_trials(tmp_path)) == {"a", "b"}


def test_read_results_of_an_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no results"):
        store.read_results(tmp_path)


def test_raw_aliases_are_expanded(tmp_path):
    top = np.arange(10, dtype=np.int32).reshape(5, 2)
    fileio.atomic_save_npz(store.raw_path(tmp_path, "t"), {
        "users": np.arange(5), "top_test_e2": top,
        "aliases": np.asarray(["top_train_e2=top_test_e2"])})
    raw = store.read_raw(tmp_path, "t")
    assert set(raw) == {"users", "top_test_e2", "top_train_e2"}
    np.testing.assert_array_equal(raw["top_train_e2"], top)


def test_run_info_is_empty_when_absent(tmp_path):
    assert store.read_run_info(tmp_path) == {}
    fileio.atomic_write_json(tmp_path / "run.json", {"a": [1, 2]})
    assert store.read_run_info(tmp_path) == {"a": [1, 2]}
