"""The Sketchfab files' CSV dialect, in one place for the reader and the writers.

The crawler wrote them with ``csv.writer(f, delimiter='|', quotechar='\\\\',
quoting=csv.QUOTE_MINIMAL)``: a field holding ``|``, a backslash, CR or LF is wrapped in
backslashes and a backslash inside it is doubled; lines end in CRLF; UTF-8.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, dialect=SketchfabDialect)
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
