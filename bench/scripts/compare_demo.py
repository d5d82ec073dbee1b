"""`recsys-bench compare` catching a degraded and a slowed model, on MovieLens-100k.

Builds three run folders of one small experiment (popularity, implicit ALS and LightFM WARP on
MovieLens-100k with ratings >= 4, two split seeds, checkpoints at 5 and 10 epochs) with the
runner's own trial code, in this process (:func:`recsys_bench.testing_runs.build_run`):

- ``a``: the baseline;
- ``a-again``: the same experiment run again, unchanged;
- ``b``: implicit ALS scores a quarter of the users with other users' factors, and every LightFM
  fit call sleeps two seconds (:class:`recsys_bench.testing_runs.Degraded`).

Every run times the yardstick (:mod:`recsys_bench.yardstick`) before and after its trials, as
``recsys-bench run`` does. With ``--busy N``, ``a-again`` and ``b`` are built beside N busy-loop
processes (which stop themselves after ten minutes at most): their raw timings are slower
throughout, and ``compare`` must still pass the rerun and catch only the real slowdown.

Then it runs ``recsys-bench compare a a-again`` (expected exit status 0) and
``recsys-bench compare a b`` (expected 1: implicit ALS's quality and LightFM's fit time
regressed, nothing else) and prints both reports. It exits 0 when both exit statuses and the
flagged models are the expected ones. The sleep is two seconds per fit call, not one, because a
sleep does not slow down with the machine: beside busy loops that make the yardstick 3x slower,
``compare`` divides it by 3, and one second per call would shrink into the jitter of LightFM's
own fit time. About a minute on 2 cores (more with ``--busy``); MovieLens-100k is downloaded
once into the data cache.

    python bench/scripts/compare_demo.py [--out runs/compare-demo] [--min-seconds 0.5] [--busy 2]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from recsys_bench import fileio
from recsys_bench.analysis.compare import compare_runs
from recsys_bench.testing_runs import build_run

CONFIG = """\
[experiment]
name = "compare-demo"
description = "MovieLens-100k (ratings >= 4), three models, two split seeds: the compare demo"

[[datasets]]
name = "movielens-100k"
options = { min_rating = 4 }

[split]
kind = "ratio"
seeds = [0, 1]
options = { fraction = 0.2 }

[evaluation]
k = 10
metrics = ["precision", "ndcg", "mse"]
exclude_train = true
subsets = ["test"]
checkpoints = [5, 10]

[timing]
warmup = 0

[[models]]
name = "popularity"

[[models]]
name = "implicit-als"
params = { factors = 32, regularization = 0.1, alpha = 20 }
threads = [1]

[[models]]
name = "lightfm-warp"
params = { no_components = 32, learning_rate = 0.05 }
threads = [1]
"""

DEFECTS = {"implicit-als": {"scramble": 0.25}, "lightfm-warp": {"sleep": 2.0}}
EXPECTED = {("implicit-als", "QualityChange"), ("lightfm-warp", "TimeChange")}
BUSY_LOOP = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_loops(n: int):
    """``n`` processes spinning on the CPU while the block runs (each stops itself after 600 s)."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]
    try:
        yield
    finally:
        for loop in loops:
            loop.terminate()
        for loop in loops:
            loop.wait()


def compare(folder: Path, run_a: str, run_b: str, min_seconds: float) -> int:
    """Run ``recsys-bench compare`` in ``folder``, print the command and its output, return its
    exit status."""
    args = ["compare", run_a, run_b, "--min-seconds", f"{min_seconds:g}"]
    print(f"$ recsys-bench {shlex.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "recsys_bench", *args], cwd=folder,
                          capture_output=True, text=True)
    print(done.stdout + done.stderr, end="")
    print(f"exit status: {done.returncode}\n", flush=True)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    """Build the three runs, compare them, and check both exit statuses.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when ``compare`` passed the rerun and flagged the degraded run, else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        help="an empty or new folder to keep the runs in (default: a temporary "
                             "folder, removed afterwards)")
    parser.add_argument("--min-seconds", type=float, default=0.5,
                        help="compare's --min-seconds: on a busy machine two identical runs "
                             "differ by tenths of a second")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="build a-again and b beside N busy-loop processes (default: 0)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        fileio.atomic_write_text(folder / "compare-demo.toml", CONFIG)
        print("building run 'a'", flush=True)
        build_run(folder / "compare-demo.toml", folder / "a", probes=True)
        with busy_loops(args.busy):
            for name, defects in (("a-again", None), ("b", DEFECTS)):
                print(f"building run {name!r}" + (f" with {defects}" if defects else "")
                      + (f" beside {args.busy} busy loop(s)" if args.busy else ""), flush=True)
                build_run(folder / "compare-demo.toml", folder / name, defects, probes=True)
        print()
        same = compare(folder, "a", "a-again", args.min_seconds)
        degraded = compare(folder, "a", "b", args.min_seconds)
        found = compare_runs(folder / "a", folder / "b", min_seconds=args.min_seconds)
        flagged = {(row.model, type(row).__name__) for row in found.regressions}
    ok = same == 0 and degraded == 1 and flagged == EXPECTED
    print("as expected: the rerun passes (0) and the degraded run is caught (1), its degraded "
          "models and nothing else" if ok else
          f"unexpected: exit statuses {same} for the rerun, {degraded} for the degraded run; "
          f"flagged in the degraded run: {sorted(flagged)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
