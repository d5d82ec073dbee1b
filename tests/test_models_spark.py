"""spark-als: conformance, Spark's objective checked exactly, the match with implicit at matched
settings, zero vectors for absent ids, the Java checks and the shared session.

Tests that start Spark skip, with the reason, when pyspark or a recent enough Java is missing.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_bench import splits
from recsys_bench.errors import UserError
from recsys_bench.eval.evaluation import evaluate
from recsys_bench.models import get, spark_als
from recsys_bench.models.spark_als import java_major, matched_regularization, spark_unavailable
from recsys_bench.testing import ConformanceSuite, low_rank_likes

UNAVAILABLE = spark_unavailable()
needs_spark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

# Short test fits are dominated by JIT warm-up: the client compiler alone halves them.
FAST_JVM = "--driver-java-options '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' pyspark-shell"


@pytest.fixture(scope="module", autouse=True)
def fast_test_jvm():
    """Start the test JVM with quick-to-warm options unless the caller chose their own."""
    previous = os.environ.get("PYSPARK_SUBMIT_ARGS")
    if previous is None:
        os.environ["PYSPARK_SUBMIT_ARGS"] = FAST_JVM
    yield
    if previous is None:
        os.environ.pop("PYSPARK_SUBMIT_ARGS", None)


@pytest.mark.slow
@needs_spark
class TestSparkALS(ConformanceSuite):
    model_name = "spark-als"
    params = {"factors": 4, "regularization": 0.01, "alpha": 10.0, "iterations": 3,
              "num_blocks": 2}
    checkerboard_params = {"factors": 2, "iterations": 8}
    bad_params = [{"factors": 0}, {"regularization": -1.0}, {"alpha": -1.0}, {"iterations": 0},
                  {"num_threads": -1}, {"random_state": "seed"}, {"spark_master": ""},
                  {"spark_master": 4}, {"nonnegative": "no"}, {"checkpoint_interval": 0},
                  {"num_blocks": 0}]


def user_step(train: sp.csr_matrix, items: np.ndarray, alpha: float, regularization: float,
              weighted: bool) -> np.ndarray:
    """Exact WRMF user factors given the item factors, in float64: ``c = 1 + alpha d`` and
    ``regularization * n_u`` (weighted) or ``regularization`` (plain) on the diagonal."""
    y = items.astype(np.float64)
    gram = y.T @ y
    out = np.zeros((train.shape[0], y.shape[1]))
    for u in range(train.shape[0]):
        cols = train.indices[train.indptr[u]:train.indptr[u + 1]]
        if cols.size == 0:
            continue
        d = train.data[train.indptr[u]:train.indptr[u + 1]].astype(np.float64)
        lam = regularization * (cols.size if weighted else 1.0)
        a = gram + (y[cols].T * (alpha * d)) @ y[cols] + lam * np.eye(y.shape[1])
        out[u] = np.linalg.solve(a, y[cols].T @ (1.0 + alpha * d))
    return out


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.slow
@needs_spark
def test_user_step_solves_the_count_weighted_objective(small_train):
    """Spark's last half-iteration solves the users given its item factors: its user factors are
    the exact minimiser with ``c = 1 + alpha d`` and ``regParam * n_u``, not implicit's plain
    lambda. Users and items without interactions get zero vectors."""
    train = sp.vstack([small_train, sp.csr_matrix((1, small_train.shape[1]))])
    train = sp.hstack([train, sp.csr_matrix((train.shape[0], 1))]).tocsr().astype(np.float32)
    assert (train.data == 2.0).any()
    model = get("spark-als", factors=4, regularization=0.05, alpha=10.0, iterations=2,
                num_threads=1, num_blocks=3)
    model.fit(train)
    users, items = model.factors()
    assert users.shape == (61, 4) and items.shape == (41, 4)
    assert not users[-1].any() and not items[-1].any()
    assert not model.scores(np.array([60])).any()
    weighted = user_step(train, items, 10.0, 0.05, weighted=True)
    plain = user_step(train, items, 10.0, 0.05, weighted=False)
    assert relative_error(users, weighted) < 1e-5
    assert relative_error(users, plain) > 1e-3


def test_matched_regularization_equalises_the_total_weight(small_train):
    lam = 0.3
    spark_reg = matched_regularization(small_train, lam)
    counts = np.concatenate([np.diff(small_train.indptr), np.diff(small_train.tocsc().indptr)])
    assert np.isclose(spark_reg * counts.sum(), lam * sum(small_train.shape))
    with pytest.raises(UserError, match="empty"):
        matched_regularization(sp.csr_matrix((3, 4)), lam)


@pytest.mark.slow
@needs_spark
def test_reaches_implicits_precision_at_matched_settings():
    """Same split, matched settings: spark-als and implicit-als (Cholesky) agree on p@5 within
    noise, and both beat popularity clearly."""
    split = splits.make_split(low_rank_likes(400, 150, rank=4, per_user=15, seed=5),
                              "leave_k_out", k=3, seed=0)
    lam = 0.1
    settings = dict(factors=10, alpha=5.0, iterations=10, num_threads=1)
    runs = {"implicit-als": get("implicit-als", regularization=lam, use_cg=False, **settings),
            "spark-als": get("spark-als", num_blocks=2, **settings,
                             regularization=matched_regularization(split.train, lam))}
    precision = {}
    for name, model in runs.items():
        model.fit(split.train)
        result = evaluate(model, split, k=5, metrics=("precision",))["test"]
        precision[name] = result.per_user["precision"]
    popularity = get("popularity")
    popularity.fit(split.train)
    floor = evaluate(popularity, split, k=5, metrics=("precision",))["test"].means["precision"]
    diff = precision["spark-als"] - precision["implicit-als"]
    noise = diff.std(ddof=1) / np.sqrt(diff.size)
    means = {name: float(p.mean()) for name, p in precision.items()}
    assert min(means.values()) > floor + 0.03, (means, floor)
    assert abs(diff.mean()) <= max(2.5 * noise, 0.01), (means, noise)


def fake_java(folder, version_line: str) -> str:
    """A ``bin/java`` under ``folder`` that prints ``version_line`` like ``java -version``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return str(java)


def test_java_version_is_read_old_and_new_style(tmp_path):
    assert java_major(fake_java(tmp_path / "a", 'java version "1.8.0_392"')) == 8
    assert java_major(fake_java(tmp_path / "b", 'openjdk version "17.0.15" 2025-04-15')) == 17
    assert java_major(fake_java(tmp_path / "c", 'openjdk version "21" 2023-09-19')) == 21
    assert java_major(fake_java(tmp_path / "d", "no version here")) is None
    assert java_major(str(tmp_path / "missing")) is None


def test_missing_or_old_java_is_a_clear_reason(tmp_path, monkeypatch):
    if spark_als.pyspark_version() is None:
        pytest.skip(UNAVAILABLE)
    fake_java(tmp_path / "old", 'java version "1.7.0_80"')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "old"))
    assert "is Java 7: install OpenJDK" in spark_unavailable()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nothing"))
    assert "no $JAVA_HOME/bin/java: install a JDK" in spark_unavailable()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "no java on PATH" in spark_unavailable()


def test_missing_pyspark_is_a_clear_reason(monkeypatch):
    monkeypatch.setattr(spark_als, "pyspark_version", lambda: None)
    assert "pip install 'recsys-bench[spark]'" in spark_unavailable()


def test_fit_without_java_is_a_user_error(small_train, tmp_path, monkeypatch):
    if spark_als.pyspark_version() is None:
        pytest.skip(UNAVAILABLE)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    model = get("spark-als", factors=2, iterations=1, spark_master="local[3]")
    with pytest.raises(UserError, match="needs Java"):
        model.fit(small_train)


def test_master_follows_num_threads_unless_given():
    assert get("spark-als", num_threads=2).master() == "local[2]"
    assert get("spark-als", num_threads=0).master() == f"local[{os.cpu_count()}]"
    assert get("spark-als", num_threads=2, spark_master="spark://h:7077").master() == \
        "spark://h:7077"
    assert get("spark-als", epochs=4).params["iterations"] == 4
    assert not get("spark-als").supports_continue


@pytest.mark.slow
@needs_spark
def test_session_is_shared_local_and_closed(small_train):
    """One session per master, UI off and on loopback, checkpoints in its own folder; ``close``
    stops it and removes the folder; fitted models keep scoring; the next fit starts a new
    session. Also runs the non-negative solver on two cores."""
    params = dict(factors=2, iterations=1, num_threads=1, num_blocks=2)
    first = get("spark-als", **params, checkpoint_interval=1)
    second = get("spark-als", **params)
    first.fit(small_train)
    session = spark_als.spark_session("local[1]")
    second.fit(small_train)
    assert spark_als.spark_session("local[1]") is session
    conf = session.sparkContext.getConf()
    assert session.sparkContext.master == "local[1]"
    assert conf.get("spark.ui.enabled") == "false"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert session.sparkContext.getCheckpointDir() is not None
    folder = spark_als._state["checkpoints"]
    assert os.path.isdir(folder) and os.listdir(folder)
    first.close()
    assert spark_als._state["session"] is None and not os.path.exists(folder)
    scores = first.scores(np.arange(5))
    assert scores.shape == (5, small_train.shape[1]) and np.isfinite(scores).all()
    other = get("spark-als", **{**params, "num_threads": 2, "nonnegative": True})
    other.fit(small_train)
    assert spark_als.spark_session("local[2]").sparkContext.master == "local[2]"
    assert all((f >= 0).all() for f in other.factors())
    other.close()
