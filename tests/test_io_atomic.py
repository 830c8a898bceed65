"""Atomic and resumable writing: no truncated file at the target, complete events recovered."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from larseg.errors import FileFormatError
from larseg.io import MICROBOONE, EventFile, EventWriter, Larcv3Writer, partial_path, write_events
from larseg.io.products import ImageMeta2D, Sparse2D
from tests.factories import toy_event
from tests.test_io_roundtrip import assert_same_event

ROOT = Path(__file__).resolve().parents[1]


def _events(n: int, start: int = 0):
    return [toy_event("microboone", seed=s, event=s, n_tracks=2) for s in range(start, start + n)]


def _shapes(path: Path) -> dict[str, tuple]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj.shape)
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_exception_leaves_no_target(tmp_path):
    target = tmp_path / "out.h5"
    evs = _events(3)
    with pytest.raises(RuntimeError, match="boom"):
        with EventWriter(target, MICROBOONE) as w:
            w.write(evs[0])
            w.write(evs[1])
            raise RuntimeError("boom")
    assert not target.exists()
    assert partial_path(target).exists()
    with EventWriter(target, MICROBOONE, append=True) as w:  # the job resumes
        assert w.n_events == 2
        w.write(evs[2])
    assert not partial_path(target).exists()
    back = list(EventFile(target))
    assert [e.event for e in back] == [0, 1, 2]


def test_failed_rewrite_keeps_old_target(tmp_path):
    target = tmp_path / "out.h5"
    write_events(target, _events(2))
    before = target.read_bytes()
    with pytest.raises(ValueError):
        with EventWriter(target, MICROBOONE) as w:
            w.write(_events(1, start=5)[0])
            raise ValueError("stop")
    assert target.read_bytes() == before  # the finished file is untouched until a close


KILLED_WRITER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from larseg.io import EventWriter, MICROBOONE
    from tests.factories import toy_event
    evs = [toy_event("microboone", seed=s, event=s, n_tracks=2) for s in range(6)]
    w = EventWriter({target!r}, MICROBOONE)
    for ev in evs[:5]:
        w.write(ev)
    # event 5: its products reach the file, then the process dies before its event_id row
    w._writer.buffer_events = 100
    w.write(evs[5])
    for g in w._writer._groups.values():
        g.flush()
    w._writer._h5.flush()
    os._exit(3)
""")


def test_killed_writer_is_recovered(tmp_path):
    target = tmp_path / "sim.h5"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER.format(root=str(ROOT),
                                                                        target=str(target))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert not target.exists() and partial_path(target).exists()
    with h5py.File(partial_path(target), "r") as f:  # the orphan rows are really there
        assert f["Events/event_id"].shape == (5,)
        assert f["Data/sparse2d_wire_group/extents"].shape == (6,)
    evs = _events(8)
    with EventWriter(target, MICROBOONE, append=True) as w:
        assert w.n_events == 5
        assert w._writer.recovered_events == 5 and w._writer.dropped_rows > 0
        for ev in evs[w.n_events:]:
            w.write(ev)
    back = list(EventFile(target))
    assert len(back) == 8
    for a, b in zip(evs, back):
        assert_same_event(a, b)
    write_events(tmp_path / "ref.h5", evs)  # same tables as a file written in one go
    assert _shapes(target) == _shapes(tmp_path / "ref.h5")


CRASHED_WRITER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from larseg.io import EventWriter, MICROBOONE
    from tests.factories import toy_event
    evs = [toy_event("microboone", seed=s, event=s, n_tracks=6) for s in range(12)]
    w = EventWriter({target!r}, MICROBOONE)
    for ev in evs[:3]:  # committed: on disk and flushed
        w.write(ev)
    # the next events' chunks reach the file (partly filled chunks rewritten, new ones added),
    # then the process dies before HDF5 flushes its metadata: what a kill leaves behind
    w._writer.buffer_events = 100
    for ev in evs[3:]:
        w.write(ev)
    for g in w._writer._groups.values():
        g.flush()
    os._exit(3)
""")


def test_crash_between_commits_keeps_committed_events_intact(tmp_path):
    """Data written after the last commit must not overwrite what the committed metadata points
    to (HDF5 reuses freed file space unless told not to): the committed events come back exact."""
    target = tmp_path / "sim.h5"
    proc = subprocess.run([sys.executable, "-c", CRASHED_WRITER.format(root=str(ROOT),
                                                                        target=str(target))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    evs = [toy_event("microboone", seed=s, event=s, n_tracks=6) for s in range(5)]
    with EventWriter(target, MICROBOONE, append=True) as w:
        assert w.n_events == 3
        for ev in evs[3:]:
            w.write(ev)
    back = list(EventFile(target))
    assert len(back) == 5
    for a, b in zip(evs, back):
        assert_same_event(a, b)


def test_truncated_event_ids_cut_products(tmp_path):
    full = tmp_path / "full.h5"
    evs = _events(5)
    write_events(full, evs)
    target = tmp_path / "job.h5"
    partial_path(target).write_bytes(full.read_bytes())
    with h5py.File(partial_path(target), "r+") as f:  # as if killed after event 3's commit
        f["Events/event_id"].resize((3,))
    with Larcv3Writer(target, "a") as w:
        assert w.n_events == 3
    write_events(tmp_path / "three.h5", evs[:3])
    assert _shapes(target) == _shapes(tmp_path / "three.h5")
    for a, b in zip(evs[:3], EventFile(target)):
        assert_same_event(a, b)


def test_append_to_finished_file_is_atomic(tmp_path):
    target = tmp_path / "a.h5"
    evs = _events(4)
    write_events(target, evs[:2])
    w = EventWriter(target, MICROBOONE, append=True)
    assert w.n_events == 2
    w.write(evs[2])
    assert len(EventFile(target)) == 2  # the target is the old file until close
    w.write(evs[3])
    w.close()
    assert [e.event for e in EventFile(target)] == [0, 1, 2, 3]


def test_debris_of_a_killed_creation_is_discarded(tmp_path):
    """A new .partial is made under a temporary name: a kill during creation leaves only that."""
    target = tmp_path / "b.h5"
    debris = partial_path(target).with_name("b.h5.partial.tmp")
    debris.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 10)
    w = EventWriter(target, MICROBOONE, append=True)
    assert w.n_events == 0 and not debris.exists()
    w.write(_events(1)[0])
    w.close()
    assert len(EventFile(target)) == 1


def test_unreadable_partial_is_refused_and_kept(tmp_path):
    """A damaged .partial is never silently replaced: the error names it and says what to do."""
    target = tmp_path / "b.h5"
    junk = b"\x89HDF\r\n\x1a\n" + b"\x00" * 10
    partial_path(target).write_bytes(junk)
    with pytest.raises(FileFormatError, match=r"b\.h5\.partial.*--overwrite"):
        EventWriter(target, MICROBOONE, append=True)
    assert partial_path(target).read_bytes() == junk


def test_mode_w_discards_stale_partial(tmp_path):
    target = tmp_path / "c.h5"
    write_events(target, _events(3))
    partial_path(target).write_bytes(target.read_bytes())
    with EventWriter(target, MICROBOONE) as w:
        assert w.n_events == 0
        w.write(_events(1, start=9)[0])
    assert [e.event for e in EventFile(target)] == [9]


def test_bad_product_rolls_back_the_event(tmp_path):
    meta = ImageMeta2D(0, (10, 10), (3.0, 3.0))
    target = tmp_path / "r.h5"
    with Larcv3Writer(target, buffer_events=10) as w:
        w.write_event(1, 0, 0, sparse2d={"adc": [Sparse2D(meta, [1, 2], [1.0, 2.0])]})
        with pytest.raises(ValueError, match="duplicate voxel ids"):
            w.write_event(1, 0, 1, sparse2d={"adc": [Sparse2D(meta, [3], [1.0])],
                                             "new": [Sparse2D(meta, [4, 4], [1.0, 1.0])]})
        assert w.n_events == 1
        w.write_event(1, 0, 2, sparse2d={"adc": [Sparse2D(meta, [5, 3], [5.0, 3.0])]})
    with h5py.File(target, "r") as f:
        assert "sparse2d_new_group" not in f["Data"]
        assert f["Events/event_id"]["event"].tolist() == [0, 2]
        assert f["Data/sparse2d_adc_group/voxels"]["id"].tolist() == [1, 2, 3, 5]  # sorted
        np.testing.assert_array_equal(f["Data/sparse2d_adc_group/extents"]["first"], [0, 1])
