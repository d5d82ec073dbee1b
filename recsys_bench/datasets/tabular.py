"""Fast reading of interaction tables: delimited text (any delimiter, plain or gzip/bz2/zstd)
and Parquet, into integer id codes and float columns.

Delimited text is parsed by ``pyarrow.csv`` (C++); ids are dictionary-encoded while parsing, so
millions of rows never become Python strings. Only when something is wrong does a plain Python
pass over the text find the first bad line, to name it as ``file:line``.

Arrow's reader runs on its threads, but never together with a Python callback for bad rows
(``on_bad_rows="skip"`` reads on one thread): the two together made the process abort at exit now
and then ("terminate called without an active exception", 3 to 5 of 80 runs here, none of 80
without the callback; compare apache/arrow#34314).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsys_bench.errors import UserError

ID, TEXT, NUMBER, TIME = "id", "text", "number", "time"
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd"))
_CANDIDATES = ("\t", ",", ";", "|", "::", " ")
_SPLIT_CHAR = "\x1f"
_SAMPLE_BYTES = 1 << 16
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class Layout:
    """How a delimited file is laid out: its delimiter, whether it has a header, column names."""

    delimiter: str
    header: bool
    names: tuple[str, ...]
    quote: str | None = '"'


@dataclass(frozen=True)
class Columns:
    """What :func:`read` returns.

    Attributes
    ----------
    codes : dict
        Per id role, ``(codes, uniques)``: int64 code per kept row and the distinct ids.
    values : dict
        Per number or time role, float64 per kept row (times in seconds since the epoch).
    rows : int
        Data rows in the file (bad ones included).
    bad_rows : int
        Rows skipped under ``on_bad_rows="skip"``.
    first_bad : str or None
        Where and why the first skipped row was bad.
    """

    codes: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    rows: int = 0
    bad_rows: int = 0
    first_bad: str | None = None


def compression_of(path: Path) -> str | None:
    """``gzip``, ``bz2`` or ``zstd`` from the file's first bytes, else None."""
    with open(path, "rb") as f:
        start = f.read(4)
    return next((name for magic, name in _MAGIC if start.startswith(magic)), None)


def is_parquet(path: Path) -> bool:
    """Whether the file starts with Parquet's magic bytes."""
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def open_stream(path: Path):
    """A binary stream of the file's decompressed bytes."""
    return pa.input_stream(str(path), compression=compression_of(path))


def head_text(path: Path, encoding: str = "utf-8", n_bytes: int = _SAMPLE_BYTES) -> str:
    """The first complete lines of the (decompressed) file, about ``n_bytes`` of them."""
    try:
        with open_stream(path) as stream:
            data = stream.read(n_bytes + 1)
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"cannot read: {e}", path=path) from None
    if len(data) > n_bytes and b"\n" in data:
        data = data[:data.rindex(b"\n") + 1]
    return data.decode(encoding, errors="replace").lstrip("\ufeff")


def split_line(line: str, delimiter: str, quote: str | None = '"') -> list[str]:
    """Fields of one line (quotes honoured for one-character delimiters)."""
    if len(delimiter) > 1 or quote is None:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter, quotechar=quote), [])


def sniff_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the sample's lines into the same number (> 1) of
    fields most consistently; ties go to the earlier of tab, comma, ``;``, ``|``, ``::``, space."""
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    best, best_score = ",", (0, 0)
    for delimiter in _CANDIDATES:
        counts = [len(line.split(delimiter)) for line in lines]
        if not counts or max(counts) < 2:
            continue
        common = max(set(counts), key=counts.count)
        score = (counts.count(common), common)
        if common > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number."""
    return bool(_NUMBER.match(text))


def guess_header(rows: list[list[str]]) -> bool:
    """True when the first row looks like names: a column numeric below is not numeric in it,
    or no field of the first row is a number while some field below is."""
    if len(rows) < 2:
        return bool(rows) and not any(is_number(v) for v in rows[0])
    first, rest = rows[0], rows[1:]
    for j, value in enumerate(first):
        below = [r[j] for r in rest if j < len(r)]
        if below and all(is_number(v) for v in below) and not is_number(value):
            return True
    return not any(is_number(v) for v in first) and any(is_number(v) for r in rest for v in r)


def layout(path: Path, delimiter: str | None = None, header: bool | None = None,
           quote: str | None = '"', encoding: str = "utf-8") -> Layout:
    """The layout of a delimited file, guessing what is not given from its first lines."""
    sample = head_text(path, encoding)
    if delimiter is None:
        delimiter = sniff_delimiter(sample)
    rows = [split_line(line, delimiter, quote) for line in sample.splitlines()[:50]
            if line.strip()]
    if not rows:
        raise UserError("empty file", path=path)
    if header is None:
        header = guess_header(rows)
    width = max(len(r) for r in rows[:20])
    names = (tuple(rows[0]) if header
             else tuple(f"column {j}" for j in range(width)))
    return Layout(delimiter=delimiter, header=bool(header), names=names, quote=quote)


def resolve(names: tuple[str, ...], spec, option: str, path: Path) -> int:
    """Index of the column ``spec`` (a name, or a 0-based position) among ``names``."""
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
        raise UserError(f"{option} must be a column name or a 0-based position, got {spec!r}")
    if isinstance(spec, int):
        if not 0 <= spec < len(names):
            raise UserError(f"{option}={spec}: no such column (the file has {len(names)}, "
                            f"positions 0 to {len(names) - 1})", path=path)
        return spec
    if spec not in names:
        raise UserError(f"{option}={spec!r}: no such column; columns: "
                        f"{', '.join(map(repr, names))}", path=path)
    return names.index(spec)


def read(path: str | os.PathLike, roles: dict[str, tuple[object, str]], *,
         delimiter: str | None = None, header: bool | None = None, quote: str | None = '"',
         encoding: str = "utf-8", on_bad_rows: str = "error") -> Columns:
    """Read the columns named in ``roles`` from a delimited or Parquet file.

    Parameters
    ----------
    path : path
        The file; Parquet is recognised by its magic bytes, compression likewise.
    roles : dict
        ``role -> (column, kind)``: a column name or 0-based position, and ``"id"``,
        ``"text"`` (an id that may be empty), ``"number"`` or ``"time"`` (epoch seconds or
        ISO 8601).
    delimiter, header, quote, encoding
        Of delimited text; None guesses the delimiter and header (see :func:`layout`).
        ``quote=None`` (or ``""``) reads quote characters as ordinary text.
    on_bad_rows : {"error", "skip"}
        A row with the wrong number of fields, an empty id, or a number or time that does not
        parse: a :class:`UserError` naming ``file:line`` and the column, or skipped and counted.

    Returns
    -------
    Columns
    """
    path = Path(path)
    quote = quote or None
    if on_bad_rows not in ("error", "skip"):
        raise UserError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
    if not path.is_file():
        raise UserError("no such file", path=path)
    if is_parquet(path):
        return _read_parquet(path, roles, on_bad_rows)
    lay = layout(path, delimiter, header, quote, encoding)
    index = {role: resolve(lay.names, spec, f"{role}_col", path)
             for role, (spec, _) in roles.items()}
    return _read_delimited(path, lay, index, {r: k for r, (_, k) in roles.items()},
                           encoding, on_bad_rows)


def _read_delimited(path, lay: Layout, index, kinds, encoding, on_bad_rows) -> Columns:
    sample = head_text(path, encoding)
    try:
        return _parse(path, lay, index, kinds, encoding, on_bad_rows, sample, guess=True)
    except _GuessFailed:
        return _parse(path, lay, index, kinds, encoding, on_bad_rows, sample, guess=False)


class _GuessFailed(Exception):
    """Ids or times that were integers or numbers in the first lines are not, further down."""


def _parse(path, lay: Layout, index, kinds, encoding, on_bad_rows, sample: str,
           guess: bool) -> Columns:
    """One pass of the Arrow parser. With ``guess``, ids that are integers in the sample are
    parsed as int64 (several times faster than text) and numeric times as numbers; if a later
    value is not, :class:`_GuessFailed` asks for a second pass reading them as text."""
    names = [f"c{j}" for j in range(len(lay.names))]
    skip = on_bad_rows == "skip"
    types, guessed = {}, False
    for role, j in index.items():
        kind = kinds[role]
        if kind == ID and guess and _numeric_column(sample, lay, j, integer=True):
            types[names[j]], guessed = pa.int64(), True
        elif kind in (ID, TEXT):
            types[names[j]] = pa.dictionary(pa.int32(), pa.string())
        elif kind == TIME and guess and not skip and _numeric_column(sample, lay, j):
            types[names[j]], guessed = pa.float64(), True
        elif skip or kind == TIME:
            types[names[j]] = pa.string()
        else:
            types[names[j]] = pa.float64()
    invalid = []

    def handler(row):
        invalid.append(row.text)
        return "skip"

    delimiter, source = lay.delimiter, None
    try:
        if len(delimiter) > 1:
            with open_stream(path) as stream:
                raw = stream.read()
            source, delimiter = pa.BufferReader(
                raw.replace(lay.delimiter.encode(encoding), _SPLIT_CHAR.encode())), _SPLIT_CHAR
            del raw
        else:
            source = open_stream(path)
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(lay.header),
                                           encoding=encoding, block_size=1 << 24,
                                           use_threads=not skip),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                              quote_char=lay.quote or False,
                                              invalid_row_handler=handler if skip else None),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=[names[j] for j in set(index.values())],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as e:
        if guessed:
            raise _GuessFailed() from None
        if skip:
            raise UserError(f"cannot parse: {e}", path=path) from None
        raise _locate(path, lay, index, kinds, encoding, str(e)) from None
    except OSError as e:
        raise UserError(f"cannot read: {e}", path=path) from None
    finally:
        if source is not None:
            source.close()
    table = table.unify_dictionaries()
    rows = table.num_rows + len(invalid)
    columns, bad = _convert(table, {role: names[j] for role, j in index.items()}, kinds)
    if bad.any() and not skip:
        if guessed:
            raise _GuessFailed()
        raise _locate(path, lay, index, kinds, encoding, "a bad value")
    first_bad = f"{invalid[0]!r}" if invalid else None
    if bad.any() and first_bad is None:
        first_bad = f"data row {int(np.flatnonzero(bad)[0]) + 1}"
    return _keep(columns, bad, rows, len(invalid) + int(bad.sum()), first_bad)


def _numeric_column(sample: str, lay: Layout, j: int, integer: bool = False) -> bool:
    rows = [split_line(line, lay.delimiter, lay.quote) for line in sample.splitlines()[1:50]
            if line.strip()]
    values = [r[j].strip() for r in rows if j < len(r)]
    if integer:
        return bool(values) and all(v.isdigit() and len(v) < 18 for v in values)
    return bool(values) and all(is_number(v) for v in values)


def _convert(table: pa.Table, column: dict[str, str], kinds: dict[str, str]):
    """Codes and floats from the read table, and a mask of the rows with a bad value."""
    n = table.num_rows
    bad = np.zeros(n, dtype=bool)
    out = {}
    for role, name in column.items():
        col = table.column(name)
        if kinds[role] in (ID, TEXT):
            codes, uniques, missing = _codes(col, empty_ok=kinds[role] == TEXT)
            bad |= missing
            out[role] = (codes, uniques)
        else:
            values = _floats(col, kinds[role])
            bad |= np.isnan(values)
            out[role] = values
    return out, bad


def _codes(col: pa.ChunkedArray, empty_ok: bool = False):
    """int64 codes, distinct ids (object array) and the mask of missing (or empty) ids."""
    if pa.types.is_integer(col.type):
        missing = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else \
            np.zeros(len(col), dtype=bool)
        if col.null_count:
            col = col.fill_null(0)
        values = col.to_numpy(zero_copy_only=False)
        codes, uniques = _dense_codes(values)
        return codes, uniques, missing
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col.combine_chunks() if col.num_chunks else
                                   pa.array([], col.type))
        col = pa.chunked_array([col])
    if col.num_chunks == 0:
        return np.empty(0, np.int64), np.empty(0, object), np.zeros(0, bool)
    uniques = col.chunk(0).dictionary.to_numpy(zero_copy_only=False)
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                            for c in col.chunks]).astype(np.int64)
    missing = codes < 0
    if uniques.dtype == object and not empty_ok:
        empty = np.flatnonzero([not str(u).strip() for u in uniques])
        if len(empty):
            missing |= np.isin(codes, empty)
    return codes, uniques.astype(object) if uniques.dtype.kind in "OU" else uniques, missing


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of integer ids numbered in ascending order: by a presence table when the ids are
    non-negative and not much larger than their count (one pass, no hashing), else by sorting."""
    if len(values) and values.min() >= 0 and values.max() < 4 * len(values) + (1 << 20):
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[values] = True
        return (np.cumsum(present) - 1)[values], np.flatnonzero(present).astype(values.dtype)
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64, copy=False), uniques


def _floats(col: pa.ChunkedArray, kind: str) -> np.ndarray:
    """float64 values (seconds for times); NaN where a value is missing or does not parse."""
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        col = pc.cast(col, pa.timestamp("s", tz=getattr(col.type, "tz", None)))
        return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) \
            or pa.types.is_boolean(col.type) or pa.types.is_decimal(col.type):
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        return values if values.flags.writeable else values.copy()
    text = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    if kind == TIME:
        todo = np.isnan(values) & text.notna().to_numpy()
        if todo.any():
            stamps = pd.to_datetime(text[todo], utc=True, format="ISO8601", errors="coerce")
            seconds = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
            values[todo] = seconds.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _keep(columns: dict, bad: np.ndarray, rows: int, n_bad: int, first_bad) -> Columns:
    codes, values = {}, {}
    keep = ~bad if bad.any() else None
    for role, value in columns.items():
        if isinstance(value, tuple):
            codes[role] = (value[0] if keep is None else value[0][keep], value[1])
        else:
            values[role] = value if keep is None else value[keep]
    return Columns(codes=codes, values=values, rows=rows, bad_rows=n_bad, first_bad=first_bad)


def _locate(path: Path, lay: Layout, index, kinds, encoding, detail: str) -> UserError:
    """The first bad row of a delimited file, as a :class:`UserError` naming file:line."""
    width = len(lay.names)
    with open_stream(path) as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
        lines = enumerate(text, 1)
        if lay.header:
            next(lines, None)
        for number, line in lines:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = split_line(line, lay.delimiter, lay.quote)
            if len(fields) != width:
                return UserError(f"expected {width} fields, found {len(fields)}",
                                 path=path, line=number)
            for role, j in index.items():
                problem = _problem(fields[j], kinds[role])
                if problem:
                    column = lay.names[j] if lay.header else f"column {j}"
                    return UserError(f"{role} column {column!r}: {problem}",
                                     path=path, line=number)
    return UserError(f"cannot parse ({detail})", path=path)


def _problem(value: str, kind: str) -> str | None:
    if kind == TEXT:
        return None
    if kind == ID:
        return None if value.strip() else "empty id"
    if is_number(value):
        return None
    if kind == TIME:
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            return f"{value!r} is neither epoch seconds nor an ISO 8601 time"
        return None
    return f"{value!r} is not a number"


def _read_parquet(path: Path, roles, on_bad_rows) -> Columns:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"unreadable Parquet file: {e}", path=path) from None
    names = tuple(schema.names)
    column = {role: names[resolve(names, spec, f"{role}_col", path)]
              for role, (spec, _) in roles.items()}
    kinds = {role: kind for role, (_, kind) in roles.items()}
    try:
        table = pq.read_table(path, columns=sorted(set(column.values())), use_threads=False)
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"unreadable Parquet file: {e}", path=path) from None
    table = table.unify_dictionaries()
    for role, name in column.items():
        kind = table.schema.field(name).type
        if kinds[role] == NUMBER and not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                          or pa.types.is_decimal(kind)):
            raise UserError(f"{role} column {name!r} holds {kind}, not numbers", path=path)
    columns, bad = _convert(table, column, kinds)
    if bad.any() and on_bad_rows == "error":
        row = int(np.flatnonzero(bad)[0]) + 1
        role = next(r for r in column if _bad_at(columns[r], row - 1))
        raise UserError(f"row {row}: {role} column {column[role]!r} is empty or does not parse",
                        path=path)
    first_bad = f"row {int(np.flatnonzero(bad)[0]) + 1}" if bad.any() else None
    return _keep(columns, bad, table.num_rows, int(bad.sum()), first_bad)


def _bad_at(value, i: int) -> bool:
    if isinstance(value, tuple):
        codes, uniques = value
        return codes[i] < 0 or not str(uniques[codes[i]]).strip()
    return bool(np.isnan(value[i]))
