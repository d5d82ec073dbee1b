"""A report as a list of blocks (headings, paragraphs, lists, tables, images) rendered both to
Markdown and to a self-contained HTML page, so the two never disagree."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def number_text(x, digits: int = 4) -> str:
    """A table number as text: an integer as is, a float with ``digits`` decimals, "—" for a
    missing or non-finite value (so every report table shows gaps alike)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{digits}f}"


def sort_value(x) -> float | str:
    """Sort key of a number cell: the float, or "" (sorted last) when missing."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return x if math.isfinite(x) else ""


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown and the value the HTML table sorts by (None: the text)."""

    text: str
    sort: float | str | None = None


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    sortable: bool = False


@dataclass
class Document:
    """Blocks rendered both to Markdown and to HTML, so the two reports never disagree."""

    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, table: Table) -> None:
        self.blocks.append(("table", table))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", path, alt))

    def include(self, other: Document, shift: int) -> None:
        """Append ``other``'s blocks, its headings ``shift`` levels deeper (a section of it)."""
        for block in other.blocks:
            self.blocks.append(("h", block[1] + shift, block[2]) if block[0] == "h" else block)

    def to_json(self) -> str:
        """The blocks as JSON, so another document can include them later (no images)."""
        def encode(block):
            if block[0] == "table":
                table = block[1]
                return ["table", table.columns, [[[c.text, c.sort] for c in row]
                                                 for row in table.rows], table.sortable]
            if block[0] == "img":
                raise ValueError("a document with images cannot be stored as JSON")
            return list(block)
        return json.dumps([encode(b) for b in self.blocks], indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Document:
        """The document :meth:`to_json` wrote."""
        blocks = []
        for block in json.loads(text):
            if block[0] == "table":
                rows = [[Cell(text, sort) for text, sort in row] for row in block[2]]
                blocks.append(("table", Table(block[1], rows, block[3])))
            else:
                blocks.append(tuple(block))
        return cls(blocks)


_INLINE = [(re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
           (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>")]


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Document, base: Path) -> str:
    """The document as GitHub-flavoured Markdown; images are linked relative to ``base``."""
    out = []
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"{'#' * block[1]} {block[2]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1].relative_to(base).as_posix()})")
        elif kind == "table":
            table = block[1]
            lines = ["| " + " | ".join(_md_cell(c) for c in table.columns) + " |",
                     "|" + "---|" * len(table.columns)]
            lines += ["| " + " | ".join(_md_cell(c.text) for c in row) + " |" for row in table.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
code{background:#f4f4f4;padding:0 3px}
"""

_JS = """
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.querySelectorAll("th");
  heads.forEach((th, col) => th.addEventListener("click", () => {
    const body = table.tBodies[0], rows = Array.from(body.rows);
    const dir = th.dataset.dir === "asc" ? "desc" : "asc";
    heads.forEach(h => delete h.dataset.dir);
    th.dataset.dir = dir;
    const key = r => r.cells[col].dataset.v ?? r.cells[col].textContent;
    const numeric = rows.every(r => key(r) === "" || !isNaN(parseFloat(key(r))));
    const val = r => numeric ? (key(r) === "" ? NaN : parseFloat(key(r))) : key(r);
    rows.sort((a, b) => {
      const x = val(a), y = val(b);
      if (numeric && (isNaN(x) || isNaN(y))) return isNaN(x) - isNaN(y);
      const c = numeric ? x - y : String(x).localeCompare(String(y));
      return dir === "asc" ? c : -c;
    });
    rows.forEach(r => body.appendChild(r));
  }));
}
"""


def render_html(doc: Document, title: str) -> str:
    """The document as one HTML page with images inlined and click-to-sort tables, no CDN."""
    out = []
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{_inline_html(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "img":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            out.append(f'<p><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                       f"</p>")
        elif kind == "table":
            table = block[1]
            cls = ' class="sortable"' if table.sortable else ""
            head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
            body = []
            for row in table.rows:
                cells = []
                for cell in row:
                    attr = "" if cell.sort is None else f' data-v="{html.escape(str(cell.sort))}"'
                    cells.append(f"<td{attr}>{html.escape(cell.text)}</td>")
                body.append("<tr>" + "".join(cells) + "</tr>")
            out.append(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                       f"</tbody></table>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(out) + f"\n<script>{_JS}</script>\n</body></html>\n")


# --------------------------------------------------------------------------- entry point
