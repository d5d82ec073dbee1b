"""The `interactions` data set: formats, options, bad rows, features, sources, k-core, inspect."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys_bench import datasets
from recsys_bench.datasets import interactions, kcore, sniff
from recsys_bench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
HEADER = "userId,movieId,rating,timestamp\n"
ROWS = [  # user, item, rating, time
    ("u1", "m1", 4.0, 100), ("u1", "m2", 3.0, 101), ("u2", "m1", 5.0, 102),
    ("u2", "m1", 4.5, 90), ("u3", "m3", 1.0, 50), ("u3", "m1", 4.0, 60), ("u2", "m2", 4.0, 70),
]


def csv_text(rows=ROWS, sep=",", header=True) -> str:
    lines = [sep.join(map(str, r)) for r in rows]
    return (HEADER.replace(",", sep) if header else "") + "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def dense(data) -> dict:
    """{(user, item): value} of the matrix, by original ids."""
    m = data.matrix.tocoo()
    return {(data.user_ids[r], data.item_ids[c]): float(v) for r, c, v in
            zip(m.row, m.col, m.data)}


NAMED = dict(user_col="userId", item_col="movieId", weight_col="rating",
             timestamp_col="timestamp")


# --- formats ------------------------------------------------------------------------------------

def test_csv_by_names_thresholds_and_keeps_latest_time(tmp_path):
    data = interactions.load(write(tmp_path, csv_text()), min_weight=4, **NAMED)
    assert dense(data) == {("u1", "m1"): 1, ("u2", "m1"): 1, ("u3", "m1"): 1, ("u2", "m2"): 1}
    assert data.user_ids.tolist() == ["u1", "u2", "u3"] and data.item_ids.tolist() == ["m1", "m2"]
    times = data.timestamps.toarray()
    assert times[1, 0] == 102 and times[2, 0] == 60          # the latest of the repeated pair
    assert data.timestamps.nnz == data.matrix.nnz
    assert data.stats["rows_read"] == 7 and data.stats["likes_before"] == 5
    assert data.stats["duplicates_dropped"] == 1 and data.stats["users_before"] == 3
    assert data.matrix.dtype == np.float32 and data.matrix.has_sorted_indices


@pytest.mark.parametrize("sep, name", [("\t", "r.tsv"), (";", "r.txt"), ("::", "ratings.dat"),
                                       ("|", "r.psv")])
def test_any_delimiter_by_position_without_header(tmp_path, sep, name):
    path = write(tmp_path, csv_text(sep=sep, header=False), name)
    data = interactions.load(path, user_col=0, item_col=1, weight_col=2, timestamp_col=3,
                             min_weight=4)
    reference = interactions.load(write(tmp_path, csv_text()), min_weight=4, **NAMED)
    assert dense(data) == dense(reference)
    np.testing.assert_array_equal(data.timestamps.toarray(), reference.timestamps.toarray())


@pytest.mark.parametrize("suffix, opener", [(".gz", gzip.open), (".bz2", bz2.open),
                                            (".zst", None), ("", gzip.open)])
def test_compressed_files_read_like_plain(tmp_path, suffix, opener):
    text = csv_text()
    path = tmp_path / f"r.csv{suffix}"
    if opener is None:
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(text.encode())
    else:
        with opener(path, "wt") as f:       # "" : gzip without the suffix, found by content
            f.write(text)
    data = interactions.load(path, min_weight=4, **NAMED)
    plain = interactions.load(write(tmp_path, text), min_weight=4, **NAMED)
    assert dense(data) == dense(plain)


def test_parquet_reads_like_csv_with_iso_times(tmp_path):
    table = pa.table({"user": [r[0] for r in ROWS], "item": [r[1] for r in ROWS],
                      "rating": [r[2] for r in ROWS],
                      "when": pa.array([r[3] for r in ROWS], pa.timestamp("s"))})
    pq.write_table(table, tmp_path / "r.parquet")
    data = interactions.load(tmp_path / "r.parquet", user_col="user", item_col="item",
                             weight_col="rating", timestamp_col="when", min_weight=4)
    plain = interactions.load(write(tmp_path, csv_text()), min_weight=4, **NAMED)
    assert dense(data) == dense(plain)
    np.testing.assert_array_equal(data.timestamps.toarray(), plain.timestamps.toarray())


def test_iso_and_epoch_times_mix(tmp_path):
    text = "u,i,t\na,x,2020-01-01T00:00:00Z\na,y,1577836801\nb,x,2020-01-01 00:00:02+00:00\n"
    data = interactions.load(write(tmp_path, text), timestamp_col="t")
    assert sorted(data.timestamps.data.tolist()) == [1577836800, 1577836801, 1577836802]


def test_header_guessed_and_header_false_reads_first_row(tmp_path):
    path = write(tmp_path, csv_text())
    assert interactions.load(path).stats["rows_read"] == 7            # header guessed
    with pytest.raises(UserError, match="rating"):                    # header read as data
        interactions.load(path, header=False, weight_col=2)


# --- duplicates and values -----------------------------------------------------------------------

@pytest.mark.parametrize("mode, expected", [("drop", 5.0), ("sum", 9.5), ("max", 5.0),
                                            ("last", 5.0)])
def test_duplicates_combine_weights(tmp_path, mode, expected):
    data = interactions.load(write(tmp_path, csv_text()), binary=False, duplicates=mode, **NAMED)
    assert dense(data)[("u2", "m1")] == expected
    assert dense(data)[("u1", "m2")] == 3.0


def test_last_follows_time_not_file_order(tmp_path):
    rows = [("a", "x", 1, 200), ("a", "x", 2, 100), ("a", "y", 7, 5)]
    data = interactions.load(write(tmp_path, csv_text(rows)), binary=False, duplicates="last",
                             **NAMED)
    assert dense(data)[("a", "x")] == 1.0
    first = interactions.load(write(tmp_path, csv_text(rows)), binary=False, **NAMED)
    assert dense(first)[("a", "x")] == 1.0 and first.stats["duplicates_dropped"] == 1


def test_counts_without_weight_and_zero_weights_dropped(tmp_path):
    rows = [("a", "x", 0, 1), ("a", "x", 0, 2), ("b", "x", 0, 3), ("b", "y", 1, 4)]
    path = write(tmp_path, csv_text(rows))
    counts = interactions.load(path, user_col=0, item_col=1, binary=False, duplicates="sum")
    assert dense(counts) == {("a", "x"): 2, ("b", "x"): 1, ("b", "y"): 1}
    weighted = interactions.load(path, binary=False, duplicates="sum", **NAMED)
    assert dense(weighted) == {("b", "y"): 1} and weighted.stats["zero_weights_dropped"] == 2


@pytest.mark.parametrize("options, needle", [
    (dict(min_weight=4), "min_weight needs weight_col"),
    (dict(duplicates="last"), "needs timestamp_col"),
    (dict(duplicates="first"), "duplicates must be one of"),
    (dict(item_col="nope"), "item_col='nope': no such column; columns: 'userId'"),
    (dict(user_col=9), "user_col=9: no such column"),
    (dict(weight_col="rating", min_weight=9), "no interactions with weight >= 9"),
    (dict(on_bad_rows="ignore"), "on_bad_rows must be"),
])
def test_bad_options_are_one_line(tmp_path, options, needle):
    with pytest.raises(UserError) as err:
        interactions.load(write(tmp_path, csv_text()), **{"user_col": "userId",
                                                          "item_col": "movieId", **options})
    assert needle in str(err.value) and "\n" not in str(err.value)


# --- bad rows ------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, needle", [
    ("u9,m9,4.0", "r.csv:4: expected 4 fields, found 3"),
    ("u9,m9,four,5", "r.csv:4: weight column 'rating': 'four' is not a number"),
    (",m9,4.0,5", "r.csv:4: user column 'userId': empty id"),
    ("u9,m9,4.0,yesterday", "r.csv:4: timestamp column 'timestamp': 'yesterday' is neither"),
])
def test_bad_row_names_file_line_and_column(tmp_path, line, needle):
    lines = csv_text().splitlines()
    lines.insert(3, line)
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        interactions.load(path, **NAMED)
    assert str(err.value).endswith(needle.split(":", 2)[2].strip()) or needle in str(err.value)
    assert f"{path}:4:" in str(err.value)


def test_skip_counts_bad_rows_and_keeps_the_rest(tmp_path):
    lines = csv_text().splitlines()
    lines[3:3] = ["u9,m9,4.0", "u9,m9,four,5", ",m9,4.0,5", "u9,m9,4.0,yesterday"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    data = interactions.load(path, on_bad_rows="skip", **NAMED)
    clean = interactions.load(write(tmp_path, csv_text(), "clean.csv"), **NAMED)
    assert dense(data) == dense(clean)
    assert data.stats["bad_rows_skipped"] == 4 and data.stats["rows_read"] == 11
    assert "u9" in data.stats["first_bad_row"]


def test_parquet_missing_id_is_a_row_error(tmp_path):
    pq.write_table(pa.table({"u": ["a", None, "c"], "i": ["x", "y", "z"]}), tmp_path / "p.pq")
    with pytest.raises(UserError, match=r"row 2: user column 'u'"):
        interactions.load(tmp_path / "p.pq", user_col="u", item_col="i")
    skipped = interactions.load(tmp_path / "p.pq", user_col="u", item_col="i",
                                on_bad_rows="skip")
    assert skipped.nnz == 2 and skipped.stats["bad_rows_skipped"] == 1


def test_missing_file_and_missing_path():
    with pytest.raises(UserError, match="no such file"):
        interactions.load("/nonexistent/r.csv")
    with pytest.raises(UserError, match="needs a file"):
        interactions.load()


# --- item features -------------------------------------------------------------------------------

def test_long_feature_file_with_values(tmp_path):
    feats = write(tmp_path, "item,feature,value\nm1,red,1\nm1,big,0.5\nm2,red,2\nm2,red,3\n"
                  "zz,red,1\n", "f.csv")
    data = interactions.load(write(tmp_path, csv_text()), item_features=feats,
                             features_value_col="value", features_prefix="tag_", **NAMED)
    assert data.feature_names.tolist() == ["tag_big", "tag_red"]
    rows = {i: dict(zip(data.feature_names[data.item_features[k].indices],
                        data.item_features[k].data)) for k, i in enumerate(data.item_ids)}
    assert rows == {"m1": {"tag_big": 0.5, "tag_red": 1.0}, "m2": {"tag_red": 3.0}, "m3": {}}
    assert data.stats["feature_rows_unmatched"] == 1
    assert [s.name for s in data.sources] == ["r.csv", "f.csv"]


def test_joined_tags_one_row_per_item(tmp_path):
    feats = write(tmp_path, "m1\tAction|Comedy\nm2\t\nm3\tComedy\n", "tags.tsv")
    data = interactions.load(write(tmp_path, csv_text()), item_features=feats,
                             features_sep="|", features_header=False, features_prefix="genre_",
                             **NAMED)
    assert data.feature_names.tolist() == ["genre_Action", "genre_Comedy"]
    assert data.item_features.toarray().tolist() == [[1, 1], [0, 0], [0, 1]]


def test_features_survive_kcore_like_sketchfab_tags(tmp_path):
    feats = write(tmp_path, "m1,a\nm2,b\nm3,c\n", "f.csv")
    data = datasets.load("interactions", path=write(tmp_path, csv_text()), item_features=feats,
                         features_header=False, min_user_likes=1, min_item_likes=2, **NAMED)
    assert data.item_ids.tolist() == ["m1", "m2"] and data.feature_names.tolist() == ["a", "b"]
    assert isinstance(data.item_features, sp.csr_matrix)


# --- sources and k-core --------------------------------------------------------------------------

def test_sources_identify_the_bytes(tmp_path):
    path = write(tmp_path, csv_text())
    source = interactions.load(path, **NAMED).sources[0]
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.size == path.stat().st_size and source.name == "r.csv"
    path.write_text(csv_text() + "u7,m7,5,1\n")
    assert interactions.load(path, **NAMED).sources[0].sha256 != source.sha256


def test_kcore_is_offered_for_every_data_set():
    for name in datasets.names():
        assert {"min_user_likes", "min_item_likes"} <= set(datasets.option_names(name))


def test_registry_kcore_matches_the_shared_threshold(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}", 1, 0) for u, i in rng.integers(0, 30, size=(400, 2))]
    path = write(tmp_path, csv_text(rows))
    full = datasets.load("interactions", path=path)
    cut = datasets.load("interactions", path=path, min_user_likes=7, min_item_likes=7)
    m = full.matrix.tocoo()
    keep = kcore.threshold(m.row, m.col, 7, 7)
    expected = {(full.user_ids[r], full.item_ids[c]) for r, c in zip(m.row[keep], m.col[keep])}
    assert set(dense(cut)) == expected and 0 < len(expected) < full.nnz
    assert cut.stats["likes_before"] == full.stats["likes_before"]
    assert (cut.stats["min_user_likes"], cut.stats["min_item_likes"]) == (7, 7)
    assert np.diff(cut.matrix.indptr).min() >= 7 and np.bincount(cut.matrix.indices).min() >= 7


def test_kcore_keeps_timestamps_aligned(tmp_path):
    data = datasets.load("interactions", path=write(tmp_path, csv_text()), min_item_likes=2,
                         **NAMED)
    assert data.item_ids.tolist() == ["m1", "m2"]
    assert (data.timestamps.indices == data.matrix.indices).all()
    assert data.timestamps.toarray()[1, 0] == 102


def test_kcore_that_leaves_nothing_names_the_data_set(tmp_path):
    with pytest.raises(UserError, match="dataset interactions: thresholds min_user_likes=9"):
        datasets.load("interactions", path=write(tmp_path, csv_text()), min_user_likes=9)


def test_movielens_accepts_the_thresholds():
    fixture = ROOT / "tests" / "fixtures" / "ml-100k-tiny"
    data = datasets.load("movielens-100k", path=fixture, min_user_likes=1, min_item_likes=2)
    plain = datasets.load("movielens-100k", path=fixture)
    assert data.nnz < plain.nnz and np.bincount(data.matrix.indices).min() >= 2
    assert data.stats["users_before"] == plain.stats["users_before"]


# --- inspect -------------------------------------------------------------------------------------

def test_inspect_guesses_movielens_csv_and_the_snippet_loads_it(tmp_path):
    path = write(tmp_path, csv_text())
    guess = sniff.guess(path)
    assert guess.options == {"path": str(path), "delimiter": ",", "header": True,
                             "user_col": "userId", "item_col": "movieId",
                             "weight_col": "rating", "timestamp_col": "timestamp"}
    entry = tomllib.loads(guess.toml())["datasets"][0]
    assert entry["name"] == "interactions"
    assert dense(datasets.load("interactions", **entry["options"])) == \
        dense(interactions.load(path, **NAMED))


def test_inspect_without_header_and_with_quotes(tmp_path):
    text = ("0a1b\tabc-1\tThe \"Band\"\t10\n0a1b\t\tNo Id\t3\n9f9f\tabc-1\tThe \"Band\"\t7\n")
    guess = sniff.guess(write(tmp_path, text, "plays.tsv"))
    options = guess.options
    assert (options["delimiter"], options["header"], options["quote"]) == ("\t", False, None)
    assert (options["user_col"], options["item_col"], options["weight_col"]) == (0, 1, 3)
    assert "timestamp_col" not in options


def test_inspect_epoch_column_without_header(tmp_path):
    text = "".join(f"{u},{i},{r},{1_500_000_000 + u}\n" for u, i, r in
                   [(1, 5, 3), (2, 6, 4), (3, 7, 5)])
    options = sniff.guess(write(tmp_path, text)).options
    assert options["header"] is False and options["timestamp_col"] == 3
    assert (options["user_col"], options["item_col"], options["weight_col"]) == (0, 1, 2)


def test_inspect_parquet(tmp_path):
    pq.write_table(pa.table({"customer_id": ["a"], "product_id": ["x"], "qty": [2]}),
                   tmp_path / "o.parquet")
    options = sniff.guess(tmp_path / "o.parquet").options
    assert (options["user_col"], options["item_col"], options["weight_col"]) == \
        ("customer_id", "product_id", "qty")


# --- command line and run folder -----------------------------------------------------------------

def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "recsys_bench", *args], check=False,
                          capture_output=True,
                          text=True, cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})


def test_cli_stats_with_options_and_sources(tmp_path):
    path = write(tmp_path, csv_text(sep="\t"), "r.tsv")
    out = cli("datasets", "stats", "interactions", "--option", f"path={path}",
              "--option", "delimiter=\\t", "--option", "user_col=userId",
              "--option", "item_col=1", "--option", "weight_col=rating",
              "--option", "min_weight=4", "--min-item-likes", "2", "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert (stats["users"], stats["items"], stats["likes"]) == (3, 1, 3)
    assert stats["min_item_likes"] == 2
    assert stats["sources"] == [{"name": "r.tsv", "size": path.stat().st_size,
                                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]


def test_cli_bad_row_is_one_line_exit_2(tmp_path):
    path = write(tmp_path, csv_text() + "u1,m1\n")
    out = cli("datasets", "stats", "interactions", "--option", f"path={path}")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"{path}:9: expected 4 fields, found 2" in out.stderr


def test_cli_help_example_for_movielens_runs():
    out = cli("datasets", "stats", "movielens-100k", "--path", "tests/fixtures/ml-100k-tiny",
              "--min-user-likes", "1", "--min-item-likes", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["min_item_likes"] == 1


def test_cli_inspect_prints_the_config(tmp_path):
    out = cli("datasets", "inspect", str(write(tmp_path, csv_text())))
    assert out.returncode == 0, out.stderr
    assert 'user_col = "userId"' in out.stdout and "datasets stats interactions" in out.stdout


def test_run_records_the_source_files(tmp_path):
    from recsys_bench.experiment import runner
    from recsys_bench.store.table import read_run_info

    rng = np.random.default_rng(1)
    rows = [(f"u{u}", f"i{i}", 1, 0) for u, i in rng.integers(0, 40, size=(600, 2))]
    data_path = write(tmp_path, csv_text(rows))
    config = write(tmp_path, f"""\
[experiment]
name = "own-file"

[[datasets]]
name = "interactions"
options = {{ path = "{data_path}", min_user_likes = 2 }}

[split]
seeds = [0]
options = {{ fraction = 0.2 }}

[evaluation]
k = 5
metrics = ["precision"]

[[models]]
name = "popularity"
""", "exp.toml")
    run_dir = runner.run(config, tmp_path / "run", quiet=True, executor="inline")
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    label = json.loads(next((run_dir / "splits").glob("*.json")).read_text())
    assert label["sources"] == [{"name": "r.csv", "size": data_path.stat().st_size,
                                 "sha256": digest}]
    sessions = read_run_info(run_dir)["sessions"]
    assert sessions[-1]["sources"] == {label["label"]: label["sources"]}


def test_integer_ids_fall_back_to_text_past_the_sample(tmp_path):
    rows = [(str(u), str(u % 7), 1, 0) for u in range(5000)] + [("x9", "7", 1, 0)]
    data = interactions.load(write(tmp_path, csv_text(rows)), **NAMED)
    assert data.n_users == 5001 and "x9" in data.user_ids.tolist()
    ints = interactions.load(write(tmp_path, csv_text(rows[:-1]), "ints.csv"), **NAMED)
    assert ints.user_ids.dtype == np.int64 and ints.user_ids[:3].tolist() == [0, 1, 2]


def test_movielens_100k_records_its_files():
    fixture = ROOT / "tests" / "fixtures" / "ml-100k-tiny"
    data = datasets.load("movielens-100k", path=fixture)
    names = [s.name for s in data.sources]
    assert names[:2] == ["u.data", "u.item"]
    assert data.sources[0].sha256 == hashlib.sha256((fixture / "u.data").read_bytes()).hexdigest()


@pytest.mark.parametrize("text, needle", [("", "empty file"),
                                          (HEADER, "no interactions"),
                                          ("\n\n", "empty file")])
def test_empty_files_are_one_line(tmp_path, text, needle):
    with pytest.raises(UserError, match=needle):
        interactions.load(write(tmp_path, text), user_col=0, item_col=1)


def test_parquet_categorical_ids_and_decimal_weights(tmp_path):
    import decimal

    table = pa.table({"u": pa.array(["a", "b", "a"]).dictionary_encode(),
                      "i": pa.array(["x", "x", "y"]).dictionary_encode(),
                      "w": pa.array([decimal.Decimal("1.5"), decimal.Decimal(2),
                                     decimal.Decimal("0.5")], pa.decimal128(4, 1))})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=1)
    data = interactions.load(tmp_path / "c.parquet", user_col="u", item_col="i", weight_col="w",
                             min_weight=1)
    assert dense(data) == {("a", "x"): 1.0, ("b", "x"): 1.0}


def test_iso_time_after_a_numeric_sample_is_read(tmp_path):
    rows = [(f"u{k}", "x", 1, 1_500_000_000 + k) for k in range(200)]
    rows.append(("u9", "y", 1, "2020-01-01T00:00:00Z"))
    data = interactions.load(write(tmp_path, csv_text(rows)), **NAMED)
    assert data.timestamps.data.max() == 1577836800


@pytest.mark.parametrize("args, needle", [
    (["--option", "user_column=0"], "unknown option(s) user_column for dataset 'interactions'"),
    (["--option", "nokey"], "expected KEY=VALUE"),
    (["--option", "header=true", "--option", "header=false"], "option 'header' given twice"),
])
def test_cli_option_mistakes_are_one_line(tmp_path, args, needle):
    out = cli("datasets", "stats", "interactions", "--path", str(write(tmp_path, csv_text())),
              *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and needle in out.stderr


def test_cli_option_values():
    from recsys_bench.cli import _option

    assert _option("user_col=0") == ("user_col", 0)
    assert _option("header=false") == ("header", False)
    assert _option("min_weight=3.5") == ("min_weight", 3.5)
    assert _option("delimiter=\\t") == ("delimiter", "\t")
    assert _option("delimiter=::") == ("delimiter", "::")
    assert _option("quote=none") == ("quote", None)
    assert _option("path=data/ratings 2.csv") == ("path", "data/ratings 2.csv")
    assert _option('user_col="0"') == ("user_col", "0")


def test_bad_row_in_a_compressed_file_names_its_line(tmp_path):
    path = tmp_path / "r.csv.bz2"
    with bz2.open(path, "wt") as f:
        f.write(csv_text() + "u1,m1,x,1\n")
    with pytest.raises(UserError, match=r"r\.csv\.bz2:9: weight column 'rating': 'x'"):
        interactions.load(path, **NAMED)


def test_inspect_movielens_dat(tmp_path):
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::914::4::978301968\n"
    options = sniff.guess(write(tmp_path, text, "ratings.dat")).options
    assert options["delimiter"] == "::" and options["header"] is False
    assert (options["user_col"], options["item_col"], options["weight_col"],
            options["timestamp_col"]) == (0, 1, 2, 3)
