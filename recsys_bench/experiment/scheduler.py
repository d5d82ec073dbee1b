"""The one scheduler of run and search trials: which job starts when, and which ran too long.

A :class:`Job` is an executor :class:`~recsys_bench.experiment.executors.Task` with what the
scheduler needs to place it: its threads, whether it must run alone on the machine
(thread-scaling trials, so a neighbour does not disturb their timings) and its time limit. The
scheduler never runs more jobs at once than ``max_workers``, never asks for more threads at once
than the executor's budget, never starts jobs whose memory estimates together exceed the memory
budget (:mod:`recsys_bench.experiment.memory`), starts exclusive jobs only on an empty machine,
and stops a job past its ``timeout_s``. It pulls jobs from an iterator only when one could
start, so a search asks its sampler for a trial only when a slot is free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from recsys_bench.experiment.tasks import Executor, Task
from recsys_bench.experiment.trial import now


@dataclass(frozen=True)
class Job:
    """A task with the facts the scheduler places it by."""

    task: Task
    threads: int
    exclusive: bool = False
    timeout_s: float = math.inf
    memory_bytes: int = 0

    @property
    def key(self) -> str:
        return self.task.trial_id


@dataclass(frozen=True)
class Running:
    """A started job: when it started (monotonic seconds and as a timestamp)."""

    job: Job
    started: float
    started_at: str


class Scheduler:
    """Runs jobs on ``pool`` within its budget and reports each one's end.

    Parameters
    ----------
    pool : Executor
        Where jobs run.
    max_workers : int
        Most jobs at once.
    on_done : callable
        ``on_done(running, result)`` with the task's return value.
    on_lost : callable
        ``on_lost(running, status, error)`` when the executor lost the job (``"failed"``) or it
        ran past its time (``"timeout"``, after the executor stopped it).
    probes : recsys_bench.yardstick.Probes, optional
        When a calibration probe is due between jobs, no new job starts until the running ones
        end, so the probe measures the machine rather than the run's own jobs.
    memory_budget : int, optional
        Bytes the running jobs' ``memory_bytes`` may add up to (None: no limit). A job over the
        budget on its own starts only on an empty machine (the runner refuses those first).
    """

    def __init__(self, pool: Executor, *, max_workers: int,
                 on_done: Callable[[Running, object], None],
                 on_lost: Callable[[Running, str, str], None], probes=None,
                 memory_budget: int | None = None):
        self.pool = pool
        self.probes = probes
        self.max_workers = max_workers
        self.on_done = on_done
        self.on_lost = on_lost
        self.memory_budget = memory_budget
        self.running: dict[str, Running] = {}

    def fits(self, job: Job) -> bool:
        """Whether ``job`` may start beside the running ones."""
        if not self.running:
            return True
        if job.exclusive or any(r.job.exclusive for r in self.running.values()):
            return False
        if len(self.running) >= self.max_workers:
            return False
        if self.memory_budget is not None:
            used = sum(r.job.memory_bytes for r in self.running.values())
            if used + job.memory_bytes > self.memory_budget:
                return False
        busy = sum(r.job.threads for r in self.running.values())
        return busy + job.threads <= self.pool.budget()

    def run(self, jobs: Iterator[Job]) -> None:
        """Run every job of ``jobs`` to its end (or stop); exceptions propagate with the
        unfinished jobs left in :attr:`running` for the caller to account for."""
        jobs = iter(jobs)
        head: Job | None = None
        exhausted = False
        while True:
            more = head is not None or not exhausted
            probe = more and self.probes is not None and self.probes.due()
            if probe and not self.running:
                self.probes.take("between")
                probe = False
            while not probe:
                if head is None and not exhausted and len(self.running) < self.max_workers:
                    head = next(jobs, None)
                    exhausted = head is None
                if head is None or not self.fits(head):
                    break
                self.running[head.key] = Running(head, time.monotonic(), now())
                self.pool.start(head.task)
                head = None
            if not self.running:
                if exhausted and head is None:
                    return
                continue
            self.wait()

    def wait(self) -> None:
        """Wait for the next end (at most until the first deadline) and report it."""
        deadline = min(r.started + r.job.timeout_s for r in self.running.values())
        for done in self.pool.wait(min(60.0, max(0.0, deadline - time.monotonic()) + 0.05)):
            entry = self.running.pop(done.trial_id, None)
            if entry is None:          # a late result of a job already stopped
                continue
            if done.status is None:
                self.on_done(entry, done.result)
            else:
                self.on_lost(entry, done.status, done.error)
        for key, entry in list(self.running.items()):
            if time.monotonic() - entry.started > entry.job.timeout_s:
                how = self.pool.cancel(key)
                del self.running[key]
                self.on_lost(entry, "timeout",
                             f"exceeded timeout_s = {entry.job.timeout_s:g} and {how}")
