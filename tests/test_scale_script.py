"""bench/scripts/scale.py: the refusal before any work, the stages at small sizes, a small run
end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "scripts" / "scale.py"


def run_script(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_netflix_over_the_budget_is_refused_before_any_work(tmp_path):
    done = run_script("end-to-end", "--shape", "netflix", "--memory-budget", "6G",
                      "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert line.count("\n") == 0 and "100480507 likes) needs about" in line
    assert "more than the memory budget of 6.44 GB (--memory-budget)" in line
    assert "nothing was generated" in line
    record = json.loads((tmp_path / "scale.json").read_text())
    assert record["refused"] and record["estimate_bytes"]["total"] > 6 * 2**30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scale.json"]


def test_a_dry_run_stops_after_the_estimate(tmp_path):
    done = run_script("end-to-end", "--shape", "ml20m", "--memory-budget", "64G", "--dry-run",
                      "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "scale.json").read_text())
    assert record["dry_run"] and record["likes"] == 20_000_263
    assert not (tmp_path / "config.toml").exists()


def test_stages_measure_each_stage_and_fit_slopes(tmp_path):
    done = run_script("stages", "--likes", "300k", "600k", "--threads", "1",
                      "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "stages.csv")
    assert sorted(set(table["stage"])) == ["epoch", "evaluation", "load", "split", "time_cut"]
    assert len(table) == 10 and (table["seconds"] > 0).all()
    payload = json.loads((tmp_path / "stages.json").read_text())
    assert set(payload["slopes"]) == set(table["stage"])
    for topk in payload["topk"]:
        assert topk["gemm_floor_seconds"] > 0 and topk["topk_seconds"] > 0
    assert (tmp_path / "stages.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_small_run_goes_end_to_end(tmp_path):
    done = run_script("end-to-end", "--likes", "300k", "--threads", "1", "--out",
                      str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "scale.json").read_text())
    assert [row["epoch"] for row in record["rows"]] == [5, 10, 15]
    assert all(row["status"] == "ok" for row in record["rows"])
    assert record["peak_tree_rss_bytes"] <= record["estimate_bytes"]["total"]
    assert record["wall_seconds"] > 0
    assert {"results.csv", "run.json", "report.md", "config.toml"} <= {
        p.name for p in tmp_path.iterdir()}
