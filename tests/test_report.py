"""The report of a hand-made run folder: choices, intervals, tests, tables and figures.

The fake run has two data sets (``toy`` with three split seeds, ``toy-large`` with one), an ALS
grid run at one and two threads, LightFM at two threads only, a popularity baseline and one failed
trial. Every trial's top-k lists are drawn with a known share of test hits, and its table rows are
computed from those lists, so the table, ``raw/`` and ``splits/`` agree as in a real run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats as sps

from recsys_bench import fileio
from recsys_bench.analysis import plots
from recsys_bench.analysis.plots import loglog_slope, pareto_front
from recsys_bench.analysis.report import write_report
from recsys_bench.errors import UserError
from recsys_bench.eval.stats import holm
from recsys_bench.splits import make_split, save_split
from recsys_bench.store import table as store

K = 3
EPOCHS = (2, 4, 6)
# (model, params, threads) -> hit probability per epoch (epoch 0: models without epochs)
QUALITY = {
    ("implicit-als", '{"factors": 8}', 1): {2: 0.4, 4: 0.8, 6: 0.7},
    ("implicit-als", '{"factors": 8}', 2): {2: 0.4, 4: 0.8, 6: 0.7},
    ("implicit-als", '{"factors": 4}', 1): {2: 0.2, 4: 0.3, 6: 0.35},
    ("lightfm-warp", '{"no_components": 8}', 2): {2: 0.1, 4: 0.3, 6: 0.5},
    ("popularity", "{}", 1): {0: 0.25},
}
EPOCH_SECONDS = {("implicit-als", 1): 0.2, ("implicit-als", 2): 0.12, ("lightfm-warp", 2): 0.5,
                 ("popularity", 1): 0.01}
DATASETS = {"toy": (60, 40, 10, (0, 1, 2)), "toy-large": (120, 40, 15, (0,))}


def _likes(n_users: int, n_items: int, per_user: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    cols = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user)
    return sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols.ravel())),
                         shape=(n_users, n_items))


def _top(split, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Top-k lists whose number of test hits per user is Binomial(K, quality)."""
    truth = split.test[split.users]
    top = np.empty((len(split.users), K), np.int32)
    for row in range(len(split.users)):
        liked = truth.indices[truth.indptr[row]:truth.indptr[row + 1]]
        n_hits = min(rng.binomial(K, quality), liked.size)
        others = np.setdiff1d(np.arange(truth.shape[1]), liked)
        top[row] = np.concatenate([rng.choice(liked, n_hits, replace=False),
                                   rng.choice(others, K - n_hits, replace=False)])
    return top


def _per_user_precision(split, top: np.ndarray) -> np.ndarray:
    truth = split.test[split.users].toarray().astype(bool)
    return truth[np.arange(len(top))[:, None], top].sum(axis=1) / K


def _build_run(run_dir) -> dict:
    """Write a consistent fake run folder; return per-user precisions for the hand checks."""
    (run_dir / "splits").mkdir(parents=True)
    (run_dir / "splits" / "toy.json").write_text('{"features": 1234}')
    rows, per_user = [], {}
    for d, (dataset, (n_users, n_items, per, seeds)) in enumerate(DATASETS.items()):
        matrix = _likes(n_users, n_items, per, seed=d)
        for seed in seeds:
            split = make_split(matrix, "user_holdout", seed=seed, split_count=K, fraction=0.5)
            save_split(split, run_dir / "splits" / f"{dataset}-seed{seed}.npz")
            for (model, params, threads), quality in QUALITY.items():
                if dataset == "toy-large" and model != "implicit-als":
                    continue
                key = json.dumps([dataset, split.fingerprint, model, params, threads])
                trial = hashlib.sha256(key.encode()).hexdigest()[:16]
                rng = np.random.default_rng([d, seed, len(params), threads])
                raw = {"users": split.users.astype(np.int64)}
                seconds = EPOCH_SECONDS[model, threads] * (2.0 if dataset == "toy-large" else 1.0)
                for epoch, q in quality.items():
                    top = _top(split, q, rng)
                    raw[f"top_test_e{epoch}"] = top
                    raw[f"top_train_e{epoch}"] = top[:, ::-1].copy()
                    precision = _per_user_precision(split, top)
                    per_user[dataset, seed, model, params, threads, epoch] = precision
                    for subset in ("test", "train"):
                        rows.append(dict(
                            dataset=dataset, split_kind="user_holdout",
                            split_fingerprint=split.fingerprint, seed=seed, model=model,
                            params=params, trial_id=trial, threads=threads, epoch=epoch,
                            subset=subset, k=K, exclude_train=False,
                            precision_at_k=precision.mean() if subset == "test" else q + 0.1,
                            recall_at_k=precision.mean(), ndcg_at_k=0.5, map_at_k=0.4,
                            hit_rate_at_k=0.6, auc=0.9, coverage_at_k=0.3,
                            mse=(0.02 - 0.001 * epoch) if model == "implicit-als" else np.nan,
                            fit_seconds=seconds * max(epoch, 1), epoch_seconds=seconds,
                            eval_seconds=0.05, recommend_users_per_s=1000.0 * threads,
                            n_users=len(split.users), status="ok", error=""))
                fileio.atomic_save_npz(run_dir / "raw" / f"{trial}.npz", raw)
    rows.append(dict(dataset="toy", seed=0, model="ease", params='{"l2": 500.0}',
                     trial_id="f" * 16, threads=1, epoch=-1, subset="", k=K, n_users=0,
                     status="failed", error="MemoryError: cannot allocate 8 GiB"))
    store.write_table(pd.DataFrame(rows), run_dir)
    (run_dir / "config.toml").write_text('[experiment]\nname = "fake-grid"\n'
                                         'description = "a hand-made run"\n')
    fileio.atomic_write_json(run_dir / "run.json", {
        "experiment": "fake-grid", "started_at": "2024-01-01T00:00:00+00:00",
        "ended_at": "2024-01-01T01:00:00+00:00", "status": "complete",
        "git": {"commit": "0123456789abcdef", "dirty": True},
        "machine": {"cpu": "Test CPU", "cores": 2, "python": "3.11.0"},
        "sessions": [{"wall_seconds": 3600.0}]})
    return per_user


def _no_figure(*args, **kwargs):
    path = args[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    per_user = _build_run(run_dir)
    md_path = write_report(run_dir)
    return run_dir, md_path.read_text(encoding="utf-8"), per_user


def _row(md: str, section: str, start: str) -> list[str]:
    """Cells of the first table row under heading ``section`` that starts with ``start``."""
    text = md[md.index(section):]
    line = next(li for li in text.splitlines() if li.startswith(f"| {start} |"))
    return [c.strip() for c in line.strip("|").split(" | ")]


def _by_header(md: str, section: str, start: str) -> dict[str, str]:
    """The first table row under ``section`` starting with ``start``, keyed by column header."""
    text = md[md.index(section):]
    lines = text.splitlines()
    at = next(i for i, li in enumerate(lines) if li.startswith(f"| {start} |"))
    header = next(lines[i] for i in range(at, -1, -1) if lines[i + 1].startswith("|---"))
    names = [c.strip() for c in header.strip("|").split(" | ")]
    return dict(zip(names, _row(md, section, start), strict=True))


def test_best_setting_epoch_and_interval(report):
    run_dir, md, per_user = report
    df = pd.read_csv(run_dir / "results.csv")
    test = df[(df["subset"] == "test") & (df["dataset"] == "toy") & (df["threads"] == 1)
              & (df["model"] == "implicit-als")]
    curve = test.groupby(["params", "epoch"])["precision_at_k"].mean()
    params, epoch = curve.idxmax()
    assert (params, epoch) == ('{"factors": 8}', 4)
    values = test[(test["params"] == params) & (test["epoch"] == epoch)]["precision_at_k"]
    low, high = sps.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sps.sem(values))

    cells = _row(md, "Data set `toy`", "implicit-als")
    assert cells[1] == "factors=8"
    assert cells[2] == "1" and cells[3] == "4"
    assert cells[4] == f"{values.mean():.4f} ± {(high - low) / 2:.4f}"
    assert cells[5] == f"[{low:.4f}, {high:.4f}]"
    assert cells[6] == "3"


def test_paired_test_against_best_model(report):
    _, md, per_user = report
    ours = np.concatenate([per_user["toy", s, "lightfm-warp", '{"no_components": 8}', 2, 6]
                           for s in (0, 1, 2)])
    best = np.concatenate([per_user["toy", s, "implicit-als", '{"factors": 8}', 1, 4]
                           for s in (0, 1, 2)])
    expected = sps.ttest_rel(ours, best)
    cells = _by_header(md, "Data set `toy`", "lightfm-warp†")
    assert cells["best epoch"] == "6"
    assert cells[f"Δ p@{K} vs best (per-user)"] == f"{np.mean(ours - best):+.4f}"
    assert cells["p-value"] == f"{expected.pvalue:.1e}"
    assert cells["users paired"] == str(ours.size)
    assert _by_header(md, "Data set `toy`", "implicit-als")[f"Δ p@{K} vs best (per-user)"] \
        == "reference"
    assert "paired t-test" in md
    assert "Hogwild" in md


def test_several_tests_against_the_best_get_holm_adjusted_p_values(report):
    _, md, per_user = report
    best = np.concatenate([per_user["toy", s, "implicit-als", '{"factors": 8}', 1, 4]
                           for s in (0, 1, 2)])
    raw = []
    for model, params, threads, epoch in (("lightfm-warp", '{"no_components": 8}', 2, 6),
                                          ("popularity", "{}", 1, 0)):
        ours = np.concatenate([per_user["toy", s, model, params, threads, epoch]
                               for s in (0, 1, 2)])
        raw.append(sps.ttest_rel(ours, best).pvalue)
    expected = holm(raw)
    assert np.all(expected >= np.asarray(raw)) and expected[1] > raw[1]
    for start, p_raw, p_holm in zip(("lightfm-warp†", "popularity"), raw, expected,
                                    strict=True):
        cells = _by_header(md, "Data set `toy`", start)
        assert cells["p-value"] == f"{p_raw:.1e}"
        assert cells["Holm-adjusted p"] == f"{p_holm:.1e}"
    toy = md[md.index("Data set `toy`"):md.index("Data set `toy-large`")]
    assert "Holm-adjusted over the 2 tests" in toy
    large = md[md.index("Data set `toy-large`"):]
    assert "Holm-adjusted p" not in large.split("### Learning curves")[0]


def test_single_seed_shows_no_interval(report):
    _, md, _ = report
    cells = _row(md, "Data set `toy-large`", "implicit-als")
    assert cells[4].endswith("(n=1)") and cells[5] == "— (n=1)"


def test_thread_scaling_and_size_slope(report):
    _, md, _ = report
    cells = _row(md, "## Thread scaling", "toy")
    scaling = md[md.index("## Thread scaling"):]
    assert "| toy | implicit-als | factors=8 | 2 | 0.12 | 1.67× | 83% |" in scaling
    assert cells[3] == "1"
    slope = np.log(0.4 / 0.2) / np.log(1800 / 600)
    size = md[md.index("## Fit time vs data size"):]
    assert f"| {slope:.2f} |" in size


def test_failed_trials_and_header(report):
    _, md, _ = report
    assert "1,234 item features kept" in md.split("## Data set `toy`")[1].split("## ")[0]
    failed = md[md.index("## Failed trials"):]
    assert "MemoryError: cannot allocate 8 GiB" in failed and "| ease |" in failed
    assert md.startswith("# Report: fake-grid")
    assert "commit 0123456789ab (with uncommitted changes)" in md
    assert "Trials: " in md and "(1 failed)" in md


def test_figures_written_and_skips_noted(report):
    run_dir, md, _ = report
    figures = {p.name: p for p in (run_dir / "figures").glob("*.png")}
    for name in ("toy-implicit-als-learning-curve.png", "toy-implicit-als-grid-traces.png",
                 "toy-lightfm-warp-learning-curve.png", "toy-quality-vs-fit-time.png",
                 "toy-thread-speedup.png", "fit-time-vs-likes.png"):
        assert name in figures
        data = figures[name].read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
        assert f"](figures/{name})" in md
    assert "learning curve of popularity on toy: one checkpoint only" in md
    front = md[md.index("The Pareto front"):md.index("### Full grid")]
    assert "| 1 | popularity | (defaults) |" in front
    assert "| 2 | implicit-als | factors=8 |" in front and "| 3 |" not in front
    assert "grid traces of lightfm-warp on toy: a single setting" in md


def test_html_is_self_contained_and_sortable(report):
    run_dir, md, _ = report
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('<table class="sortable">') >= 4
    assert "<script>" in page and "addEventListener" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count("data:image/png;base64,") == md.count("](figures/")
    assert 'data-v="0.8' in page and 'data-v=""' in page


def test_csv_only_folder_and_missing_raw_file(report, tmp_path, monkeypatch):
    run_dir, md, _ = report
    for name in ("learning_curve", "grid_traces", "quality_vs_time", "thread_speedup",
                 "fit_time_vs_likes"):  # tables only here: skip the slow drawing
        monkeypatch.setattr(plots, name, _no_figure)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("figures", "report.*"))
    (copy / "results.parquet").unlink()
    df = pd.read_csv(copy / "results.csv")
    trial = df.loc[(df["model"] == "popularity") & (df["seed"] == 1), "trial_id"].iloc[0]
    (copy / "raw" / f"{trial}.npz").unlink()
    again = write_report(copy).read_text(encoding="utf-8")
    before = _by_header(md, "Data set `toy`", "lightfm-warp†")
    del before["Holm-adjusted p"]  # one test is left: nothing to adjust
    assert _by_header(again, "Data set `toy`", "lightfm-warp†") == before
    assert _row(again, "Data set `toy`", "popularity")[-2:] == ["—", "—"]
    assert f"No paired test of popularity: raw/{trial}.npz is missing." in again
    assert f"No beyond-accuracy figures for popularity: raw/{trial}.npz is missing." in again


def test_folder_without_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no results"):
        write_report(tmp_path)
    with pytest.raises(UserError, match="no such run folder"):
        write_report(tmp_path / "missing")


def test_pareto_front_and_slope():
    cost = np.array([1.0, 2.0, 3.0, 1.5, 3.0])
    quality = np.array([0.1, 0.3, 0.2, 0.05, 0.4])
    assert pareto_front(cost, quality).tolist() == [True, True, False, False, True]
    x = np.array([1e5, 1e6, 1e7])
    assert loglog_slope(x, 3e-6 * x ** 1.1) == pytest.approx(1.1)
    assert np.isnan(loglog_slope([5, 5], [1, 2]))


def _lists_of(run_dir, dataset: str, model: str, params: str, threads: int, epoch: int):
    """(split, stored test top-k lists, trial id) per seed of one setting, read from the folder."""
    from recsys_bench.splits import load_split

    df = pd.read_csv(run_dir / "results.csv", dtype={"params": str})
    rows = df[(df["dataset"] == dataset) & (df["model"] == model) & (df["params"] == params)
              & (df["threads"] == threads) & (df["subset"] == "test") & (df["epoch"] == epoch)]
    out = []
    for seed, trial in sorted(zip(rows["seed"], rows["trial_id"], strict=True)):
        split = load_split(run_dir / "splits" / f"{dataset}-seed{seed}.npz")
        top = np.load(run_dir / "raw" / f"{trial}.npz")[f"top_test_e{epoch}"]
        out.append((split, top, trial))
    return out


def _by_hand(split, top: np.ndarray) -> dict[str, float]:
    """MRR, novelty, ARP, Gini and coverage of one seed's lists, written out independently."""
    truth = split.test[split.users].toarray() != 0
    n_users, n_items = split.train.shape
    hit = truth[np.arange(len(top))[:, None], top]
    reciprocal = np.where(hit.any(axis=1), 1.0 / (hit.argmax(axis=1) + 1), 0.0)
    counts = (split.train.toarray() != 0).sum(axis=0).astype(float)
    information = -np.log2((counts + 1) / (n_users + 1))
    exposure = np.sort(np.bincount(top.ravel(), minlength=n_items)).astype(float)
    rank = np.arange(1, n_items + 1)
    return {"MRR": reciprocal[truth.any(axis=1)].mean(),
            "novelty (bits)": information[top].mean(axis=1).mean(),
            "ARP": counts[top].mean(axis=1).mean(),
            "Gini": ((2 * rank - n_items - 1) * exposure).sum() / (n_items * exposure.sum()),
            "coverage": np.unique(top).size / n_items}


BEST = (("implicit-als", "implicit-als", '{"factors": 8}', 1, 4),
        ("lightfm-warp", "lightfm-warp", '{"no_components": 8}', 2, 6),
        ("popularity", "popularity", "{}", 1, 0))


def test_beyond_accuracy_section_is_rescored_from_the_stored_lists(report):
    run_dir, md, _ = report
    section = md[md.index("Data set `toy`"):md.index("Data set `toy-large`")]
    section = section[section.index("### Beyond accuracy"):section.index("### Learning curves")]
    for start, model, params, threads, epoch in BEST:
        seeds = [_by_hand(split, top)
                 for split, top, _ in _lists_of(run_dir, "toy", model, params, threads, epoch)]
        cells = _by_header(section, "### Beyond accuracy", start)
        assert cells["best epoch"] == str(epoch) and cells["seeds"] == "3"
        for label in seeds[0]:
            expected = np.mean([figures[label] for figures in seeds])
            assert float(cells[label]) == pytest.approx(expected, abs=5.1e-5), (start, label)
    assert "ILD" not in section.split("\n\n")[1]
    assert "Intra-list diversity is omitted" in section


def test_intra_list_diversity_comes_from_a_model_saved_at_the_best_epoch(report, tmp_path,
                                                                        monkeypatch):
    from types import SimpleNamespace

    from recsys_bench.store.artifacts import save_model_vectors

    run_dir, _, _ = report
    for name in ("learning_curve", "grid_traces", "quality_vs_time", "thread_speedup",
                 "fit_time_vs_likes"):
        monkeypatch.setattr(plots, name, _no_figure)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("figures", "report.*"))
    vectors = np.random.default_rng(5).standard_normal((40, 3)).astype(np.float32)
    (_, top, als_trial), *_ = _lists_of(copy, "toy", "implicit-als", '{"factors": 8}', 1, 4)
    lightfm_trial = _lists_of(copy, "toy", "lightfm-warp", '{"no_components": 8}', 2, 6)[0][2]
    for trial, epochs_done in ((als_trial, 4), (lightfm_trial, 2)):  # lightfm: not its best
        fake = SimpleNamespace(item_vectors=lambda: vectors, name="fake", params={},
                               epochs_done=epochs_done)
        save_model_vectors(fake, copy / "models" / f"{trial}.npz", item_ids=range(40),
                           item_names=None)
    md = write_report(copy).read_text(encoding="utf-8")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    distances = [np.mean([1 - unit[a] @ unit[b] for i, a in enumerate(row) for b in row[i + 1:]])
                 for row in top]
    column = "ILD (saved model vectors)"
    cells = _by_header(md, "### Beyond accuracy", "implicit-als")
    value, note = cells[column].split(" ", 1)
    assert float(value) == pytest.approx(np.mean(distances), abs=5.1e-5)
    assert note == "(1 of 3 seeds)"
    assert _by_header(md, "### Beyond accuracy", "lightfm-warp")[column] == "—"
    assert "Intra-list diversity is omitted" not in md.split("Data set `toy-large`")[0]
