"""A seeded stand-in for the Sketchfab likes data, written in the real files' exact format.

The real ``model_likes_anon.psv`` and ``model_feats.psv`` do not ship with the project, so this
module writes two files of the same format and scale and reads them back through the real loader
(:func:`recsys_bench.datasets.sketchfab.load`): the whole pipeline runs on one code path.

The models are the real ones (ids and names from the packaged ``sketchfab_model_urls.psv``, quirks
included); the users, likes and features are drawn from a latent-taste model calibrated so that
the study's figures come out near the real ones: scale before and after the 5/5 thresholding,
heavy tails, and WRMF test p@5 in the study's range, well above a popularity baseline.
``docs/synthetic-data.md`` explains the model and compares its statistics with the real data.

The output is a pure function of the seed and :data:`GENERATOR_VERSION` (on one NumPy release):
the same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from recsys_bench.data import Interactions
from recsys_bench.datasets import data_dir
from recsys_bench.datasets.psv import SketchfabDialect, write_psv
from recsys_bench.errors import UserError

GENERATOR_VERSION = 1
"""Bumped whenever the generated files change for a given seed (it names the cache folder)."""

LIKES_FILE = "model_likes_anon.psv"
FEATURES_FILE = "model_feats.psv"
STAMP_FILE = "synthetic.json"
MODEL_LIST = "sketchfab_model_urls.psv"

CATEGORIES = (
    "Characters", "Gaming", "Places & scenes", "Science, Nature & Education", "Architecture",
    "Animals & creatures", "Art & abstract", "Cars & vehicles", "Cultural heritage & history",
    "Electronics & gadgets", "Fashion & style", "Furniture & home", "Music", "News & politics",
    "People", "Sports & fitness", "Weapons & military", "Food & drink",
)
"""Category strings: the first four are quoted from the real files, the rest are stand-ins in
the same style (spaces, commas, ampersands). Topic ``k`` favours category ``k mod 18``."""

COMMON_TAGS = (
    "3d", "lowpoly", "blender", "3dsmax", "maya", "zbrush", "substancepainter", "game", "gameart",
    "character", "fanart", "sculpt", "photogrammetry", "pbr", "handpainted", "stylized",
    "low-poly", "vr", "tiltbrush", "c4d", "cinema4d", "unity", "unity3d", "ue4", "unreal",
    "animation", "rigged", "texture", "model", "art", "scan", "3dscan", "printable", "3dprint",
    "realistic", "cartoon", "cute", "anime", "scifi", "fantasy", "medieval", "props",
    "environment", "design", "concept", "sculpting", "highpoly", "gameasset", "game-ready",
    "photoshop", "substance", "modo", "sculptris", "mudbox", "wip", "free", "download",
    "digitalart", "3dmodel", "oculus", "agisoft", "photoscan", "retopology", "quixel", "marmoset",
    "keyshot", "sketchup", "rhino", "fusion360", "voxel", "magicavoxel", "pixel", "diorama",
    "isometric",
)
"""Generic tool and style tags, most common first (their frequency falls as a power law)."""


@dataclass(frozen=True)
class Params:
    """The generator's knobs, calibrated against the real statistics (docs/synthetic-data.md).

    Counts are for ``scale=1``; :func:`generate` scales users, models and duplicates together.
    """

    n_users: int = 62_583
    duplicate_rows: int = 155
    min_model_likes: int = 5
    # likes per user: P(n) ~ n**-activity_exponent * exp(-n / activity_cutoff), 1 <= n <= max
    activity_exponent: float = 1.66
    activity_cutoff: float = 630.0
    max_activity: int = 5_000
    # model weight by its position r in the real list (taken as most-liked first):
    # (r + offset)**-exponent times lognormal noise
    popularity_exponent: float = 1.0
    popularity_offset: float = 220.0
    popularity_noise: float = 0.5
    # latent tastes: Zipf-sized topics, Dirichlet user mixtures, a share of popularity picks
    topics: int = 55
    topic_size_exponent: float = 0.8
    taste_concentration: float = 0.3
    popularity_share: float = 0.24
    redraw_rounds: int = 4
    # features: 1-3 categories, a negative-binomial number of common / topic / noise tags
    category_counts: tuple[float, float, float] = (0.55, 0.35, 0.10)
    category_follows_topic: float = 0.7
    tags_mean: float = 5.2
    tags_dispersion: float = 1.5
    common_tag_share: float = 0.35
    noise_tag_share: float = 0.2
    common_tag_exponent: float = 1.1
    topic_vocabulary: int = 40
    topic_tag_exponent: float = 1.0
    noise_uses: float = 1.05
    capitalised_share: float = 0.03
    non_ascii_share: float = 0.005


DEFAULT = Params()


@dataclass(frozen=True)
class Sample:
    """One draw of the generator, before it becomes text.

    Attributes
    ----------
    users, items : numpy.ndarray
        int64, one entry per like row in file order (grouped by model, most-liked first),
        duplicate rows included; ``items`` index ``mids``/``names``, ``users`` index ``uids``.
    uids, mids, names : numpy.ndarray
        Object arrays of strings.
    topic : numpy.ndarray
        Main latent topic of each model (for calibration and tests).
    feature_items : numpy.ndarray
        Model index of each feature row, in file order.
    feature_types, feature_values : list of str
        ``"category"`` or ``"tag"`` and the value of each feature row.
    """

    users: np.ndarray
    items: np.ndarray
    uids: np.ndarray
    mids: np.ndarray
    names: np.ndarray
    topic: np.ndarray
    feature_items: np.ndarray
    feature_types: list
    feature_values: list


def model_list() -> tuple[np.ndarray, np.ndarray]:
    """The real models: ``(mids, names)`` in list order, each mid once (first occurrence).

    The packaged list has 28,824 rows for 28,806 distinct models. The generator assumes it
    follows the likes file's order (most-liked first) and uses each model's position as its
    popularity rank.
    """
    mids, names = _read_model_list()
    return np.array(mids, dtype=object), np.array(names, dtype=object)


@functools.lru_cache(maxsize=1)
def _read_model_list() -> tuple[tuple[str, ...], tuple[str, ...]]:
    source = resources.files("recsys_bench") / "data_files" / MODEL_LIST
    with source.open("r", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, dialect=SketchfabDialect))
    first: dict[str, list[str]] = {}
    for row in rows[1:]:
        first.setdefault(row[1], row)
    return tuple(first), tuple(r[0] for r in first.values())


def _draw(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with probabilities proportional to ``weights`` (inverse CDF)."""
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right")


def _zipf(size: int, exponent: float) -> np.ndarray:
    return np.arange(1, size + 1) ** -exponent


def _activity(rng: np.random.Generator, n: int, p: Params) -> np.ndarray:
    """Likes wanted by each of ``n`` users: a power law with an exponential cut-off."""
    support = np.arange(1, p.max_activity + 1)
    return support[_draw(rng, support ** -p.activity_exponent
                         * np.exp(-support / p.activity_cutoff), n)]


class _RowSampler:
    """Draws a column for given rows from row-wise weights (rows x columns), all at once.

    The offset trick: row ``r``'s CDF is shifted by ``r``, so one sorted array serves every
    row and a single ``searchsorted`` picks every draw.
    """

    def __init__(self, weights: np.ndarray):
        self.width = weights.shape[1]
        self.flat = (_row_cdf(weights) + np.arange(weights.shape[0])[:, None]).ravel()

    def __call__(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.flat, rows + u, side="right")
        return np.minimum(pos - rows * self.width, self.width - 1)


def _unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: NumPy 2's hash-based ``unique`` is far slower here)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys


def _row_cdf(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    cum /= cum[:, -1:]
    cum[:, -1] = 1.0
    return cum


def _within_groups(group: np.ndarray, weights: np.ndarray, n_groups: int):
    """Per-group CDFs over members, for drawing a member of a given group by weight.

    Returns ``(order, flat)``: members sorted by group and the group-offset CDF.
    """
    order = np.argsort(group, kind="stable")
    g = group[order]
    w = weights[order]
    cum = np.cumsum(w)
    starts = np.searchsorted(g, np.arange(n_groups))
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = cum[np.maximum(ends - 1, 0)] - base
    flat = (cum - base[g]) / total[g] + g
    flat[ends[ends > starts] - 1] = np.arange(n_groups)[ends > starts] + 1.0
    return order, flat


def _draw_in_group(order, flat, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(flat, groups + u, side="right")
    return order[np.minimum(pos, order.size - 1)]


def _likes(rng, n_items, n_users, popularity, topic, p: Params):
    """Distinct (user, model) likes from the taste model; every model ends with >= the minimum."""
    k = p.topics
    wanted = _activity(rng, n_users, p)
    topic_mass = np.bincount(topic, weights=popularity, minlength=k)
    prior = topic_mass / topic_mass.sum()
    gamma = rng.standard_gamma(p.taste_concentration * prior, size=(n_users, k))
    gamma[gamma.sum(axis=1) == 0] = prior
    taste = _RowSampler(gamma)
    order, flat = _within_groups(topic, popularity, k)

    def draw(users):
        by_taste = rng.random(users.size) >= p.popularity_share
        items = _draw(rng, popularity, users.size)
        t = taste(users[by_taste], rng.random(by_taste.sum()))
        items[by_taste] = _draw_in_group(order, flat, t, rng.random(t.size))
        return items

    users = np.repeat(np.arange(n_users), wanted)
    keys = _unique(users * n_items + draw(users))
    for _ in range(p.redraw_rounds):
        short = wanted - np.bincount(keys // n_items, minlength=n_users)
        if not short.any():
            break
        users = np.repeat(np.arange(n_users), short)
        keys = _unique(np.concatenate([keys, users * n_items + draw(users)]))

    demand = gamma / gamma.sum(axis=1, keepdims=True) * wanted[:, None]
    fans = _RowSampler(demand.T + 1e-12)
    for attempt in range(100):
        short = p.min_model_likes - np.bincount(keys % n_items, minlength=n_items)
        if not (short > 0).any():
            break
        items = np.repeat(np.arange(n_items), np.maximum(short, 0))
        if attempt < 10:
            users = fans(topic[items], rng.random(items.size))
        else:
            users = rng.integers(0, n_users, items.size)
        keys = _unique(np.concatenate([keys, users * n_items + items]))
    else:
        raise RuntimeError("too few users to give every model its minimum of likes")
    return keys // n_items, keys % n_items


def _words(rng: np.random.Generator, n: int, exclude: set) -> list[str]:
    """``n`` distinct pronounceable pseudo-words (the synthetic tag vocabulary)."""
    onsets = np.array(list("bcdfghjklmnprstvz") + ["br", "ch", "cr", "dr", "gr", "kr", "pl",
                                                    "sh", "sk", "st", "th", "tr"])
    vowels = np.array(list("aeiou") + ["ai", "ea", "io", "ou"])
    codas = np.array(["", "", "", "n", "r", "s", "x", "l", "m", "k", "th", "nd"])
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        syllables = rng.integers(2, 5, m)
        parts = [onsets[rng.integers(0, onsets.size, (m, 4))],
                 vowels[rng.integers(0, vowels.size, (m, 4))]]
        coda = codas[rng.integers(0, codas.size, m)]
        for i in range(m):
            s = syllables[i]
            w = "".join(a + b for a, b in zip(parts[0][i, :s], parts[1][i, :s])) + coda[i]
            if w not in seen:
                seen.add(w)
                out.append(w)
                if len(out) == n:
                    break
    return out


_ACCENTS = str.maketrans({"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ"})


def _features(rng, n_items, topic, p: Params):
    """Category and tag rows per model: ``(model index, type, value)`` arrays, grouped by model."""
    k = p.topics
    n_cat = len(CATEGORIES)
    primary = np.arange(k) % n_cat
    count = 1 + np.searchsorted(np.cumsum(p.category_counts)[:-1], rng.random(n_items),
                                side="right")
    cats = rng.integers(0, n_cat, (n_items, 3))
    follow = rng.random(n_items) < p.category_follows_topic
    cats[follow, 0] = primary[topic[follow]]
    slot = np.arange(3)[None, :] < count[:, None]
    cat_items = np.nonzero(slot)[0]
    cat_keys = _unique(cat_items * n_cat + cats[slot])
    cat_items, cat_ids = cat_keys // n_cat, cat_keys % n_cat

    n_tags = rng.negative_binomial(p.tags_dispersion,
                                   p.tags_dispersion / (p.tags_dispersion + p.tags_mean), n_items)
    tag_items = np.repeat(np.arange(n_items), n_tags)
    kind = np.searchsorted(np.array([p.common_tag_share, 1.0 - p.noise_tag_share]),
                           rng.random(tag_items.size), side="right")
    n_common = len(COMMON_TAGS)
    n_noise_slots = int((kind == 2).sum())
    n_noise = max(1, round(n_noise_slots / p.noise_uses))
    vocab = list(COMMON_TAGS) + _words(rng, k * p.topic_vocabulary + n_noise, set(COMMON_TAGS))
    tag_ids = np.empty(tag_items.size, dtype=np.int64)
    c = kind == 0
    tag_ids[c] = _draw(rng, _zipf(n_common, p.common_tag_exponent), c.sum())
    t = kind == 1
    within = _draw(rng, _zipf(p.topic_vocabulary, p.topic_tag_exponent), t.sum())
    tag_ids[t] = n_common + topic[tag_items[t]] * p.topic_vocabulary + within
    noise = kind == 2
    tag_ids[noise] = (n_common + k * p.topic_vocabulary
                      + rng.integers(0, n_noise, noise.sum()))
    tag_keys = _unique(tag_items * len(vocab) + tag_ids)
    tag_items, tag_ids = tag_keys // len(vocab), tag_keys % len(vocab)

    vocab_arr = np.array(vocab, dtype=object)
    values = vocab_arr[tag_ids]
    u = rng.random((2, values.size))
    cap = u[0] < p.capitalised_share
    values[cap] = [v.capitalize() for v in values[cap]]
    acc = u[1] < p.non_ascii_share
    values[acc] = [v.translate(_ACCENTS) for v in values[acc]]

    items = np.concatenate([cat_items, tag_items])
    types = np.concatenate([np.zeros(cat_items.size, np.int8), np.ones(tag_items.size, np.int8)])
    vals = np.concatenate([np.array(CATEGORIES, dtype=object)[cat_ids], values])
    return items, types, vals


def generate(seed: int = 0, *, scale: float = 1.0, params: Params = DEFAULT) -> Sample:
    """Draw one synthetic data set in memory (what :func:`write` turns into files).

    Parameters
    ----------
    seed : int
        Non-negative seed; everything is a pure function of it.
    scale : float
        Fraction of the real size, for quick tests: the first ``scale`` of the model list and
        as many users, likes and duplicates in proportion. 1 is the real scale.
    params : Params
        Calibrated knobs; change only to explore the generator.
    """
    seed = _check_seed(seed)
    if not 0 < scale <= 1:
        raise UserError(f"scale must be in (0, 1], got {scale!r}")
    rng = np.random.default_rng([seed, 0x5EC7F4B])
    mids, names = model_list()
    smallest = 2 * params.min_model_likes
    n_items = max(smallest, round(mids.size * scale))
    mids, names = mids[:n_items], names[:n_items]
    n_users = max(smallest, round(params.n_users * scale))

    rank = np.arange(n_items) / scale
    popularity = (rank + params.popularity_offset) ** -params.popularity_exponent
    popularity *= rng.lognormal(0.0, params.popularity_noise, n_items)
    topic = _draw(rng, _zipf(params.topics, params.topic_size_exponent), n_items)

    users, items = _likes(rng, n_items, n_users, popularity, topic, params)
    n_dup = round(params.duplicate_rows * scale)
    dup = rng.choice(users.size, n_dup, replace=False)
    users = np.concatenate([users, users[dup]])
    items = np.concatenate([items, items[dup]])
    within = np.concatenate([rng.random(users.size - n_dup), np.zeros(n_dup)])
    within[users.size - n_dup:] = within[dup]
    counts = np.bincount(items, minlength=n_items)
    model_order = np.lexsort((np.arange(n_items), -counts))
    position = np.empty(n_items, dtype=np.int64)
    position[model_order] = np.arange(n_items)
    row_order = np.lexsort((np.arange(users.size), within, position[items]))
    users, items = users[row_order], items[row_order]

    hexes = rng.bytes(16 * n_users).hex()
    uids = np.array([hexes[i:i + 32] for i in range(0, len(hexes), 32)], dtype=object)
    if len(set(uids)) != n_users:
        raise RuntimeError("user id collision")  # 2**-128 per pair: never in practice

    f_items, f_types, f_values = _features(rng, n_items, topic, params)
    f_order = np.lexsort((np.arange(f_items.size), position[f_items]))
    types = np.array(["category", "tag"], dtype=object)[f_types[f_order]]
    return Sample(users=users, items=items, uids=uids, mids=mids, names=names, topic=topic,
                  feature_items=f_items[f_order], feature_types=types.tolist(),
                  feature_values=f_values[f_order].tolist())


def sample_stats(s: Sample) -> dict:
    """Figures of a :class:`Sample` as written (before any duplicate dropping or thresholding)."""
    n_items = s.mids.size
    pairs = _unique(s.users.astype(np.int64) * n_items + s.items)
    per_model = np.bincount(pairs % n_items, minlength=n_items)
    tag = np.array(s.feature_types) == "tag"
    keys = {(t, v.lower()) for t, v in zip(s.feature_types, s.feature_values)}
    return {
        "users": int(s.uids.size),
        "models": int(n_items),
        "like_rows": int(s.users.size),
        "duplicate_rows": int(s.users.size - pairs.size),
        "min_model_likes": int(per_model.min()),
        "mean_likes_per_user": round(pairs.size / s.uids.size, 3),
        "mean_likes_per_model": round(pairs.size / n_items, 3),
        "feature_rows": len(s.feature_types),
        "category_rows": int((~tag).sum()),
        "tag_rows": int(tag.sum()),
        "distinct_feature_keys": len(keys),
    }


def write(out_dir: str | os.PathLike, seed: int = 0, *, scale: float = 1.0) -> dict:
    """Write ``model_likes_anon.psv`` and ``model_feats.psv`` for ``seed`` into ``out_dir``.

    Both files use the real files' dialect (``|`` separated, backslash quoting, CRLF, UTF-8) and
    are written atomically; equal seeds give byte-identical files.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if missing).
    seed : int
        Non-negative seed.
    scale : float
        See :func:`generate`; 1 (the default) is the real scale.

    Returns
    -------
    dict
        Statistics of the written files (see :func:`sample_stats`), with ``seed``,
        ``scale`` and ``generator_version``.
    """
    s = generate(seed, scale=scale)
    out = Path(out_dir)
    write_psv(out / LIKES_FILE, ("modelname", "mid", "uid"),
              zip(s.names[s.items].tolist(), s.mids[s.items].tolist(), s.uids[s.users].tolist()))
    write_psv(out / FEATURES_FILE, ("mid", "type", "value"),
              zip(s.mids[s.feature_items].tolist(), s.feature_types, s.feature_values))
    return {"seed": int(seed), "scale": scale, "generator_version": GENERATOR_VERSION,
            **sample_stats(s)}


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _stamp(seed: int) -> dict:
    """What a cached folder must have been generated with; the knobs are included so that a
    changed ``Params`` never reuses files made with the old ones, even without a version bump."""
    return {"seed": seed, "generator_version": GENERATOR_VERSION,
            "params": json.loads(json.dumps(dataclasses.asdict(DEFAULT)))}


def _is_complete(folder: Path, seed: int) -> bool:
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = _stamp(seed)
    return all(stamp.get(key) == value for key, value in expected.items()) and \
        (folder / LIKES_FILE).is_file() and (folder / FEATURES_FILE).is_file()


def _write_stamped(folder: Path, seed: int) -> None:
    """Write the files, then the stamp that vouches for them (removed first, so a half-done
    rewrite never passes for complete)."""
    (folder / STAMP_FILE).unlink(missing_ok=True)
    stats = write(folder, seed)
    tmp = folder / f".{STAMP_FILE}.tmp"
    tmp.write_text(json.dumps({**_stamp(seed), "stats": stats}, indent=1), encoding="utf-8")
    os.replace(tmp, folder / STAMP_FILE)


def cache_folder(seed: int = 0) -> Path:
    """Where :func:`load` keeps the files of ``seed``: ``data_dir()/sketchfab-synthetic/...``."""
    return data_dir() / "sketchfab-synthetic" / f"seed-{_check_seed(seed)}-v{GENERATOR_VERSION}"


def ensure_files(seed: int = 0, path: str | os.PathLike | None = None) -> Path:
    """The folder holding the files of ``seed``, generating them first when needed.

    With ``path`` the files go there (regenerated unless its ``synthetic.json`` stamp says they
    are this seed's and this generator version's). Without it they go to :func:`cache_folder`,
    generated in a temporary sibling folder and renamed into place, so the cache folder is
    complete or absent even if generation is interrupted.
    """
    seed = _check_seed(seed)
    if path is not None:
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise UserError("not a folder", path=folder)
        if not _is_complete(folder, seed):
            _write_stamped(folder, seed)
        return folder
    final = cache_folder(seed)
    if _is_complete(final, seed):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        _write_stamped(tmp, seed)
        if not _is_complete(final, seed):
            if final.exists():
                shutil.rmtree(final)
            try:
                os.rename(tmp, final)
            except OSError:
                if not _is_complete(final, seed):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load(seed: int = 0, min_user_likes: int = 5, min_item_likes: int = 5,
         min_tag_count: int = 1, features: bool = True,
         path: str | os.PathLike | None = None) -> Interactions:
    """Generate (or reuse) the synthetic Sketchfab files and load them with the real loader.

    Parameters
    ----------
    seed : int
        Non-negative seed of the generator.
    min_user_likes, min_item_likes, min_tag_count, features
        As in :func:`recsys_bench.datasets.sketchfab.load`.
    path : path, optional
        Folder for the files; default a cache folder under :func:`recsys_bench.datasets.data_dir`.

    Returns
    -------
    Interactions
        Named ``"sketchfab-synthetic"``; ``stats`` also hold ``seed`` and ``generator_version``.
    """
    from recsys_bench.datasets import sketchfab

    folder = ensure_files(seed, path)
    data = sketchfab.load(folder, min_user_likes=min_user_likes, min_item_likes=min_item_likes,
                          min_tag_count=min_tag_count, features=features)
    return dataclasses.replace(data, name="sketchfab-synthetic",
                               stats={**data.stats, "seed": int(seed),
                                      "generator_version": GENERATOR_VERSION})
