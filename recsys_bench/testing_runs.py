"""Test aids: run folders built in this process, with models made worse on purpose.

The harness never uses this module. ``tests/test_compare.py`` and ``bench/compare_demo.py``
build run folders with the runner's own trial code
(:func:`recsys_bench.experiment.trial.run_trial`)
rather than in worker processes, so that a model can be swapped for a :class:`Degraded` copy:
slower fits, users ranked with other users' factors, or a crash. ``recsys-bench compare`` must
flag exactly those models.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from recsys_bench import fileio, models, yardstick
from recsys_bench.errors import UserError
from recsys_bench.experiment import runner
from recsys_bench.experiment.config import load_config
from recsys_bench.store import table as store
from recsys_bench.threads import machine_info


def scrambled_order(n_users: int, fraction: float, seed: int = 0) -> np.ndarray:
    """A user index map where a random ``fraction`` of the users get each other's rows.

    Parameters
    ----------
    n_users : int
        Users of the model.
    fraction : float
        Share of users, in ``[0, 1]``, whose row is taken from another chosen user.
    seed : int
        Seed of the choice.

    Returns
    -------
    numpy.ndarray
        int64 ``n_users``: ``order[u]`` is the row that user ``u`` is scored with. Every chosen
        user gets another chosen user's row (when at least two are chosen); the rest keep theirs.
    """
    if not 0 <= fraction <= 1:
        raise UserError(f"scramble must be a share of users in [0, 1], got {fraction!r}")
    order = np.arange(n_users, dtype=np.int64)
    chosen = np.random.default_rng(seed).choice(n_users, round(fraction * n_users),
                                                replace=False)
    order[chosen] = np.roll(chosen, 1)
    return order


class Degraded:
    """A real model with a deliberate defect: slower fits, scrambled users, or a crash.

    Everything else is the wrapped model's (attributes are looked up on it).

    Parameters
    ----------
    inner : Recommender
        The model to wrap.
    sleep : float
        Seconds added to every ``fit`` and ``fit_more``.
    scramble : float
        Share of users, in ``[0, 1]``, scored with another user's factors (see
        :func:`scrambled_order`); ``scores`` and ``factors`` agree.
    crash : bool
        ``fit`` raises ``RuntimeError``.
    """

    def __init__(self, inner, *, sleep: float = 0.0, scramble: float = 0.0,
                 crash: bool = False):
        self.inner, self.sleep, self.scramble, self.crash = inner, sleep, scramble, crash
        self.order: np.ndarray | None = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def fit(self, train, **options) -> None:
        """Fit the wrapped model, then apply the defect."""
        if self.crash:
            raise RuntimeError("deliberately broken")
        self.inner.fit(train, **options)
        self.order = scrambled_order(train.shape[0], self.scramble)
        time.sleep(self.sleep)

    def fit_more(self, epochs: int) -> None:
        """Continue the wrapped model's training, then sleep."""
        self.inner.fit_more(epochs)
        time.sleep(self.sleep)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """The wrapped model's scores of each user's stand-in."""
        return self.inner.scores(self.order[np.asarray(users, dtype=np.int64)])

    def factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The wrapped model's factors with the user rows in :attr:`order`."""
        factors = self.inner.factors()
        if factors is None:
            return None
        user_factors, item_factors = factors
        return np.asarray(user_factors)[self.order], item_factors


def build_run(config: str | os.PathLike, out: str | os.PathLike,
              defects: dict[str, dict] | None = None, *, probes: bool = False,
              probe_every: float | None = None) -> Path:
    """A run folder as ``recsys-bench run`` lays it out, its trials run one by one in this process.

    Parameters
    ----------
    config : path-like
        The experiment file; copied to ``out/config.toml``.
    out : path-like
        The run folder to create; it must not exist.
    defects : dict, optional
        Model name -> keyword arguments of :class:`Degraded`, e.g.
        ``{"implicit-als": {"scramble": 0.5}, "popularity": {"sleep": 1.0}}``.
    probes : bool
        Time the yardstick before and after the trials and write ``run.json`` with them, as
        ``recsys-bench run`` does (:mod:`recsys_bench.yardstick`); without it the run has no
        ``run.json`` and ``compare`` compares its timings raw.
    probe_every : float, optional
        Seconds after which a probe is also taken between two trials (0: between every two;
        default: as ``recsys-bench run``, :data:`recsys_bench.yardstick.INTERVAL_S`).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    config, out = Path(config), Path(out)
    experiment = load_config(config)
    out.mkdir(parents=True)
    fileio.atomic_write_text(out / "config.toml", experiment.source)
    trials = runner.plan_trials(experiment, runner.prepare_splits(experiment, out))
    real_get = models.get

    def get(name, **params):
        model = real_get(name, **params)
        return Degraded(model, **defects[name]) if defects and name in defects else model

    session = {"executor": "in-process (recsys_bench.testing_runs)", "trials_run": len(trials)}
    keeper = yardstick.Probes.start(session, probe_every) if probes else None
    models.get = get
    try:
        for i, trial in enumerate(trials):
            if keeper is not None and i and keeper.due():
                keeper.take("between")
            store.write_trial(out, trial.trial_id, runner.run_trial(trial, out))
    finally:
        models.get = real_get
    store.write_table(store.combine(list(store.read_trials(out).values())), out)
    if keeper is not None:
        keeper.take("end")
        fileio.atomic_write_json(out / "run.json", {"experiment": experiment.name,
                                                    "machine": machine_info(),
                                                    "sessions": [session]})
    return out


__all__ = ["Degraded", "build_run", "scrambled_order"]
