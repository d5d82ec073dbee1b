"""MovieLens-100k as implicit feedback, for anchoring results against published numbers.

Sources, tried in this order:

1. a folder (or ``ml-100k.zip``) the user gives, in the GroupLens ``ml-100k`` layout: ``u.data``
   (tab-separated ``user item rating timestamp``), ``u.item`` (pipe-separated, latin-1, 19 genre
   flags at the end) and optionally ``u.genre`` (genre names);
2. the cache ``data_dir()/movielens-100k/`` (normalised files written by an earlier load);
3. the GroupLens archive, when reachable;
4. the MIT-licensed copy inside the ``recbole==1.2.1`` wheel on PyPI, fetched with
   ``pip download --no-deps`` (recbole itself is never installed). Its item file has the titles
   without the year, so the year is appended in parentheses as in ``u.item``.

Whatever is downloaded is stored in the cache atomically (a temporary folder renamed into place),
so the cache is complete or absent.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import http.client
import io
import json
import numbers
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.data import Interactions, SourceFile
from recsys_bench.errors import UserError

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"
RECBOLE_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")
CACHE_NAME = "movielens-100k"
NETWORK_TIMEOUT_S = 10

_RATINGS_FILE = "ratings.tsv"
_ITEMS_FILE = "items.tsv"
# sha256 and row count of each cached file, written with the cache and checked on every read.
_MANIFEST_FILE = "MANIFEST.json"
# A cache written before manifests existed must hold the whole of MovieLens-100k.
_FULL_ROWS = {_RATINGS_FILE: 100_000, _ITEMS_FILE: 1_682}
_RATINGS_HEADER = ("user_id", "item_id", "rating", "timestamp")


class SourceUnavailable(UserError):
    """No source of MovieLens-100k could be reached (no folder given, no cache, no network)."""


@dataclass(frozen=True)
class Ratings:
    """MovieLens-100k as distributed: every rating and every movie, before any filtering.

    Attributes
    ----------
    ratings : numpy.ndarray
        int64, n x 4: user id, item id, rating (1-5), timestamp (seconds since the epoch).
    item_ids : numpy.ndarray
        int64 ids of the movies, in file order.
    titles : numpy.ndarray
        Object array of titles, aligned with ``item_ids``.
    genres : numpy.ndarray
        bool, items x genres.
    genre_names : tuple of str
    source : str
        Where the data came from.
    """

    ratings: np.ndarray
    item_ids: np.ndarray
    titles: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    source: str


def load(path: str | os.PathLike | None = None, min_rating: float = 4) -> Interactions:
    """Load MovieLens-100k as implicit feedback: ratings >= ``min_rating`` become likes.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A GroupLens ``ml-100k`` folder (``u.data``, ``u.item``, optional ``u.genre``) or the
        ``ml-100k.zip`` archive. Without it: the cache, else a download (see the module doc).
    min_rating : float
        Ratings at or above it count as an interaction; 0 keeps every rating.

    Returns
    -------
    Interactions
        Users x movies that have at least one kept rating, ids sorted ascending; values 1.0;
        ``timestamps`` (of the latest rating where a pair repeats); genres as one-hot
        ``item_features`` named ``genre_<name lower>``; titles as ``item_names``. ``stats``:
        ``users_before``, ``items_before`` and ``ratings_before`` count the whole file,
        ``likes_before`` the rows left by the rating filter, ``duplicates_dropped`` the repeated
        (user, movie) pairs among them.

    Raises
    ------
    UserError
        Malformed files (with file and line), a ``min_rating`` that keeps nothing, or
        :class:`SourceUnavailable` when no source can be reached.
    """
    if isinstance(min_rating, bool) or not isinstance(min_rating, numbers.Real) \
            or not min_rating >= 0:
        raise UserError(f"min_rating must be a number >= 0, got {min_rating!r}")
    raw = read_source(path)
    return dataclasses.replace(to_interactions(raw, min_rating), sources=_source_files(path))


def _source_files(path) -> tuple[SourceFile, ...]:
    """Size and sha256 of the files read: the archive, the folder's files, or the cache's."""
    if path is not None:
        path = Path(path)
        files = [path] if path.is_file() else [path / n for n in ("u.data", "u.item", "u.genre")]
    else:
        files = [cache_dir() / _RATINGS_FILE, cache_dir() / _ITEMS_FILE]
    return tuple(SourceFile.of(f) for f in files if f.is_file())


def read_source(path: str | os.PathLike | None = None) -> Ratings:
    """The unfiltered data from ``path``, else the cache, else a download (then cached)."""
    if path is not None:
        path = Path(path)
        if path.is_file() and path.suffix == ".zip":
            return _read_grouplens_zip(path.read_bytes(), str(path))
        return read_grouplens_folder(path)
    cache = cache_dir()
    if cache.is_dir():
        return read_cache(cache)
    failures = []
    for fetch in (fetch_grouplens, fetch_recbole):
        try:
            raw = fetch()
        except SourceUnavailable as e:
            failures.append(e.message)
            continue
        _write_cache(raw, cache)
        return raw
    raise SourceUnavailable(
        f"MovieLens-100k is not cached in {cache} and could not be fetched ("
        + "; ".join(failures) + "); download ml-100k.zip from GroupLens and pass it (or its "
        "unpacked folder) as the path")


def cache_dir() -> Path:
    """The cache folder of the normalised files: ``data_dir()/movielens-100k``."""
    from recsys_bench.datasets import data_dir
    return data_dir() / CACHE_NAME


def to_interactions(raw: Ratings, min_rating: float = 4) -> Interactions:
    """Implicit-feedback :class:`Interactions` from the unfiltered ratings."""
    r = raw.ratings
    kept = r[r[:, 2] >= min_rating]
    if not len(kept):
        raise UserError(f"min_rating={min_rating} keeps none of the {len(r)} ratings")
    user_ids, users = np.unique(kept[:, 0], return_inverse=True)
    item_ids, items = np.unique(kept[:, 1], return_inverse=True)
    order = np.lexsort((kept[:, 3], items, users))
    users, items, times = users[order], items[order], kept[order, 3]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items, times = users[last], items[last], times[last]

    shape = (len(user_ids), len(item_ids))
    indptr = np.zeros(shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(users, minlength=shape[0]), out=indptr[1:])
    cols = items.astype(np.int32)
    matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=shape)
    timestamps = sp.csr_matrix((times.astype(np.float64), cols.copy(), indptr.copy()),
                               shape=shape)
    matrix.has_sorted_indices = timestamps.has_sorted_indices = True

    movies = pd.Index(raw.item_ids)
    if not movies.is_unique:
        repeated = movies[movies.duplicated()][0]
        raise UserError(f"movie {repeated} appears twice in the movie list ({raw.source})")
    row = movies.get_indexer(item_ids)
    if (row < 0).any():
        missing = item_ids[row < 0][0]
        raise UserError(f"movie {missing} is rated but missing from the movie list "
                        f"({raw.source})")
    features = sp.csr_matrix(raw.genres[row].astype(np.float32))
    features.sort_indices()
    names = np.array([f"genre_{g.lower()}" for g in raw.genre_names], dtype=object)
    stats = dict(users_before=len(np.unique(r[:, 0])), items_before=len(np.unique(r[:, 1])),
                 ratings_before=len(r), likes_before=len(kept),
                 duplicates_dropped=len(kept) - len(cols), min_rating=min_rating,
                 source=raw.source)
    return Interactions(matrix=matrix, user_ids=user_ids, item_ids=item_ids,
                        item_names=raw.titles[row], item_features=features,
                        feature_names=names, timestamps=timestamps, name="movielens-100k",
                        stats=stats)


# --- GroupLens layout -------------------------------------------------------------------------

def read_grouplens_folder(folder: Path) -> Ratings:
    """Read a GroupLens ``ml-100k`` folder (``u.data``, ``u.item``, optional ``u.genre``)."""
    if not folder.is_dir():
        raise UserError("no such folder (expected the GroupLens ml-100k folder or its zip)",
                        path=folder)
    texts = {}
    for name in ("u.data", "u.item", "u.genre"):
        file = folder / name
        if not file.is_file():
            if name == "u.genre":
                continue
            raise UserError(f"missing {name} (the GroupLens ml-100k layout)", path=file)
        texts[name] = _read_latin1(file)
    return _parse_grouplens(texts, str(folder))


def read_ratings_file(path: str | os.PathLike) -> np.ndarray:
    """The rows of a file in ``u.data`` format (``u1.base``, ``ua.test``, ...), in file order.

    Returns int64 n x 4: user id, item id, rating, timestamp. Malformed rows: ``UserError``.
    """
    file = Path(path)
    if not file.is_file():
        raise UserError("no such file (expected tab-separated user item rating timestamp)",
                        path=file)
    return _parse_u_data(_read_latin1(file), str(file))


def _read_grouplens_zip(data: bytes, where: str) -> Ratings:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UserError("not a zip archive", path=where) from None
    members = {Path(n).name: n for n in archive.namelist() if "ml-100k/" in n or "/" not in n}
    texts = {}
    for name in ("u.data", "u.item", "u.genre"):
        if name in members:
            texts[name] = archive.read(members[name]).decode("latin-1")
        elif name != "u.genre":
            raise UserError(f"archive has no {name}", path=where)
    return _parse_grouplens(texts, where)


def _read_latin1(file: Path) -> str:
    try:
        return file.read_bytes().decode("latin-1")
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", path=file) from None


def _parse_grouplens(texts: dict[str, str], where: str) -> Ratings:
    genre_names = GENRES
    if "u.genre" in texts:
        genre_names = _parse_u_genre(texts["u.genre"], f"{where}/u.genre")
    ratings = _parse_u_data(texts["u.data"], f"{where}/u.data")
    item_ids, titles, genres = _parse_u_item(texts["u.item"], f"{where}/u.item",
                                             len(genre_names))
    return Ratings(ratings, item_ids, titles, genres, genre_names, source=where)


def _parse_u_data(text: str, where: str) -> np.ndarray:
    try:
        frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype=np.int64,
                            names=list(_RATINGS_HEADER), skip_blank_lines=True)
        values = frame.to_numpy()
        if len(values) and values.shape[1] == 4:
            return values
    except (ValueError, OverflowError, pd.errors.ParserError):
        pass
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise UserError("expected 4 tab-separated fields (user item rating timestamp), "
                            f"found {len(fields)}", path=where, line=number)
        if not all(f.strip().lstrip("-").isdigit() for f in fields):
            raise UserError(f"expected whole numbers, found {line!r}", path=where, line=number)
        if any(not _fits_int64(int(f)) for f in fields):
            raise UserError(f"a number beyond the 64-bit integer range in {line!r}",
                            path=where, line=number)
    if not text.strip():
        raise UserError("no ratings", path=where)
    raise UserError("cannot read as user item rating timestamp", path=where)


def _fits_int64(value: int) -> bool:
    return -2**63 <= value < 2**63


def _parse_u_item(text: str, where: str, n_genres: int):
    ids, titles, flags = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 5 + n_genres or not fields[0].isdigit():
            raise UserError(f"expected id|title|release date|video release date|IMDb URL|"
                            f"{n_genres} genre flags, found {len(fields)} fields",
                            path=where, line=number)
        flag = fields[-n_genres:]
        if any(f not in ("0", "1") for f in flag):
            raise UserError("genre flags must be 0 or 1", path=where, line=number)
        if not _fits_int64(int(fields[0])):
            raise UserError(f"movie id {fields[0]} is beyond the 64-bit integer range",
                            path=where, line=number)
        ids.append(int(fields[0]))
        titles.append("|".join(fields[1:-n_genres - 3]))
        flags.append([f == "1" for f in flag])
    if not ids:
        raise UserError("no movies", path=where)
    return (np.array(ids, dtype=np.int64), np.array(titles, dtype=object),
            np.array(flags, dtype=bool).reshape(len(ids), n_genres))


def _parse_u_genre(text: str, where: str) -> tuple[str, ...]:
    names = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, _, index = line.rpartition("|")
        if not name or not index.isdigit():
            raise UserError("expected name|index", path=where, line=number)
        names[int(index)] = name
    if sorted(names) != list(range(len(names))) or not names:
        raise UserError("genre indices must run 0, 1, 2, ... without gaps", path=where)
    return tuple(names[i] for i in range(len(names)))


# --- downloads ----------------------------------------------------------------------------------

def fetch_grouplens() -> Ratings:
    """Download and read the GroupLens archive; :class:`SourceUnavailable` on any network error."""
    try:
        with urllib.request.urlopen(GROUPLENS_URL, timeout=NETWORK_TIMEOUT_S) as response:
            data = response.read()
        return _read_grouplens_zip(data, GROUPLENS_URL)
    except (OSError, http.client.HTTPException, UserError) as e:
        raise SourceUnavailable(f"GroupLens: {e}") from None


def fetch_recbole() -> Ratings:
    """Read MovieLens-100k from the ``recbole==1.2.1`` wheel fetched with ``pip download``."""
    with tempfile.TemporaryDirectory(prefix="recsys-bench-recbole-") as tmp:
        wheel = download_recbole_wheel(Path(tmp))
        return read_recbole_wheel(wheel)


def download_recbole_wheel(folder: Path) -> Path:
    """``pip download --no-deps`` the recbole wheel into ``folder``; its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--retries", "1",
               "--timeout", str(NETWORK_TIMEOUT_S), RECBOLE_REQUIREMENT, "-d", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SourceUnavailable(f"pip download {RECBOLE_REQUIREMENT}: {e}") from None
    wheels = sorted(folder.glob("recbole-*.whl"))
    if done.returncode or not wheels:
        lines = [s for s in (done.stderr or done.stdout).strip().splitlines() if s.strip()]
        reason = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise SourceUnavailable(f"pip download {RECBOLE_REQUIREMENT}: {reason}")
    return wheels[0]


def read_recbole_wheel(wheel: Path) -> Ratings:
    """Read ``ml-100k.inter`` and ``ml-100k.item`` from a recbole wheel (checked by sha256)."""
    texts = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, digest in RECBOLE_SHA256.items():
                data = archive.read(RECBOLE_PREFIX + name)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise UserError(f"{name} differs from the known recbole 1.2.1 copy",
                                    path=wheel)
                texts[name] = data.decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as e:
        raise UserError(f"not the expected recbole wheel: {e}", path=wheel) from None
    where = f"{RECBOLE_REQUIREMENT} wheel ({RECBOLE_PREFIX})"
    ratings = _atomic_table(texts["ml-100k.inter"],
                            ("user_id", "item_id", "rating", "timestamp"))
    items = _atomic_table(texts["ml-100k.item"], ("item_id", "movie_title", "release_year",
                                                   "class"))
    values = np.column_stack([pd.to_numeric(ratings[c]).to_numpy()
                              for c in ("user_id", "item_id", "rating", "timestamp")])
    years = items["release_year"].to_numpy(dtype=object)
    titles = np.array([f"{t} ({y})" if str(y).isdigit() else t
                       for t, y in zip(items["movie_title"], years)], dtype=object)
    column = {g: i for i, g in enumerate(GENRES)}
    genres = np.zeros((len(items), len(GENRES)), dtype=bool)
    for row, classes in enumerate(items["class"].fillna("")):
        for g in classes.split():
            if g not in column:
                raise UserError(f"unknown genre {g!r} in ml-100k.item", path=wheel)
            genres[row, column[g]] = True
    return Ratings(values.astype(np.int64), pd.to_numeric(items["item_id"]).to_numpy(np.int64),
                   titles, genres, GENRES, source=where)


def _atomic_table(text: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A recbole atomic file (tab-separated, header ``name:type``) with the given columns."""
    frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False,
                        quoting=csv.QUOTE_NONE)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"recbole atomic file lacks column(s) {', '.join(missing)}")
    return frame[list(columns)]


# --- cache --------------------------------------------------------------------------------------

def read_cache(folder: Path) -> Ratings:
    """Read the normalised files of an earlier load (see :func:`_write_cache`)."""
    ratings_file, items_file = folder / _RATINGS_FILE, folder / _ITEMS_FILE
    hint = "; delete the cache folder to fetch the data again"
    try:
        frame = pd.read_csv(ratings_file, sep="\t", dtype=np.int64)
        with open(items_file, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        source = (folder / "SOURCE.txt").read_text(encoding="utf-8").splitlines()[0]
        manifest = (json.loads((folder / _MANIFEST_FILE).read_text(encoding="utf-8"))
                    if (folder / _MANIFEST_FILE).exists() else None)
    except (OSError, ValueError, IndexError, OverflowError, pd.errors.ParserError) as e:
        raise UserError(f"unreadable cache ({e}){hint}", path=folder) from None
    _check_cache(folder, manifest, {_RATINGS_FILE: len(frame), _ITEMS_FILE: len(rows) - 1}, hint)
    if tuple(frame.columns) != _RATINGS_HEADER:
        raise UserError(f"unexpected header{hint}", path=ratings_file, line=1)
    header, body = rows[0], rows[1:]
    if header[:2] != ["item_id", "title"] or any(len(r) != len(header) for r in body):
        raise UserError(f"malformed movie table{hint}", path=items_file)
    genres = np.array([[v == "1" for v in r[2:]] for r in body], dtype=bool)
    return Ratings(frame.to_numpy(), np.array([int(r[0]) for r in body], dtype=np.int64),
                   np.array([r[1] for r in body], dtype=object),
                   genres.reshape(len(body), len(header) - 2), tuple(header[2:]),
                   source=f"{source} (cached)")


def _cache_facts(path: Path, rows: int) -> dict:
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "rows": rows}


def _check_cache(folder: Path, manifest: dict | None, rows: dict[str, int], hint: str) -> None:
    """Refuse a cache whose files differ from what was written (a truncated or edited file):
    their sha256 and row counts against the manifest, or, for a cache written before manifests,
    the row counts of the whole MovieLens-100k."""
    for name, count in rows.items():
        if manifest is None:
            want = {"rows": _FULL_ROWS[name]}
        else:
            want = manifest.get(name) if isinstance(manifest, dict) else None
            if not isinstance(want, dict):
                raise UserError(f"the cache manifest lists no {name}{hint}",
                                path=folder / _MANIFEST_FILE)
        if "rows" in want and want["rows"] != count:
            raise UserError(f"truncated or altered cache file: {count:,} rows, expected "
                            f"{want['rows']:,}{hint}", path=folder / name)
        if "sha256" in want and _cache_facts(folder / name, count)["sha256"] != want["sha256"]:
            raise UserError(f"altered cache file: its sha256 differs from the one recorded when "
                            f"it was written{hint}", path=folder / name)


def _write_cache(raw: Ratings, folder: Path) -> None:
    """Store ``raw`` under ``folder`` atomically: a temporary sibling folder renamed into place."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError as e:
        warnings.warn(f"MovieLens-100k not cached in {folder}: {e}", stacklevel=3)
        return
    try:
        pd.DataFrame(raw.ratings, columns=list(_RATINGS_HEADER)).to_csv(
            tmp / _RATINGS_FILE, sep="\t", index=False)
        with open(tmp / _ITEMS_FILE, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["item_id", "title", *raw.genre_names])
            for item, title, flags in zip(raw.item_ids, raw.titles, raw.genres):
                writer.writerow([item, title, *flags.astype(np.int8)])
        (tmp / _MANIFEST_FILE).write_text(json.dumps({
            _RATINGS_FILE: _cache_facts(tmp / _RATINGS_FILE, len(raw.ratings)),
            _ITEMS_FILE: _cache_facts(tmp / _ITEMS_FILE, len(raw.item_ids))}, indent=2) + "\n",
            encoding="utf-8")
        (tmp / "SOURCE.txt").write_text(
            f"{raw.source}\nMovieLens-100k, GroupLens Research, University of Minnesota; "
            "see https://grouplens.org/datasets/movielens/ for its terms of use.\n",
            encoding="utf-8")
        tmp.chmod(0o755)
        os.rename(tmp, folder)
    except OSError as e:
        if not folder.is_dir():
            warnings.warn(f"MovieLens-100k not cached in {folder}: {e}", stacklevel=3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
