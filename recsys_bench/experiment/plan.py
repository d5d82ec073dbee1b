"""From an experiment to its trials: the stored splits, then every trial in config order.

:func:`prepare_splits` loads each data set once, draws its splits (one per seed) and stores
them in the run folder (reused when already stored and still matching); :func:`plan_trials`
crosses data sets, seeds, models, settings and thread counts into :class:`Trial` s, and
:func:`schedule_order` orders them for the scheduler.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_bench.errors import UserError
from recsys_bench.experiment.config import Experiment, ModelSpec
from recsys_bench.experiment.trial import Trial
from recsys_bench.fileio import atomic_write_json, reading
from recsys_bench.models import wants_features
from recsys_bench.store.artifacts import save_csr, save_vocabulary
from recsys_bench.store.run_folder import RunFolder


@dataclass(frozen=True)
class PreparedSplit:
    """A stored split of one data set and seed, with the figures trials report."""

    label: str
    seed: int
    split_file: str
    features_file: str | None
    fingerprint: str
    n_users: int
    n_items: int
    likes: int
    train_likes: int
    all_users: int = 0


def trial_id(dataset: str, fingerprint: str, model: str, params_json: str, threads: int) -> str:
    """Short stable id of a trial: sha256 of its identity, 16 hex digits."""
    key = json.dumps([dataset, fingerprint, model, params_json, int(threads)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def params_json(params: dict) -> str:
    """Parameters as JSON with sorted keys (the ``params`` column)."""
    return json.dumps(params, sort_keys=True)


def prepare_splits(experiment: Experiment, run_dir: Path, say=None, load=None
                   ) -> dict[tuple[str, int], PreparedSplit]:
    """Load each data set once, draw and store its splits (reused when already stored).

    Writes ``splits/<label>-seed<N>.npz``, ``splits/<label>-features.npz`` (when the data set has
    item features) and ``splits/<label>.json`` (sizes, loader statistics, split fingerprints).
    ``say``, if given, is called with a line of progress before each data set is loaded;
    ``load``, if given, returns the loaded data of a ``[[datasets]]`` entry (data sets already
    loaded, e.g. by :class:`recsys_bench.experiment.guard.Sources`).
    """
    from recsys_bench import datasets

    folder = RunFolder(run_dir)
    folder.splits.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, int], PreparedSplit] = {}
    for spec in experiment.datasets:
        meta_path = folder.split_meta(spec.label)
        meta = _stored_meta(meta_path, experiment, spec)
        if meta is None:
            if say is not None:
                say(f"drawing {len(experiment.split.seeds)} {experiment.split.kind} split(s) of "
                    f"{spec.label}")
            data = load(spec) if load is not None else datasets.load(spec.name, **spec.options)
            meta = _make_splits(experiment, spec, folder, data)
            atomic_write_json(meta_path, meta)
        for seed in experiment.split.seeds:
            entry = meta["seeds"][str(seed)]
            features = meta["features_file"]
            out[spec.label, seed] = PreparedSplit(
                label=spec.label, seed=seed,
                split_file=folder.relative(folder.splits / entry["file"]),
                features_file=folder.relative(folder.splits / features) if features else None,
                fingerprint=entry["fingerprint"], n_users=entry["evaluated_users"],
                n_items=meta["items"], likes=meta["likes"], train_likes=entry["train_likes"],
                all_users=meta["users"])
    return out


def _stored_meta(path: Path, experiment: Experiment, spec) -> dict | None:
    """The stored description of a data set's splits, if it is complete and still matches."""
    if not path.exists():
        return None
    with reading(path):
        meta = json.loads(path.read_text(encoding="utf-8"))
    seeds = meta.get("seeds", {})
    files = [seeds[str(s)]["file"] for s in experiment.split.seeds if str(s) in seeds]
    if meta.get("features_file"):
        files.append(meta["features_file"])
    complete = (all(str(s) in seeds for s in experiment.split.seeds)
                and all((path.parent / name).exists() for name in files)
                and RunFolder(path.parent.parent).vocabulary(spec.label).exists())
    same = (meta.get("name") == spec.name and meta.get("options") == spec.options
            and meta.get("split") == _split_identity(experiment))
    return meta if complete and same else None


def _split_identity(experiment: Experiment) -> dict:
    return {"kind": experiment.split.kind, "options": experiment.split.options}


def _make_splits(experiment: Experiment, spec, folder: RunFolder, data) -> dict:
    from recsys_bench.splits import make_split, save_split

    save_vocabulary(folder.vocabulary(spec.label), data)
    features_file = None
    if data.item_features is not None:
        features_file = folder.features_name(spec.label)
        save_csr(folder.splits / features_file, data.item_features)
    seeds = {}
    for seed in experiment.split.seeds:
        split = make_split(data, experiment.split.kind, seed=seed, **experiment.split.options)
        name = folder.split_name(spec.label, seed)
        save_split(split, folder.splits / name)
        seeds[str(seed)] = {"file": name, "fingerprint": split.fingerprint,
                            "train_likes": int(split.train.nnz), "test_likes": int(split.test.nnz),
                            "evaluated_users": int(len(split.users)), "stats": split.stats}
    return {"label": spec.label, "name": spec.name, "options": spec.options,
            "split": _split_identity(experiment), "users": int(data.n_users),
            "items": int(data.n_items), "likes": int(data.nnz),
            "features": None if data.item_features is None else int(data.item_features.shape[1]),
            "features_file": features_file, "summary": data.summary(),
            "sources": [source.as_dict() for source in data.sources], "seeds": seeds}


def plan_trials(experiment: Experiment, prepared: dict[tuple[str, int], PreparedSplit]
                ) -> list[Trial]:
    """Every trial of the experiment, in config order (data set, seed, model, setting, threads).

    A trial listed by two ``[[models]]`` entries (same model, parameters and thread count, e.g. a
    grid point that a thread-scaling entry repeats) runs once: it is exclusive if either entry
    makes it so, with the most repeats asked for, and otherwise as the first entry says.

    Raises
    ------
    UserError
        A setting asks for item features (``features = "tags"``) on a data set without them.
    """
    trials = []
    ev, timing = experiment.evaluation, experiment.timing
    for spec in experiment.datasets:
        for seed in experiment.split.seeds:
            split = prepared[spec.label, seed]
            for index, model in enumerate(experiment.models):
                if not model.applies_to(spec.label):
                    continue
                for setting in model.settings():
                    if wants_features(setting) and split.features_file is None:
                        raise UserError(f"models[{index}] ({model.name}) asks for features = "
                                        f"\"tags\" but dataset {spec.label!r} has no item "
                                        "features", path=experiment.path)
                    text = params_json(setting)
                    for threads in model.threads:
                        trials.append(Trial(
                            trial_id=trial_id(spec.label, split.fingerprint, model.name, text,
                                              threads),
                            dataset=spec.label, dataset_name=spec.name,
                            dataset_options=params_json(spec.options), seed=seed,
                            split_kind=experiment.split.kind,
                            split_fingerprint=split.fingerprint, split_file=split.split_file,
                            features_file=split.features_file, model=model.name,
                            params=setting, params_json=text, threads=threads,
                            checkpoints=experiment.checkpoints_of(model), k=ev.k,
                            metrics=ev.metrics, subsets=ev.subsets,
                            exclude_train=ev.exclude_train, warmup=experiment.warmup_of(model),
                            repeats=experiment.repeats_of(model), timeout_s=timing.timeout_s,
                            exclusive=_exclusive(timing.exclusive, model),
                            n_users=split.n_users, n_items=split.n_items, likes=split.likes,
                            train_likes=split.train_likes, all_users=split.all_users))
    unique: dict[str, Trial] = {}
    for trial in trials:
        first = unique.setdefault(trial.trial_id, trial)
        if first is not trial:
            unique[trial.trial_id] = dataclasses.replace(
                first, exclusive=first.exclusive or trial.exclusive,
                repeats=max(first.repeats, trial.repeats))
    return list(unique.values())


def _exclusive(policy: str, model: ModelSpec) -> bool:
    return policy == "all" or (policy == "scaling" and len(model.threads) > 1)


def schedule_order(trials: list[Trial], planned: list[Trial]) -> list[Trial]:
    """``trials`` in the order they should start: exclusive trials first (so the machine
    empties once), then most threads, then the longest first (so the last trials to start are
    the short ones and no core idles at the end of a grid), then the order of ``planned``
    (config order)."""
    position = {t.trial_id: i for i, t in enumerate(planned)}
    return sorted(trials, key=lambda t: (not t.exclusive, -t.threads if not t.exclusive else 0,
                                         -_work_estimate(t), position[t.trial_id]))


def _work_estimate(trial: Trial) -> float:
    """A rough relative cost of a trial: likes x epochs x latent dimension (1 when not given).

    Only the order of trials depends on it, never a result.
    """
    epochs = max(trial.checkpoints) if trial.checkpoints else \
        trial.params.get("epochs", trial.params.get("iterations", 1))
    width = trial.params.get("factors", trial.params.get("no_components", 1))
    numbers = [v for v in (epochs, width)
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(trial.likes) * float(np.prod(numbers or [1]))
