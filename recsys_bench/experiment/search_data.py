"""What a search's trials read, and what the largest of them needs in memory.

A search loads its data set once, in the process that runs the study: the final split, the
validation split carved from its train part, and the item features (:func:`prepare`). The
trials read the validation split and features from the search folder's ``splits/``
(:func:`save_trial_data`, :func:`trial_data`), so a worker needs only the folder. Before any
trial, the search is sized to the memory budget by its largest trial (:func:`within_memory`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_bench.errors import UserError
from recsys_bench.experiment import memory
from recsys_bench.experiment.config import Experiment
from recsys_bench.store.run_folder import RunFolder

DATA_CACHED = 2
"""Validation splits an executor's worker keeps in memory between trials (LRU)."""


@dataclass(frozen=True)
class SearchData:
    """The final split, the validation split carved from its train part, and item data."""

    final: Any
    validation: Any
    features: Any
    interactions: Any


def prepare(config: Experiment) -> SearchData:
    """Load the data set and draw the final and validation splits (UserError when the data set
    lacks the features the search asks for, or no validation split can be carved)."""
    from recsys_bench import datasets
    from recsys_bench.models import wants_features
    from recsys_bench.splits import make_split

    dataset, split = config.datasets[0], config.split
    data = datasets.load(dataset.name, **dataset.options)
    if wants_features(config.search.params) and data.item_features is None:
        raise UserError(f"search.params: features = \"tags\" but dataset {dataset.name!r} "
                        "has no item features", path=config.path)
    final = make_split(data, split.kind, seed=split.seeds[0], **split.options)
    try:
        validation = (final.for_validation() if final.validation is not None else
                      make_split(final.train, split.kind, seed=split.validation_seed,
                                 **split.options))
    except UserError as exc:
        raise UserError(f"cannot carve a validation split from the train part: {exc.message}",
                        path=config.path) from None
    return SearchData(final=final, validation=validation, features=data.item_features,
                      interactions=data)


def save_trial_data(out: Path, data: SearchData) -> None:
    """Write the validation split and item features that trial bodies read (``splits/``)."""
    from recsys_bench.splits import save_split
    from recsys_bench.store.artifacts import save_csr

    folder = RunFolder(out)
    save_split(data.validation, folder.validation_split)
    if data.features is not None:
        save_csr(folder.search_features, data.features)


def trial_data(out: Path, fingerprint: str, cache) -> tuple:
    """The validation split (with ``fingerprint``) and item features of a search folder, kept
    in the executor's ``cache`` between trials."""
    from recsys_bench.splits import load_split
    from recsys_bench.store.artifacts import load_csr

    key = ("search", str(out), fingerprint)
    if key not in cache:
        folder = RunFolder(out)
        split = load_split(folder.validation_split)
        if split.fingerprint != fingerprint:
            raise UserError("the stored validation split is not the study's", path=out)
        features = load_csr(folder.search_features) if folder.search_features.exists() else None
        cache[key] = (split, features)
        while len(cache) > DATA_CACHED:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return cache[key]


def largest_trial(config: Experiment, data: SearchData):
    """The memory estimate of the search's largest trial: every numeric dimension at its upper
    bound, each categorical one at its costliest choice (the others at their first)."""
    from recsys_bench.models import wants_features
    from recsys_bench.threads import resolve_threads

    space = config.search.space
    top = {d.name: d.high if d.kind != "categorical" else d.choices[0] for d in space}
    points = [top] + [{**top, d.name: choice} for d in space if d.kind == "categorical"
                      for choice in d.choices[1:]]
    train = data.validation.train
    features = data.features if wants_features(config.search.params) else None
    evaluated = max(len(data.validation.users), len(data.final.users))
    return max((memory.estimate(config.search.model, config.search.setting(point),
                                n_users=train.shape[0], n_items=train.shape[1],
                                likes=int(data.final.train.nnz + data.final.test.nnz),
                                train_likes=int(data.final.train.nnz), k=config.evaluation.k,
                                threads=resolve_threads(config.search.threads),
                                features_nnz=0 if features is None else int(features.nnz),
                                evaluated_users=evaluated)
                for point in points), key=lambda e: e.total)


def within_memory(config: Experiment, data: SearchData, parallel: int, budget, quiet: bool) -> int:
    """``parallel`` lowered so that that many of the largest trials fit in ``budget`` together;
    UserError before any trial when even one does not (None: no budget)."""
    if budget is None:
        return parallel
    need = largest_trial(config, data)
    memory.check_fits("the search's largest trial", need, budget)
    fits = max(1, budget.bytes // need.total)
    if fits < parallel and not quiet:
        print(f"{config.name}: {fits} trial(s) at once, not {parallel}: the largest needs about "
              f"{memory.gb(need.total)} and the memory budget is {memory.gb(budget.bytes)}",
              file=sys.stderr, flush=True)
    return min(parallel, fits)
