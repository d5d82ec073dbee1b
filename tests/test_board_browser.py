"""The results board in a real browser: Debian's headless Chromium driven by Playwright.

Skipped, with one line saying why, where the ``chromium`` executable or the ``playwright``
package is missing (``.ci/run`` installs both). Screenshots of every view are written to the
test's temporary folder, or to ``$RECSYS_BENCH_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_board import _asv_results
from test_report import _build_run

from recsys_bench import fileio
from recsys_bench.analysis import board
from recsys_bench.store import table as store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium executable (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install playwright)")

GRID = Path(__file__).resolve().parents[1] / "results" / "sketchfab-wrmf-grid"
VIEWS = ("leaderboard", "tradeoff", "curves", "heatmap", "users", "scaling", "runs", "asv")
# The fake runs vary one parameter per model: no grid to lay out (the grid run checks that view).
NO_CHART = {"heatmap"}
# Every chart in the shown view: plotted, sized, and with drawn marks; "blank" lists the others.
CHARTS = """(view) => {
  const el = document.getElementById('view-' + view);
  const charts = [...el.querySelectorAll('.chart')];
  const blank = charts.filter((gd) => {
    const svg = gd.querySelector('.main-svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    const marks = gd.querySelectorAll('.scatterlayer path, .barlayer path, .heatmaplayer image');
    return !gd.data || !gd.data.length || box.width < 50 || box.height < 50 || !marks.length;
  }).map((gd) => gd.id || '(no id)');
  return { charts: charts.length, blank, notes: el.querySelectorAll('.empty-note').length };
}"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """A board of three fake runs (one degraded, one re-split and in progress), asv history."""
    root = tmp_path_factory.mktemp("board-browser")
    _build_run(root / "a")
    shutil.copytree(root / "a", root / "worse", ignore=shutil.ignore_patterns("raw"))
    table = store.read_results(root / "worse")
    hit = (table["model"] == "implicit-als") & (table["params"] == '{"factors": 8}')
    table.loc[hit, "precision_at_k"] -= 0.2
    store.write_table(table, root / "worse")
    shutil.copytree(root / "a", root / "resplit")
    table = store.read_results(root / "resplit")
    table.loc[table["dataset"] == "toy", "split_fingerprint"] = "0" * 64
    store.write_table(table, root / "resplit")
    info = store.read_run_info(root / "resplit")
    fileio.atomic_write_json(root / "resplit" / "run.json", {**info, "status": "running"})
    page = board.write_board([root / "a", root / "worse", root / "resplit"], root / "site",
                             asv_dir=_asv_results(root / "asv"))
    return root, page


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def _open(browser, page_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page, errors


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RECSYS_BENCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_view_renders_without_errors(browser, sites, tmp_path):
    _, path = sites
    page, errors = _open(browser, path)
    shots = _shots(tmp_path)
    for view in VIEWS:
        page.click(f"button[data-view={view}]")
        page.wait_for_timeout(150)
        found = page.evaluate(CHARTS, view)
        if view in NO_CHART:
            assert found["charts"] == 0 and found["notes"] == 1
        else:
            assert found["charts"] > 0, f"view {view} drew no chart"
        assert found["blank"] == [], f"view {view}: blank charts {found['blank']}"
        page.screenshot(path=str(shots / f"board-{view}.png"), full_page=True)
    # Where raw/ is absent the per-user view says so instead of drawing nothing.
    page.click("button[data-view=users]")
    assert "worse: no per-user data" in page.inner_text("#view-users")
    page.click("button[data-view=runs]")
    text = page.inner_text("#view-runs")
    assert "REGRESSED precision_at_k (worse)" in text
    assert "not comparable (resplit: other splits)" in text
    assert "resplit: experiment fake-grid" in page.inner_text("#runs")
    assert page.locator("#runs .warn").all_inner_texts() == [
        "run still in progress: numbers are partial"]
    assert errors == []
    page.close()


def test_filters_change_the_rows_shown(browser, sites):
    page, errors = _open(browser, sites[1])
    rows = "#lb-table tbody tr"
    before = page.locator(rows).count()
    page.fill("#f-param", "factors=4")
    page.wait_for_timeout(100)
    after = page.locator(rows).count()
    assert 0 < after < before
    assert all("factors=4" in t for t in page.locator(f"{rows} td:nth-child(3)").all_inner_texts())
    page.fill("#f-param", "")
    page.select_option("#f-model", "popularity")
    assert page.locator(rows).count() == 3  # one per run
    page.click("#lb-table th[data-key=model]")
    assert errors == []
    page.close()


def test_hover_shows_the_setting_and_click_picks_it(browser, sites):
    page, errors = _open(browser, sites[1])
    page.select_option("#f-model", "lightfm-warp")
    page.click("button[data-view=tradeoff]")
    page.wait_for_selector("#to-chart .main-svg")
    x, y = page.evaluate("""() => {
      const gd = document.getElementById('to-chart');
      const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      const box = gd.getBoundingClientRect();
      const px = box.left + xa._offset + xa.l2p(Math.log10(gd.data[0].x[0]));
      const py = box.top + ya._offset + ya.l2p(gd.data[0].y[0]);
      return [px, py];
    }""")
    page.mouse.move(x, y)
    page.wait_for_selector("#to-chart .hoverlayer .hovertext", timeout=5_000)
    assert "no_components=8" in page.text_content("#to-chart .hoverlayer")
    page.mouse.click(x, y)
    page.wait_for_function("document.getElementById('to-picked').textContent.length > 0")
    page.click("button[data-view=curves]")
    assert "lightfm-warp (no_components=8)" in page.inner_text("#view-curves .chips")
    assert errors == []
    page.close()


@pytest.mark.skipif(not (GRID / "results.csv").exists(), reason="the committed grid run is absent")
def test_the_180_setting_grid_board_is_interactive(browser, tmp_path):
    """The grid's board loads and filters (its 2 s target is a benchmark:
    bench/scripts/board_timing.py, not a timed test)."""
    path = board.write_board([GRID], tmp_path / "grid")
    page, errors = _open(browser, path)
    assert page.evaluate("window.boardReady") > 0
    rows = page.evaluate("""() => {
      const input = document.getElementById('f-param');
      input.value = 'factors=80';
      input.dispatchEvent(new Event('input'));
      return document.querySelectorAll('#lb-table tbody tr').length;
    }""")
    assert rows == 36  # 180 settings, 5 factor values
    page.fill("#f-param", "")
    page.click("button[data-view=heatmap]")
    found = page.evaluate(CHARTS, "heatmap")
    assert found["charts"] == 6 and found["blank"] == []  # factors x regularization per alpha
    titles = page.evaluate("[...document.querySelectorAll('#hm-panels .gtitle')]"
                           ".map((t) => t.textContent)")
    assert titles == [f"alpha = {a}" for a in (1, 10, 50, 100, 500, 1000)]
    page.screenshot(path=str(_shots(tmp_path) / "board-grid-heatmap.png"), full_page=True)
    assert errors == []
    page.close()
