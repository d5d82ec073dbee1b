"""Safe file handling: atomic writes, readers that name the file they choke on, folder locks.

Every writer of the project lives here and goes through :func:`atomic_open`: the data goes to a
temporary file in the destination folder, which is flushed, given the usual permissions and
renamed into place.
A crash or ``kill -9`` leaves at most a hidden ``.NAME.*.tmp`` file, never half a result.

Readers of stored results wrap their reads in :func:`reading`, which turns whatever a damaged
file makes the parser raise into one :class:`~recsys_bench.errors.CorruptFile` naming the file.

A run or search folder is held by one process at a time through :class:`RunLock`.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_bench.errors import CorruptFile, UserError, os_error_line

if TYPE_CHECKING:
    import pandas as pd

LOCK_NAME = ".lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    ``mode`` and ``kwargs`` are those of :func:`open` (``"w"`` with ``encoding`` for text).
    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = os.fspath(path)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (non-JSON values as their ``str``)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], *,
                    compressed: bool = True) -> None:
    """Save ``arrays`` as one ``.npz`` file atomically."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as Parquet atomically."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def reading(path: str | os.PathLike, *, advice: str | None = None) -> Iterator[None]:
    """Turn a failure to parse ``path`` into :class:`~recsys_bench.errors.CorruptFile`.

    A missing file (:class:`FileNotFoundError`) and OS errors of the environment (permissions,
    see :func:`~recsys_bench.errors.os_error_line`) pass through unchanged: the file is not at
    fault. ``advice`` replaces the default "move it aside or delete it, then rerun".
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os_error_line(exc) is not None:
            raise
        raise CorruptFile(path, _detail(exc), advice=advice) from None
    except (ValueError, EOFError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise CorruptFile(path, _detail(exc), advice=advice) from None


def _detail(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- folder lock

class RunLock:
    """An exclusive lock on a run or search folder, held by one process for a whole session.

    The lock is ``fcntl.flock`` on ``FOLDER/.lock``, a file that also holds the holder's pid,
    start time and host (for the message a second process gets). The kernel drops a flock when
    its holder dies however it dies, so a lock file left by a killed run is stale by
    construction and simply taken over. The file descriptor is not inherited by worker
    processes. On release the file is removed while still locked; a process that opened the
    old file in that moment notices (different inode) and tries again.

    On NFS, Linux clients implement ``flock`` with the server's byte-range locks (NFSv4, or
    NLM for v3), so two machines sharing the folder exclude each other as long as the share is
    not mounted with ``nolock`` or ``local_lock=flock``; with those options the lock only
    excludes processes on the same machine. A lock held by a machine that crashed is released
    when the server's lease expires (about 90 s for NFSv4).

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to lock; created (with its parents) if missing.
    what : str
        What holds it, for messages ("run", "search").
    """

    def __init__(self, folder: str | os.PathLike, what: str = "run"):
        self.folder = Path(folder)
        self.what = what
        self.path = self.folder / LOCK_NAME
        self.fd: int | None = None
        self.previous: dict | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`~recsys_bench.errors.UserError` naming the holder."""
        import fcntl

        if self.folder.exists() and not self.folder.is_dir():
            raise UserError("not a folder; use another --out", path=self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise UserError(f"another {self.what} is using this folder "
                                f"({_describe(holder)}); wait for it to end or use another --out",
                                path=self.folder) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        self.previous = _holder(fd) or None
        record = {"pid": os.getpid(), "started_at": _now(), "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Give the lock up and remove its file; safe to call twice."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> dict:
    """The holder record in an open lock file ({} when empty or unreadable)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        record = json.loads(text) if text else {}
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "a process that is just starting"
    text = f"pid {holder.get('pid', '?')}, started {holder.get('started_at', '?')}"
    host = holder.get("host")
    if host and host != socket.gethostname():
        text += f" on {host}"
    return text


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
