"""The report's "Beyond accuracy" section: each model's best setting re-scored from its stored lists.

For every row of the best-setting table, the beyond-accuracy metrics of
:mod:`recsys_bench.eval.beyond` are recomputed through the metric registry from the stored test
top-k lists at the best epoch (``raw/<trial>.npz``) and the stored split (its train matrix is the
popularity base), seed by seed; the figure is the mean over seeds. Runs made before these metrics
existed get them too. Intra-list diversity needs item vectors: those of the model file the run
saved for the trial (``models/<trial>.npz``) when it was saved at the best epoch, so that vectors
and lists belong to one model; without one it is left out, and the section says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_bench.analysis.document import Cell, Document, Table, number_text, sort_value
from recsys_bench.analysis.run_data import RunData, params_text, setting_trials
from recsys_bench.errors import UserError
from recsys_bench.eval import registry
from recsys_bench.eval.beyond import BeyondContext
from recsys_bench.eval.metrics import nanmean
from recsys_bench.store.run_folder import RunFolder

PER_USER = ("mrr", "novelty", "average_popularity")
"""Per-user metrics of the section: a seed's figure is their mean over its users."""
FOR_THE_SET = ("gini", "coverage")
"""Metrics of the whole set of a seed's lists."""
DIVERSITY = "intra_list_diversity"


@dataclass(frozen=True)
class BeyondFigures:
    """One setting's beyond-accuracy figures, means over split seeds.

    Attributes
    ----------
    values : dict of str to float
        Metric name -> mean over the seeds that have it.
    seeds : int
        Split seeds re-scored.
    diversity_trials : tuple of str
        The trials whose saved item vectors gave intra-list diversity (empty: none did).
    """

    values: dict
    seeds: int
    diversity_trials: tuple


def saved_item_vectors(run_dir, trial_id: str, epoch: int, n_items: int) -> np.ndarray | None:
    """The item vectors of the model file a run saved for ``trial_id``, or None when there is
    none, it was saved at another epoch than ``epoch`` (vectors and lists would come from two
    models), it cannot be read, or it has another number of items."""
    from recsys_bench.embeddings import load_model

    path = RunFolder(run_dir).model(trial_id)
    if not path.exists():
        return None
    try:
        saved = load_model(path)
    except UserError:
        return None
    if int(saved.meta.get("epochs_done", -1)) != epoch or saved.item_vectors.shape[0] != n_items:
        return None
    return saved.item_vectors


def setting_figures(store: RunData, quality: pd.DataFrame, row: pd.Series) -> BeyondFigures | str:
    """The beyond-accuracy figures of one setting at its best epoch, or why there are none."""
    k, epoch = int(row["k"]), int(row["best_epoch"])
    trials = setting_trials(quality, row)
    if not trials:
        return "no test rows at its best epoch"
    per_seed: dict[str, list[float]] = {}
    with_vectors = []
    for seed, (trial, fingerprint) in sorted(trials.items()):
        lists = store.test_lists(trial, row["dataset"], seed, epoch, fingerprint)
        if isinstance(lists, str):
            return lists
        n_items = lists.split.train.shape[1]
        vectors = saved_item_vectors(store.run_dir, trial, epoch, n_items)
        context = BeyondContext(train=lists.split.train, truth=lists.truth, item_vectors=vectors)
        names = PER_USER + ((DIVERSITY,) if vectors is not None else ())
        top = lists.top[:, :k]
        for name, values in registry.top_metrics(top, lists.truth, k, names, context).items():
            per_seed.setdefault(name, []).append(nanmean(values))
        for name, value in registry.set_metrics(top, n_items, FOR_THE_SET, context).items():
            per_seed.setdefault(name, []).append(value)
        if vectors is not None:
            with_vectors.append(trial)
    return BeyondFigures(values={name: float(np.mean(v)) for name, v in per_seed.items()},
                         seeds=len(trials), diversity_trials=tuple(with_vectors))


def beyond_section(doc: Document, store: RunData, quality: pd.DataFrame, best: pd.DataFrame
                   ) -> None:
    """Add the "Beyond accuracy" heading, table and notes for the best settings ``best``."""
    k = int(best["k"].iloc[0])
    doc.heading(3, "Beyond accuracy")
    found, notes = [], []
    for _, row in best.iterrows():
        figures = setting_figures(store, quality, row)
        if isinstance(figures, str):
            notes.append(f"No beyond-accuracy figures for {row['model']}: {figures}.")
        else:
            found.append((row, figures))
    if not found:
        doc.para("Not computed: these figures are re-scored from the stored top-k lists and "
                 "split, and none could be read here (why, below).")
        doc.bullets(notes)
        return
    shown = [*PER_USER, *FOR_THE_SET]
    diversity = any(figures.diversity_trials for _, figures in found)
    labels = [registry.METRICS[name].label for name in shown]
    columns = ["model", "best setting", "best epoch", "seeds", *labels]
    if diversity:
        columns.append(f"{registry.METRICS[DIVERSITY].label} (saved model vectors)")
    rows = []
    for row, figures in found:
        cells = [Cell(row["model"]), Cell(params_text(row["params"]), row["params"]),
                 Cell(str(int(row["best_epoch"])), int(row["best_epoch"])),
                 Cell(str(figures.seeds), figures.seeds)]
        cells += [Cell(number_text(figures.values.get(name)),
                       sort_value(figures.values.get(name))) for name in shown]
        if diversity:
            cells.append(_diversity_cell(figures))
        rows.append(cells)
    doc.table(Table(columns, rows, sortable=True))
    doc.para(f"Each model's best setting at its best epoch, re-scored from the stored test top-k "
             f"lists (`raw/`) and the stored split; each figure is the mean over split seeds of "
             f"the seed's value. MRR@{k}: reciprocal rank of the first hit (users without test "
             f"items left out). Novelty: mean self-information −log2((c_i + 1) / (|U| + 1)) of "
             f"the listed items, in bits, c_i = the item's users in train and |U| the train "
             f"users. ARP: mean train popularity c_i of the listed items. Gini: of item exposure "
             f"over the whole catalogue (0 = every item listed equally often). Coverage: share "
             f"of the catalogue listed. Definitions: `docs/metrics.md`.")
    if diversity:
        doc.para(f"{registry.METRICS[DIVERSITY].label} (intra-list diversity): mean cosine "
                 "distance between the listed items' vectors, taken from the model file the "
                 "run saved for the trial (`models/<trial>.npz`) where it was saved at the best "
                 "epoch; seeds without one are left out (the count says how many had one), "
                 "and — marks a model with none.")
    else:
        doc.para("Intra-list diversity is omitted: it needs item vectors, and the run kept no "
                 "model file (`models/`) of these trials at their best epoch.")
    doc.bullets(notes)


def _diversity_cell(figures: BeyondFigures) -> Cell:
    value = figures.values.get(DIVERSITY)
    used = len(figures.diversity_trials)
    text = number_text(value)
    if 0 < used < figures.seeds:
        text += f" ({used} of {figures.seeds} seeds)"
    return Cell(text, sort_value(value))
