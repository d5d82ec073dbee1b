"""A calibration yardstick: how fast the machine was while a run measured its timings.

A run's fit times say as much about the machine's load as about the code: on a shared 2-core
machine the same commit fitted 1.4x to 4.3x slower in a busy half hour. So every run session
times a fixed, short probe -- a float32 matrix product and one epoch of implicit's ALS on a fixed
seeded matrix, each about a tenth of a second, one thread, BLAS pinned to one thread -- at its
start, at its end and, on long runs, between trials (:class:`Probes`). ``run.json`` keeps every
probe with the load average, the CPU model and the cores the run could use
(:class:`Probe`).

``recsys-bench compare`` divides the ratio of two runs' timings by the ratio of their yardsticks
(:func:`timing_basis`): the same code on a machine half as fast for everyone reads as x1.0, a
slower commit still reads as slower. Runs from different machines, or whose yardstick moved too
much within the run to stand for it, get no timing verdict at all.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

import numpy as np
import scipy.sparse as sp

# The probe's fixed work: GEMM_REPEATS products of two GEMM_SIZE^2 float32 matrices, and one ALS
# epoch (ALS_FACTORS factors, conjugate gradient) on ALS_LIKES seeded likes of ALS_SHAPE.
GEMM_SIZE = 512
GEMM_REPEATS = 40
ALS_SHAPE = (10_000, 3_000)
ALS_LIKES = 150_000
ALS_FACTORS = 48
# Seconds between two probes of a session while trials run. A probe waits for the running
# trials to finish, so that it measures the machine and not the run's own workers; with parallel
# workers that idles cores for up to one trial, so probes between trials are kept rare (a
# 30-minute grid on 2 workers gets one).
INTERVAL_S = 900.0
# Largest max / min of the probes of one run that still lets the run's median stand for it.
MAX_SPREAD = 2.0


@dataclass(frozen=True)
class Probe:
    """One timing of the yardstick and the state of the machine around it.

    Attributes
    ----------
    when : str
        ``"start"``, ``"between"`` (between trials of a long run) or ``"end"`` of a session.
    at : str
        UTC time, ISO 8601.
    gemm_seconds, als_seconds : float
        Wall time of the matrix products and of the ALS epoch.
    seconds : float
        Their geometric mean: the yardstick (lower is a faster machine).
    cpu_share : float
        CPU time of the probing thread / wall time over both parts: about 1 on an idle core,
        lower when other work took turns on it. The thread's time, not the process's, so other
        threads of the same process cannot push it above 1.
    load_average : tuple of float, or None
        The 1, 5 and 15 minute load averages just before the probe (None where unknown).
    cpu : str
        CPU model.
    cores : int
        Cores this process could run on.
    cost_seconds : float
        Wall time of the whole probe, set-up included.
    """

    when: str
    at: str
    gemm_seconds: float
    als_seconds: float
    seconds: float
    cpu_share: float
    load_average: tuple[float, float, float] | None
    cpu: str
    cores: int
    cost_seconds: float

    def to_dict(self) -> dict:
        """A JSON-ready dict (rounded to the microsecond)."""
        out = asdict(self)
        for key in ("gemm_seconds", "als_seconds", "seconds", "cost_seconds"):
            out[key] = round(out[key], 6)
        out["cpu_share"] = round(out["cpu_share"], 3)
        out["load_average"] = list(self.load_average) if self.load_average else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Probe:
        """A probe as :meth:`to_dict` wrote it (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        load = values.get("load_average")
        values["load_average"] = tuple(load) if load else None
        return cls(**values)

    def line(self) -> str:
        """One line: the yardstick, what it took, and how busy the machine was."""
        load = "load ?" if self.load_average is None else \
            "load " + " ".join(f"{x:.2f}" for x in self.load_average)
        return (f"{self.when} {self.at}: {self.seconds * 1000:.1f} ms (GEMM "
                f"{self.gemm_seconds * 1000:.1f} ms, ALS epoch {self.als_seconds * 1000:.1f} ms), "
                f"CPU share {self.cpu_share:.2f}, {load}")


def _als_matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, ALS_SHAPE[0], ALS_LIKES)
    cols = rng.integers(0, ALS_SHAPE[1], ALS_LIKES)
    matrix = sp.csr_matrix((np.ones(ALS_LIKES, dtype=np.float32), (rows, cols)), shape=ALS_SHAPE)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _timed(work) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.thread_time()
    work()
    return time.perf_counter() - start, time.thread_time() - cpu


def measure(when: str = "start") -> Probe:
    """Time the yardstick once, in this process, on one thread.

    Parameters
    ----------
    when : str
        Where in the session it is taken (``"start"``, ``"between"``, ``"end"``).

    Returns
    -------
    Probe
    """
    import implicit.cpu.als

    from recsys_bench.experiment.config import cores
    from recsys_bench.threads import cpu_model, pinned_blas

    began = time.perf_counter()
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    likes = _als_matrix()

    def gemm():
        for _ in range(GEMM_REPEATS):
            a @ b

    def als(matrix=likes):
        implicit.cpu.als.AlternatingLeastSquares(
            factors=ALS_FACTORS, iterations=1, num_threads=1, random_state=0,
            calculate_training_loss=False).fit(matrix, show_progress=False)

    with pinned_blas(1):
        a @ b
        als(likes[:500])  # untimed: the first calls load code
        gemm_wall, gemm_cpu = _timed(gemm)
        als_wall, als_cpu = _timed(als)
    return Probe(when=when, at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 gemm_seconds=gemm_wall, als_seconds=als_wall,
                 seconds=math.sqrt(gemm_wall * als_wall),
                 cpu_share=(gemm_cpu + als_cpu) / max(gemm_wall + als_wall, 1e-12),
                 load_average=load, cpu=cpu_model(), cores=cores(),
                 cost_seconds=time.perf_counter() - began)


class Probes:
    """The probes of one run session, kept in ``session["yardstick"]`` (a list of dicts).

    Parameters
    ----------
    session : dict
        The session entry of ``run.json``.
    interval_s : float, optional
        Seconds after which :meth:`due` asks for a probe between trials (default
        :data:`INTERVAL_S`).
    """

    def __init__(self, session: dict, interval_s: float | None = None):
        self.record = session.setdefault("yardstick", [])
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self.last = time.monotonic()

    @classmethod
    def start(cls, session: dict, interval_s: float | None = None) -> Probes:
        """Take the session's start probe and return the keeper of the rest."""
        probes = cls(session, interval_s)
        probes.take("start")
        return probes

    def take(self, when: str) -> Probe:
        """Measure now and record it."""
        probe = measure(when)
        self.record.append(probe.to_dict())
        self.last = time.monotonic()
        return probe

    def due(self) -> bool:
        """True when the last probe is older than the interval."""
        return time.monotonic() - self.last >= self.interval_s


@dataclass(frozen=True)
class RunYardstick:
    """The probes of one run that stand for its timings, and what they add up to.

    Attributes
    ----------
    probes : tuple of Probe
        Probes of the sessions that ran trials (every probe when none says so).
    """

    probes: tuple[Probe, ...]

    @property
    def seconds(self) -> float:
        """Median yardstick over the probes: the machine's speed during the run."""
        return float(statistics.median(p.seconds for p in self.probes))

    @property
    def spread(self) -> float:
        """Slowest / fastest probe: how much the machine's speed moved within the run."""
        values = [p.seconds for p in self.probes]
        return max(values) / min(values)

    @property
    def machines(self) -> list[tuple[str, int]]:
        """Distinct (CPU model, usable cores) of the probes, in order of first appearance."""
        return list(dict.fromkeys((p.cpu, p.cores) for p in self.probes))

    def summary(self) -> str:
        """One line: median, spread, busiest load average, lowest CPU share, machine."""
        loads = [p.load_average[0] for p in self.probes if p.load_average]
        busiest = f", load average up to {max(loads):.2f}" if loads else ""
        cpu, cores = self.machines[0]
        return (f"{self.seconds * 1000:.1f} ms (median of {len(self.probes)} probe(s), "
                f"slowest/fastest x{self.spread:.2f}, CPU share down to "
                f"{min(p.cpu_share for p in self.probes):.2f}{busiest}; {_machine(cpu, cores)})")


def run_yardstick(info: dict) -> RunYardstick | None:
    """The yardstick of a run from its ``run.json`` contents; None when it recorded none.

    Sessions that ran no trial (a resumed run with nothing left to do) are left out unless no
    session ran one.
    """
    sessions = [s for s in info.get("sessions") or [] if s.get("yardstick")]
    working = [s for s in sessions if s.get("trials_run", 1) > 0] or sessions
    probes = tuple(Probe.from_dict(p) for s in working for p in s["yardstick"])
    return RunYardstick(probes) if probes else None


@dataclass(frozen=True)
class TimingBasis:
    """How two runs' timings may be compared.

    Attributes
    ----------
    comparable : bool
        False: the runs' timings say nothing about the code (different machines, or a machine
        whose speed moved too much within a run); no timing verdict.
    ratio : float
        Yardstick of B / yardstick of A, which B's times are divided by; 1.0 when a run has no
        yardstick (raw comparison), NaN when not comparable.
    note : str
        Why not comparable, or why the comparison is raw; empty otherwise.
    """

    comparable: bool
    ratio: float
    note: str

    @property
    def normalised(self) -> bool:
        """True when timings are divided by a measured yardstick ratio."""
        return self.comparable and not self.note

    def lines(self, summary_a: str, summary_b: str) -> list[str]:
        """The readable account: both runs' yardsticks and what is done with them."""
        out = ["Yardstick (the machine's speed during each run; lower is faster)",
               f"  A: {summary_a}", f"  B: {summary_b}"]
        if self.normalised:
            out.append(f"  B / A = {self.ratio:.3f}: B's times are divided by it (\"normalised\")")
        elif self.note:
            out.append(f"  {'note' if self.comparable else 'timings NOT COMPARABLE'}: {self.note}")
        return out


def timing_basis(a: RunYardstick | None, b: RunYardstick | None,
                 max_spread: float = MAX_SPREAD) -> TimingBasis:
    """Decide whether and how the timings of run A and run B compare.

    Parameters
    ----------
    a, b : RunYardstick or None
        The runs' yardsticks (:func:`run_yardstick`); None for a run recorded before them.
    max_spread : float
        Largest slowest/fastest probe ratio within a run that still counts as one machine speed.

    Returns
    -------
    TimingBasis
    """
    missing = [name for name, y in (("A", a), ("B", b)) if y is None]
    if missing:
        return TimingBasis(True, 1.0, f"run {' and '.join(missing)} recorded no yardstick (made "
                           "before they were): timings compared raw, so a busier machine "
                           "reads as a slower code")
    machines = {name: y.machines for name, y in (("A", a), ("B", b))}
    for name, found in machines.items():
        if len(found) > 1:
            return TimingBasis(False, math.nan, f"run {name} ran on more than one machine "
                               f"({_machines(found)})")
    if machines["A"] != machines["B"]:
        return TimingBasis(False, math.nan, f"different machines: A on {_machines(machines['A'])}"
                           f", B on {_machines(machines['B'])}")
    for name, y in (("A", a), ("B", b)):
        if y.spread > max_spread:
            low = min(p.seconds for p in y.probes) * 1000
            high = max(p.seconds for p in y.probes) * 1000
            return TimingBasis(False, math.nan, f"the yardstick of run {name} moved x"
                               f"{y.spread:.2f} within the run ({low:.1f} to {high:.1f} ms; more "
                               f"than x{max_spread:g}): the machine's load changed too much for "
                               "its timings to be trusted")
    return TimingBasis(True, b.seconds / a.seconds, "")


def _machine(cpu: str, cores: int) -> str:
    return f"{cpu}, {cores} core{'' if cores == 1 else 's'}"


def _machines(found: list[tuple[str, int]]) -> str:
    return "; ".join(_machine(cpu, cores) for cpu, cores in found)


__all__ = ["Probe", "Probes", "RunYardstick", "TimingBasis", "measure", "run_yardstick",
           "timing_basis", "INTERVAL_S", "MAX_SPREAD"]
