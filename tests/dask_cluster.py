"""A local Dask cluster on loopback for the executor tests, started with retries.

``distributed`` gives its event-loop thread 10 s to start; on a loaded 2-core machine a cluster
started next to another one has been seen to miss that (an ``AssertionError`` inside
``LoopRunner``), which says nothing about the code under test.
"""

from __future__ import annotations

import distributed

ATTEMPTS = 3


def local_cluster(n_workers: int, *, threads: int | None = 1) -> distributed.LocalCluster:
    """An in-process LocalCluster on 127.0.0.1 (dashboard on a free port); ``threads`` is the
    ``threads`` resource each worker declares (None: none)."""
    options = dict(n_workers=n_workers, threads_per_worker=1, processes=False, protocol="tcp",
                   host="127.0.0.1", dashboard_address="127.0.0.1:0")
    if threads is not None:
        options["resources"] = {"threads": threads}
    for attempt in range(ATTEMPTS):
        try:
            return distributed.LocalCluster(**options)
        except (AssertionError, TimeoutError, OSError):
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
