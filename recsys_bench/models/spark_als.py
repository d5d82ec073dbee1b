r"""`spark-als`: Spark MLlib's implicit-feedback ALS behind the harness protocol.

``pyspark.ml.recommendation.ALS(implicitPrefs=True)`` fits the train matrix, handed to Spark as a
``(user, item, rating)`` DataFrame built from the CSR arrays through Arrow; the factors come back as
NumPy arrays, and the shared top-k and metrics score them like every other model.

What Spark's implicit ALS minimises (``ALS.computeFactors`` in ``ml/recommendation/ALS.scala``):
each observation adds ``c1 = alpha * |r|`` to the weight of ``y y^T`` and ``1 + c1`` to the
right-hand side, the Gram matrix ``Y^T Y`` of all factors is added once, and the system is solved
(Cholesky, in double precision) with ``numExplicits * regParam`` on the diagonal, where
``numExplicits`` counts the row's ratings ``> 0``. That is

.. math::

    L = \sum_{u,i} c_{ui} (p_{ui} - x_u^T y_i)^2
        + \lambda_S \Big(\sum_u n_u \|x_u\|^2 + \sum_i n_i \|y_i\|^2\Big),
    \qquad c_{ui} = 1 + \alpha d_{ui},

the study's WRMF with the same confidence ``c = 1 + alpha * d`` (so ``alpha`` passes through
unchanged), but with the regularisation of every user and item weighted by its number of
interactions ``n`` (the "weighted-lambda" of ALS-WR, Zhou et al. 2008), where ``implicit-als`` and
``numpy-als`` use one plain ``lambda``. A single ``regParam`` can reproduce a plain ``lambda`` only
when every user and item has the same count, so the adapter passes ``regularization`` to Spark
unchanged and offers :func:`matched_regularization`, the ``regParam`` with the same total
regularisation weight as a plain ``lambda`` on a given matrix, for comparisons at matched settings.

Other differences from implicit: Spark solves items first, then users, in each iteration; it starts
from random unit-length Gaussian factors (seeds do not carry over); users and items without
interactions get no factors from Spark and zero vectors here; Spark cannot start from given factors,
so ``supports_continue`` is False and learning curves refit.

The JVM: one ``SparkSession`` per process, started lazily by the first fit, reused by every model
with the same master and stopped at interpreter exit or by :func:`stop_session` (``close()``). A
``local[N]`` session has its UI off, binds to the loopback interface, uses ``N`` shuffle partitions
and a temporary checkpoint folder (removed when it stops). Before the JVM starts, the Java that
Spark will use (``$JAVA_HOME/bin/java``, else ``java`` on ``PATH``) is checked; a missing or too
old Java is a :class:`~recsys_bench.errors.UserError` saying what to install.
"""

from __future__ import annotations

import atexit
import gc
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from contextlib import contextmanager
from typing import Any, ClassVar, Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_bench.errors import UserError
from recsys_bench.models._als import check_als_params
from recsys_bench.models.base import FactorModel, check_epochs, is_int
from recsys_bench.protocol import Capabilities
from recsys_bench.threads import resolve_threads

# pyspark major version -> least Java major version it runs on (Spark 3.x: 8/11/17; 4.x: 17/21)
MIN_JAVA = {3: 8, 4: 17}

_state: dict[str, Any] = {"session": None, "master": None, "owned": False, "checkpoints": None,
                          "atexit": False}


def pyspark_version() -> str | None:
    """The installed pyspark version, or None when pyspark is not installed."""
    try:
        import pyspark
    except ImportError:
        return None
    return pyspark.__version__


def java_executable() -> str | None:
    """The ``java`` Spark's launcher runs: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else
    ``java`` on ``PATH``; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """Major version of the ``java`` executable (``1.8.0_392`` -> 8, ``17.0.15`` -> 17), from
    ``java -version``; None when it cannot be run or read."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def spark_unavailable() -> str | None:
    """Why Spark cannot start here (pyspark missing, no Java, Java too old), or None when it can.

    The tests skip with this reason; :func:`spark_session` raises it as a ``UserError``.
    """
    version = pyspark_version()
    if version is None:
        return ("spark-als needs pyspark: install the extra with "
                "`pip install 'recsys-bench[spark]'` (or `pip install pyspark`)")
    spark_major = int(version.split(".")[0])
    need = MIN_JAVA.get(spark_major, max(MIN_JAVA.values()))
    java = java_executable()
    where = "$JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
    if java is None:
        return (f"spark-als needs Java {need} or newer for pyspark {version}, but there is no "
                f"{where}: install a JDK (e.g. OpenJDK {need}) and set JAVA_HOME or PATH")
    major = java_major(java)
    if major is None:
        return f"spark-als could not read the version of {java} (`{java} -version` failed)"
    if major < need:
        return (f"spark-als needs Java {need} or newer for pyspark {version}, but {java} is "
                f"Java {major}: install OpenJDK {need} (or newer) and point JAVA_HOME at it")
    return None


@contextmanager
def _quiet_pandas_warning() -> Iterator[None]:
    # pyspark 4.x warns on every Arrow conversion that it does not fully support pandas >= 3 (and
    # pandas 3 about a keyword pyspark passes); the adapter converts only flat int/float columns
    # and float-array columns, which the tests check.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not yet fully support pandas")
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        yield


def spark_session(master: str):
    """The process's ``SparkSession`` for ``master``, started on first use.

    A running session with the same master is reused; one with another master that this module
    started is stopped first. A session started elsewhere in the process is reused when its master
    matches and is otherwise an error (Spark allows one context per process).
    """
    session = _state["session"]
    if session is not None and _state["master"] == master and not _stopped(session):
        return session
    problem = spark_unavailable()
    if problem is not None:
        raise UserError(problem)
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None and not _state["owned"]:
        if active.master != master:
            raise UserError(f"spark-als: a SparkContext with master {active.master!r} is already "
                            f"running in this process; give spark_master={active.master!r} or "
                            "stop it first")
        from pyspark.sql import SparkSession
        _state.update(session=SparkSession(active), master=master, owned=False)
        return _state["session"]
    stop_session()
    _state.update(session=_start(master), master=master, owned=True)
    if not _state["atexit"]:
        atexit.register(stop_session)
        _state["atexit"] = True
    return _state["session"]


def _stopped(session) -> bool:
    return session.sparkContext._jsc is None


def _start(master: str):
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName("recsys-bench")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    local = re.fullmatch(r"local(\[(\d+|\*)(,\d+)?\])?", master)
    if local:
        threads = local.group(2)
        partitions = (os.cpu_count() or 1) if threads in (None, "*") else int(threads)
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", str(max(partitions, 1)))
                   .config("spark.locality.wait", "0"))
    try:
        with _quiet_pandas_warning():
            session = builder.getOrCreate()
    except Exception as error:  # py4j and the launcher raise many types; report the first line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"spark-als: could not start Spark with master {master!r}: {first}")
    session.sparkContext.setLogLevel("ERROR")
    if local:
        _state["checkpoints"] = tempfile.mkdtemp(prefix="recsys-bench-spark-")
        session.sparkContext.setCheckpointDir(_state["checkpoints"])
    return session


def stop_session() -> None:
    """Stop the SparkSession this module started (if any) and remove its checkpoint folder.

    Fitted models keep working: their factors are NumPy arrays. The next fit starts a new session.
    """
    session, owned = _state["session"], _state["owned"]
    _state.update(session=None, master=None, owned=False)
    if session is not None and owned:
        session.stop()
    if _state["checkpoints"] is not None:
        shutil.rmtree(_state["checkpoints"], ignore_errors=True)
        _state["checkpoints"] = None


def matched_regularization(train: sp.spmatrix, regularization: float) -> float:
    """The Spark ``regParam`` whose total regularisation weight equals a plain ``lambda``'s.

    Spark weights each user's and item's penalty by its count, ``regParam * n``, summing to
    ``regParam * 2 nnz`` over users and items; a plain ``lambda`` sums to
    ``lambda * (n_users + n_items)``. Equal totals give ``regParam = lambda (n_users + n_items) /
    (2 nnz)``. Exact when every user and item has the same count; otherwise Spark regularises
    heavy users and items more, and light ones less, than implicit with this ``lambda``.
    """
    n_users, n_items = train.shape
    nnz = sp.csr_matrix(train).count_nonzero()
    if nnz == 0:
        raise UserError("matched_regularization: the train matrix is empty")
    return float(regularization) * (n_users + n_items) / (2.0 * nnz)


class SparkALS(FactorModel):
    """Spark MLlib's ``ALS(implicitPrefs=True)`` behind the harness protocol.

    Parameters
    ----------
    factors : int
        Latent dimension (Spark's ``rank``).
    regularization : float
        Spark's ``regParam`` (>= 0): each user's and item's penalty is ``regularization * n`` with
        ``n`` its interaction count, unlike implicit's plain lambda (see the module docstring and
        :func:`matched_regularization`).
    alpha : float
        The study's confidence slope, ``c = 1 + alpha * d``: Spark's own ``alpha``, passed as is.
    iterations : int
        Spark's ``maxIter``; alias ``epochs``. One iteration solves all items, then all users.
    num_threads : int
        Cores of the default ``local[N]`` master (0 = all cores); ignored when ``spark_master``
        is given.
    spark_master : str or None
        Spark master URL; None means ``local[N]`` with ``N`` from ``num_threads``. Any cluster URL
        (``spark://...``, ``yarn``, ``k8s://...``) works; its configuration (memory, checkpoint
        folder) comes from the usual Spark settings.
    random_state : int or None
        Spark's ``seed`` (None: a random one).
    nonnegative : bool
        Non-negative least squares (Spark's NNLS solver) instead of Cholesky.
    checkpoint_interval : int
        Checkpoint the item factors every this many iterations (-1: never), which truncates the
        lineage of long fits; local sessions checkpoint to a temporary folder.
    num_blocks : int
        Spark's ``numUserBlocks`` and ``numItemBlocks`` (default 10, Spark's): the parallel tasks
        of each half-iteration.
    """

    name: ClassVar[str] = "spark-als"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15, "num_threads": 0,
        "spark_master": None, "random_state": 0, "nonnegative": False, "checkpoint_interval": 10,
        "num_blocks": 10,
    }
    aliases: ClassVar[dict[str, str]] = {"epochs": "iterations"}
    capabilities: ClassVar[Capabilities] = Capabilities(factors=True, item_vectors=True)
    # The fit runs in the JVM: this process's CPU time would miss it (no fit_cpu_seconds).
    cpu_time_elsewhere: ClassVar[bool] = True

    def validate(self) -> None:
        check_als_params(self)
        p = self.params
        self.require(p["spark_master"] is None
                     or (isinstance(p["spark_master"], str) and p["spark_master"].strip() != ""),
                     f"spark_master must be a Spark master URL such as 'local[4]' or "
                     f"'spark://host:7077', got {p['spark_master']!r}")
        self.require(isinstance(p["nonnegative"], (bool, np.bool_)),
                     f"nonnegative must be true or false, got {p['nonnegative']!r}")
        self.require(is_int(p["checkpoint_interval"])
                     and (p["checkpoint_interval"] >= 1 or p["checkpoint_interval"] == -1),
                     f"checkpoint_interval must be an integer >= 1 or -1 (never), got "
                     f"{p['checkpoint_interval']!r}")
        self.require(is_int(p["num_blocks"]) and p["num_blocks"] >= 1,
                     f"num_blocks must be an integer >= 1, got {p['num_blocks']!r}")

    def master(self) -> str:
        """The Spark master URL this model fits on."""
        if self.params["spark_master"] is not None:
            return self.params["spark_master"].strip()
        return f"local[{resolve_threads(self.params['num_threads'])}]"

    def fit(self, train: sp.csr_matrix, *, item_features: sp.csr_matrix | None = None,
            epochs: int | None = None) -> None:
        """Train from scratch on ``train`` (item features are ignored: WRMF does not use them)."""
        train = self.check_train(train, item_features)
        epochs = check_epochs(self, self.params["iterations"] if epochs is None else epochs)
        p = self.params
        seed = p["random_state"]
        if seed is None:
            seed = int(np.random.default_rng().integers(2**62))
        spark = spark_session(self.master())
        from pyspark.ml.recommendation import ALS

        ratings = ratings_frame(spark, train)
        als = ALS(rank=p["factors"], maxIter=epochs, regParam=float(p["regularization"]),
                  alpha=float(p["alpha"]), implicitPrefs=True, nonnegative=bool(p["nonnegative"]),
                  checkpointInterval=p["checkpoint_interval"], seed=int(seed),
                  numUserBlocks=p["num_blocks"], numItemBlocks=p["num_blocks"],
                  userCol="user", itemCol="item", ratingCol="rating")
        cached_before = set(persistent_rdds(spark))
        with _quiet_pandas_warning():
            model = als.fit(ratings)
        self.user_factors = collect_factors(model.userFactors, train.shape[0], p["factors"])
        self.item_factors = collect_factors(model.itemFactors, train.shape[1], p["factors"])
        for key, rdd in persistent_rdds(spark).items():
            if key not in cached_before:
                rdd.unpersist(False)
        # pyspark's wrappers form reference cycles that keep the JVM model, and through its
        # lineage the whole input, alive until Python's cycle collector runs: 100 MB or more of
        # driver heap per fit at the Sketchfab scale, enough to exhaust Spark's default 1 GB.
        del model, ratings, als
        gc.collect()
        self.epochs_done = epochs

    def close(self) -> None:
        """Stop the shared SparkSession (see :func:`stop_session`); fitted factors stay usable."""
        stop_session()


def persistent_rdds(spark) -> dict:
    """The JVM's cached RDDs by id (Spark keeps a model's factor RDDs cached while it lives; the
    adapter unpersists what a fit cached once the factors are collected)."""
    return dict(spark.sparkContext._jsc.getPersistentRDDs().items())


def ratings_frame(spark, train: sp.csr_matrix):
    """``train``'s stored non-zero cells as a Spark DataFrame ``(user int, item int, rating
    float)``, converted column-wise through Arrow (no per-row Python objects)."""
    coo = train.tocoo()
    keep = coo.data != 0
    frame = pd.DataFrame({"user": coo.row[keep].astype(np.int32),
                          "item": coo.col[keep].astype(np.int32),
                          "rating": coo.data[keep].astype(np.float32)})
    with _quiet_pandas_warning():
        return spark.createDataFrame(frame, schema="user int, item int, rating float")


def collect_factors(frame, n_rows: int, rank: int) -> np.ndarray:
    """Spark's ``(id, features)`` factor DataFrame as a float32 ``n_rows x rank`` array, each row
    at its id; ids Spark has no factors for (no interactions) get zero vectors."""
    with _quiet_pandas_warning():
        table = frame.select("id", "features").toPandas()
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if len(table):
        out[table["id"].to_numpy(dtype=np.int64)] = np.stack(table["features"].to_numpy())
    return out
