"""Scoring users unseen in training from a given history (strong generalisation).

A model with the capability ``fold_in`` (:class:`recsys_bench.protocol.Capabilities`) has a
method ``fold_in(history)``: given a users x items matrix of histories of NEW users (rows), it returns the fitted model for those
users, its item side untouched: its ``scores(rows)`` and ``factors()`` are about the rows of
``history``. ALS models solve each new user's factors exactly against the fixed item factors
(one user half-sweep); EASE, item-kNN and the baselines score from the history as they score
from train rows. Models without it (LightFM, Spark ALS) are refused with a ``UserError``
rather than silently scoring something else.

:func:`folded` turns a split with a ``fold_in`` part and a fitted model into the pair that
:func:`recsys_bench.eval.evaluation.evaluate` scores as usual: the evaluated users become rows
0..n-1, their given history plays the part of train (it is excluded from the rankings and is
the "train" subset), and their scored interactions are the test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.splits import Split


def fold_in(model, history: sp.csr_matrix):
    """``model`` for the users (rows) of ``history``, who were not in its training data.

    Raises
    ------
    UserError
        The model has no fold-in, is not fitted, or ``history`` has another number of items.
    """
    name = getattr(model, "name", type(model).__name__)
    if not model.capabilities.fold_in:
        raise UserError(f"{name} cannot score users it was not trained on (it has no fold-in); "
                        "use a split whose test users are in train, not strong_generalization")
    if not getattr(model, "n_items", 0):
        raise UserError(f"{name}: fit before folding users in")
    if not sp.issparse(history) or history.shape[1] != model.n_items:
        raise UserError(f"{name}: a fold-in history must be a sparse users x {model.n_items} "
                        f"matrix, got {getattr(history, 'shape', type(history).__name__)}")
    history = sp.csr_matrix(history, dtype=np.float32, copy=True)
    history.sort_indices()
    return model.fold_in(history)


def fold_in_view(split: Split) -> Split:
    """The split as the held-out users of a strong-generalisation split are scored: rows 0..n-1
    in ``split.users`` order, their given history as train and their scored interactions as test
    (so per-user results line up with ``split.users``). Needs no model: stored lists of a run
    are read against it."""
    users = np.asarray(split.users, dtype=np.int64)
    history = sp.csr_matrix(split.fold_in)[users]
    history.sort_indices()
    return dataclasses.replace(split, train=history, test=sp.csr_matrix(split.test)[users],
                               users=np.arange(users.size, dtype=np.int64), fold_in=None,
                               validation=None, validation_users=None)


def folded(model, split: Split):
    """(folded model, :func:`fold_in_view` of the split) for evaluating the held-out users of a
    strong-generalisation split."""
    view = fold_in_view(split)
    return fold_in(model, view.train), view
