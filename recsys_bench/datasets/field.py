"""Loaders of the field's data sets from a local copy, in their exact official formats.

Each reads the files of :data:`recsys_bench.datasets.catalog.CATALOG` from ``path``: the official
archive (checked against its known checksum, then its files unpacked once into
``data_dir()/<name>/``), a folder holding the unpacked files, or a folder holding the archive or
its top folder. Without ``path`` the folder is :func:`recsys_bench.datasets.data_dir`
(``$RECSYS_BENCH_DATA``). Nothing is downloaded: a missing file is one line saying which file,
from where, into which folder, and its checksum.

Formats: MovieLens 1M and 10M ``ratings.dat`` / ``movies.dat`` (``::``-separated; 1M titles in
latin-1), MovieLens 20M/25M/32M ``ratings.csv`` / ``movies.csv``; genres (``|``-joined) become
``genre_*`` item features. Last.fm 360K ``usersha1-artmbid-artname-plays.tsv`` (play counts as
weights; an artist without a MusicBrainz id is keyed by its name). Million Song Dataset Taste
Profile ``train_triplets.txt`` (user, song, play count).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench.data import Interactions, SourceFile
from recsys_bench.datasets import interactions, tabular
from recsys_bench.datasets.catalog import CATALOG, FieldDataset
from recsys_bench.errors import UserError

_MARKER = "ARCHIVE.json"


# --- the registry's loaders (one per data set, so each has its own options) --------------------

def load_movielens_1m(path=None, min_rating: float = 4, verify: bool = True,
                      on_bad_rows: str = "error") -> Interactions:
    """MovieLens 1M: ratings >= ``min_rating`` as likes, genres as features (see module doc)."""
    return _load("movielens-1m", path, verify, min_rating=min_rating, on_bad_rows=on_bad_rows)


def load_movielens_10m(path=None, min_rating: float = 4, verify: bool = True,
                       on_bad_rows: str = "error") -> Interactions:
    """MovieLens 10M (``ml-10M100K``): as :func:`load_movielens_1m`."""
    return _load("movielens-10m", path, verify, min_rating=min_rating, on_bad_rows=on_bad_rows)


def load_movielens_20m(path=None, min_rating: float = 4, verify: bool = True,
                       on_bad_rows: str = "error") -> Interactions:
    """MovieLens 20M from ``ratings.csv`` / ``movies.csv``."""
    return _load("movielens-20m", path, verify, min_rating=min_rating, on_bad_rows=on_bad_rows)


def load_movielens_25m(path=None, min_rating: float = 4, verify: bool = True,
                       on_bad_rows: str = "error") -> Interactions:
    """MovieLens 25M from ``ratings.csv`` / ``movies.csv``."""
    return _load("movielens-25m", path, verify, min_rating=min_rating, on_bad_rows=on_bad_rows)


def load_movielens_32m(path=None, min_rating: float = 4, verify: bool = True,
                       on_bad_rows: str = "error") -> Interactions:
    """MovieLens 32M from ``ratings.csv`` / ``movies.csv``."""
    return _load("movielens-32m", path, verify, min_rating=min_rating, on_bad_rows=on_bad_rows)


def load_lastfm_360k(path=None, min_plays: float | None = None, binary: bool = False,
                     verify: bool = True, on_bad_rows: str = "error") -> Interactions:
    """Last.fm 360K: play counts as weights (summed over repeated rows) unless ``binary``."""
    return _load("lastfm-360k", path, verify, min_weight=min_plays, binary=binary,
                 on_bad_rows=on_bad_rows)


def load_msd_taste_profile(path=None, min_plays: float | None = None, binary: bool = False,
                           verify: bool = True, on_bad_rows: str = "error") -> Interactions:
    """Million Song Dataset Taste Profile: play counts as weights unless ``binary``."""
    return _load("msd-taste-profile", path, verify, min_weight=min_plays, binary=binary,
                 on_bad_rows=on_bad_rows)


# --- finding the files ----------------------------------------------------------------------------

def present(name: str) -> bool:
    """Whether the data set's archive or files are in the default data folder."""
    from recsys_bench.datasets import data_dir

    spec = CATALOG[name]
    root = data_dir()
    return (root / spec.archive).is_file() or any(_files_in(spec, folder) is not None
                                                  for folder in _folders(spec, root))


def locate(spec: FieldDataset, path=None, verify: bool = True
           ) -> tuple[Path, tuple[SourceFile, ...], dict]:
    """The folder holding ``spec.files``, the sources to record, and provenance stats.

    Raises
    ------
    UserError
        Nothing found (one line: which file, from where, into which folder, its checksum), or an
        archive whose checksum differs from the official one while ``verify`` is on.
    """
    from recsys_bench.datasets import data_dir

    root = Path(path) if path is not None else data_dir()
    if root.is_file() and root.name in spec.files:
        root = root.parent
    archive = None
    if root.is_file():
        archive = root
    else:
        for folder in _folders(spec, root):
            if _files_in(spec, folder) is not None:
                files = tuple(SourceFile.of(folder / f) for f in spec.files)
                return folder, files, {"source": "unpacked files", "archive_checked": False}
        if (root / spec.archive).is_file():
            archive = root / spec.archive
    if archive is None:
        raise UserError(f"{spec.title}: {spec.archive} not found in {root} (nor its unpacked "
                        f"{', '.join(spec.files)}); download {spec.url} ({spec.expected()}) "
                        f"into {root}, or pass --option path=FILE_OR_FOLDER")
    return _unpack(spec, archive, verify)


def _folders(spec: FieldDataset, root: Path) -> tuple[Path, ...]:
    """Where the unpacked files may be: the folder itself, the archive's top folder in it, or
    the folder an archive is unpacked into."""
    return (root, root / spec.folder, root / spec.name)


def _files_in(spec: FieldDataset, folder: Path) -> Path | None:
    return folder if all((folder / f).is_file() for f in spec.files) else None


def _digests(path: Path) -> tuple[int, str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
            md5.update(block)
    return path.stat().st_size, sha.hexdigest(), md5.hexdigest()


def _unpack(spec: FieldDataset, archive: Path, verify: bool):
    """Check the archive, then unpack its files once into ``data_dir()/<name>/``."""
    from recsys_bench.datasets import data_dir

    size, sha, md5 = _digests(archive)
    checked = False
    for known, actual, kind in ((spec.sha256, sha, "sha256"), (spec.md5, md5, "md5")):
        if known and not checked:
            if actual != known and verify:
                raise UserError(f"{kind} {actual} differs from the official {spec.archive}'s "
                                f"{known}; use the official file, or verify=false to read it "
                                "anyway", path=archive)
            checked = actual == known
    source = SourceFile(name=archive.name, size=size, sha256=sha)
    target = data_dir() / spec.name
    marker = target / _MARKER
    try:
        if json.loads(marker.read_text(encoding="utf-8")).get("sha256") == sha \
                and _files_in(spec, target):
            return target, (source,), {"source": "archive", "archive_checked": checked}
    except (OSError, ValueError):
        pass
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{spec.name}."))
    except OSError as e:
        raise UserError(f"cannot unpack into {target.parent}: {e.strerror or e}") from None
    try:
        _extract(spec, archive, tmp)
        (tmp / _MARKER).write_text(json.dumps(source.as_dict()), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
    except OSError as e:
        raise UserError(f"cannot unpack into {target}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, (source,), {"source": "archive", "archive_checked": checked}


def _extract(spec: FieldDataset, archive: Path, into: Path) -> None:
    wanted = set(spec.files)
    found = set()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    name = Path(info.filename).name
                    if name in wanted and name not in found:
                        with z.open(info) as src, open(into / name, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 22)
                        found.add(name)
        else:
            with tarfile.open(archive) as t:
                for member in t:
                    name = Path(member.name).name
                    if member.isfile() and name in wanted and name not in found:
                        with t.extractfile(member) as src, open(into / name, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 22)
                        found.add(name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise UserError(f"not a readable {spec.archive}: {e}", path=archive) from None
    missing = sorted(wanted - found)
    if missing:
        raise UserError(f"the archive lacks {', '.join(missing)} (expected {spec.archive})",
                        path=archive)


# --- reading the formats --------------------------------------------------------------------------

def _load(name: str, path, verify: bool, **options) -> Interactions:
    spec = CATALOG[name]
    if not isinstance(verify, bool):
        raise UserError(f"verify must be true or false, got {verify!r}")
    folder, sources, provenance = locate(spec, path, verify)
    reader = globals()[f"_read_{spec.loader}"]
    data = reader(spec, folder, **options)
    return dataclasses.replace(data, name=name, sources=sources,
                               stats={**data.stats, **provenance, "rows_published": spec.rows})


def _read_movielens_dat(spec, folder: Path, min_rating, on_bad_rows) -> Interactions:
    ratings = tabular.read(folder / "ratings.dat", _RATING_ROLES, delimiter="::", header=False,
                           quote=None, on_bad_rows=on_bad_rows)
    data = interactions.build(ratings, min_weight=min_rating, where=folder / "ratings.dat")
    ids, titles, genres = _movies_dat(folder / "movies.dat")
    return _with_movies(data, ids, titles, genres)


def _read_movielens_csv(spec, folder: Path, min_rating, on_bad_rows) -> Interactions:
    roles = {"user": ("userId", tabular.ID), "item": ("movieId", tabular.ID),
             "weight": ("rating", tabular.NUMBER), "timestamp": ("timestamp", tabular.TIME)}
    ratings = tabular.read(folder / "ratings.csv", roles, delimiter=",", header=True,
                           on_bad_rows=on_bad_rows)
    data = interactions.build(ratings, min_weight=min_rating, where=folder / "ratings.csv")
    path = folder / "movies.csv"
    try:
        movies = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserError(f"cannot read movies.csv: {e}", path=path) from None
    missing = {"movieId", "title", "genres"} - set(movies.columns)
    if missing:
        raise UserError(f"no column(s) {', '.join(sorted(missing))} in the header", path=path,
                        line=1)
    return _with_movies(data, movies["movieId"].to_numpy(object),
                        movies["title"].to_numpy(object), movies["genres"].to_numpy(object))


def _read_lastfm(spec, folder: Path, min_weight, binary, on_bad_rows) -> Interactions:
    path = folder / spec.files[0]
    roles = {"user": (0, tabular.ID), "mbid": (1, tabular.TEXT), "artist": (2, tabular.TEXT),
             "weight": (3, tabular.NUMBER)}
    columns = tabular.read(path, roles, delimiter="\t", header=False, quote=None,
                           on_bad_rows=on_bad_rows)
    mbid, mbids = columns.codes.pop("mbid")
    artist, artists = columns.codes.pop("artist")
    no_mbid = np.array([not str(m).strip() for m in mbids], dtype=bool)
    key = np.where(no_mbid[mbid], len(mbids) + artist, mbid)
    item, keys = pd.factorize(key)
    item_ids = np.array([mbids[k] if k < len(mbids) else f"artist:{artists[k - len(mbids)]}"
                         for k in keys], dtype=object)
    first = pd.Series(item).drop_duplicates().index.to_numpy()
    names = np.empty(len(keys), dtype=object)
    names[item[first]] = artists[artist[first]]
    columns = dataclasses.replace(columns, codes={**columns.codes,
                                                  "item": (item.astype(np.int64), item_ids)})
    data = interactions.build(columns, min_weight=min_weight, binary=binary, duplicates="sum",
                              where=path)
    row = pd.Index(item_ids).get_indexer(data.item_ids)
    stats = {**data.stats, "rows_without_mbid": int(no_mbid[mbid].sum())}
    return dataclasses.replace(data, item_names=names[row], stats=stats)


def _read_msd_triplets(spec, folder: Path, min_weight, binary, on_bad_rows) -> Interactions:
    path = folder / spec.files[0]
    roles = {"user": (0, tabular.ID), "item": (1, tabular.ID), "weight": (2, tabular.NUMBER)}
    columns = tabular.read(path, roles, delimiter="\t", header=False, quote=None,
                           on_bad_rows=on_bad_rows)
    return interactions.build(columns, min_weight=min_weight, binary=binary, duplicates="sum",
                              where=path)


_RATING_ROLES = {"user": (0, tabular.ID), "item": (1, tabular.ID),
                 "weight": (2, tabular.NUMBER), "timestamp": (3, tabular.TIME)}


def _movies_dat(path: Path):
    """``MovieID::Title::Genres`` lines: UTF-8 where they decode, else latin-1 (ML-1M)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", path=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    ids, titles, genres = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("::")
        if len(fields) != 3 or not fields[0].strip():
            raise UserError(f"expected MovieID::Title::Genres, found {len(fields)} fields",
                            path=path, line=number)
        ids.append(fields[0].strip())
        titles.append(fields[1])
        genres.append(fields[2])
    return (np.array(ids, dtype=object), np.array(titles, dtype=object),
            np.array(genres, dtype=object))


def _with_movies(data: Interactions, ids, titles, genres) -> Interactions:
    """Titles as item names and ``|``-joined genres as ``genre_*`` features."""
    codes = np.arange(len(ids), dtype=np.int64)
    genre_code, genre_text = pd.factorize(genres)
    genres = (genre_code.astype(np.int64), np.asarray(genre_text, dtype=object))
    matrix, names, _ = interactions.feature_matrix(data.item_ids, (codes, ids), genres, sep="|",
                                                   prefix="genre_", lower=True)
    row = pd.Index(ids.astype(str)).get_indexer(np.asarray(data.item_ids).astype(str))
    item_names = np.where(row >= 0, titles[np.maximum(row, 0)], "").astype(object)
    return dataclasses.replace(data, item_names=item_names, item_features=matrix,
                               feature_names=names,
                               stats={**data.stats, "movies_without_title": int((row < 0).sum())})
