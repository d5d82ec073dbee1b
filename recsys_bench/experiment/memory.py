"""Peak-memory estimates of trials, and the memory budget the scheduler keeps to.

A trial's peak resident memory is estimated before it starts, from the sizes of its data set
(users, items, likes) and its model's parameters, as the sum of

* the process: an interpreter with the harness, NumPy, SciPy, pandas and the model libraries
  imported (:data:`PROCESS_BYTES`, measured on a worker);
* the data: the stored split read back (train and test as CSR, float32 values, int32 indices)
  and the item features;
* the model: what its fit holds at its peak, from the adapter's optional class method
  ``estimate_memory(n_users, n_items, nnz, params)`` (bytes), or a conservative default for
  adapters that declare none (:func:`default_model_bytes`);
* the evaluation: the evaluated users' factors, a few blocks of dense scores and the top-k lists.

The estimate is meant to be an upper bound within a small factor (tests check it against the
measured ``peak_rss_mb`` of real trials). :class:`~recsys_bench.experiment.scheduler.Scheduler`
never starts trials whose estimates together exceed the budget, and
:func:`recsys_bench.experiment.guard.check_trials` refuses, before any trial runs, a trial whose
estimate alone exceeds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recsys_bench.errors import UserError

MIB = 2**20
# Peak RSS of a worker that imported the harness and the model libraries, before any data
# (measured: ~165 MiB on CPython 3.11 with implicit 0.7.3; rounded up).
PROCESS_BYTES = 200 * MIB
# Bytes per stored like of one CSR matrix: float32 value + int32 column index.
_CSR_BYTES = 8
# What the default budget leaves to the rest of the machine.
MARGIN_FRACTION = 0.1
MARGIN_MIN = 512 * MIB

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Estimate:
    """A trial's estimated peak resident memory, by part, in bytes."""

    process: int
    data: int
    model: int
    evaluation: int

    @property
    def total(self) -> int:
        return self.process + self.data + self.model + self.evaluation

    def describe(self) -> str:
        """``"3.1 GB (data 1.2, model 1.4, evaluation 0.3, process 0.2)"``."""
        parts = ", ".join(f"{name} {getattr(self, name) / 1e9:.2g}"
                          for name in ("data", "model", "evaluation", "process"))
        return f"{gb(self.total)} ({parts})"


def gb(n_bytes: float) -> str:
    """Bytes as GB (10^9), three significant figures."""
    return f"{n_bytes / 1e9:.3g} GB"


def parse_size(text: str | int) -> int:
    """Bytes of a size such as ``8G``, ``512M``, ``1.5GB`` or ``4GiB`` (binary units: K = 1024).

    Raises
    ------
    UserError
        Not a positive size.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise UserError(f"--memory-budget: {text!r} is not a size; give e.g. 8G, 512M "
                            "or a number of bytes")
        number, unit = float(match.group(1)), match.group(2).lower()
        value = int(number * 1024 ** " kmgt".index(unit or " "))
    if value <= 0:
        raise UserError(f"--memory-budget must be positive, got {text!r}")
    return value


def available_bytes() -> int:
    """Memory the system can give without swapping (``MemAvailable``)."""
    from recsys_bench.models.ease import available_memory_bytes

    return available_memory_bytes()


@dataclass(frozen=True)
class Budget:
    """The memory trials running at once may use together, and where the figure came from."""

    bytes: int
    source: str

    @classmethod
    def of(cls, given: str | int | None) -> Budget:
        """The budget ``--memory-budget`` gives, or by default the available memory minus a
        margin (10%, at least 512 MiB), so the rest of the machine keeps room."""
        if given is not None:
            return cls(parse_size(given), "--memory-budget")
        available = available_bytes()
        margin = max(MARGIN_MIN, int(MARGIN_FRACTION * available))
        return cls(max(available - margin, MIB),
                   f"{gb(available)} available minus a {gb(margin)} margin")


def session_info(budget: Budget | None) -> dict:
    """The budget as a session of ``run.json`` records it."""
    if budget is None:
        return {}
    return {"memory_budget_bytes": budget.bytes, "memory_budget_source": budget.source}


def default_model_bytes(n_users: int, n_items: int, nnz: int) -> int:
    """A conservative estimate for adapters that declare none: four working copies of the
    train matrix (conversions, transposes, confidence weights) and 256 float32 factors per user
    and item."""
    return 4 * _CSR_BYTES * nnz + 4 * 4 * (n_users + n_items) + 256 * 4 * (n_users + n_items)


def model_bytes(model_class: type, n_users: int, n_items: int, nnz: int, params: dict) -> int:
    """The model's part: its ``estimate_memory`` if it declares one, else the default."""
    own = getattr(model_class, "estimate_memory", None)
    if own is None:
        return default_model_bytes(n_users, n_items, nnz)
    return int(own(n_users, n_items, nnz, params))


def data_bytes(n_users: int, n_items: int, likes: int, features_nnz: int = 0) -> int:
    """The split read back: train and test (together the likes) as CSR, their row pointers,
    the evaluated users, and the item features."""
    return (_CSR_BYTES * likes + 2 * 4 * (n_users + 1) + 8 * n_users
            + _CSR_BYTES * features_nnz + 4 * (n_items + 1))


def evaluation_bytes(n_users: int, n_items: int, k: int, factors: int, threads: int) -> int:
    """Evaluation buffers: the evaluated users' factors (float32), per thread a 16 MB block of
    scores with its partition copy, the top-k lists with and without exclusion and per-user
    metric values."""
    from recsys_bench.eval.topk import BLOCK_BYTES

    return (4 * n_users * factors + 3 * BLOCK_BYTES * max(1, threads)
            + 2 * 4 * n_users * k + 8 * 8 * n_users)


def estimate(model: str, params: dict, *, n_users: int, n_items: int, likes: int,
             train_likes: int | None = None, k: int = 10, threads: int = 1,
             features_nnz: int = 0, evaluated_users: int | None = None) -> Estimate:
    """The estimated peak memory of one trial of ``model`` with ``params`` on a data set of
    ``n_users`` users (``evaluated_users`` of them evaluated; default all)."""
    from recsys_bench import models

    train_likes = likes if train_likes is None else train_likes
    factors = params.get("factors", 0)
    factors = factors if isinstance(factors, int) and not isinstance(factors, bool) else 0
    return Estimate(
        process=PROCESS_BYTES,
        data=data_bytes(n_users, n_items, likes, features_nnz),
        model=model_bytes(models.model_class(model), n_users, n_items, train_likes, params),
        evaluation=evaluation_bytes(n_users if evaluated_users is None else evaluated_users,
                                    n_items, k, factors, threads))


def trial_estimate(trial) -> Estimate:
    """The estimate of a runner :class:`~recsys_bench.experiment.trial.Trial`."""
    return estimate(trial.model, trial.params, n_users=max(trial.all_users, trial.n_users),
                    n_items=trial.n_items, likes=trial.likes, train_likes=trial.train_likes,
                    k=trial.k, threads=trial.threads, evaluated_users=trial.n_users)


def check_fits(what: str, need: Estimate, budget: Budget) -> None:
    """UserError naming the memory a trial needs and what there is, when it cannot fit."""
    if need.total > budget.bytes:
        raise UserError(f"{what} needs about {need.describe()}, more than the memory budget "
                        f"of {gb(budget.bytes)} ({budget.source}); use a machine with more "
                        "memory, a smaller data set or --memory-budget")


__all__ = [
    "PROCESS_BYTES",
    "Budget",
    "Estimate",
    "available_bytes",
    "check_fits",
    "data_bytes",
    "default_model_bytes",
    "estimate",
    "evaluation_bytes",
    "gb",
    "model_bytes",
    "parse_size",
    "session_info",
    "trial_estimate",
]
