"""Worker results travel through a shared memory area: exact, owned by the parent, any size."""

from __future__ import annotations

import mmap
import time

import numpy as np
import pytest

from larseg import parallel
from larseg.io import larcv3_schema as S
from larseg.parallel import _pack, _Packed, _unpack, ordered_map


def _result(x: int) -> dict:
    rng = np.random.default_rng(x)
    rows = np.zeros(50 + x, S.VOXEL_DTYPE)
    rows["id"] = np.arange(50 + x)
    return {"x": x, "f": rng.random(1000 + 37 * x), "i": np.arange(x, dtype=np.int8),
            "strided": np.arange(40.0)[::3], "rows": rows, "fortran": np.asfortranarray(
                rng.random((3, 5)))}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a["x"] == b["x"]
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_array_equal(a[k], b[k])


def test_results_are_exact_and_owned_by_the_parent():
    # all results kept: none may alias the worker's area, which the next result overwrites
    got = list(ordered_map(_result, list(range(12)), workers=2))
    for x, r in enumerate(got):
        _same(r, _result(x))
        r["f"][:] = 0  # writable, independent memory


def test_packing_puts_the_buffers_in_the_area():
    arena = mmap.mmap(-1, 1 << 20)
    packed = _pack(_result(3), arena)
    assert isinstance(packed, _Packed) and len(packed.spans) >= 4
    assert len(packed.data) < 2000  # the arrays' bytes are not in the pickle
    _same(_unpack(packed, arena), _result(3))
    arena.close()


def test_a_result_larger_than_the_area_goes_through_the_pipe(monkeypatch):
    monkeypatch.setattr(parallel, "ARENA_BYTES", 4096)
    arena = mmap.mmap(-1, 4096)
    assert _pack(_result(2), arena).__class__ is dict
    arena.close()
    got = list(ordered_map(_result, list(range(5)), workers=2))
    for x, r in enumerate(got):
        _same(r, _result(x))


@pytest.mark.parametrize("value", [None, 7, "text", [1, 2]])
def test_results_without_arrays_pass_unchanged(value):
    assert list(ordered_map(lambda _: value, [0, 1], workers=1)) == [value, value]


def test_a_worker_keeps_busy_while_the_consumer_is():
    """Each worker holds DEPTH tasks: during a long pause of the consumer (a file commit) it
    finishes the next ones, which are then ready at once."""
    assert parallel.DEPTH >= 2
    it = ordered_map(lambda x: time.sleep(0.25) or x, list(range(4)), workers=1)
    assert next(it) == 0
    time.sleep(1.0)  # the consumer is busy; the worker has tasks 1 and 2 in hand
    t0 = time.monotonic()
    assert [next(it), next(it)] == [1, 2]
    assert time.monotonic() - t0 < 0.15
    assert list(it) == [3]


def test_workers_end_when_the_parent_is_killed(tmp_path):
    """Workers ignore SIGINT/SIGTERM; with the parent killed (SIGKILL) they must still go: they
    hold no copy of the parent's pipe ends, so their pipe reads end of file."""
    import subprocess
    import sys
    pids = tmp_path / "pids"
    script = (
        "import os, sys, time\n"
        "from larseg.parallel import ordered_map\n"
        f"p = {str(pids)!r}\n"
        "def task(x):\n"
        "    open(p, 'a').write(f'{os.getpid()}\\n'); return x\n"
        "for x in ordered_map(task, list(range(4)), workers=2):\n"
        "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    t0 = time.monotonic()
    while not (pids.exists() and len(set(pids.read_text().split())) == 2):
        assert time.monotonic() - t0 < 60 and proc.poll() is None
        time.sleep(0.05)
    workers = {int(x) for x in pids.read_text().split()}
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() - t0 < 10, "orphaned workers still running"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
