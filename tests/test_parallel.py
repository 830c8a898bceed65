"""The ordered worker pool and the signal tools behind Ctrl-C-safe jobs (real processes, real
signals)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from larseg.errors import WorkerError
from larseg.interrupt import deferred_signals, graceful_stop
from larseg.parallel import ordered_map


def _slow_square(x: int) -> int:
    time.sleep(0.05 if x % 3 == 0 else 0.005)  # uneven: results arrive out of order
    return x * x


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_results_come_in_order(workers):
    assert list(ordered_map(_slow_square, list(range(20)), workers=workers)) == \
        [x * x for x in range(20)]
    assert not mp.active_children()


def test_a_failing_task_names_the_item_and_keeps_its_traceback():
    def fail_on_5(x: int) -> int:
        if x == 5:
            raise ValueError("bad five")
        return x

    with pytest.raises(WorkerError, match=r"(?s)task 5 failed in a worker process.*bad five"):
        list(ordered_map(fail_on_5, list(range(10)), workers=2, describe=lambda x: f"task {x}"))
    assert not mp.active_children()


@pytest.mark.parametrize("how,says", [("exit", "exit code 7"), ("kill", "signal SIGKILL")])
def test_a_dying_worker_is_reported_not_waited_for(how, says):
    def die_on_3(x: int) -> int:
        if x == 3:
            if how == "exit":
                os._exit(7)
            os.kill(os.getpid(), signal.SIGKILL)
        return x

    t0 = time.monotonic()
    with pytest.raises(WorkerError, match=f"died \\({says}\\) while working on task 3"):
        list(ordered_map(die_on_3, list(range(8)), workers=2, describe=lambda x: f"task {x}"))
    assert time.monotonic() - t0 < 10
    assert not mp.active_children()


def test_a_stop_request_ends_the_map_with_every_worker_gone():
    class Flag:
        value = False

        def __bool__(self):
            return self.value

    stop = Flag()
    got = []
    t0 = time.monotonic()
    for y in ordered_map(lambda x: time.sleep(0.2) or x, list(range(100)), workers=2, stop=stop):
        got.append(y)
        stop.value = True
    assert got == [0] and time.monotonic() - t0 < 5
    assert not mp.active_children()


def test_workers_ignore_ctrl_c_sent_to_the_group():
    """A terminal's Ctrl-C reaches every process of the group: the workers carry on (the parent
    decides), so no worker dies with a KeyboardInterrupt traceback."""
    def pid_after_sigint(x: int) -> int:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return os.getpid()

    pids = list(ordered_map(pid_after_sigint, list(range(6)), workers=2))
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_deferred_signals_deliver_after_the_block():
    """A signal inside the block waits for its end, then goes to the handler that was there
    before. The handlers are set here: a library an earlier test in the same process imported
    may have left its own (the suite once saw SIGINT not raise under load)."""
    reached_end = False
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                signal.raise_signal(signal.SIGINT)  # to this thread: no wait on another thread
                time.sleep(0.05)
                reached_end = True
        assert reached_end
        got = []
        signal.signal(signal.SIGINT, lambda signum, frame: got.append((signum, reached_end)))
        reached_end = False
        with deferred_signals():
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)
            assert got == []
            reached_end = True
        assert got == [(signal.SIGINT, True)]
    finally:
        signal.signal(signal.SIGINT, before)


def test_graceful_stop_records_signals_and_restores_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with graceful_stop() as stop:
        assert not stop
        signal.raise_signal(signal.SIGTERM)
        time.sleep(0.05)
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.05)
        assert stop and stop.signum == signal.SIGTERM and stop.count == 2
        assert stop.exit_code == 143 and stop.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
