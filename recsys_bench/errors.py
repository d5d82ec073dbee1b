"""The exceptions the harness raises on purpose.

The command line turns a :class:`UserError` into one line on stderr and exit status 2, with no
traceback. :class:`TrainingDiverged` is a model's way to say that a setting diverged (a search
scores it 0 and goes on). Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

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
