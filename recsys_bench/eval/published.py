"""Figures other libraries published, each with the protocol it was measured under.

A run that repeats a publication's protocol (same data set and options, same split, same model and
parameters, same cut-off) gets the published figure beside its own under the matching preset, in
``reconcile.md`` and in the report. The entries are data: adding a publication adds entries here
and, where its semantics are new, a preset in :mod:`recsys_bench.eval.presets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

LIGHTFM_EXAMPLE = ("LightFM's documentation example, *An implicit feedback recommender for the "
                   "Movielens dataset* (examples/movielens/example.ipynb)")


@dataclass(frozen=True)
class Published:
    """One published figure and the protocol behind it.

    Attributes
    ----------
    source : str
        Where it was printed.
    dataset, dataset_options : str, tuple of (str, object)
        The harness's data set and the loader options that reproduce the publication's data.
    split_kind, split_options : str, tuple of (str, object)
        The harness's split kind and options that rebuild the publication's split.
    model, params : str, tuple of (str, object)
        The harness's adapter and the parameters the publication set (others at their defaults).
    epochs : int
        Epochs trained.
    k : int
        The cut-off.
    subset : str
        ``"test"`` or ``"train"``: whose items were the truth.
    preset, metric : str
        The protocol preset and its metric that compute the figure the way the publication did.
    label : str
        The figure's name as the publication prints it.
    value : float
        The published figure.
    decimals : int
        The decimals it was printed with.
    """

    source: str
    dataset: str
    dataset_options: tuple
    split_kind: str
    split_options: tuple
    model: str
    params: tuple
    epochs: int
    k: int
    subset: str
    preset: str
    metric: str
    label: str
    value: float
    decimals: int = 2

    @property
    def printed(self) -> str:
        """The figure as the publication printed it."""
        return f"{self.value:.{self.decimals}f}"


def _lightfm_example(model: str, subset: str, what: str, metric: str, value: float) -> Published:
    return Published(
        source=LIGHTFM_EXAMPLE, dataset="movielens-100k", dataset_options=(("min_rating", 0),),
        split_kind="movielens_official", split_options=(("name", "ua"),), model=model,
        params=(("learning_rate", 0.05), ("no_components", 10)), epochs=10, k=10, subset=subset,
        preset="lightfm", metric=metric, label=f"{subset} {what}", value=value)


PUBLISHED = tuple(
    _lightfm_example(model, subset, what, metric, value)
    for model, figures in (("lightfm-bpr", (0.59, 0.10, 0.90, 0.86)),
                           ("lightfm-warp", (0.61, 0.11, 0.93, 0.90)))
    for (subset, what, metric), value in zip(
        (("train", "precision@10", "precision_at_k_unfiltered"),
         ("test", "precision@10", "precision_at_k_unfiltered"),
         ("train", "AUC", "auc_score_unfiltered"),
         ("test", "AUC", "auc_score_unfiltered")), figures))
"""Every published figure the harness knows. LightFM's example printed its test figures from
models that ranked train items too (the outputs predate the code's ``train_interactions``), so
they are the preset's ``_unfiltered`` metrics; see ``results/lightfm-published``."""


def _same(options: dict, wanted: tuple) -> bool:
    return all(options.get(key) == value for key, value in wanted)


def matching(*, dataset: str, dataset_options: dict, split_kind: str, split_options: dict,
             model: str, params: dict, epochs: int, k: int, subset: str = "test"
             ) -> list[Published]:
    """The published figures measured under this trial's protocol.

    Parameters
    ----------
    dataset, dataset_options : str, dict
        The trial's data set name (not its label) and loader options.
    split_kind, split_options : str, dict
        The stored split's kind and options.
    model, params : str, dict
        The trial's model and its full parameters (defaults filled in, so a publication's
        default need not be spelled out in the config).
    epochs, k, subset : int, int, str
        Epochs trained at the scored checkpoint, the cut-off, and the scored subset.
    """
    if isinstance(params, str):
        params = json.loads(params or "{}")
    return [p for p in PUBLISHED
            if (p.dataset, p.split_kind, p.model, p.epochs, p.k, p.subset)
            == (dataset, split_kind, model, epochs, k, subset)
            and _same(dataset_options, p.dataset_options)
            and _same(split_options, p.split_options) and _same(params, p.params)]
