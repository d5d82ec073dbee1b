"""The board's HTML: one page with the data inlined as JSON and the views drawn in the browser.

The page's script and style live in ``board_assets/`` (package data) and are inlined, so the
page needs only itself and the chart library, whose relative path is given, and opens from
``file://`` without a network.
"""

from __future__ import annotations

import html
import json
from importlib import resources

VIEWS = (
    ("leaderboard", "Leaderboard"),
    ("tradeoff", "Quality vs fit time"),
    ("curves", "Learning curves"),
    ("heatmap", "Grid heatmaps"),
    ("users", "Per-user metrics"),
    ("scaling", "Scaling"),
    ("runs", "Runs side by side"),
    ("asv", "asv history"),
)


def _asset(name: str) -> str:
    return (resources.files("recsys_bench.analysis") / "board_assets" / name).read_text(
        encoding="utf-8")


def _json_for_script(data: dict) -> str:
    """``data`` as compact JSON that cannot end its ``<script>`` element early."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render(data: dict, library_src: str) -> str:
    """The board page of ``data`` (see :func:`recsys_bench.analysis.board.board_data`).

    Parameters
    ----------
    data : dict
        The board's data.
    library_src : str
        Relative URL of ``plotly.min.js`` from the page.
    """
    tabs = "".join(f'<button class="tab" data-view="{key}">{html.escape(label)}</button>'
                   for key, label in VIEWS)
    sections = "".join(f'<section class="view" id="view-{key}" hidden></section>'
                       for key, _ in VIEWS)
    title = html.escape(data["title"])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_asset("board.css")}</style>
<script src="{html.escape(library_src)}"></script>
</head>
<body>
<header>
<h1>{title}</h1>
<div id="runs"></div>
<div id="controls">
<label>data set <select id="dataset"></select></label>
<label>metric <select id="metric"></select></label>
<label>model <select id="f-model"></select></label>
<label>params contain <input id="f-param" type="search" placeholder="e.g. factors=80"></label>
<label>threads <select id="f-threads"></select></label>
<span id="shown"></span>
</div>
<nav>{tabs}</nav>
</header>
<main>{sections}</main>
<footer>Built {html.escape(data["generated"])} by recsys-bench board from stored results.
Intervals: Student-t 95% over split seeds. Significance vs the best setting of the run and data
set: paired t-test (per user from raw top-k lists where stored, else over split seeds);
* p&lt;0.05, ** p&lt;0.01, *** p&lt;0.001, ns: not significant, –: not testable.</footer>
<script id="board-data" type="application/json">{_json_for_script(data)}</script>
<script>{_asset("board.js")}</script>
</body>
</html>
"""
