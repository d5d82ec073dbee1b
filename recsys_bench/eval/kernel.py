"""The compiled top-k kernel (``_select.c``): loading it, and the two calls the top-k makes.

The C file is built on install (``setup.py``; optional, so an install without a C compiler
still works). It is loaded with ctypes, which releases the GIL during each call, so the blocks
that :func:`recsys_bench.eval.topk.run_blocks` hands to several threads rank in parallel.
:data:`LIBRARY` is None where it was not built (or was built from an older ``_select.c``); the
top-k then ranks with NumPy, with the same answer.
"""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np

GROUPS = 64   # the kernel folds a row 64 groups at a time


def _load() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("recsys_bench.eval._select")
    if spec is None or not spec.origin:
        return None
    try:
        library = ctypes.CDLL(spec.origin)
        for name in ("select_topk_f32", "select_topk_f64", "merge_topk_f32"):
            function = getattr(library, name)
            function.restype = ctypes.c_int
            function.argtypes = [ctypes.c_void_p, *[ctypes.c_int64] * 5, *[ctypes.c_void_p] * 3]
        library.use_vector_bits.restype = ctypes.c_int
        library.use_vector_bits.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):  # unloadable, or built from an older _select.c
        return None
    return library


LIBRARY = _load()


def takes(scores: np.ndarray) -> bool:
    """True when the kernel is loaded and can read ``scores`` in place: float32 or float64,
    2-D, each row contiguous, fewer than 2**31 columns (its item indices are int32)."""
    return (LIBRARY is not None and scores.ndim == 2
            and scores.dtype in (np.float32, np.float64)
            and scores.strides[1] == scores.itemsize and scores.strides[0] >= 0
            and scores.strides[0] % scores.itemsize == 0 and scores.shape[1] < 2**31)


def groups_for(k: int) -> int:
    """Groups a row is folded into for top-``k``: at least 4k, a multiple of :data:`GROUPS`."""
    return GROUPS * -(-4 * k // GROUPS)


def select(scores: np.ndarray, k: int,
           skip: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Top-``k`` columns of each row of ``scores``, by the ranking rule of
    :func:`recsys_bench.eval.topk.topk_block`.

    Parameters
    ----------
    scores : numpy.ndarray
        A block of scores that :func:`takes` accepts; not modified unless ``skip`` is given.
    k : int
        List length.
    skip : (starts, columns), optional
        Row ``r``'s excluded columns are ``columns[starts[r]:starts[r + 1]]`` (int64 and int32,
        as a CSR matrix's ``indptr[lo:hi+1]`` and ``indices``). The kernel writes -inf over them
        in ``scores``, row by row while the row is in cache.

    Returns
    -------
    numpy.ndarray
        int32 rows x k column indices, best first; -1 pads rows with fewer than k candidates.
    """
    n_rows, n_items = scores.shape
    out = np.empty((n_rows, k), dtype=np.int32)
    function = LIBRARY.select_topk_f32 if scores.dtype == np.float32 else LIBRARY.select_topk_f64
    starts, columns = (None, None) if skip is None else skip
    status = function(scores.ctypes.data, n_rows, n_items, scores.strides[0] // scores.itemsize,
                      k, groups_for(k), None if starts is None else starts.ctypes.data,
                      None if columns is None else columns.ctypes.data, out.ctypes.data)
    if status:
        raise MemoryError(f"top-{k} of a {n_rows} x {n_items} score block: out of memory")
    return out


def merge(scores: np.ndarray, ids: np.ndarray, best_scores: np.ndarray,
          best_items: np.ndarray) -> None:
    """Merge a chunk of items into running top-k lists, in place (the norm-bounded ranking of
    :func:`recsys_bench.eval.topk.factor_topk`).

    Parameters
    ----------
    scores : numpy.ndarray
        float32 rows x chunk that :func:`takes` accepts: the scores of items ``ids``.
    ids : numpy.ndarray
        int64, the item id of each column of ``scores``.
    best_scores, best_items : numpy.ndarray
        float32 and int64, rows x k, C-contiguous: each row's list so far, best first, -inf and
        -1 where empty. Replaced by the k best of the list and the row, ties broken by the lower
        item id.
    """
    n_rows, n_items = scores.shape
    k = best_items.shape[1]
    status = LIBRARY.merge_topk_f32(
        scores.ctypes.data, n_rows, n_items, scores.strides[0] // scores.itemsize, k,
        groups_for(k), ids.ctypes.data, best_scores.ctypes.data, best_items.ctypes.data)
    if status:
        raise MemoryError(f"merging a chunk of {n_items} items: out of memory")


def use_vector_bits(bits: int) -> int:
    """Use the kernel's widest vector code up to ``bits`` (512, 256 or 0 for plain C) that this
    CPU runs, and return the width chosen; the widest is chosen on load."""
    return LIBRARY.use_vector_bits(bits)
