"""The results board's data and files, from the report tests' hand-made run folder.

The fake run (see ``test_report._build_run``) stores raw top-k lists and splits, so every view
has data; copies of it are degraded, re-split or stripped to check the side-by-side marks, the
messages for absent data and the bad-input errors.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_report import _build_run, _no_figure

from recsys_bench import cli, fileio
from recsys_bench.analysis import board
from recsys_bench.errors import UserError
from recsys_bench.store import table as store

ALS8 = ("toy", "implicit-als", {"factors": 8}, 1)
GRID = Path(__file__).resolve().parents[1] / "results" / "sketchfab-wrmf-grid"


def _find(data: dict, dataset: str, model: str, params: dict, threads: int, run: int = 0):
    return next(s for s in data["settings"] if (s["dataset"], s["model"], s["params"],
                                                s["threads"], s["run"]) ==
                (dataset, model, params, threads, run))


def _page_data(page) -> dict:
    text = page.read_text(encoding="utf-8")
    found = re.search(r'<script id="board-data" type="application/json">(.*?)</script>', text,
                      re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def _asv_results(folder: Path) -> Path:
    """An asv results folder with one benchmark measured at three commits on one machine."""
    machine = folder / "ci"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "ci", "version": 1}))
    for i, seconds in enumerate((0.50, 0.45, 0.60)):
        commit = str(i + 1) * 40
        (machine / f"{commit[:8]}-env.json").write_text(json.dumps({
            "version": 2, "commit_hash": commit, "env_name": "env", "python": "3.11",
            "date": 1_700_000_000_000 + i * 86_400_000, "requirements": {},
            "params": {"machine": "ci", "python": "3.11"},
            "result_columns": ["result", "params"],
            "results": {"bench_fit.time_fit": [[seconds], []]}}))
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run, an identical copy, one with implicit-als factors=8 worse by 0.2, one re-split."""
    root = tmp_path_factory.mktemp("board")
    per_user = _build_run(root / "a")
    shutil.copytree(root / "a", root / "same")
    shutil.copytree(root / "a", root / "worse", ignore=shutil.ignore_patterns("raw"))
    table = store.read_results(root / "worse")
    hit = (table["model"] == "implicit-als") & (table["params"] == '{"factors": 8}')
    table.loc[hit, "precision_at_k"] -= 0.2
    store.write_table(table, root / "worse")
    shutil.copytree(root / "a", root / "resplit")
    table = store.read_results(root / "resplit")
    table.loc[table["dataset"] == "toy", "split_fingerprint"] = "0" * 64
    store.write_table(table, root / "resplit")
    return root, per_user


@pytest.fixture(scope="module")
def data(runs):
    return board.board_data([runs[0] / "a"])


def test_leaderboard_means_intervals_and_best_epoch(runs, data):
    table = pd.read_csv(runs[0] / "a" / "results.csv")
    row = _find(data, *ALS8)
    assert row["epoch"] == 4 and row["seeds"] == 3
    values = table[(table["dataset"] == "toy") & (table["model"] == "implicit-als")
                   & (table["params"] == '{"factors": 8}') & (table["threads"] == 1)
                   & (table["epoch"] == 4) & (table["subset"] == "test")]["precision_at_k"]
    low, high = sps.t.interval(0.95, 2, loc=values.mean(), scale=sps.sem(values))
    np.testing.assert_allclose(row["precision_at_k"], [values.mean(), low, high], rtol=1e-4)
    # Only the smallest thread count feeds quality; LightFM ran at 2 threads only.
    assert not any(s["model"] == "implicit-als" and s["threads"] == 2 for s in data["settings"])
    assert _find(data, "toy", "lightfm-warp", {"no_components": 8}, 2)["epoch"] == 6


def test_significance_marks(runs, data):
    best = _find(data, *ALS8)
    assert best["precision_at_k:sig"] == [None, 0, "best"]
    # The best LightFM setting is tested per user against the best, as in the report.
    root, per_user = runs
    ours = np.concatenate([per_user["toy", s, "lightfm-warp", '{"no_components": 8}', 2, 6]
                           for s in (0, 1, 2)])
    ref = np.concatenate([per_user["toy", s, "implicit-als", '{"factors": 8}', 1, 4]
                          for s in (0, 1, 2)])
    p, n, method = _find(data, "toy", "lightfm-warp", {"no_components": 8}, 2)[
        "precision_at_k:sig"]
    assert method == "users" and n == ours.size
    assert p == pytest.approx(sps.ttest_rel(ours, ref).pvalue, rel=1e-3)
    # Other settings are tested over the split seeds they share with the best.
    p, n, method = _find(data, "toy", "implicit-als", {"factors": 4}, 1)["precision_at_k:sig"]
    assert (n, method) == (3, "seeds") and p < 0.05
    # One seed: nothing to test.
    large = [s for s in data["settings"] if s["dataset"] == "toy-large"]
    assert all(s["precision_at_k:sig"][0] is None for s in large)


def test_curves_users_and_scaling(data):
    best = _find(data, *ALS8)
    index = data["settings"].index(best)
    curves = {(c["subset"], c["metric"]): c for c in data["curves"] if c["s"] == index}
    assert curves["test", "p"]["epoch"] == [2, 4, 6]
    assert curves["test", "p"]["mean"][1] == pytest.approx(best["precision_at_k"][0], rel=1e-4)
    assert curves["train", "p"]["low"] is not None and ("test", "mse") in curves
    toy = next(u for u in data["users"] if u.get("dataset") == "toy")
    models = {m["model"]: m for m in toy["models"]}
    assert set(models) == {"implicit-als", "lightfm-warp", "popularity"}
    als = models["implicit-als"]
    assert sum(als["counts"]) == als["n"]
    assert np.dot(als["values"], als["counts"]) / als["n"] == pytest.approx(
        best["precision_at_k"][0], rel=1e-3)
    threads = {(t["dataset"], t["model"], t["params"]): t for t in data["threads"]}
    als_threads = threads["toy", "implicit-als", "factors=8"]
    assert als_threads["threads"] == [1, 2]
    assert als_threads["speedup"][1] == pytest.approx(0.2 / 0.12, rel=1e-3)
    assert any(s["model"] == "implicit-als" and s["slope"] is not None for s in data["sizes"])


def test_side_by_side_marks_regressions_and_other_splits(runs):
    root = runs[0]
    data = board.board_data([root / "a", root / "worse", root / "resplit"])
    rows = {(r["dataset"], r["model"], r["params"], r["threads"]): r
            for r in data["compare"]["rows"]}
    als = rows["toy", "implicit-als", "factors=8", 1]
    assert als["verdicts"]["1"]["quality"]["precision_at_k"][4] is True
    assert not any(v[4] for r in rows.values() for m, v in
                   r["verdicts"].get("1", {}).get("quality", {}).items()
                   if (r["model"], r["params"]) != ("implicit-als", "factors=8"))
    assert data["compare"]["regressed"] == {"worse": True}
    assert any("resplit" in n and "splits differ" in n for n in data["compare"]["notes"])
    assert als["not_comparable"] == [2]
    assert rows["toy-large", "implicit-als", "factors=8", 1]["not_comparable"] == []
    worse = [u for u in data["users"] if u["run"] == "worse"]
    assert len(worse) == 1 and worse[0]["message"].startswith("worse: no per-user data")


def test_bad_input_is_one_clear_line(tmp_path, runs):
    with pytest.raises(UserError, match="no such run folder"):
        board.board_data([tmp_path / "absent"])
    (tmp_path / "stuff").mkdir()
    with pytest.raises(UserError, match="not a run folder"):
        board.board_data([tmp_path / "stuff"])
    empty = tmp_path / "empty"
    empty.mkdir()
    fileio.atomic_write_json(empty / "run.json", {"experiment": "x", "status": "running"})
    with pytest.raises(UserError, match=r"empty run.*still in progress"):
        board.board_data([empty])
    failed = tmp_path / "failed"
    shutil.copytree(runs[0] / "a", failed)
    table = store.read_results(failed)
    store.write_table(table[table["status"] != "ok"], failed)
    with pytest.raises(UserError, match="none of its 1 trial"):
        board.board_data([failed])


def test_run_in_progress_is_marked(tmp_path, runs):
    running = tmp_path / "running"
    shutil.copytree(runs[0] / "a", running)
    info = store.read_run_info(running)
    fileio.atomic_write_json(running / "run.json", {**info, "status": "running"})
    data = board.board_data([running])
    assert data["runs"][0]["in_progress"] is True


def test_cli_writes_a_site_and_shares_the_library(tmp_path, runs, capsys):
    root = runs[0]
    assert cli.main(["board", str(root / "a"), "--out", str(tmp_path / "site")]) == 0
    page = tmp_path / "site" / "index.html"
    assert capsys.readouterr().out.strip() == str(page)
    text = page.read_text(encoding="utf-8")
    assert f'<script src="{board.LIBRARY_NAME}">' in text and "cdn" not in text.lower()
    assert (tmp_path / "site" / board.LIBRARY_NAME).stat().st_size > 500_000
    assert _page_data(page)["settings"]
    lib = tmp_path / "lib"
    assert cli.main(["board", str(root / "a"), "--out", str(tmp_path / "b"),
                     "--lib-dir", str(lib)]) == 0
    assert f'<script src="../lib/{board.LIBRARY_NAME}">' in (
        tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert not (tmp_path / "b" / board.LIBRARY_NAME).exists()
    # Rewritten in place without --lib-dir, a board keeps its link to the shared copy.
    board.write_board([root / "a"], tmp_path / "b")
    assert not (tmp_path / "b" / board.LIBRARY_NAME).exists()
    assert cli.main(["board", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_compare_writes_its_chart(tmp_path, runs, capsys):
    root = runs[0]
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(root / "a"), str(root / "worse"), "--board", str(out)]) == 1
    assert "comparison chart:" in capsys.readouterr().err
    data = _page_data(out / "index.html")
    assert data["compare"]["regressed"] == {"worse": True}


def test_report_writes_a_board(tmp_path, runs, monkeypatch):
    from recsys_bench.analysis import plots, report

    for name in ("learning_curve", "grid_traces", "quality_vs_time", "thread_speedup",
                 "fit_time_vs_likes"):  # the board is under test, not the PNGs
        monkeypatch.setattr(plots, name, _no_figure)
    run = tmp_path / "run"
    shutil.copytree(runs[0] / "a", run)
    report.write_report(run)
    assert _page_data(run / "board" / "index.html")["settings"]


@pytest.mark.skipif(not (GRID / "results.csv").exists(), reason="the committed grid run is absent")
def test_the_grid_page_stays_within_its_size_budget(tmp_path):
    page = board.write_board([GRID], tmp_path / "grid")
    data = _page_data(page)
    assert len(data["settings"]) == 180
    assert {len(c["epoch"]) for c in data["curves"]} == {19}
    assert page.stat().st_size < 1_000_000  # docs/board.md: under 1 MB for the 180x19 grid


def test_asv_history_and_its_bad_folders(tmp_path):
    from recsys_bench.analysis.board_parts import asv_history

    history = asv_history(_asv_results(tmp_path / "asv"))
    (series,) = history["series"]
    assert (series["name"], series["machine"]) == ("bench_fit.time_fit", "ci")
    assert [p[2] for p in series["points"]] == [0.5, 0.45, 0.6]
    assert [p[1] for p in series["points"]] == ["11111111", "22222222", "33333333"]
    assert series["points"][0][0].startswith("2023-11-14")
    with pytest.raises(UserError, match="no such asv results folder"):
        asv_history(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no asv results here"):
        asv_history(tmp_path / "empty")


def test_run_names_are_unique_and_short(tmp_path):
    names = board._unique_names
    assert names([tmp_path / "x" / "run", tmp_path / "y" / "run"]) == ["x/run", "y/run"]
    assert names([tmp_path / "run", tmp_path / "run"]) == ["run #1", "run #2"]
    assert names([tmp_path / "a", tmp_path / "b"]) == ["a", "b"]
