"""Reading and preparing the data: PSV parsing, the full load, generation, thresholding, split."""

from __future__ import annotations

import pytest

from recsys_bench.datasets import sketchfab, sketchfab_synthetic
from recsys_bench.splits import user_holdout

pytestmark = pytest.mark.benchmark(group="data")


def test_parse_likes_psv(benchmark, sketchfab_folder):
    """The C csv reader over the 632,840-row likes file, into object columns."""
    path = sketchfab_folder / sketchfab.LIKES_FILE
    columns = benchmark.pedantic(sketchfab.read_psv, args=(path, sketchfab.LIKES_HEADER),
                                 rounds=3, iterations=1)
    benchmark.extra_info["rows"] = len(columns[0])


def test_load_sketchfab(benchmark, bench, sketchfab_folder):
    """Files to thresholded CSR with item features (performance target: <= 3 s)."""
    data = benchmark.pedantic(sketchfab.load, args=(sketchfab_folder,), rounds=3, iterations=1)
    benchmark.extra_info.update(users=data.n_users, items=data.n_items, likes=data.nnz)
    bench.record(benchmark, "median_s", bench.timed_median(benchmark), target=3.0, at_most=True)


def test_generate_synthetic_files(benchmark, bench, tmp_path):
    """Generating and writing both synthetic files at the real scale (target: <= 10 s)."""
    stats = benchmark.pedantic(sketchfab_synthetic.write, args=(tmp_path,), kwargs={"seed": 0},
                               rounds=1, iterations=1)
    benchmark.extra_info["like_rows"] = stats["like_rows"]
    bench.record(benchmark, "median_s", bench.timed_median(benchmark), target=10.0, at_most=True)


def test_threshold(benchmark, like_codes):
    """The iterative 5/5 k-core over the deduplicated likes."""
    keep = benchmark(sketchfab.threshold, like_codes.users, like_codes.items, 5, 5)
    benchmark.extra_info["kept_likes"] = int(keep.sum())


def test_user_holdout_split(benchmark, data):
    """The study's split of the thresholded matrix, fingerprint included."""
    split = benchmark(user_holdout, data.matrix, split_count=5, fraction=0.2, seed=0)
    benchmark.extra_info["evaluated_users"] = len(split.users)
