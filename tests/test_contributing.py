"""The worked examples of docs/contributing.md, run as they are written there: a toy data set,
a toy model and a toy metric, each registered from here, go through a real run and report."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from recsys_bench import datasets, models
from recsys_bench.analysis.report import write_report
from recsys_bench.eval import registry
from recsys_bench.eval.metrics import MetricSpec, hits
from recsys_bench.experiment import runner
from recsys_bench.store.table import read_results

DATASET = '''
import numpy as np
import scipy.sparse as sp

from recsys_bench.data import Interactions


def load(seed: int = 0, users: int = 60, items: int = 40) -> Interactions:
    """Two tastes: even users like even items, odd users odd ones (with some noise)."""
    rng = np.random.default_rng(seed)
    taste = (np.arange(users)[:, None] % 2) == (np.arange(items)[None, :] % 2)
    likes = taste & (rng.random((users, items)) < 0.5)
    matrix = sp.csr_matrix(likes.astype(np.float32))
    return Interactions(matrix=matrix, user_ids=np.arange(users).astype(str),
                        item_ids=np.arange(items).astype(str), name="toy-tastes")
'''

MODEL = '''
import numpy as np

from recsys_bench.models.base import BaseRecommender


class ItemPopularityByParity(BaseRecommender):
    """Scores an item by its popularity among users of the same parity (a toy)."""

    name = "toy-parity"
    defaults = {"smoothing": 1.0}

    def validate(self):
        self.require(self.params["smoothing"] >= 0, "smoothing must be >= 0")

    def fit(self, train, *, item_features=None, epochs=None):
        train = self.check_train(train, item_features)
        parity = np.arange(train.shape[0]) % 2
        self.by_parity = np.vstack([
            np.asarray(train[parity == p].sum(axis=0)).ravel() + self.params["smoothing"]
            for p in (0, 1)]).astype(np.float32)

    def scores(self, users):
        return self.by_parity[np.asarray(users) % 2]
'''

CONFIG = '''
[experiment]
name = "toys"

[[datasets]]
name = "toy-tastes"

[split]
kind = "user_holdout"
seeds = [0, 1]
options = { split_count = 3, fraction = 0.3 }

[evaluation]
k = 3
metrics = ["precision", "first_hit"]

[[models]]
name = "toy-parity"
grid = { smoothing = [0.0, 5.0] }

[[models]]
name = "popularity"
'''


def first_hit(top: np.ndarray, truth, k: int) -> np.ndarray:
    """1 / rank of the first hit in the top k, 0 without one (a toy reciprocal rank)."""
    hit = hits(top[:, :k], truth)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    return np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)


@pytest.fixture
def toys(tmp_path, monkeypatch):
    package = tmp_path / "toys"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tastes.py").write_text(textwrap.dedent(DATASET))
    (package / "parity.py").write_text(textwrap.dedent(MODEL))
    monkeypatch.syspath_prepend(str(tmp_path))
    datasets.register("toy-tastes", "toys.tastes", "Two tastes by user parity (a toy)")
    models.register("toy-parity", "toys.parity:ItemPopularityByParity")
    registry.register(MetricSpec("first_hit", "first_hit_at_k", "first hit", True, "top",
                                 first_hit))
    yield tmp_path
    datasets.unregister("toy-tastes")
    models.unregister("toy-parity")
    registry.unregister("first_hit")
    for name in [m for m in sys.modules if m.startswith("toys")]:
        del sys.modules[name]


def test_a_toy_dataset_model_and_metric_run_end_to_end(toys):
    config = toys / "toys.toml"
    config.write_text(CONFIG)
    run_dir = runner.run(config, toys / "run", quiet=True, executor="inline")
    table = read_results(run_dir)
    assert set(table["model"]) == {"toy-parity", "popularity"}
    assert (table["status"] == "ok").all()
    assert "first_hit_at_k" in table.columns
    assert table["first_hit_at_k"].between(0, 1).all()
    by_model = table.groupby("model")[["precision_at_k", "first_hit_at_k"]].mean()
    assert (by_model.loc["toy-parity"] > by_model.loc["popularity"]).all()
    report = write_report(run_dir).read_text()
    assert "first hit" in report and "toy-parity" in report


def test_the_toy_metric_is_recomputed_from_stored_top_k(toys):
    config = toys / "toys.toml"
    config.write_text(CONFIG)
    run_dir = runner.run(config, toys / "run", quiet=True, executor="inline")
    table = read_results(run_dir)
    from recsys_bench.splits import load_split
    from recsys_bench.store.run_folder import RunFolder
    from recsys_bench.store.table import read_raw

    folder = RunFolder(run_dir)
    row = table[table["model"] == "toy-parity"].iloc[0]
    split = load_split(folder.split("toy-tastes", int(row["seed"])))
    raw = read_raw(run_dir, row["trial_id"])
    again = registry.top_metrics(raw[f"top_test_e{int(row['epoch'])}"], split.test[split.users],
                                 3, ["first_hit"])
    assert again["first_hit"].mean() == pytest.approx(row["first_hit_at_k"], abs=1e-12)
