"""Queries in the embedding space of trained models: similar items, tag -> items, item -> tags.

The study's item-to-item view ranks items by the cosine of their vectors; its part 2 puts tags in
the same space as items (LightFM with ``features="tags"``: an item's representation is the sum of
its identity and tag embeddings), which allows ranking items by the cosine between a tag's
embedding and each item's representation, and suggesting to an item the tags closest to it.

Trained models are saved in the run folder, so no query retrains: ``models/<trial_id>.npz`` holds

- ``item_vectors`` (items x d, float32: ``model.item_vectors()``), ``item_ids``, ``item_names``;
- ``item_tags_indptr`` / ``item_tags_indices``: which features (``feature_names``) each item
  carries, when the data set has item features (shown next to every item);
- for LightFM trained with tags, ``feature_embeddings``: LightFM's item-feature embeddings,
  ``n_items`` identity rows followed by one row per tag/category (``feature_names``);
- ``meta``: JSON with the model name, parameters, trial id, data set, seed, epochs and, where
  known, the test precision@k.

A query picks one saved model: ``trial`` names it; otherwise the best trial of ``model`` in the
run by test precision@k (at the trial's last checkpoint, the one that was saved), read from the
results table, or from ``meta`` in folders without one (a search's retrained best).
"""

from __future__ import annotations

import difflib
import json
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import CorruptFile, UserError
from recsys_bench.fileio import reading
from recsys_bench.store.table import atomic_save_npz

_MODEL_ADVICE = "move it aside or delete it; rerun the trial (or use --trial) to get a model"

MODELS_DIR = "models"
TAG_PREFIXES = ("tag_", "category_", "genre_")


# --------------------------------------------------------------------------- saving

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


def _unpack(blob: np.ndarray) -> np.ndarray:
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
        return Vocabulary(item_ids=_unpack(npz["item_ids"]), item_names=_unpack(npz["item_names"]),
                          feature_names=(_unpack(npz["feature_names"])
                                         if "feature_names" in npz else None))


def _lightfm_features(model) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """``([identity | tags] matrix, feature embeddings)`` of a LightFM model fitted with tags.

    Uses ``model.feature_embeddings()`` when the adapter has it, else the adapter's fitted state.
    """
    getter = getattr(model, "feature_embeddings", None)
    if callable(getter):
        return getter()
    features = getattr(model, "_item_features", None)
    inner = getattr(model, "_model", None)
    if features is None or inner is None or not hasattr(inner, "item_embeddings"):
        return None
    return sp.csr_matrix(features), np.asarray(inner.item_embeddings)


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
    lightfm = _lightfm_features(model)
    if lightfm is not None:
        full, embeddings = lightfm
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
    return Path(run_dir) / "splits" / f"{dataset}-items.npz"


def model_path(run_dir: str | os.PathLike, trial_id: str) -> Path:
    """Where the vectors of trial ``trial_id`` are saved."""
    return Path(run_dir) / MODELS_DIR / f"{trial_id}.npz"


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
    tagged = _lightfm_features(model) is not None
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


# --------------------------------------------------------------------------- loading

@dataclass(frozen=True)
class Hit:
    """One result row: an item with its name, its tags and its cosine to the query."""

    index: int
    item_id: str
    name: str
    tags: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class TagHit:
    """One suggested tag: its feature name, its cosine to the item, how many items carry it."""

    feature: str
    score: float
    items: int


@dataclass(frozen=True)
class SavedModel:
    """A saved model's vectors with the display data of its items.

    Attributes
    ----------
    item_vectors : numpy.ndarray
        items x d.
    item_tags : scipy.sparse.csr_matrix or None
        items x features pattern: which tags each item carries.
    tag_vectors : numpy.ndarray or None
        features x d embeddings of the tags (LightFM with tags only).
    meta : dict
        What :func:`save_model_vectors` stored.
    """

    path: Path
    meta: dict
    item_vectors: np.ndarray
    item_ids: np.ndarray
    item_names: np.ndarray
    feature_names: np.ndarray | None
    item_tags: sp.csr_matrix | None
    tag_vectors: np.ndarray | None

    @property
    def label(self) -> str:
        """``model, trial <id> (<dataset>, seed <s>, test p@k <x>)`` for headers."""
        m = self.meta
        facts = [m.get("dataset")]
        if m.get("seed") is not None:
            facts.append(f"seed {m['seed']}")
        if m.get("epochs_done"):
            facts.append(f"{m['epochs_done']} epochs")
        score = m.get("score")
        if score is not None and np.isfinite(score):
            facts.append(f"test p@{m.get('k', 'k')} {score:.4f}")
        facts = ", ".join(str(f) for f in facts if f)
        return f"{m.get('model', '?')}, trial {m.get('trial_id', self.path.stem)}" + (
            f" ({facts})" if facts else "")

    @property
    def n_items(self) -> int:
        return self.item_vectors.shape[0]

    def tags_of(self, index: int) -> tuple[str, ...]:
        """Feature names carried by item ``index`` (empty without item features)."""
        if self.item_tags is None:
            return ()
        row = self.item_tags.indices[self.item_tags.indptr[index]:self.item_tags.indptr[index + 1]]
        return tuple(str(self.feature_names[j]) for j in row)

    def hit(self, index: int, score: float) -> Hit:
        return Hit(index=int(index), item_id=str(self.item_ids[index]),
                   name=str(self.item_names[index]), tags=self.tags_of(index), score=float(score))

    def find_item(self, query: str) -> int:
        """Column index of the item with id ``query`` (or, failing that, exactly that name).

        Raises
        ------
        UserError
            No such item; the message suggests close ids and names.
        """
        query = str(query)
        found = np.flatnonzero(self.item_ids == query)
        if len(found):
            return int(found[0])
        folded = _fold(query)
        all_folded = [_fold(name) for name in self.item_names]
        by_name = [i for i, name in enumerate(all_folded) if name == folded]
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            listed = ", ".join(str(self.item_ids[i]) for i in by_name[:5])
            raise UserError(f"{len(by_name)} items are named {query!r}; give one id: {listed}")
        ids = close_matches(query, list(self.item_ids), 3)
        names = {n: i for i, n in enumerate(all_folded) if n}
        close = close_matches(folded, list(names), 3)
        hints = [str(i) for i in ids] + [f"{self.item_ids[names[n]]} ({self.item_names[names[n]]})"
                                         for n in close]
        hint = f"; close matches: {', '.join(_one_line(h) for h in hints)}" if hints else ""
        raise UserError(f"unknown item {query!r} in {self.meta.get('dataset') or 'this model'} "
                        f"({self.n_items} items){hint}")

    def find_tag(self, query: str) -> int:
        """Column of the feature named ``query`` (``lowpoly`` finds ``tag_lowpoly``).

        Raises
        ------
        UserError
            No such tag; the message suggests close ones.
        """
        self.require_tags()
        names = [str(n) for n in self.feature_names]
        if query in names:
            return names.index(query)
        folded = query.strip().lower()
        for prefix in ("",) + TAG_PREFIXES:
            if prefix + folded in names:
                return names.index(prefix + folded)
        bare = {n.split("_", 1)[1] if n.startswith(TAG_PREFIXES) else n: n for n in names}
        close = close_matches(folded, list(bare), 5)
        hint = f"; close matches: {', '.join(bare[c] for c in close)}" if close else ""
        raise UserError(f"unknown tag {query!r} ({len(names)} tags and categories){hint}")

    def require_tags(self) -> None:
        """Raise ``UserError`` unless this model has tag embeddings."""
        if self.tag_vectors is None:
            raise UserError(f"{self.label} has no tag embeddings; tag queries need LightFM "
                            "trained with features = \"tags\"")

    def similar(self, index: int, n: int) -> list[Hit]:
        """The ``n`` items with the highest cosine to item ``index``; the item itself first."""
        scores = _unit(self.item_vectors) @ _unit(self.item_vectors[index])
        order = _top(np.where(np.arange(self.n_items) == index, np.inf, scores), n)
        return [self.hit(i, scores[i]) for i in order]

    def items_for_tag(self, feature: int, n: int) -> list[Hit]:
        """The ``n`` items whose representation has the highest cosine to tag ``feature``."""
        self.require_tags()
        scores = _unit(self.item_vectors) @ _unit(self.tag_vectors[feature])
        return [self.hit(i, scores[i]) for i in _top(scores, n)]

    def tags_for_item(self, index: int, n: int) -> list[TagHit]:
        """The ``n`` tags the item does not carry with the highest cosine to its representation."""
        self.require_tags()
        scores = _unit(self.tag_vectors) @ _unit(self.item_vectors[index])
        row = self.item_tags.indices[self.item_tags.indptr[index]:self.item_tags.indptr[index + 1]]
        scores[row] = -np.inf
        counts = np.bincount(self.item_tags.indices, minlength=len(scores))
        return [TagHit(feature=str(self.feature_names[j]), score=float(scores[j]),
                       items=int(counts[j])) for j in _top(scores, n) if np.isfinite(scores[j])]


def _char_histograms(texts: list[str]) -> np.ndarray:
    """Counts of UTF-8 bytes (folded into 64 buckets) of each text, as rows."""
    encoded = [t.encode("utf-8") for t in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.int64) % 64
    rows = np.repeat(np.arange(len(texts)), lengths)
    return np.bincount(rows * 64 + data, minlength=len(texts) * 64).reshape(len(texts), 64)


def close_matches(query: str, candidates: list[str], n: int, *, shortlist: int = 200
                  ) -> list[str]:
    """``difflib.get_close_matches`` that stays fast on tens of thousands of candidates.

    Candidates are first cut to the ``shortlist`` whose character histograms are nearest the
    query's (vectorised), then ranked by difflib's ratio.
    """
    if len(candidates) > shortlist:
        hist = _char_histograms(candidates)
        distance = np.abs(hist - _char_histograms([query])[0]).sum(axis=1)
        keep = np.argsort(distance, kind="stable")[:shortlist]
        candidates = [candidates[i] for i in keep]
    return difflib.get_close_matches(query, candidates, n=n, cutoff=0.6)


def _fold(text) -> str:
    return " ".join(str(text).split()).lower()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows (or a vector) scaled to unit length; zero vectors stay zero (cosine 0)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores, best first, ties by lower index."""
    n = min(int(n), len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    kth = scores[part].min()
    candidates = np.flatnonzero(scores >= kth)
    return candidates[np.lexsort((candidates, -scores[candidates]))][:n]


def load_model(path: str | os.PathLike) -> SavedModel:
    """Read a file written by :func:`save_model_vectors`."""
    path = Path(path)
    with reading(path, advice=_MODEL_ADVICE):
        with np.load(path, allow_pickle=False) as npz:
            a = {key: npz[key] for key in npz.files}
            ids, names = _unpack(a["item_ids"]), _unpack(a["item_names"])
        feature_names = _unpack(a["feature_names"]) if "feature_names" in a else None
        item_tags = tag_vectors = None
        if "item_tags_indptr" in a:
            item_tags = sp.csr_matrix((np.ones(len(a["item_tags_indices"]), np.float32),
                                       a["item_tags_indices"], a["item_tags_indptr"]),
                                      shape=(len(ids), len(feature_names)))
            if "feature_embeddings" in a:
                tag_vectors = a["feature_embeddings"][len(ids):]
        return SavedModel(path=path, meta=json.loads(str(a["meta"])),
                          item_vectors=a["item_vectors"], item_ids=ids, item_names=names,
                          feature_names=feature_names,
                          item_tags=item_tags, tag_vectors=tag_vectors)


# --------------------------------------------------------------------------- choosing a model

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
        with reading(path, advice=_MODEL_ADVICE), np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["meta"])), "feature_embeddings" in npz.files
    except FileNotFoundError:
        return None


def _test_scores(run_dir: Path) -> dict[str, tuple[float, int]]:
    """trial id -> (test precision@k at its last epoch, k), from the run's results table."""
    from recsys_bench.store.table import read_results

    try:
        df = read_results(run_dir)
    except CorruptFile:
        raise
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
    files = sorted((run_dir / MODELS_DIR).glob("*.npz"))
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


def _vectorless_models() -> list[str]:
    from recsys_bench import models
    from recsys_bench.models.base import BaseRecommender

    out = []
    for name in models.names():
        try:
            cls = models.model_class(name)
        except ImportError:
            continue
        if getattr(cls, "item_vectors", None) is BaseRecommender.item_vectors:
            out.append(name)
    return out


def pick_model(run_dir: str | os.PathLike, model: str | None = None, *, trial: str | None = None,
               needs_tags: bool = False) -> SavedModel:
    """The saved model a query uses.

    Parameters
    ----------
    run_dir : path-like
        A run folder (``recsys-bench run``) or a search folder (``recsys-bench search``).
    model : str, optional
        Model name; the best of its saved trials by test precision@k is used.
    trial : str, optional
        A trial id (or a unique prefix of one): that trial's saved model.
    needs_tags : bool
        Only models with tag embeddings qualify (tag -> items, item -> tags).

    Raises
    ------
    UserError
        No such folder, no saved models, a model without item vectors or tag embeddings, or an
        unknown trial.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError("no such run folder", path=run_dir)
    entries = saved_models(run_dir)
    if not entries:
        raise UserError(f"no saved models in this run folder ({MODELS_DIR}/*.npz); they are "
                        "written by runs of this version (rerun to add them)", path=run_dir)
    if trial is not None:
        chosen = [e for e in entries if str(e.meta["trial_id"]).startswith(trial)
                  or e.path.stem.startswith(trial)]
        if len(chosen) != 1:
            what = "no saved model" if not chosen else f"{len(chosen)} saved models"
            close = difflib.get_close_matches(trial, [e.path.stem for e in entries], n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UserError(f"{what} with trial id {trial!r}{hint}", path=run_dir)
        if model is not None and chosen[0].model != model:
            raise UserError(f"trial {trial} is a {chosen[0].model} model, not {model}",
                            path=run_dir)
        entries = chosen
    elif model is not None:
        from recsys_bench import models

        models.model_class(model)
        if model in _vectorless_models():
            raise UserError(f"model {model} has no item vectors; similarity queries need one of "
                            f"{', '.join(sorted({e.model for e in entries}))}")
        available = sorted({e.model for e in entries})
        entries = [e for e in entries if e.model == model]
        if not entries:
            raise UserError(f"no saved {model} model in this run folder; saved: "
                            f"{', '.join(available)}", path=run_dir)
    if needs_tags:
        tagged = [e for e in entries if e.has_tags]
        if not tagged:
            which = f"trial {trial}" if trial else (model or "this run folder")
            raise UserError(f"{which} has no model with tag embeddings; tag queries need "
                            "lightfm-warp or lightfm-bpr trained with features = \"tags\"",
                            path=run_dir)
        entries = tagged
    return load_entry(entries[0])


def load_entry(entry: SavedEntry) -> SavedModel:
    """The saved model of ``entry``, its meta completed with the score."""
    saved = load_model(entry.path)
    return dataclasses.replace(saved, meta={**saved.meta, **entry.meta})


# --------------------------------------------------------------------------- queries

def similar_items(run_dir: str | os.PathLike, model: str | None, item: str, n: int = 5, *,
                  trial: str | None = None) -> list[Hit]:
    """The ``n`` items most similar to ``item`` by cosine of item vectors (the study's view).

    As in the study, the first hit is the item itself (cosine 1), followed by ``n - 1`` others.

    Parameters
    ----------
    run_dir : path-like
        Run or search folder with saved models.
    model : str or None
        Model name (best saved trial by test precision@k); None: the best saved model of any kind.
    item : str
        Item id (or exact name).
    n : int
        Rows returned, the item itself included.
    trial : str, optional
        Use this trial's saved model.
    """
    n = _count(n)
    saved = pick_model(run_dir, model, trial=trial)
    return saved.similar(saved.find_item(item), n)


def tag_items(run_dir: str | os.PathLike, tag: str, n: int = 10, *, model: str | None = None,
              trial: str | None = None) -> list[Hit]:
    """The ``n`` items closest to a tag: cosine between the tag's embedding and each item's
    representation (LightFM with tags; by default the best such saved model of the run)."""
    n = _count(n)
    saved = pick_model(run_dir, model, trial=trial, needs_tags=True)
    return saved.items_for_tag(saved.find_tag(tag), n)


def suggest_tags(run_dir: str | os.PathLike, item: str, n: int = 10, *, model: str | None = None,
                 trial: str | None = None) -> list[TagHit]:
    """The ``n`` tags ``item`` does not carry whose embeddings are closest to its representation
    (LightFM with tags; by default the best such saved model of the run)."""
    n = _count(n)
    saved = pick_model(run_dir, model, trial=trial, needs_tags=True)
    return saved.tags_for_item(saved.find_item(item), n)


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"-n must be a whole number >= 1, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------- printing

def _short(text: str, width: int) -> str:
    text = _one_line(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _tags_text(tags: tuple[str, ...], limit: int = 6) -> str:
    shown = ", ".join(tags[:limit])
    return shown + (f", … (+{len(tags) - limit})" if len(tags) > limit else "")


def format_hits(hits: list[Hit], *, score: str = "cosine") -> str:
    """Hits as an aligned text table: rank, score, id, name, tags."""
    id_width = max([len("id")] + [len(h.item_id) for h in hits])
    lines = [f"{'#':>3}  {score:>7}  {'id':<{id_width}}  {'name':<40}  tags"]
    for rank, h in enumerate(hits, start=1):
        lines.append(f"{rank:>3}  {h.score:>7.4f}  {h.item_id:<{id_width}}  "
                     f"{_short(h.name, 40):<40}  {_tags_text(h.tags)}")
    return "\n".join(lines)


def format_tag_hits(hits: list[TagHit]) -> str:
    """Suggested tags as an aligned text table: rank, cosine, tag, items carrying it."""
    width = max([len("tag")] + [len(h.feature) for h in hits])
    lines = [f"{'#':>3}  {'cosine':>7}  {'tag':<{width}}  items"]
    lines += [f"{r:>3}  {h.score:>7.4f}  {h.feature:<{width}}  {h.items}"
              for r, h in enumerate(hits, start=1)]
    return "\n".join(lines)


def _describe(saved: SavedModel, index: int) -> str:
    name = _one_line(saved.item_names[index])
    tags = saved.tags_of(index)
    return (f"{saved.item_ids[index]}" + (f" \"{name}\"" if name else "")
            + (f" [{_tags_text(tags)}]" if tags else ""))


def command_similar(args) -> int:
    """``recsys-bench similar``: print the items most similar to ``args.item``."""
    saved = pick_model(args.run, args.model, trial=getattr(args, "trial", None))
    index = saved.find_item(args.item)
    print(saved.label)
    print(f"items most similar to {_describe(saved, index)} (the first is the item itself)")
    print(format_hits(saved.similar(index, _count(args.n))))
    return 0


def command_tag_items(args) -> int:
    """``recsys-bench tag-items``: print the items closest to the tag ``args.tag``."""
    saved = pick_model(args.run, getattr(args, "model", None), trial=getattr(args, "trial", None),
                       needs_tags=True)
    feature = saved.find_tag(args.tag)
    carriers = int(np.count_nonzero(saved.item_tags.indices == feature))
    print(saved.label)
    print(f"items closest to {saved.feature_names[feature]} (carried by {carriers} items)")
    print(format_hits(saved.items_for_tag(feature, _count(args.n))))
    return 0


def command_suggest_tags(args) -> int:
    """``recsys-bench suggest-tags``: print tags ``args.item`` lacks, closest to it."""
    saved = pick_model(args.run, getattr(args, "model", None), trial=getattr(args, "trial", None),
                       needs_tags=True)
    index = saved.find_item(args.item)
    print(saved.label)
    print(f"tags suggested for {_describe(saved, index)}")
    print(format_tag_hits(saved.tags_for_item(index, _count(args.n))))
    return 0


__all__ = ["Vocabulary", "Hit", "TagHit", "SavedModel", "SavedEntry", "save_vocabulary",
           "load_vocabulary", "save_model_vectors", "save_run_model", "prune_saved_models",
           "vocabulary_path", "model_path", "load_model", "load_entry", "saved_models",
           "pick_model", "close_matches", "similar_items", "tag_items", "suggest_tags",
           "format_hits", "format_tag_hits", "command_similar", "command_tag_items",
           "command_suggest_tags"]
