"""Thread control and a provenance snapshot of the machine.

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

from threadpoolctl import threadpool_info as _threadpool_info
from threadpoolctl import threadpool_limits

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


def resolve_threads(n: int) -> int:
    """The thread count that ``n`` asks for: ``0`` means every core, otherwise ``n`` itself.

    Raises
    ------
    UserError
        When ``n`` is negative or not an integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UserError(f"num_threads must be a non-negative integer (0 = all cores), got {n!r}")
    return n if n > 0 else (os.cpu_count() or 1)


@contextmanager
def pinned_blas(n: int = 1) -> Iterator[None]:
    """Limit every BLAS library loaded in the process to ``n`` threads inside the block.

    Use it around fits that run their own thread pool, so the two pools do not oversubscribe the
    cores; the previous limits are restored on exit.
    """
    with threadpool_limits(limits=resolve_threads(n), user_api="blas"):
        yield


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
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _version(dists) for name, dists in _PACKAGES.items()},
        "threadpools": threadpool_info(),
    }
