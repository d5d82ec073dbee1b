"""bench/scripts/gpu_check.py: its CPU half runs here; its GPU half runs only with CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "scripts" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)
HAS_CUDA, WHY = gpu_check.cuda_status()
SMALL = ["--synthetic", "3000", "600", "40000", "--epochs", "2", "--factors", "8",
         "--threads", "1"]


def test_the_cpu_half_measures_epochs_and_quality_and_records_the_device(tmp_path):
    assert gpu_check.main([*SMALL, "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "run.json").read_text())
    cpu = [row for row in info["rows"] if row["device"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["epochs"] == 3
    assert 0 < cpu[0]["seconds_per_epoch_min"] <= cpu[0]["seconds_per_epoch_median"]
    assert 0 < cpu[0]["test_p@5_exclude_true"] <= 1
    assert info["data"]["likes"] == 40000 and info["cuda"] == WHY
    assert "gpus" in info["device"] and ("why" in info["device"] or info["device"]["driver"])
    if not HAS_CUDA:
        assert info["gpu_skipped"] == WHY and info["agreement"] == []


def test_agreement_allows_the_stated_tolerance_only():
    cpu = {"factors": 8, "seconds_per_epoch_median": 2.0, "test_p@5_exclude_false": 0.20,
           "test_p@5_exclude_true": 0.30}
    close = {**cpu, "seconds_per_epoch_median": 0.5, "test_p@5_exclude_false": 0.209,
             "test_p@5_exclude_true": 0.31}
    far = {**close, "test_p@5_exclude_true": 0.33}
    assert gpu_check.agreement(cpu, close, 0.05)["agree"]
    assert gpu_check.agreement(cpu, close, 0.05)["gpu_speedup"] == 4.0
    assert not gpu_check.agreement(cpu, far, 0.05)["agree"]


@pytest.mark.skipif(not HAS_CUDA, reason=f"no CUDA for implicit here: {WHY}")
def test_the_gpu_agrees_with_the_cpu(tmp_path):
    assert gpu_check.main([*SMALL, "--budget-s", "60", "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["agreement"] and all(a["agree"] for a in info["agreement"])
    assert info["device"]["driver"] and info["grid"]["settings_run"] >= 1
