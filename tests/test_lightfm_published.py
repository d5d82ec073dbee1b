"""bench/scripts/lightfm_published.py: GroupLens' ua rule and the table it writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "scripts" / "lightfm_published.py"
spec = importlib.util.spec_from_file_location("lightfm_published", SCRIPT)
published = importlib.util.module_from_spec(spec)
spec.loader.exec_module(published)


def test_ua_sends_each_users_first_ten_ratings_in_file_order_to_test():
    rng = np.random.default_rng(0)
    users = np.repeat([1, 2, 3], 25)
    rng.shuffle(users)  # u.data is not sorted by user
    items = np.empty(75, dtype=np.int64)
    for user in (1, 2, 3):
        items[users == user] = rng.permutation(40)[:25] + 1  # no user rates an item twice
    ratings = np.column_stack([users, items, np.full(75, 3), np.arange(75)])
    train, test = published.ua_split(ratings)
    assert test.shape == (3, int(items.max()))
    for user in (1, 2, 3):
        rows = np.flatnonzero(users == user)
        assert set(test[user - 1].indices + 1) == set(items[rows[:10]])
        assert set(train[user - 1].indices + 1) == set(items[rows[10:]])
    assert train.multiply(test).nnz == 0


def test_table_puts_published_next_to_ours():
    figures = {"train precision@10": 0.6, "test precision@10": 0.1, "train AUC": 0.9,
               "test AUC": 0.86, "test precision@10, train removed": 0.2,
               "test AUC, train removed": 0.88}
    rows = [{"model": name, "seed": 0, "ours": figures, "lightfm_evaluation": figures}
            for name in published.PUBLISHED]
    text = published.table(rows, [0])
    assert "| lightfm-bpr | test AUC | 0.86 | 0.8600 | 0.8600 – 0.8600 | 0.0e+00 |" in text
    assert "| lightfm-warp | test AUC, train removed | — |" in text
