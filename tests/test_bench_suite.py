"""The asv suite in bench/asv is well-formed and every benchmark runs on the fast profile.

``asv check`` validates discovery and signatures; then each suite is imported here (fast profile)
and its ``setup_cache``, ``setup`` and every benchmark method run once for the first parameter
combination, so a benchmark broken by an API change fails ``make test``, not only the nightly
asv run.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "bench" / "asv"
PREFIXES = ("time_", "peakmem_", "track_", "mem_")


def load_suite(name: str = "recsys_bench_asv_suite"):
    """Import bench/asv as a package under ``name`` (bench/asv is not importable as ``asv``)."""
    spec = importlib.util.spec_from_file_location(
        name, SUITE / "__init__.py", submodule_search_locations=[str(SUITE)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return {p.stem: importlib.import_module(f"{name}.{p.stem}") for p in sorted(SUITE.glob("*.py"))
            if p.stem != "__init__"}


@pytest.fixture(scope="module")
def suite(monkeypatch_module):
    monkeypatch_module.setenv("RECSYS_BENCH_ASV_FAST", "1")
    modules = load_suite()
    yield modules
    for name in [m for m in sys.modules if m.startswith("recsys_bench_asv_suite")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def benchmark_classes(modules):
    for module_name, module in modules.items():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and any(
                    name.startswith(PREFIXES) for name in dir(cls)):
                yield module_name, cls


def test_asv_config_keeps_results_out_of_the_repository():
    config = json.loads((ROOT / "asv.conf.json").read_text())
    assert config["benchmark_dir"] == "bench/asv"
    assert all(config[key].startswith(".asv/") for key in ("env_dir", "results_dir",
                                                           "html_dir"))
    assert config["branches"] == ["main"]
    assert {"implicit", "lightfm-next", "numpy"} <= set(config["matrix"]["req"])
    assert ".asv/" in (ROOT / ".gitignore").read_text().split()


def test_asv_check_passes():
    env = {**os.environ, "RECSYS_BENCH_ASV_FAST": "1"}
    done = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def test_fast_profile_is_tiny(suite):
    common = suite["common"]
    assert common.FAST and common.SIZES == ("tiny",)
    assert common.Benchmark.repeat == 1 and common.Benchmark.rounds == 1


def test_suites_declare_matching_params(suite):
    found = list(benchmark_classes(suite))
    names = {f"{m}.{cls.__name__}.{attr}" for m, cls in found for attr in dir(cls)
             if attr.startswith(PREFIXES)}
    assert {"bench_fit.FitEpoch.time_fit_epoch", "bench_fit.FitMemory.peakmem_fit",
            "bench_quality.Trained.time_recommend", "bench_quality.Trained.time_evaluate",
            "bench_quality.Trained.track_precision_at_k", "bench_quality.Trained.track_mse",
            "bench_load.LoadFiles.time_load"} <= names
    for _, cls in found:
        assert issubclass(cls, suite["common"].Benchmark)
        assert len(cls.params) == len(cls.param_names)
        for attr in dir(cls):
            if attr.startswith("track_"):
                assert getattr(getattr(cls, attr), "unit", ""), f"{cls.__name__}.{attr} has no unit"
    fit = suite["bench_fit"].FitEpoch
    assert fit.param_names == ["model", "threads", "size"]
    assert set(fit.params[0]) == {"implicit-als", "numpy-als", "lightfm-warp"}


def test_every_benchmark_runs_once(suite, tmp_path, monkeypatch):
    """setup_cache, setup, the benchmark and teardown of the first parameter combination."""
    monkeypatch.chdir(tmp_path)
    caches = {}
    for _, cls in benchmark_classes(suite):
        instance = cls()
        has_cache = "setup_cache" in dir(cls)
        if has_cache:
            key = cls.setup_cache.__qualname__
            if key not in caches:
                caches[key] = cls.setup_cache(instance)
        first = next(itertools.product(*cls.params))
        args = ((caches[cls.setup_cache.__qualname__],) if has_cache else ()) + first
        for attr in sorted(a for a in dir(cls) if a.startswith(PREFIXES)):
            if hasattr(instance, "setup"):
                instance.setup(*args)
            value = getattr(instance, attr)(*args)
            if attr.startswith("track_"):
                assert isinstance(value, float) and value == value, (cls.__name__, attr, value)
            if hasattr(instance, "teardown"):
                instance.teardown(*args)
