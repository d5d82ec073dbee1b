"""What the ALS adapters share (implicit, the NumPy reference, Spark): parameter checks and the
study's confidence matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_bench.models.base import BaseRecommender, is_int, is_number


def check_als_params(model: BaseRecommender) -> None:
    """Value checks shared by the two ALS adapters (``UserError`` naming the parameter)."""
    p = model.params
    model.require(is_int(p["factors"]) and p["factors"] >= 1,
                  f"factors must be an integer >= 1, got {p['factors']!r}")
    model.require(is_number(p["regularization"]) and p["regularization"] >= 0,
                  f"regularization must be a finite number >= 0, got {p['regularization']!r}")
    model.require(is_number(p["alpha"]) and p["alpha"] >= 0,
                  f"alpha must be a finite number >= 0, got {p['alpha']!r}")
    model.require(is_int(p["iterations"]) and p["iterations"] >= 1,
                  f"iterations must be an integer >= 1, got {p['iterations']!r}")
    model.require(is_int(p["num_threads"]) and p["num_threads"] >= 0,
                  f"num_threads must be an integer >= 0 (0 = all cores), got {p['num_threads']!r}")
    model.require(p["random_state"] is None or is_int(p["random_state"]),
                  f"random_state must be an integer or None, got {p['random_state']!r}")


def confidence(train: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """The confidence matrix of the study, ``c = 1 + alpha * d`` on the observed cells (float32).

    Unobserved cells are implicitly ``c = 1, p = 0``. Explicitly stored zeros are dropped first, so
    the pattern of the result is exactly ``p``.
    """
    out = train.astype(np.float32, copy=True)
    out.eliminate_zeros()
    out.data = (1.0 + alpha * out.data).astype(np.float32)
    return out
