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
    Each task on a Dask cluster (:mod:`recsys_bench.experiment.dask_executor`).

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
from collections import OrderedDict
from pathlib import Path

from recsys_bench.errors import UserError, one_line, storage_error
from recsys_bench.experiment.lifeline import ORPHANED, parent_alive
from recsys_bench.experiment.tasks import Done, Executor, Task
from recsys_bench.threads import cores

EXECUTORS = ("processes", "inline", "dask")


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
    from recsys_bench.experiment.dask_executor import DaskExecutor, import_distributed

    import_distributed()
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


__all__ = ["EXECUTORS", "Done", "Task", "Executor", "make", "InlineExecutor", "ProcessExecutor"]
