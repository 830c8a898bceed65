"""Fast appends to larcv's big flat tables (voxels, images): chunks deflated outside HDF5.

Writing larcv files is bound by deflating the voxel tables (gzip level 1 is part of the format;
~16 bytes per voxel per product). h5py deflates chunk by chunk inside the HDF5 library, in one
thread. Here the appender cuts the rows into the dataset's own chunks, deflates them itself —
with ISA-L (``isal``, ~3× faster than zlib at level 1, same zlib stream format) when installed,
else zlib — on a small thread pool (both release the GIL), and stores them with
``write_direct_chunk``. The dataset keeps larcv's creation properties (chunk size, deflate level
1), so any HDF5 reader, larcv included, reads it as usual.

The last, partly filled chunk stays in memory as the tail and is written (padded) at every
flush, then rewritten when later rows complete it, so the file is valid after each flush.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

from .chunks import eligible

try:  # ISA-L's deflate: optional speed-up, identical stream format
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - exercised where isal is absent
    _fast_zlib = None

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(2, thread_name_prefix="larseg-deflate")
    return _POOL


def deflate(raw: bytes, level: int) -> bytes:
    """A zlib stream of ``raw`` (what HDF5's deflate filter stores)."""
    if _fast_zlib is not None:
        return _fast_zlib.compress(raw, min(level, 3))
    return zlib.compress(raw, level)


def deflate_level(dset: h5py.Dataset) -> int:
    plist = dset.id.get_create_plist()
    return int(plist.get_filter(0)[2][0])


class ChunkAppender:
    """Appends rows to one eligible 1D dataset (see :func:`larseg.io.chunks.eligible`)."""

    def __init__(self, dset: h5py.Dataset) -> None:
        if not self.usable(dset):
            raise ValueError(f"{dset.name}: not a 1D deflate-only fixed-size dataset")
        self.dset = dset
        self.chunk = int(dset.chunks[0])
        self.level = deflate_level(dset)
        self.length = int(dset.shape[0])
        self.tail_start = (self.length // self.chunk) * self.chunk
        self.tail = dset[self.tail_start:self.length] if self.length > self.tail_start \
            else np.zeros(0, dset.dtype)

    @staticmethod
    def usable(dset: h5py.Dataset) -> bool:
        # strings are left to HDF5, which converts numpy's NULLPAD to larcv's NULLTERM
        if not eligible(dset):
            return False
        names = dset.dtype.names or ()
        return not any(dset.dtype[n].kind == "S" for n in names) and dset.dtype.kind != "S"

    def append(self, rows: np.ndarray) -> None:
        self.write(self.prepare(rows))

    def prepare(self, rows: np.ndarray) -> "PreparedAppend | None":
        """Deflate ``rows`` (with the current tail) into chunks; nothing is written yet, so the
        caller can reserve exactly ``nbytes`` of disk before :meth:`write`."""
        if len(rows) == 0:
            return None
        # np.concatenate would pack larcv's padded compound dtypes (itemsize 16 -> 12): copy
        # into an array of the dataset's own dtype instead
        buf = np.zeros(len(self.tail) + len(rows), self.dset.dtype)  # zeroed padding bytes
        buf[:len(self.tail)] = self.tail
        buf[len(self.tail):] = rows
        starts = list(range(0, len(buf), self.chunk))
        payloads = []
        for k in starts:
            part = buf[k:k + self.chunk]
            if len(part) < self.chunk:  # the edge chunk is stored full size, padded
                padded = np.zeros(self.chunk, self.dset.dtype)
                padded[:len(part)] = part
                part = padded
            payloads.append(part.tobytes())
        level = self.level
        if len(payloads) > 4:
            # one task per thread: per-chunk tasks cost about as much as deflating a chunk
            half = (len(payloads) + 1) // 2
            parts = _pool().map(lambda group: [deflate(raw, level) for raw in group],
                                (payloads[:half], payloads[half:]))
            compressed = [c for group in parts for c in group]
        else:
            compressed = [deflate(raw, level) for raw in payloads]
        return PreparedAppend(buf, starts, compressed, len(rows))

    def write(self, prepared: "PreparedAppend | None") -> None:
        """Store prepared chunks (rewriting the partly filled last one) and extend the dataset."""
        if prepared is None:
            return
        buf, starts = prepared.buf, prepared.starts
        self.length += prepared.n_rows
        self.dset.resize((self.length,))
        for k, data in zip(starts, prepared.chunks):
            self.dset.id.write_direct_chunk((self.tail_start + k,), data)
        last = starts[-1]
        if len(buf) - last < self.chunk:
            self.tail = buf[last:].copy()
            self.tail_start += last
        else:
            self.tail = np.zeros(0, self.dset.dtype)
            self.tail_start += len(buf)


class PreparedAppend:
    """Deflated chunks ready for :meth:`ChunkAppender.write`."""

    __slots__ = ("buf", "starts", "chunks", "n_rows")

    def __init__(self, buf: np.ndarray, starts: list[int], chunks: list[bytes],
                 n_rows: int) -> None:
        self.buf, self.starts, self.chunks, self.n_rows = buf, starts, chunks, n_rows

    @property
    def nbytes(self) -> int:
        return sum(len(c) for c in self.chunks)
