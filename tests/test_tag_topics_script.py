"""bench/scripts/tag_topics.py on a small synthetic draw: tag queries land in the tag's topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_bench import datasets, models
from recsys_bench.datasets import sketchfab_synthetic
from recsys_bench.store import artifacts

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "scripts" / "tag_topics.py"
SCALE = 0.1


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A folder with a LightFM-with-tags model trained on synthetic draw 3 at scale 0.1."""
    folder = tmp_path_factory.mktemp("tag-topics")
    sketchfab_synthetic.write(folder / "data", seed=3, scale=SCALE)
    data = datasets.load("sketchfab", path=str(folder / "data"))
    model = models.get("lightfm-warp", no_components=16, features="tags", epochs=15,
                       learning_rate=0.05, num_threads=1, random_state=0)
    model.fit(data.matrix, item_features=data.item_features)
    artifacts.save_model_vectors(model, folder / "run" / "models" / "search-best.npz",
                                 item_ids=data.item_ids, item_names=data.item_names,
                                 feature_names=data.feature_names,
                                 item_features=data.item_features,
                                 meta={"trial_id": "search-best", "dataset": "synthetic"})
    return folder / "run"


def measured(run: Path, seed: int, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--seed", str(seed),
                           "--scale", str(SCALE), "--items", "50", "--min-items", "1", "5",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "topic tags" in done.stdout and "base rate" in done.stdout
    return json.loads(out.read_text())


def test_tag_queries_of_a_trained_model_find_the_hidden_topics(run, tmp_path):
    found = measured(run, 3, tmp_path / "topics.json")
    assert found["topic_tags"] > 20
    base = found["base_rate"]
    assert 0 < base < 0.2
    # the nearest items of a topic tag are mostly of its topic: far above chance
    assert found["tag_items"]["in_topic"] > 0.5 > 3 * base
    shares = found["suggest_tags"]["own_topic_share_by_min_items"]
    assert set(shares) == {"1", "5"} and shares["5"] > base


def test_topics_of_another_draw_do_not_line_up(run, tmp_path):
    found = measured(run, 4, tmp_path / "topics.json")
    assert found["topic_tags"] < 5
