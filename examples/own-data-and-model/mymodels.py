"""PureSVD (Cremonesi, Koren & Turrin 2010) as a recsys-bench plug-in model."""

import numpy as np
from scipy.sparse.linalg import svds

from recsys_bench.models.base import FactorModel, is_int
from recsys_bench.protocol import Capabilities


class PureSVD(FactorModel):
    """Truncated SVD of the binary train matrix X: scores = X V V^T.

    Parameters
    ----------
    factors : int
        Singular vectors kept (>= 1).
    random_state : int
        Seed of ARPACK's start vector, so that fits repeat exactly.
    """

    name = "pure-svd"
    defaults = {"factors": 20, "random_state": 0}
    capabilities = Capabilities(factors=True, item_vectors=True)

    def validate(self):
        factors = self.params["factors"]
        self.require(is_int(factors) and factors >= 1,
                     f"factors must be an integer >= 1, got {factors!r}")

    def fit(self, train, *, item_features=None, epochs=None):
        binary = (self.check_train(train, item_features) > 0).astype(np.float64)
        k = min(self.params["factors"], min(binary.shape) - 1)
        start = np.random.default_rng(self.params["random_state"]).random(min(binary.shape))
        _, _, vt = svds(binary, k=k, v0=start)
        self.item_factors = np.ascontiguousarray(vt.T, dtype=np.float32)
        self.user_factors = np.asarray(binary @ vt.T, dtype=np.float32)
