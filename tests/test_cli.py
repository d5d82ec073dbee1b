"""The command line end to end: real subprocesses, real files, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recsys_bench.datasets.psv import write_psv


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys_bench", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write_tiny_sketchfab(folder, n_users=12, n_items=8):
    """Every user likes every item except one: a dense little set that survives 5/5."""
    rows = [(f"model {i}", f"{i:032x}", f"{u + 100:032x}")
            for i in range(n_items) for u in range(n_users) if (u + i) % n_items]
    write_psv(folder / "model_likes_anon.psv", ["modelname", "mid", "uid"], rows)
    feats = [(f"{i:032x}", "tag", f"T{i % 3}") for i in range(n_items)]
    write_psv(folder / "model_feats.psv", ["mid", "type", "value"], feats)
    return len(rows)


def test_help_has_examples():
    out = cli("--help")
    assert out.returncode == 0
    assert "examples:" in out.stdout and "recsys-bench run" in out.stdout
    for command in (["datasets", "--help"], ["run", "--help"], ["report", "--help"],
                    ["datasets", "stats", "--help"]):
        result = cli(*command)
        assert result.returncode == 0 and "example" in result.stdout, command


def test_datasets_list_names_every_source():
    out = cli("datasets", "list")
    assert out.returncode == 0
    for name in ("sketchfab", "sketchfab-synthetic", "movielens-100k", "synthetic"):
        assert name in out.stdout


def test_stats_json_on_sketchfab_files(tmp_path):
    n_rows = write_tiny_sketchfab(tmp_path)
    out = cli("datasets", "stats", "sketchfab", "--path", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["likes_before"] == n_rows and stats["duplicates_dropped"] == 0
    assert stats["users"] == 12 and stats["items"] == 8 and stats["likes"] == n_rows
    assert stats["features"] == 3 and stats["feature_nonzeros"] == 8
    assert stats["density_percent"] == pytest.approx(100 * n_rows / 96, rel=1e-6)


def test_stats_thresholds_from_the_command_line(tmp_path):
    write_tiny_sketchfab(tmp_path)
    out = cli("datasets", "stats", "sketchfab", "--path", str(tmp_path), "--json",
              "--min-user-likes", "8")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, needle", [
    (["datasets", "stats", "no-such-data"], "unknown dataset"),
    (["datasets", "stats", "sketchfab", "--path", "/nonexistent/folder"], "/nonexistent/folder"),
    (["datasets", "stats", "movielens-100k", "--seed", "3"], "--seed"),
])
def test_bad_input_is_one_line_without_traceback(args, needle):
    out = cli(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
