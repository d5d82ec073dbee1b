"""The report of a search folder: ``search.md``, ``search.json``, ``search.csv`` and the trial
history figure, written from the stored study alone (no training).

With a grid's run folder it also sets the search's best test p@k and compute beside the grid's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_bench.errors import UserError
from recsys_bench.experiment.config import Experiment
from recsys_bench.experiment.search import BEST_MODEL, load_search_config, open_study
from recsys_bench.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from recsys_bench.store.run_folder import RunFolder


def trial_table(study):
    """One row per trial (a ``pandas.DataFrame``): number, state (``complete``, ``pruned``,
    ``diverged``, ``fail`` or ``interrupted``), objective ``value`` (the last reported one for
    pruned trials), ``epochs_run``, fit and eval seconds, error and the sampled parameters."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        if state == "fail" and "error" not in t.user_attrs:
            state = "interrupted"
        elif state == "complete" and "error" in t.user_attrs:   # scored 0: it diverged
            state = "diverged"
        last = max(t.intermediate_values) if t.intermediate_values else None
        value = t.value if t.value is not None else (
            t.intermediate_values[last] if last is not None else math.nan)
        rows.append({"trial": t.number, "state": state, "value": value,
                     "epochs_run": t.user_attrs.get("epochs", last),
                     "fit_seconds": t.user_attrs.get("fit_seconds", math.nan),
                     "eval_seconds": t.user_attrs.get("eval_seconds", math.nan),
                     "error": t.user_attrs.get("error", ""), **t.params})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class GridSummary:
    """The best test p@k of a grid run folder and the compute it used."""

    folder: str
    model: str
    dataset: str
    best: float
    best_params: str
    best_epoch: int
    k: int
    exclude_train: bool
    trials: int
    epochs: int
    fit_seconds: float
    eval_seconds: float


def grid_summary(grid_run: str | os.PathLike, model: str) -> GridSummary:
    """Best test p@k (mean over split seeds, best epoch) of ``model`` in a grid run folder.

    Uses ``model`` when the grid ran it, else the grid's only model, else ``implicit-als``.
    Compute: distinct trials, epochs trained (each trial's last checkpoint), fit seconds up to
    the last checkpoint and evaluation seconds of every checkpoint, summed over trials.
    """
    from recsys_bench.store.table import read_results

    df = read_results(grid_run)
    ok = df[(df["status"] == "ok") & (df["subset"] == "test")]
    models_run = sorted(set(ok["model"]))
    if model not in models_run:
        if len(models_run) == 1:
            model = models_run[0]
        elif "implicit-als" in models_run:
            model = "implicit-als"
        else:
            raise UserError(f"the grid run has no {model} results (models: "
                            f"{', '.join(models_run) or 'none'})", path=grid_run)
    ok = ok[ok["model"] == model]
    by_setting = ok.groupby(["dataset", "params", "epoch"], as_index=False).agg(
        p=("precision_at_k", "mean"), k=("k", "first"), exclude=("exclude_train", "first"))
    best = by_setting.sort_values(["p", "epoch"], ascending=[False, True]).iloc[0]
    last = ok.sort_values("epoch").groupby("trial_id").tail(1)
    per_checkpoint = ok.drop_duplicates(["trial_id", "epoch"])
    return GridSummary(folder=Path(grid_run).name, model=model, dataset=str(best["dataset"]),
                       best=float(best["p"]), best_params=str(best["params"]),
                       best_epoch=int(best["epoch"]), k=int(best["k"]),
                       exclude_train=bool(best["exclude"]), trials=int(last["trial_id"].nunique()),
                       epochs=int(last["epoch"].sum()),
                       fit_seconds=float(last["fit_seconds"].sum()),
                       eval_seconds=float(per_checkpoint["eval_seconds"].sum()))


def _history_figure(table, path: Path, title: str, ylabel: str, study) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.85, wspace=0.22)
    styles = {"complete": ("o", "C0"), "pruned": ("x", "C3"), "diverged": ("v", "C7"),
              "fail": ("v", "C7")}
    for state, (marker, color) in styles.items():
        rows = table[table["state"] == state]
        if len(rows):
            left.scatter(rows["trial"], rows["value"], marker=marker, color=color, label=state,
                         s=22)
    complete = table[table["state"] == "complete"].sort_values("trial")
    if len(complete):
        trials = list(complete["trial"]) + [int(table["trial"].max())]
        best = list(complete["value"].cummax())
        left.step(trials, best + best[-1:], where="post", color="C2", label="best so far")
    left.set(xlabel="trial", ylabel=ylabel, title="trial history")
    left.legend(fontsize=8)
    for t in study.get_trials(deepcopy=False):
        if t.intermediate_values:
            steps = sorted(t.intermediate_values)
            pruned = t.state.name == "PRUNED"
            right.plot(steps, [t.intermediate_values[s] for s in steps], marker=".",
                       markersize=3, color="C3" if pruned else "C0",
                       alpha=0.45 if pruned else 0.7, linewidth=0.9)
    right.set(xlabel="epoch", ylabel=ylabel,
              title="learning curves (red: pruned)")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else \
            f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def _md_table(columns: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return out


def write_search_report(out_dir: str | os.PathLike, *, grid_run: str | os.PathLike | None = None
                        ) -> Path:
    """Write ``search.md``, ``search.json``, ``search.csv`` and the history figure of a search
    folder from its stored study (no training).

    Raises
    ------
    UserError
        The folder holds no search.
    """
    out = Path(out_dir)
    folder = RunFolder(out)
    if not folder.search_db.exists() or not folder.config.exists():
        raise UserError("not a search folder (no search.db or config.toml)", path=out)
    config = load_search_config(folder.config)
    return _write_report(out, config, open_study(out, config), grid_run)


def _write_report(out: Path, config: Experiment, study, grid_run) -> Path:
    spec, ev, dataset, split = config.search, config.evaluation, config.datasets[0], config.split
    table = trial_table(study)
    metric = f"{spec.objective}@{ev.k}"
    final = study.user_attrs.get("final")
    counted = table[table["state"] != "interrupted"] if len(table) else table
    fit_total = float(np.nansum(counted["fit_seconds"])) if len(counted) else 0.0
    eval_total = float(np.nansum(counted["eval_seconds"])) if len(counted) else 0.0
    epochs_total = int(np.nansum(counted["epochs_run"].astype(float))) if len(counted) else 0
    states = counted["state"].value_counts().to_dict() if len(counted) else {}
    grid = grid_summary(grid_run, spec.model) if grid_run is not None else None

    lines = [f"# Bayesian search: {config.name}", ""]
    if config.description:
        lines += [config.description, ""]
    options = ", ".join(f"{k}={v}" for k, v in dataset.options.items())
    lines += [
        f"Model `{spec.model}` on `{dataset.name}`" + (f" ({options})" if options else "")
        + f"; Optuna TPE (seed {spec.seed}, {spec.startup_trials} random start-up trials), "
        f"pruner: {spec.pruner['kind']}, checks every {spec.report_every} epochs.", "",
        "**Protocol.** The final split is `" + split.kind + "` (seed "
        f"{split.seeds[0]}, {json.dumps(split.options)}). A validation split is carved "
        f"from its train part by the same splitter (seed {split.validation_seed}): every trial "
        f"trains on what remains and is scored by validation {metric}; only the best trial is "
        f"retrained on the full train part and scored on the test likes, once. Training likes "
        f"are {'excluded from' if ev.exclude_train else 'kept in'} the rankings "
        f"({'harness default' if ev.exclude_train else 'the study protocol'}). The study "
        "tuned directly on its test set, so its reported best is selected on test.", ""]

    if grid is not None:
        retrain = final or {"epochs": 0, "fit_seconds": 0.0, "eval_seconds": 0.0}
        lines += ["## Headline: grid vs Bayesian search", ""]
        rows = [[f"Bayesian search ({spec.model})",
                 final["test"] if final else math.nan,
                 "validation" + (f" ({final['validation']:.4f})" if final else ""),
                 len(counted), epochs_total + retrain["epochs"],
                 fit_total + eval_total + retrain["fit_seconds"] + retrain["eval_seconds"]],
                [f"full grid `{grid.folder}` ({grid.model})", grid.best, "test",
                 grid.trials, grid.epochs, grid.fit_seconds + grid.eval_seconds]]
        lines += _md_table(["method", f"best test p@{ev.k}", "selected on", "trials",
                            "epochs trained", "seconds (fit + eval)"], rows)
        notes = [f"Grid best: {grid.best_params} at epoch {grid.best_epoch}, "
                 f"{grid.dataset}, mean over its split seeds. The search's epochs and seconds "
                 "include the final retrain of its best trial; the grid's, every checkpoint's "
                 "evaluation (its train subset too, where it scored one)."]
        if grid.k != ev.k or grid.exclude_train != ev.exclude_train:
            notes.append(f"**Not like for like:** the grid used k={grid.k}, "
                         f"exclude_train={grid.exclude_train}.")
        if grid.dataset != dataset.name:
            notes.append(f"The grid ran on `{grid.dataset}`, the search on `{dataset.name}`.")
        if spec.objective != "precision":
            notes.append(f"The search optimised {metric}; the table shows its final test "
                         f"{metric} against the grid's p@{ev.k}.")
        lines += ["", " ".join(notes), ""]

    lines += ["## Best trial", ""]
    if final is None:
        lines += ["No trial completed yet." if not states.get("complete") else
                  "The best trial has not been retrained on the full train part yet (that "
                  "happens at the end of a search session).", ""]
    else:
        lines += [f"Trial {final['trial']}: validation {metric} **{final['validation']:.4f}**; "
                  f"retrained on the full train part for {final['epochs']} epochs "
                  f"({final['fit_seconds']:.1f} s): **test {metric} {final['test']:.4f}**.", ""]
        lines += _md_table(["parameter", "value"], [[k, v] for k, v in
                                                    sorted(final["setting"].items())])
        lines += ["", f"Saved vectors: `models/{BEST_MODEL}.npz` (for `recsys-bench similar`); "
                  "queries on them: [gallery](gallery/index.html).", ""]

    lines += ["## Compute", ""]
    lines += _md_table(["trials", "complete", "pruned", "diverged", "failed", "epochs trained",
                        "fit seconds", "eval seconds"],
                       [[len(counted), states.get("complete", 0), states.get("pruned", 0),
                         states.get("diverged", 0), states.get("fail", 0), epochs_total,
                         f"{fit_total:,.0f}", f"{eval_total:,.1f}"]])
    interrupted = int((table["state"] == "interrupted").sum()) if len(table) else 0
    if interrupted:
        lines += ["", f"{interrupted} interrupted trial(s) not counted."]
    lines += [""]

    if len(table):
        figure = _history_figure(table, out / "figures" / "search-history.png",
                                 f"{config.name}: validation {metric}", f"validation {metric}",
                                 study)
        lines += ["## Trial history", "", f"![trial history]({figure.relative_to(out)})", ""]
        params = [d.name for d in spec.space]
        shown = table.reindex(columns=["trial", "state", "value", "epochs_run", "fit_seconds",
                                       "eval_seconds", *params])
        shown[["fit_seconds", "eval_seconds"]] = shown[["fit_seconds", "eval_seconds"]].round(1)
        lines += _md_table(["#", "state", f"validation {metric}", "epochs trained", "fit s",
                            "eval s", *params], shown.values.tolist())
        errors = table[table["error"] != ""]
        if len(errors):
            lines += ["", "Errors: " + "; ".join(f"trial {r.trial}: {r.error}"
                                                 for r in errors.itertuples())]
        lines += [""]
        atomic_write_bytes(out / "search.csv", table.to_csv(index=False).encode("utf-8"))

    summary = {"name": config.name, "model": spec.model, "dataset": dataset.name,
               "metric": metric, "trials": len(counted), "states": states,
               "epochs": epochs_total, "fit_seconds": fit_total, "eval_seconds": eval_total,
               "final": final, "sessions": study.user_attrs.get("sessions", []),
               "grid": None if grid is None else dataclasses.asdict(grid)}
    atomic_write_json(out / "search.json", summary)
    path = out / "search.md"
    atomic_write_text(path, "\n".join(lines))
    return path
