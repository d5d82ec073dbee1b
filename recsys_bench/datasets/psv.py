"""The Sketchfab files' CSV dialect, in one place for the reader and the writers.

The crawler wrote them with ``csv.writer(f, delimiter='|', quotechar='\\\\',
quoting=csv.QUOTE_MINIMAL)``: a field holding ``|``, a backslash, CR or LF is wrapped in
backslashes and a backslash inside it is doubled; lines end in CRLF; UTF-8.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

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
