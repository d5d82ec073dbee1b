"""The synthetic Sketchfab generator: exact format, real scale, determinism, an atomic cache.

The full-scale files are written once per test session (a few seconds) and checked through both
the study's pandas reading and the project's own loader.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_bench.datasets import sketchfab
from recsys_bench.datasets import sketchfab_synthetic as synth
from recsys_bench.datasets.psv import SketchfabDialect
from recsys_bench.errors import UserError

REAL_AFTER = {"users": 15_274, "items": 25_655, "likes": 547_477, "density_percent": 0.140,
              "features": 20_352, "feature_nonzeros": 161_510}


def read_study_way(path: Path) -> pd.DataFrame:
    """The articles' reading: pandas, ``|`` separated, backslash as the quote character."""
    return pd.read_csv(path, sep="|", quoting=csv.QUOTE_MINIMAL, quotechar="\\", dtype=str,
                       keep_default_na=False)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in (synth.LIKES_FILE, synth.FEATURES_FILE):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sketchfab-synthetic")
    stats = synth.write(folder, seed=0)
    return folder, stats


@pytest.fixture(scope="module")
def likes(full) -> pd.DataFrame:
    return read_study_way(full[0] / synth.LIKES_FILE)


@pytest.fixture(scope="module")
def feats(full) -> pd.DataFrame:
    return read_study_way(full[0] / synth.FEATURES_FILE)


@pytest.fixture(scope="module")
def loaded(full):
    return sketchfab.load(full[0])


def test_equal_seeds_give_identical_files_and_different_seeds_differ(tmp_path):
    def files(name: str, seed: int) -> str:
        synth.write(tmp_path / name, seed=seed, scale=0.05)
        return digest(tmp_path / name)

    first = files("a", 4)
    assert files("b", 4) == first
    assert files("c", 5) != first


def test_headers_dialect_and_ids(full, likes, feats, loaded):
    folder, _ = full
    raw = (folder / synth.LIKES_FILE).read_bytes()
    assert raw.startswith(b"modelname|mid|uid\r\n") and raw.endswith(b"\r\n")
    names = likes["modelname"].value_counts()
    embedded = int(np.sum(names.index.str.count("\n").to_numpy() * names.to_numpy()))
    assert embedded > 0 and raw.count(b"\n") - raw.count(b"\r\n") == embedded
    assert (folder / synth.FEATURES_FILE).read_bytes().startswith(b"mid|type|value\r\n")
    with open(folder / synth.FEATURES_FILE, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, dialect=SketchfabDialect))
    assert len(rows) == len(feats) + 1 and {len(r) for r in rows} == {3}
    assert loaded.stats["likes_before"] == len(likes)
    assert pd.Series(likes["uid"].unique()).str.fullmatch(r"[0-9a-f]{32}").all()
    real_mids, _ = synth.model_list()
    assert set(likes["mid"]) == set(real_mids)
    assert set(feats["mid"]) <= set(real_mids)
    assert set(feats["type"]) == {"category", "tag"}


def test_scale_before_thresholding(full, likes):
    _, stats = full
    assert stats["users"] == likes["uid"].nunique() == 62_583
    assert stats["models"] == likes["mid"].nunique() == 28_806
    assert abs(len(likes) - 632_840) / 632_840 < 0.02
    assert stats["duplicate_rows"] == likes.duplicated().sum() == 155
    per_model = likes.drop_duplicates().groupby("mid").size()
    assert per_model.min() >= 5


def test_rows_grouped_by_model_most_liked_first(likes):
    mids = likes["mid"].to_numpy()
    starts = np.flatnonzero(np.r_[True, mids[1:] != mids[:-1]])
    assert len(starts) == likes["mid"].nunique()
    sizes = np.diff(np.r_[starts, len(mids)])
    assert (np.diff(sizes) <= 0).all()


def test_statistics_after_thresholding_near_the_real_ones(loaded):
    summary = loaded.summary()
    assert summary["duplicates_dropped"] == 155
    for key, real in REAL_AFTER.items():
        assert abs(summary[key] - real) / real < 0.05, (key, summary[key], real)
    per_user = np.diff(loaded.matrix.indptr)
    per_item = np.bincount(loaded.matrix.indices)
    assert per_user.min() >= 5 and per_item.min() >= 5
    assert per_user.max() > 25 * np.median(per_user)
    assert per_item.max() > 25 * np.median(per_item)
    top = np.sort(per_user)[::-1][: len(per_user) // 100]
    assert top.sum() > 0.15 * per_user.sum()


def test_every_quoting_case_is_present_and_round_trips(full, likes):
    names = set(likes["modelname"])
    assert any("|" in n for n in names)
    assert any("\\" in n for n in names)
    assert any("\n" in n for n in names)
    assert any(not n.isascii() for n in names)
    raw = (full[0] / synth.LIKES_FILE).read_bytes()
    assert b"\r\n\\Overwatch | Dva Fan Art\\|" in raw
    assert b"\r\n\\Champion(Upagraded Knight) \\\\ Inferno\\|" in raw
    assert b"\r\n\\\nHedgehog\\|" in raw
    mids, real_names = synth.model_list()
    pairs = likes[["mid", "modelname"]].drop_duplicates()
    assert len(pairs) == len(mids)
    assert set(zip(pairs["mid"], pairs["modelname"])) == set(zip(mids, real_names))


def test_features_look_like_the_real_ones(feats, loaded):
    cats = feats[feats["type"] == "category"]
    assert set(cats["value"]) <= set(synth.CATEGORIES)
    assert {"Places & scenes", "Science, Nature & Education"} <= set(cats["value"])
    per_model = cats.groupby("mid").size()
    assert len(per_model) == 28_806 and per_model.between(1, 3).all()
    tags = feats.loc[feats["type"] == "tag", "value"].str.lower().value_counts()
    assert {"3d", "lowpoly", "blender"} <= set(tags.index[:5])
    assert (tags <= 2).mean() > 0.6
    assert loaded.item_features.nnz / loaded.n_items == pytest.approx(6.3, rel=0.05)


def test_tastes_and_tags_are_tied_to_latent_topics():
    s = synth.generate(1, scale=0.1)
    n_topics = synth.DEFAULT.topics
    by_user = np.zeros((s.uids.size, n_topics))
    np.add.at(by_user, (s.users, s.topic[s.items]), 1)
    active = by_user.sum(axis=1) >= 10
    share = by_user[active].max(axis=1) / by_user[active].sum(axis=1)
    largest_topic = np.bincount(s.topic).max() / s.topic.size
    assert share.mean() > 3 * largest_topic
    tags = pd.DataFrame({"topic": s.topic[s.feature_items], "value": s.feature_values,
                         "type": s.feature_types})
    tags = tags[(tags["type"] == "tag") & ~tags["value"].isin(synth.COMMON_TAGS)]
    counts = tags.groupby(["value", "topic"]).size()
    totals = counts.groupby(level="value").sum()
    frequent = totals[totals >= 10].index
    purity = counts.groupby(level="value").max()[frequent] / totals[frequent]
    assert len(frequent) > 50 and purity.mean() > 0.9


def test_scale_knob_shrinks_everything(tmp_path):
    stats = synth.write(tmp_path, seed=0, scale=0.05)
    assert stats["users"] == round(62_583 * 0.05)
    assert stats["models"] == round(28_806 * 0.05)
    assert stats["duplicate_rows"] == round(155 * 0.05)
    assert stats["min_model_likes"] >= 5


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed_is_a_user_error(seed, tmp_path):
    with pytest.raises(UserError, match="seed"):
        synth.write(tmp_path, seed=seed)


def test_bad_scale_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="scale"):
        synth.write(tmp_path, seed=0, scale=0)


@pytest.fixture
def small_writes(monkeypatch, tmp_path):
    """Route the cache to ``tmp_path`` and make ``write`` small; returns the list of calls."""
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(tmp_path))
    real_write = synth.write
    calls = []

    def small(out_dir, seed=0):
        calls.append(seed)
        return real_write(out_dir, seed, scale=0.05)

    monkeypatch.setattr(synth, "write", small)
    return calls


def test_cache_is_filled_once_and_reused(small_writes, tmp_path):
    data = synth.load(seed=3)
    assert data.name == "sketchfab-synthetic"
    assert data.stats["seed"] == 3 and data.stats["generator_version"] == synth.GENERATOR_VERSION
    again = synth.load(seed=3, min_user_likes=1, min_item_likes=1)
    assert small_writes == [3]
    assert again.nnz > data.nnz
    parent = tmp_path / "sketchfab-synthetic"
    assert [p.name for p in parent.iterdir()] == [f"seed-3-v{synth.GENERATOR_VERSION}"]


def test_interrupted_generation_leaves_no_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(tmp_path))
    real_write = synth.write

    def dies_half_way(out_dir, seed=0):
        real_write(out_dir, seed, scale=0.02)
        (Path(out_dir) / synth.FEATURES_FILE).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "write", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        synth.load(seed=0)
    assert list((tmp_path / "sketchfab-synthetic").iterdir()) == []


def test_explicit_path_is_regenerated_only_for_another_seed(small_writes, tmp_path):
    folder = tmp_path / "mine"
    synth.load(seed=1, path=folder)
    first = digest(folder)
    synth.load(seed=1, path=folder)
    assert small_writes == [1]
    synth.load(seed=2, path=folder)
    assert small_writes == [1, 2] and digest(folder) != first
    assert not (tmp_path / "sketchfab-synthetic").exists()
