"""MovieLens-100k: the GroupLens layout, the recbole wheel, the cache, the rating filter."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recsys_bench.datasets import movielens
from recsys_bench.errors import UserError

TINY = Path(__file__).parent / "fixtures" / "ml-100k-tiny"
REAL_FETCH_RECBOLE = movielens.fetch_recbole


def unreachable():
    raise movielens.SourceUnavailable("unreachable in this test")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty cache and no network: both fetchers fail."""
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(movielens, "fetch_grouplens", unreachable)
    monkeypatch.setattr(movielens, "fetch_recbole", unreachable)
    return tmp_path


def test_grouplens_folder_as_implicit_feedback():
    data = movielens.load(TINY)
    assert data.name == "movielens-100k"
    assert data.user_ids.tolist() == [1, 2, 3, 4] and data.item_ids.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 0, 1, 0], [1, 0, 0, 0],
                                                          [0, 0, 1, 0], [0, 1, 0, 1]])
    assert data.matrix.dtype == np.float32 and data.matrix.has_sorted_indices
    ts = data.timestamps
    assert ts.dtype == np.float64 and (ts.indptr == data.matrix.indptr).all()
    assert (ts.indices == data.matrix.indices).all()
    assert ts[1, 0] == 891717800                                 # the later of a repeated pair
    assert data.stats | {"source": None} == dict(
        users_before=5, items_before=5, ratings_before=11, likes_before=7, duplicates_dropped=1,
        min_rating=4, source=None)
    assert data.item_names.tolist() == ["Toy Story (1995)", "GoldenEye (1995)",
                                        "Misérables, Les (1995)", "unknown"]
    names = data.feature_names.tolist()
    assert len(names) == 19 and names[0] == "genre_unknown" and "genre_children's" in names
    genres = [[names[j] for j in row.indices] for row in data.item_features]
    assert genres == [["genre_animation", "genre_children's", "genre_comedy"],
                      ["genre_action", "genre_adventure", "genre_thriller"],
                      ["genre_drama", "genre_musical"], ["genre_unknown"]]
    assert data.item_features.dtype == np.float32


def test_min_rating_zero_keeps_every_rating():
    data = movielens.load(TINY, min_rating=0)
    assert data.nnz == 10 and data.n_users == 5 and data.n_items == 5
    assert data.stats["likes_before"] == 11 and data.stats["duplicates_dropped"] == 1


def test_zip_archive_and_standard_genres_without_u_genre(tmp_path):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("u.data", "u.item"):
            z.write(TINY / name, f"ml-100k/{name}")
    data = movielens.load(archive)
    assert data.nnz == 6 and data.feature_names[15] == "genre_sci-fi"


@pytest.mark.parametrize("min_rating", [-1, "4", True])
def test_bad_min_rating(min_rating):
    with pytest.raises(UserError, match="min_rating"):
        movielens.load(TINY, min_rating=min_rating)


def test_min_rating_that_keeps_nothing():
    with pytest.raises(UserError, match="keeps none"):
        movielens.load(TINY, min_rating=6)


def copy_tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-100k"
    shutil.copytree(TINY, folder)
    return folder


@pytest.mark.parametrize("file, line, text, message", [
    ("u.data", 3, "1\t30\t4\n", "expected 4 tab-separated fields"),
    ("u.data", 2, "1\tx\t4\t5\n", "whole numbers"),
    ("u.item", 2, "20|GoldenEye (1995)|0|1\n", "genre flags"),
    ("u.genre", 1, "unknown\n", "name|index"),
])
def test_malformed_grouplens_files_name_file_and_line(tmp_path, file, line, text, message):
    folder = copy_tiny(tmp_path)
    lines = (folder / file).read_bytes().decode("latin-1").splitlines(keepends=True)
    lines[line - 1] = text
    (folder / file).write_bytes("".join(lines).encode("latin-1"))
    with pytest.raises(UserError, match=message) as info:
        movielens.load(folder)
    assert info.value.line == line and info.value.path.endswith(file)


def test_missing_folder_or_file(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        movielens.load(tmp_path / "nope")
    folder = copy_tiny(tmp_path)
    (folder / "u.item").unlink()
    with pytest.raises(UserError, match="missing u.item"):
        movielens.load(folder)


def test_rated_movie_missing_from_the_movie_list(tmp_path):
    folder = copy_tiny(tmp_path)
    with open(folder / "u.data", "a") as f:
        f.write("1\t99\t5\t881250999\n")
    with pytest.raises(UserError, match="movie 99 is rated but missing"):
        movielens.load(folder)


# --- sources, cache and the recbole wheel -------------------------------------------------------

def fake_recbole_wheel(folder: Path) -> tuple[Path, dict]:
    """A wheel laid out like recbole's, holding the tiny data in recbole's atomic format."""
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + \
        (TINY / "u.data").read_text()
    item = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
            "10\tToy Story\t1995\tAnimation Children's Comedy\n"
            "20\tGoldenEye\t1995\tAction Adventure Thriller\n"
            "30\tMisérables, Les\t1995\tDrama Musical\n"
            "40\tunkonwn\tunkonwn\tunknown\n"
            "50\tNosferatu (Nosferatu, eine Symphonie des Grauens)\t1922\tHorror\n")
    wheel = folder / "recbole-1.2.1-py3-none-any.whl"
    digests = {}
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in (("ml-100k.inter", inter), ("ml-100k.item", item)):
            z.writestr(movielens.RECBOLE_PREFIX + name, text.encode())
            digests[name] = hashlib.sha256(text.encode()).hexdigest()
    return wheel, digests


def test_wheel_path_fills_the_cache_then_the_cache_serves(offline, monkeypatch):
    wheel, digests = fake_recbole_wheel(offline)
    monkeypatch.setattr(movielens, "RECBOLE_SHA256", digests)
    monkeypatch.setattr(movielens, "download_recbole_wheel", lambda folder: wheel)
    monkeypatch.setattr(movielens, "fetch_recbole", REAL_FETCH_RECBOLE)
    first = movielens.load()
    assert first.stats["source"].startswith("recbole==1.2.1 wheel")
    assert first.item_names.tolist() == ["Toy Story (1995)", "GoldenEye (1995)",
                                         "Misérables, Les (1995)", "unkonwn"]
    cache = movielens.cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == ["MANIFEST.json", "SOURCE.txt", "items.tsv",
                                                      "ratings.tsv"]
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]    # no temporary left

    monkeypatch.setattr(movielens, "fetch_recbole", unreachable)
    again = movielens.load()
    assert again.stats["source"].endswith("(cached)")
    assert (again.matrix != first.matrix).nnz == 0
    assert (again.timestamps != first.timestamps).nnz == 0
    assert (again.item_features != first.item_features).nnz == 0
    assert again.item_names.tolist() == first.item_names.tolist()
    assert again.feature_names.tolist() == first.feature_names.tolist()
    grouplens = movielens.load(TINY)
    assert (grouplens.matrix != first.matrix).nnz == 0
    assert (grouplens.item_features != first.item_features).nnz == 0


def test_wheel_with_other_content_is_refused(offline, monkeypatch):
    wheel, _ = fake_recbole_wheel(offline)
    monkeypatch.setattr(movielens, "download_recbole_wheel", lambda folder: wheel)
    monkeypatch.setattr(movielens, "fetch_recbole", REAL_FETCH_RECBOLE)
    with pytest.raises(UserError, match="differs from the known recbole"):
        movielens.load()
    assert not movielens.cache_dir().exists()


def test_no_source_reachable(offline):
    with pytest.raises(movielens.SourceUnavailable, match="could not be fetched") as info:
        movielens.load()
    assert "pass it" in info.value.message
    assert not movielens.cache_dir().exists()


def test_failed_cache_write_leaves_nothing(offline, monkeypatch):
    raw = movielens.read_source(TINY)
    monkeypatch.setattr(movielens, "fetch_grouplens", lambda: raw)

    def broken_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(movielens.os, "rename", broken_rename)
    with pytest.warns(UserWarning, match="not cached"):
        data = movielens.load()
    assert data.nnz == 6
    assert list(movielens.cache_dir().parent.iterdir()) == []


def test_corrupt_cache_is_a_clear_error(offline):
    cache = movielens.cache_dir()
    cache.mkdir(parents=True)
    (cache / "ratings.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(UserError, match="delete the cache folder"):
        movielens.load()


@pytest.mark.slow
def test_full_movielens_from_the_recbole_wheel(request, monkeypatch, tmp_path_factory):
    """The real data through the PyPI fallback (downloads the wheel once, then cached)."""
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("recsys-bench-movielens") if cache else tmp_path_factory.mktemp("ml")
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(root))
    monkeypatch.setattr(movielens, "fetch_grouplens", unreachable)
    try:
        raw = movielens.read_source()
    except movielens.SourceUnavailable as e:
        pytest.skip(f"cannot reach PyPI to fetch {movielens.RECBOLE_REQUIREMENT}: {e}")
    assert raw.source.startswith("recbole==1.2.1 wheel")
    everything = movielens.to_interactions(raw, min_rating=0)
    assert everything.summary() | {"source": None, "density_percent": None} == dict(
        users_before=943, items_before=1682, ratings_before=100_000, likes_before=100_000,
        duplicates_dropped=0, min_rating=0, source=None, users=943, items=1682,
        likes=100_000, density_percent=None, features=19, feature_nonzeros=2893)
    likes = movielens.load(min_rating=4)
    assert likes.stats["likes_before"] == likes.nnz == 55_375
    assert (likes.n_users, likes.n_items) == (942, 1447)
    assert likes.item_names[0] == "Toy Story (1995)"
    assert likes.timestamps.nnz == likes.nnz and likes.timestamps.data.min() > 8.7e8


def test_repeated_movie_id_in_the_movie_list(tmp_path):
    folder = copy_tiny(tmp_path)
    lines = (folder / "u.item").read_bytes().splitlines(keepends=True)
    (folder / "u.item").write_bytes(b"".join(lines + [lines[0]]))
    with pytest.raises(UserError, match="movie 10 appears twice"):
        movielens.load(folder)
