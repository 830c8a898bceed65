"""Rows staged in the appender's reused buffer: rollback, NUL-terminated strings, padding."""

from __future__ import annotations

import zlib

import h5py
import numpy as np

from larseg.io import larcv3_schema as S
from larseg.io.appender import ChunkAppender


def _voxels(n: int, start: int) -> np.ndarray:
    r = np.zeros(n, S.VOXEL_DTYPE)
    r["id"] = np.arange(start, start + n)
    r["value"] = np.arange(start, start + n) * 0.25
    return r


def test_staged_rows_roll_back_and_the_buffer_is_reused(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        app = ChunkAppender(S.create_dataset(f, "voxels", S.VOXEL_DTYPE, 1000))
        for k, (keep, extra) in enumerate([(2500, 700), (1234, 0), (3100, 50)]):
            start = app.length
            rows = app.stage(keep)
            rows["id"] = np.arange(start, start + keep)
            rows["value"] = np.arange(start, start + keep) * 0.25
            app.stage(extra)["id"] = 10**9  # an event that fails half-way...
            app.unstage(keep)               # ...is rolled back
            assert app.staged == keep
            app.write(app.prepare())
        n = app.length
    with h5py.File(path) as f:
        d = f["voxels"]
        assert d.shape == (n,) == (2500 + 1234 + 3100,)
        x = d[:]
        np.testing.assert_array_equal(x["id"], np.arange(n))
        np.testing.assert_array_equal(x["value"], np.arange(n) * 0.25)
        # padding bytes are stored as zeros, in the padded edge chunk too
        last = (n - 1) // 1000
        _, raw = d.id.read_direct_chunk((last * 1000,))
        stored = np.frombuffer(zlib.decompress(raw), S.VOXEL_DTYPE)
        expect = np.zeros(1000, S.VOXEL_DTYPE)
        expect[:n - last * 1000] = _voxels(n - last * 1000, last * 1000)
        assert stored.tobytes() == expect.tobytes()


def test_particle_rows_with_strings_read_back_as_hdf5_writes_them(tmp_path):
    rows = S.empty_particles(1203)
    rows["pdg"] = np.arange(1203)
    procs = [b"muIoni", b"", b"x" * 63, b"y" * 64]
    rows["process"] = [procs[i % 4] for i in range(1203)]
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        chunk = S.DATASETS[S.PARTICLE]["particles"][1]
        direct = S.create_dataset(f, "direct", S.PARTICLE_DTYPE, chunk)
        by_hdf5 = S.create_dataset(f, "hdf5", S.PARTICLE_DTYPE, chunk)
        assert ChunkAppender.usable(direct)
        app = ChunkAppender(direct)
        app.append(rows[:700])
        app = ChunkAppender(direct)  # resumed: the partly filled chunk is read back
        app.append(rows[700:])
        by_hdf5.resize((1203,))
        by_hdf5[:] = rows
    with h5py.File(path) as f:
        a, b = f["direct"][:], f["hdf5"][:]
        assert a.tobytes() == b.tobytes()
        assert a["process"][3] == b"y" * 63  # HDF5's NULLTERM keeps 63 characters
        np.testing.assert_array_equal(a["pdg"], np.arange(1203))
