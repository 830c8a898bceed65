"""Fast path for the big flat tables (voxels, images): raw gzip chunks inflated in threads.

Reading larcv files is bound by inflating larcv's gzip level 1 chunks (part of the format).
h5py inflates chunk by chunk in one thread; this reads the raw chunks (``read_direct_chunk``,
cheap) and inflates them itself — ISA-L's inflate when installed (~1.7x zlib's here), else
zlib, both releasing the GIL — optionally on a small thread pool. Used only where the layout is exactly what larcv
writes (1D, chunked, deflate as the only filter, little-endian fixed-size type); anything
else goes through h5py.
"""

from __future__ import annotations

import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

try:  # ISA-L's inflate: ~1.7x zlib's here, same stream format
    from isal.isal_zlib import decompress as _inflate
    from isal.isal_zlib import error as _inflate_error
except ImportError:  # pragma: no cover - exercised where isal is absent
    _inflate, _inflate_error = zlib.decompress, zlib.error

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="larseg-inflate")
    return pool


def eligible(dset: h5py.Dataset) -> bool:
    """Whether raw chunks of ``dset`` can be inflated straight into its numpy dtype."""
    if sys.byteorder != "little" or dset.ndim != 1 or dset.chunks is None:
        return False
    plist = dset.id.get_create_plist()
    if plist.get_nfilters() != 1 or plist.get_filter(0)[0] != h5py.h5z.FILTER_DEFLATE:
        return False
    if dset.dtype.hasobject or dset.id.get_type().get_size() != dset.dtype.itemsize:
        return False
    return True


def read_rows(dset: h5py.Dataset, lo: int, hi: int, threads: int) -> np.ndarray | None:
    """Rows [lo, hi) of an eligible dataset, or None (caller falls back to h5py)."""
    dtype = dset.dtype
    size = dset.chunks[0]
    nbytes = size * dtype.itemsize
    out = np.empty(hi - lo, dtype)
    first, last = lo // size, (hi - 1) // size
    raws = []
    for k in range(first, last + 1):
        try:
            mask, raw = dset.id.read_direct_chunk((k * size,))
        except (OSError, KeyError, ValueError):
            return None  # unallocated or unreadable chunk: let h5py report it
        if mask != 0:
            return None
        raws.append((k, raw))

    def inflate(item: tuple[int, bytes]) -> bool:
        k, raw = item
        try:
            buf = _inflate(raw)
        except (zlib.error, _inflate_error):
            return False
        if len(buf) != nbytes:
            return False
        rows = np.frombuffer(buf, dtype)
        a, b = max(lo, k * size), min(hi, (k + 1) * size)
        out[a - lo:b - lo] = rows[a - k * size:b - k * size]
        return True

    if threads > 1 and len(raws) >= 2 * threads:
        # one task per thread (per-chunk tasks cost as much as inflating a 16 kB chunk)
        groups = [raws[i::threads] for i in range(threads)]
        ok = all(_pool(threads).map(lambda g: all(inflate(r) for r in g), groups))
    else:
        ok = all(inflate(r) for r in raws)
    return out if ok else None
