"""How fast the WRMF grid's board (180 settings x 19 epochs) becomes interactive in a browser.

The board's target: ready (the leaderboard drawn, ``window.boardReady`` ms after navigation) plus
one filter change (table and chart redrawn) under 2 s. Loads the board ``--loads`` times in
headless Chromium (Debian's ``chromium``, driven by Playwright's Python API) and prints the median
and range of each, so a busy machine shows as a wide range rather than a failed test.

Usage::

    python bench/scripts/board_timing.py [--run results/sketchfab-wrmf-grid] [--loads 9]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from recsys_bench.analysis import board

FILTER = """() => {
  const t0 = performance.now();
  const input = document.getElementById('f-param');
  input.value = 'factors=80';
  input.dispatchEvent(new Event('input'));
  return performance.now() - t0;
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="results/sketchfab-wrmf-grid", help="a run folder")
    parser.add_argument("--loads", type=int, default=9, help="page loads (default: 9)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("board_timing: error: no chromium executable (apt-get install chromium)",
              file=sys.stderr)
        return 2
    from playwright import sync_api

    ready, filtering = [], []
    with tempfile.TemporaryDirectory() as folder, sync_api.sync_playwright() as playwright:
        page_path = board.write_board([Path(args.run)], Path(folder) / "board")
        browser = playwright.chromium.launch(executable_path=chromium)
        for _ in range(args.loads):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            ready.append(page.evaluate("window.boardReady"))
            filtering.append(page.evaluate(FILTER))
            page.close()
        browser.close()
    total = [r + f for r, f in zip(ready, filtering)]
    for name, values in (("ready", ready), ("filter", filtering), ("ready + filter", total)):
        print(f"{name:>15}: median {statistics.median(values):7.0f} ms, "
              f"range {min(values):.0f}-{max(values):.0f} ms over {len(values)} loads")
    met = statistics.median(total) < 2000
    print(f"target ready + filter < 2000 ms: median {'met' if met else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
