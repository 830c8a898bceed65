"""An ordered parallel map over worker processes that can always be stopped.

Why not ``multiprocessing.Pool``: its workers share queues guarded by process-shared locks. A
worker killed by a signal while holding one (Ctrl-C reaches the whole process group) makes
``Pool.terminate`` wait forever, and a worker that dies for another reason (the OOM killer) leaves
``imap`` waiting for a result that never comes. Here each worker has its own pipe to the parent:

- workers ignore SIGINT/SIGTERM — the parent alone decides when to stop, and kills them;
- a worker that dies is seen at once (end of file on its pipe) and reported with its task;
- a parent that dies (even by SIGKILL) is seen by its workers the same way: they close the
  copies of the parent's pipe ends that the fork gave them, and end;
- the parent waits with a timeout, so a :class:`~larseg.interrupt.StopRequest` is honoured within
  a fraction of a second even while every worker is busy;
- at most ``lookahead`` results wait in memory for the consumer;
- each worker has up to :data:`DEPTH` tasks in hand (its next one already in its pipe), so it
  carries on while the consumer is busy with a result (a file commit) and the parent sends none.

Results travel in two parts: their pickle (protocol 5) through the pipe, and the buffers of
their numpy arrays (out-of-band buffers) through a shared memory area of the worker's own
(:data:`ARENA_BYTES`, an anonymous shared mapping made before the fork), one slot per task in
hand: the worker's k-th result goes to slot k mod DEPTH. The parent copies the buffers out as
soon as it reads the reply, before it sends that worker another task, so a slot is always free
when the worker reaches it, and a result owns its memory like one sent through the pipe. A
result whose buffers do not fit in a slot goes through the pipe whole. This spares a 3 MB event
~50 pipe round trips (64 kB at a time, a context switch each) and two copies.
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import pickle
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from .errors import WorkerError

_POLL_S = 0.1
#: Shared memory per worker for the array buffers of its results, DEPTH slots (virtual size:
#: pages are allocated only as results touch them; a simulated MicroBooNE event is ~3 MB).
ARENA_BYTES = 64 << 20
#: Tasks a worker holds at once (the one it works on, the next ones queued in its pipe).
DEPTH = 2
_ALIGN = 64


class _Packed:
    """A result as its pickle plus (offset, size) spans of its buffers in the worker's area."""

    __slots__ = ("data", "spans")

    def __init__(self, data: bytes, spans: list[tuple[int, int]]) -> None:
        self.data, self.spans = data, spans

    def __reduce__(self):
        return _Packed, (self.data, self.spans)


def _pack(result: Any, arena: mmap.mmap | None, start: int = 0,
          size: int | None = None) -> Any:
    """``result`` with its array buffers written to bytes [start, start + size) of ``arena``
    (or ``result`` itself when they do not fit, or there are none)."""
    if arena is None:
        return result
    size = len(arena) - start if size is None else size
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return result
    spans, off = [], start
    views = [b.raw() for b in buffers]
    if sum(v.nbytes + _ALIGN for v in views) > size:
        return result
    for v in views:
        n = v.nbytes
        arena[off:off + n] = v
        spans.append((off, n))
        off += -(-n // _ALIGN) * _ALIGN
    return _Packed(data, spans)


def _unpack(payload: Any, arena: mmap.mmap | None) -> Any:
    """The result a worker packed: its buffers copied out of the area (which is free again)."""
    if not isinstance(payload, _Packed):
        return payload
    view = memoryview(arena)
    try:
        buffers = [bytearray(view[o:o + n]) for o, n in payload.spans]
    finally:
        view.release()
    return pickle.loads(payload.data, buffers=buffers)


def _serve(fn: Callable[[Any], Any], conn: Connection, initializer: Callable[[], None] | None,
           parent: int, arena: mmap.mmap | None = None,
           inherited: Sequence[Connection] = ()) -> None:
    """Worker loop: receive (index, item), send back (index, ok, result or traceback).

    ``inherited``: the parent's ends of the pipes made so far, which the fork copied; closed
    here, so that the worker sees end of file on its pipe as soon as the parent is gone."""
    for c in inherited:
        c.close()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    if initializer is not None:
        initializer()
    slot = len(arena) // DEPTH if arena is not None else 0
    done = 0
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        index, item = msg
        try:
            reply = (index, True, _pack(fn(item), arena, (done % DEPTH) * slot, slot))
        except Exception:  # noqa: BLE001 - sent to the parent, which raises it
            reply = (index, False, traceback.format_exc())
        done += 1
        if os.getppid() != parent:
            return
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


def _death(proc: mp.Process) -> str:
    """'PID died (signal NAME)' or 'PID died (exit code N)' of a worker that is gone."""
    proc.join(timeout=1)
    how = (f"signal {signal.Signals(-proc.exitcode).name}"
           if proc.exitcode is not None and proc.exitcode < 0 else f"exit code {proc.exitcode}")
    return f"{proc.pid} died ({how})"


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
    lookahead = max(workers, lookahead or (DEPTH + 1) * workers)
    procs: list[mp.Process] = []
    conns: list[Connection] = []
    arenas: dict[Connection, mmap.mmap] = {}
    try:
        for _ in range(workers):
            parent_end, child_end = ctx.Pipe(duplex=True)
            arena = mmap.mmap(-1, ARENA_BYTES)  # anonymous and shared: the worker inherits it
            p = ctx.Process(target=_serve, args=(fn, child_end, initializer, os.getpid(), arena,
                                                 [*conns, parent_end]), daemon=True)
            p.start()
            child_end.close()
            procs.append(p)
            conns.append(parent_end)
            arenas[parent_end] = arena
        busy: dict[Connection, deque[int]] = {conn: deque() for conn in conns}  # in hand, FIFO
        done: dict[int, Any] = {}
        next_in = next_out = 0

        def send_one(conn: Connection) -> bool:
            nonlocal next_in
            if (len(busy[conn]) >= DEPTH or next_in >= len(items)
                    or next_in - next_out >= lookahead):
                return False
            try:
                conn.send((next_in, items[next_in]))
            except OSError:  # the worker died: its end of file, below, names the task in hand
                if not busy[conn]:
                    raise WorkerError(f"worker process {_death(procs[conns.index(conn)])} "
                                      "between tasks") from None
                return False
            busy[conn].append(next_in)
            next_in += 1
            return True

        def dispatch(conn: Connection) -> None:
            while send_one(conn):
                pass

        for _ in range(DEPTH):  # round robin first, so that a short map uses every worker
            for conn in conns:
                send_one(conn)
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
                dispatch(conn)
            for conn in wait([c for c in conns if busy[c]], timeout=_POLL_S):
                index = busy[conn].popleft()  # a worker answers its tasks in the order sent
                try:
                    _, ok, payload = conn.recv()
                except (EOFError, OSError):
                    if stop:  # a worker that died of the signal that stops the job
                        return
                    raise WorkerError(f"worker process {_death(procs[conns.index(conn)])} "
                                      f"while working on {describe(items[index])}") from None
                if not ok:
                    raise WorkerError(f"{describe(items[index])} failed in a worker process:\n"
                                      f"{payload.rstrip()}")
                done[index] = _unpack(payload, arenas[conn])  # before the worker's next task
                dispatch(conn)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=5)
        for c in conns:
            c.close()
        for a in arenas.values():
            a.close()
