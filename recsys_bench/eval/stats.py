"""Confidence intervals over repeats and paired significance tests over per-user metrics.

The report states every mean with its spread over split seeds, and compares two models on the
same users (paired), because per-user metrics of two models on one split are strongly correlated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

PAIRED_METHODS = {
    "t": "paired t-test (scipy.stats.ttest_rel)",
    "wilcoxon": "Wilcoxon signed-rank test (scipy.stats.wilcoxon, zero differences dropped)",
}


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval.

    Attributes
    ----------
    mean : float
        Mean of the finite values (NaN when there are none).
    low, high : float
        Interval bounds; NaN when ``n < 2`` (no spread can be estimated from one value).
    n : int
        Number of finite values used.
    confidence : float
        Coverage of the interval, e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when there is no interval)."""
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class PairedTest:
    """The outcome of a paired two-sided test of ``a`` against ``b``.

    Attributes
    ----------
    statistic : float
        The test statistic (t, or Wilcoxon's W).
    p_value : float
        Two-sided p-value; 1.0 when every pair is equal, NaN when there are under two pairs.
    n : int
        Number of pairs with both values finite.
    mean_difference : float
        Mean of ``a - b`` over those pairs.
    method : str
        ``"t"`` or ``"wilcoxon"``.
    """

    statistic: float
    p_value: float
    n: int
    mean_difference: float
    method: str


def mean_ci(values, confidence: float = 0.95) -> Interval:
    """Mean and Student-t confidence interval of ``values``.

    The t-interval (mean ± t_{(1+c)/2, n-1} · s / sqrt(n), s with ddof=1) is the right one for a
    handful of repeats such as split seeds, where a normal interval would be too narrow.
    NaN values (failed repeats) are ignored.

    Parameters
    ----------
    values : array_like
        One value per repeat.
    confidence : float
        Coverage in (0, 1).

    Returns
    -------
    Interval
        With ``low``/``high`` NaN when fewer than two finite values remain.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, confidence)
    half = float(t_half_width(x.std(ddof=1), n, confidence))
    return Interval(mean, mean - half, mean + half, n, confidence)


def t_half_width(std, n, confidence: float = 0.95):
    """Half-width of the Student-t interval, vectorised: t_{(1+c)/2, n-1} · std / sqrt(n).

    Parameters
    ----------
    std : array_like
        Sample standard deviations (ddof=1).
    n : array_like
        Sample sizes; NaN is returned where ``n < 2``.
    confidence : float
        Coverage in (0, 1).
    """
    std = np.asarray(std, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    valid = n >= 2
    dof = np.where(valid, n - 1, 1.0)
    half = sps.t.ppf((1 + confidence) / 2, dof) * std / np.sqrt(np.where(valid, n, 1.0))
    return np.where(valid, half, np.nan)


def paired_test(a, b, method: str = "t") -> PairedTest:
    """Two-sided paired test that ``a`` and ``b`` (same users, same order) have equal means.

    The default is the paired t-test: with hundreds of users the mean difference is close to
    normal even though per-user precision@k takes only k+1 values, and it tests the quantity the
    report shows (the mean). ``method="wilcoxon"`` gives the signed-rank test instead.
    Pairs where either value is NaN are dropped.

    Parameters
    ----------
    a, b : array_like
        Per-user metric values of two models, aligned.
    method : {"t", "wilcoxon"}
        The test.

    Returns
    -------
    PairedTest
    """
    if method not in PAIRED_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(PAIRED_METHODS)}")
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    diff = a[keep] - b[keep]
    n = int(diff.size)
    if n < 2:
        return PairedTest(math.nan, math.nan, n, float(diff.mean()) if n else math.nan, method)
    mean_difference = float(diff.mean())
    if not diff.any():
        return PairedTest(0.0, 1.0, n, 0.0, method)
    if method == "t":
        result = sps.ttest_rel(a[keep], b[keep])
    else:
        result = sps.wilcoxon(a[keep], b[keep], zero_method="wilcox")
    return PairedTest(float(result.statistic), float(result.pvalue), n, mean_difference, method)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, controlling the family-wise error rate.

    With the m finite p-values sorted ascending p_(1) <= ... <= p_(m), the adjusted value of
    p_(i) is max over j <= i of min(1, (m - j + 1) p_(j)); a hypothesis is rejected at level
    alpha when its adjusted p-value is <= alpha. Used when one model is tested against several
    others on the same users: each raw p-value alone overstates the evidence.

    Parameters
    ----------
    p_values : array_like
        Raw p-values, any order; NaN entries (tests that could not run) stay NaN and do not
        count towards m.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def paired_tests_holm(per_user: dict, reference: str, method: str = "t"
                      ) -> dict[str, tuple[PairedTest, float]]:
    """Paired tests of ``reference`` against every other model, Holm-adjusted as one family.

    Parameters
    ----------
    per_user : dict of str to array_like
        Per-user values of one metric for each model, aligned (same users, same order).
    reference : str
        The model every other one is compared with (e.g. the best).
    method : {"t", "wilcoxon"}
        The paired test (see :func:`paired_test`).

    Returns
    -------
    dict of str to (PairedTest, float)
        For each other model, its raw test and its Holm-adjusted p-value.
    """
    if reference not in per_user:
        raise ValueError(f"reference {reference!r} is not among the models")
    others = [name for name in per_user if name != reference]
    tests = [paired_test(per_user[reference], per_user[name], method) for name in others]
    adjusted = holm([t.p_value for t in tests])
    return {name: (test, float(p)) for name, test, p in zip(others, tests, adjusted)}
