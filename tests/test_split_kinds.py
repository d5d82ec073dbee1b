"""Split kinds beyond random hold-outs: given, MovieLens-100k official, time cut, strong
generalisation, and folding held-out users into fitted models."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench import models
from recsys_bench.data import Interactions
from recsys_bench.datasets import movielens
from recsys_bench.errors import UserError
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.experiment.config import parse_config
from recsys_bench.fold_in import fold_in
from recsys_bench.models.numpy_als import confidence, solve_exact
from recsys_bench.split_kinds import official_test_rows
from recsys_bench.splits import load_split, make_split, save_split
from tests.conftest import low_rank_likes

# sha256 of the files of GroupLens' ml-100k distribution (taken from a public copy of the
# archive whose u.data is byte-identical, row for row, to the recbole copy the loader reads).
OFFICIAL_SHA256 = {
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}
U_DATA_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"


# --------------------------------------------------------------------------- helpers

def fake_ml100k(folder, n_users=40, n_items=60, per_user=(20, 30), seed=0):
    """A GroupLens-layout folder with a shuffled u.data; every user rates >= 20 movies."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), rng.integers(*per_user), replace=False)
        for item in items:
            rows.append((user, int(item), int(rng.integers(1, 6)),
                         int(880_000_000 + rng.integers(0, 10**7))))
    rows = [rows[i] for i in rng.permutation(len(rows))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    flags = "|".join(["0"] * 18 + ["1"])
    (folder / "u.item").write_text("".join(f"{i}|Movie {i}|01-Jan-1995||http://x|{flags}\n"
                                           for i in range(1, n_items + 1)), encoding="latin-1")
    return rows


def mku(rows, name):
    """GroupLens' mku.sh and allbut.pl, line by line: (base lines, test lines) of ``name``."""
    if name[1].isdigit():
        i, n = int(name[1]), len(rows)
        test = rows[(i - 1) * n // 5:i * n // 5]
        return rows[:(i - 1) * n // 5] + rows[i * n // 5:], test
    start, stop = (1, 10) if name == "ua" else (11, 20)
    seen, base, test = {}, [], []
    for row in rows:
        seen[row[0]] = seen.get(row[0], 0) + 1
        (test if start <= seen[row[0]] <= stop else base).append(row)
    return base, test


def grouplens_text(rows):
    """A file as mku.sh writes it: sort -k 1,1n -k 2,2n, tab-separated."""
    return "".join("\t".join(map(str, r)) + "\n"
                   for r in sorted(rows, key=lambda r: (r[0], r[1])))


def id_pairs(data, matrix):
    coo = sp.coo_matrix(matrix)
    return set(zip(data.user_ids[coo.row].tolist(), data.item_ids[coo.col].tolist()))


def stamped(n_users=30, n_items=25, seed=0):
    """Interactions with timestamps: 5-8 likes per user at random times."""
    rng = np.random.default_rng(seed)
    matrix = low_rank_likes(n_users, n_items, rank=2, per_user=6, seed=seed)
    matrix.data[:] = 1.0
    times = matrix.copy().astype(np.float64)
    times.data = rng.integers(1_000, 2_000, times.nnz).astype(np.float64)
    return Interactions(matrix=matrix, user_ids=np.arange(100, 100 + n_users),
                        item_ids=np.arange(500, 500 + n_items), timestamps=times, name="toy")


# --------------------------------------------------------------------------- MovieLens official

@pytest.mark.parametrize("name", ["u1", "u3", "u5", "ua", "ub"])
def test_official_split_is_grouplens_script_line_by_line(tmp_path, name):
    rows = fake_ml100k(tmp_path / "ml")
    data = movielens.load(tmp_path / "ml", min_rating=4)
    split = make_split(data, "movielens-official", name=name, path=str(tmp_path / "ml"))
    base, test = mku(rows, name)
    liked_base = {(u, i) for u, i, r, _ in base if r >= 4}
    liked_test = {(u, i) for u, i, r, _ in test if r >= 4}
    base_users, base_items = {u for u, _ in liked_base}, {i for _, i in liked_base}
    kept = {(u, i) for u, i in liked_test if u in base_users and i in base_items}
    assert id_pairs(data, split.train) == liked_base
    assert id_pairs(data, split.test) == kept
    assert split.stats["test_dropped"] == len(liked_test) - len(kept)
    assert split.kind == "movielens_official" and split.options["name"] == name


def test_official_test_rows_count_ratings_per_user():
    users = np.array([3, 1, 3, 3, 1, 2] * 3)
    ua = official_test_rows(users, "ua")
    assert ua.all()
    many = np.repeat([7, 8], 25)[np.random.default_rng(0).permutation(50)]
    ua, ub = official_test_rows(many, "ua"), official_test_rows(many, "ub")
    assert not (ua & ub).any()
    for user in (7, 8):
        assert ua[many == user].sum() == 10 and ub[many == user].sum() == 10
        assert np.flatnonzero(ua[many == user]).max() < np.flatnonzero(ub[many == user]).min()
    assert official_test_rows(np.arange(10), "u2").nonzero()[0].tolist() == [2, 3]


def test_official_split_refuses_other_data_and_other_sources(tmp_path):
    fake_ml100k(tmp_path / "a", seed=0)
    fake_ml100k(tmp_path / "b", seed=1)
    data = movielens.load(tmp_path / "a")
    with pytest.raises(UserError, match="not the data set's; give the split the data set's path"):
        make_split(data, "movielens_official", name="u1", path=str(tmp_path / "b"))
    with pytest.raises(UserError, match="unknown name 'u6'"):
        make_split(data, "movielens_official", name="u6", path=str(tmp_path / "a"))
    with pytest.raises(UserError, match="splits the movielens-100k data set, not 'toy'"):
        make_split(stamped(), "movielens_official")


@pytest.mark.slow
def test_official_splits_equal_grouplens_files_byte_for_byte(request, monkeypatch,
                                                             tmp_path_factory):
    """The real u.data (recbole wheel via PyPI, cached): our folds written as mku.sh writes
    them have the sha256 of GroupLens' own u1.base ... ub.test."""
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("recsys-bench-movielens") if cache else tmp_path_factory.mktemp("ml")
    monkeypatch.setenv("RECSYS_BENCH_DATA", str(root))
    monkeypatch.setattr(movielens, "fetch_grouplens", lambda: (_ for _ in ()).throw(
        movielens.SourceUnavailable("offline")))
    try:
        raw = movielens.read_source()
    except movielens.SourceUnavailable as e:
        pytest.skip(f"cannot reach PyPI to fetch {movielens.RECBOLE_REQUIREMENT}: {e}")
    rows = [tuple(r) for r in raw.ratings.tolist()]
    assert hashlib.sha256(grouplens_text_unsorted(rows).encode()).hexdigest() == U_DATA_SHA256
    for name in ("u1", "u2", "u3", "u4", "u5", "ua", "ub"):
        test = official_test_rows(raw.ratings[:, 0], name)
        for suffix, chosen in (("base", ~test), ("test", test)):
            text = grouplens_text([rows[i] for i in np.flatnonzero(chosen)])
            assert hashlib.sha256(text.encode()).hexdigest() == OFFICIAL_SHA256[f"{name}.{suffix}"]
    data = movielens.to_interactions(raw, min_rating=4)
    split = make_split(data, "movielens_official", name="ua")
    assert split.stats["official_test_ratings"] == 9430


def grouplens_text_unsorted(rows):
    return "".join("\t".join(map(str, r)) + "\n" for r in rows)


# --------------------------------------------------------------------------- given splits

def test_given_grouplens_files_equal_the_official_split(tmp_path):
    rows = fake_ml100k(tmp_path / "ml")
    data = movielens.load(tmp_path / "ml")
    base, test = mku(rows, "u2")
    (tmp_path / "u2.base").write_text(grouplens_text(base))
    (tmp_path / "u2.test").write_text(grouplens_text(test))
    given = make_split(data, "given", train=str(tmp_path / "u2.base"),
                       test=str(tmp_path / "u2.test"))
    official = make_split(data, "movielens_official", name="u2", path=str(tmp_path / "ml"))
    assert given.fingerprint == official.fingerprint
    assert given.stats["test_rows"] == sum(r[2] >= 4 for r in test)
    assert given.stats["unassigned"] == 0


def toy_table(tmp_path, data, parts, name="split.csv", extra=()):
    """A csv of user_id,item_id,part from a dict part -> matrix, plus extra raw lines."""
    lines = ["user_id,item_id,part"]
    for part, matrix in parts.items():
        coo = sp.coo_matrix(matrix)
        lines += [f"{data.user_ids[r]},{data.item_ids[c]},{part}" for r, c in zip(coo.row, coo.col)]
    lines += list(extra)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_given_column_counts_unknown_ids_and_drops_unseen_test(tmp_path):
    data = stamped()
    reference = make_split(data, "leave_k_out", k=1, seed=3)
    # one test like of an item that no train row has: take an item, move all of its likes
    item = int(reference.test.indices[0])
    train = reference.train.tolil()
    moved = train[:, item].nonzero()[0]
    train[:, item] = 0
    train = sp.csr_matrix(train)
    test = reference.test.tolil()
    for user in moved:
        test[user, item] = 1.0
    test = sp.csr_matrix(test)
    path = toy_table(tmp_path, data, {"train": train, "test": test},
                     extra=["999,500,test", "100,999,train"])
    split = make_split(data, "given", file=str(path), column="part")
    unseen = int(sp.csr_matrix(test)[:, item].nnz)
    assert split.stats["test_rows_unknown"] == 1 and split.stats["train_rows_unknown"] == 1
    assert split.stats["test_items_unseen"] == 1 and split.stats["test_dropped"] == unseen
    assert (split.train != train).nnz == 0
    expected = test.tolil()
    expected[:, item] = 0
    assert (split.test != sp.csr_matrix(expected)).nnz == 0
    assert split.validation is None and split.stats["unassigned"] == 0


def test_given_validation_file_is_the_tuning_split(tmp_path):
    data = stamped()
    first = make_split(data, "leave_k_out", k=1, seed=0)
    second = make_split(first.train, "leave_k_out", k=1, seed=1)
    path = toy_table(tmp_path, data, {"train": second.train, "validation": second.test,
                                      "test": first.test})
    split = make_split(data, "given", file=str(path), column="part")
    tuning = split.for_validation()
    assert tuning.test.nnz + split.stats["validation_dropped"] == second.test.nnz
    assert (tuning.test.multiply(second.test) != tuning.test).nnz == 0
    assert split.test.nnz + split.stats["test_dropped"] == first.test.nnz
    assert (split.test.multiply(first.test) != split.test).nnz == 0
    assert set(tuning.users) <= set(second.users) and set(split.users) <= set(first.users)
    assert (tuning.train != split.train).nnz == 0 and tuning.validation is None
    assert load_split(save(tuning, tmp_path)).fingerprint == tuning.fingerprint != split.fingerprint
    again = load_split(save(split, tmp_path))
    assert again.fingerprint == split.fingerprint
    np.testing.assert_array_equal(again.validation_users, split.validation_users)


def save(split, tmp_path):
    path = tmp_path / "split.npz"
    save_split(split, path)
    return path


@pytest.mark.parametrize("lines, message", [
    (["user_id,item_id,part", "{pair},train", "{pair},test"], "in both the train and the test"),
    (["user_id,item_id,part", "1,2,train", "3,4,test"], "none of the 1 rows of the train part"),
    (["user_id,item_id,part", "100,500,sometimes"], "holds 'sometimes'"),
    (["user_id,part", "100,train"], "missing column.*item_id"),
    (["user_id,item_id,part", "abc,500,train"], "user id 'abc' is not a whole number"),
])
def test_given_files_that_do_not_fit_are_one_line_errors(tmp_path, lines, message):
    data = stamped()
    coo = sp.coo_matrix(data.matrix)
    pair = f"{data.user_ids[coo.row[0]]},{data.item_ids[coo.col[0]]}"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(line.format(pair=pair) for line in lines) + "\n")
    with pytest.raises(UserError, match=message):
        make_split(data, "given", file=str(path), column="part")


def test_given_pairs_that_are_not_interactions_name_the_first(tmp_path):
    data = stamped()
    missing = np.argwhere(data.matrix.toarray() == 0)[0]
    coo = sp.coo_matrix(data.matrix)
    lines = ["user_id,item_id", f"{data.user_ids[coo.row[0]]},{data.item_ids[coo.col[0]]}",
             f"{data.user_ids[missing[0]]},{data.item_ids[missing[1]]}"]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(UserError, match=r"1 train pairs are not interactions of data set toy "
                                        rf"\(first: user {data.user_ids[missing[0]]}"):
        make_split(data, "given", train=str(tmp_path / "train.csv"),
                   test=str(tmp_path / "test.csv"))
    with pytest.raises(UserError, match="given split file not found"):
        make_split(data, "given", train=str(tmp_path / "nope.csv"), test=str(tmp_path / "t.csv"))
    with pytest.raises(UserError, match="needs a data set"):
        make_split(data.matrix, "given", train="a", test="b")


# --------------------------------------------------------------------------- time cut

def test_time_cut_trains_on_the_past_and_drops_what_is_new_after_the_cut():
    data = stamped()
    cut = 1_600.0
    split = make_split(data, "time_cut", timestamp=cut)
    dense, times = data.matrix.toarray() > 0, data.timestamps.toarray()
    before, after = dense & (times < cut), dense & (times >= cut)
    users_seen, items_seen = before.any(axis=1), before.any(axis=0)
    kept = after & users_seen[:, None] & items_seen[None, :]
    np.testing.assert_array_equal(split.train.toarray() > 0, before)
    np.testing.assert_array_equal(split.test.toarray() > 0, kept)
    assert split.stats["test_dropped"] == int(after.sum() - kept.sum())
    assert split.stats["test_users_unseen"] == int((after.any(axis=1) & ~users_seen).sum())
    assert split.stats["test_items_unseen"] == int((after.any(axis=0) & ~items_seen).sum())
    assert split.stats["cut"] == cut


def test_time_cut_quantile_and_the_errors():
    data = stamped()
    split = make_split(data, "time_cut", quantile=0.7)
    stamps = data.timestamps.data
    assert split.stats["cut"] == np.quantile(stamps, 0.7, method="higher")
    assert abs(split.train.nnz / data.nnz - 0.7) < 0.05
    with pytest.raises(UserError, match="no interaction is before the cut 10"):
        make_split(data, "time_cut", timestamp=10)
    with pytest.raises(UserError, match="no interaction is at or after the cut 5000"):
        make_split(data, "time_cut", timestamp=5000)
    with pytest.raises(UserError, match="not both"):
        make_split(data, "time_cut", timestamp=1, quantile=0.5)
    with pytest.raises(UserError, match="needs interaction timestamps"):
        make_split(dataclasses.replace(data, timestamps=None), "time_cut")


def test_leave_last_k_out_is_temporal_under_a_clear_name():
    data = stamped()
    old = make_split(data, "temporal", k=2, seed=4)
    new = make_split(data, "leave-last-k-out", k=2, seed=4)
    assert old.fingerprint == new.fingerprint
    assert (old.kind, new.kind) == ("temporal", "leave_last_k_out")


# --------------------------------------------------------------------------- strong generalisation

def test_strong_generalization_holds_out_whole_users():
    matrix = low_rank_likes(200, 50, rank=3, per_user=10, seed=5)
    split = make_split(matrix, "strong_generalization", seed=2, test_users=0.1,
                       validation_users=0.15, holdout=0.2)
    heldout = np.union1d(split.users, split.validation_users)
    assert split.users.size == 20 and split.validation_users.size == 30
    assert np.intersect1d(split.users, split.validation_users).size == 0
    assert split.train[heldout].nnz == 0
    assert np.diff(split.train.indptr)[np.setdiff1d(np.arange(200), heldout)].min() == 10
    rebuilt = split.train + split.fold_in + split.test + split.validation
    assert (rebuilt != sp.csr_matrix(matrix)).nnz == 0
    assert (np.diff(split.test.indptr)[split.users] == 2).all()
    assert (np.diff(split.fold_in.indptr)[heldout] == 8).all()
    assert make_split(matrix, "strong_generalization", seed=2).fingerprint == \
        make_split(matrix, "strong_generalization", seed=2).fingerprint
    assert make_split(matrix, "strong_generalization", seed=3).fingerprint != split.fingerprint
    with pytest.raises(UserError, match="must be below 1"):
        make_split(matrix, "strong_generalization", test_users=0.5, validation_users=0.5)


def test_strong_generalization_drops_heldout_items_unseen_in_train(tmp_path):
    matrix = sp.lil_matrix(low_rank_likes(60, 20, rank=2, per_user=6, seed=1))
    matrix.resize(60, 21)
    split0 = make_split(sp.csr_matrix(matrix), "strong_generalization", seed=0,
                        validation_users=0)
    user = int(split0.users[0])
    matrix[user, 20] = 1.0
    split = make_split(sp.csr_matrix(matrix), "strong_generalization", seed=0,
                       validation_users=0)
    assert split.stats["heldout_items_unseen"] == 1 and split.stats["heldout_dropped"] == 1
    assert split.fold_in[:, 20].nnz == 0 and split.test[:, 20].nnz == 0
    assert split.validation is None
    loaded = load_split(save(split, tmp_path))
    assert loaded.fingerprint == split.fingerprint and loaded.stats == split.stats
    assert (loaded.fold_in != split.fold_in).nnz == 0


@pytest.fixture(scope="module")
def strong():
    matrix = low_rank_likes(150, 40, rank=3, per_user=10, seed=7)
    return make_split(matrix, "strong_generalization", seed=1, test_users=0.2,
                      validation_users=0.1)


def test_implicit_and_numpy_fold_in_agree(strong):
    params = {"factors": 6, "regularization": 0.1, "alpha": 2.0, "iterations": 2,
              "num_threads": 1, "random_state": 3}
    reference = models.get("numpy-als", **params)
    reference.fit(strong.train)
    fast = models.get("implicit-als", use_cg=False, **params)
    fast.fit(strong.train)
    history = strong.fold_in[strong.users]
    ours, theirs = fold_in(reference, history), fold_in(fast, history)
    exact = solve_exact(confidence(history, 2.0), fast.item_factors, 0.1)
    np.testing.assert_allclose(theirs.user_factors, exact, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.user_factors, theirs.user_factors, rtol=1e-2, atol=1e-4)
    scores = ours.scores(np.arange(len(strong.users)))
    assert scores.shape == (len(strong.users), 40)
    assert reference.user_factors.shape[0] == 150  # the fitted model is left as it was


@pytest.mark.parametrize("name", ["ease", "item-knn", "popularity"])
def test_natural_fold_in_scores_a_history_as_a_train_row(name, small_train):
    model = models.get(name)
    model.fit(small_train)
    users = np.array([0, 5, 9])
    folded = fold_in(model, small_train[users])
    np.testing.assert_allclose(folded.scores(np.arange(3)), model.scores(users), rtol=1e-6)


def test_models_without_fold_in_refuse(strong):
    model = models.get("lightfm-warp", no_components=4, epochs=1)
    model.fit(strong.train)
    with pytest.raises(UserError, match="lightfm-warp cannot score users it was not trained on"):
        evaluate(model, strong, k=5, metrics=("precision",))
    with pytest.raises(UserError, match="fit before folding"):
        fold_in(models.get("ease"), strong.fold_in)


def test_evaluate_folds_in_held_out_users(strong):
    model = models.get("ease", regularization=10.0)
    model.fit(strong.train)
    result = evaluate(model, strong, k=5, subsets=("test", "train"),
                      metrics=("precision", "recall"))
    history = strong.fold_in[strong.users].toarray()
    scores = history @ model._weights
    scores[history > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    truth = strong.test[strong.users].toarray() > 0
    hits = np.take_along_axis(truth, top, axis=1).sum(axis=1)
    np.testing.assert_allclose(result["test"].per_user["precision"], hits / 5)
    assert set(map(tuple, np.sort(result["test"].top, axis=1))) == set(map(tuple, np.sort(top, 1)))
    unexcluded = np.argsort(-(history @ model._weights), axis=1, kind="stable")[:, :5]
    given_hits = np.take_along_axis(history > 0, unexcluded, axis=1).sum(axis=1)
    np.testing.assert_allclose(result["train"].per_user["precision"], given_hits / 5)
    tuning = evaluate(model, strong.for_validation(), k=5, metrics=("precision",))
    assert len(tuning["test"].per_user["precision"]) == strong.validation_users.size


# --------------------------------------------------------------------------- config

@pytest.mark.parametrize("kind, options", [
    ("movielens_official", '{ name = "ua" }'), ("time_cut", "{ quantile = 0.8 }"),
    ("strong_generalization", "{ holdout = 0.2 }"), ("given", '{ train = "a", test = "b" }'),
    ("leave_last_k_out", "{ k = 1 }"),
])
def test_config_accepts_every_kind_and_checks_its_options(kind, options):
    text = f"""
[experiment]
name = "t"
[[datasets]]
name = "movielens-100k"
[split]
kind = "{kind}"
options = {options}
[[models]]
name = "popularity"
"""
    assert parse_config(text).split.kind == kind
    with pytest.raises(UserError, match="unknown option for split kind"):
        parse_config(text.replace("options = {", "options = { bogus = 1, "))


def test_given_sketchfab_files_in_the_crawler_dialect(tmp_path):
    from pathlib import Path

    from recsys_bench.datasets import sketchfab
    from recsys_bench.datasets.psv import write_psv
    fixture = Path(__file__).parent / "fixtures" / "sketchfab_quoting"
    data = sketchfab.load(fixture, min_user_likes=1, min_item_likes=1, features=False)
    reference = make_split(data, "leave_k_out", k=1, seed=0)
    paths = {}
    for part, matrix in (("train", reference.train), ("test", reference.test)):
        coo = sp.coo_matrix(matrix)
        paths[part] = tmp_path / f"{part}.psv"
        write_psv(paths[part], sketchfab.LIKES_HEADER,
                  [(f"name {c}", data.item_ids[c], data.user_ids[r])
                   for r, c in zip(coo.row, coo.col)])
    split = make_split(data, "given", train=str(paths["train"]), test=str(paths["test"]))
    assert (split.train != reference.train).nnz == 0
    assert split.test.nnz + split.stats["test_dropped"] == reference.test.nnz
    assert (split.test.multiply(reference.test) != split.test).nnz == 0
