"""Tie a worker process's life to its parent's from its first statement.

Imported by a fresh worker interpreter before anything slow (numpy, pandas, the models), so
that there is no window in which a worker can outlive its parent or print a
``KeyboardInterrupt`` traceback:

* SIGINT is ignored (the parent alone handles Ctrl-C and stops its workers; workers also run
  in their own process group, so a terminal's Ctrl-C does not reach them at all);
* on Linux the kernel kills the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
* the parent's pid comes on the command line, taken before the worker existed, so a parent
  that died before the death signal was armed is noticed at once (the worker then exits), and
  :func:`parent_alive` can be asked before every write.

The kernel's death signal follows the *thread* that started the worker, so an executor must
be driven by one thread that outlives its workers (the runner and the search close their
executor before their thread ends). This module imports only the standard library.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
ORPHANED = 3


def bind_to_parent(parent: int) -> bool:
    """Ignore SIGINT, ask for SIGKILL when the parent dies, and exit if it is already gone.

    Parameters
    ----------
    parent : int
        The pid of the process that started this one.

    Returns
    -------
    bool
        Whether the kernel's death signal is armed (Linux only); elsewhere the caller must
        watch :func:`parent_alive`.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    armed = _death_signal(signal.SIGKILL)
    if not parent_alive(parent):
        os._exit(ORPHANED)
    return armed


def parent_alive(parent: int) -> bool:
    """Whether ``parent`` is still this process's parent (an orphan is re-parented)."""
    return os.getppid() == parent


def _death_signal(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
