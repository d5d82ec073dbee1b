"""The field's data sets from a local copy: each exact official format with its quirks, archives
and their checksums, the one-line refusal when a file is missing, and `datasets list`."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recsys_bench import datasets
from recsys_bench.datasets import catalog, field
from recsys_bench.errors import UserError

ML1M_RATINGS = ("1::1193::5::978300760\n1::661::3::978302109\n1::914::4::978301968\n"
                "2::1193::4::978298413\n2::661::5::978299000\n3::914::2::978297867\n"
                "3::1193::4::978298000\n")
# ML-1M titles are latin-1: "Misérables" is one byte 0xE9; genres are |-joined.
ML1M_MOVIES = (b"661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
               b"914::Mis\xe9rables, Les (1995)::Drama|Musical\n"
               b"1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n")
ML20M_RATINGS = ("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n"
                 "2,2,4.5,1112484819\n2,32,5.0,1112484727\n3,29,0.5,1094785740\n")
ML20M_MOVIES = ('movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n'
                '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",'
                'Adventure|Drama|Fantasy|Mystery|Sci-Fi\n32,Twelve Monkeys (a.k.a. 12 Monkeys) '
                '(1995),(no genres listed)\n')
U1, U2 = "00000c289a1829a808ac09c00daf10bc3c4e223b", "00001411dc427966b17297bf4d69e7e193135d89"
LASTFM = (f"{U1}\t3bd73256-3905-4f3a-97e2-8b341527f805\tbetty blowtorch\t2137\n"
          f"{U1}\tf2fb0ff0-5679-42ec-a55c-15109ce6e320\tdie Ärzte\t1099\n"
          f"{U1}\t\t\"weird al\" yankovic\t706\n"              # no MBID, quotes in the name
          f"{U2}\t3bd73256-3905-4f3a-97e2-8b341527f805\tbetty blowtorch\t12\n"
          f"{U2}\t\t\"weird al\" yankovic\t3\n"
          f"{U2}\t\t\"weird al\" yankovic\t4\n")                # a repeated row: plays add up
MSD = ("b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAKIMP12A8C130995\t1\n"
       "b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAPDEY12A81C210A9\t3\n"
       "85c1f87fea955d09b4bec2e36aee110927aedf9a\tSOAKIMP12A8C130995\t2\n")


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "data-home"
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(home))
    return home


def ml1m_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ratings.dat").write_text(ML1M_RATINGS)
    (root / "movies.dat").write_bytes(ML1M_MOVIES)
    return root


def ml1m_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/ratings.dat", ML1M_RATINGS)
        z.writestr("ml-1m/movies.dat", ML1M_MOVIES)
        z.writestr("ml-1m/README", "MovieLens 1M\n")
    return path


def with_digest(monkeypatch, name: str, path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(catalog.CATALOG, name,
                        dataclasses.replace(catalog.CATALOG[name], sha256=digest))
    return digest


def by_id(data, ids) -> dict:
    m = data.matrix.tocoo()
    return {(str(data.user_ids[r]), str(data.item_ids[c])): float(v)
            for r, c, v in zip(m.row, m.col, m.data) if str(data.user_ids[r]) in ids}


# --- MovieLens ----------------------------------------------------------------------------------

def test_ml1m_dat_latin1_titles_and_genres(tmp_path):
    data = datasets.load("movielens-1m", path=ml1m_folder(tmp_path / "ml-1m"))
    assert data.name == "movielens-1m"
    assert set(by_id(data, {"1", "2", "3"})) == {("1", "1193"), ("1", "914"), ("2", "1193"),
                                                 ("2", "661"), ("3", "1193")}
    titles = dict(zip(map(str, data.item_ids), data.item_names))
    assert titles["914"] == "Misérables, Les (1995)"
    genres = {str(i): sorted(data.feature_names[data.item_features[k].indices])
              for k, i in enumerate(data.item_ids)}
    assert genres["661"] == ["genre_animation", "genre_children's", "genre_musical"]
    assert genres["1193"] == ["genre_drama"]
    assert data.user_ids.dtype == np.int64                # integer ids stay integers
    row, col = data.user_ids.tolist().index(2), data.item_ids.tolist().index(661)
    assert data.timestamps[row, col] == 978299000
    assert data.stats["likes_before"] == 5 and data.stats["rows_read"] == 7
    assert data.stats["source"] == "unpacked files"
    assert [s.name for s in data.sources] == ["ratings.dat", "movies.dat"]


def test_ml1m_min_rating_and_kcore(tmp_path):
    folder = ml1m_folder(tmp_path / "ml-1m")
    everything = datasets.load("movielens-1m", path=folder, min_rating=0)
    assert everything.nnz == 7
    core = datasets.load("movielens-1m", path=folder, min_user_likes=1, min_item_likes=2)
    assert core.item_ids.tolist() == [1193] and core.user_ids.tolist() == [1, 2, 3]
    assert core.feature_names.tolist() == ["genre_drama"]
    assert core.stats["min_item_likes"] == 2 and core.stats["likes_before"] == 5
    with pytest.raises(UserError, match="dataset movielens-1m: thresholds"):
        datasets.load("movielens-1m", path=folder, min_user_likes=2, min_item_likes=2)


def test_ml1m_archive_checked_and_unpacked_once(tmp_path, monkeypatch, data_home):
    archive = ml1m_zip(tmp_path / "ml-1m.zip")
    digest = with_digest(monkeypatch, "movielens-1m", archive)
    data = datasets.load("movielens-1m", path=archive)
    assert data.stats["archive_checked"] is True and data.stats["source"] == "archive"
    assert [s.as_dict() for s in data.sources] == [{"name": "ml-1m.zip", "sha256": digest,
                                                     "size": archive.stat().st_size}]
    unpacked = data_home / "movielens-1m"
    assert sorted(p.name for p in unpacked.iterdir()) == ["ARCHIVE.json", "movies.dat",
                                                          "ratings.dat"]
    again = datasets.load("movielens-1m", path=archive)
    assert by_id(again, {"1", "2", "3"}) == by_id(data, {"1", "2", "3"})


def test_ml1m_archive_with_another_checksum_is_refused(tmp_path):
    archive = ml1m_zip(tmp_path / "ml-1m.zip")
    official = catalog.CATALOG["movielens-1m"].sha256
    with pytest.raises(UserError) as err:
        datasets.load("movielens-1m", path=archive)
    message = str(err.value)
    assert official in message and "verify=false" in message and "\n" not in message
    data = datasets.load("movielens-1m", path=archive, verify=False)
    assert data.stats["archive_checked"] is False and data.nnz == 5


def test_default_folder_and_listing(tmp_path, monkeypatch, data_home):
    assert not field.present("movielens-1m")
    data_home.mkdir()
    archive = ml1m_zip(data_home / "ml-1m.zip")
    with_digest(monkeypatch, "movielens-1m", archive)
    assert field.present("movielens-1m")
    assert datasets.load("movielens-1m").nnz == 5
    rows = {row["name"]: row for row in datasets.catalog_rows()}
    assert rows["movielens-1m"]["present"] is True and rows["lastfm-360k"]["present"] is False
    for name in catalog.CATALOG:
        assert {"source", "size", "license", "checksum", "present"} <= set(rows[name])


@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_missing_files_are_one_line_with_where_and_checksum(name, data_home):
    spec = catalog.CATALOG[name]
    with pytest.raises(UserError) as err:
        datasets.load(name)
    message = str(err.value)
    assert "\n" not in message
    assert spec.archive in message and spec.url in message and str(data_home) in message
    assert spec.expected() in message and "--option path=" in message


def test_checksums_are_recorded_or_honestly_absent():
    known = {n: s.sha256 for n, s in catalog.CATALOG.items() if s.sha256}
    assert set(known) == {"movielens-1m", "movielens-20m", "movielens-25m"}
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in known.values())
    assert catalog.CATALOG["lastfm-360k"].expected() == "no published checksum known"


def test_ml10m_inside_its_top_folder_with_half_stars(tmp_path):
    folder = tmp_path / "downloads" / "ml-10M100K"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_text("1::122::5::838985046\n1::185::3.5::838983525\n"
                                        "2::122::4.5::868245777\n")
    (folder / "movies.dat").write_text("122::Boomerang (1992)::Comedy|Romance\n"
                                       "185::Net, The (1995)::Action|Crime|Thriller\n")
    data = datasets.load("movielens-10m", path=tmp_path / "downloads", min_rating=3.5)
    assert data.nnz == 3 and dict(zip(map(str, data.item_ids), data.item_names))["185"] == \
        "Net, The (1995)"


def test_ml_dat_bad_line_names_file_and_line(tmp_path):
    folder = ml1m_folder(tmp_path / "ml-1m")
    (folder / "ratings.dat").write_text(ML1M_RATINGS + "4::661::five::978300000\n")
    with pytest.raises(UserError, match=r"ratings.dat:8: weight column 'column 2': 'five'"):
        datasets.load("movielens-1m", path=folder)
    (folder / "ratings.dat").write_text(ML1M_RATINGS)
    (folder / "movies.dat").write_bytes(ML1M_MOVIES + b"999 no separators\n")
    with pytest.raises(UserError, match=r"movies.dat:4: expected MovieID::Title::Genres"):
        datasets.load("movielens-1m", path=folder)


@pytest.mark.parametrize("name", ["movielens-20m", "movielens-25m", "movielens-32m"])
def test_ml_csv_quoted_titles_and_no_genres(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "ratings.csv").write_text(ML20M_RATINGS)
    (folder / "movies.csv").write_text(ML20M_MOVIES, encoding="utf-8")
    data = datasets.load(name, path=folder)
    assert set(by_id(data, {"1", "2", "3"})) == {("1", "29"), ("2", "2"), ("2", "32")}
    titles = dict(zip(map(str, data.item_ids), data.item_names))
    assert titles["29"].startswith("City of Lost Children, The (Cité")
    genres = {str(i): sorted(data.feature_names[data.item_features[k].indices])
              for k, i in enumerate(data.item_ids)}
    assert genres["32"] == ["genre_(no genres listed)"]
    assert "genre_sci-fi" in genres["29"]
    assert data.timestamps.nnz == data.nnz


# --- Last.fm and the Million Song Dataset ---------------------------------------------------------

def test_lastfm_plays_as_weights_and_missing_mbids(tmp_path):
    folder = tmp_path / "lastfm-dataset-360K"
    folder.mkdir()
    (folder / "usersha1-artmbid-artname-plays.tsv").write_text(LASTFM, encoding="utf-8")
    data = datasets.load("lastfm-360k", path=tmp_path)
    plays = by_id(data, {U1, U2})
    weird = 'artist:"weird al" yankovic'
    assert plays[(U1, weird)] == 706 and plays[(U2, weird)] == 7
    assert plays[(U2, "3bd73256-3905-4f3a-97e2-8b341527f805")] == 12
    names = dict(zip(map(str, data.item_ids), data.item_names))
    assert names[weird] == '"weird al" yankovic' and \
        names["f2fb0ff0-5679-42ec-a55c-15109ce6e320"] == "die Ärzte"
    assert data.stats["rows_without_mbid"] == 3 and data.stats["duplicates_dropped"] == 1
    binary = datasets.load("lastfm-360k", path=tmp_path, binary=True, min_plays=10)
    assert set(binary.matrix.data) == {1.0} and binary.nnz == 4


def test_lastfm_from_its_tar_gz(tmp_path):
    archive = tmp_path / "lastfm-dataset-360K.tar.gz"
    payload = LASTFM.encode()
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    data = datasets.load("lastfm-360k", path=archive)
    assert data.nnz == 5 and data.stats["archive_checked"] is False   # no checksum known
    assert data.sources[0].name == archive.name


def test_msd_triplets_play_counts(tmp_path):
    (tmp_path / "train_triplets.txt").write_text(MSD)
    data = datasets.load("msd-taste-profile", path=tmp_path)
    assert data.nnz == 3 and sorted(data.matrix.data.tolist()) == [1, 2, 3]
    same = datasets.load("msd-taste-profile", path=tmp_path / "train_triplets.txt")
    assert same.nnz == 3 and same.sources == data.sources
    assert data.stats["rows_published"] == 48_373_586


def test_msd_zip_without_the_triplets_is_refused(tmp_path):
    archive = tmp_path / "train_triplets.txt.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("something_else.txt", "x")
    with pytest.raises(UserError, match="lacks train_triplets.txt"):
        datasets.load("msd-taste-profile", path=archive)


def test_cli_list_shows_source_size_license_and_presence(tmp_path, data_home):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    ml1m_folder(data_home / "ml-1m")
    out = subprocess.run([sys.executable, "-m", "recsys_bench", "datasets", "list"], check=False,
                         capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin",
                              "RECSYS_BENCH_DATA": str(data_home)})
    assert out.returncode == 0, out.stderr
    block = out.stdout.split("movielens-1m", 1)[1].split("movielens-10m", 1)[0]
    assert "present; 5.9 MB, 1,000,209 interactions" in block and "not present" not in block
    assert "source: https://files.grouplens.org/datasets/movielens/ml-1m.zip" in block
    assert "license: GroupLens terms" in block
    assert "not present; size not recorded" in out.stdout.split("lastfm-360k", 1)[1]
