"""Bad input gives errors that name the file, the event and the field; batch reads can skip."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from larseg.errors import FileFormatError, InvalidEventError, LarsegError, ProductNotFoundError
from larseg.io import MICROBOONE, EventFile, EventWriter, Larcv3Reader, Larcv3Writer, write_events
from larseg.io.products import ImageMeta2D, Sparse2D
from tests.factories import toy_event

META = [ImageMeta2D(p, (3456, 1008), (3456 * 0.3, 1008 * 0.3294)) for p in range(3)]


def _good(tmp_path, n=3, name="good.h5"):
    path = tmp_path / name
    write_events(path, [toy_event("microboone", seed=s, event=s, n_tracks=2) for s in range(n)])
    return path


def _raw_event(path, adc_values, cosmic_values=None, n=1):
    """A file of ``n`` events of 3 planes × 3 voxels, written with the low-level writer."""
    with Larcv3Writer(path) as w:
        for e in range(n):
            sparse = {"wire": [Sparse2D(m, [5, 6, 7], adc_values(e, m.projection_id))
                               for m in META]}
            if cosmic_values is not None:
                sparse["cosmicseg"] = [Sparse2D(m, [5, 6, 7], cosmic_values(e, m.projection_id))
                                       for m in META]
            w.write_event(1, 2, 10 + e, sparse2d=sparse)
    return path


def test_not_hdf5(tmp_path):
    p = tmp_path / "notes.h5"
    p.write_text("this is not HDF5\n")
    with pytest.raises(FileFormatError, match=rf"file {p}: not a readable HDF5 file"):
        EventFile(p)
    with pytest.raises(FileFormatError, match="does not exist"):
        EventFile(tmp_path / "missing.h5")


def test_truncated_file(tmp_path):
    p = _good(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=str(p)):
        list(EventFile(p))


def test_missing_event_id(tmp_path):
    p = tmp_path / "noevents.h5"
    with h5py.File(p, "w") as f:
        f.create_group("Data")
    with pytest.raises(FileFormatError, match=r"no Events/event_id dataset"):
        EventFile(p)
    assert issubclass(FileFormatError, LarsegError)


def test_missing_product_lists_products(tmp_path):
    p = _good(tmp_path)
    r = Larcv3Reader(p)
    with pytest.raises(ProductNotFoundError,
                       match=r"no sparse2d product 'nope'; it holds: .*sparse2d 'wire'"):
        r.read_sparse2d("nope", 0)
    with pytest.raises(ProductNotFoundError, match=r"no cluster2d product 'x' for instance"):
        EventFile(p, producers={"instance": "x"})


def test_zero_events(tmp_path):
    p = tmp_path / "empty.h5"
    Larcv3Writer(p).close()
    with pytest.raises(FileFormatError, match=rf"file {p}: holds no events"):
        EventFile(p)
    assert len(EventFile(p, producers={"adc": "wire"}, allow_empty=True)) == 0


def test_nan_adc(tmp_path):
    p = _raw_event(tmp_path / "nan.h5", lambda e, pl: [1.0, np.nan if pl == 1 else 2.0, 3.0])
    with pytest.raises(InvalidEventError) as exc:
        EventFile(p)[0]
    msg = str(exc.value)
    assert str(p) in msg and "entry 0 (1/2/10)" in msg and "plane1.values" in msg
    assert "non-finite" in msg
    ev = toy_event("microboone", seed=1)
    ev.planes[2].values[3] = np.inf
    with pytest.raises(InvalidEventError, match=r"file .*w\.h5, event 1/0/0, field plane2\.values"):
        with EventWriter(tmp_path / "w.h5", MICROBOONE) as w:
            w.write(ev)
    assert not (tmp_path / "w.h5").exists()


@pytest.mark.parametrize("value,pattern", [(7.0, r"label 7 out of range \[0, 2\]"),
                                           (-1.0, r"label -1 out of range \[0, 2\]"),
                                           (1.5, "non-integer label")])
def test_bad_cosmic_labels(tmp_path, value, pattern):
    p = _raw_event(tmp_path / "lab.h5", lambda e, pl: [1.0, 2.0, 3.0],
                   lambda e, pl: [0.0, value if pl == 2 else 1.0, 2.0])
    with pytest.raises(InvalidEventError, match=pattern) as exc:
        EventFile(p)[0]
    assert str(p) in str(exc.value) and "field plane2.cosmic" in str(exc.value)


def test_inconsistent_extents(tmp_path):
    p = _good(tmp_path)
    with h5py.File(p, "r+") as f:
        ve = f["Data/sparse2d_wire_group/voxel_extents"]
        row = ve[8]
        row["N"] = 10**6
        ve[8] = row
    f = EventFile(p)
    f[0]
    with pytest.raises(FileFormatError, match=r"inconsistent extents") as exc:
        f[2]
    assert str(p) in str(exc.value) and "event 2" in str(exc.value) and "'wire'" in str(exc.value)


def test_product_shorter_than_events(tmp_path):
    p = _good(tmp_path)
    with h5py.File(p, "r+") as f:
        f["Data/sparse2d_cosmicseg_group/extents"].resize((2,))
    with pytest.raises(FileFormatError, match=r"cosmicseg'.*2 entries for 3 events"):
        EventFile(p)[0]


def _corrupt_chunk(path, dataset, chunk=0):
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 2)
        fh.write(b"\xff" * min(64, info.size - 2))


def test_corrupt_chunk(tmp_path):
    p = _good(tmp_path)
    _corrupt_chunk(p, "Data/sparse2d_wire_group/voxels")
    with pytest.raises(FileFormatError, match=r"corrupt") as exc:
        list(EventFile(p))
    assert str(p) in str(exc.value) and "sparse2d 'wire'" in str(exc.value)


def test_skip_bad_events(tmp_path):
    p = _raw_event(tmp_path / "skip.h5",
                   lambda e, pl: [1.0, np.nan if e == 1 else 2.0, 3.0], n=4)
    f = EventFile(p, on_error="skip")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = [ev.event for ev in f]
    assert got == [10, 12, 13] and f.skipped == 1
    assert any("entry 1 (1/2/11)" in str(w.message) and "skipped" in str(w.message) for w in rec)
    with pytest.raises(InvalidEventError):
        f[1]  # direct indexing always raises


def test_skip_isolates_corrupt_entries(tmp_path):
    p = tmp_path / "big.h5"
    write_events(p, [toy_event("sbnd", seed=s, event=s, n_tracks=3) for s in range(6)])
    with Larcv3Reader(p) as r:  # events with voxels in the first 1000-voxel chunk
        b = r.read_sparse2d_block("sbndwire", 0, 6)
        starts = [int(b.voxel_start[b.event_start[i]]) for i in range(6)]
    bad = {i for i in range(6) if starts[i] < 1000}
    assert 0 < len(bad) < 6
    _corrupt_chunk(p, "Data/sparse2d_sbndwire_group/voxels", 0)
    f = EventFile(p, on_error="skip", block_size=6)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = [ev.event for ev in f]
    assert got == [i for i in range(6) if i not in bad]  # the block fell back to single entries
    assert f.skipped == len(bad)
    assert all(str(p) in str(w.message) for w in rec)
