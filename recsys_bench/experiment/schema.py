"""The one TOML reader: files in, checked values out, every mistake a ``UserError`` with file:line.

:func:`read_toml` reads a file; :class:`Reader` walks the parsed tables for the experiment
parser (:mod:`recsys_bench.experiment.config`) and the search parser
(:mod:`recsys_bench.experiment.search_config`), so both report errors the same way: the key
path, the message, the file and, where it can be found, the line.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from recsys_bench.errors import UserError


def read_text(path: str | os.PathLike, what: str = "config") -> str:
    """The text of a config file; a missing or unreadable file is a ``UserError``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {what}: {exc}", path=path) from None


def parse_toml(text: str, path: str | os.PathLike | None = None) -> dict:
    """Parse TOML ``text``; a syntax error is a ``UserError`` naming ``path`` and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise UserError(f"not valid TOML: {exc}", path=path,
                        line=int(line.group(1)) if line else None) from None


def read_toml(path: str | os.PathLike, what: str = "config") -> tuple[dict, str]:
    """Parse the TOML file ``path``: ``(tables, text)``."""
    text = read_text(path, what)
    return parse_toml(text, path), text


def option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of a command-line ``--option``: the value read as a TOML value (number,
    true/false, quoted string), ``none`` as None, else as text with ``\\t``-style escapes read.

    Raises
    ------
    UserError
        ``text`` is not ``KEY=VALUE`` with a name for a key.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise UserError(f"--option {text!r}: expected KEY=VALUE")
    if value.lower() == "none":
        return key, None
    for candidate in (value, json.dumps(value).replace("\\\\", "\\")):
        try:
            return key, tomllib.loads(f"v = {candidate}")["v"]
        except (tomllib.TOMLDecodeError, ValueError):
            continue
    return key, value


class Reader:
    """Checks values of a parsed TOML document, raising ``UserError`` with the key path, the
    file and the key's line.

    Key paths are tuples such as ``("models", 2, "grid", "factors")``.
    """

    def __init__(self, raw: dict, text: str, path: str | os.PathLike | None):
        self.raw = raw
        self.text = text
        self.path = None if path is None else Path(path)

    def fail(self, where: tuple, message: str):
        name = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in where)
        name = name.replace(".[", "[")
        raise UserError(f"{name}: {message}" if name else message, path=self.path,
                        line=find_line(self.text, where))

    def table(self, value: Any, where: tuple, allowed: set[str], required: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a table, got {kind(value)}")
        for key in value:
            if key not in allowed:
                self.fail(where + (key,), f"unknown key; allowed: {', '.join(sorted(allowed))}")
        for key in required:
            if key not in value:
                self.fail(where + (key,), "missing (required)")
        return value

    def options(self, value: Any, where: tuple) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a table, got {kind(value)}")
        return value

    def integer(self, value: Any, where: tuple, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be an integer, got {kind(value)}")
        if value < minimum:
            self.fail(where, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, value: Any, where: tuple) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false, got {kind(value)}")
        return value

    def seconds(self, value: Any, where: tuple) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e308:
            self.fail(where, f"must be a positive number of seconds, got {value!r}")
        return float(value)

    def string(self, value: Any, where: tuple, choices: tuple | list | None = None) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, f"must be a non-empty string, got {kind(value)}")
        if (bad := control_character(value)) is not None:
            self.fail(where, f"must not contain control characters, found {bad!r} in {value!r}")
        if choices is not None and value not in choices:
            self.fail(where, f"unknown {where[-1]} {value!r}; known: {', '.join(choices)}")
        return value

    def string_list(self, value: Any, where: tuple, choices: tuple | list | None = None
                    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list of strings")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(where, f"item {i} must be a string, got {kind(item)}")
            if choices is not None and item not in choices:
                self.fail(where, f"unknown value {item!r}; known: {', '.join(choices)}")
            if item in out:
                self.fail(where, f"{item!r} is listed twice")
            out.append(item)
        return tuple(out)


def control_character(text: str) -> str | None:
    """The first control character (NUL, a line break, ...) in ``text``, or None: names and
    labels end up in file names, tables and single-line messages, where those break things."""
    return next((c for c in text if ord(c) < 32 or ord(c) == 127), None)


def kind(value: Any) -> str:
    """The TOML kind of ``value`` in words, for messages."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def find_line(text: str, where: tuple) -> int | None:
    """Best-effort 1-based line of the key path ``where`` in the TOML ``text``.

    Tracks ``[table]`` / ``[[array]]`` headers, then prefers a line ``first = {... last = ...}``
    (inline tables), then ``last = ...``, then ``first = ...``, then the section's header.
    """
    if not where:
        return None
    section: tuple = ()
    counts: dict[str, int] = {}
    best: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        array = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]$", stripped)
        table = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]$", stripped)
        if array or table:
            parts = tuple((array or table).group(1).split("."))
            if array:
                counts[parts[0]] = counts.get(parts[0], -1) + 1
            section = parts if parts[0] not in counts else (parts[0], counts[parts[0]]) + parts[1:]
            if tuple(where[:len(section)]) == section:
                best[3] = number
            continue
        if not section and len(where) > 1 or tuple(where[:len(section)]) != section:
            continue
        rest = [p for p in where[len(section):] if isinstance(p, str)]
        if not rest:
            continue
        first, last = (re.escape(rest[0]), re.escape(rest[-1]))
        if re.match(rf"^{first}\s*=", stripped):
            if len(rest) > 1 and re.search(rf"[{{,]\s*{last}\s*=", stripped):
                best.setdefault(0, number)
            best.setdefault(2, number)
        elif re.match(rf"^{last}\s*=", stripped):
            best.setdefault(1, number)
    return best[min(best)] if best else None
