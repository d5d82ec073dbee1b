"""The layout of a result folder, known in this one place.

A run folder (``recsys-bench run``) and a search folder (``recsys-bench search``) share it::

    config.toml            the experiment file as run (claims the folder)
    run.json               provenance: commit, packages, machine, thread pools, sessions
    splits/                <label>-seed<N>.npz, <label>-features.npz, <label>-items.npz,
                           <label>.json (sizes, loader statistics, fingerprints);
                           a search's validation.npz and features.npz
    trials/<id>.parquet    the rows of one finished (or failed) trial
    raw/<id>.npz           evaluated users and top-k ids at every checkpoint and subset
    models/<id>.npz        the vectors of saved models (similar items, tag queries)
    logs/                  worker logs and the tracebacks of failed trials
    results.parquet/.csv   all trial rows
    search.db              a search's Optuna study
    sources.json           fingerprints of the data sets' contents (a changed source is refused)
    quarantine/            damaged trial files moved aside on resume (their trials run again)
    .lock                  held by the process running in the folder

Everything else reads and writes paths through :class:`RunFolder`, so the layout can only
change here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recsys_bench.errors import UserError
from recsys_bench.fileio import LOCK_NAME, atomic_write_text


@dataclass(frozen=True)
class RunFolder:
    """Every path of one result folder.

    Parameters
    ----------
    root : pathlib.Path
        The folder (it need not exist yet).
    """

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def run_info(self) -> Path:
        return self.root / "run.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def table(self) -> Path:
        return self.root / "results.parquet"

    @property
    def table_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def sources(self) -> Path:
        """Fingerprints of the data sets' contents at the first session."""
        return self.root / "sources.json"

    @property
    def quarantine(self) -> Path:
        """Where damaged files found on resume are moved aside."""
        return self.root / "quarantine"

    @property
    def search_db(self) -> Path:
        return self.root / "search.db"

    def split_name(self, label: str, seed: int) -> str:
        """File name of the split of data set ``label`` drawn with ``seed``."""
        return f"{label}-seed{seed}.npz"

    def split(self, label: str, seed: int) -> Path:
        return self.splits / self.split_name(label, seed)

    def features_name(self, label: str) -> str:
        return f"{label}-features.npz"

    def split_meta(self, label: str) -> Path:
        """Sizes, loader statistics and split fingerprints of data set ``label``."""
        return self.splits / f"{label}.json"

    def vocabulary(self, label: str) -> Path:
        """Item ids, names and feature names of data set ``label``."""
        return self.splits / f"{label}-items.npz"

    @property
    def validation_split(self) -> Path:
        """A search's validation split (carved from the train part of its final split)."""
        return self.splits / "validation.npz"

    @property
    def search_features(self) -> Path:
        """The item features a search's trials read."""
        return self.splits / "features.npz"

    def trial(self, trial_id: str) -> Path:
        return self.trials / f"{trial_id}.parquet"

    def raw(self, trial_id: str) -> Path:
        return self.root / "raw" / f"{trial_id}.npz"

    def model(self, name: str) -> Path:
        return self.models / f"{name}.npz"

    def trial_log(self, trial_id: str) -> Path:
        return self.logs / f"{trial_id}.log"

    def relative(self, path: Path) -> str:
        """``path`` relative to the folder, as stored in trial descriptions."""
        return path.relative_to(self.root).as_posix()

    def claim(self, raw: dict, source: str, *, same=lambda stored, raw: stored == raw,
              what: str = "experiment") -> None:
        """Make the folder this experiment's: refuse one holding anything else, else write
        ``config.toml``.

        Parameters
        ----------
        raw : dict
            The experiment as parsed; compared with the stored ``config.toml``.
        source : str
            The config file's text, copied in when the folder is new.
        same : callable, optional
            ``same(stored, raw)``: whether the stored config is this experiment (by default
            equality of the parsed TOML).
        what : str
            The word for the folder's content in messages ("experiment", "search").

        Raises
        ------
        UserError
            The folder holds another experiment, other files, or an unreadable config.
        """
        from recsys_bench.experiment.schema import read_toml

        if self.config.exists():
            stored, _ = read_toml(self.config, what="the stored config.toml")
            if not same(stored, raw):
                keys = sorted(k for k in set(stored) | set(raw) if stored.get(k) != raw.get(k))
                name = stored.get("experiment", {}).get("name", "?")
                raise UserError(f"the folder holds a different {what} ({name!r}; config differs "
                                f"in: {', '.join(keys)}); use another --out", path=self.root)
            return
        if self.root.exists() and (not self.root.is_dir() or any(
                p.name != LOCK_NAME for p in self.root.iterdir())):
            raise UserError("not an empty folder and not a result folder (no config.toml); "
                            "use another --out", path=self.root)
        atomic_write_text(self.config, source)
