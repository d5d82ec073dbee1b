"""examples/own-data-and-model runs end to end, so it never rots: the example model passes the
exported conformance suite in its own folder (no fixtures of this project), the registered data
set variant runs with the inline executor, and the `interactions` config runs once that data set
exists."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_bench import datasets
from recsys_bench.store.table import read_results

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own-data-and-model"
MODULES = ("mymodels", "own_data", "run_registered")


@pytest.fixture
def in_example(monkeypatch):
    monkeypatch.chdir(EXAMPLE)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield EXAMPLE
    datasets.unregister("own-ratings")
    for name in MODULES:
        sys.modules.pop(name, None)


def example_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLE), str(ROOT)])
    return env


def check_run(run_dir: Path) -> None:
    table = read_results(run_dir)
    assert (table["status"] == "ok").all()
    assert set(table["model"]) == {"mymodels:PureSVD", "rp3beta", "popularity"}
    best = table.groupby("model")["precision_at_k"].mean()
    assert best["mymodels:PureSVD"] > 1.5 * best["popularity"], best.to_dict()
    assert "mymodels:PureSVD" in (run_dir / "report.md").read_text()


def test_the_example_model_passes_the_conformance_suite_in_its_own_folder():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_mymodels.py"], cwd=EXAMPLE, env=example_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(r"\b12 passed\b", done.stdout), done.stdout[-500:]


def test_the_registered_data_set_variant_runs_end_to_end(in_example, tmp_path):
    run_registered = importlib.import_module("run_registered")
    assert run_registered.main(str(tmp_path / "run")) == 0
    check_run(tmp_path / "run")


def test_the_interactions_config_runs_end_to_end(tmp_path):
    if "interactions" not in datasets.names():
        pytest.skip("the `interactions` data set is not registered in this version")
    done = subprocess.run([sys.executable, "-m", "recsys_bench", "run", "own.toml", "--out",
                           str(tmp_path / "run"), "--workers", "1", "--quiet"], cwd=EXAMPLE,
                          env=example_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    check_run(tmp_path / "run")


def test_the_guide_shows_the_example_model_verbatim():
    guide = (ROOT / "docs" / "writing-a-model.md").read_text()
    code = (EXAMPLE / "mymodels.py").read_text()
    assert f"```python\n{code}```" in guide
    assert len(code.splitlines()) <= 40
