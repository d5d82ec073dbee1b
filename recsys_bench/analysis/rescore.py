"""Per-user metrics of two stored runs, recomputed from their raw top-k lists and the stored split.

``compare`` pairs these values user by user. Every ``top`` metric is recomputed, and so are the
per-user beyond-accuracy metrics a run asked for (MRR, novelty, average popularity), from the
lists, the truth rows and the split's train matrix as popularity base
(:class:`recsys_bench.eval.beyond.BeyondContext`). Intra-list diversity is not: it needs the item
vectors of every trial at the compared epoch, which a run does not keep.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.eval import registry
from recsys_bench.eval.beyond import ITEM_VECTOR_METRICS, BeyondContext
from recsys_bench.store import table as store
from recsys_bench.store.run_folder import RunFolder


def recomputable(rows: pd.DataFrame) -> tuple[str, ...]:
    """The per-user metrics recomputed from stored lists for trials with these result rows.

    Every ``top`` metric, plus each per-user ``context`` metric with a value in ``rows`` (the
    run asked for it), intra-list diversity aside (no item vectors are stored per trial).
    """
    return tuple(spec.name for spec in registry.METRICS.values() if spec.per_user and (
        spec.needs == "top"
        or (spec.needs == "context" and spec.name not in ITEM_VECTOR_METRICS
            and spec.column in rows and rows[spec.column].notna().any())))


class RawMetrics:
    """Per-user metrics of both runs, recomputed from their stored top-k lists."""

    def __init__(self, run_a: Path, run_b: Path):
        self.runs = (run_a, run_b)
        self.splits: dict[tuple[str, int], object] = {}
        self.arrays: dict[tuple[Path, str], dict] = {}

    def raw(self, run: Path, trial: str) -> dict | None:
        """The raw arrays of a trial (kept for the trials of the setting being compared)."""
        if (run, trial) not in self.arrays:
            if not store.raw_path(run, trial).exists():
                return None
            if len(self.arrays) >= 16:
                self.arrays.clear()
            self.arrays[run, trial] = store.read_raw(run, trial)
        return self.arrays[run, trial]

    def split(self, dataset: str, seed: int):
        """Run A's stored split of ``dataset`` at ``seed``, or None when its file is absent."""
        from recsys_bench.splits import load_split

        if (dataset, seed) not in self.splits:
            run = RunFolder(self.runs[0])
            folder = run.splits
            meta_path = run.split_meta(dataset)
            name = run.split_name(dataset, seed)
            if meta_path.exists():
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                name = meta.get("seeds", {}).get(str(seed), {}).get("file", name)
            path = folder / name
            self.splits[dataset, seed] = load_split(path) if path.exists() else None
        return self.splits[dataset, seed]

    def differences(self, ids: list[str], seeds: dict, subset: str, final: pd.Series,
                    rows: pd.DataFrame, dataset: str) -> dict[str, tuple] | None:
        """metric -> (per-user A values, per-user B values), users of all seeds pooled.

        ``rows`` are run A's result rows of the trials (indexed by trial id): their ``k`` and
        which metrics were asked (:func:`recomputable`). None when any trial lacks a raw file,
        a top-k list or its split in either run.
        """
        names = recomputable(rows)
        pooled: dict[str, tuple[list, list]] = {}
        for trial in ids:
            split = self.split(dataset, int(seeds[trial]))
            key = f"top_{subset}_e{int(final[trial])}"
            tops = []
            for run in self.runs:
                arrays = None if split is None else self.raw(run, trial)
                if arrays is None or key not in arrays or \
                        not np.array_equal(arrays["users"], split.users):
                    return None
                tops.append(arrays[key])
            k = int(rows.at[trial, "k"])
            truth = (split.test if subset == "test" else split.train)[split.users]
            context = BeyondContext(train=split.train, truth=truth)
            for top, column in zip(tops, (0, 1)):
                for metric, values in registry.top_metrics(top, truth, k, names,
                                                           context).items():
                    pooled.setdefault(metric, ([], []))[column].append(values)
        return {m: (np.concatenate(a), np.concatenate(b)) for m, (a, b) in pooled.items()}
