"""Compare two result folders of the same experiment and flag what got worse.

``compare_runs(run_a, run_b)`` pairs the trials of two runs (same data, same split fingerprints,
same settings; typically two commits, or two library versions) and reports, per model, parameter
setting and thread count:

- the change of every quality metric at the final epoch, ``B - A``, with a confidence interval.
  Where both runs stored their raw top-k lists the ranking metrics, and the per-user
  beyond-accuracy metrics the runs asked for (MRR, novelty, average popularity), are recomputed
  per user (:mod:`recsys_bench.analysis.rescore`) and the interval is the Student-t interval of
  the paired per-user differences (users of every split seed pooled); otherwise (AUC, MSE,
  coverage, Gini, intra-list diversity, or no raw files) it is the t-interval of the per-seed
  differences of the stored means;
- fit time per epoch and recommend throughput, as ratios ``B / A`` of their medians over seeds,
  raw and normalised by the ratio of the two runs' yardsticks (:mod:`recsys_bench.yardstick`:
  how fast the machine was during each run).

A quality metric regresses when its interval lies entirely on the worse side of 0 (and the change
exceeds ``atol``); a time measure regresses when B is slower, after normalisation, by more than
``threshold`` (a ratio) and by more than ``min_seconds`` of absolute time on the whole operation,
so that millisecond jitter on tiny data is never a regression. Runs from different machines, or
whose yardstick moved more than ``max_spread`` within the run, get no timing verdict; runs without
a yardstick are compared raw, with a note. A trial that finished in A but failed in B regresses
too. ``CompareResult.regressed`` drives the exit status of ``recsys-bench compare``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_bench import yardstick
from recsys_bench.analysis.rescore import RawMetrics
from recsys_bench.errors import UserError
from recsys_bench.eval import registry
from recsys_bench.eval.stats import mean_ci
from recsys_bench.experiment.schema import read_toml
from recsys_bench.store import table as store
from recsys_bench.store.run_folder import RunFolder

SETTING = ["dataset", "model", "params", "threads"]
DEFAULT_THRESHOLD = 1.10
DEFAULT_MIN_SECONDS = 0.05
DEFAULT_MAX_SPREAD = yardstick.MAX_SPREAD


@dataclass(frozen=True)
class QualityChange:
    """The change of one quality metric of one setting and subset at the final epoch.

    Attributes
    ----------
    dataset, model, params, threads, subset : identity of the compared rows.
    epoch : int
        The final epoch present in both runs (0 for models without epochs).
    metric : str
        Result column, e.g. ``precision_at_k``.
    a, b : float
        Means in run A and run B.
    delta : float
        ``b - a``.
    low, high : float
        Confidence interval of ``delta`` (NaN when it cannot be estimated).
    n : int
        Paired values behind the interval: users, or split seeds.
    method : str
        ``"users"`` (paired per-user differences from raw top-k) or ``"seeds"``.
    regressed : bool
        The interval excludes 0 on the worse side of the metric.
    """

    dataset: str
    model: str
    params: str
    threads: int
    subset: str
    epoch: int
    metric: str
    a: float
    b: float
    delta: float
    low: float
    high: float
    n: int
    method: str
    regressed: bool


@dataclass(frozen=True)
class TimeChange:
    """The change of one time measure of one setting, as a ratio of medians over split seeds.

    Attributes
    ----------
    measure : str
        ``"fit_seconds_per_epoch"`` (lower is better) or ``"recommend_users_per_s"`` (higher is
        better).
    a, b : float
        Medians over split seeds in run A and run B.
    ratio : float
        ``b / a``, raw.
    slowdown_seconds : float
        Extra wall time B spent on the whole operation (the fit up to the final epoch, or one
        recommend pass over the evaluated users); negative when B was faster.
    normalised_ratio, normalised_slowdown : float
        The same with B's times divided by the yardstick ratio (B's throughput multiplied by
        it); equal to the raw figures when a run has no yardstick, NaN when not comparable.
    comparable : bool
        False when the runs' timings cannot be compared (see ``CompareResult.timing``).
    regressed : bool
        B slower than A, normalised, by more than the threshold ratio and by more than
        ``min_seconds``; never when not comparable.
    """

    dataset: str
    model: str
    params: str
    threads: int
    measure: str
    a: float
    b: float
    ratio: float
    slowdown_seconds: float
    normalised_ratio: float
    normalised_slowdown: float
    comparable: bool
    regressed: bool


@dataclass(frozen=True)
class StatusChange:
    """A trial whose status differs between the runs, or that exists in one run only."""

    dataset: str
    model: str
    params: str
    threads: int
    seed: int
    a: str
    b: str
    error: str
    regressed: bool


@dataclass(frozen=True)
class CompareResult:
    """Everything :func:`compare_runs` found; ``regressed`` says whether anything got worse.

    Attributes
    ----------
    run_a, run_b : str
        The two folders.
    experiment : str
        Their common experiment name.
    threshold : float
        Time ratio above which B counts as slower.
    min_seconds : float
        Smallest absolute slowdown that counts.
    confidence : float
        Coverage of the quality intervals.
    timing : recsys_bench.yardstick.TimingBasis
        Whether the timings compare, the yardstick ratio B / A they are normalised by, and why
        not (or why raw).
    yardsticks : tuple of str
        One line per run on its yardstick (how busy the machine was), or why there is none.
    quality, time, status : tuple
        :class:`QualityChange`, :class:`TimeChange` and :class:`StatusChange` rows.
    """

    run_a: str
    run_b: str
    experiment: str
    threshold: float
    min_seconds: float
    confidence: float
    timing: yardstick.TimingBasis
    yardsticks: tuple[str, str] = ("", "")
    quality: tuple[QualityChange, ...] = field(default_factory=tuple)
    time: tuple[TimeChange, ...] = field(default_factory=tuple)
    status: tuple[StatusChange, ...] = field(default_factory=tuple)

    @property
    def regressions(self) -> list[QualityChange | TimeChange | StatusChange]:
        """The rows that regressed, quality first."""
        return [row for row in (*self.quality, *self.time, *self.status) if row.regressed]

    @property
    def regressed(self) -> bool:
        """True when any quality metric, time measure or trial status got worse."""
        return bool(self.regressions)

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN as None)."""
        return _clean({
            "run_a": self.run_a, "run_b": self.run_b, "experiment": self.experiment,
            "threshold": self.threshold, "min_seconds": self.min_seconds,
            "confidence": self.confidence, "regressed": self.regressed,
            "timing": asdict(self.timing), "yardsticks": list(self.yardsticks),
            "quality": [asdict(r) for r in self.quality],
            "time": [asdict(r) for r in self.time],
            "status": [asdict(r) for r in self.status],
        })

    def to_json(self, indent: int | None = 2) -> str:
        """The comparison as JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        """A readable report: quality table, time table, status changes, verdict."""
        level = f"{round(100 * self.confidence)}%"
        lines = [f"compare {self.run_a} (A) -> {self.run_b} (B), experiment {self.experiment!r}",
                 ""]
        lines.append(f"Quality at the final epoch: B - A with its {level} interval "
                     "(n = users when recomputed from raw top-k, else split seeds)")
        lines += _table(["dataset", "model", "params", "thr", "subset", "epoch", "metric", "A",
                         "B", "B - A", f"{level} interval", "n", ""],
                        [[q.dataset, q.model, _short(q.params), q.threads, q.subset, q.epoch,
                          q.metric, _num(q.a), _num(q.b), _signed(q.delta),
                          _interval(q.low, q.high), f"{q.n} {q.method}",
                          "REGRESSED" if q.regressed else ""] for q in self.quality])
        basis = self.timing
        lines += ["", *basis.lines(*self.yardsticks)]
        lines += ["", (f"Time: B / A (medians over seeds), raw and normalised; slower than "
                       f"x{self.threshold:g} and by more than {self.min_seconds:g} s, "
                       "normalised, is a regression")]
        lines += _table(["dataset", "model", "params", "thr", "measure", "A", "B", "B / A",
                         "normalised", "extra s", ""],
                        [[t.dataset, t.model, _short(t.params), t.threads, t.measure, _num(t.a),
                          _num(t.b), _ratio(t.ratio),
                          _ratio(t.normalised_ratio) if basis.normalised else "-",
                          _signed(t.normalised_slowdown if t.comparable else
                                  t.slowdown_seconds, "+.3f"),
                          "REGRESSED" if t.regressed else
                          "" if t.comparable else "not comparable"] for t in self.time])
        if self.status:
            lines += ["", "Trials whose status differs"]
            lines += _table(["dataset", "model", "params", "thr", "seed", "A", "B", "error", ""],
                            [[s.dataset, s.model, _short(s.params), s.threads, s.seed, s.a, s.b,
                              s.error[:60], "REGRESSED" if s.regressed else ""]
                             for s in self.status])
        found = self.regressions
        lines += ["", f"{len(found)} regression(s)" if found else "no regression"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, *,
                 threshold: float = DEFAULT_THRESHOLD, min_seconds: float = DEFAULT_MIN_SECONDS,
                 confidence: float = 0.95, atol: float = 1e-6,
                 max_spread: float = DEFAULT_MAX_SPREAD) -> CompareResult:
    """Compare run B against run A (the baseline) and flag regressions beyond noise.

    Parameters
    ----------
    run_a, run_b : path
        Result folders written by ``recsys-bench run`` for the same experiment.
    threshold : float
        A time measure regresses when B / A is worse than this ratio (> 1; 1.10 = 10% slower).
    min_seconds : float
        ... and when B spent at least this much more wall time on the whole operation.
    confidence : float
        Coverage of the intervals of the quality changes.
    atol : float
        Quality changes smaller than this never regress (float noise).
    max_spread : float
        Timings of a run whose slowest yardstick probe took more than this many times its
        fastest are not compared (the machine's load changed too much within the run).

    Returns
    -------
    CompareResult

    Raises
    ------
    UserError
        A folder holds no results or no config, the runs are of different experiments (name or
        config), their splits differ (fingerprints), they share no setting, or an option is
        out of range.
    """
    if not (isinstance(threshold, (int, float)) and threshold >= 1):
        raise UserError(f"threshold must be a ratio >= 1 (1.10 = 10% slower), got {threshold!r}")
    if not (isinstance(min_seconds, (int, float)) and min_seconds >= 0):
        raise UserError(f"min_seconds must be >= 0, got {min_seconds!r}")
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be in (0, 1), got {confidence!r}")
    if not (isinstance(max_spread, (int, float)) and max_spread >= 1):
        raise UserError(f"max_spread must be a ratio >= 1, got {max_spread!r}")
    run_a, run_b = Path(run_a), Path(run_b)
    experiment = _same_experiment(run_a, run_b)
    sticks = [yardstick.run_yardstick(store.read_run_info(run)) for run in (run_a, run_b)]
    basis = yardstick.timing_basis(*sticks, max_spread=max_spread)
    table_a, table_b = store.read_results(run_a), store.read_results(run_b)
    _same_splits(table_a, table_b, run_a, run_b)

    ok_a, ok_b = _finished(table_a), _finished(table_b)
    status = _status_changes(table_a, table_b)
    common = ok_a[["trial_id", *SETTING, "seed"]].drop_duplicates().merge(
        ok_b[["trial_id"]].drop_duplicates(), on="trial_id")
    if common.empty and not status:
        raise UserError(f"the runs share no finished trial: nothing to compare ({run_a} vs "
                        f"{run_b})")
    last_a = ok_a.groupby("trial_id")["epoch"].max()
    last_b = ok_b.groupby("trial_id")["epoch"].max()
    final = pd.concat([last_a, last_b], axis=1, join="inner").min(axis=1).rename("final")

    raw = RawMetrics(run_a, run_b)
    quality, timing = [], []
    for (dataset, model, params, threads), trials in common.groupby(SETTING, sort=False):
        key = (str(dataset), str(model), str(params), int(threads))
        ids = list(trials["trial_id"])
        seeds = dict(zip(trials["trial_id"], trials["seed"]))
        rows_a = _final_rows(ok_a, ids, final)
        rows_b = _final_rows(ok_b, ids, final)
        for subset in rows_a["subset"].unique():
            sub_a = rows_a[rows_a["subset"] == subset].set_index("trial_id").loc[ids]
            sub_b = rows_b[rows_b["subset"] == subset].set_index("trial_id").loc[ids]
            per_user = raw.differences(ids, seeds, subset, final, sub_a, key[0])
            quality += _quality_changes(key, subset, sub_a, sub_b, per_user, confidence, atol)
        timing += _time_changes(key, rows_a, rows_b, threshold, min_seconds, basis)
    return CompareResult(run_a=str(run_a), run_b=str(run_b), experiment=experiment,
                         threshold=float(threshold), min_seconds=float(min_seconds),
                         confidence=float(confidence), timing=basis,
                         yardsticks=tuple(s.summary() if s else "none recorded" for s in sticks),
                         quality=tuple(quality), time=tuple(timing), status=tuple(status))


# --------------------------------------------------------------------------- checks

def _config(run_dir: Path) -> dict:
    """The experiment config of a run folder: ``config.toml``, else ``run.json``'s copy."""
    if not run_dir.is_dir():
        raise UserError("no such run folder", path=run_dir)
    path = RunFolder(run_dir).config
    if path.exists():
        return read_toml(path, what="the run's config")[0]
    config = store.read_run_info(run_dir).get("config")
    if not config:
        raise UserError("not a run folder (no config.toml, no config in run.json)", path=run_dir)
    return config


def _same_experiment(run_a: Path, run_b: Path) -> str:
    """The common experiment name; UserError when the configs differ (descriptions aside)."""
    config_a, config_b = _config(run_a), _config(run_b)
    name_a = config_a.get("experiment", {}).get("name", "?")
    name_b = config_b.get("experiment", {}).get("name", "?")
    if name_a != name_b:
        raise UserError(f"cannot compare runs of different experiments: {name_a!r} ({run_a}) "
                        f"vs {name_b!r} ({run_b})")
    for config in (config_a, config_b):
        config.get("experiment", {}).pop("description", None)
    if config_a != config_b:
        keys = sorted(_differences(config_a, config_b))
        raise UserError(f"cannot compare runs of experiment {name_a!r} with different configs "
                        f"(they differ in: {', '.join(keys)}); rerun both with one config")
    return name_a


def _differences(a, b, prefix: str = "") -> list[str]:
    """Dotted keys where two parsed TOML values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _same_splits(table_a: pd.DataFrame, table_b: pd.DataFrame, run_a: Path,
                 run_b: Path) -> None:
    """UserError unless every (data set, split seed) has one and the same fingerprint."""
    prints = {}
    for name, table in (("A", table_a), ("B", table_b)):
        known = table[table["split_fingerprint"] != ""]
        prints[name] = known.groupby(["dataset", "seed"])["split_fingerprint"].unique()
    for (dataset, seed), values_a in prints["A"].items():
        values_b = prints["B"].get((dataset, seed))
        if values_b is None:
            continue
        if len(values_a) > 1 or len(values_b) > 1 or values_a[0] != values_b[0]:
            raise UserError(
                f"cannot compare: the splits differ for dataset {dataset!r} seed {seed} "
                f"(fingerprint {values_a[0][:12]} in {run_a}, {values_b[0][:12]} in {run_b}); "
                "the data or the splitter changed, so the metrics are not comparable")


# --------------------------------------------------------------------------- tables

def _finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"]


def _final_rows(ok: pd.DataFrame, ids: list[str], final: pd.Series) -> pd.DataFrame:
    rows = ok[ok["trial_id"].isin(ids)]
    return rows[rows["epoch"].to_numpy() == final.loc[rows["trial_id"]].to_numpy()]


def _status_changes(table_a: pd.DataFrame, table_b: pd.DataFrame) -> list[StatusChange]:
    """Trials ok in one run and failed, timed out or missing in the other."""
    def states(table):
        first = table.drop_duplicates("trial_id").set_index("trial_id")
        return first[[*SETTING, "seed", "status", "error"]]

    a, b = states(table_a), states(table_b)
    out = []
    for trial in sorted(set(a.index) | set(b.index)):
        in_a, in_b = trial in a.index, trial in b.index
        state_a = a.at[trial, "status"] if in_a else "missing"
        state_b = b.at[trial, "status"] if in_b else "missing"
        if state_a == state_b:
            continue
        row = a.loc[trial] if in_a else b.loc[trial]
        out.append(StatusChange(
            dataset=row["dataset"], model=row["model"], params=row["params"],
            threads=int(row["threads"]), seed=int(row["seed"]), a=state_a, b=state_b,
            error=b.at[trial, "error"] if in_b else "",
            regressed=state_a == "ok" and state_b in ("failed", "timeout")))
    return out


def _quality_changes(key: tuple, subset: str, sub_a: pd.DataFrame, sub_b: pd.DataFrame,
                     per_user: dict | None, confidence: float, atol: float) -> list[QualityChange]:
    """Every quality metric of one setting and subset at the final epoch, B against A."""
    out = []
    epoch = int(sub_a["epoch"].max())
    for metric, spec in registry.by_column().items():
        direction = spec.direction
        values_a = sub_a[metric].to_numpy(dtype=float)
        values_b = sub_b[metric].to_numpy(dtype=float)
        if not (np.isfinite(values_a).any() and np.isfinite(values_b).any()):
            continue
        if per_user is not None and spec.name in per_user:
            a_u, b_u = per_user[spec.name]
            a, b, diffs, method = np.nanmean(a_u), np.nanmean(b_u), b_u - a_u, "users"
        else:
            a, b = np.nanmean(values_a), np.nanmean(values_b)
            diffs, method = values_b - values_a, "seeds"
        interval = mean_ci(diffs, confidence)
        worse = (direction > 0 and interval.high < 0) or (direction < 0 and interval.low > 0)
        out.append(QualityChange(
            *key, subset=subset, epoch=epoch, metric=metric, a=float(a), b=float(b),
            delta=float(b - a), low=interval.low, high=interval.high, n=interval.n,
            method=method, regressed=bool(worse and abs(b - a) > atol)))
    return out


def _time_changes(key: tuple, rows_a: pd.DataFrame, rows_b: pd.DataFrame, threshold: float,
                  min_seconds: float, basis: yardstick.TimingBasis) -> list[TimeChange]:
    """Fit seconds per epoch and recommend throughput of one setting, B against A, raw and
    with B's times divided by the yardstick ratio; the verdict is the normalised one."""
    def per_trial(rows):
        first = rows.drop_duplicates("trial_id").set_index("trial_id").sort_index()
        epochs = first["epoch"].clip(lower=1).to_numpy(dtype=float)
        fit = first["fit_seconds"].to_numpy(dtype=float)
        speed = first["recommend_users_per_s"].to_numpy(dtype=float)
        users = first["n_users"].to_numpy(dtype=float)
        return fit / epochs, fit, speed, users / speed

    per_epoch_a, fit_a, speed_a, rec_a = per_trial(rows_a)
    per_epoch_b, fit_b, speed_b, rec_b = per_trial(rows_b)
    out = []
    for measure, a, b, whole_a, whole_b, lower_better in (
            ("fit_seconds_per_epoch", per_epoch_a, per_epoch_b, fit_a, fit_b, True),
            ("recommend_users_per_s", speed_a, speed_b, rec_a, rec_b, False)):
        med_a, med_b = _median(a), _median(b)
        if not (math.isfinite(med_a) and math.isfinite(med_b)) or med_a <= 0 or med_b <= 0:
            continue
        ratio = med_b / med_a
        slowdown = _median(whole_b) - _median(whole_a)
        scale = basis.ratio if lower_better else 1 / basis.ratio
        normalised = ratio / scale
        normalised_slowdown = _median(whole_b) / basis.ratio - _median(whole_a)
        slower = normalised > threshold if lower_better else normalised < 1 / threshold
        out.append(TimeChange(*key, measure=measure, a=med_a, b=med_b, ratio=ratio,
                              slowdown_seconds=slowdown, normalised_ratio=normalised,
                              normalised_slowdown=normalised_slowdown,
                              comparable=basis.comparable,
                              regressed=bool(basis.comparable and slower
                                             and normalised_slowdown > min_seconds)))
    return out


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


# --------------------------------------------------------------------------- formatting

def _table(headers: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["  (none)"]
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def _short(params: str, limit: int = 40) -> str:
    try:
        text = ",".join(f"{k}={v}" for k, v in json.loads(params).items()) or "-"
    except (TypeError, ValueError):
        text = str(params)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _num(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _signed(value: float, spec: str = "+.4g") -> str:
    return "-" if not math.isfinite(value) else format(value, spec)


def _ratio(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "-"


def _interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    return f"[{low:+.4g}, {high:+.4g}]"


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


__all__ = ["CompareResult", "QualityChange", "TimeChange", "StatusChange", "compare_runs",
           "DEFAULT_THRESHOLD", "DEFAULT_MIN_SECONDS", "DEFAULT_MAX_SPREAD"]
