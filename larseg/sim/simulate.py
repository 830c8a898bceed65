"""The simulator's driver: generator -> transport -> readout -> Event, and whole files.

Every event has its own seed, derived from (job seed, event index), so an event does not depend on
how many workers ran, in which order, or whether the job was interrupted and resumed; what it
holds depends on that seed and the job's settings (detector, generator and its options) only.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors import Detector, get_detector
from ..event import Event
from .kernel_cache import mark_kernels_ready




#: a job's generator options: (key, value) pairs, sorted, defaults left out
Options = tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class SimulationJob:
    """A simulation job. ``options`` are the generator's (``get_generator(generator,
    **options)``): given as a mapping or pairs, kept as :func:`canonical_options` makes them
    (typed, sorted, defaults left out), so a job whose options are all defaults is the job
    without options."""

    detector: str
    generator: str
    seed: int = 0
    run: int = 1
    options: Options = ()

    def __post_init__(self) -> None:
        options: Options = ()
        if self.options:
            from .generators import canonical_options

            options = canonical_options(self.generator, dict(self.options))
        object.__setattr__(self, "options", options)

    def identity(self) -> dict:
        """What makes two runs the same job: stored in the file, checked on resume. The event
        format is larseg's version: a resume by another version could mix two simulators. The
        generator options are there only when some differ from their defaults: the file of a
        job without options (and of one written before options existed) has no such key."""
        from .. import __version__

        out = {"kind": "simulate", "detector": self.detector, "generator": self.generator,
               "seed": self.seed, "run": self.run, "larseg_version": __version__}
        if self.options:
            out["generator_options"] = dict(self.options)
        return out

    def describe(self) -> str:
        """``detector/generator`` and the options, for messages."""
        opts = "".join(f" {k}={v}" for k, v in self.options)
        return f"{self.detector}/{self.generator}{opts}"

    def rng(self, index: int) -> np.random.Generator:
        """Event ``index``'s stream. The detector is part of the seed: SBND and MicroBooNE must
        not draw the same interactions for the same seed."""
        return np.random.default_rng(np.random.SeedSequence(
            [self.seed, index, zlib.crc32(self.detector.encode())]))


def simulate_event(job: SimulationJob, index: int, detector: Detector | None = None) -> Event:
    """Simulate event ``index`` of a job (deterministic in (job.seed, index, job.options)).
    ``detector``: a variant of the job's detector (e.g. another readout) instead of its preset."""
    from .generators import get_generator
    from .readout import readout
    from .transport import transport

    detector = detector or get_detector(job.detector)
    rng = job.rng(index)
    generated = get_generator(job.generator, **dict(job.options)).generate(detector, rng)
    particles, deposits = transport(generated.primaries, detector, rng)
    planes = readout(deposits, particles, detector, rng)
    return Event(run=job.run, subrun=job.seed % 2**31, event=index, detector=detector.meta(),
                 planes=planes, particles=particles, interactions=list(generated.interactions))


def _worker_init() -> None:
    # One thread per worker process: the workers already use every core.
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"


def _simulate_prepared(args: tuple[SimulationJob, int]):
    """Simulate one event and convert it to larcv3 products (in a worker, so that the process
    writing the file only appends arrays)."""
    from ..io import producers_for_detector
    from .products import prepare_simulated

    job, index = args
    return prepare_simulated(simulate_event(job, index), producers_for_detector(job.detector))


def iter_prepared(job: SimulationJob, indices: range, workers: int = 1, *,
                  stop: object = None) -> Iterator:
    """Yield simulated events, as products ready to write, in index order; ends early when
    ``stop`` becomes truthy (see :func:`larseg.parallel.ordered_map`)."""
    from ..parallel import ordered_map

    return ordered_map(_simulate_prepared, [(job, i) for i in indices], workers, stop=stop,
                       initializer=_worker_init,
                       describe=lambda task: f"{task[0].describe()} event {task[1]} "
                                             f"(seed {task[0].seed})")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# ------------------------------------------------------------------ whole files
@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_to_file` did."""

    written: int          # events simulated by this call
    total: int            # events in the file
    seconds: float        # wall time of this call
    startup_seconds: float  # of which: the first event, including kernel compilation or loading
    recovered: int        # events already in the file (an interrupted run's, or an earlier job's)
    resumed_partial: bool  # an interrupted run's .partial was continued

    @property
    def steady_rate(self) -> float:
        """Events per second after the first event (kernel compilation excluded)."""
        n, dt = self.written - 1, self.seconds - self.startup_seconds
        return n / dt if n > 0 and dt > 0 else float("nan")


def simulate_to_file(path: str | Path, job: SimulationJob, n_events: int, *, workers: int = 1,
                     overwrite: bool = False,
                     on_event: Callable[[int], None] | None = None,
                     on_open: Callable[[int, bool], None] | None = None,
                     first: int = 0) -> SimulationResult:
    """Simulate ``n_events`` into a larcv3 file; resumes an interrupted job.

    The file holds the job's events ``first`` … ``first + n_events - 1`` (a shard of a larger job
    when ``first`` > 0: see :mod:`larseg.sim.sharding`).

    Writing goes to ``<path>.partial`` and is renamed to ``path`` only when all events are in:
    an interrupted job leaves the partial file, and running the same job again continues from
    the last complete event. The job's settings are stored in the file, and a resume or extension
    by a different job is refused (:class:`~larseg.errors.JobMismatchError`).

    SIGINT/SIGTERM stop the job at the next event boundary: workers are stopped, complete events
    are committed, and :class:`~larseg.errors.JobInterrupted` says how many the ``.partial``
    keeps. ``on_open(events_in_file, resumed_partial)`` is called once the file is open;
    ``on_event(n)`` with the number of events in the file, then after each new event.
    """
    from ..io import producers_for_detector
    from ..io.jobs import write_job

    t0 = time.perf_counter()
    start: int | None = None   # events in the file when it was opened
    startup = 0.0              # seconds to the first new event

    def opened(n: int, resumed: bool) -> None:
        nonlocal start
        start = n
        if on_open is not None:
            on_open(n, resumed)

    def progressed(n: int) -> None:
        nonlocal startup
        if not startup and start is not None and n > start:
            # the first event also loaded (or, once, compiled) the numba kernels
            startup = time.perf_counter() - t0
            mark_kernels_ready()
        if on_event is not None:
            on_event(n)

    def produce(indices: range, stop) -> Iterator:
        # Every event is simulated in a worker process, even with one worker: the signal
        # handler only sets a flag, and this process, waiting for results, sees it within
        # 0.1 s and stops the workers, even in the minute a first run spends compiling.
        return iter_prepared(job, range(first + indices.start, first + indices.stop),
                             workers=workers, stop=stop)

    identity = job.identity() | ({"first_event": first} if first else {})
    out = write_job(path, n_events, producers=producers_for_detector(job.detector),
                    identity=identity, produce=produce, overwrite=overwrite, on_open=opened,
                    on_event=progressed)
    return SimulationResult(written=out.total - out.recovered, total=out.total,
                            seconds=time.perf_counter() - t0, startup_seconds=startup,
                            recovered=out.recovered, resumed_partial=out.resumed_partial)
