"""Ctrl-C and SIGTERM without lost or damaged data.

Two tools, both no-ops outside the main thread (only it can receive Python signal handlers):

- :func:`graceful_stop` — for a long job (simulate, train, predict). SIGINT and SIGTERM no longer
  raise wherever the program happens to be; they set a flag that the job's loop checks between
  units of work, so the job stops at a safe point, keeps what is complete, and the CLI exits with
  128 + the signal number (130 for Ctrl-C, 143 for SIGTERM, as shells report them).
- :func:`deferred_signals` — for a critical section (a writer's commit). A signal that arrives
  inside it is held back and delivered, to whatever handler was installed before, when the section
  ends, so a KeyboardInterrupt can never fall between a chunk write and its commit marker.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The signals a terminal (SIGINT) and a batch system (SIGTERM) send to stop a job.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopRequest:
    """Set by the first SIGINT/SIGTERM of a :func:`graceful_stop` block; later ones are counted."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0

    def __bool__(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.count += 1

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM only set the yielded :class:`StopRequest`."""
    stop = StopRequest()
    if not _in_main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, lambda signum, frame: stop.request(signum))
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back until the block ends, then deliver them to the previous handler."""
    if not _in_main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(held):  # each held signal once, in arrival order
            signal.raise_signal(s)
