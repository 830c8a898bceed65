"""One product group of a larcv3 file being appended to: rows buffered, staged, written.

Rows of each dataset are buffered (:meth:`ProductGroup.add`) until a commit. A commit first
stages them (:meth:`ProductGroup.prepare`: the big tables deflated, an upper bound of the bytes
to be written returned, so that the writer can reserve the disk space), then writes them
(:meth:`ProductGroup.write`).
"""

from __future__ import annotations

import h5py
import numpy as np

from . import larcv3_schema as S
from .appender import ChunkAppender, PreparedAppend

# The big flat tables: appended chunk by chunk, deflated outside HDF5 (see appender.py).
DIRECT_TABLES = ("voxels", "images")


class ProductGroup:
    """One product group being appended to: its datasets and their current lengths."""

    def __init__(self, h5: h5py.File, ptype: str, producer: str, create: bool) -> None:
        self.ptype, self.producer = ptype, producer
        path = S.group_path(ptype, producer)
        if create:
            self.group = h5.require_group(S.DATA_GROUP).create_group(S.group_name(ptype, producer))
            for name, (dtype, chunk) in S.DATASETS[ptype].items():
                if chunk is not None:  # image2d "images": created with the first images
                    S.create_dataset(self.group, name, dtype, chunk)
        else:
            self.group = h5[path]
        self.pending: dict[str, list[np.ndarray]] = {name: [] for name in S.DATASETS[ptype]}
        self.images_chunk: int | None = None  # image2d: pixel count of the first event's images
        self.length = {name: (self.group[name].shape[0] if name in self.group else 0)
                       for name in S.DATASETS[ptype]}
        self.appenders: dict[str, ChunkAppender] = {}

    def next_index(self, name: str) -> int:
        """Row index the next appended row of ``name`` will get (on disk + pending)."""
        return self.length[name] + sum(len(r) for r in self.pending[name])

    def add(self, name: str, rows: np.ndarray) -> None:
        self.pending[name].append(rows)

    def prepare(self) -> int:
        """Stage the pending rows for :meth:`write` (the big tables deflated now) and return an
        upper bound of the bytes writing them adds to the file."""
        self._staged: list[tuple[str, object]] = []
        total = 0
        for name, (dtype, _) in S.DATASETS[self.ptype].items():
            parts = self.pending[name]
            if not parts:
                continue
            rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
            self.pending[name] = []
            d = self.group.get(name)
            if d is None:  # image2d images: created at write time (chunk = first event's pixels)
                self._staged.append((name, rows))
                total += (len(rows) + (self.images_chunk or len(rows))) \
                    * np.dtype(dtype).itemsize + 16384
                continue
            if len(rows) == 0:
                continue
            if name in DIRECT_TABLES and ChunkAppender.usable(d):
                app = self.appenders.get(name)
                if app is None:
                    app = self.appenders[name] = ChunkAppender(d)
                prepared = app.prepare(rows)
                self._staged.append((name, prepared))
                total += prepared.nbytes + 512 * len(prepared.chunks) + 8192
            else:
                # HDF5 deflates these itself: bound by their size before deflate (deflate adds
                # a few bytes per chunk to incompressible data), plus the rewritten last chunk
                itemsize = np.dtype(dtype).itemsize
                chunk = int(d.chunks[0]) if d.chunks else len(rows)
                self._staged.append((name, rows))
                total += (len(rows) + chunk) * itemsize + 512 * (len(rows) // chunk + 2) + 8192
        return total

    def flush(self) -> None:
        """Write the pending rows now (no reservation: the writer's commit does that)."""
        self.prepare()
        self.write()

    def write(self) -> None:
        """Write what :meth:`prepare` staged."""
        for name, item in self._staged:
            dtype = S.DATASETS[self.ptype][name][0]
            if name not in self.group:
                S.create_dataset(self.group, name, dtype, self.images_chunk or len(item))
            d = self.group[name]
            n = self.length[name]
            if isinstance(item, PreparedAppend):
                self.appenders[name].write(item)
                self.length[name] = n + item.n_rows
            elif len(item):
                d.resize((n + len(item),))
                d[n:] = item
                self.length[name] = n + len(item)
        self._staged = []
