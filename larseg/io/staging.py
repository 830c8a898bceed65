"""One product group of a larcv3 file being appended to: rows buffered, staged, written.

Rows of each dataset are buffered until a commit (:meth:`ProductGroup.add`; the rows of a table
appended chunk by chunk go straight into its appender's reused buffer, and
:meth:`ProductGroup.stage` hands out rows to fill in place). A commit first stages them
(:meth:`ProductGroup.prepare`: the tables deflated, an upper bound of the bytes to be written
returned, so that the writer can reserve the disk space), then writes them
(:meth:`ProductGroup.write`). :meth:`ProductGroup.mark` and
:meth:`ProductGroup.rollback` undo the rows of an event that failed half-way.
"""

from __future__ import annotations

import h5py
import numpy as np

from . import larcv3_schema as S
from .appender import ChunkAppender, PreparedAppend

# Every table larcv's layout allows is appended chunk by chunk, deflated outside HDF5 (see
# appender.py): the big flat ones (voxels, images, particles) for the deflate's speed, the small
# index tables because HDF5 would read back, inflate and deflate again their partly filled last
# chunk at every commit.
DIRECT_TABLES = tuple(sorted({name for tables in S.DATASETS.values() for name in tables}))


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
        for name in DIRECT_TABLES:
            d = self.group.get(name)
            if d is not None and ChunkAppender.usable(d):
                self.appenders[name] = ChunkAppender(d)

    def next_index(self, name: str) -> int:
        """Row index the next appended row of ``name`` will get (on disk + pending)."""
        app = self.appenders.get(name)
        if app is not None:
            return self.length[name] + app.staged
        return self.length[name] + sum(len(r) for r in self.pending[name])

    def add(self, name: str, rows: np.ndarray) -> None:
        app = self.appenders.get(name)
        if app is not None:
            app.stage(len(rows))[:] = rows
        else:
            self.pending[name].append(rows)

    def stage(self, name: str, n: int) -> np.ndarray:
        """``n`` new rows of ``name`` to fill in place; the caller fills every field (a big
        table's rows are views into its appender's reused buffer, so filling them is the only
        copy, and they may hold older values; padding bytes are zero)."""
        app = self.appenders.get(name)
        if app is not None:
            return app.stage(n)
        rows = np.zeros(n, S.DATASETS[self.ptype][name][0])
        self.pending[name].append(rows)
        return rows

    def mark(self) -> dict[str, int]:
        """What is buffered now, per dataset (for :meth:`rollback`)."""
        return {name: (self.appenders[name].staged if name in self.appenders else len(rows))
                for name, rows in self.pending.items()}

    def rollback(self, mark: dict[str, int]) -> None:
        """Drop what was buffered after :meth:`mark` returned ``mark``."""
        for name, k in mark.items():
            if name in self.appenders:
                self.appenders[name].unstage(k)
            else:
                del self.pending[name][k:]

    def prepare(self) -> int:
        """Stage the pending rows for :meth:`write` (the big tables deflated now) and return an
        upper bound of the bytes writing them adds to the file."""
        self._staged: list[tuple[str, object]] = []
        total = 0
        for name, (dtype, _) in S.DATASETS[self.ptype].items():
            app = self.appenders.get(name)
            if app is not None:
                prepared = app.prepare()
                if prepared is not None:
                    self._staged.append((name, prepared))
                    total += prepared.nbytes + 512 * len(prepared.chunks) + 8192
                continue
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
                # a big table created after this group was opened (image2d images): rows
                # buffered so far go through a new appender
                app = self.appenders[name] = ChunkAppender(d)
                app.stage(len(rows))[:] = rows
                prepared = app.prepare()
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
