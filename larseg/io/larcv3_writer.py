"""Product-level larcv3 HDF5 writer: larcv's layout, atomic and resumable.

- Atomic: everything goes to ``<name>.partial`` beside the target, renamed onto the target by
  :meth:`Larcv3Writer.close`. An exception or a kill leaves the target as it was.
- Commit marker: an event's products are appended first, its ``Events/event_id`` row last, and
  the file is flushed; the number of event_id rows is the number of complete events.
- Resumable: opening (mode "a") a ``.partial`` left by an interrupted job truncates every
  product's tables back to the last complete event and continues; appending to a finished file
  copies it to ``.partial`` first. ``n_events`` tells a caller how many events are already in.
- Interrupt-safe: a commit (:meth:`Larcv3Writer.flush`) runs with SIGINT/SIGTERM held back, and
  a commit that fails half-way (disk full) marks the writer broken, so that closing it never
  commits events whose products did not all reach the file. A new ``.partial`` (or the copy of a
  finished file) is made under a temporary name and renamed once it is a valid HDF5 file. Disk
  space is reserved before a commit writes (:mod:`larseg.io.filesafety`); the groups' rows are
  buffered and staged by :mod:`larseg.io.staging`.
- Identity (:mod:`larseg.io.identity`): a writer given ``identity`` (the settings of the job that makes the file) stores it
  as the root attribute ``larseg_job`` and refuses to resume or extend a file whose stored
  identity differs, or that has none (a file larseg's jobs did not write).
- Never destroys what it did not write: in mode "a" a target that is not HDF5 is refused.
- Groups are created lazily, like larcv's. A product absent from an event is written empty for
  it; a product that first appears at event k gets k empty entries first, so every product has
  one entry per event.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError, FileWriteError
from ..interrupt import deferred_signals
from . import larcv3_schema as S
from .filesafety import close_quietly, freeze, io_reason, release_space, reserve_space
from .identity import IDENTITY_ATTR, check_identity, partial_path
from .staging import ProductGroup
from .rows import _id_extents, _sorted_cluster_voxels, _sorted_voxels
from .products import Cluster2D, Image2D, Sparse2D, metas_to_rows
from .recovery import cut_back_to_committed


def _fill_voxels(rows: np.ndarray, ids: list[np.ndarray], values: list[np.ndarray]) -> None:
    """Write the (id, value) parts one after the other into staged voxel rows."""
    a = 0
    for i, v in zip(ids, values):
        b = a + i.size
        rows["id"][a:b] = i
        rows["value"][a:b] = v
        a = b


def producer_missing(given: dict[str, dict], key: tuple[str, str]) -> bool:
    return key[1] not in given.get(key[0], {})


def _tmp_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".tmp")


class Larcv3Writer:
    """Append events of larcv3 products to a file.

    ``mode="w"``: a new file (replaces the target on close); ``mode="a"``: continue a
    ``.partial`` left by an interrupted job, else append to the target if it exists, else new.
    ``buffer_events``: events kept in memory and written together (1 = every event is on disk
    when :meth:`write_event` returns). ``identity``: the job's settings (JSON-able), stored in a
    new file and compared with the stored ones when resuming or appending.
    """

    def __init__(self, path: str | Path, mode: str = "w", *, buffer_events: int = 1,
                 identity: Mapping[str, object] | None = None) -> None:
        if mode not in ("w", "a"):
            raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.buffer_events = max(1, int(buffer_events))
        self.identity = dict(identity) if identity is not None else None
        self.recovered_events = 0  # complete events found in a resumed .partial / appended file
        self.resumed_partial = False  # True when an interrupted job's .partial was continued
        self.dropped_rows = 0      # product rows of incomplete events cut off on resume
        self._closed = False
        self._broken = False       # a commit failed half-way: never commit again
        self._groups: dict[tuple[str, str], ProductGroup] = {}
        self._pending_ids: list[tuple[int, int, int]] = []
        for p in (self.path, self.partial):
            if p.is_dir():
                raise FileFormatError(f"{p} is a directory; give a file name for the output")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _tmp_path(self.partial).unlink(missing_ok=True)  # debris of a creation that was killed
        if mode == "w":
            if self.partial.exists():
                self.partial.unlink()
            self._h5 = self._create()
        else:
            self._h5 = self._open_append()
        self._n_committed = self._event_ds.shape[0]

    # ---------------------------------------------------------------- opening
    def _create(self, copy_of: Path | None = None) -> h5py.File:
        """A new .partial (empty, or a copy of ``copy_of``), made under a temporary name so that a
        kill at any moment leaves either no .partial or a valid one."""
        tmp = _tmp_path(self.partial)
        if copy_of is not None:
            try:
                shutil.copyfile(copy_of, tmp)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise FileWriteError(f"file {self.partial}: cannot copy {copy_of} to append to "
                                     f"it ({io_reason(e)}); {copy_of} is unchanged") from e
            os.replace(tmp, self.partial)
            return self._open_existing()
        # Freed file space is never reused ("aggregate": no free-space manager). Partly filled
        # chunks are rewritten elsewhere as events are appended; if HDF5 could hand their old
        # space to later chunks, a kill between two commits would overwrite data that the last
        # committed metadata still points to, and the .partial could not be resumed
        # (tests/test_io_atomic.py::test_crash_between_commits...). The cost: the old copies of
        # partly filled chunks stay in the file (files grow ~1 %, metadata included).
        with h5py.File(tmp, "w", fs_strategy="aggregate") as h5:
            S.create_dataset(h5.require_group(S.EVENTS_GROUP), S.EVENT_ID_DATASET,
                             S.EVENT_ID_DTYPE, S.EVENT_ID_CHUNK)
            h5.require_group(S.DATA_GROUP)
            if self.identity is not None:
                h5.attrs[IDENTITY_ATTR] = json.dumps(self.identity, sort_keys=True)
        os.replace(tmp, self.partial)
        return h5py.File(self.partial, "r+")

    def _open_append(self) -> h5py.File:
        if self.partial.exists():
            self.resumed_partial = True
            return self._open_existing()
        if self.path.exists():
            if not h5py.is_hdf5(self.path):
                raise FileFormatError(f"file {self.path} exists and is not an HDF5 file: "
                                      "refusing to append to it or replace it")
            self._check_identity_of(self.path)
            return self._create(copy_of=self.path)
        return self._create()

    def _open_existing(self) -> h5py.File:
        """Open the .partial for appending and cut it back to its last complete event."""
        if not h5py.is_hdf5(self.partial):
            raise FileFormatError(f"file {self.partial} is not a valid HDF5 file, so the job "
                                  "cannot resume from it; start afresh (--overwrite) or remove it")
        self._check_identity_of(self.partial)
        try:
            h5 = h5py.File(self.partial, "r+")
        except OSError as e:
            raise FileFormatError(f"file {self.partial} cannot be opened to resume ({e}); "
                                  "start afresh (--overwrite) or remove it") from None
        try:
            reserve_space(h5, 1 << 20)  # room for the cut-back
        except OSError as e:  # nothing written yet: the file is as it was
            h5.close()
            raise FileWriteError(f"file {self.partial}: cannot resume, no room to write "
                                 f"({io_reason(e)}); the events committed before are kept") from e
        try:
            self._recover(h5)
            release_space(h5)
        except OSError as e:
            if isinstance(e, FileFormatError):
                h5.close()
                raise
            freeze(h5)  # a failed write (disk full): nothing more may reach the file
            close_quietly(h5)
            raise FileWriteError(f"file {self.partial}: cannot resume, writing failed "
                                 f"({io_reason(e)}); the events committed before are kept") from e
        except BaseException:
            h5.close()
            raise
        return h5

    def _check_identity_of(self, path: Path) -> None:
        if self.identity is not None:
            check_identity(path, self.identity)

    def _recover(self, h5: h5py.File) -> None:
        """Cut every product back to the events whose event_id row exists."""
        n, dropped, groups = cut_back_to_committed(h5, self.partial)
        self.dropped_rows += dropped
        for ptype, producer in groups:
            self._groups[(ptype, producer)] = ProductGroup(h5, ptype, producer, create=False)
        self.recovered_events = n

    @property
    def _event_ds(self) -> h5py.Dataset:
        return self._h5[S.EVENTS_GROUP][S.EVENT_ID_DATASET]

    @property
    def n_events(self) -> int:
        """Events accepted so far (complete on disk + buffered)."""
        return self._n_committed + len(self._pending_ids)

    # ---------------------------------------------------------------- writing
    def _group(self, ptype: str, producer: str) -> ProductGroup:
        key = (ptype, producer)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = ProductGroup(self._h5, ptype, producer, create=True)
            for _ in range(self.n_events):  # backfill: one (empty) entry per earlier event
                self._add_empty(g)
        return g

    @staticmethod
    def _add_empty(g: ProductGroup) -> None:
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["first"] = g.next_index(S.CHAINS[g.ptype][0][1])
        g.add("extents", ext)

    def write_event(self, run: int, subrun: int, event: int, *,
                    sparse2d: dict[str, list[Sparse2D]] | None = None,
                    cluster2d: dict[str, list[Cluster2D]] | None = None,
                    particles: dict[str, np.ndarray] | None = None,
                    image2d: dict[str, list[Image2D]] | None = None) -> None:
        """Append one event; each argument maps producer -> that product's content."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        given = {S.SPARSE2D: sparse2d or {}, S.CLUSTER2D: cluster2d or {},
                 S.PARTICLE: particles or {}, S.IMAGE2D: image2d or {}}
        tag = f"{self.path}, event {run}/{subrun}/{event}"
        # A bad product raises with nothing of this event kept (checked, then rolled back).
        prepared = [(ptype, producer, content) for ptype, products in given.items()
                    for producer, content in products.items()]
        for ptype, producer, content in prepared:
            self._check(ptype, producer, content, tag)
        snapshot = {key: g.mark() for key, g in self._groups.items()}
        try:
            for ptype, producer, content in prepared:
                g = self._group(ptype, producer)
                getattr(self, f"_add_{ptype}")(g, content, f"{tag}, {ptype} '{producer}'")
        except BaseException:  # a KeyboardInterrupt too: nothing of a half-added event stays
            # roll back this event's buffered rows (and groups it created) before re-raising
            for key in [k for k in self._groups if k not in snapshot]:
                del self._h5[self._groups.pop(key).group.name]
            for key, mark in snapshot.items():
                self._groups[key].rollback(mark)
            raise
        for key, g in self._groups.items():
            if producer_missing(given, key):
                self._add_empty(g)
        self._pending_ids.append((int(run), int(subrun), int(event)))
        if len(self._pending_ids) >= self.buffer_events:
            self.flush()

    @staticmethod
    def _check(ptype: str, producer: str, content, tag: str) -> None:
        if ptype == S.PARTICLE:
            if not isinstance(content, np.ndarray) or content.dtype != S.PARTICLE_DTYPE:
                raise TypeError(f"{tag}: particle '{producer}' must be a PARTICLE_DTYPE array")
        else:
            kind = {S.SPARSE2D: Sparse2D, S.CLUSTER2D: Cluster2D, S.IMAGE2D: Image2D}[ptype]
            if not all(isinstance(c, kind) for c in content):
                raise TypeError(f"{tag}: {ptype} '{producer}' must be a list of {kind.__name__}")

    def _add_sparse2d(self, g: ProductGroup, projs: list[Sparse2D], what: str) -> None:
        ids, vals = [], []
        for p in projs:
            i, v = _sorted_voxels(p.ids, p.values, f"{what}, projection {p.meta.projection_id}")
            ids.append(i)
            vals.append(v)
        counts = np.array([len(i) for i in ids], np.int64)
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["first"], ext["N"] = g.next_index("voxel_extents"), len(projs)
        g.add("extents", ext)
        g.add("voxel_extents", _id_extents(g.next_index("voxels"), counts,
                                           np.array([p.meta.projection_id for p in projs])))
        g.add("image_meta", metas_to_rows([p.meta for p in projs]))
        if projs:
            _fill_voxels(g.stage("voxels", int(counts.sum())), ids, vals)

    def _add_cluster2d(self, g: ProductGroup, projs: list[Cluster2D], what: str) -> None:
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["first"], ext["N"] = g.next_index("projection_extents"), len(projs)
        g.add("extents", ext)
        g.add("projection_extents", _id_extents(
            g.next_index("cluster_extents"), np.array([p.n_clusters for p in projs], np.int64),
            np.array([p.meta.projection_id for p in projs])))
        g.add("image_meta", metas_to_rows([p.meta for p in projs]))
        for p in projs:
            ids, vals = _sorted_cluster_voxels(p, f"{what}, projection {p.meta.projection_id}")
            g.add("cluster_extents", _id_extents(g.next_index("voxels"), np.diff(p.offsets),
                                                 p.cluster_ids))
            if ids.size:
                _fill_voxels(g.stage("voxels", ids.size), [ids], [vals])

    def _add_particle(self, g: ProductGroup, rows: np.ndarray, what: str) -> None:
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["first"], ext["N"] = g.next_index("particles"), len(rows)
        g.add("extents", ext)
        g.add("particles", np.ascontiguousarray(rows))

    def _add_image2d(self, g: ProductGroup, images: list[Image2D], what: str) -> None:
        ext = np.zeros(1, S.EXTENTS_DTYPE)
        ext["first"], ext["N"] = g.next_index("image_extents"), len(images)
        g.add("extents", ext)
        g.add("image_extents", _id_extents(
            g.next_index("images"), np.array([im.data.size for im in images], np.int64),
            np.array([im.meta.projection_id for im in images])))
        g.add("image_meta", metas_to_rows([im.meta for im in images]))
        if g.images_chunk is None and images:
            g.images_chunk = sum(im.data.size for im in images)
        g.add("images", (np.concatenate([im.data.reshape(-1) for im in images])
                         if images else np.zeros(0, np.float32)))

    # ---------------------------------------------------------------- commit
    def flush(self) -> None:
        """Commit buffered events: products first, then their event_id rows, then flush.

        Signals are held back until the commit is complete. If it fails half-way (disk full),
        the writer is broken: the file on disk still ends at the previous commit, and nothing
        more is committed (closing it keeps the .partial for a resume)."""
        if not self._pending_ids:
            return
        if self._broken:
            raise FileWriteError(f"file {self.partial}: an earlier commit failed; "
                                 "the writer accepts no more events")
        with deferred_signals():
            try:
                # The disk space of the whole commit is reserved before anything is written
                # (the big tables are deflated first, so the reservation is close to what is
                # written), so that a full disk, a quota or a file-size limit fails here, with
                # the file as the last commit left it. Once HDF5 has failed a write half-way
                # through a commit, its metadata on disk can be torn (a file it cannot open)
                # and closing it can crash; freeze() is the last line of defence.
                nbytes = sum(g.prepare() for g in self._groups.values())
                reserve_space(self._h5, nbytes + (1 << 20))
            except OSError as e:
                self._broken = True  # nothing of this commit was written: close normally
                raise self._write_failed(e) from e
            try:
                for g in self._groups.values():
                    g.write()
                rows = np.array(self._pending_ids, dtype=np.int64).view(S.EVENT_ID_DTYPE)
                rows = rows.reshape(-1)
                d = self._event_ds
                n = d.shape[0]
                d.resize((n + len(rows),))
                d[n:] = rows
                self._h5.flush()
                release_space(self._h5)
            except BaseException as e:  # disk full, quota, I/O error, or anything else
                self._broken = True
                freeze(self._h5)
                if isinstance(e, OSError):
                    raise self._write_failed(e) from e
                raise
            self._pending_ids = []
            self._n_committed = n + len(rows)

    def _write_failed(self, e: OSError) -> FileWriteError:
        return FileWriteError(f"file {self.partial}: writing failed ({io_reason(e)}); the "
                              f"{self._n_committed} events committed before are kept: run the "
                              "same job again to resume")

    def close(self) -> Path:
        """Write what is buffered, close, and move the file onto the target path."""
        if self._closed:
            return self.path
        with deferred_signals():
            try:
                self.flush()
            except BaseException:
                self._close_h5()
                raise
            self._closed = True
            self._h5.close()  # an error here must not let the .partial become the target
            os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Close without renaming: the ``.partial`` stays for a later resume. Buffered events
        are complete and are committed first, unless a commit already failed."""
        if self._closed:
            return
        with deferred_signals():
            try:
                if not self._broken:
                    self.flush()
            finally:
                self._close_h5()

    def _close_h5(self) -> None:
        self._closed = True
        close_quietly(self._h5)

    def __enter__(self) -> "Larcv3Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.abort()
            except Exception:  # the original error matters more
                pass
