"""Writes ratings.csv, the example's small interaction log (already committed; rerun to check).

200 users rate 15 to 40 of 120 items. Users and items have two hidden tastes plus item
popularity; a user picks items they are likely to enjoy and rates them 1-5, one rating a day
from 2024-01-01. The seed fixes every byte.
"""

import csv
from datetime import datetime, timezone

import numpy as np

rng = np.random.default_rng(2024)
n_users, n_items = 200, 120
users, items = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
popularity = np.log(np.arange(1, n_items + 1))[::-1] / 2
start = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
with open("ratings.csv", "w", newline="") as handle:
    out = csv.writer(handle)
    out.writerow(["user", "item", "rating", "timestamp"])
    for u in range(n_users):
        taste = users[u] @ items.T
        chance = np.exp(taste + popularity)
        picked = rng.choice(n_items, rng.integers(15, 41), replace=False, p=chance / chance.sum())
        for day, i in enumerate(picked):
            rating = int(np.clip(np.rint(3 + taste[i] + rng.normal(scale=0.7)), 1, 5))
            out.writerow([f"u{u:03d}", f"i{i:03d}", rating, start + 86400 * (u + day)])
