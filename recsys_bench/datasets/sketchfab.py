"""Reader for the Sketchfab likes files of the 2016 study.

``model_likes_anon.psv`` (``modelname|mid|uid``) holds one row per like and the optional
``model_feats.psv`` (``mid|type|value``) one row per category or tag of a model. Both are in the
crawler's dialect (:class:`~recsys_bench.datasets.psv.SketchfabDialect`): pipes, backslash as
the quote character, doubled backslashes inside quoted fields, embedded newlines, CRLF, UTF-8.

The C ``csv`` reader parses the text in strict mode, so malformed quoting is an error rather than
a silently merged row; everything after that (ids, duplicates, thresholding, CSR) is vectorised.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.data import Interactions, SourceFile
from recsys_bench.datasets import kcore
from recsys_bench.datasets.kcore import count_option, threshold
from recsys_bench.datasets.psv import SketchfabDialect, require_line_end
from recsys_bench.errors import UserError

LIKES_FILE = "model_likes_anon.psv"
FEATURES_FILE = "model_feats.psv"
LIKES_HEADER = ("modelname", "mid", "uid")
FEATURES_HEADER = ("mid", "type", "value")
FEATURE_TYPES = ("category", "tag")


def load(path: str | os.PathLike | None = None, min_user_likes: int = 5, min_item_likes: int = 5,
         min_tag_count: int = 1, features: bool = True) -> Interactions:
    """Load the Sketchfab likes (and features) from a folder, deduplicated and thresholded.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding ``model_likes_anon.psv`` and, optionally, ``model_feats.psv``.
    min_user_likes, min_item_likes : int
        Iterative k-core thresholds of the study (the shared
        :func:`recsys_bench.datasets.kcore.threshold`); 0 or 1 keeps all.
    min_tag_count : int
        Keep a ``category_*`` / ``tag_*`` feature only when at least this many of the kept
        models carry it.
    features : bool
        Read ``model_feats.psv`` when it exists. Without it ``item_features`` is None.

    Returns
    -------
    Interactions
        ``matrix`` is users x models, float32, 1.0 per distinct like, rows and columns in order
        of first appearance in the file. ``user_ids`` / ``item_ids`` hold the original ids
        (``pd.Index(item_ids).get_indexer(ids)`` maps back), ``item_names`` the first
        ``modelname`` seen for each model. ``stats`` holds ``users_before``, ``items_before``,
        ``likes_before`` (rows as read, duplicates included) and ``duplicates_dropped``.

    Raises
    ------
    UserError
        Missing folder or file, wrong header, a row with the wrong number of fields, malformed
        quoting, bytes that are not UTF-8, an unknown feature type, or thresholds that leave
        no data.
    """
    if path is None:
        raise UserError(f"the sketchfab dataset needs a folder (--path DIR) holding {LIKES_FILE}")
    min_user_likes = count_option("min_user_likes", min_user_likes)
    min_item_likes = count_option("min_item_likes", min_item_likes)
    min_tag_count = count_option("min_tag_count", min_tag_count)
    folder = Path(path)
    if not folder.is_dir():
        raise UserError("no such folder (expected one holding the Sketchfab files)", path=folder)
    likes_path = folder / LIKES_FILE
    if not likes_path.is_file():
        raise UserError(f"missing likes file (header {'|'.join(LIKES_HEADER)})", path=likes_path)

    names, mids, uids = read_psv(likes_path, LIKES_HEADER)
    n_rows = len(mids)
    if n_rows == 0:
        raise UserError("no like rows after the header", path=likes_path)
    item_code, item_ids = pd.factorize(mids)
    user_code, user_ids = pd.factorize(uids)
    n_items = len(item_ids)
    pairs = _sorted_unique(user_code.astype(np.int64) * n_items + item_code)
    users, items = np.divmod(pairs, n_items)

    first_seen = np.flatnonzero(~pd.Series(item_code).duplicated().to_numpy())
    stats = dict(users_before=len(user_ids), items_before=n_items, likes_before=n_rows,
                 duplicates_dropped=n_rows - len(pairs))
    full = Interactions(matrix=_csr(users, items.astype(np.int32), (len(user_ids), n_items)),
                        user_ids=np.asarray(user_ids, dtype=object),
                        item_ids=np.asarray(item_ids, dtype=object),
                        item_names=names[first_seen], name="sketchfab", stats=stats)
    data = kcore.apply(full, min_user_likes, min_item_likes, where=likes_path)
    del full
    sources = [SourceFile.of(likes_path)]
    item_features = feature_names = None
    feats_path = folder / FEATURES_FILE
    stats = data.stats
    if features and feats_path.is_file():
        item_features, feature_names, feature_stats = _features(feats_path, data.item_ids,
                                                                min_tag_count)
        stats = {**stats, **feature_stats}
        sources.append(SourceFile.of(feats_path))
    return dataclasses.replace(data, item_features=item_features, feature_names=feature_names,
                               stats=stats, sources=tuple(sources))


def read_psv(path: Path, header: tuple[str, ...]) -> list[np.ndarray]:
    """Read a Sketchfab-dialect file whose header must equal ``header``.

    Returns one object array of strings per column. Blank lines are skipped.

    Raises
    ------
    UserError
        With the file and line for: bytes that are not UTF-8, an empty file, a wrong header,
        malformed quoting (e.g. an unterminated quote), a row with the wrong number of fields.
    """
    with _gc_paused():
        try:
            with _open(path) as f:
                reader = csv.reader(f, dialect=SketchfabDialect)
                first = next(reader, None)
                records = list(reader)
        except OSError as e:
            raise UserError(f"cannot read: {e.strerror or e}", path=path) from None
        except UnicodeDecodeError:
            raise _decode_error(path) from None
        except csv.Error:
            raise _quoting_error(path) from None
        expected = "|".join(header)
        if first is None:
            raise UserError(f"empty file; expected the header {expected!r}", path=path)
        if tuple(first) != header:
            raise UserError(f"wrong header {'|'.join(first)!r}; expected {expected!r}",
                            path=path, line=1)

        n = len(header)
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        if (lengths != n).any():
            wrong = np.flatnonzero((lengths != n) & (lengths != 0))
            if len(wrong):
                i = int(wrong[0])
                raise UserError(f"expected {n} fields ({expected}), found {lengths[i]}",
                                path=path, line=record_line(path, i + 1))
            records = [r for r in records if r]
        require_line_end(path)
        if not records:
            return [np.empty(0, dtype=object) for _ in header]
        columns = [np.array(column, dtype=object) for column in zip(*records)]
        del records
    return columns


def record_line(path: Path, index: int) -> int:
    """1-based line on which record ``index`` (0 = the header) of a Sketchfab file starts."""
    with _open(path) as f:
        reader = csv.reader(f, dialect=SketchfabDialect)
        for _ in range(index):
            next(reader)
        return reader.line_num + 1


def _open(path: Path):
    return open(path, encoding="utf-8-sig", newline="")


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while building millions of small lists and strings.

    They hold no cycles, yet the allocation burst triggers repeated full collections that would
    otherwise nearly double the parse time. Free them before the pause ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _quoting_error(path: Path) -> UserError:
    with _open(path) as f:
        reader = csv.reader(f, dialect=SketchfabDialect)
        while True:
            start = reader.line_num + 1
            try:
                next(reader)
            except csv.Error as e:
                message = str(e)
                break
            except StopIteration:
                message = "unexpected end of data"
                break
    if "field limit" in message:
        return _long_field_error(path, start)
    return UserError(f"malformed quoting in the record starting here ({message}); "
                     "unterminated or stray '\\' quote?", path=path, line=start)


def _long_field_error(path: Path, line: int) -> UserError:
    """A field past ``csv.field_size_limit()``: say so, and blame quoting only when the record
    holds a quote character that could have run on."""
    with _open(path) as f:
        text = next(itertools.islice(f, line - 1, None), "")
    limit = csv.field_size_limit()
    if SketchfabDialect.quotechar in text:
        return UserError(f"a field runs past the reader's limit of {limit:,} characters from "
                         "this record: an unterminated '\\' quote?", path=path, line=line)
    return UserError(f"a field of this record is longer than the reader's limit of {limit:,} "
                     "characters (no quoting involved); this is not a Sketchfab likes or "
                     "features file, or the line is damaged", path=path, line=line)



def _decode_error(path: Path) -> UserError:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return UserError(f"bytes that are not UTF-8 ({data[e.start:e.end]!r})",
                         path=path, line=line)
    return UserError("bytes that are not UTF-8", path=path)


def _features(path: Path, item_ids: np.ndarray, min_count: int):
    """One-hot ``category_*`` / ``tag_*`` features of the kept models, with their stats.

    String work is done once per distinct (type, value), not once per row.
    """
    mids, types, values = read_psv(path, FEATURES_HEADER)
    type_code, type_names = pd.factorize(types)
    unknown = [k for k, name in enumerate(type_names) if name not in FEATURE_TYPES]
    if unknown:
        i = int(np.flatnonzero(np.isin(type_code, unknown))[0])
        raise UserError(f"unknown feature type {types[i]!r}; expected one of "
                        f"{', '.join(FEATURE_TYPES)}", path=path,
                        line=record_line(path, i + 1))
    item = pd.Index(item_ids).get_indexer(mids)
    known = item >= 0
    value_code, value_names = pd.factorize(values[known])
    pair_code, pairs = pd.factorize(type_code[known].astype(np.int64) * max(len(value_names), 1)
                                    + value_code)
    kind, value = np.divmod(pairs, max(len(value_names), 1))
    keys = np.array([f"{type_names[k]}_{value_names[v].lower()}" for k, v in zip(kind, value)],
                    dtype=object)
    key_code, feat_names = pd.factorize(keys, sort=True)
    n_feats = len(feat_names)
    cells = _sorted_unique(item[known].astype(np.int64) * max(n_feats, 1) + key_code[pair_code])
    items, feats = np.divmod(cells, max(n_feats, 1))
    used = np.bincount(feats, minlength=n_feats) >= max(min_count, 1)
    kept = used[feats]
    new_code = np.cumsum(used) - 1
    matrix = _csr(items[kept], new_code[feats[kept]].astype(np.int32),
                  (len(item_ids), int(used.sum())))
    stats = dict(feature_rows_before=len(mids), features_before=n_feats,
                 min_tag_count=min_count)
    return matrix, np.asarray(feat_names, dtype=object)[used], stats


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without its slower hashing path for int64)."""
    keys = np.sort(keys)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def _csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR of ones from (row, col) pairs already sorted by row, then column, without repeats."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    if indptr[-1] <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=shape)
    matrix.has_sorted_indices = True
    return matrix


__all__ = ["FEATURES_FILE", "LIKES_FILE", "load", "read_psv", "record_line", "threshold"]
