"""Where tasks run: in this process, in local worker processes, or on a Dask cluster.

A run's trials and a search's trials reach an executor the same way, as :class:`Task` s (a
module-level function and its arguments). The scheduler (:mod:`recsys_bench.experiment.
scheduler`) decides which starts when (a thread budget, exclusive jobs alone, each one's
``timeout_s``); an executor (:class:`Executor`) only starts tasks, says which finished with
what value, and stops one that ran past its time. Three are provided; :func:`make` builds one
by name. The caller stores what tasks return, so nothing is written after it is gone.

``processes`` (the default)
    Persistent worker processes on this machine (fresh interpreters, one task at a time each,
    output in ``logs/worker-<pid>.log``). A task past ``timeout_s`` is killed with its worker; a
    worker that dies (a crash, ``kill -9``) costs only its task. The budget is the cores.

``inline``
    Each task in the calling process, one at a time, for debugging and profiling; ``timeout_s``
    is not enforced.

``dask``
    Each task runs on a ``distributed`` cluster (``Client(scheduler_address)``) and its value
    (a trial's rows) comes back to this process, which stores it. The run folder must be on a
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

A task is given the executor's ``cache`` (an ``OrderedDict`` that lives as long as the worker,
the inline executor or the Dask worker thread) to keep data between tasks, such as the split the
last trial used. An exception a task raises makes it ``failed`` (with the ``inline`` executor
it propagates, so a debugger sees it).

Why ``processes`` is a pool of its own rather than loky (joblib's pool): a task past its timeout
must be killed without losing the others, and a worker killed from outside must cost only its own
task; loky treats a dead worker as a broken pool, and joblib's timeout aborts the whole call.
"""

from __future__ import annotations

import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recsys_bench.errors import UserError, one_line, storage_error
from recsys_bench.experiment.lifeline import ORPHANED, parent_alive
from recsys_bench.threads import cores

EXECUTORS = ("processes", "inline", "dask")


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


def make(name: str, run_dir: str | os.PathLike, *, scheduler: str | None = None,
         models: tuple[str, ...] = ()) -> Executor:
    """The executor called ``name`` for the run folder ``run_dir``.

    Parameters
    ----------
    name : str
        ``"processes"``, ``"inline"`` or ``"dask"``.
    run_dir : str or os.PathLike
        The run folder (it need not exist yet).
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:8786``); required by, and only for, ``dask``.
    models : tuple of str
        The model names the tasks will use: a Dask cluster's workers must be able to import
        the plug-ins among them (checked before the first task).

    Returns
    -------
    Executor

    Raises
    ------
    UserError
        An unknown name, a missing or needless scheduler address, ``distributed`` not installed,
        or a Dask scheduler that cannot be reached or has no suitable worker.
    """
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if name != "dask":
        if scheduler is not None:
            raise UserError(f"a scheduler address is only for the dask executor, not {name!r}")
        return ProcessExecutor(Path(run_dir)) if name == "processes" else InlineExecutor(
            Path(run_dir))
    _import_distributed()
    if not scheduler:
        raise UserError("the dask executor needs the Dask scheduler's address: "
                        "--scheduler tcp://HOST:8786")
    return DaskExecutor(Path(os.path.abspath(run_dir)), scheduler, models)


# --------------------------------------------------------------------------- inline

class InlineExecutor:
    """Runs each trial in this process when it starts; no timeout, one trial at a time."""

    name = "inline"

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.cache: OrderedDict = OrderedDict()
        self.done: list[Done] = []

    def info(self) -> dict:
        return {"executor": self.name}

    def budget(self) -> int:
        return cores()

    def slots(self, workers: int | None) -> int:
        return 1

    def start(self, task: Task) -> None:
        self.done.append(Done(task.trial_id, result=task.run(self.cache)))

    def wait(self, timeout: float) -> list[Done]:
        done, self.done = self.done, []
        return done

    def cancel(self, trial_id: str) -> str:
        return "ran to its end (the inline executor does not stop trials)"

    def close(self) -> None:
        self.cache.clear()


# --------------------------------------------------------------------------- processes

class ProcessExecutor:
    """Persistent worker processes on this machine; a trial past its time is killed."""

    name = "processes"

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.idle: list[_Worker] = []
        self.busy: dict[str, _Worker] = {}
        self.done: list[Done] = []

    def info(self) -> dict:
        return {"executor": self.name}

    def budget(self) -> int:
        return cores()

    def slots(self, workers: int | None) -> int:
        return workers or cores()

    def start(self, task: Task) -> None:
        while self.idle and not self.idle[-1].alive():
            self.idle.pop().close()
        worker = self.idle.pop() if self.idle else _Worker(self.run_dir)
        self.busy[task.trial_id] = worker
        try:
            worker.send_conn.send(task)
        except OSError:
            self._lost(task.trial_id)

    def wait(self, timeout: float) -> list[Done]:
        if self.busy and not self.done:
            multiprocessing.connection.wait([w.conn for w in self.busy.values()], timeout=timeout)
        for trial_id, worker in list(self.busy.items()):
            if worker.conn.poll():
                try:
                    reply = worker.conn.recv()
                except (EOFError, OSError):
                    self._lost(trial_id)
                    continue
                del self.busy[trial_id]
                self.idle.append(worker)
                if storage_error(reply.result):
                    raise reply.result
                self.done.append(reply)
            elif not worker.alive():
                self._lost(trial_id)
        done, self.done = self.done, []
        return done

    def _lost(self, trial_id: str) -> None:
        worker = self.busy.pop(trial_id)
        self.done.append(Done(trial_id, "failed", worker.death_message()))

    def cancel(self, trial_id: str) -> str:
        self.busy.pop(trial_id).kill()
        return "was killed"

    def close(self) -> None:
        for worker in self.busy.values():
            worker.kill()
        self.busy = {}
        for worker in self.idle:
            worker.stop()
        for worker in self.idle:
            worker.close()
        self.idle = []


class _Worker:
    """One worker process (a fresh interpreter running :func:`_worker_entry`).

    Workers are started with ``subprocess`` rather than ``multiprocessing`` so that the caller's
    ``__main__`` is never re-imported in them (a script without a main guard, or code fed on
    stdin, would otherwise break or recurse). Trials and replies travel as pickles over pipes.
    """

    def __init__(self, run_dir: Path):
        from multiprocessing.connection import Connection

        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-c", _BOOT, str(child_in), str(child_out), str(run_dir),
                   str(os.getpid())]
        self.process = subprocess.Popen(command, pass_fds=(child_in, child_out), env=env,
                                        stdin=subprocess.DEVNULL, process_group=0)
        os.close(child_in)
        os.close(child_out)
        self.send_conn = Connection(to_child, readable=False)
        self.conn = Connection(from_child, writable=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.close()

    def stop(self) -> None:
        try:
            self.send_conn.send(None)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.send_conn.close()
        self.conn.close()

    def death_message(self) -> str:
        self.close()
        code = self.process.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = f"killed by {name}"
        else:
            why = f"exit code {code}"
        pid = self.process.pid
        return f"worker process died ({why}); see logs/worker-{pid}.log"


# A worker's first statements, before the slow imports: see recsys_bench.experiment.lifeline.
_BOOT = ("import sys; from recsys_bench.experiment.lifeline import bind_to_parent; "
         "bind_to_parent(int(sys.argv[4])); "
         "from recsys_bench.experiment.executors import _worker_entry; _worker_entry()")


def _worker_entry() -> None:
    """Entry point of a worker process: ``argv`` = read fd, write fd, run folder, parent pid."""
    from multiprocessing.connection import Connection

    read_fd, write_fd, run_dir, parent = sys.argv[1:5]
    _worker_main(Connection(int(read_fd), writable=False),
                 Connection(int(write_fd), readable=False), Path(run_dir), int(parent))


def _worker_main(inbox, outbox, run_dir: Path, parent: int | None = None) -> None:
    """Worker loop: run the tasks sent by the parent (pid ``parent``, default: the current one)
    until told to stop or orphaned; each reply is a :class:`Done`. The worker dies with its
    parent and sends nothing once the parent is gone (the parent alone stores results)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid() if parent is None else parent
    if not parent_alive(parent):
        os._exit(ORPHANED)
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    log = open(logs / f"worker-{os.getpid()}.log", "a", buffering=1, encoding="utf-8")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log

    def watchdog() -> None:
        while True:
            time.sleep(1.0)
            if not parent_alive(parent):
                os._exit(ORPHANED)

    threading.Thread(target=watchdog, daemon=True).start()
    cache: OrderedDict = OrderedDict()
    while True:
        try:
            task = inbox.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        reply = _worker_task(task, cache)
        if not parent_alive(parent):
            os._exit(ORPHANED)
        try:
            outbox.send(reply)
        except OSError:
            return


def _worker_task(task: Task, cache: OrderedDict) -> Done:
    """Run a task in a worker; its exception becomes a failed :class:`Done` (traceback logged)."""
    from recsys_bench.experiment.trial import now

    print(f"{now()} task {task.trial_id}: {task.function.__module__}."
          f"{task.function.__qualname__}", flush=True)
    try:
        return Done(task.trial_id, result=task.run(cache))
    except OSError as exc:
        if storage_error(exc):
            return Done(task.trial_id, "failed", one_line(exc), result=exc)
        traceback.print_exc()
        sys.stderr.flush()
        return Done(task.trial_id, "failed", f"{one_line(exc)} (see the worker log)")
    except Exception as exc:
        traceback.print_exc()
        sys.stderr.flush()
        return Done(task.trial_id, "failed", f"{one_line(exc)} (see the worker log)")


# --------------------------------------------------------------------------- dask

_INSTALL = 'pip install "recsys-bench[dask]"'
_BUDGET_FRESH_S = 5.0


def _import_distributed():
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

        distributed = _import_distributed()
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
            workers = self.client.scheduler_info()["workers"].values()
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
                self.done.append(future.result())
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


__all__ = ["EXECUTORS", "Done", "Task", "Executor", "make", "InlineExecutor", "ProcessExecutor",
           "DaskExecutor"]
