"""The simulator's driver: generator -> transport -> readout -> Event, and whole files.

Every event has its own seed, derived from (job seed, event index), so an event does not depend on
how many workers ran, in which order, or whether the job was interrupted and resumed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors import Detector, get_detector
from ..event import Event


COMMIT_EVERY = 8


@dataclass(frozen=True)
class SimulationJob:
    detector: str
    generator: str
    seed: int = 0
    run: int = 1

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, index]))


def simulate_event(job: SimulationJob, index: int) -> Event:
    """Simulate event ``index`` of a job (deterministic in (job.seed, index))."""
    from .generators import get_generator
    from .readout import readout
    from .transport import transport

    detector: Detector = get_detector(job.detector)
    rng = job.rng(index)
    generated = get_generator(job.generator).generate(detector, rng)
    particles, deposits = transport(generated.primaries, detector, rng)
    planes = readout(deposits, particles, detector, rng)
    return Event(run=job.run, subrun=job.seed % 2**31, event=index, detector=detector.meta(),
                 planes=planes, particles=particles, interactions=list(generated.interactions))


def _worker_init() -> None:
    # One thread per worker process: the workers already use every core.
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"


def _simulate_prepared(args: tuple[SimulationJob, int]):
    """Worker task: simulate one event and convert it to larcv3 products, so that the process
    writing the file only appends arrays."""
    from ..io import prepare_event, producers_for_detector

    job, index = args
    return prepare_event(simulate_event(job, index), producers_for_detector(job.detector))


def iter_prepared(job: SimulationJob, indices: range, workers: int = 1) -> Iterator:
    """Yield simulated events, as products ready to write, in index order."""
    tasks = ((job, i) for i in indices)
    if workers <= 1 or len(indices) <= 1:
        yield from map(_simulate_prepared, tasks)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers, initializer=_worker_init) as pool:
        yield from pool.imap(_simulate_prepared, tasks, chunksize=1)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def simulate_to_file(path: str | Path, job: SimulationJob, n_events: int, *, workers: int = 1,
                     overwrite: bool = False,
                     on_event: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Simulate ``n_events`` into a larcv3 file; resumes an interrupted job.

    Writing goes to ``<path>.partial`` and is renamed to ``path`` only when all events are in:
    an interrupted job leaves the partial file, and running the same job again continues from
    the last complete event. ``on_event(n)`` is called with the number of events in the file: once
    before the first new event, then after each. Returns (events written now, events in the file).
    """
    from ..io import EventWriter, producers_for_detector

    path = Path(path)
    if overwrite:
        for stale in (path, path.with_name(path.name + ".partial")):
            if stale.exists():
                stale.unlink()
    # Events are committed to the .partial file in batches: a killed job recomputes at most
    # COMMIT_EVERY - 1 events when resumed, and the writer makes fewer, larger HDF5 calls.
    with EventWriter(path, producers=producers_for_detector(job.detector), append=True,
                     buffer_events=COMMIT_EVERY) as writer:
        start = writer.n_events
        if start > n_events:
            raise ValueError(f"{path} already holds {start} events, more than the {n_events} asked")
        written = 0
        if on_event is not None:
            on_event(start)  # events already in the file (recovered from an interrupted run)
        for prepared in iter_prepared(job, range(start, n_events), workers=workers):
            writer.write(prepared)
            written += 1
            if on_event is not None:
                on_event(start + written)
        total = writer.n_events
    return written, total
