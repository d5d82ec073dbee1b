"""bench/scripts/rounding_check.py: its lockstep comparison is exact when nothing is nudged, it sees a
nudge, and a folder without a split is a one-line error."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_bench.splits import make_split

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "scripts" / "rounding_check.py"
spec = importlib.util.spec_from_file_location("rounding_check", SCRIPT)
rounding_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rounding_check)

PARAMS = {"factors": 6, "regularization": 0.0, "alpha": 50}


@pytest.fixture(scope="module")
def split(small_train):
    return make_split(small_train, "user_holdout", seed=0, split_count=2, fraction=0.5)


def test_an_untouched_twin_matches_bit_for_bit(split):
    report = rounding_check.compare(split, PARAMS, [2, 4, 6], relative=0.0)
    assert set(report["largest_difference"]) == {"train_precision", "train_mse",
                                                  "test_precision", "test_mse"}
    assert all(gap == 0.0 for gap in report["largest_difference"].values())
    assert report["epochs_over_1e-6"] == {}


def test_a_nudge_shows_in_the_mse(split):
    report = rounding_check.compare(split, PARAMS, [2, 4, 6], relative=1e-3)
    assert report["largest_difference"]["train_mse"] > 0
    assert 2 in report["epochs_over_1e-6"].get("train_mse", [])


def test_a_folder_without_a_split_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "no split in" in done.stderr and "Traceback" not in done.stderr
