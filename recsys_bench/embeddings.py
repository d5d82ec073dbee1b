"""Queries in the embedding space of trained models: similar items, tag -> items, item -> tags.

The study's item-to-item view ranks items by the cosine of their vectors; its part 2 puts tags in
the same space as items (LightFM with ``features="tags"``: an item's representation is the sum of
its identity and tag embeddings), which allows ranking items by the cosine between a tag's
embedding and each item's representation, and suggesting to an item the tags closest to it.

Trained models are saved in the run folder (:mod:`recsys_bench.store.artifacts`), so no query
retrains: ``models/<trial_id>.npz`` holds

- ``item_vectors`` (items x d, float32: ``model.item_vectors()``), ``item_ids``, ``item_names``;
- ``item_tags_indptr`` / ``item_tags_indices``: which features (``feature_names``) each item
  carries, when the data set has item features (shown next to every item);
- for models that embed item features (LightFM with tags), ``feature_embeddings``:
  ``n_items`` identity rows followed by one row per tag/category (``feature_names``);
- ``meta``: JSON with the model name, parameters, trial id, data set, seed, epochs and, where
  known, the test precision@k.

A query picks one saved model: ``trial`` names it; otherwise the best trial of ``model`` in the
run by test precision@k (at the trial's last checkpoint, the one that was saved), read from the
results table, or from ``meta`` in folders without one (a search's retrained best).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.fileio import reading
from recsys_bench.store.artifacts import MODEL_ADVICE, SavedEntry, saved_models, unpack_strings

TAG_PREFIXES = ("tag_", "category_", "genre_")


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

    def tags_for_item(self, index: int, n: int, min_items: int = 1) -> list[TagHit]:
        """The ``n`` tags the item does not carry with the highest cosine to its representation,
        among those carried by at least ``min_items`` items (a tag used once or twice has an
        embedding trained on those few items alone, close to theirs and to little else)."""
        self.require_tags()
        scores = _unit(self.tag_vectors) @ _unit(self.item_vectors[index])
        row = self.item_tags.indices[self.item_tags.indptr[index]:self.item_tags.indptr[index + 1]]
        scores[row] = -np.inf
        counts = np.bincount(self.item_tags.indices, minlength=len(scores))
        scores[counts < min_items] = -np.inf
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
    """Read a file written by :func:`recsys_bench.store.artifacts.save_model_vectors`."""
    path = Path(path)
    with reading(path, advice=MODEL_ADVICE):
        with np.load(path, allow_pickle=False) as npz:
            a = {key: npz[key] for key in npz.files}
        ids, names = unpack_strings(a["item_ids"]), unpack_strings(a["item_names"])
        feature_names = unpack_strings(a["feature_names"]) if "feature_names" in a else None
        item_tags = tag_vectors = None
        if "item_tags_indptr" in a:
            item_tags = sp.csr_matrix((np.ones(len(a["item_tags_indices"]), np.float32),
                                       a["item_tags_indices"], a["item_tags_indptr"]),
                                      shape=(len(ids), len(feature_names)))
            if "feature_embeddings" in a:
                tag_vectors = a["feature_embeddings"][len(ids):]
        return SavedModel(path=path, meta=json.loads(str(a["meta"])),
                          item_vectors=a["item_vectors"], item_ids=ids, item_names=names,
                          feature_names=feature_names, item_tags=item_tags,
                          tag_vectors=tag_vectors)


# --------------------------------------------------------------------------- choosing a model

def _vectorless_models() -> list[str]:
    from recsys_bench import models

    out = []
    for name in models.names():
        try:
            cls = models.model_class(name)
        except ImportError:
            continue
        if not cls.capabilities.item_vectors:
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
        raise UserError("no saved models in this run folder (models/*.npz); they are "
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
    n = check_count(n)
    saved = pick_model(run_dir, model, trial=trial)
    return saved.similar(saved.find_item(item), n)


def tag_items(run_dir: str | os.PathLike, tag: str, n: int = 10, *, model: str | None = None,
              trial: str | None = None) -> list[Hit]:
    """The ``n`` items closest to a tag: cosine between the tag's embedding and each item's
    representation (LightFM with tags; by default the best such saved model of the run)."""
    n = check_count(n)
    saved = pick_model(run_dir, model, trial=trial, needs_tags=True)
    return saved.items_for_tag(saved.find_tag(tag), n)


def suggest_tags(run_dir: str | os.PathLike, item: str, n: int = 10, *, model: str | None = None,
                 trial: str | None = None, min_items: int = 1) -> list[TagHit]:
    """The ``n`` tags ``item`` does not carry whose embeddings are closest to its representation,
    among tags carried by at least ``min_items`` items (LightFM with tags; by default the best
    such saved model of the run)."""
    n, min_items = check_count(n), check_count(min_items, "--min-items")
    saved = pick_model(run_dir, model, trial=trial, needs_tags=True)
    return saved.tags_for_item(saved.find_item(item), n, min_items)


def check_count(n, option: str = "-n") -> int:
    """A count given as ``option`` (rows to show, a minimum) as an int >= 1, else a
    ``UserError``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"{option} must be a whole number >= 1, got {n!r}")
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


def describe(saved: SavedModel, index: int) -> str:
    """An item as one line: its id, name and tags."""
    name = _one_line(saved.item_names[index])
    tags = saved.tags_of(index)
    return (f"{saved.item_ids[index]}" + (f" \"{name}\"" if name else "")
            + (f" [{_tags_text(tags)}]" if tags else ""))


__all__ = ["Hit", "TagHit", "SavedModel", "load_model", "load_entry", "pick_model",
           "close_matches", "similar_items", "tag_items", "suggest_tags", "format_hits",
           "format_tag_hits", "describe", "check_count"]
