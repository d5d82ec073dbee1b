"""The Sketchfab files' CSV dialect, in one place for the reader and the writers.

The crawler wrote them with ``csv.writer(f, delimiter='|', quotechar='\\\\',
quoting=csv.QUOTE_MINIMAL)``: a field holding ``|``, a backslash, CR or LF is wrapped in
backslashes and a backslash inside it is doubled; lines end in CRLF; UTF-8.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

from recsys_bench.errors import UserError
from recsys_bench.fileio import atomic_open


class SketchfabDialect(csv.Dialect):
    delimiter = "|"
    quotechar = "\\"
    doublequote = True
    quoting = csv.QUOTE_MINIMAL
    lineterminator = "\r\n"
    skipinitialspace = False
    strict = True


def write_psv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write ``header`` and ``rows`` to ``path`` in the Sketchfab dialect, atomically.

    The file appears complete or not at all (temporary file in the same folder, then rename).
    """
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, dialect=SketchfabDialect)
        writer.writerow(header)
        writer.writerows(rows)


def require_line_end(path: str | os.PathLike) -> None:
    """Refuse a file whose last record has no line end.

    The writers end every record with CRLF, so a file cut short (a truncated copy or download)
    is the only way to lose it, and its last row would otherwise be read with a truncated value.

    Raises
    ------
    UserError
        Naming the file and its last line.
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) + 1
    raise UserError("the last record has no line end: the file looks cut short (a truncated "
                    "copy or download); restore the complete file", path=path, line=lines)
