"""Thread control and a provenance snapshot of the machine: the one meaning of "all cores".

Models that parallelise themselves (implicit, LightFM) must run with a one-thread BLAS: implicit
warns that a multi-threaded BLAS under its own threads can be ten times slower, and measured here an
unpinned BLAS made implicit no faster on two threads than on one. :func:`pinned_blas` does that for
the span of a fit; :func:`threadpool_info` and :func:`machine_info` record what was in effect.
"""

from __future__ import annotations

import os
import platform
import sys
from contextlib import contextmanager
from importlib import metadata
from typing import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits
from threadpoolctl import threadpool_info as _threadpool_info

from recsys_bench.errors import UserError

# import name -> distribution names to try, in order
_PACKAGES = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "implicit": ("implicit",),
    "lightfm": ("lightfm-next", "lightfm"),
    "pandas": ("pandas",),
    "threadpoolctl": ("threadpoolctl",),
}


def cores() -> int:
    """CPU cores this process may run on (its affinity mask): what "all cores" means everywhere."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_threads(n: int) -> int:
    """The thread count that ``n`` asks for: ``0`` means :func:`cores`, otherwise ``n`` itself.

    Raises
    ------
    UserError
        When ``n`` is negative or not an integer.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise UserError(f"num_threads must be a non-negative integer (0 = all cores), got {n!r}")
    return int(n) if n > 0 else cores()


@contextmanager
def pinned_blas(n: int = 1) -> Iterator[None]:
    """Limit every BLAS library loaded in the process to ``n`` threads inside the block.

    Use it around fits that run their own thread pool, so the two pools do not oversubscribe the
    cores; the previous limits are restored on exit.
    """
    with threadpool_limits(limits=resolve_threads(n), user_api="blas"):
        yield


_controller = None


def single_threaded_blas():
    """Context holding BLAS to one thread per caller while blocks are scored and ranked.

    Parallelism then comes from the caller's own threads, never from BLAS: a multi-threaded
    BLAS under those threads oversubscribes the cores, and on a busy machine its spinning
    threads made one small GEMM take seconds. A cached controller makes this ~30 us.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def threadpool_info() -> list[dict]:
    """The thread pools loaded in the process (BLAS, OpenMP), compactly.

    Returns
    -------
    list of dict
        One dict per library with ``user_api``, ``internal_api``, ``version``, ``num_threads``
        and, where reported, ``threading_layer`` and ``architecture``; file paths are left out.
    """
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture")
    return [{key: pool[key] for key in keys if key in pool} for pool in _threadpool_info()]


def cpu_model() -> str:
    """The CPU model name (/proc/cpuinfo), else what the platform module reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> dict:
    """A JSON-serialisable snapshot of where results were produced.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cores`` (logical), ``platform``, ``python``, ``packages``
        (version of numpy, scipy, implicit, lightfm, pandas, threadpoolctl; None when absent)
        and ``threadpools`` (:func:`threadpool_info`).
    """
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": cores(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _version(dists) for name, dists in _PACKAGES.items()},
        "threadpools": threadpool_info(),
    }
