"""Similarity queries on saved models: similar items, tag -> items, item -> tags, bad input.

The data: three topics of 30 models each; every user likes models of one topic only; a model
carries its topic's tag (except a few that lost it), one noise tag and a category. So tags mean
something, and a LightFM model trained with them must place each topic tag near its models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_bench import cli, datasets, models
from recsys_bench import embeddings as similarity
from recsys_bench.datasets.psv import write_psv
from recsys_bench.errors import UserError
from recsys_bench.store import artifacts
from recsys_bench.store.table import write_table

TOPICS = ("spaceship", "racecar", "dragon")
UNTAGGED = (0, 30, 60)  # one model per topic without its topic tag


def _mid(i: int) -> str:
    """Model id of the ``i``-th generated model (the loader orders models by first like)."""
    return f"{i:02d}{'abcdef0123456789' * 2}"[:32]


def _topic(name: str) -> str:
    return name.split()[0]


def write_topic_likes(folder, *, n_users: int = 150, per_topic: int = 30, likes: int = 10,
                      seed: int = 0) -> None:
    """Sketchfab-format files of the topic data described in the module docstring."""
    rng = np.random.default_rng(seed)
    n_items = per_topic * len(TOPICS)
    mids = [_mid(i) for i in range(n_items)]
    names = [f"{TOPICS[i // per_topic]} model {i}" for i in range(n_items)]
    rows = []
    for u in range(n_users):
        topic = u % len(TOPICS)
        for i in rng.choice(per_topic, size=likes, replace=False) + topic * per_topic:
            rows.append((names[i], mids[i], f"{u:032x}"))
    write_psv(folder / "model_likes_anon.psv", ("modelname", "mid", "uid"), rows)
    feats = []
    for i in range(n_items):
        topic = TOPICS[i // per_topic]
        if i not in UNTAGGED:
            feats.append((mids[i], "tag", topic))
        feats.append((mids[i], "tag", f"noise{rng.integers(5)}"))
        feats.append((mids[i], "category", "Objects" if i % 2 else "Characters"))
    write_psv(folder / "model_feats.psv", ("mid", "type", "value"), feats)


@pytest.fixture(scope="module")
def topic_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    write_topic_likes(folder)
    return datasets.load("sketchfab", path=str(folder))


def _save(model, data, path, **meta):
    return artifacts.save_model_vectors(model, path, item_ids=data.item_ids,
                                         item_names=data.item_names,
                                         feature_names=data.feature_names,
                                         item_features=data.item_features, meta=meta)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, topic_data):
    """A run folder with a LightFM-with-tags model, a WRMF model and a results table."""
    run = tmp_path_factory.mktemp("run")
    data = topic_data
    tagged = models.get("lightfm-warp", no_components=16, features="tags", epochs=40,
                        learning_rate=0.05, num_threads=1, random_state=0)
    tagged.fit(data.matrix, item_features=data.item_features)
    _save(tagged, data, run / "models" / "aaaa000000000001.npz", trial_id="aaaa000000000001",
          dataset="topics")
    plain = models.get("lightfm-warp", no_components=16, epochs=5, num_threads=1)
    plain.fit(data.matrix)
    _save(plain, data, run / "models" / "aaaa000000000002.npz", trial_id="aaaa000000000002",
          dataset="topics")
    for trial, factors in (("bbbb000000000001", 4), ("bbbb000000000002", 8)):
        als = models.get("implicit-als", factors=factors, regularization=0.1, alpha=10,
                         iterations=10, num_threads=1)
        als.fit(data.matrix)
        _save(als, data, run / "models" / f"{trial}.npz", trial_id=trial, dataset="topics")
    rows = [dict(trial_id=t, model=m, subset="test", epoch=e, status="ok", k=5, precision_at_k=p)
            for t, m, e, p in (("aaaa000000000001", "lightfm-warp", 40, 0.30),
                               ("aaaa000000000002", "lightfm-warp", 5, 0.10),
                               ("bbbb000000000001", "implicit-als", 5, 0.99),  # early, not saved
                               ("bbbb000000000001", "implicit-als", 10, 0.20),
                               ("bbbb000000000002", "implicit-als", 10, 0.25),
                               ("cccc000000000001", "popularity", 0, 0.05))]
    write_table(pd.DataFrame(rows), run)
    return run


def test_similar_items_returns_the_item_itself_first_with_cosine_one(run_dir, topic_data):
    mid = str(topic_data.item_ids[5])
    for model in ("implicit-als", "lightfm-warp"):
        hits = similarity.similar_items(run_dir, model, mid, 6)
        assert len(hits) == 6
        assert hits[0].item_id == mid and hits[0].score == pytest.approx(1.0, abs=1e-5)
        scores = [h.score for h in hits[1:]]
        assert scores == sorted(scores, reverse=True)
        assert len({h.item_id for h in hits}) == 6
    assert all(_topic(h.name) == _topic(hits[0].name) for h in hits), [h.name for h in hits]
    assert hits[0].tags and all(t.startswith(("tag_", "category_")) for t in hits[0].tags)


def test_best_trial_by_final_test_precision_unless_a_trial_is_named(run_dir, topic_data):
    best = similarity.pick_model(run_dir, "implicit-als")
    assert best.meta["trial_id"] == "bbbb000000000002"      # 0.25 at its last epoch beats 0.20
    named = similarity.pick_model(run_dir, "implicit-als", trial="bbbb000000000001")
    assert named.item_vectors.shape[1] == 4
    assert similarity.pick_model(run_dir).meta["trial_id"] == "aaaa000000000001"


def test_tag_items_ranks_items_carrying_the_tag_above_the_others(run_dir, topic_data):
    n_items = topic_data.n_items
    for topic in TOPICS:
        hits = similarity.tag_items(run_dir, topic, n_items)
        assert len(hits) == n_items
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        carriers = [h.score for h in hits if f"tag_{topic}" in h.tags]
        others = [h.score for h in hits if _topic(h.name) != topic]
        assert len(carriers) == 29 and min(carriers) > max(others)
        assert all(f"tag_{topic}" in h.tags for h in hits[:20])


def test_suggest_tags_never_returns_a_tag_the_item_has_and_finds_a_lost_topic(run_dir,
                                                                               topic_data):
    saved = similarity.pick_model(run_dir, needs_tags=True)
    for index in range(saved.n_items):
        suggested = saved.tags_for_item(index, len(saved.feature_names))
        assert not {t.feature for t in suggested} & set(saved.tags_of(index))
        assert len(suggested) == len(saved.feature_names) - len(saved.tags_of(index))
    for index in UNTAGGED:
        top = similarity.suggest_tags(run_dir, _mid(index), 1)[0]
        assert top.feature == f"tag_{TOPICS[index // 30]}", top


def test_queries_by_name_and_full_feature_name(run_dir, topic_data):
    by_name = similarity.similar_items(run_dir, "implicit-als", "Dragon  Model 61", 2)
    assert by_name[0].item_id == _mid(61) and by_name[0].name == "dragon model 61"
    assert similarity.tag_items(run_dir, "tag_dragon", 1) == similarity.tag_items(
        run_dir, "DRAGON", 1)


@pytest.mark.parametrize("call, message", [
    (lambda r: similarity.similar_items(r, "implicit-als", "01abcdef0123456789abcdef012345XX"),
     "close matches: 01abcdef0123456789abcdef01234567"),
    (lambda r: similarity.tag_items(r, "dragn"), "close matches: tag_dragon"),
    (lambda r: similarity.suggest_tags(r, "nope"), "unknown item 'nope'"),
    (lambda r: similarity.similar_items(r, "popularity", "x"), "popularity has no item vectors"),
    (lambda r: similarity.similar_items(r, "numpy-als", "x"), "no saved numpy-als model"),
    (lambda r: similarity.similar_items(r, "nosuch", "x"), "unknown model 'nosuch'"),
    (lambda r: similarity.tag_items(r, "dragon", model="implicit-als"), "no model with tag"),
    (lambda r: similarity.tag_items(r, "dragon", trial="aaaa000000000002"), "no model with tag"),
    (lambda r: similarity.similar_items(r, None, "x", trial="zzzz"), "no saved model with trial"),
    (lambda r: similarity.similar_items(r, None, "x", 0), "-n must be"),
])
def test_bad_input_is_one_line_user_error(run_dir, call, message):
    with pytest.raises(UserError) as info:
        call(run_dir)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_run_folder_without_saved_models(tmp_path):
    with pytest.raises(UserError, match="no saved models"):
        similarity.similar_items(tmp_path, "implicit-als", "x")
    with pytest.raises(UserError, match="no such run folder"):
        similarity.tag_items(tmp_path / "missing", "x")


def test_models_without_vectors_are_not_saved(tmp_path, topic_data):
    pop = models.get("popularity")
    pop.fit(topic_data.matrix)
    assert _save(pop, topic_data, tmp_path / "p.npz") is None
    assert not (tmp_path / "p.npz").exists()


def test_save_run_model_uses_the_runs_vocabulary_and_keeps_the_best(tmp_path, topic_data):
    artifacts.save_vocabulary(artifacts.vocabulary_path(tmp_path, "topics"), topic_data)
    als = models.get("implicit-als", factors=4, iterations=2, num_threads=1)
    als.fit(topic_data.matrix)
    tagged = models.get("lightfm-bpr", no_components=4, epochs=1, features="tags", num_threads=1)
    tagged.fit(topic_data.matrix, item_features=topic_data.item_features)
    save = artifacts.save_run_model
    assert save(tmp_path, tagged, dataset="topics", trial_id="tags", score=0.01, keep=1)
    for trial, score in (("t1", 0.1), ("t2", 0.3), ("t3", 0.2)):
        save(tmp_path, als, dataset="topics", trial_id=trial, score=score, k=5,
             item_features=topic_data.item_features, keep=1 if trial != "t1" else None)
    assert sorted(p.stem for p in (tmp_path / "models").glob("*.npz")) == ["t2", "tags"]
    saved = similarity.load_model(artifacts.model_path(tmp_path, "t2"))
    assert list(saved.item_ids) == list(topic_data.item_ids)
    assert saved.tags_of(0) and saved.meta["model"] == "implicit-als"
    assert saved.meta["score"] == 0.3 and saved.meta["k"] == 5
    for trial in ("a", "b"):
        save(tmp_path, als, dataset="topics", trial_id=trial, score=0.0)
    removed = artifacts.prune_saved_models(tmp_path, keep=1)
    assert sorted(p.stem for p in removed) == ["a", "b"]


def test_saving_during_a_run_never_reads_the_result_table(tmp_path, topic_data, monkeypatch):
    # Rebuilding the table from trials/ after every trial made a 180-trial grid's workers
    # spend seconds per trial; the stored scores rank the saved models instead.
    def no_table(run_dir):
        raise AssertionError("save_run_model read the result table")

    monkeypatch.setattr(artifacts, "_test_scores", no_table)
    als = models.get("implicit-als", factors=4, iterations=2, num_threads=1)
    als.fit(topic_data.matrix)
    for trial, score in (("t1", 0.2), ("t2", 0.1), ("t3", 0.3)):
        artifacts.save_run_model(tmp_path, als, dataset="topics", trial_id=trial, score=score,
                                  keep=1)
    assert [p.stem for p in (tmp_path / "models").glob("*.npz")] == ["t3"]


def test_commands_print_names_and_tags(run_dir, topic_data, capsys):
    common = ["--run", str(run_dir), "--model", "lightfm-warp", "-n", "3"]
    assert cli.main(["similar", *common, "--item", _mid(0)]) == 0
    assert cli.main(["tag-items", *common, "--tag", "racecar"]) == 0
    assert cli.main(["suggest-tags", *common, "--item", _mid(0)]) == 0
    out = capsys.readouterr().out
    assert "spaceship model 0" in out and "tag_spaceship" in out and "racecar model" in out
    assert "(the first is the item itself)" in out


def test_gallery_pages_show_names_tags_and_scores(run_dir):
    from recsys_bench.analysis.gallery import write_gallery

    index = write_gallery(run_dir, n=4)
    pages = {p.stem: p.read_text(encoding="utf-8") for p in index.parent.glob("*.html")}
    assert set(pages) == {"index", "similar-items", "tag-items", "suggest-tags"}
    similar = pages["similar-items"]
    assert "implicit-als, trial bbbb000000000002" in similar and "lightfm-warp" in similar
    assert "model 1" in similar and "<b>tag_" in similar and 'class="self"' in similar
    assert "items closest" not in pages["tag-items"] and "carried by 29 items" in pages["tag-items"]
    assert "suggested tag" in pages["suggest-tags"] and "tag_noise" in pages["suggest-tags"]
    for text in pages.values():
        assert "<script" not in text and "http" not in text      # self-contained, no assets
    assert write_gallery(run_dir.parent / "nothing-here") is None


def test_suggestions_can_be_kept_to_tags_on_enough_items(run_dir, capsys):
    saved = similarity.pick_model(run_dir, needs_tags=True)
    carriers = np.bincount(saved.item_tags.indices, minlength=len(saved.feature_names))
    frequent = {str(saved.feature_names[j]) for j in np.flatnonzero(carriers >= 29)}
    assert 0 < len(frequent) < len(saved.feature_names)  # the noise tags are on fewer items
    index = saved.find_item(_mid(5))
    every = saved.tags_for_item(index, len(saved.feature_names))
    kept = saved.tags_for_item(index, len(saved.feature_names), min_items=29)
    assert kept == [t for t in every if t.feature in frequent]
    assert similarity.suggest_tags(run_dir, _mid(5), 2, min_items=29) == kept[:2]
    assert cli.main(["suggest-tags", "--run", str(run_dir), "--item", _mid(5),
                     "--min-items", "29"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.split()[0].isdigit()]
    assert "(among tags on at least 29 items)" in out and len(rows) == len(kept)
    assert not any("tag_noise" in row for row in rows)
    assert cli.main(["suggest-tags", "--run", str(run_dir), "--item", _mid(5),
                     "--min-items", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("--min-items must be a whole number >= 1, "
                                                    "got 0")


def test_example_tags_spread_over_usage_ranks(run_dir):
    from recsys_bench.analysis.gallery import example_tags

    saved = similarity.pick_model(run_dir, needs_tags=True)
    carriers = np.bincount(saved.item_tags.indices, minlength=len(saved.feature_names))
    names = [str(saved.feature_names[j]) for j in example_tags(saved, count=5)]
    # three topic tags (29 items each), then the two most used of the five noise tags
    assert names[:3] == ["tag_dragon", "tag_racecar", "tag_spaceship"]
    assert len(names) == 5 and all(n.startswith("tag_noise") for n in names[3:])
    assert min(carriers[saved.find_tag(n)] for n in names[3:]) >= max(
        c for j, c in enumerate(carriers)
        if str(saved.feature_names[j]).startswith("tag_noise")
        and str(saved.feature_names[j]) not in names)


def test_example_tags_reach_the_rarer_tags_of_a_large_vocabulary(tmp_path):
    import scipy.sparse as sp

    from recsys_bench.analysis.gallery import example_tags

    n_tags = 1500    # tag j is carried by the first 1500 - j items of 3000
    rows = np.concatenate([np.arange(n_tags - j) for j in range(n_tags)])
    cols = np.concatenate([np.full(n_tags - j, j) for j in range(n_tags)])
    tags = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(3000, n_tags))
    saved = similarity.SavedModel(
        path=tmp_path / "m.npz", meta={}, item_vectors=np.ones((3000, 2)),
        item_ids=np.arange(3000).astype(str), item_names=np.arange(3000).astype(str),
        feature_names=np.array([f"tag_t{j}" for j in range(n_tags)]), item_tags=tags,
        tag_vectors=np.ones((n_tags, 2)))
    assert example_tags(saved) == [0, 1, 2, 10, 50, 200, 1000]
    assert example_tags(saved, count=3) == [0, 1, 2]
