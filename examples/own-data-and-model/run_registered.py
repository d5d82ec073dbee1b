"""Run own-registered.toml: register own_data.py as the data set ``own-ratings``, then run.

    PYTHONPATH=. python run_registered.py runs/own-registered
"""

import sys
from pathlib import Path

from recsys_bench import cli, datasets

HERE = Path(__file__).resolve().parent


def main(out: str) -> int:
    """Register the data set and run the experiment into ``out`` (inline: the registration
    lives in this process)."""
    if "own-ratings" not in datasets.names():
        datasets.register("own-ratings", "own_data", "The example's ratings.csv (ratings >= 4)")
    return cli.main(["run", str(HERE / "own-registered.toml"), "--out", out, "--executor",
                     "inline", "--quiet"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/own-registered"))
