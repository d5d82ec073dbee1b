"""ratings.csv as a data set plug-in, for a recsys-bench without the ``interactions`` data set.

``run_registered.py`` registers it as ``own-ratings``; the registration lives in that process,
so that run uses the inline executor.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.data import Interactions


def load(path: str = "ratings.csv", min_rating: int = 4) -> Interactions:
    """Ratings >= ``min_rating`` as likes, the latest timestamp of each (user, item)."""
    rows = pd.read_csv(path)
    likes = rows[rows["rating"] >= min_rating].sort_values("timestamp")
    likes = likes.drop_duplicates(["user", "item"], keep="last")
    users, user_ids = pd.factorize(likes["user"], sort=True)
    items, item_ids = pd.factorize(likes["item"], sort=True)
    shape = (len(user_ids), len(item_ids))
    matrix = sp.csr_matrix((np.ones(len(likes), np.float32), (users, items)), shape=shape)
    times = sp.csr_matrix((likes["timestamp"].to_numpy(np.float64), (users, items)), shape=shape)
    matrix.sort_indices()
    times.sort_indices()
    return Interactions(matrix=matrix, user_ids=np.asarray(user_ids),
                        item_ids=np.asarray(item_ids), timestamps=times, name="own-ratings",
                        stats={"rows_before": len(rows), "likes_before": len(likes)})
