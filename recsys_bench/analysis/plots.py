"""The report's figures: plain data in, one PNG out per function.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
pyplot's global state, so drawing needs no display and is safe inside any process. Every figure
carries a title, axis labels with units and a legend, so it can be read on its own.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from recsys_bench.fileio import atomic_write_bytes

DPI = 110
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


@dataclass(frozen=True)
class Curve:
    """One line of a figure: ``y`` against ``x`` with an optional band ``low``..``high``."""

    x: np.ndarray
    y: np.ndarray
    label: str = ""
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def color(i: int) -> str:
    """The i-th colour of the report's fixed palette (models keep their colour across figures)."""
    return _COLORS[i % len(_COLORS)]


def pareto_front(cost, quality) -> np.ndarray:
    """Boolean mask of the points that no other point beats on both cost (lower) and quality.

    A point is on the front when every cheaper-or-equal point has strictly lower quality;
    among exact duplicates the first is kept.
    """
    cost = np.asarray(cost, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    order = np.lexsort((-quality, cost))
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], quality[order])))[:-1]
    mask = np.zeros(cost.size, dtype=bool)
    mask[order] = quality[order] > best_before
    return mask


def front_order(cost, quality) -> np.ndarray:
    """Indices of the Pareto-front points (:func:`pareto_front`), cheapest first."""
    cost = np.asarray(cost, dtype=np.float64)
    front = np.flatnonzero(pareto_front(cost, quality))
    return front[np.argsort(cost[front], kind="stable")]


def loglog_slope(x, y) -> float:
    """Least-squares slope of log(y) against log(x): the exponent b of y ~ a * x**b."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if np.unique(x[keep]).size < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def _short_number(value: float, _position=None) -> str:
    """Tick text without exponents: 0.02, 600, 50k, 20M."""
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _new(ncols: int = 1, width: float = 7.5, height: float = 4.6) -> tuple[Figure, list]:
    fig = Figure(figsize=(width * ncols if ncols > 1 else width, height), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _band(ax, curve: Curve, col: str, **style) -> None:
    ax.plot(curve.x, curve.y, color=col, label=curve.label, **style)
    if curve.low is not None and curve.high is not None and np.isfinite(curve.low).any():
        ax.fill_between(curve.x, curve.low, curve.high, color=col, alpha=0.18, linewidth=0)


def learning_curve(precision: list[Curve], mse: list[Curve] | None, path, *, title: str,
                   k: int, best_epoch: float | None = None) -> Path:
    """Train and test precision@k (and MSE, when given) against epochs for one setting.

    Parameters
    ----------
    precision : list of Curve
        Typically the "test" and "train" curves (mean over seeds, band = 95% interval).
    mse : list of Curve or None
        The same for MSE; a second panel is drawn when present.
    path : path-like
        The PNG to write.
    title : str
        Figure title (data set, model, setting).
    k : int
        Cut-off of precision@k, for the axis label.
    best_epoch : float, optional
        Marked with a dotted vertical line.
    """
    panels = [("precision", precision, f"precision@{k} (fraction of top-{k} that is liked)")]
    if mse:
        panels.append(("mse", mse, "MSE (mean squared error per user-item cell)"))
    fig, axes = _new(len(panels), width=6.2 if len(panels) > 1 else 7.5)
    for ax, (_, curves, ylabel) in zip(axes, panels):
        for i, curve in enumerate(curves):
            _band(ax, curve, color(i), marker="o", markersize=3, linewidth=1.6)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.3", linestyle=":", linewidth=1.2,
                       label=f"best epoch ({best_epoch:g})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (full passes over the training data)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def grid_traces(traces: list[Curve], best: Curve, path, *, title: str, k: int) -> Path:
    """Every setting's test precision@k against epochs as thin grey lines, the best one in colour.

    The study's second figure: it shows how much the hyperparameters matter and how flat the
    curves are after their peak.
    """
    fig, (ax,) = _new()
    for curve in traces:
        ax.plot(curve.x, curve.y, color="0.55", linewidth=0.6, alpha=0.6)
    ax.plot([], [], color="0.55", linewidth=0.8, label=f"one setting each ({len(traces)} settings)")
    ax.plot(best.x, best.y, color=color(1), linewidth=2.4, marker="o", markersize=3,
            label=f"best: {best.label}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (full passes over the training data)")
    ax.set_ylabel(f"test precision@{k} (mean over split seeds)")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def quality_vs_time(models: list[str], seconds, quality, path, *, title: str, k: int) -> Path:
    """Test precision@k against fit time, one colour per model, the Pareto front joined.

    The points on the front are numbered 1, 2, ... from the cheapest, so a table can name them.

    Parameters
    ----------
    models : list of str
        Model name of each point (colour).
    seconds, quality : array_like
        Fit time to the best epoch and the precision@k reached there, one per setting.
    """
    seconds = np.asarray(seconds, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    fig, (ax,) = _new()
    names = list(dict.fromkeys(models))
    model_arr = np.asarray(models, dtype=object)
    for i, name in enumerate(names):
        mine = model_arr == name
        ax.scatter(seconds[mine], quality[mine], s=22, color=color(i), alpha=0.75, label=name)
    order = front_order(seconds, quality)
    ax.step(seconds[order], quality[order], where="post", color="black", linewidth=1.2,
            label="Pareto front (nothing faster is better), numbered")
    ax.scatter(seconds[order], quality[order], s=70, facecolors="none", edgecolors="black")
    for rank, j in enumerate(order, start=1):
        ax.annotate(str(rank), (seconds[j], quality[j]), fontsize=8, fontweight="bold",
                    xytext=(-4, 6), textcoords="offset points", ha="right")
    if np.nanmin(seconds) > 0 and np.nanmax(seconds) / np.nanmin(seconds) > 20:
        ax.set_xscale("log")
        ax.set_xlabel("fit time to the best epoch (seconds, log scale)")
    else:
        ax.set_xlabel("fit time to the best epoch (seconds)")
    ax.set_ylabel(f"test precision@{k} (mean over split seeds)")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def thread_speedup(lines: list[Curve], path, *, title: str, base: int = 1) -> Path:
    """Speedup of a fit epoch against thread count, with the ideal (linear) speedup line.

    ``base`` is the thread count the speedups are relative to (1 unless a run skipped it).
    """
    fig, (ax,) = _new()
    top = max(float(np.max(c.x)) for c in lines)
    ideal = np.array([base, top], dtype=np.float64)
    ax.plot(ideal, ideal / base, color="0.4", linestyle="--", linewidth=1.2,
            label=f"ideal (speedup = threads / {base})" if base != 1 else
            "ideal (speedup = threads)")
    for i, curve in enumerate(lines):
        ax.plot(curve.x, curve.y, color=color(i), marker="o", linewidth=1.6, label=curve.label)
    ax.set_xlabel("threads")
    ax.set_ylabel(f"speedup of fit time per epoch vs {base} thread{'s' if base != 1 else ''} (×)")
    ax.set_xticks(np.unique(np.concatenate([c.x for c in lines])))
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def fit_time_vs_likes(lines: list[Curve], path, *, title: str) -> Path:
    """Fit time per epoch against the number of likes, log-log, each line's fitted slope shown.

    A slope near 1 means cost linear in the data, as ALS's per-user solve promises.
    """
    fig, (ax,) = _new()
    for i, curve in enumerate(lines):
        slope = loglog_slope(curve.x, curve.y)
        ax.plot(curve.x, curve.y, color=color(i), marker="o", linewidth=1.6,
                label=f"{curve.label} (slope {slope:.2f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_short_number))
        axis.set_minor_formatter(FuncFormatter(_short_number))
    ax.set_xlabel("likes in the data set (non-zeros, log scale)")
    ax.set_ylabel("fit time per epoch (seconds, log scale)")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)
