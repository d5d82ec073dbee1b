"""Split kinds beyond random hold-outs: given splits, MovieLens-100k's official splits, a global
time cut and strong generalisation.

One rule for every kind here: a test (or validation) interaction whose user or item has no train
interaction cannot be ranked by a model that never saw it, so it is dropped and counted in
:attr:`Split.stats` (``<part>_users_unseen``, ``<part>_items_unseen``, ``<part>_dropped``).
Strong generalisation is the exception by design: its held-out users are never in train and are
scored from their given history (:mod:`recsys_bench.fold_in`); only their items unseen in train
are dropped, as Liang et al. (2018) drop them.

None of these kinds draws at random except ``strong_generalization``; the others record the seed
and give the same split for every seed.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError
from recsys_bench.splits import (
    Split,
    _canonical,
    _cut,
    _fraction,
    _rank_within_rows,
    _rows,
    _seed,
    fingerprint,
)

PARTS = ("train", "test", "validation")
OFFICIAL_NAMES = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".psv": "|"}


# --------------------------------------------------------------------------- shared assembly

def _keys(rows: np.ndarray, cols: np.ndarray, n_items: int) -> np.ndarray:
    return rows.astype(np.int64) * n_items + cols.astype(np.int64)


def _part(matrix: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """The non-zeros of ``matrix`` where ``mask`` holds, same shape."""
    return _cut(matrix, mask)[1]


def _drop_unseen(train: sp.csr_matrix, part: sp.csr_matrix, name: str, stats: dict,
                 users_too: bool = True) -> sp.csr_matrix:
    """``part`` without the interactions of users (if ``users_too``) or items absent from
    ``train``; the dropped users, items and interactions are counted in ``stats``."""
    rows, cols = _rows(part), part.indices
    seen_users = np.diff(train.indptr) > 0
    seen_items = np.bincount(train.indices, minlength=train.shape[1]) > 0
    keep = seen_items[cols]
    if users_too:
        keep &= seen_users[rows]
        stats[f"{name}_users_unseen"] = int(np.unique(rows[~seen_users[rows]]).size)
    stats[f"{name}_items_unseen"] = int(np.unique(cols[~seen_items[cols]]).size)
    stats[f"{name}_dropped"] = int((~keep).sum())
    return _part(part, keep)


def _finish(train, test, kind: str, options: dict, seed: int, stats: dict, *,
            fold_in=None, validation=None) -> Split:
    """Check that both sides are non-empty and build the fingerprinted :class:`Split`."""
    if train.nnz == 0:
        raise UserError(f"{kind}: the train part is empty")
    if test.nnz == 0:
        raise UserError(f"{kind}: no test interaction is left (after dropping those of users "
                        "or items unseen in train)")
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int64)
    validation_users = None
    if validation is not None:
        validation_users = np.flatnonzero(np.diff(validation.indptr)).astype(np.int64)
    stats.update(train_interactions=int(train.nnz), test_interactions=int(test.nnz),
                 test_users=int(users.size))
    if validation is not None:
        stats.update(validation_interactions=int(validation.nnz),
                     validation_users=int(validation_users.size))
    digest = fingerprint(train, test, users, fold_in=fold_in, validation=validation,
                         validation_users=validation_users)
    return Split(train=train, test=test, users=users, kind=kind, options=dict(options),
                 seed=int(seed), fingerprint=digest, fold_in=fold_in, validation=validation,
                 validation_users=validation_users, stats=stats)


def _assign(data: Interactions, pairs: dict, kind: str, options: dict, seed: int,
            stats: dict, where: dict) -> Split:
    """A split from (row, column) index pairs per part, mapped onto the data set's non-zeros.

    ``pairs[part]`` holds row and column indices (-1 where an id is not in the data set's
    vocabulary: such rows are dropped and counted). A pair of known ids that is not an
    interaction of the data set, a file that matches nothing, or a pair in two parts is a
    ``UserError`` naming ``where[part]``.
    """
    matrix = _canonical(data.matrix)
    n_items = matrix.shape[1]
    keys = _keys(_rows(matrix), matrix.indices, n_items)
    label = np.full(matrix.nnz, -1, dtype=np.int8)
    for code, name in enumerate(PARTS):
        if name not in pairs:
            continue
        rows, cols = pairs[name]
        if rows.size == 0:
            raise UserError(f"{kind}: the {name} part has no rows", path=where.get(name))
        known = (rows >= 0) & (cols >= 0)
        stats[f"{name}_rows"] = int(rows.size)
        stats[f"{name}_rows_unknown"] = int((~known).sum())
        wanted = np.unique(_keys(rows[known], cols[known], n_items))
        position = np.searchsorted(keys, wanted)
        found = position < keys.size
        found[found] = keys[position[found]] == wanted[found]
        if not found.any():
            raise UserError(f"{kind}: none of the {rows.size} rows of the {name} part match an "
                            f"interaction of data set {data.name or '(unnamed)'}; is it a "
                            "split of other data?", path=where.get(name))
        if not found.all():
            user, item = divmod(int(wanted[~found][0]), n_items)
            raise UserError(f"{kind}: {int((~found).sum())} {name} pairs are not interactions of "
                            f"data set {data.name or '(unnamed)'} (first: user "
                            f"{data.user_ids[user]}, item {data.item_ids[item]}); a given "
                            "split must be cut from the same data", path=where.get(name))
        taken = label[position] >= 0
        if taken.any():
            other = PARTS[int(label[position][taken][0])]
            raise UserError(f"{kind}: {int(taken.sum())} pairs are in both the {other} and the "
                            f"{name} part", path=where.get(name))
        label[position] = code
    stats["unassigned"] = int((label < 0).sum())
    train = _part(matrix, label == 0)
    test = _drop_unseen(train, _part(matrix, label == 1), "test", stats)
    validation = None
    if "validation" in pairs:
        validation = _drop_unseen(train, _part(matrix, label == 2), "validation", stats)
    return _finish(train, test, kind, options, seed, stats, validation=validation)


def _indices(vocabulary: np.ndarray, ids, what: str, where) -> np.ndarray:
    """Positions of ``ids`` in ``vocabulary`` (-1 when absent), compared as the vocabulary's
    kind: whole numbers for integer ids, text otherwise."""
    ids = np.asarray(ids)
    if np.asarray(vocabulary).dtype.kind in "iu":
        numbers = pd.to_numeric(pd.Series(ids, dtype=object), errors="coerce")
        bad = numbers.isna() | (numbers != np.floor(numbers))
        if bad.any():
            first = str(ids[bad.to_numpy()][0])
            raise UserError(f"{what} id {first!r} is not a whole number, as the data set's ids "
                            "are", path=where)
        ids = numbers.to_numpy().astype(np.int64)
        return pd.Index(np.asarray(vocabulary, dtype=np.int64)).get_indexer(ids)
    return pd.Index(np.asarray(vocabulary).astype(str)).get_indexer(ids.astype(str))


# --------------------------------------------------------------------------- given splits

def read_pairs(path, data: Interactions, column: str | None = None):
    """(user ids, item ids[, column values]) of a split file, read as the data set reads.

    MovieLens-100k: ``u.data`` format (tab-separated user item rating timestamp, no header),
    with the data set's own ``min_rating`` applied. Sketchfab: the likes file's dialect and
    header (``modelname|mid|uid``). Anything else, or any file when ``column`` is asked for: a
    delimited table with a header naming ``user_id`` and ``item_id`` (and ``column``), the
    delimiter from the suffix (``.csv`` comma, ``.tsv``/``.txt`` tab, ``.psv`` pipe).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("given split file not found", path=path)
    if column is None and data.name == "movielens-100k":
        from recsys_bench.datasets.movielens import read_ratings_file
        rows = read_ratings_file(path)
        rows = rows[rows[:, 2] >= data.stats.get("min_rating", 0)]
        return rows[:, 0], rows[:, 1]
    if column is None and data.name in ("sketchfab", "sketchfab-synthetic"):
        from recsys_bench.datasets.sketchfab import LIKES_HEADER, read_psv
        _, mids, uids = read_psv(path, LIKES_HEADER)
        return uids, mids
    wanted = ["user_id", "item_id"] + ([column] if column else [])
    sep = _DELIMITERS.get(path.suffix.lower())
    if sep is None:
        raise UserError(f"cannot tell the delimiter from the suffix {path.suffix!r}; use one of "
                        f"{', '.join(_DELIMITERS)}", path=path)
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read as a {sep!r}-delimited table: {exc}", path=path) from None
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)}; the header has "
                        f"{', '.join(map(str, table.columns))}", path=path, line=1)
    return tuple(table[c].to_numpy(dtype=object) for c in wanted)


def given(data: Interactions, *, train: str | None = None, test: str | None = None,
          validation: str | None = None, file: str | None = None, column: str | None = None,
          seed: int = 0) -> Split:
    """A split given by files (``train``, ``test``, optional ``validation``) or by a column.

    Either name the files of each part, in a format the data set reads (see
    :func:`read_pairs`), or one table ``file`` whose ``column`` says ``train``, ``test`` or
    ``validation`` for each row. Ids are mapped through the data set's vocabularies; rows whose
    user or item is not in the data set are dropped and counted (``<part>_rows_unknown``; a
    data set's filters, such as Sketchfab's thresholds, remove ids legitimately). Interactions
    of the data set in no part are counted as ``unassigned``; ``<part>_rows`` counts the rows
    read (after the data set's own row filter, such as MovieLens' ``min_rating``). Test and
    validation interactions of users or items unseen in train are dropped and counted (module
    docstring).

    Raises
    ------
    UserError
        Neither or both ways given; a file not found or malformed; a part that matches no
        interaction of the data set, or pairs known ids that are not an interaction of it (the
        files do not belong to this data set); a pair in two parts; an empty side.
    """
    seed = _seed(seed)
    options = {"train": train, "test": test, "validation": validation, "file": file,
               "column": column}
    pairs, where = {}, {}
    if file is not None or column is not None:
        if file is None or column is None or train or test or validation:
            raise UserError("given split: give file and column together, or train and test "
                            "files, not both")
        users, items, labels = read_pairs(file, data, column)
        labels = np.char.lower(labels.astype(str))
        unknown = sorted(set(labels) - set(PARTS))
        if unknown:
            raise UserError(f"column {column!r} holds {str(unknown[0])!r}; expected train, test or "
                            "validation", path=file)
        for name in PARTS:
            chosen = labels == name
            if chosen.any() or name != "validation":
                pairs[name] = (users[chosen], items[chosen])
                where[name] = os.fspath(file)
    else:
        if train is None or test is None:
            raise UserError("given split needs the train and test files (or file and column)")
        for name, path in (("train", train), ("test", test), ("validation", validation)):
            if path is not None:
                pairs[name] = read_pairs(path, data)
                where[name] = os.fspath(path)
    mapped = {name: (_indices(data.user_ids, users, "user", where[name]),
                     _indices(data.item_ids, items, "item", where[name]))
              for name, (users, items) in pairs.items()}
    return _assign(data, mapped, "given", options, seed, {}, where)


# --------------------------------------------------------------------------- MovieLens-100k

def official_test_rows(users: np.ndarray, name: str) -> np.ndarray:
    """Which rows of ``u.data`` (in file order) GroupLens put in the test file ``name``.

    As ``mku.sh`` and ``allbut.pl`` of the ml-100k distribution build them: ``u1``..``u5``
    take the i-th block of consecutive lines (``head -i*20000 | tail -20000``: fifths of the
    100,000 lines; here ``[(i-1)n/5, in/5)`` for n lines); ``ua`` takes each user's 1st to 10th
    rating in file order, ``ub`` the 11th to 20th (``allbut.pl ua 1 10``, ``ub 11 20``). The
    ``.base`` file is the rest. (The files are then sorted by user and item, which a matrix
    does not see.)
    """
    if name not in OFFICIAL_NAMES:
        raise UserError(f"movielens_official: unknown name {name!r}; valid: "
                        f"{', '.join(OFFICIAL_NAMES)}")
    users = np.asarray(users)
    n = users.size
    test = np.zeros(n, dtype=bool)
    if name[1].isdigit():
        i = int(name[1])
        test[(i - 1) * n // 5:i * n // 5] = True
        return test
    order = np.argsort(users, kind="stable")
    ordered = users[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, counts) + 1
    first, last = (1, 10) if name == "ua" else (11, 20)
    return (rank >= first) & (rank <= last)


def movielens_official(data: Interactions, *, name: str = "ua", path: str | None = None,
                       seed: int = 0) -> Split:
    """MovieLens-100k's official split ``name`` (``u1``..``u5``, ``ua``, ``ub``), from u.data.

    The folds are cut from every rating in file order exactly as GroupLens cut them
    (:func:`official_test_rows`), then the data set's ``min_rating`` keeps the likes; a
    (user, movie) pair rated twice follows its latest rating, as the data set does (ml-100k
    has none); test likes of users or items without a train like are dropped and counted.

    Parameters
    ----------
    path : str, optional
        Where to read ``u.data`` (folder or zip), as the data set's own ``path``; by default the
        same cache or download the data set uses. The ratings read must give exactly the data
        set's interactions.
    """
    seed = _seed(seed)
    if data.name != "movielens-100k":
        raise UserError(f"movielens_official splits the movielens-100k data set, not "
                        f"{data.name or 'unnamed data'!r}")
    from recsys_bench.datasets.movielens import read_source
    raw = read_source(path)
    ratings = raw.ratings
    test = official_test_rows(ratings[:, 0], name)
    liked = np.flatnonzero(ratings[:, 2] >= data.stats.get("min_rating", 0))
    rows = _indices(data.user_ids, ratings[liked, 0], "user", raw.source)
    cols = _indices(data.item_ids, ratings[liked, 1], "item", raw.source)
    if (rows < 0).any() or (cols < 0).any():
        raise UserError(f"movielens_official: the ratings of {raw.source} are not the data "
                        "set's; give the split the data set's path (split option path)")
    keys = _keys(rows, cols, data.n_items)
    order = np.lexsort((ratings[liked, 3], keys))
    latest = order[np.r_[keys[order][1:] != keys[order][:-1], True]]
    if latest.size != data.nnz:
        raise UserError(f"movielens_official: the ratings of {raw.source} are not the data "
                        "set's; give the split the data set's path (split option path)")
    rows, cols, in_test = rows[latest], cols[latest], test[liked[latest]]
    where = {"train": raw.source, "test": raw.source}
    pairs = {"train": (rows[~in_test], cols[~in_test]), "test": (rows[in_test], cols[in_test])}
    stats = {"ratings": int(ratings.shape[0]), "official_test_ratings": int(test.sum()),
             "repeated_ratings_dropped": int(liked.size - latest.size)}
    return _assign(data, pairs, "movielens_official", {"name": name, "path": path}, seed,
                   stats, where)


# --------------------------------------------------------------------------- global time cut

def time_cut(data: Interactions, *, timestamp: float | None = None,
             quantile: float | None = None, seed: int = 0) -> Split:
    """Train on every interaction before a moment, test on every one at or after it.

    Give ``timestamp`` (seconds since the epoch) or ``quantile`` in (0, 1) (default 0.8): the
    cut is then the timestamp at that quantile of all interaction times (``numpy.quantile``,
    ``method="higher"``), so about that share of interactions is train. Ties at the cut go to
    test. Rule for what appears only after the cut: test interactions of users with no train
    interaction (new users) and of items with none (new items) are dropped and counted in
    ``stats`` (``test_users_unseen``, ``test_items_unseen``, ``test_dropped``); ``stats["cut"]``
    holds the cut.

    Raises
    ------
    UserError
        No timestamps, both or bad options, or a cut that leaves either side empty.
    """
    seed = _seed(seed)
    if data.timestamps is None:
        raise UserError("time_cut needs interaction timestamps; this data set has none")
    if timestamp is not None and quantile is not None:
        raise UserError("time_cut: give timestamp or quantile, not both")
    matrix = _canonical(data.matrix)
    stamps = sp.csr_matrix(data.timestamps, dtype=np.float64, copy=True)
    stamps.sort_indices()
    if stamps.shape != matrix.shape or not np.array_equal(stamps.indices, matrix.indices) \
            or not np.array_equal(stamps.indptr, matrix.indptr):
        raise UserError("time_cut: timestamps do not have the sparsity of the matrix")
    if timestamp is not None:
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float, np.number)) \
                or not math.isfinite(timestamp):
            raise UserError(f"time_cut: timestamp must be a number of seconds, got {timestamp!r}")
        cut = float(timestamp)
    else:
        quantile = _fraction("quantile", 0.8 if quantile is None else quantile, False)
        cut = float(np.quantile(stamps.data, quantile, method="higher"))
    after = stamps.data >= cut
    try:
        when = datetime.fromtimestamp(cut, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        when = "out of the calendar's range"
    for side, empty in (("before", after.all()), ("at or after", not after.any())):
        if empty:
            raise UserError(f"time_cut: no interaction is {side} the cut {cut:.0f} ({when}); "
                            f"the data spans {stamps.data.min():.0f} to {stamps.data.max():.0f}")
    stats = {"cut": cut, "cut_utc": when}
    train = _part(matrix, ~after)
    test = _drop_unseen(train, _part(matrix, after), "test", stats)
    options = {"timestamp": timestamp, "quantile": quantile}
    return _finish(train, test, "time_cut", options, seed, stats)


# --------------------------------------------------------------------------- strong generalisation

def strong_generalization(matrix, *, test_users: float = 0.1, validation_users: float = 0.1,
                          holdout: float = 0.2, seed: int = 0) -> Split:
    """Held-out users never in train: part of each one's history is given, the rest scored.

    As Marlin (2004), Liang et al. (2018) and Steck (2019): among the users with
    ``floor(holdout * n_u) >= 1``, ``floor(test_users * n)`` test users and
    ``floor(validation_users * n)`` validation users are drawn (``n`` = those eligible users);
    every other user is a train user and only train users' rows are in ``train``. Each held-out
    user's interactions with items absent from ``train`` are dropped (counted as
    ``heldout_dropped``), then ``floor(holdout * n_u)`` random ones are scored (``test`` or
    ``validation``) and the rest are given (``fold_in``); users left with nothing to score are
    not evaluated (``heldout_users_dropped``). Report on :attr:`Split.users` (test users),
    tune on :meth:`Split.for_validation`.

    Parameters
    ----------
    test_users, validation_users : float
        Shares of the eligible users; ``test_users`` in (0, 1), ``validation_users`` in [0, 1)
        (0: no validation users); together below 1.
    holdout : float
        In (0, 1): share of each held-out user's history that is scored (Liang et al.: 0.2).
    seed : int
        Seed of ``numpy.random.default_rng``: draws the users, then one key per non-zero.
    """
    test_users = _fraction("test_users", test_users, False)
    if validation_users != 0:
        validation_users = _fraction("validation_users", validation_users, False)
    holdout = _fraction("holdout", holdout, False)
    seed = _seed(seed)
    if test_users + validation_users >= 1:
        raise UserError("strong_generalization: test_users + validation_users must be below 1 "
                        "(some users must train)")
    matrix = _canonical(matrix)
    counts = np.diff(matrix.indptr)
    eligible = np.flatnonzero(np.floor(holdout * counts) >= 1)
    n_test = int(np.floor(test_users * eligible.size))
    n_validation = int(np.floor(validation_users * eligible.size))
    if n_test < 1 or (validation_users and n_validation < 1):
        raise UserError(f"strong_generalization: {eligible.size} users have enough interactions "
                        f"to hold out {holdout}; test_users={test_users}, validation_users="
                        f"{validation_users} choose none of them")
    rng = np.random.default_rng(seed)
    drawn = rng.permutation(eligible)[:n_test + n_validation]
    group = np.zeros(matrix.shape[0], dtype=np.int8)
    group[drawn[:n_test]] = 1
    group[drawn[n_test:]] = 2
    row_group = group[_rows(matrix)]
    train = _part(matrix, row_group == 0)
    stats: dict = {"train_users": int((group == 0).sum()), "heldout_users": int(drawn.size)}
    heldout = _drop_unseen(train, _part(matrix, row_group > 0), "heldout", stats,
                           users_too=False)
    rank = _rank_within_rows(heldout, None, rng)
    n_scored = np.floor(holdout * np.diff(heldout.indptr)).astype(np.int64)
    scored = rank < np.repeat(n_scored, np.diff(heldout.indptr))
    stats["heldout_users_dropped"] = int(((group > 0) & (n_scored == 0)).sum())
    held_group = group[_rows(heldout)]
    fold_in = _part(heldout, ~scored)
    test = _part(heldout, scored & (held_group == 1))
    validation = _part(heldout, scored & (held_group == 2)) if n_validation else None
    options = {"test_users": test_users, "validation_users": validation_users,
               "holdout": holdout}
    return _finish(train, test, "strong_generalization", options, seed, stats,
                   fold_in=fold_in, validation=validation)
