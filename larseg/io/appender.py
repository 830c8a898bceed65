"""Fast appends to larcv's tables (voxels, images, particles, extents): chunks deflated outside
HDF5.

Writing larcv files is bound by deflating the voxel tables (gzip level 1 is part of the format;
~16 bytes per voxel per product). h5py deflates chunk by chunk inside the HDF5 library, in one
thread. Here the appender cuts the rows into the dataset's own chunks, deflates them itself —
with ISA-L (``isal``, ~3× faster than zlib at level 1, same zlib stream format) when installed,
else zlib — on a small thread pool (both release the GIL), and stores them with
``write_direct_chunk``. The dataset keeps larcv's creation properties (chunk size, deflate level
1), so any HDF5 reader, larcv included, reads it as usual.

The last, partly filled chunk stays in memory as the tail and is written (padded) at every
flush, then rewritten when later rows complete it, so the file is valid after each flush. The
rows to write are staged in a buffer the appender reuses, and deflated from it in place.
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
    """Appends rows to one eligible 1D dataset (see :func:`larseg.io.chunks.eligible`).

    Rows are staged in one buffer that the appender keeps and reuses (the partly filled last
    chunk, then the staged rows): a commit deflates the chunks straight from it, and no fresh
    memory is touched per commit (first-touch page faults of fresh megabytes cost about as much
    as copying them). ``stage(n)`` hands out rows to fill in place, ``append`` copies rows in.

    The buffer is never cleared between uses (that would cost a pass over it per commit):
    staged rows may hold older rows' values, and only their padding bytes are known to be zero
    (every row that enters the buffer comes from a zeroed array), so a caller of :meth:`stage`
    fills every field.
    """

    def __init__(self, dset: h5py.Dataset) -> None:
        if not self.usable(dset):
            raise ValueError(f"{dset.name}: not a 1D deflate-only fixed-size dataset")
        self.dset = dset
        self.chunk = int(dset.chunks[0])
        self.level = deflate_level(dset)
        self.length = int(dset.shape[0])  # rows in the dataset
        self.tail_start = (self.length // self.chunk) * self.chunk
        n_tail = self.length - self.tail_start
        # zeroed: larcv's compound rows have padding bytes, which must be stored as zeros
        self._buf = np.zeros(max(2 * self.chunk, n_tail), dset.dtype)
        if n_tail:
            tail = dset[self.tail_start:self.length]
            for name in dset.dtype.names or ():  # field by field: h5py's padding is undefined
                self._buf[name][:n_tail] = tail[name]
            if not dset.dtype.names:
                self._buf[:n_tail] = tail
        self._n_tail = n_tail   # buf[:n_tail]: the rows of the partly filled chunk on disk
        self._n = n_tail        # buf[:n]: tail + staged rows

    @staticmethod
    def usable(dset: h5py.Dataset) -> bool:
        # Top-level fixed-length string fields are fine: larcv's are NULLTERM, numpy's NULLPAD,
        # and the two have the same bytes once the last byte is NUL (what HDF5's conversion
        # does: a string that fills the field loses its last character), which prepare() sets.
        # Strings anywhere else are left to HDF5.
        if not eligible(dset) or dset.dtype.kind == "S":
            return False
        dt = dset.dtype
        for name in dt.names or ():
            sub = dt.fields[name][0]
            if sub.kind != "S" and _has_strings(sub):
                return False
        return True

    def _string_ends(self) -> list[int]:
        """Byte offsets, within a row, of the last byte of each string field."""
        dt = self.dset.dtype
        return [off + sub.itemsize - 1 for sub, off in (dt.fields[n][:2] for n in dt.names or ())
                if sub.kind == "S"]

    @property
    def staged(self) -> int:
        """Rows staged and not written yet."""
        return self._n - self._n_tail

    def stage(self, n: int) -> np.ndarray:
        """A view of ``n`` new rows at the end of the staged ones: the caller fills every field
        (the rows may hold older values; their padding bytes are zero)."""
        need = self._n + n
        self._reserve(need)
        view = self._buf[self._n:need]
        self._n = need
        return view

    def _reserve(self, rows: int) -> None:
        if rows > len(self._buf):
            grown = np.zeros(max(rows, len(self._buf) * 2), self.dset.dtype)
            grown[:self._n] = self._buf[:self._n]
            self._buf = grown

    def unstage(self, staged: int) -> None:
        """Drop the rows staged after the first ``staged`` ones (an event rolled back)."""
        if not 0 <= staged <= self.staged:
            raise ValueError(f"cannot keep {staged} of {self.staged} staged rows")
        self._n = self._n_tail + staged

    def append(self, rows: np.ndarray) -> None:
        """Stage ``rows`` and write them at once."""
        self.stage(len(rows))[:] = rows
        self.write(self.prepare())

    def prepare(self) -> "PreparedAppend | None":
        """Deflate the staged rows (with the current tail) into chunks; nothing is written yet,
        so the caller can reserve exactly ``nbytes`` of disk before :meth:`write`."""
        if self.staged == 0:
            return None
        n, chunk = self._n, self.chunk
        end = -(-n // chunk) * chunk  # the edge chunk is stored full size, zero padded
        self._reserve(end)
        self._buf[n:end].fill(0)  # less than a chunk
        ends = self._string_ends()
        if ends:  # NUL-terminate the staged strings (see usable())
            self._buf[self._n_tail:n].view(np.uint8).reshape(n - self._n_tail, -1)[:, ends] = 0
        raw = self._buf[:end].view(np.uint8)
        nbytes = chunk * self._buf.dtype.itemsize
        payloads = [raw[k * nbytes:(k + 1) * nbytes] for k in range(end // chunk)]
        level = self.level
        if len(payloads) > 4:
            # one task per thread: per-chunk tasks cost about as much as deflating a chunk
            half = (len(payloads) + 1) // 2
            parts = _pool().map(lambda group: [deflate(b, level) for b in group],
                                (payloads[:half], payloads[half:]))
            compressed = [c for group in parts for c in group]
        else:
            compressed = [deflate(b, level) for b in payloads]
        return PreparedAppend(list(range(0, end, chunk)), compressed, n - self._n_tail)

    def write(self, prepared: "PreparedAppend | None") -> None:
        """Store prepared chunks (rewriting the partly filled last one) and extend the dataset;
        the rows of a new partly filled last chunk move to the front of the buffer."""
        if prepared is None:
            return
        if prepared.n_rows != self.staged:
            raise ValueError("rows were staged after prepare(): prepare again")
        self.length += prepared.n_rows
        self.dset.resize((self.length,))
        for k, data in zip(prepared.starts, prepared.chunks):
            self.dset.id.write_direct_chunk((self.tail_start + k,), data)
        n = self._n
        full = (n // self.chunk) * self.chunk
        n_tail = n - full
        if full:
            self._buf[:n_tail] = self._buf[full:n]
        self.tail_start += full
        self._n_tail = self._n = n_tail


def _has_strings(dt: np.dtype) -> bool:
    if dt.kind == "S":
        return True
    if dt.subdtype is not None:
        return _has_strings(dt.subdtype[0])
    return any(_has_strings(dt.fields[n][0]) for n in dt.names or ())


class PreparedAppend:
    """Deflated chunks ready for :meth:`ChunkAppender.write`."""

    __slots__ = ("starts", "chunks", "n_rows")

    def __init__(self, starts: list[int], chunks: list[bytes], n_rows: int) -> None:
        self.starts, self.chunks, self.n_rows = starts, chunks, n_rows

    @property
    def nbytes(self) -> int:
        return sum(len(c) for c in self.chunks)
