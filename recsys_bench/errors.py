"""The exceptions the harness raises on purpose, and the OS errors that are not bugs.

The command line turns a :class:`UserError` (a :class:`CorruptFile` included) into one line on
stderr and exit status 2, with no traceback, and does the same for the OS errors that
:func:`os_error_line` recognises (permissions, a full or read-only file system, a path through
a file). :class:`TrainingDiverged` is a model's way to say that a setting diverged (a search
scores it 0 and goes on). Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os


class UserError(Exception):
    """Bad input: a missing file, a malformed row, an unknown name, an impossible value.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str or os.PathLike, optional
        The file at fault, if any.
    line : int, optional
        The 1-based line number in ``path``, where there is one.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 line: int | None = None):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


class TrainingDiverged(UserError):
    """A model's training diverged (non-finite weights or loss) for its parameters.

    Raised by adapters instead of returning garbage scores; a run records the trial as failed
    with this message and a search counts the setting as complete with the worst score.
    """


def one_line(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class CorruptFile(UserError):
    """A stored file that cannot be read back: truncated, damaged or not what its name says.

    The message names the file and what to do (move it aside or delete it, then rerun); the
    file itself is left untouched.
    """

    def __init__(self, path: str | os.PathLike, detail: str, *, advice: str | None = None):
        self.detail = detail
        super().__init__(f"unreadable or corrupt ({detail}); "
                         f"{advice or 'move it aside or delete it, then rerun'}", path=path)


# errno -> what the user can do about it, for the OS errors the command line turns into one line.
_OS_ADVICE = {
    errno.ENOSPC: "free some space (or use another --out) and rerun the same command to resume",
    errno.EDQUOT: "free some space (or use another --out) and rerun the same command to resume",
    errno.EACCES: "check the permissions or use another --out",
    errno.EPERM: "check the permissions or use another --out",
    errno.EROFS: "the file system is read-only; use another --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder; use another path",
    errno.EISDIR: "a folder is in the way of a file; use another path",
    errno.EEXIST: "something is in the way; use another path",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ENOENT: "check the path",
    errno.EIO: "the device reported an I/O error; check it and rerun",
}


# Errors of the storage itself: no trial can succeed until the user acts, so a run stops on
# them instead of recording failed trials.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the file system is full or read-only."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def os_error_line(exc: OSError) -> str | None:
    """One line for an OS error caused by the environment (permissions, a full or read-only
    file system, a path through a file), naming the path and what to do; None for others.
    """
    advice = _OS_ADVICE.get(exc.errno)
    if advice is None:
        return None
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    what = exc.strerror or os.strerror(exc.errno)
    return f"{os.fsdecode(where)}: {what}; {advice}" if where else f"{what}; {advice}"
