"""A job that writes N events into a larcv3 file, the same way for every verb (simulate, predict).

:func:`write_job` gives every such job the same guarantees:

- a finished file of the same job that already holds the events is left untouched;
- otherwise the events go through :class:`~larseg.io.EventWriter` (``FILE.partial``, commits every
  ``commit_every`` events, the job's identity stored and checked, resume from the last commit);
- SIGINT/SIGTERM (:func:`larseg.interrupt.graceful_stop`) stop the job after the event in
  progress: what is complete is committed and :class:`~larseg.errors.JobInterrupted` says how
  many events the ``.partial`` keeps (the CLI prints it and exits 130 / 143).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import JobInterrupted, LarsegError
from ..interrupt import StopRequest, graceful_stop
from .event_writer import EventWriter, PreparedEvent
from .identity import finished_job_events, partial_path
from .producers import ProducerNames

#: Events per commit: a killed job recomputes at most this many minus one when resumed, and the
#: writer makes fewer, larger HDF5 calls.
COMMIT_EVERY = 8


@dataclass(frozen=True)
class JobOutcome:
    recovered: int         # events already in the file (an interrupted run's or an earlier one's)
    total: int             # events in the file now
    resumed_partial: bool  # an interrupted run's .partial was continued


def write_job(path: str | Path, n_events: int, *, producers: ProducerNames, identity: dict,
              produce: Callable[[range, StopRequest], Iterable[PreparedEvent]],
              overwrite: bool = False, commit_every: int = COMMIT_EVERY,
              on_open: Callable[[int, bool], None] | None = None,
              on_event: Callable[[int], None] | None = None) -> JobOutcome:
    """Write the job's events 0 … ``n_events`` - 1 into ``path``, resuming what is there.

    ``produce(indices, stop)`` yields the prepared events of ``indices`` in order (it may end
    early once ``stop`` is set). ``on_open(events_in_file, resumed_partial)`` is called once the
    file is open, ``on_event(n)`` with the number of events in the file, then after each event.
    """
    path = Path(path)
    if overwrite:
        for stale in (path, partial_path(path)):
            if stale.is_file():
                stale.unlink()
    done = finished_job_events(path, identity)
    if done is not None and done >= n_events:  # nothing to do: the file is left untouched
        if done > n_events:
            raise LarsegError(f"file {path} already holds {done} events of this job, more than "
                              f"the {n_events} asked")
        if on_open is not None:
            on_open(done, False)
        if on_event is not None:
            on_event(done)
        return JobOutcome(recovered=done, total=done, resumed_partial=False)
    with graceful_stop() as stop:
        with EventWriter(path, producers, append=True, buffer_events=commit_every,
                         identity=identity) as writer:
            start = writer.n_events
            if start > n_events:
                raise LarsegError(f"file {writer.partial} already holds {start} events of this "
                                  f"job, more than the {n_events} asked")
            if on_open is not None:
                on_open(start, writer.resumed_partial)
            if on_event is not None:
                on_event(start)
            for prepared in produce(range(start, n_events), stop):
                writer.write(prepared)
                if on_event is not None:
                    on_event(writer.n_events)
                if stop:
                    break
            if stop:
                kept = writer.n_events
                raise JobInterrupted(
                    f"interrupted ({stop.name}): {kept} event{'s' if kept != 1 else ''} kept in "
                    f"{writer.partial}; run the same command to resume",
                    exit_code=stop.exit_code)
            return JobOutcome(recovered=start, total=writer.n_events,
                              resumed_partial=writer.resumed_partial)
