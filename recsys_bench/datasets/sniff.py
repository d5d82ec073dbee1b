"""``datasets inspect``: guess how an interaction file is laid out and print the config for it.

The guess reads the first lines only: the delimiter, whether the first row is a header, and
which columns are the user, the item, a weight (rating, play count) and a timestamp, by header
name where there is one and by content otherwise. It is a starting point to check, not a
promise; ``datasets stats interactions`` with the printed options shows what it gives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from recsys_bench.datasets import tabular
from recsys_bench.errors import UserError

_NAME_HINTS = {
    "user": re.compile(r"user|uid|customer|member|visitor|client|account", re.IGNORECASE),
    "item": re.compile(r"item|movie|mid|product|song|track|artist|article|book|sku|model|"
                       r"video|game|doc|recipe|place", re.IGNORECASE),
    "timestamp": re.compile(r"time|date|^ts$|when|created", re.IGNORECASE),
    "weight": re.compile(r"rating|score|weight|play|count|value|click|quantity|stars", re.IGNORECASE),
}
_EPOCH_MIN = 1e8


@dataclass(frozen=True)
class Guess:
    """A guessed layout: ``options`` for the ``interactions`` data set, and what it rests on."""

    path: str
    kind: str
    names: tuple[str, ...]
    options: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def toml(self) -> str:
        """The ``[[datasets]]`` entry to paste into an experiment config."""
        pairs = ", ".join(f"{k} = {_toml_value(v)}" for k, v in self.options.items())
        return f'[[datasets]]\nname = "interactions"\noptions = {{ {pairs} }}\n'

    def command(self) -> str:
        """The ``datasets stats`` command that loads the file with these options."""
        parts = [f"--option {k}={_cli_value(v)}" for k, v in self.options.items()]
        return "recsys-bench datasets stats interactions " + " ".join(parts)


def guess(path: str | Path) -> Guess:
    """Guess the layout and column roles of an interaction file (delimited or Parquet)."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path=path)
    if tabular.is_parquet(path):
        return _guess_parquet(path)
    lay = tabular.layout(path)
    sample = tabular.head_text(path)
    rows = [tabular.split_line(line, lay.delimiter, lay.quote)
            for line in sample.splitlines() if line.strip()]
    rows = rows[1:] if lay.header else rows
    columns = [[r[j] for r in rows[:200] if j < len(r)] for j in range(len(lay.names))]
    roles = _roles(lay.names if lay.header else None, columns)
    options = {"path": str(path), "delimiter": lay.delimiter, "header": lay.header}
    notes = [f"delimiter {lay.delimiter!r}", "a header row" if lay.header else "no header",
             f"{len(lay.names)} columns"]
    compression = tabular.compression_of(path)
    if compression:
        notes.append(f"{compression}-compressed")
    if any('"' in v for column in columns for v in column):
        options["quote"] = None
        notes.append("quote characters inside fields: read as text")
    for role, j in roles.items():
        options[f"{role}_col"] = lay.names[j] if lay.header else j
    return Guess(str(path), "delimited", lay.names, options, tuple(notes))


def _guess_parquet(path: Path) -> Guess:
    try:
        with pq.ParquetFile(path) as parquet:
            table = (parquet.read_row_group(0, use_threads=False) if parquet.num_row_groups
                     else parquet.schema_arrow.empty_table())
    except (OSError, ValueError) as e:
        raise UserError(f"unreadable Parquet file: {e}", path=path) from None
    names = tuple(table.schema.names)
    columns = [[str(v) for v in table.column(j).slice(0, 200).to_pylist()]
               for j in range(len(names))]
    roles = _roles(names, columns)
    options = {"path": str(path)}
    options.update({f"{role}_col": names[j] for role, j in roles.items()})
    return Guess(str(path), "parquet", names, options, (f"Parquet, {len(names)} columns",))


def _roles(names: tuple[str, ...] | None, columns: list[list[str]]) -> dict[str, int]:
    """Column index per role, by header name first, then by content."""
    roles: dict[str, int] = {}
    if names:
        for role in ("user", "item", "timestamp", "weight"):
            for j, name in enumerate(names):
                if j not in roles.values() and _NAME_HINTS[role].search(name):
                    roles[role] = j
                    break
    free = [j for j in range(len(columns)) if j not in roles.values()]
    if "timestamp" not in roles:
        stamp = next((j for j in free if _looks_like_time(columns[j])), None)
        if stamp is not None:
            roles["timestamp"] = stamp
            free.remove(stamp)
    for role in ("user", "item"):
        if role not in roles and free:
            roles[role] = free.pop(0)
    if "weight" not in roles:
        weight = next((j for j in free if columns[j]
                       and all(tabular.is_number(v) for v in columns[j])), None)
        if weight is not None:
            roles["weight"] = weight
    if "user" not in roles or "item" not in roles:
        raise UserError("cannot tell a user and an item column apart (fewer than 2 columns?)")
    return dict(sorted(roles.items(), key=lambda kv: ("user", "item", "weight",
                                                       "timestamp").index(kv[0])))


def _looks_like_time(values: list[str]) -> bool:
    if not values:
        return False
    if all(tabular.is_number(v) for v in values):
        numbers = [float(v) for v in values]
        return min(numbers) > _EPOCH_MIN and all(n == int(n) for n in numbers)
    try:
        for v in values:
            datetime.fromisoformat(v.strip())
    except ValueError:
        return False
    return True


def _toml_value(value) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _cli_value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text == "\t":
        return "'\\t'"
    return text if re.fullmatch(r"[\w./:@+-]+", text) else "'" + text.replace("'", "'\\''") + "'"
