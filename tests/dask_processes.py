"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` as separate processes on
the loopback address, each on a free port, so workers can be killed and the scheduler stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]
START_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A scheduler and ``n_workers`` single-thread workers (``threads=1``), logs in ``folder``.

    Workers run without a nanny, so ``kill -9`` removes one for good; they import this
    checkout's package (``PYTHONPATH``).
    """

    def __init__(self, folder: Path, n_workers: int = 2, port: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.scheduler = None
        self.workers: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.start_scheduler()
        for number in range(n_workers):
            self.start_worker(number)
        self.wait_for_workers(n_workers)

    def _spawn(self, command: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as handle:
            return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                    env=self.env, cwd=self.folder, start_new_session=True)

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(
            [*DASK, "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
             "--scheduler-file", str(self.folder / "scheduler.json")],
            self.folder / "scheduler.log")

    def start_worker(self, number: int) -> None:
        log = self.folder / f"worker-{number}.log"
        self.workers.append(self._spawn(
            [*WORKER, self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
             "--resources", "threads=1", "--no-dashboard", "--death-timeout", "60",
             "--name", f"w{number}"], log))
        self.logs.append(log)

    def wait_for_workers(self, n: int) -> None:
        """Block until the scheduler lists ``n`` workers (or fail after START_S)."""
        from distributed import Client

        deadline = time.monotonic() + START_S
        while True:
            try:
                with Client(self.address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(n, timeout=max(1, deadline - time.monotonic()))
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill(self, process: subprocess.Popen) -> None:
        """``kill -9`` a process of the cluster and reap it."""
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None:
                self.kill(process)


def scheduler_info(folder: Path) -> dict:
    return json.loads((Path(folder) / "scheduler.json").read_text())
