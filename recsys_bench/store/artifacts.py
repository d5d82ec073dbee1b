"""Files a run keeps besides its table: saved model vectors, item vocabularies, sparse matrices.

The runner's trials and a search's retrained best write them; the queries of
:mod:`recsys_bench.embeddings` and the gallery read them. A saved model
(``models/<trial_id>.npz``) holds

- ``item_vectors`` (items x d, float32: ``model.item_vectors()``), ``item_ids``, ``item_names``;
- ``item_tags_indptr`` / ``item_tags_indices``: which features (``feature_names``) each item
  carries, when the data set has item features (shown next to every item);
- for models that embed item features (LightFM with ``features="tags"``: the
  ``feature_embeddings`` capability), ``feature_embeddings``: ``n_items`` identity rows followed
  by one row per tag/category (``feature_names``);
- ``meta``: JSON with the model name, parameters, trial id, data set, seed, epochs and, where
  known, the test precision@k.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.fileio import atomic_save_npz, reading
from recsys_bench.store.run_folder import RunFolder

MODEL_ADVICE = "move it aside or delete it; rerun the trial (or use --trial) to get a model"


def save_csr(path: str | os.PathLike, matrix: sp.spmatrix) -> None:
    """Write a sparse matrix as CSR arrays in one ``.npz`` (atomically)."""
    matrix = sp.csr_matrix(matrix)
    atomic_save_npz(path, {"data": matrix.data, "indices": matrix.indices,
                           "indptr": matrix.indptr,
                           "shape": np.asarray(matrix.shape, dtype=np.int64)})


def load_csr(path: str | os.PathLike) -> sp.csr_matrix:
    """Read a matrix written by :func:`save_csr`."""
    with reading(path), np.load(path, allow_pickle=False) as npz:
        return sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]),
                             shape=tuple(npz["shape"]))


@dataclass(frozen=True)
class Vocabulary:
    """Display data of a data set's items: ids, names and the names of their features."""

    item_ids: np.ndarray
    item_names: np.ndarray
    feature_names: np.ndarray | None


def _strings(values, n: int | None = None) -> np.ndarray:
    """A unicode array of ``values`` (``None`` entries become ''); ``n`` empty ones for None."""
    if values is None:
        return np.full(n or 0, "", dtype=str)
    out = np.asarray(["" if v is None else str(v) for v in values], dtype=str)
    return out if len(out) else np.zeros(0, dtype="<U1")


def _pack(values) -> np.ndarray:
    """Strings as UTF-8 JSON bytes: compact in an uncompressed npz, any character allowed."""
    return np.frombuffer(json.dumps([str(v) for v in values]).encode("utf-8"), dtype=np.uint8)


def unpack_strings(blob: np.ndarray) -> np.ndarray:
    return _strings(json.loads(blob.tobytes().decode("utf-8")))


def save_vocabulary(path: str | os.PathLike, interactions) -> None:
    """Write the item ids, names and feature names of an ``Interactions`` to ``path`` (npz).

    The runner stores one per data set (``splits/<dataset>-items.npz``) so that saved models can
    be shown with names and tags.
    """
    arrays = {"item_ids": _pack(_strings(interactions.item_ids)),
              "item_names": _pack(_strings(interactions.item_names, interactions.n_items))}
    if interactions.feature_names is not None:
        arrays["feature_names"] = _pack(interactions.feature_names)
    atomic_save_npz(path, arrays, compressed=False)


def load_vocabulary(path: str | os.PathLike) -> Vocabulary:
    """Read a file written by :func:`save_vocabulary`."""
    with reading(path), np.load(path, allow_pickle=False) as npz:
        return Vocabulary(item_ids=unpack_strings(npz["item_ids"]),
                          item_names=unpack_strings(npz["item_names"]),
                          feature_names=(unpack_strings(npz["feature_names"])
                                         if "feature_names" in npz else None))


def _feature_embeddings(model) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """``([identity | features] matrix, feature embeddings)`` of a model that embeds item
    features (its ``feature_embeddings`` capability), else None."""
    capabilities = getattr(model, "capabilities", None)
    if capabilities is None or not capabilities.feature_embeddings:
        return None
    return model.feature_embeddings()


def save_model_vectors(model, path: str | os.PathLike, *, item_ids, item_names,
                       feature_names=None, item_features: sp.spmatrix | None = None,
                       meta: dict | None = None) -> Path | None:
    """Save a fitted model's item vectors (and tag embeddings) for later similarity queries.

    Parameters
    ----------
    model : Recommender
        Fitted. Models whose ``item_vectors()`` is None (popularity, EASE, ...) are not saved.
    path : path-like
        The ``.npz`` to write (atomically), normally ``models/<trial_id>.npz`` of a run folder.
    item_ids, item_names : sequence
        One per item (column of the train matrix); names may be None.
    feature_names : sequence, optional
        Names of the columns of the data set's item features (``tag_*``, ``category_*``, ...).
    item_features : scipy.sparse matrix, optional
        The data set's items x features matrix, so results show each item's tags. Taken from the
        model when it was fitted with tags and this is not given.
    meta : dict, optional
        JSON-serialisable facts stored with the vectors (trial id, data set, seed, score, ...);
        ``model``, ``params`` and ``epochs_done`` are added from the model.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when the model has no item vectors.
    """
    vectors = model.item_vectors()
    if vectors is None:
        return None
    vectors = np.asarray(vectors, dtype=np.float32)
    n_items = vectors.shape[0]
    ids = _strings(item_ids)
    if len(ids) != n_items:
        raise ValueError(f"{len(ids)} item ids for {n_items} item vectors")
    arrays = {"item_vectors": vectors, "item_ids": _pack(ids),
              "item_names": _pack(_strings(item_names, n_items))}
    embedded = _feature_embeddings(model)
    if embedded is not None:
        full, embeddings = embedded
        arrays["feature_embeddings"] = np.asarray(embeddings, dtype=np.float32)
        if item_features is None:
            item_features = sp.csr_matrix(full)[:, n_items:]
    if item_features is not None:
        tags = sp.csr_matrix(item_features)
        tags.eliminate_zeros()
        tags.sort_indices()
        if tags.shape[0] != n_items:
            raise ValueError(f"item_features has {tags.shape[0]} rows for {n_items} items")
        names = (_strings(feature_names) if feature_names is not None
                 else np.asarray([f"feature_{j}" for j in range(tags.shape[1])], dtype=str))
        if len(names) != tags.shape[1]:
            raise ValueError(f"{len(names)} feature names for {tags.shape[1]} feature columns")
        arrays.update(item_tags_indptr=tags.indptr.astype(np.int64),
                      item_tags_indices=tags.indices.astype(np.int32), feature_names=_pack(names))
        if "feature_embeddings" in arrays and arrays["feature_embeddings"].shape[0] != \
                n_items + tags.shape[1]:
            raise ValueError("feature embeddings do not match [identity | item_features]")
    info = {"model": getattr(model, "name", ""), "params": getattr(model, "params", {}),
            "epochs_done": int(getattr(model, "epochs_done", 0)), **(meta or {})}
    arrays["meta"] = np.asarray(json.dumps(info, sort_keys=True, default=str))
    path = Path(path)
    atomic_save_npz(path, arrays, compressed=False)
    return path


def vocabulary_path(run_dir: str | os.PathLike, dataset: str) -> Path:
    """Where the runner keeps the item ids, names and feature names of data set ``dataset``."""
    return RunFolder(run_dir).vocabulary(dataset)


def model_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the vectors of trial ``trial_id`` are saved."""
    return RunFolder(run_dir).model(trial_id)


def save_run_model(run_dir: str | os.PathLike, model, *, dataset: str, trial_id: str,
                   item_features: sp.spmatrix | None = None, score: float | None = None,
                   k: int | None = None, keep: int | None = None, meta: dict | None = None
                   ) -> Path | None:
    """Save a trial's fitted model to ``models/<trial_id>.npz`` of a run folder.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    model : Recommender
        Fitted, at the trial's last checkpoint.
    dataset, trial_id : str
        The trial's data set label and id. Item ids, names and feature names come from
        ``splits/<dataset>-items.npz`` (:func:`save_vocabulary`); without it items are named by
        their column index.
    item_features : scipy.sparse matrix, optional
        The data set's item features (shown as each item's tags).
    score, k : float, int, optional
        The trial's test precision@k at this checkpoint, stored in ``meta`` (ranks the models).
    keep : int, optional
        Keep at most this many models per group (data set, model name, with or without tag
        embeddings), the best by score: the model is not written when ``keep`` better ones are
        saved already, and worse ones are deleted. None: keep every trial's model.
    meta : dict, optional
        More facts for ``meta`` (model name, seed, params, ...).

    Returns
    -------
    pathlib.Path or None
        The file written, or None (no item vectors, or not among the ``keep`` best).
    """
    vectors = model.item_vectors()
    if vectors is None:
        return None
    tagged = _feature_embeddings(model) is not None
    if keep is not None:
        group = _group(run_dir, dataset, getattr(model, "name", ""), tagged)
        if len(group) >= keep and not _better(score, group[keep - 1].score):
            return None
    n_items = vectors.shape[0]
    vocab_file = vocabulary_path(run_dir, dataset)
    if vocab_file.exists():
        vocab = load_vocabulary(vocab_file)
    else:
        vocab = Vocabulary(np.arange(n_items).astype(str), np.full(n_items, "", dtype=str), None)
    feature_names = vocab.feature_names
    if item_features is not None and (feature_names is None
                                      or len(feature_names) != item_features.shape[1]):
        feature_names = None
    info = {"trial_id": trial_id, "dataset": dataset, **(meta or {})}
    if score is not None:
        info.update(score=float(score), k=k)
    path = save_model_vectors(model, model_path(run_dir, trial_id), item_ids=vocab.item_ids,
                              item_names=vocab.item_names, feature_names=feature_names,
                              item_features=item_features, meta=info)
    if keep is not None:
        for entry in _group(run_dir, dataset, getattr(model, "name", ""), tagged)[keep:]:
            entry.path.unlink(missing_ok=True)
    return path


def _better(score: float | None, than: float) -> bool:
    if score is None or not np.isfinite(score):
        return False
    return not np.isfinite(than) or score > than


def _group(run_dir, dataset: str, model: str, tagged: bool) -> list[SavedEntry]:
    return [e for e in saved_models(run_dir, table_scores=False)
            if str(e.meta.get("dataset", "")) == dataset and e.model == model
            and e.has_tags == tagged]


def prune_saved_models(run_dir: str | os.PathLike, keep: int = 1) -> list[Path]:
    """Delete all but the ``keep`` best saved models of each group of a run folder.

    A group is a data set, a model name and whether the model has tag embeddings (so LightFM
    with tags is kept next to LightFM without). "Best" is as for the queries (test precision@k at
    the saved checkpoint). Returns the files removed. Vectors take disk space (26,037 items x 120
    factors is 12 MB a trial), so a large grid can keep only what the queries use.
    """
    groups: dict[tuple[str, str, bool], list[SavedEntry]] = {}
    for entry in saved_models(run_dir):
        key = (str(entry.meta.get("dataset", "")), entry.model, entry.has_tags)
        groups.setdefault(key, []).append(entry)
    removed = []
    for entries in groups.values():
        for entry in entries[keep:]:
            entry.path.unlink(missing_ok=True)
            removed.append(entry.path)
    return removed


@dataclass(frozen=True)
class SavedEntry:
    """A saved model file with its ``meta`` (score included) but without its arrays."""

    path: Path
    meta: dict
    score: float
    has_tags: bool

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))


def _read_meta(path: Path) -> tuple[dict, bool] | None:
    """``(meta, has tag embeddings)`` of a saved model; None when another process just removed
    it (a runner worker keeping only the best)."""
    try:
        with reading(path, advice=MODEL_ADVICE), np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["meta"])), "feature_embeddings" in npz.files
    except FileNotFoundError:
        return None


def _test_scores(run_dir: Path) -> dict[str, tuple[float, int]]:
    """trial id -> (test precision@k at its last epoch, k), from the run's results table."""
    from recsys_bench.store.table import read_results

    try:
        df = read_results(run_dir)
    except UserError:
        return {}
    df = df[(df["status"] == "ok") & (df["subset"] == "test")]
    if df.empty:
        return {}
    last = df.sort_values("epoch").groupby("trial_id").tail(1)
    return {str(t): (float(p), int(k)) for t, p, k in
            zip(last["trial_id"], last["precision_at_k"], last["k"], strict=True)}


def saved_models(run_dir: str | os.PathLike, *, table_scores: bool = True
                 ) -> list[SavedEntry]:
    """Saved models of a run, best test precision@k first (unknown scores last).

    A model's score is its trial's test precision@k at the last checkpoint in the results table,
    else the ``score`` stored in its ``meta``. With ``table_scores=False`` only the stored
    ``score`` is used: that is how the runner's workers rank models while a run is going, since
    the table may trail the finished trials and rebuilding it from ``trials/`` after every trial
    cost seconds per trial in the 180-trial grid.
    """
    run_dir = Path(run_dir)
    files = sorted(RunFolder(run_dir).models.glob("*.npz"))
    scores = _test_scores(run_dir) if files and table_scores else {}
    entries = []
    for path in files:
        found = _read_meta(path)
        if found is None:
            continue
        meta, has_tags = found
        meta.setdefault("trial_id", path.stem)
        score, k = scores.get(str(meta["trial_id"]), (meta.get("score", np.nan), meta.get("k")))
        meta.update(score=None if score is None else float(score), k=k)
        value = float("nan") if score is None else float(score)
        entries.append(SavedEntry(path, meta, value, has_tags))
    return sorted(entries, key=lambda e: (not np.isfinite(e.score),
                                          -e.score if np.isfinite(e.score) else 0.0, e.path.name))
