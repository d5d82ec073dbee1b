"""The ``dask`` executor: each task runs on a ``distributed`` cluster
(``Client(scheduler_address)``) and its value (a trial's rows) comes back to this process, which
stores it. The run folder must be on a
filesystem that every worker sees at the same path (as with any Dask deployment reading
files): workers read the splits from it and write ``raw/``, ``models/`` and failure logs
into it; a worker that does not see it is refused with
a :class:`~recsys_bench.errors.UserError` before any trial starts. Every worker must also
have this package (same version) installed, and find the modules of the config's plug-in
models (checked before the first task as well).

Thread budget: each task asks for ``resources={"threads": n}`` (``n`` = the trial's
threads), so workers must declare how many threads they lend, e.g.
``dask worker ADDR --nthreads 4 --resources "threads=4"``; Dask then never runs more trial
threads at once on a worker than it declares, and the runner never more than all workers
declare together, with exclusive trials alone on the cluster. A trial asking for more
threads than any worker declares fails at once instead of waiting forever. BLAS is pinned
inside the trial as in the other executors, but the pin and the peak-memory counter are per
process: for clean timings give each worker one trial at a time (``--nthreads 1`` with
``--resources "threads=N"``, cores / N worker processes per machine).

Timeouts are counted from submission: past ``timeout_s`` the task is cancelled and a
``timeout`` row stored. Dask cannot stop a task that is already running, so its thread runs
on until the trial ends; its rows are discarded (this process stores rows, so a late result
never overwrites the timeout row), though its ``raw/`` file may still be written. A worker
that dies is retried by Dask (the scheduler's ``allowed-failures``), then the trial is a
``failed`` row. A scheduler that goes away (and does not come back while the client tries
to reconnect, Dask's ``distributed.comm.timeouts.connect``) stops the run with a
:class:`~recsys_bench.errors.UserError`: the finished trials are kept, the running ones are
not recorded, and the same command resumes once the scheduler is back.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from recsys_bench.errors import UserError, one_line, storage_error
from recsys_bench.experiment.tasks import Done, Task

_INSTALL = 'pip install "recsys-bench[dask]"'
_BUDGET_FRESH_S = 5.0


def import_distributed():
    """The ``distributed`` package, or a UserError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError(f"the dask executor needs the distributed package: {_INSTALL}") from None
    return distributed


class DaskExecutor:
    """Trials as tasks on a Dask cluster; this process stores their rows.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder, absolute, at the same path on every worker.
    address : str
        The scheduler's address. The connection and the wait for a first worker each give up
        after Dask's ``distributed.comm.timeouts.connect`` (30 s unless configured).
    """

    name = "dask"

    def __init__(self, run_dir: Path, address: str, models: tuple[str, ...] = ()):
        import dask
        from dask.utils import parse_timedelta

        distributed = import_distributed()
        self.run_dir = run_dir
        self.address = address
        self.models = tuple(models)
        self.futures: dict = {}
        self.finished = threading.Event()
        self.done: list[Done] = []
        self.offers: list[float] = []
        self.task_slots = 0
        self.checked = -float("inf")
        self.folder_seen = False
        try:
            self.client = distributed.Client(address, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot connect to the Dask scheduler at {address!r}: "
                            f"{one_line(exc)}") from None
        try:
            wait_s = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
            try:
                self.client.wait_for_workers(1, timeout=wait_s)
            except TimeoutError:
                raise UserError(f"no Dask worker joined the scheduler at {address!r} within "
                                f"{wait_s:g} s") from None
            if not self.budget():
                raise UserError(f"no Dask worker at {address!r} declares a 'threads' resource; "
                                'start workers with --nthreads N --resources "threads=N"')
        except BaseException:
            self.client.close()
            raise

    def info(self) -> dict:
        return {"executor": self.name, "scheduler": self.address}

    def budget(self) -> int:
        if time.monotonic() - self.checked > _BUDGET_FRESH_S:
            self._check_scheduler(reconnect=True)
            workers = self.client.scheduler_info().get("workers", {}).values()
            self.offers = [w.get("resources", {}).get("threads", 0) for w in workers]
            self.task_slots = sum(w.get("nthreads", 0) for w in workers)
            self.checked = time.monotonic()
        return int(sum(self.offers))

    def slots(self, workers: int | None) -> int:
        """``workers``, at most the tasks the cluster runs at once (so none waits in a queue,
        where its timeout would run)."""
        capacity = max(1, min(self.budget(), self.task_slots))
        return min(workers, capacity) if workers else capacity

    def _check_scheduler(self, reconnect: bool = False) -> None:
        """UserError once the client has given the scheduler up; with ``reconnect``, first
        wait while the client tries to reconnect."""
        while reconnect and self.client.status == "connecting":
            time.sleep(0.2)
        if self.client.status in ("closing", "closed"):
            raise UserError(f"lost the Dask scheduler at {self.address!r} (no reconnection "
                            "within distributed.comm.timeouts.connect); the finished trials "
                            "are kept: start the scheduler again and rerun the same command "
                            "to resume")

    def start(self, task: Task) -> None:
        self._check_scheduler(reconnect=True)
        if not self.folder_seen:
            self._check_folder()
        largest = max(self.offers, default=0)
        if task.threads > largest:
            self.done.append(Done(task.trial_id, "failed",
                                  f"no Dask worker declares threads >= {task.threads} "
                                  f"(the most is {largest:g})"))
            return
        future = self.client.submit(
            _dask_task, task, key=f"task-{task.trial_id}-{uuid.uuid4().hex}",
            resources={"threads": task.threads}, retries=0, pure=False)
        future.add_done_callback(lambda _: self.finished.set())
        self.futures[task.trial_id] = future

    def _check_folder(self) -> None:
        """Refuse workers that do not see the run folder at its path, or cannot import the
        plug-in models its config names."""
        seen = self.client.run(os.path.isfile, str(self.run_dir / "config.toml"))
        blind = sorted(address for address, ok in seen.items() if not ok)
        if blind:
            raise UserError(f"Dask worker {blind[0]} does not see the run folder at this path; "
                            "it must be on a filesystem every worker sees at the same path",
                            path=self.run_dir)
        self._check_plugins()
        self.folder_seen = True

    def _check_plugins(self) -> None:
        """Refuse workers that cannot find the module of a plug-in model the tasks use."""
        from recsys_bench.models import worker_modules

        needed = worker_modules(self.models)
        for name, module in needed.items():
            found = self.client.run(_module_found, module)
            missing = sorted(address for address, ok in found.items() if not ok)
            if missing:
                raise UserError(f"Dask worker {missing[0]} cannot import {module!r} (model "
                                f"{name!r}); install the plug-in on every worker or put it on "
                                "their PYTHONPATH")

    def wait(self, timeout: float) -> list[Done]:
        if self.futures and not self.done:
            self.finished.wait(min(timeout, 60.0))
        self.finished.clear()
        self._check_scheduler()
        for trial_id, future in list(self.futures.items()):
            if not future.done():
                continue
            del self.futures[trial_id]
            if future.status == "finished":
                self.done.append(self._result(trial_id, future))
            elif future.status == "error":
                if storage_error(future.exception()):
                    raise future.exception()
                self.done.append(Done(trial_id, "failed",
                                      f"the Dask task failed: {one_line(future.exception())}"))
            else:
                self._check_scheduler(reconnect=True)
                self.done.append(Done(trial_id, "failed", f"the Dask task was {future.status}"))
            future.release()
        done, self.done = self.done, []
        return done

    def _result(self, trial_id: str, future) -> Done:
        """A finished task's result. Fetching it needs the cluster: when the scheduler goes
        away meanwhile, the one-line lost-scheduler error (the trial is rerun on resume); when
        the client reconnected, the trial is recorded as failed with the reason."""
        try:
            return future.result()
        except OSError as error:
            self._check_scheduler(reconnect=True)
            return Done(trial_id, "failed",
                        f"the Dask task finished but its result was lost: {one_line(error)}")

    def cancel(self, trial_id: str) -> str:
        self.futures.pop(trial_id).cancel()
        return "was cancelled"

    def close(self) -> None:
        if self.futures and self.client.status == "running":
            self.client.cancel(list(self.futures.values()))
            self.futures = {}
        self.client.close()


def _module_found(module: str) -> bool:
    """Whether this interpreter can find ``module`` (run on each Dask worker)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_local = threading.local()


def _dask_task(task: Task) -> Done:
    """What runs on a Dask worker: a task's :class:`Done` (each worker thread keeps its own
    cache)."""
    if not hasattr(_local, "cache"):
        _local.cache = OrderedDict()
    return Done(task.trial_id, result=task.run(_local.cache))
