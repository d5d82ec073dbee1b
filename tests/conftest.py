"""Shared tiny data sets for the model tests (fast to fit, with answers that are known).

The data live in :mod:`recsys_bench.testing`, with the conformance suite that uses them; these
fixtures hand the same objects to the other tests.
"""

from __future__ import annotations

import pytest
import scipy.sparse as sp

from recsys_bench import testing
from recsys_bench.testing import Checkerboard, low_rank_likes, random_features  # noqa: F401


@pytest.fixture(scope="session")
def small_train() -> sp.csr_matrix:
    """60 users x 40 items, 8 likes each, low-rank structure."""
    return testing.small_train()


@pytest.fixture(scope="session")
def small_features(small_train) -> sp.csr_matrix:
    """Items x 5 one-hot tags for ``small_train``."""
    return testing.small_features()


@pytest.fixture(scope="session")
def checkerboard() -> Checkerboard:
    """40 users x 30 items in two blocks; each user likes ~70% of the own block, 2 held out."""
    return testing.checkerboard()
