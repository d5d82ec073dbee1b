"""``recsys-bench reconcile RUN``: one run's stored lists under every protocol preset, side by side.

Each finished trial's top-k lists at its last checkpoint (``raw/<trial>.npz``) are scored under
every preset of :mod:`recsys_bench.eval.presets`, and the Markdown written into the run folder
says, one line per difference, why the figures differ: the divisor, which items are removed from
the ranking, which users count, how ties are broken, sampled vs full ranking. Metrics that need
every item's score (AUC, LightFM's tie rule, lists of another exclusion or length) come from
re-trained models with ``--rescore``; without it they are listed as not applicable, with why.
The beyond-accuracy metrics of :mod:`recsys_bench.eval.beyond` are added from the same lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_bench.analysis.document import Cell, Document, Table, render_markdown
from recsys_bench.errors import UserError
from recsys_bench.eval import beyond
from recsys_bench.eval.presets import PRESETS, Measure, NotApplicable, ProtocolInput, compute
from recsys_bench.eval.published import Published, matching
from recsys_bench.fileio import atomic_write_text
from recsys_bench.fold_in import fold_in_view, folded
from recsys_bench.store.artifacts import load_csr
from recsys_bench.store.run_folder import RunFolder

OUTPUT = "reconcile.md"
DOCUMENT = "reconcile.json"


@dataclass(frozen=True)
class TrialRef:
    """The facts of one finished trial that reconciling needs (from the result table)."""

    trial_id: str
    dataset: str
    seed: int
    model: str
    params: str
    threads: int
    epochs: tuple[int, ...]
    k: int
    exclude_train: bool

    @property
    def label(self) -> str:
        params = json.loads(self.params) if self.params else {}
        shown = ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
        return f"{self.model}" + (f" ({shown})" if shown else "")


@dataclass
class TrialResult:
    """One trial's figures under every preset, and the facts behind the difference lines."""

    trial: TrialRef
    values: dict[str, dict[str, Measure | NotApplicable]]
    beyond: dict[str, float]
    rescored: str = ""
    tie_users: int | None = None
    published: list[Published] = field(default_factory=list)


@dataclass
class Group:
    """The trials of one data set and split seed (one split, so one set of facts)."""

    dataset: str
    seed: int
    facts: dict
    results: list[TrialResult] = field(default_factory=list)


def finished_trials(run_dir: Path) -> list[TrialRef]:
    """Every trial with test results, once per (data set, seed, model, parameters).

    A thread-scaling repeat of the same setting gives the same kind of lists; the one with the
    fewest threads is kept.
    """
    from recsys_bench.store.table import read_results

    df = read_results(run_dir)
    df = df[(df["status"] == "ok") & (df["subset"] == "test")]
    if df.empty:
        raise UserError("no finished trial with test results to reconcile", path=run_dir)
    out, seen = [], set()
    for trial_id, rows in sorted(df.groupby("trial_id"), key=lambda kv: (
            kv[1]["dataset"].iloc[0], int(kv[1]["seed"].iloc[0]), int(kv[1]["threads"].iloc[0]))):
        first = rows.iloc[0]
        key = (first["dataset"], int(first["seed"]), first["model"], first["params"])
        if key in seen:
            continue
        seen.add(key)
        out.append(TrialRef(trial_id=str(trial_id), dataset=str(first["dataset"]),
                            seed=int(first["seed"]), model=str(first["model"]),
                            params=str(first["params"]), threads=int(first["threads"]),
                            epochs=tuple(sorted(int(e) for e in rows["epoch"].unique())),
                            k=int(first["k"]), exclude_train=bool(first["exclude_train"])))
    return out


def _split_meta(run_dir: Path, dataset: str) -> dict:
    path = RunFolder(run_dir).split_meta(dataset)
    if not path.exists():
        raise UserError(f"no stored splits for data set {dataset!r} (splits/ is needed to "
                        "reconcile)", path=path)
    return json.loads(path.read_text(encoding="utf-8"))


def _load_split(run_dir: Path, dataset: str, seed: int):
    from recsys_bench.splits import load_split

    meta = _split_meta(run_dir, dataset)
    entry = meta["seeds"].get(str(seed))
    if entry is None:
        raise UserError(f"no stored split for seed {seed} of {dataset!r}",
                        path=RunFolder(run_dir).splits)
    return load_split(RunFolder(run_dir).splits / entry["file"]), meta


def _features(run_dir: Path, meta: dict) -> sp.csr_matrix | None:
    if not meta.get("features_file"):
        return None
    return load_csr(RunFolder(run_dir).splits / meta["features_file"])


def _stored_lists(run_dir: Path, trial: TrialRef, users: np.ndarray) -> np.ndarray:
    from recsys_bench.store.table import raw_path, read_raw

    path = raw_path(run_dir, trial.trial_id)
    if not path.exists():
        raise UserError(f"trial {trial.trial_id} has no stored lists", path=path)
    raw = read_raw(run_dir, trial.trial_id)
    key = f"top_test_e{trial.epochs[-1]}"
    if key not in raw:
        raise UserError(f"trial {trial.trial_id} stored no test lists at epoch "
                        f"{trial.epochs[-1]}", path=path)
    if not np.array_equal(raw["users"], users):
        raise UserError(f"trial {trial.trial_id}: stored lists are for other users than the "
                        "stored split", path=path)
    return raw[key]


def _retrain(trial: TrialRef, split, features):
    """The trial's model fitted again through its checkpoints, as the runner fitted it."""
    from recsys_bench import models
    from recsys_bench.experiment.trial import train_curve
    from recsys_bench.models import model_params, wants_features
    from recsys_bench.threads import pinned_blas

    setting = json.loads(trial.params) if trial.params else {}
    model = models.get(trial.model, **model_params(trial.model, setting, threads=trial.threads,
                                                   seed=trial.seed))
    given = features if wants_features(setting) else None
    checkpoints = list(trial.epochs) if model.supports_continue else [None]
    with pinned_blas(trial.threads):
        train_curve(model, split.train, checkpoints, item_features=given)
    return model


def _scored(split):
    """The split as its evaluated users were scored: a strong-generalisation split's held-out
    users as rows 0..n-1, their given history standing for train (:mod:`recsys_bench.fold_in`)."""
    return split if split.fold_in is None else fold_in_view(split)


def _split_facts(split, k: int) -> dict:
    users = np.asarray(split.users)
    n_true = np.diff(sp.csr_matrix(split.test)[users].indptr)
    with_test = int((np.diff(sp.csr_matrix(split.test).indptr) > 0).sum())
    return {"users": int(len(users)), "users_with_test": with_test,
            "listed_with_test": int((n_true > 0).sum()),
            "short_truth": int(((n_true > 0) & (n_true < k)).sum()),
            "long_truth": int((n_true > k).sum()), "sum_min": int(np.minimum(n_true, k).sum()),
            "k": k, "n_items": int(split.train.shape[1])}


def reconcile(run_dir, *, presets=None, rescore: bool = False, strict: bool | None = None
              ) -> list[Group]:
    """Score every finished trial of a run under each preset.

    Parameters
    ----------
    run_dir : path-like
        A result folder of ``recsys-bench run`` with ``raw/`` and ``splits/``.
    presets : sequence of str, optional
        The presets to compute (default: all).
    rescore : bool
        Re-train each trial's model to get every item's score (AUC, exact tie rule, lists of
        either exclusion and of length 100).
    strict : bool, optional
        A metric that cannot be computed is a UserError (True) or reported as not applicable,
        with why (False). By default strict when ``presets`` are named.

    Returns
    -------
    list of Group
    """
    run_dir = Path(run_dir)
    strict = presets is not None if strict is None else strict
    presets = tuple(dict.fromkeys(presets or PRESETS))
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise UserError(f"unknown protocol preset(s) {', '.join(unknown)}; valid: "
                        f"{', '.join(PRESETS)}")
    groups: dict[tuple[str, int], Group] = {}
    splits: dict[tuple[str, int], tuple] = {}
    datasets = _datasets(run_dir)
    for trial in finished_trials(run_dir):
        key = (trial.dataset, trial.seed)
        if key not in splits:
            splits.clear()
            split, meta = _load_split(run_dir, *key)
            splits[key] = (split, meta, _features(run_dir, meta))
            groups.setdefault(key, Group(trial.dataset, trial.seed,
                                         _split_facts(_scored(split), trial.k)))
        split, meta, features = splits[key]
        result = _one(run_dir, trial, split, features, presets, rescore)
        result.published = _published(trial, split, datasets.get(trial.dataset))
        if strict:
            for preset, values in result.values.items():
                for name, value in values.items():
                    if isinstance(value, NotApplicable):
                        raise UserError(f"preset {preset} cannot apply to trial "
                                        f"{trial.trial_id} ({trial.model}): {name}: {value}")
        groups[key].results.append(result)
    return list(groups.values())


def _datasets(run_dir: Path) -> dict:
    """Data set label -> its spec (name, options), from the run's config; empty if unreadable."""
    from recsys_bench.experiment.config import load_config

    try:
        experiment = load_config(RunFolder(run_dir).config)
    except UserError:
        return {}
    return {spec.label: spec for spec in experiment.datasets}


def _published(trial: TrialRef, split, dataset) -> list[Published]:
    """The published figures measured under this trial's protocol (test subset, last epoch)."""
    from recsys_bench.models import model_class

    if dataset is None:
        return []
    try:
        defaults = dict(getattr(model_class(trial.model), "defaults", {}))
    except (UserError, ImportError):
        return []
    params = {**defaults, **(json.loads(trial.params) if trial.params else {})}
    return matching(dataset=dataset.name, dataset_options=dataset.options,
                    split_kind=split.kind, split_options=split.options or {},
                    model=trial.model, params=params, epochs=trial.epochs[-1], k=trial.k)


def _one(run_dir: Path, trial: TrialRef, split, features, presets, rescore) -> TrialResult:
    from recsys_bench.eval.presets import from_model

    users = np.asarray(split.users, dtype=np.int64)
    stored = _stored_lists(run_dir, trial, users)
    view = _scored(split)
    data = ProtocolInput(train=view.train, test=view.test, users=np.asarray(view.users), k=trial.k,
                         lists={trial.exclude_train: stored}, exclude_train=trial.exclude_train)
    note, tie_users = "", None
    if rescore:
        model = _retrain(trial, split, features)
        if split.fold_in is not None:
            model, view = folded(model, split)
        data = from_model(model, view, trial.k, exclude_train=trial.exclude_train)
        again = data.lists[trial.exclude_train][:, :stored.shape[1]]
        same = (again == stored).all(axis=1)
        note = ("re-scored lists identical to the stored ones" if same.all() else
                f"re-scored lists differ from the stored ones for {int((~same).sum())} of "
                f"{len(users)} users (training is not deterministic here)")
    values = {preset: compute(preset, data) for preset in presets}
    if rescore and "lightfm" in values:
        tie_users = _tie_users(data, values["lightfm"])
    context = beyond.BeyondContext(split.train, truth=data.truth(), item_vectors=features)
    extra = beyond.summarise(stored[:, :trial.k], context)
    return TrialResult(trial, values, extra, note, tie_users)


def _tie_users(data: ProtocolInput, lightfm: dict) -> int | None:
    """Users whose LightFM hit count (ties against) differs from their list's hit count."""
    from recsys_bench.eval.presets import list_hits

    exact = lightfm.get("precision_at_k")
    if not isinstance(exact, Measure) or exact.per_user is None:
        return None
    truth = data.truth()
    counted = np.diff(truth.indptr) > 0
    listed = list_hits(data.top(True, data.k), truth).sum(axis=1)[counted] / data.k
    return int((np.abs(listed - exact.per_user) > 1e-12).sum())


# --------------------------------------------------------------------------- Markdown

def _cell(value) -> Cell:
    if isinstance(value, NotApplicable):
        return Cell("n/a")
    if value is None or not np.isfinite(value.value):
        return Cell("–")
    return Cell(f"{value.value:.4f}", value.value)


def differences(group: Group, presets, rescored: bool) -> list[str]:
    """One line per reason the presets' figures differ on this split, with its measured size."""
    f = group.facts
    k = f["k"]
    excluded = {r.trial.exclude_train for r in group.results}
    run_exclusion = ("removed" if excluded == {True} else "kept" if excluded == {False}
                     else "removed in some trials, kept in others")
    ratio = (k * f["listed_with_test"]) / f["sum_min"] if f["sum_min"] else float("nan")
    lines = [
        f"- **divisor (precision)**: recsys-bench and LightFM divide each user's hits by k = {k}; "
        f"implicit pools hits over users and divides by Σ min(k, |T_u|) = {f['sum_min']:,} "
        f"instead of k·|U| = {k * f['listed_with_test']:,}, so for the same lists its precision "
        f"is up to {ratio:.3f}× ours ({f['short_truth']:,} users have fewer than k test items).",
        f"- **divisor (recall)**: recsys-bench and LightFM divide by |T_u|; liang2018 by "
        f"min(k, |T_u|), which differs for the {f['long_truth']:,} users with more than k = {k} "
        "test items (and at k = 20, 50 for those above 20, 50).",
        "- **divisor (MAP, NDCG)**: recsys-bench, implicit and liang2018 all normalise by "
        "min(k, |T_u|) (the ideal list): no difference from this source.",
        f"- **exclusion**: this run ranked with each user's train items {run_exclusion}. "
        "LightFM removes them only when given `train_interactions` (its plain rows); the "
        "`_unfiltered` rows rank them too, so train items take list places. implicit always "
        "removes them (`filter_already_liked_items`); liang2018 removes the fold-in items.",
        f"- **user set**: recsys-bench averages over the split's {f['users']:,} evaluated users; "
        f"LightFM (`preserve_rows=False`), implicit and liang2018 over the users with a test "
        f"item: {f['users_with_test']:,} in the split, {f['listed_with_test']:,} of them listed"
        + (" (the same users)." if f["users_with_test"] == f["listed_with_test"] == f["users"]
           else "; users without a list cannot be scored from stored lists."),
    ]
    ties = [r.tie_users for r in group.results if r.tie_users is not None]
    lines.append(
        "- **ties**: the harness's lists break equal scores by lower item index; LightFM counts "
        "every item scoring >= a positive above it, so a tie at the k-th place costs the "
        "positive its hit. "
        + (f"Measured from re-scored models: {max(ties):,} users (in the worst trial) whose "
           "LightFM hit count differs from their list's." if ties else
           "From stored lists alone the LightFM figures assume no tie at the k-th place "
           "(exact with --rescore)."))
    lines.append(
        "- **AUC**: recsys-bench ranks every item, excluded ones on neither side, ties half; "
        "LightFM ranks every item with ties against the positive, counting train items as "
        "negatives unless given `train_interactions`, accumulated in float32; implicit's `auc` "
        "is a truncated AUC from the top-k alone: positives beyond the list get half credit "
        f"against every unseen negative, and its negatives are all n_items − |T_u| "
        f"({f['n_items']:,} − |T_u|) items, train items included."
        + ("" if rescored else " AUC from scores needs --rescore."))
    lines.append(
        "- **sampled vs full**: every preset here ranks the full catalogue; none samples "
        "negatives (sampled metrics, as in RecBole's or NCF's protocols, are not comparable "
        "with any row of this table).")
    return lines


def to_document(groups: list[Group], run_dir: Path, presets, rescore: bool) -> Document:
    """The reconciliation: per split, one table per preset, the difference lines, the published
    figures measured under the run's protocol, and the beyond-accuracy figures."""
    presets = tuple(presets or PRESETS)
    doc = Document()
    doc.heading(1, "Reconciliation across protocols")
    doc.para(f"Run `{run_dir.name}`: each trial's stored top-k lists (`raw/*.npz`, last "
             "checkpoint) under every protocol preset (definitions: `docs/protocols.md`)"
             + (", with every item's score from the trial's model trained again "
                "(`--rescore`)." if rescore else "; figures that need every item's score are "
                "n/a (rerun with `--rescore`)."))
    for group in groups:
        f = group.facts
        doc.heading(2, f"{group.dataset}, split seed {group.seed}")
        doc.para(f"{f['users']:,} evaluated users, {f['n_items']:,} items, k = {f['k']}.")
        reasons: dict[str, str] = {}
        for preset in presets:
            names = []
            for result in group.results:
                for name in result.values.get(preset, {}):
                    if name not in names:
                        names.append(name)
            rows = []
            for result in group.results:
                values = result.values.get(preset, {})
                for name, value in values.items():
                    if isinstance(value, NotApplicable):
                        reasons[f"{preset} {name}"] = str(value)
                rows.append([Cell(result.trial.trial_id), Cell(result.trial.label)]
                            + [_cell(values.get(n)) for n in names])
            doc.heading(3, preset)
            doc.table(Table(["trial", "model", *names], rows))
        if reasons:
            doc.para("Not applicable:")
            doc.bullets([f"{what}: {why}" for what, why in reasons.items()])
        doc.heading(3, "Why the figures differ")
        doc.bullets([line[2:] for line in differences(group, presets, rescore)])
        notes = [f"{r.trial.trial_id}: {r.rescored}" for r in group.results if r.rescored]
        if notes:
            doc.para("Re-scoring:")
            doc.bullets(notes)
        _published_part(doc, group)
        _beyond_part(doc, group)
    return doc


def _published_part(doc: Document, group: Group) -> None:
    rows = []
    for result in group.results:
        for figure in result.published:
            ours = result.values.get(figure.preset, {}).get(figure.metric)
            measured = isinstance(ours, Measure) and np.isfinite(ours.value)
            rows.append([Cell(result.trial.label), Cell(figure.label),
                         Cell(figure.printed, figure.value), _cell(ours),
                         Cell(f"{ours.value - figure.value:+.4f}" if measured else "–"),
                         Cell(f"{figure.preset} `{figure.metric}`")])
    if not rows:
        return
    sources = sorted({f.source for r in group.results for f in r.published})
    doc.heading(3, "Published figures vs ours")
    doc.para("Trials that repeat a published protocol (data, split, model, parameters, epochs, "
             "k; `recsys_bench/eval/published.py`), scored by the preset that computes the "
             "figure as the publication did. Published figures are as printed (rounded). "
             "Sources: " + "; ".join(sources) + ".")
    doc.table(Table(["model", "figure", "published", "ours", "ours − published",
                     "preset metric"], rows))


def _beyond_part(doc: Document, group: Group) -> None:
    names = list(beyond.METRICS)
    shown = [n for n in names if any(n in r.beyond for r in group.results)]
    doc.heading(3, "Beyond accuracy (from the same stored lists)")
    doc.para("Definitions: `docs/metrics.md`. Popularity base: the split's train matrix"
             + ("; intra-list diversity from the data set's item features." if any(
                 "intra_list_diversity" in r.beyond for r in group.results) else
                "; no item features stored, so no intra-list diversity."))
    doc.table(Table(["trial", "model", *shown], [
        [Cell(result.trial.trial_id), Cell(result.trial.label)]
        + [Cell(f"{result.beyond[n]:.4f}" if n in result.beyond else "–") for n in shown]
        for result in group.results]))


def write_reconciliation(run_dir, *, presets=None, rescore: bool = False,
                         strict: bool | None = None, out: Path | None = None) -> Path:
    """Reconcile a run and write ``reconcile.md`` (or ``out``) and, in the run folder,
    ``reconcile.json``: the same document, which the report renders as its protocols section.
    ``strict`` as for :func:`reconcile`. Returns the Markdown file's path.
    """
    run_dir = Path(run_dir)
    groups = reconcile(run_dir, presets=presets, rescore=rescore, strict=strict)
    doc = to_document(groups, run_dir, presets, rescore)
    out = Path(out) if out else run_dir / OUTPUT
    atomic_write_text(out, render_markdown(doc, run_dir))
    if out.parent == run_dir:
        atomic_write_text(run_dir / DOCUMENT, doc.to_json())
    return out
