"""Seeded, fingerprinted train/test splits of a users x items interaction matrix.

Every splitter follows the same three steps, all vectorised over the non-zeros (no per-user loop):

1. order each user's interactions: a random order (one seeded 32-bit key per non-zero, ties kept
   in column order) or, for ``temporal``, newest first;
2. decide how many of each user's first interactions in that order go to test;
3. cut the CSR arrays with one boolean mask, so train + test == input and they never overlap.

The same (data, kind, options, seed) gives a byte-identical split, and :attr:`Split.fingerprint`
(sha256 over the shape, the train/test CSR arrays and the evaluated users) proves it.

The kinds that need the data set rather than its matrix (``given``, ``movielens_official``,
``time_cut``) and ``strong_generalization`` live in :mod:`recsys_bench.split_kinds`; they are
reachable here by name all the same. ``leave_last_k_out`` is the clear name of ``temporal``
(each user's newest interactions to test); ``temporal`` keeps working.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_bench.data import Interactions
from recsys_bench.errors import UserError
from recsys_bench.fileio import atomic_open


@dataclass(frozen=True, eq=False)
class Split:
    """A train/test split and the users it evaluates.

    Attributes
    ----------
    train, test : scipy.sparse.csr_matrix
        float32, same shape as the input, sorted indices; they share no non-zero. For the
        random and per-user kinds ``train + test`` equals the input; ``given``,
        ``movielens_official``, ``time_cut`` and ``strong_generalization`` leave out what
        :attr:`stats` counts (test interactions of users or items unseen in train, and so on).
    users : numpy.ndarray
        int64, sorted: the evaluated users (those that received test interactions).
    kind : str
        The splitter's name (``user_holdout``, ``leave_k_out``, ``ratio``, ``temporal`` /
        ``leave_last_k_out``, ``given``, ``movielens_official``, ``time_cut``,
        ``strong_generalization``).
    options : dict
        Every option of the splitter, defaults included.
    seed : int
        Seed of ``numpy.random.default_rng``.
    fingerprint : str
        sha256 hex digest of the contents, see :func:`fingerprint`.
    fold_in : scipy.sparse.csr_matrix or None
        Strong generalisation: the given history of the held-out users (never in ``train``);
        models score those users from it (:mod:`recsys_bench.fold_in`). None otherwise.
    validation : scipy.sparse.csr_matrix or None
        Interactions held out for tuning (a given split's validation file, the scored part of
        strong generalisation's validation users); None when the split has none.
    validation_users : numpy.ndarray or None
        int64, sorted: the users with validation interactions.
    stats : dict
        What the splitter dropped or counted (unseen users and items, the time of the cut, ...).
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    users: np.ndarray
    kind: str
    options: dict = field(default_factory=dict)
    seed: int = 0
    fingerprint: str = ""
    fold_in: sp.csr_matrix | None = None
    validation: sp.csr_matrix | None = None
    validation_users: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape

    def for_validation(self) -> Split:
        """This split with the validation interactions and users as its test part, for tuning.

        Raises
        ------
        UserError
            When the split has no validation part.
        """
        if self.validation is None:
            raise UserError(f"split kind {self.kind!r} with these options has no validation part")
        digest = fingerprint(self.train, self.validation, self.validation_users,
                             fold_in=self.fold_in)
        return dataclasses.replace(self, test=self.validation, users=self.validation_users,
                                   validation=None, validation_users=None, fingerprint=digest)


def fingerprint(train: sp.csr_matrix, test: sp.csr_matrix, users: np.ndarray, *,
                fold_in: sp.csr_matrix | None = None, validation: sp.csr_matrix | None = None,
                validation_users: np.ndarray | None = None) -> str:
    """sha256 hex digest of the shape, the train and test CSR arrays and the users.

    Arrays are hashed in fixed dtypes (int64 indices, float32 values), so the digest does not
    depend on the index dtype scipy happened to choose. The optional parts (fold-in history,
    validation) are hashed after a name tag only when present, so the digest of a split without
    them is what it always was.
    """
    digest = hashlib.sha256()
    digest.update(np.asarray(train.shape, dtype=np.int64).tobytes())
    for matrix in (train, test):
        _hash_csr(digest, matrix)
    digest.update(np.asarray(users, dtype=np.int64).tobytes())
    for name, part in (("fold_in", fold_in), ("validation", validation)):
        if part is not None:
            digest.update(name.encode())
            _hash_csr(digest, part)
    if validation_users is not None:
        digest.update(b"validation_users")
        digest.update(np.asarray(validation_users, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _hash_csr(digest, matrix: sp.csr_matrix) -> None:
    digest.update(np.asarray(matrix.indptr, dtype=np.int64).tobytes())
    digest.update(np.asarray(matrix.indices, dtype=np.int64).tobytes())
    digest.update(np.asarray(matrix.data, dtype=np.float32).tobytes())


def _canonical(matrix) -> sp.csr_matrix:
    """The input as float32 CSR with sorted, summed indices and no explicit zeros (a copy)."""
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise UserError(f"a split needs a 2-D scipy sparse matrix, got {type(matrix).__name__}")
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _rows(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _rank_within_rows(matrix: sp.csr_matrix, primary: np.ndarray | None,
                      rng: np.random.Generator) -> np.ndarray:
    """0-based position of each non-zero within its row after ordering the row.

    Order: ascending ``primary`` (when given), then a random 32-bit key per non-zero, then column.
    """
    rows = _rows(matrix)
    keys = rng.integers(0, 2**32, size=matrix.nnz, dtype=np.uint64)
    if primary is None:
        order = np.argsort((rows.astype(np.uint64) << np.uint64(32)) | keys, kind="stable")
    else:
        order = np.lexsort((keys, primary, rows))
    rank = np.empty(matrix.nnz, dtype=np.int64)
    rank[order] = np.arange(matrix.nnz) - matrix.indptr[:-1].astype(np.int64)[rows]
    return rank


def _cut(matrix: sp.csr_matrix, to_test: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split the non-zeros of ``matrix`` by a boolean mask into (train, test)."""
    rows = _rows(matrix)
    parts = []
    for mask in (~to_test, to_test):
        indptr = np.zeros(matrix.shape[0] + 1, dtype=matrix.indptr.dtype)
        np.cumsum(np.bincount(rows[mask], minlength=matrix.shape[0]), out=indptr[1:])
        part = sp.csr_matrix((matrix.data[mask], matrix.indices[mask], indptr),
                             shape=matrix.shape, dtype=np.float32)
        part.has_sorted_indices = True
        parts.append(part)
    return parts[0], parts[1]


def _make(matrix: sp.csr_matrix, rank: np.ndarray, n_test: np.ndarray, kind: str, options: dict,
          seed: int) -> Split:
    """Move each user's ``n_test[u]`` first-ranked interactions to test and build the Split."""
    to_test = rank < np.repeat(n_test, np.diff(matrix.indptr))
    train, test = _cut(matrix, to_test)
    users = np.flatnonzero(n_test > 0).astype(np.int64)
    return Split(train=train, test=test, users=users, kind=kind, options=dict(options),
                 seed=int(seed), fingerprint=fingerprint(train, test, users))


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"split option {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _fraction(name: str, value, upper_inclusive: bool) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    ok = ok and 0 < value and (value <= 1 if upper_inclusive else value < 1)
    if not ok:
        bound = "(0, 1]" if upper_inclusive else "(0, 1)"
        raise UserError(f"split option {name} must be a number in {bound}, got {value!r}")
    return float(value)


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"split seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def user_holdout(matrix, *, split_count: int = 5, fraction: float = 0.2, seed: int = 0) -> Split:
    """The study's split: ``split_count`` random likes to test for a random share of users.

    Exactly as the study's ``train_test_split``: ``floor(fraction * n_users)`` users, with
    ``n_users`` ALL rows of the matrix, are drawn without replacement among the users with at
    least ``2 * split_count`` likes; each gives ``split_count`` random likes to test. At the
    Sketchfab scale that is floor(0.2 * 15,274) = 3,054 evaluated users.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        users x items interactions.
    split_count : int
        Likes moved to test per chosen user.
    fraction : float
        In (0, 1]; share of ALL users to choose.
    seed : int
        Seed of ``numpy.random.default_rng``: first draws the users, then one key per non-zero.

    Raises
    ------
    UserError
        When fewer users are eligible than must be chosen, or no user would be chosen.
    """
    split_count = _positive_int("split_count", split_count)
    fraction = _fraction("fraction", fraction, upper_inclusive=True)
    seed = _seed(seed)
    matrix = _canonical(matrix)
    counts = np.diff(matrix.indptr)
    eligible = np.flatnonzero(counts >= 2 * split_count)
    n_choose = int(np.floor(fraction * matrix.shape[0]))
    if n_choose < 1:
        raise UserError(f"user_holdout: fraction={fraction} of {matrix.shape[0]} users chooses "
                        "no user")
    if n_choose > eligible.size:
        raise UserError(f"user_holdout: needs {n_choose} users (fraction={fraction} of "
                        f"{matrix.shape[0]}) with >= {2 * split_count} likes, only "
                        f"{eligible.size} have that many")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eligible, size=n_choose, replace=False)
    n_test = np.zeros(matrix.shape[0], dtype=np.int64)
    n_test[chosen] = split_count
    rank = _rank_within_rows(matrix, None, rng)
    return _make(matrix, rank, n_test, "user_holdout",
                 {"split_count": split_count, "fraction": fraction}, seed)


def leave_k_out(matrix, *, k: int = 1, seed: int = 0) -> Split:
    """``k`` random interactions of every user with more than ``k`` to test.

    Users with ``<= k`` interactions stay in train only and are not evaluated.
    """
    k = _positive_int("k", k)
    seed = _seed(seed)
    matrix = _canonical(matrix)
    counts = np.diff(matrix.indptr)
    n_test = np.where(counts > k, k, 0)
    if not n_test.any():
        raise UserError(f"leave_k_out: no user has more than k={k} interactions")
    rank = _rank_within_rows(matrix, None, np.random.default_rng(seed))
    return _make(matrix, rank, n_test, "leave_k_out", {"k": k}, seed)


def ratio(matrix, *, fraction: float = 0.2, seed: int = 0) -> Split:
    """``floor(fraction * n_u)`` random interactions of each user ``u`` to test.

    Users whose share rounds down to zero stay in train only and are not evaluated; every user
    keeps at least one train interaction because ``fraction < 1``.
    """
    fraction = _fraction("fraction", fraction, upper_inclusive=False)
    seed = _seed(seed)
    matrix = _canonical(matrix)
    n_test = np.floor(fraction * np.diff(matrix.indptr)).astype(np.int64)
    if not n_test.any():
        raise UserError(f"ratio: fraction={fraction} puts no interaction of any user in test "
                        f"(largest user has {np.diff(matrix.indptr).max(initial=0)})")
    rank = _rank_within_rows(matrix, None, np.random.default_rng(seed))
    return _make(matrix, rank, n_test, "ratio", {"fraction": fraction}, seed)


def temporal(matrix, timestamps: sp.csr_matrix | None, *, k: int | None = None,
             fraction: float | None = None, seed: int = 0) -> Split:
    """Each user's latest interactions to test: the ``k`` newest, or ``floor(fraction * n_u)``.

    Give ``k`` (users with more than ``k`` interactions are evaluated; the default is ``k=1``)
    or ``fraction`` (in (0, 1), as :func:`ratio`), not both. Equal timestamps are ordered at
    random (seeded).

    Parameters
    ----------
    matrix : scipy.sparse matrix
        users x items interactions.
    timestamps : scipy.sparse.csr_matrix
        Same sparsity as ``matrix`` (``Interactions.timestamps``).
    """
    if timestamps is None:
        raise UserError("temporal split needs interaction timestamps; this data set has none")
    if k is not None and fraction is not None:
        raise UserError("temporal split: give k or fraction, not both")
    if fraction is not None:
        fraction = _fraction("fraction", fraction, upper_inclusive=False)
    else:
        k = _positive_int("k", 1 if k is None else k)
    seed = _seed(seed)
    matrix = _canonical(matrix)
    stamps = sp.csr_matrix(timestamps, dtype=np.float64, copy=True)
    stamps.sort_indices()
    if (stamps.shape != matrix.shape or not np.array_equal(stamps.indptr, matrix.indptr)
            or not np.array_equal(stamps.indices, matrix.indices)):
        raise UserError("temporal split: timestamps do not have the sparsity of the matrix")
    counts = np.diff(matrix.indptr)
    if fraction is None:
        n_test = np.where(counts > k, k, 0)
    else:
        n_test = np.floor(fraction * counts).astype(np.int64)
    if not n_test.any():
        raise UserError(f"temporal: k={k}, fraction={fraction} puts no interaction in test")
    rank = _rank_within_rows(matrix, -stamps.data, np.random.default_rng(seed))
    return _make(matrix, rank, n_test, "temporal", {"k": k, "fraction": fraction}, seed)


leave_last_k_out = temporal

SPLITTERS = {"user_holdout": user_holdout, "leave_k_out": leave_k_out, "ratio": ratio,
             "leave_last_k_out": leave_last_k_out, "temporal": temporal}
# Kinds defined in recsys_bench.split_kinds, imported when first asked for.
LATER_KINDS = ("time_cut", "given", "movielens_official", "strong_generalization")
KINDS = (*SPLITTERS, *LATER_KINDS)


def _splitter(name: str):
    """The function of split kind ``name`` (one of :data:`KINDS`)."""
    if name in LATER_KINDS:
        return getattr(importlib.import_module("recsys_bench.split_kinds"), name)
    return SPLITTERS[name]


def __getattr__(name: str):
    """``splits.<kind>`` for the kinds of :mod:`recsys_bench.split_kinds` (imported lazily)."""
    if name in LATER_KINDS:
        return _splitter(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_split(matrix_or_interactions, kind: str, *, seed: int = 0, **options) -> Split:
    """Split an interaction matrix (or :class:`Interactions`) with the splitter named ``kind``.

    ``kind`` is one of :data:`KINDS` (hyphens are accepted for underscores); ``options`` are
    that splitter's keyword options. ``temporal`` / ``leave_last_k_out`` and ``time_cut`` need
    an :class:`Interactions` with timestamps; ``given`` and ``movielens_official`` need an
    :class:`Interactions` (its id vocabularies).
    """
    name = str(kind).replace("-", "_")
    if name not in KINDS:
        raise UserError(f"unknown split kind {kind!r}; valid: {', '.join(KINDS)}")
    splitter = _splitter(name)
    params = list(inspect.signature(splitter).parameters)
    valid = [p for p in params if p not in ("matrix", "data", "timestamps", "seed")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"{name}: unknown split option(s) {', '.join(unknown)}; "
                        f"valid: {', '.join(valid)}")
    if params[0] == "data":
        if not isinstance(matrix_or_interactions, Interactions):
            raise UserError(f"split kind {name} needs a data set (ids, timestamps), not a bare "
                            "matrix")
        return splitter(matrix_or_interactions, seed=seed, **options)
    if isinstance(matrix_or_interactions, Interactions):
        matrix, timestamps = matrix_or_interactions.matrix, matrix_or_interactions.timestamps
    else:
        matrix, timestamps = matrix_or_interactions, None
    if splitter is temporal:
        return dataclasses.replace(temporal(matrix, timestamps, seed=seed, **options), kind=name)
    return splitter(matrix, seed=seed, **options)


def save_split(split: Split, path) -> None:
    """Write ``split`` to ``path`` as an uncompressed npz, atomically (temp file + rename)."""
    path = Path(path)
    arrays = {"shape": np.asarray(split.train.shape, dtype=np.int64),
              "users": np.asarray(split.users, dtype=np.int64),
              "meta": np.asarray(json.dumps({"kind": split.kind, "options": split.options,
                                             "seed": split.seed,
                                             "fingerprint": split.fingerprint,
                                             "stats": split.stats}))}
    if split.validation_users is not None:
        arrays["validation_users"] = np.asarray(split.validation_users, dtype=np.int64)
    matrices = [("train", split.train), ("test", split.test), ("fold_in", split.fold_in),
                ("validation", split.validation)]
    for name, matrix in matrices:
        if matrix is None:
            continue
        arrays[f"{name}_indptr"] = np.asarray(matrix.indptr, dtype=np.int64)
        arrays[f"{name}_indices"] = np.asarray(matrix.indices, dtype=np.int32)
        arrays[f"{name}_data"] = np.asarray(matrix.data, dtype=np.float32)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_split(path) -> Split:
    """Read a split written by :func:`save_split`; its fingerprint is recomputed and checked."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise UserError("split file not found", path=path) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"not a split file ({exc})", path=path) from None
    try:
        shape = tuple(int(n) for n in arrays["shape"])
        meta = json.loads(str(arrays["meta"]))
        parts = {n: (sp.csr_matrix((arrays[f"{n}_data"], arrays[f"{n}_indices"],
                                    arrays[f"{n}_indptr"]), shape=shape)
                     if n in ("train", "test") or f"{n}_indptr" in arrays else None)
                 for n in ("train", "test", "fold_in", "validation")}
        users = arrays["users"].astype(np.int64)
        validation_users = arrays.get("validation_users")
    except (KeyError, ValueError, TypeError) as exc:
        raise UserError(f"not a split file (missing or malformed {exc})", path=path) from None
    for part in parts.values():
        if part is not None:
            part.has_sorted_indices = True
    train, test = parts.pop("train"), parts.pop("test")
    digest = fingerprint(train, test, users, validation_users=validation_users, **parts)
    if digest != meta.get("fingerprint"):
        raise UserError("split file is corrupt: its contents do not match its fingerprint",
                        path=path)
    return Split(train=train, test=test, users=users, kind=meta["kind"],
                 options=meta["options"], seed=int(meta["seed"]), fingerprint=digest,
                 validation_users=validation_users, stats=meta.get("stats", {}), **parts)
