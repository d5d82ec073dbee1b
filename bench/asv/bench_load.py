"""Reading the Sketchfab-format files (parse, deduplicate, threshold, build CSR and features).

Full profile: the synthetic Sketchfab files at a quarter and at the real scale (632,840 like
rows), written once by the generator; ``time_write`` measures the generator itself. Fast
profile: a small likes file written directly in the files' dialect with
:func:`recsys_bench.datasets.psv.write_psv`, names with pipes and backslashes included.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from recsys_bench.datasets import sketchfab, sketchfab_synthetic
from recsys_bench.datasets.psv import write_psv

from .common import CACHE_TIMEOUT, FAST, SCALES, SIZES, Benchmark


def write_small_folder(folder: Path, seed: int = 0) -> None:
    """A 4,000-row likes file (300 users, 120 models) in the Sketchfab dialect."""
    rng = np.random.default_rng(seed)
    users = rng.zipf(1.6, 4_000) % 300
    items = rng.zipf(1.4, 4_000) % 120
    names = [f"model {i} | part\\{i}" if i % 7 == 0 else f"model {i}" for i in range(120)]
    rows = ((names[i], f"{i:032x}", f"{u:032x}") for u, i in zip(users, items))
    write_psv(folder / sketchfab.LIKES_FILE, sketchfab.LIKES_HEADER, rows)


class LoadFiles(Benchmark):
    """Seconds to turn the files into a thresholded users x items CSR with item features."""

    param_names = ["size"]
    params = [list(SIZES)]

    def setup_cache(self) -> dict[str, str]:
        folders = {}
        for size in SIZES:
            folder = Path.cwd() / f"files-{size}"
            if FAST:
                write_small_folder(folder)
            else:
                sketchfab_synthetic.write(folder, seed=0, scale=SCALES[size])
            folders[size] = str(folder.resolve())
        return folders

    setup_cache.timeout = CACHE_TIMEOUT

    def time_load(self, folders, size):
        sketchfab.load(folders[size])

    def peakmem_load(self, folders, size):
        sketchfab.load(folders[size])


class WriteFiles(Benchmark):
    """Seconds to generate and write the synthetic Sketchfab files (both of them)."""

    param_names = ["size"]
    params = [["tiny"] if FAST else list(SCALES)]
    scales = {"tiny": 0.02, **SCALES}

    def setup(self, size):
        self.folder = tempfile.TemporaryDirectory()

    def teardown(self, size):
        self.folder.cleanup()

    def time_write(self, size):
        sketchfab_synthetic.write(self.folder.name, seed=0, scale=self.scales[size])
