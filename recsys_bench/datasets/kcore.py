"""Iterative k-core thresholding, shared by every data set.

The registry applies :func:`apply` to any data set whose loader does not threshold by itself,
so ``min_user_likes`` / ``min_item_likes`` mean the same thing everywhere (the Sketchfab study's
rule) and the before/after figures land in the same ``stats`` keys.
"""

from __future__ import annotations

import dataclasses
import numbers
import os

import numpy as np
import scipy.sparse as sp

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError


def threshold(users: np.ndarray, items: np.ndarray, min_user: int, min_item: int) -> np.ndarray:
    """Iterative k-core filter of the study: which interactions survive the thresholds.

    Drops the interactions of users with fewer than ``min_user`` of them, then those of items
    with fewer than ``min_item``, and repeats until neither step drops anything. The result is
    the largest subset in which every remaining user and item meets its minimum (it does not
    depend on the order of the steps).

    Parameters
    ----------
    users, items : numpy.ndarray
        Non-negative integer codes, one pair per interaction. A repeated pair counts once per
        occurrence, so deduplicate first to count distinct likes.
    min_user, min_item : int
        Minimum interactions per user and per item; 0 or 1 keeps everything.

    Returns
    -------
    numpy.ndarray
        Boolean mask over the interactions.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    alive = np.arange(len(users))
    steps = [(users, int(min_user)), (items, int(min_item))]
    # A step that drops leaves its own side satisfied (whole users/items go), so the next step
    # that drops nothing proves both sides are: ``quiet`` counts the satisfied sides.
    quiet, step = 0, 0
    while quiet < 2 and len(alive):
        codes, minimum = steps[step % 2]
        sub = codes[alive]
        counts = np.bincount(sub)
        ok = counts[sub] >= minimum
        if ok.all():
            quiet += 1
        else:
            alive = alive[ok]
            quiet = 1
        step += 1
    keep = np.zeros(len(users), dtype=bool)
    keep[alive] = True
    return keep


def count_option(name: str, value) -> int:
    """``value`` as a whole number >= 0, else a :class:`UserError` naming the option."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise UserError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def apply(data: Interactions, min_user_likes: int = 0, min_item_likes: int = 0,
          where: str | os.PathLike | None = None) -> Interactions:
    """Keep the k-core of ``data``: users and items with at least the given likes, iteratively.

    Parameters
    ----------
    data : Interactions
        Deduplicated data (one stored entry per user-item pair).
    min_user_likes, min_item_likes : int
        Thresholds of :func:`threshold`; 0 or 1 keeps everything.
    where : path, optional
        The source file, named in the error when nothing survives.

    Returns
    -------
    Interactions
        Rows, columns, ids, names, timestamps and item-feature rows of the kept users and items
        in their original order; feature columns no kept item carries are dropped. ``stats``
        gains ``min_user_likes`` and ``min_item_likes``, and ``users_before``, ``items_before``
        and ``likes_before`` (the figures before thresholding) where the loader gave none.

    Raises
    ------
    UserError
        A threshold that is not a whole number >= 0, or thresholds that leave no data.
    """
    min_user = count_option("min_user_likes", min_user_likes)
    min_item = count_option("min_item_likes", min_item_likes)
    stats = dict(data.stats)
    stats.setdefault("users_before", int(data.n_users))
    stats.setdefault("items_before", int(data.n_items))
    stats.setdefault("likes_before", int(data.nnz))
    stats.update(min_user_likes=min_user, min_item_likes=min_item)
    if min_user <= 1 and min_item <= 1:
        return dataclasses.replace(data, stats=stats)

    matrix = sp.csr_matrix(data.matrix)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keep = threshold(rows, matrix.indices, min_user, min_item)
    if not keep.any():
        raise UserError(f"thresholds min_user_likes={min_user}, "
                        f"min_item_likes={min_item} leave no data", path=where)
    users = np.flatnonzero(np.bincount(rows[keep], minlength=matrix.shape[0]))
    items = np.flatnonzero(np.bincount(matrix.indices[keep], minlength=matrix.shape[1]))

    features, feature_names = data.item_features, data.feature_names
    if features is not None:
        features = sp.csr_matrix(features)[items]
        used = np.flatnonzero(np.bincount(features.indices, minlength=features.shape[1]))
        features = _sorted(features[:, used])
        if feature_names is not None:
            feature_names = np.asarray(feature_names)[used]
    return dataclasses.replace(
        data, matrix=_sorted(matrix[users][:, items]),
        user_ids=np.asarray(data.user_ids)[users], item_ids=np.asarray(data.item_ids)[items],
        item_names=None if data.item_names is None else np.asarray(data.item_names)[items],
        item_features=features, feature_names=feature_names,
        timestamps=(None if data.timestamps is None
                    else _sorted(sp.csr_matrix(data.timestamps)[users][:, items])),
        stats=stats)


def _sorted(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    return matrix
