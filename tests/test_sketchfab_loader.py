"""The Sketchfab reader: exact dialect, duplicates, k-core thresholding, features, errors."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_bench.datasets import load as registry_load
from recsys_bench.datasets import sketchfab
from recsys_bench.datasets.psv import write_psv
from recsys_bench.errors import UserError

FIXTURE = Path(__file__).parent / "fixtures" / "sketchfab_quoting"
U1, U2, U3 = ("7ac1b40648fff523d7220a5d07b04d9b", "2f6a0c1e9b8d4f7a8c3e5d1b0a9f8e7d",
              "c0ffee00c0ffee00c0ffee00c0ffee00")
M1, M2, M3 = ("5dcebcfaedbd4e7b8a27bd1ae55f1ac3", "0dea8bff43c34e97a830801fd534528b",
              "b7LzIm8JrnPw4GBDOMBNGYc39qM")
M26 = "a1B2c3D4e5F6g7H8i9J0k1L2m3"

# What the fixture's rows hold once unquoted, in file order.
ROWS = [
    ("3D fanart Noel From Sora no Method", M1, U1),
    ("Overwatch | Dva Fan Art", M2, U1),
    ("Champion(Upagraded Knight) \\ Inferno", M3, U1),
    ("two \\\\ backslashes", M26, U2),
    ("First line\nsecond line", "1" * 32, U2),
    ("Windows\r\nname", "2" * 32, U2),
    ("Café Ñandú 日本語 🚀", "3" * 32, U3),
    ("ends with a backslash\\", "4" * 32, U3),
    ("3D fanart Noel From Sora no Method", M1, U1),
    ("Renamed Noel", M1, U3),
    ("\"double quotes\" and 'single' are plain", "5" * 32, U3),
    ("", "6" * 32, U1),
]
HEADER = "modelname|mid|uid\r\n"


def write(folder: Path, likes: bytes | str, feats: bytes | str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((sketchfab.LIKES_FILE, likes), (sketchfab.FEATURES_FILE, feats)):
        if content is not None:
            data = content.encode("utf-8") if isinstance(content, str) else content
            (folder / name).write_bytes(data)
    return folder


def error_of(folder: Path, **options) -> UserError:
    with pytest.raises(UserError) as info:
        sketchfab.load(folder, **options)
    return info.value


# --- the dialect --------------------------------------------------------------------------------

def test_fixture_is_what_the_crawler_writer_produces(tmp_path):
    write_psv(tmp_path / "likes.psv", ("modelname", "mid", "uid"), ROWS)
    assert (tmp_path / "likes.psv").read_bytes() == (FIXTURE / sketchfab.LIKES_FILE).read_bytes()


def test_every_quoting_case_reads_back_exactly():
    columns = sketchfab.read_psv(FIXTURE / sketchfab.LIKES_FILE, sketchfab.LIKES_HEADER)
    assert list(zip(*columns)) == ROWS


def test_load_maps_ids_names_and_drops_duplicates():
    data = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=1, features=False)
    assert data.user_ids.tolist() == [U1, U2, U3]
    assert data.item_ids.tolist() == [M1, M2, M3, M26, "1" * 32, "2" * 32, "3" * 32, "4" * 32,
                                      "5" * 32, "6" * 32]
    assert len(data.item_ids[2]) == 27 and len(data.item_ids[3]) == 26
    assert data.item_names[0] == "3D fanart Noel From Sora no Method"   # first name seen
    assert data.item_names.tolist()[1:] == [r[0] for r in ROWS[1:8]] + [ROWS[10][0], ""]
    assert data.stats == dict(users_before=3, items_before=10, likes_before=12,
                              duplicates_dropped=1, min_user_likes=1, min_item_likes=1)
    m = data.matrix
    assert m.dtype == np.float32 and m.has_sorted_indices and m.format == "csr"
    assert m.nnz == 11 and set(m.data) == {1.0}
    expected = np.zeros((3, 10), dtype=np.float32)
    for _, mid, uid in ROWS:
        expected[data.user_ids.tolist().index(uid), data.item_ids.tolist().index(mid)] = 1
    np.testing.assert_array_equal(m.toarray(), expected)
    summary = data.summary()
    assert (summary["users"], summary["items"], summary["likes"]) == (3, 10, 11)
    assert data.item_features is None and data.feature_names is None


def test_registry_loads_by_name():
    data = registry_load("sketchfab", path=FIXTURE, min_user_likes=1, min_item_likes=1)
    assert data.name == "sketchfab" and data.nnz == 11


def test_blank_lines_and_a_byte_order_mark_are_tolerated(tmp_path):
    text = "\ufeff" + HEADER + f"a|m1|{U1}\r\n\r\nb|m2|{U1}\r\n"
    data = sketchfab.load(write(tmp_path, text), min_user_likes=1, min_item_likes=1)
    assert data.item_ids.tolist() == ["m1", "m2"] and data.stats["likes_before"] == 2


# --- thresholding -------------------------------------------------------------------------------

def test_thresholds_cascade_until_stable():
    # item 2 has 2 likes; dropping user 2 (1 like) leaves it with 1, which drops it, which leaves
    # user 1 with 1 like, which drops user 1: three rounds.
    users = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3])
    items = np.array([0, 1, 3, 1, 2, 2, 0, 1, 3])
    keep = sketchfab.threshold(users, items, min_user=2, min_item=2)
    assert keep.tolist() == [True, True, True, False, False, False, True, True, True]


def slow_core(users, items, min_user, min_item):
    alive = set(range(len(users)))
    while True:
        uc = Counter(users[i] for i in alive)
        ic = Counter(items[i] for i in alive)
        dead = {i for i in alive if uc[users[i]] < min_user or ic[items[i]] < min_item}
        if not dead:
            return [i in alive for i in range(len(users))]
        alive -= dead


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=80),
       min_user=st.integers(0, 5), min_item=st.integers(0, 5))
def test_threshold_is_the_largest_fixed_point(pairs, min_user, min_item):
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    keep = sketchfab.threshold(users, items, min_user, min_item)
    assert keep.dtype == bool and keep.shape == users.shape
    assert all(c >= min_user for c in Counter(users[keep].tolist()).values())
    assert all(c >= min_item for c in Counter(items[keep].tolist()).values())
    assert keep.tolist() == slow_core(users.tolist(), items.tolist(), min_user, min_item)


def test_load_thresholds_and_reports_before_after():
    data = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=2)
    assert data.item_ids.tolist() == [M1] and data.user_ids.tolist() == [U1, U3]
    assert data.stats["users_before"] == 3 and data.stats["items_before"] == 10
    assert data.summary()["likes"] == 2


def test_thresholds_that_leave_nothing_are_an_error():
    err = error_of(FIXTURE, min_user_likes=2, min_item_likes=2)
    assert "leave no data" in err.message and err.path.endswith(sketchfab.LIKES_FILE)


@pytest.mark.parametrize("option, value", [("min_user_likes", -1), ("min_item_likes", 2.5),
                                           ("min_tag_count", "3"), ("min_user_likes", True)])
def test_bad_threshold_values(option, value):
    err = error_of(FIXTURE, **{option: value})
    assert option in err.message


# --- features -----------------------------------------------------------------------------------

def test_features_are_one_hot_lowercased_and_only_for_kept_models():
    data = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=1)
    assert data.feature_names.tolist() == [
        "category_characters", "category_gaming", "category_places & scenes",
        "category_science, nature & education", "tag_3dsmax", "tag_a|b", "tag_noel"]
    f = data.item_features
    assert f.dtype == np.float32 and f.shape == (10, 7) and f.has_sorted_indices
    assert set(f.data) == {1.0} and f.nnz == 8               # "Noel" and "noel" are one feature
    names = data.feature_names.tolist()
    assert [names[j] for j in f[0].indices] == ["category_characters", "category_gaming",
                                                "tag_3dsmax", "tag_noel"]
    assert f[3:].nnz == 0                                     # no features; orphan mid ignored
    assert data.stats["feature_rows_before"] == 10
    assert (data.summary()["features"], data.summary()["feature_nonzeros"]) == (7, 8)


def test_min_tag_count_counts_kept_models_only():
    both = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=1, min_tag_count=2)
    assert both.feature_names.tolist() == ["tag_noel"]
    assert both.item_features[:, 0].toarray().ravel().tolist()[:3] == [1, 1, 0]
    # with only M1 kept, "noel" is carried by one kept model
    one = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=2, min_tag_count=2)
    assert one.item_features.shape == (1, 0) and one.feature_names.tolist() == []
    kept = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=2, min_tag_count=1)
    assert kept.feature_names.tolist() == ["category_characters", "category_gaming",
                                           "tag_3dsmax", "tag_noel"]


def test_features_file_optional_or_switched_off(tmp_path):
    shutil.copy(FIXTURE / sketchfab.LIKES_FILE, tmp_path)
    assert sketchfab.load(tmp_path, min_user_likes=1, min_item_likes=1).item_features is None
    off = sketchfab.load(FIXTURE, min_user_likes=1, min_item_likes=1, features=False)
    assert off.item_features is None and "feature_rows_before" not in off.stats


# --- errors ---------------------------------------------------------------------------------------

def test_missing_folder_file_or_path(tmp_path):
    assert "no such folder" in error_of(tmp_path / "nope").message
    err = error_of(tmp_path)
    assert "missing likes file" in err.message and err.path.endswith(sketchfab.LIKES_FILE)
    with pytest.raises(UserError, match="needs a folder"):
        sketchfab.load()


def test_wrong_header(tmp_path):
    err = error_of(write(tmp_path, f"name|mid|uid\r\na|m|{U1}\r\n"))
    assert err.line == 1 and "wrong header 'name|mid|uid'" in err.message
    assert str(err).startswith(f"{tmp_path / sketchfab.LIKES_FILE}:1: ")


def test_empty_file(tmp_path):
    assert "empty file" in error_of(write(tmp_path, b"")).message


@pytest.mark.parametrize("bad, found", [("short|m", 2), ("a|b|c|d", 4)])
def test_wrong_field_count_names_the_physical_line(tmp_path, bad, found):
    text = HEADER + f"a|m1|{U1}\r\n\\two\nlines\\|m2|{U1}\r\n{bad}\r\nz|m3|{U1}\r\n"
    err = error_of(write(tmp_path, text))
    assert err.line == 5 and f"expected 3 fields (modelname|mid|uid), found {found}" in err.message


def test_unterminated_quote_names_the_record_start(tmp_path):
    text = HEADER + f"a|m1|{U1}\r\n\\never closed|m2|{U1}\r\nb|m3|{U1}\r\n"
    err = error_of(write(tmp_path, text))
    assert err.line == 3 and "malformed quoting" in err.message


def test_stray_quote_is_an_error_under_strict(tmp_path):
    text = HEADER + f"a|m1|{U1}\r\nb|m2|{U1}\r\n\\closed\\x|m3|{U1}\r\n"
    err = error_of(write(tmp_path, text))
    assert err.line == 4 and "malformed quoting" in err.message


def test_bytes_that_are_not_utf8(tmp_path):
    data = (HEADER + f"a|m1|{U1}\r\n\\multi\nline\\|m2|{U1}\r\n").encode() + \
        f"caf\xe9|m3|{U1}\r\n".encode("latin-1")
    err = error_of(write(tmp_path, data))
    assert err.line == 5 and "not UTF-8" in err.message and "\\xe9" in err.message


def test_unknown_feature_type(tmp_path):
    feats = f"mid|type|value\r\n{M1}|tag|x\r\n{M1}|material|wood\r\n"
    err = error_of(write(tmp_path, (FIXTURE / sketchfab.LIKES_FILE).read_bytes(), feats),
                   min_user_likes=1, min_item_likes=1)
    assert err.line == 3 and "unknown feature type 'material'" in err.message
    assert err.path.endswith(sketchfab.FEATURES_FILE)


def test_feature_file_errors_name_that_file(tmp_path):
    feats = "mid|kind|value\r\n"
    err = error_of(write(tmp_path, (FIXTURE / sketchfab.LIKES_FILE).read_bytes(), feats),
                   min_user_likes=1, min_item_likes=1)
    assert err.path.endswith(sketchfab.FEATURES_FILE) and err.line == 1
