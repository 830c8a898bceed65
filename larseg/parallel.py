"""An ordered parallel map over worker processes that can always be stopped.

Why not ``multiprocessing.Pool``: its workers share queues guarded by process-shared locks. A
worker killed by a signal while holding one (Ctrl-C reaches the whole process group) makes
``Pool.terminate`` wait forever, and a worker that dies for another reason (the OOM killer) leaves
``imap`` waiting for a result that never comes. Here each worker has its own pipe to the parent:

- workers ignore SIGINT/SIGTERM — the parent alone decides when to stop, and kills them;
- a worker that dies is seen at once (end of file on its pipe) and reported with its task;
- the parent waits with a timeout, so a :class:`~larseg.interrupt.StopRequest` is honoured within
  a fraction of a second even while every worker is busy;
- at most ``lookahead`` results wait in memory for the consumer.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from .errors import WorkerError

_POLL_S = 0.1


def _serve(fn: Callable[[Any], Any], conn: Connection, initializer: Callable[[], None] | None,
           parent: int) -> None:
    """Worker loop: receive (index, item), send back (index, ok, result or traceback)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    if initializer is not None:
        initializer()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        index, item = msg
        try:
            reply = (index, True, fn(item))
        except Exception:  # noqa: BLE001 - sent to the parent, which raises it
            reply = (index, False, traceback.format_exc())
        if os.getppid() != parent:
            return
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


def ordered_map(fn: Callable[[Any], Any], items: Sequence, workers: int = 1, *,
                stop: object = None, initializer: Callable[[], None] | None = None,
                lookahead: int | None = None, describe: Callable[[Any], str] = repr
                ) -> Iterator[Any]:
    """``map(fn, items)`` on ``workers`` processes, results in order (``workers=0``: in this
    process, where a stop waits for the item in progress).

    Iteration ends early, with every worker stopped, as soon as ``stop`` is truthy (checked at
    least every 0.1 s). A task that raises, or a worker that dies, raises :class:`WorkerError`
    naming the task (``describe(item)``). ``fn`` need not be picklable (workers are forked);
    items and results are sent through pipes.
    """
    if workers <= 0 or "fork" not in mp.get_all_start_methods():
        for item in items:
            if stop:
                return
            yield fn(item)
        return
    ctx = mp.get_context("fork")
    workers = min(workers, len(items))
    lookahead = max(workers, lookahead or 2 * workers)
    procs: list[mp.Process] = []
    conns: list[Connection] = []
    try:
        for _ in range(workers):
            parent_end, child_end = ctx.Pipe(duplex=True)
            p = ctx.Process(target=_serve, args=(fn, child_end, initializer, os.getpid()),
                            daemon=True)
            p.start()
            child_end.close()
            procs.append(p)
            conns.append(parent_end)
        busy: dict[Connection, int] = {}
        done: dict[int, Any] = {}
        next_in = next_out = 0

        def dispatch(conn: Connection) -> None:
            nonlocal next_in
            if next_in < len(items) and next_in - next_out < lookahead:
                conn.send((next_in, items[next_in]))
                busy[conn] = next_in
                next_in += 1

        for conn in conns:
            dispatch(conn)
        while next_out < len(items):
            while next_out in done:
                result = done.pop(next_out)
                next_out += 1
                yield result
                if stop:
                    return
            if next_out >= len(items):
                break
            if stop:
                return
            for conn in conns:  # room again after results were consumed
                if conn not in busy:
                    dispatch(conn)
            for conn in wait(list(busy), timeout=_POLL_S):
                index = busy.pop(conn)
                try:
                    _, ok, payload = conn.recv()  # a worker answers the task it was sent
                except (EOFError, OSError):
                    if stop:  # a worker that died of the signal that stops the job
                        return
                    proc = procs[conns.index(conn)]
                    proc.join(timeout=1)
                    how = (f"signal {signal.Signals(-proc.exitcode).name}"
                           if proc.exitcode is not None and proc.exitcode < 0
                           else f"exit code {proc.exitcode}")
                    raise WorkerError(f"worker process {proc.pid} died ({how}) while working "
                                      f"on {describe(items[index])}") from None
                if not ok:
                    raise WorkerError(f"{describe(items[index])} failed in a worker process:\n"
                                      f"{payload.rstrip()}")
                done[index] = payload
                dispatch(conn)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=5)
        for c in conns:
            c.close()
