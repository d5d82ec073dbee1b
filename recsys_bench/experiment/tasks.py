"""What every executor runs and answers with: :class:`Task` in, :class:`Done` out, and the
:class:`Executor` interface the scheduler drives (see :mod:`recsys_bench.experiment.executors`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Done:
    """A task an executor is done with.

    ``status`` None: the task returned ``result``. Otherwise ``"failed"`` with ``error`` saying
    why the executor lost it (a dead worker, a cluster error, the task's exception). A task
    that found the file system full or read-only is sent back with its ``OSError`` as
    ``result`` and the executor raises it: the run stops instead of recording trials that
    failed for want of space.
    """

    trial_id: str
    status: str | None = None
    error: str = ""
    result: Any = None


@dataclass(frozen=True)
class Task:
    """Work for an executor: ``function(*args, cache=cache)``.

    ``function`` must be a module-level function of an installed module (workers receive it
    pickled, by name) and ``args`` picklable; ``threads`` is what the task asks of a Dask
    worker's ``threads`` resource.
    """

    trial_id: str
    function: Callable
    args: tuple = ()
    threads: int = 1

    def run(self, cache: OrderedDict) -> Any:
        """Call the function here with ``cache``; returns its value."""
        return self.function(*self.args, cache=cache)


class Executor(Protocol):
    """What the scheduler (:mod:`recsys_bench.experiment.scheduler`) needs from a place that
    runs tasks."""

    name: str

    def info(self) -> dict:
        """Facts for the session entry of ``run.json`` (``executor``, ``scheduler``)."""

    def budget(self) -> int:
        """Threads that the trials running at once may use together."""

    def slots(self, workers: int | None) -> int:
        """Most trials at once, given the user's ``--workers`` (None: not given)."""

    def start(self, task: Task) -> None:
        """Start a task; one that cannot start is reported by :meth:`wait`."""

    def wait(self, timeout: float) -> list[Done]:
        """The trials done since the last call, waiting up to ``timeout`` s for one."""

    def cancel(self, trial_id: str) -> str:
        """Stop a running trial (past its timeout); returns how, e.g. ``"was killed"``."""

    def close(self) -> None:
        """Stop every running trial and release workers; safe to call twice."""
