"""bench/scripts/topk_floor.py at a small size: every variant agrees, and the figures are there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from recsys_bench.eval import kernel

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "scripts" / "topk_floor.py"


def test_a_small_size_gives_ratios_and_one_thread_costs(tmp_path):
    out = tmp_path / "floor.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(SCRIPT), "--likes", "200k", "--rounds", "2",
                           "--epochs", "1", "--threads", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "200,000 likes" in done.stdout and "one thread: block_rows" in done.stdout
    (found,) = json.loads(out.read_text())["results"]
    assert found["likes"] == 200_000 and found["rounds"] == 2
    for name in ("topk", "full", "pruned", "numpy"):
        assert 0 < found[name]["min"] <= found[name]["median"] <= found[name]["max"]
    costs = found["costs"]
    assert costs["block_rows"] > 0
    assert costs["product_ns_per_score"] > 0
    assert costs["pruning_setup_ms"] > 0 and costs["path_sample_ms"] > 0
    assert ("kernel_ns_per_score" in costs) == (kernel.LIBRARY is not None)
