"""Any interaction log as a data set: CSV, TSV, any delimiter, gzip/bz2/zstd, or Parquet.

One row per interaction: a user column, an item column, optionally a weight (a rating, a play
count) and a timestamp (epoch seconds or ISO 8601). Columns are named or given by 0-based
position. Rows become a users x items matrix: a rating threshold keeps the likes, repeated
pairs are combined as asked, and an optional item-features file becomes the same one-hot
feature matrix the Sketchfab tags use. The registry applies the shared k-core
(``min_user_likes``, ``min_item_likes``) afterwards, as for every data set.

:func:`build` and :func:`read_item_features` are the building blocks the loaders of the field's
data sets (:mod:`recsys_bench.datasets.field`) share.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.data import Interactions, SourceFile
from recsys_bench.datasets import tabular
from recsys_bench.errors import UserError

DUPLICATES = ("drop", "sum", "max", "last")


def load(path: str | os.PathLike | None = None, user_col: int | str = 0,
         item_col: int | str = 1, weight_col: int | str | None = None,
         timestamp_col: int | str | None = None, delimiter: str | None = None,
         header: bool | None = None, quote: str | None = '"', encoding: str = "utf-8",
         min_weight: float | None = None, binary: bool = True, duplicates: str = "drop",
         on_bad_rows: str = "error", item_features: str | os.PathLike | None = None,
         features_item_col: int | str = 0, features_col: int | str = 1,
         features_value_col: int | str | None = None, features_sep: str | None = None,
         features_delimiter: str | None = None, features_header: bool | None = None,
         features_prefix: str = "") -> Interactions:
    """Load an interaction file as implicit feedback.

    Parameters
    ----------
    path : path
        The file: delimited text (plain, ``.gz``, ``.bz2``, ``.zst``: recognised by content) or
        Parquet.
    user_col, item_col : str or int
        The user and item columns, by name (needs a header) or 0-based position.
    weight_col : str or int, optional
        A number per row: a rating, a play count.
    timestamp_col : str or int, optional
        Epoch seconds or ISO 8601 times (kept for temporal splits: the latest per pair).
    delimiter, header : optional
        Of delimited text; guessed from the first lines when not given (``datasets inspect``
        shows the guess). A delimiter may be several characters (``::``).
    quote : str or None
        Quote character; None reads quotes as ordinary text (files whose names hold ``"``).
    encoding : str
        Text encoding of delimited files.
    min_weight : float, optional
        Keep only rows whose weight is at least this (likes = rating >= t); needs ``weight_col``.
    binary : bool
        True: the matrix holds 1 per distinct pair. False: the combined weights (1 per row
        without ``weight_col``, so ``duplicates="sum"`` counts repeats); zeros are dropped.
    duplicates : {"drop", "sum", "max", "last"}
        How repeated (user, item) rows combine: the first row's weight, the sum, the maximum,
        or the latest by timestamp (needs ``timestamp_col``).
    on_bad_rows : {"error", "skip"}
        A malformed row stops the load with ``file:line`` and the column, or is skipped and
        counted (``stats["bad_rows_skipped"]``, ``stats["first_bad_row"]``).
    item_features : path, optional
        Item features: long form (one ``item, feature[, value]`` row each) or, with
        ``features_sep``, one row per item whose feature column joins its tags by that separator.
    features_item_col, features_col, features_value_col, features_delimiter, features_header
        Its columns and layout, as for the interactions.
    features_sep : str, optional
        Separator of the joined tags (``|`` for MovieLens genres).
    features_prefix : str
        Prepended to each feature name (``genre_``).

    Returns
    -------
    Interactions
        Users and items with integer ids in ascending order, text ids in order of first
        appearance; ids as read. ``sources`` holds the size
        and sha256 of each file read. ``stats``: ``rows_read``, ``bad_rows_skipped``,
        ``users_before``, ``items_before``, ``likes_before`` (rows left by ``min_weight``),
        ``duplicates_dropped``.
    """
    if path is None:
        raise UserError("the interactions dataset needs a file: --option path=FILE")
    path = Path(path)
    duplicates = _choice("duplicates", duplicates, DUPLICATES)
    if not isinstance(binary, bool):
        raise UserError(f"binary must be true or false, got {binary!r}")
    if min_weight is not None and weight_col is None:
        raise UserError("min_weight needs weight_col (the column it applies to)")
    if duplicates == "last" and timestamp_col is None:
        raise UserError("duplicates='last' needs timestamp_col (what 'last' is measured by)")
    roles = {"user": (user_col, tabular.ID), "item": (item_col, tabular.ID)}
    if weight_col is not None:
        roles["weight"] = (weight_col, tabular.NUMBER)
    if timestamp_col is not None:
        roles["timestamp"] = (timestamp_col, tabular.TIME)
    columns = tabular.read(path, roles, delimiter=delimiter, header=header, quote=quote,
                           encoding=encoding, on_bad_rows=on_bad_rows)
    sources = [SourceFile.of(path)]
    data = build(columns, min_weight=min_weight, binary=binary, duplicates=duplicates,
                 name="interactions", where=path, sources=sources)
    if item_features is not None:
        features_path = Path(item_features)
        matrix, names, stats = read_item_features(
            features_path, data.item_ids, item_col=features_item_col,
            feature_col=features_col, value_col=features_value_col, sep=features_sep,
            delimiter=features_delimiter, header=features_header, quote=quote,
            encoding=encoding, on_bad_rows=on_bad_rows, prefix=features_prefix)
        data = dataclasses.replace(data, item_features=matrix, feature_names=names,
                     stats={**data.stats, **stats},
                     sources=(*data.sources, SourceFile.of(features_path)))
    return data


def build(columns: tabular.Columns, *, min_weight: float | None = None, binary: bool = True,
          duplicates: str = "drop", name: str = "interactions",
          where: str | os.PathLike | None = None, sources=(),
          stats: dict | None = None) -> Interactions:
    """Interactions from read columns (``user``, ``item`` codes; optional ``weight``,
    ``timestamp``): threshold, combine repeated pairs, drop unused ids, build the CSR.

    See :func:`load` for the meaning of the options and the ``stats`` it reports.
    """
    users, user_ids = columns.codes["user"]
    items, item_ids = columns.codes["item"]
    weights = columns.values.get("weight")
    times = columns.values.get("timestamp")
    out = {"rows_read": int(columns.rows), "bad_rows_skipped": int(columns.bad_rows)}
    if columns.first_bad is not None:
        out["first_bad_row"] = columns.first_bad
    out.update(users_before=_distinct(users, len(user_ids)),
               items_before=_distinct(items, len(item_ids)))
    if min_weight is not None:
        if isinstance(min_weight, bool) or not isinstance(min_weight, numbers.Real):
            raise UserError(f"min_weight must be a number, got {min_weight!r}")
        keep = weights >= min_weight
        users, items = users[keep], items[keep]
        weights = weights[keep]
        times = None if times is None else times[keep]
        out["min_weight"] = min_weight
    out["likes_before"] = len(users)
    if not len(users):
        raise UserError("no interactions" + (f" with weight >= {min_weight}"
                                             if min_weight is not None else ""), path=where)

    n_items = max(len(item_ids), 1)
    key = users.astype(np.int64) * n_items + items
    values = time = None
    if binary and times is None:
        key = _sorted_unique(key)
    else:
        order = (np.lexsort((times, key)) if duplicates == "last"
                 else _stable_order(key))
        key = key[order]
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        key = key[starts]
        if not binary:
            values = _combine(np.ones(len(order)) if weights is None else weights[order],
                              starts, duplicates)
        if times is not None:
            time = np.maximum.reduceat(times[order], starts)
        del order
    out["duplicates_dropped"] = int(out["likes_before"] - len(key))
    pair_users, pair_items = np.divmod(key, n_items)
    if values is not None:
        nonzero = values != 0
        out["zero_weights_dropped"] = int((~nonzero).sum())
        if not nonzero.all():
            pair_users, pair_items, values = (pair_users[nonzero], pair_items[nonzero],
                                              values[nonzero])
            time = None if time is None else time[nonzero]
        if not len(values):
            raise UserError("every combined weight is 0", path=where)
    used_users = np.bincount(pair_users, minlength=len(user_ids)) > 0
    used_items = np.bincount(pair_items, minlength=len(item_ids)) > 0
    kept_users, kept_items = np.flatnonzero(used_users), np.flatnonzero(used_items)
    rows = (np.cumsum(used_users) - 1)[pair_users]
    cols = (np.cumsum(used_items) - 1).astype(np.int32)[pair_items]
    shape = (len(kept_users), len(kept_items))
    data = np.ones(len(cols), np.float32) if values is None else values.astype(np.float32)
    matrix = _csr(data, rows, cols, shape)
    timestamps = None if time is None else _csr(time.astype(np.float64), rows, cols, shape)
    out.update(stats or {})
    return Interactions(matrix=matrix, user_ids=_ids(user_ids)[kept_users],
                        item_ids=_ids(item_ids)[kept_items], timestamps=timestamps, name=name,
                        stats=out, sources=tuple(sources))


def read_item_features(path: Path, item_ids: np.ndarray, *, item_col=0, feature_col=1,
                       value_col=None, sep: str | None = None, delimiter=None, header=None,
                       quote='"', encoding="utf-8", on_bad_rows="error", prefix: str = "",
                       lower: bool = False):
    """Read an item-features file into :func:`feature_matrix` form, aligned with ``item_ids``.

    Long form: one ``item, feature[, value]`` row each. With ``sep``: one row per item whose
    feature column joins its tags by ``sep``. Returns the matrix, the feature names and stats
    (``feature_rows_read`` added).
    """
    roles = {"item": (item_col, tabular.ID), "feature": (feature_col, tabular.TEXT)}
    if value_col is not None:
        roles["value"] = (value_col, tabular.NUMBER)
    columns = tabular.read(path, roles, delimiter=delimiter, header=header, quote=quote,
                           encoding=encoding, on_bad_rows=on_bad_rows)
    matrix, names, stats = feature_matrix(item_ids, columns.codes["item"],
                                          columns.codes["feature"], columns.values.get("value"),
                                          sep=sep, prefix=prefix, lower=lower)
    return matrix, names, {"feature_rows_read": int(columns.rows), **stats}


def feature_matrix(item_ids: np.ndarray, items: tuple, features: tuple,
                   values: np.ndarray | None = None, *, sep: str | None = None,
                   prefix: str = "", lower: bool = False):
    """An items x features float32 CSR aligned with ``item_ids``, its names and stats.

    Parameters
    ----------
    item_ids : numpy.ndarray
        The data set's item ids (rows of the result); matched by their text.
    items, features : tuple
        ``(codes, uniques)`` per feature row: its item and its feature (or, with ``sep``, its
        ``sep``-joined tags; empty text means none).
    values : numpy.ndarray, optional
        Value per row (default 1); a repeated (item, feature) keeps the largest.
    sep, prefix, lower
        Tag separator; text prepended to each name; lower-case the names.

    Returns
    -------
    tuple
        The matrix (columns no item carries are dropped), feature names (sorted) and
        ``feature_rows_unmatched`` (rows of items not in ``item_ids``) and ``features_before``.
    """
    item_codes, item_text = items
    feats, feat_text = features
    values = np.ones(len(item_codes)) if values is None else values
    if sep:
        tags = [[t.strip() for t in str(text).split(sep) if t.strip()] for text in feat_text]
        lengths = np.array([len(t) for t in tags], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        repeat = lengths[feats]
        offsets = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        feats = np.repeat(starts[feats], repeat) + offsets
        item_codes, values = np.repeat(item_codes, repeat), np.repeat(values, repeat)
        feat_text = np.array([t for group in tags for t in group], dtype=object)
    empty = np.array([not str(t).strip() for t in feat_text], dtype=bool)
    names = np.array([prefix + (str(t).lower() if lower else str(t)) for t in feat_text],
                     dtype=object)
    code, feature_names = pd.factorize(names, sort=True)
    row_of = pd.Index(_ids(item_ids).astype(str)).get_indexer(_ids(item_text).astype(str))
    rows = row_of[item_codes]
    known = (rows >= 0) & ~empty[feats]
    feats = code[feats]
    n_feats = len(feature_names)
    frame = pd.DataFrame({"row": rows[known], "feat": feats[known], "value": values[known]})
    frame = frame.groupby(["row", "feat"], sort=True)["value"].max().reset_index()
    keep = frame["value"].to_numpy() != 0
    matrix = sp.csr_matrix((frame["value"].to_numpy(np.float32)[keep],
                            (frame["row"].to_numpy()[keep], frame["feat"].to_numpy()[keep])),
                           shape=(len(item_ids), n_feats))
    matrix.sort_indices()
    used = np.flatnonzero(np.bincount(matrix.indices, minlength=n_feats))
    stats = {"feature_rows_unmatched": int((rows < 0).sum()), "features_before": int(n_feats)}
    return (matrix[:, used].tocsr(), np.asarray(feature_names, dtype=object)[used], stats)


def _combine(values: np.ndarray, starts: np.ndarray, duplicates: str) -> np.ndarray:
    if duplicates == "sum":
        return np.add.reduceat(values, starts)
    if duplicates == "max":
        return np.maximum.reduceat(values, starts)
    if duplicates == "last":
        return values[np.concatenate((starts[1:], [len(values)])) - 1]
    return values[starts]


def _stable_order(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")``, several times faster where key and row number fit
    one int64 together: sorting the packed values needs no stable sort (they are distinct)."""
    n = len(key)
    shift = max(int(n - 1).bit_length(), 1)
    if n == 0 or int(key.max()) >= 1 << (62 - shift):
        return np.argsort(key, kind="stable")
    packed = (key << shift) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << shift) - 1)


def _distinct(codes: np.ndarray, n: int) -> int:
    return int(np.count_nonzero(np.bincount(codes, minlength=n))) if len(codes) else 0


def _ids(ids) -> np.ndarray:
    ids = np.asarray(ids)
    return ids.astype(object) if ids.dtype.kind == "U" else ids


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def _csr(data: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape) -> sp.csr_matrix:
    """CSR from entries already sorted by row, then column, without repeats."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    if indptr[-1] <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    matrix = sp.csr_matrix((data, cols, indptr), shape=shape)
    matrix.has_sorted_indices = True
    return matrix


def _choice(name: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UserError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value
