"""asv's stored results as a Markdown table: one row per benchmark and parameters, one column per
commit (oldest on the left).

Reads ``.asv/results/benchmarks.json`` (units) and the result files of one machine (asv's
format version 2, read as JSON: importing ``asv`` from a script in ``bench/`` would find the
suite folder ``bench/asv`` instead). The value of a ``time_`` benchmark is asv's median of its
samples, of a ``track_`` benchmark the returned value. Under the table, each commit's date and
subject (from ``git log``).

    python bench/scripts/asv_table.py [--bench REGEX] [--last 5] [--machine NAME] [--results .asv/results]

``--bench`` selects like ``asv run --bench``: a regular expression searched in
``name(param, ...)``, e.g. ``"time_fit_epoch.*'sketchfab'"``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

from recsys_bench.errors import UserError


def format_value(value: float | None, unit: str) -> str:
    """A result for a table cell: seconds with a readable unit, other units as 4 digits."""
    if value is None or value != value:
        return "-"
    if unit != "seconds":
        return f"{value:.4g}"
    for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale:
            return f"{value / scale:.3g} {name}"
    return f"{value / 1e-9:.3g} ns"


def row_label(name: str, params: tuple) -> str:
    """``bench_fit.FitEpoch.time_fit_epoch`` and asv's parameter reprs ``("'implicit-als'", "1")``
    -> ``time_fit_epoch(implicit-als, 1)``."""
    short = name.rsplit(".", 1)[-1]
    return f"{short}({', '.join(p.strip(chr(39)) for p in params)})" if params else short


def read_runs(folder: Path) -> list[dict]:
    """The result files of one machine's folder, oldest commit first."""
    runs = []
    for path in folder.glob("*.json"):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != 2:
            raise UserError(f"asv results format {data.get('version')}, expected 2", path=path)
        runs.append(data)
    return sorted(runs, key=lambda run: run["date"])


def commit_line(commit: str) -> str:
    """``hash date subject`` of a commit, from git."""
    done = subprocess.run(["git", "log", "-1", "--date=short", "--format=%h %ad %s", commit],
                          capture_output=True, text=True)
    return done.stdout.strip() or commit[:8]


def table(results_dir: Path, machine: str | None = None, bench: str | None = None,
          last: int | None = None) -> str:
    """The Markdown table of the stored results.

    Parameters
    ----------
    results_dir : pathlib.Path
        asv's ``results_dir`` (``.asv/results``).
    machine : str, optional
        Machine name; needed only when several machines have results.
    bench : str, optional
        Regular expression selecting ``name(param, ...)`` rows, as ``asv run --bench`` does.
    last : int, optional
        Keep only the newest ``last`` commits.

    Returns
    -------
    str
        The table, then one line per commit.
    """
    benchmarks = json.loads((results_dir / "benchmarks.json").read_text(encoding="utf-8"))
    machines = sorted(p.name for p in results_dir.iterdir() if (p / "machine.json").exists())
    if machine is None:
        if len(machines) != 1:
            raise UserError(f"choose a machine with --machine: {', '.join(machines) or 'none'}",
                            path=results_dir)
        machine = machines[0]
    if machine not in machines:
        raise UserError(f"no results of machine {machine!r} (found: {', '.join(machines)})",
                        path=results_dir)
    runs = read_runs(results_dir / machine)
    commits = list(dict.fromkeys(run["commit_hash"] for run in runs))[-last if last else None:]
    envs = sorted({run["env_name"] for run in runs})
    columns = [(c, e) for c in commits for e in envs
               if any(r["commit_hash"] == c and r["env_name"] == e for r in runs)]

    cells: dict[tuple[str, tuple], dict[tuple[str, str], str]] = {}
    for run in runs:
        if run["commit_hash"] not in commits:
            continue
        result_index = run["result_columns"].index("result")
        params_index = run["result_columns"].index("params")
        for name, columns_of_run in sorted(run["results"].items()):
            if name not in benchmarks:
                continue
            values, params = columns_of_run[result_index], columns_of_run[params_index]
            combos = list(itertools.product(*params)) if params else [()]
            values = values if params else [values]
            for combo, value in zip(combos, values or [None] * len(combos)):
                full = f"{name}({', '.join(combo)})" if combo else name
                if bench and not re.search(bench, full):
                    continue
                if value is None or value != value:
                    continue
                cell = format_value(value, benchmarks[name].get("unit", ""))
                cells.setdefault((name, combo), {})[run["commit_hash"], run["env_name"]] = cell

    head = [f"`{c[:8]}`" + (f" {e}" if len(envs) > 1 else "") for c, e in columns]
    lines = ["| benchmark | " + " | ".join(head) + " |",
             "|---|" + "---:|" * len(columns)]
    for (name, params), row in cells.items():
        lines.append(f"| {row_label(name, params)} | "
                     + " | ".join(row.get(col, "-") for col in columns) + " |")
    lines += ["", *(f"- {commit_line(c)}" for c in commits)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table; see the module docstring for the options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path(".asv/results"),
                        help="asv's results folder")
    parser.add_argument("--machine", help="machine name (when several have results)")
    parser.add_argument("--bench", help="regular expression on name(param, ...)")
    parser.add_argument("--last", type=int, help="only the newest N commits")
    args = parser.parse_args(argv)
    try:
        if not (args.results / "benchmarks.json").exists():
            raise UserError("no asv results (run `asv run` first)", path=args.results)
        print(table(args.results, args.machine, args.bench, args.last))
    except UserError as error:
        print(f"asv_table: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
