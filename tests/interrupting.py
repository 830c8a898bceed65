"""Helpers to interrupt a real ``larseg simulate`` process and judge what it left.

Used by tests/test_interrupt.py (a few trials) and benchmarks/stress_interrupt.py (many).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

#: The installed console script (the path a user runs), beside this interpreter.
LARSEG = str(Path(sys.executable).with_name("larseg"))


def larseg(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run the console script to completion."""
    return subprocess.run([LARSEG, *args], capture_output=True, text=True, timeout=timeout, **kw)


def start(*args: str, **kw) -> subprocess.Popen:
    """Start the console script in its own process group (as a terminal job is)."""
    return subprocess.Popen([LARSEG, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def committed_events(partial: Path) -> int:
    """Events committed to a .partial that another process is writing (0 if not readable now)."""
    try:
        with h5py.File(partial, "r", locking=False) as f:
            return int(f["Events/event_id"].shape[0])
    except (OSError, KeyError, RuntimeError, ValueError):
        return 0


def wait_for_commits(proc: subprocess.Popen, partial: Path, n: int, timeout: float = 180) -> int:
    """Wait until ``partial`` holds at least ``n`` committed events; returns how many."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"larseg exited ({proc.returncode}) before {n} events were "
                                 f"committed:\n{proc.stderr.read()}")
        k = committed_events(partial)
        if k >= n:
            return k
        time.sleep(0.05)
    raise AssertionError(f"no {n} committed events in {partial} after {timeout} s")


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group, as a terminal's Ctrl-C or a batch system does."""
    os.killpg(proc.pid, sig)


def datasets(path: Path) -> dict[str, bytes]:
    """Every dataset's content as bytes (structured rows included, padding zeroed by larseg)."""
    out: dict[str, bytes] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = np.ascontiguousarray(obj[()]).tobytes()
        f.visititems(visit)
        out["@larseg_job"] = str(f.attrs.get("larseg_job")).encode()
    return out


_REFERENCE_CACHE: dict[tuple[str, float], dict[str, bytes]] = {}


def _reference_datasets(reference: Path) -> dict[str, bytes]:
    key = (str(reference), reference.stat().st_mtime)
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = datasets(reference)
    return _REFERENCE_CACHE[key]


def same_file(path: Path, reference: Path) -> str | None:
    """None if ``path`` equals ``reference`` dataset by dataset and every event reads back;
    otherwise what differs."""
    from larseg.io import EventFile

    try:
        got, want = datasets(path), _reference_datasets(reference)
    except (OSError, RuntimeError, KeyError) as e:
        return f"unreadable: {e}"
    if set(got) != set(want):
        return f"datasets differ: {sorted(set(got) ^ set(want))}"
    for name in want:
        if got[name] != want[name]:
            return f"{name} differs"
    try:
        n = sum(1 for _ in EventFile(path))
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        return f"events do not read back: {e}"
    n_ref = len(EventFile(reference))
    if n != n_ref:
        return f"{n} events read back, reference has {n_ref}"
    return None
