"""bench/scripts/performance.py runs end to end on its quick profile and rejects bad options cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "scripts" / "performance.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def test_quick_t5_writes_json_and_table(tmp_path):
    out = tmp_path / "performance.json"
    done = run_script("--quick", "--only", "T5", "--repeats", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert payload["quick"] is True and payload["repeats"] == 2
    assert payload["targets_run"] == ["T5"]
    rows = payload["rows"]
    assert [row["target"] for row in rows] == ["T5", "T5"]
    for row in rows:
        measured = row["measured"]
        assert len(measured["values"]) == 2
        assert 0 < measured["min"] <= measured["median"] <= measured["max"]
        assert row["met"] == (measured["median"] <= row["goal"]["value"])
    assert "| T5 |" in done.stdout and "| met |" in done.stdout


def test_unknown_target_is_a_one_line_error(tmp_path):
    done = run_script("--quick", "--only", "T9", "--out", str(tmp_path / "p.json"))
    assert done.returncode == 2
    assert "unknown target(s) T9" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "p.json").exists()
