"""Memory-aware scheduling: estimates before trials start, the budget the scheduler keeps to,
the refusal of a trial that cannot fit, and the estimate against a measured peak."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recsys_bench.errors import UserError
from recsys_bench.experiment import memory, runner
from recsys_bench.experiment.executors import Done, Task
from recsys_bench.experiment.scheduler import Job, Scheduler

GB = 10**9

CONFIG = """
[experiment]
name = "memory"
description = "one implicit-als trial whose peak memory is measured"

[[datasets]]
name = "synthetic"
options = {{ n_users = {users}, n_items = {items}, nnz = {likes}, seed = 0 }}

[split]
kind = "user_holdout"
seeds = [0]
options = {{ split_count = 5, fraction = 0.2 }}

[evaluation]
k = 10
metrics = ["precision", "recall", "ndcg"]
subsets = ["test"]
checkpoints = [1, 2]

[timing]
warmup = 0
repeats = 1
timeout_s = 300

[[models]]
name = "implicit-als"
params = {{ factors = 64, regularization = 0.1, alpha = 10 }}
"""


def write_config(tmp_path, users=30_000, items=6_000, likes=1_500_000):
    path = tmp_path / "memory.toml"
    path.write_text(CONFIG.format(users=users, items=items, likes=likes))
    return path


@pytest.mark.parametrize("text, expected", [("8G", 8 * 2**30), ("512M", 512 * 2**20),
                                            ("1.5GB", int(1.5 * 2**30)), ("4GiB", 4 * 2**30),
                                            ("1000", 1000), (2048, 2048)])
def test_sizes_parse_in_binary_units(text, expected):
    assert memory.parse_size(text) == expected


@pytest.mark.parametrize("text", ["eight", "8X", "-1G", "0", ""])
def test_a_bad_size_is_one_line(text):
    with pytest.raises(UserError, match="memory-budget"):
        memory.parse_size(text)


def test_the_default_budget_leaves_a_margin(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 20 * GB)
    budget = memory.Budget.of(None)
    assert budget.bytes == 18 * GB and "margin" in budget.source
    assert memory.Budget.of("1G").bytes == 2**30


def test_estimates_grow_with_the_data_and_the_factors():
    small = memory.estimate("implicit-als", {"factors": 64}, n_users=10_000, n_items=2_000,
                            likes=100_000)
    more = memory.estimate("implicit-als", {"factors": 64}, n_users=10_000, n_items=2_000,
                           likes=1_000_000)
    wider = memory.estimate("implicit-als", {"factors": 256}, n_users=10_000, n_items=2_000,
                            likes=100_000)
    assert more.data > small.data and more.model > small.model
    assert wider.model > small.model and wider.evaluation > small.evaluation
    ease = memory.estimate("ease", {}, n_users=10_000, n_items=20_000, likes=100_000)
    assert ease.model >= 12 * 20_000**2                      # its items x items matrices
    default = memory.estimate("popularity", {}, n_users=10_000, n_items=2_000, likes=100_000)
    assert default.model == memory.default_model_bytes(10_000, 2_000, 100_000)


class _Pool:
    """An executor that finishes one job per wait, oldest first, and records overlaps."""

    name = "fake"

    def __init__(self):
        self.running: list[str] = []
        self.most = 0

    def budget(self) -> int:
        return 8

    def start(self, task: Task) -> None:
        self.running.append(task.trial_id)
        self.most = max(self.most, len(self.running))

    def wait(self, timeout: float) -> list[Done]:
        return [Done(self.running.pop(0), result=None)] if self.running else []

    def cancel(self, trial_id: str) -> str:
        return "cancelled"


def _jobs(sizes):
    return [Job(Task(f"t{i}", print, ()), threads=1, memory_bytes=size)
            for i, size in enumerate(sizes)]


@pytest.mark.parametrize("budget, most", [(5 * GB, 1), (7 * GB, 2), (None, 4)])
def test_the_scheduler_never_starts_jobs_over_the_budget_together(budget, most):
    pool, done = _Pool(), []
    scheduler = Scheduler(pool, max_workers=4, on_done=lambda r, _: done.append(r.job.key),
                          on_lost=lambda *a: None, memory_budget=budget)
    scheduler.run(iter(_jobs([3 * GB] * 4)))
    assert pool.most == most and sorted(done) == ["t0", "t1", "t2", "t3"]


def test_small_jobs_fill_the_room_a_big_one_leaves():
    pool = _Pool()
    starts = []
    original = pool.start

    def start(task):
        starts.append((task.trial_id, list(pool.running)))
        original(task)

    pool.start = start
    Scheduler(pool, max_workers=3, on_done=lambda *a: None, on_lost=lambda *a: None,
              memory_budget=6 * GB).run(iter(_jobs([5 * GB, 1 * GB, 4 * GB])))
    assert starts == [("t0", []), ("t1", ["t0"]), ("t2", ["t1"])]


def test_a_trial_over_the_budget_is_refused_before_any_trial(tmp_path):
    config = write_config(tmp_path, users=2_000, items=500, likes=20_000)
    out = tmp_path / "out"
    with pytest.raises(UserError) as error:
        runner.run(config, out, quiet=True, memory_budget="100M")
    message = error.value.message
    assert "implicit-als" in message and "needs about 0." in message
    assert "more than the memory budget of 0.105 GB (--memory-budget)" in message
    assert not (out / "trials").exists()


def test_the_estimate_bounds_the_measured_peak_within_2x(tmp_path):
    """A real trial in a fresh worker: 1.5M likes, implicit-als f=64, two checkpoints. The
    estimate is meant as an upper bound within a factor 2 of the measured peak RSS."""
    out = runner.run(write_config(tmp_path), tmp_path / "out", quiet=True, workers=1,
                     memory_budget="4G")
    table = pd.read_csv(out / "results.csv")
    assert (table["status"] == "ok").all()
    measured = table["peak_rss_mb"].iloc[0] * 2**20
    meta = json.loads(next((out / "splits").glob("*.json")).read_text())
    estimate = memory.estimate("implicit-als", {"factors": 64}, n_users=meta["users"],
                               n_items=meta["items"], likes=meta["likes"],
                               train_likes=int(table["train_likes"].iloc[0]), k=10,
                               evaluated_users=int(table["n_users"].iloc[0]))
    assert measured <= estimate.total <= 2 * measured, (estimate.describe(), measured / 1e9)
    session = json.loads((out / "run.json").read_text())["sessions"][-1]
    assert session["memory_budget_bytes"] == 4 * 2**30
