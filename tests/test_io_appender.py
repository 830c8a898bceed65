"""Direct-chunk appends to larcv's voxel tables read back exactly, across reopenings."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from larseg.io import appender
from larseg.io import larcv3_schema as S
from larseg.io.appender import ChunkAppender


def _rows(n: int, start: int) -> np.ndarray:
    r = np.zeros(n, S.VOXEL_DTYPE)
    r["id"] = np.arange(start, start + n)
    r["value"] = np.arange(start, start + n) * 0.5
    return r


@pytest.mark.parametrize("fast", [True, False])
@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 2600), min_size=1, max_size=8),
       reopen_at=st.integers(0, 8))
def test_appends_read_back(tmp_path_factory, fast, sizes, reopen_at):
    if fast and appender._fast_zlib is None:
        pytest.skip("isal not installed")
    saved = appender._fast_zlib
    if not fast:
        appender._fast_zlib = None
    try:
        path = tmp_path_factory.mktemp("app") / "v.h5"
        with h5py.File(path, "w") as f:
            S.create_dataset(f, "voxels", S.VOXEL_DTYPE, S.DATASETS[S.SPARSE2D]["voxels"][1])
        f = h5py.File(path, "r+")
        app = ChunkAppender(f["voxels"])
        n = 0
        for i, size in enumerate(sizes):
            if i == reopen_at:  # a resumed writer picks up the partly filled last chunk
                f.close()
                f = h5py.File(path, "r+")
                app = ChunkAppender(f["voxels"])
            app.append(_rows(size, n))
            n += size
        f.close()
        with h5py.File(path) as f:
            d = f["voxels"]
            assert d.shape == (n,)
            assert d.compression == "gzip" and d.compression_opts == 1 and d.chunks == (1000,)
            x = d[:]
        np.testing.assert_array_equal(x["id"], np.arange(n))
        np.testing.assert_array_equal(x["value"], np.arange(n) * 0.5)
    finally:
        appender._fast_zlib = saved
