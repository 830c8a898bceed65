"""larcv3 files as sequences of :class:`larseg.event.Event` (writing them:
:mod:`larseg.io.event_writer`).

Reading: ``EventFile(path)`` is a lazy ``Sequence[Event]``; iterating (or ``iter_blocks``) reads
blocks of entries with one h5py read per dataset; ``f[i]`` reads one entry, or a block when the
calls walk through the file in order (a DataLoader without shuffling). Each event is validated;
errors name the file, the entry (run/subrun/event) and the field. With ``on_error="skip"``,
iteration skips bad events with a warning and counts them in ``skipped``.

Pixels come back from a file sorted by larcv voxel id (wire-major), with labels, instance and
particle_charge permuted alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidEventError, ProductNotFoundError
from ..event import DetectorMeta, Event
from . import larcv3_schema as S
from .convert import DroppedVoxels, plane_image, plane_meta
from .larcv3 import Larcv3Reader
from .particles import rows_to_interactions, rows_to_particles
from .producers import ProducerNames, field_type, resolve_producers
from .products import Image2D, Sparse2D

DEFAULT_BLOCK = 64


def _dense_to_sparse(images: list[Image2D]) -> list[Sparse2D]:
    pids = [im.meta.projection_id for im in images]
    unique = len(set(pids)) == len(pids)
    out = []
    for k, im in enumerate(images):
        flat = im.data.reshape(-1)
        ids = np.flatnonzero(flat)
        meta = im.meta if unique else replace(im.meta, projection_id=k)
        out.append(Sparse2D(meta, ids.astype(np.uint64), flat[ids]))
    return out


def entry_index(index, n: int, path: Path) -> int:
    """``index`` (negative counts from the end) as an entry of a file of ``n`` events."""
    i = int(index) + n if int(index) < 0 else int(index)
    if not 0 <= i < n:
        raise IndexError(f"file {path}: entry {index} out of range ({n} events)")
    return i


class _Block:
    """Raw products of entries [start, stop), turned into Events one at a time."""

    def __init__(self, ef: "EventFile", start: int, stop: int) -> None:
        self.ef, self.start, self.stop = ef, start, stop
        r, names = ef.reader, ef.producers
        self.blocks: dict[str, object] = {}
        for field, producer in names.as_dict().items():
            if not producer:
                continue
            t = ef._types[field]
            reader = {S.SPARSE2D: r.read_sparse2d_block, S.IMAGE2D: r.read_image2d_block,
                      S.CLUSTER2D: r.read_cluster2d_block, S.PARTICLE: r.read_particle_block}[t]
            self.blocks[field] = reader(producer, start, stop)

    def _projections(self, field: str, k: int) -> dict[int, object] | None:
        b = self.blocks.get(field)
        if b is None:
            return None
        projs = b.event(k, self.ef._meta_cache)
        if self.ef._types[field] == S.IMAGE2D:
            projs = _dense_to_sparse(projs)
        return {p.meta.projection_id: p for p in projs}

    def event(self, i: int) -> Event:
        ef, k = self.ef, i - self.start
        run, subrun, evt = (int(v) for v in ef.reader.event_ids()[i].tolist())
        adc = self._projections("adc", k)
        if not adc:
            raise InvalidEventError("no ADC projections", event=f"{run}/{subrun}/{evt}",
                                    field=ef.producers.adc)
        labels = {f: self._projections(f, k) for f in ("cosmic", "semantic", "instance")}
        where = f"file {ef.path}, entry {i} ({run}/{subrun}/{evt}), "
        planes, metas, names = [], [], set()
        for pid, a in adc.items():
            det, pm = plane_meta(a.meta)
            names.add(det)
            parts = []
            for f in ("cosmic", "semantic", "instance"):
                p = labels[f].get(pid) if labels[f] is not None else None
                if p is not None and p.meta.number_of_voxels != a.meta.number_of_voxels:
                    raise InvalidEventError(
                        f"projection {pid} is {p.meta.number_of_voxels} voxels, the ADC's is "
                        f"{a.meta.number_of_voxels}", field=f"plane{pid}.{f}")
                parts.append(p)
            planes.append(plane_image(pm, a, *parts, ef._dropped, where))
            metas.append(pm)
        det_name = names.pop() if len(names) == 1 else "unknown"
        key = (det_name, tuple(metas))
        detector = ef._detectors.get(key)
        if detector is None:
            detector = ef._detectors[key] = DetectorMeta(det_name, tuple(metas))
        pb, ib = self.blocks.get("particles"), self.blocks.get("interactions")
        ev = Event(run, subrun, evt, detector, planes,
                   particles=rows_to_particles(pb.event(k)) if pb is not None else [],
                   interactions=rows_to_interactions(ib.event(k)) if ib is not None else [])
        return ev.validate() if ef.validate else ev


class EventFile(Sequence):
    """A larcv3 file as a lazy, validated ``Sequence[Event]``.

    ``producers``: None (detect CosmicTagger/MicroBooNE names), a preset name, ProducerNames,
    or a dict overriding fields. ``on_error``: "raise" or "skip" (iteration only: ``f[i]``
    always raises for a bad event). ``allow_empty``: accept a file with zero events.
    ``threads``: threads inflating voxel chunks (see :class:`Larcv3Reader`). ``fields``: read
    only these products (names of :class:`ProducerNames` fields; the ADC always): a training job
    that needs the ADC and one label reads a fraction of each event.
    """

    def __init__(self, path: str | Path, producers: ProducerNames | str | dict | None = None, *,
                 on_error: str = "raise", block_size: int = DEFAULT_BLOCK, validate: bool = True,
                 allow_empty: bool = False, threads: int = 1,
                 fields: Iterable[str] | None = None) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.path = Path(path)
        self.reader = Larcv3Reader(self.path, threads=threads)
        self.on_error = on_error
        self.block_size = max(1, int(block_size))
        self.validate = validate
        self.skipped = 0
        n = self.reader.n_events
        if n == 0 and not allow_empty:
            raise FileFormatError(f"file {self.path}: holds no events")
        products = self.reader.products()
        try:
            self.producers = resolve_producers(products, producers, self.path)
        except ProductNotFoundError:
            if n:
                raise
            self.producers = ProducerNames("")  # an empty file: nothing will be read
        if fields is not None:
            keep = set(fields) | {"adc"}
            unknown = keep - set(self.producers.as_dict())
            if unknown:
                raise ValueError(f"unknown product fields {sorted(unknown)}; known: "
                                 f"{', '.join(self.producers.as_dict())}")
            self.producers = replace(self.producers, **{
                f: None for f in self.producers.as_dict() if f not in keep})
        have = {t: {p.producer for p in products if p.type == t} for t in S.PRODUCT_TYPES}
        self._types = {f: field_type(f, p, have) for f, p in self.producers.as_dict().items()
                       if p}
        self._dropped = DroppedVoxels()
        self._meta_cache: dict = {}
        self._detectors: dict = {}
        self._cached: _Block | None = None
        self._last = -2

    @property
    def dropped_voxels(self) -> int:
        """Label/cluster voxels without an ADC voxel, dropped so far (each one warned about)."""
        return self._dropped.count

    def __len__(self) -> int:
        return self.reader.n_events

    def close(self) -> None:
        self.reader.close()
        self._cached = None

    def __enter__(self) -> "EventFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- access
    def _convert(self, block: _Block, i: int) -> Event:
        try:
            return block.event(i)
        except InvalidEventError as e:
            run, subrun, evt = (int(v) for v in self.reader.event_ids()[i].tolist())
            raise InvalidEventError(e.message, event=f"entry {i} ({run}/{subrun}/{evt})",
                                    field=e.field, file=str(self.path)) from None

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = entry_index(index, n, self.path)
        b = self._cached
        if b is None or not b.start <= i < b.stop:
            stop = min(n, i + self.block_size) if i == self._last + 1 else i + 1
            b = self._cached = _Block(self, i, stop)
        self._last = i
        return self._convert(b, i)

    def __iter__(self) -> Iterator[Event]:
        for block in self.iter_blocks():
            yield from block

    def iter_blocks(self, block_size: int | None = None, start: int = 0,
                    stop: int | None = None) -> Iterator[list[Event]]:
        """Lists of consecutive events, ``block_size`` entries read at a time."""
        size = self.block_size if block_size is None else max(1, int(block_size))
        stop = len(self) if stop is None else min(stop, len(self))
        for a in range(start, stop, size):
            b = min(stop, a + size)
            yield self._read_range(a, b)

    def _read_range(self, a: int, b: int) -> list[Event]:
        try:
            block = _Block(self, a, b)
        except FileFormatError:
            if self.on_error == "raise" or b - a == 1:
                if self.on_error == "raise":
                    raise
                return self._skip(a, None)
            # isolate the bad entries
            return [ev for i in range(a, b) for ev in self._read_range(i, i + 1)]
        out = []
        for i in range(a, b):
            if self.on_error == "raise":
                out.append(self._convert(block, i))
                continue
            try:
                out.append(self._convert(block, i))
            except InvalidEventError as e:
                self._skip(i, e)
        return out

    def _skip(self, i: int, err: Exception | None) -> list[Event]:
        self.skipped += 1
        msg = str(err) if err is not None else f"file {self.path}, entry {i}: unreadable"
        warnings.warn(f"{msg}; event skipped ({self.skipped} so far)", stacklevel=4)
        return []


class ConcatEvents(Sequence):
    """Several event files as one sequence (entry k of the whole is entry k - offset of the
    file holding it), e.g. a training sample made of two generators' files."""

    def __init__(self, files: Sequence[Sequence[Event]]) -> None:
        self.files = list(files)
        self.offsets = np.cumsum([0] + [len(f) for f in self.files])
        self.path = ",".join(str(getattr(f, "path", "?")) for f in self.files)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = entry_index(index, len(self), Path(self.path))
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.files[k][i - int(self.offsets[k])]


def open_events(path: str | Path, **kwargs) -> Sequence[Event]:
    """The events of a larcv3 HDF5 file (:class:`EventFile`) or of a larcv1/larcv2 ROOT file
    (:class:`larseg.io.root.RootImageFile`, ADC images only), chosen by the file's signature."""
    from .root import RootImageFile, is_root_file

    if is_root_file(path):
        root_kw = {k: v for k, v in kwargs.items() if k in ("producer", "time_reversed")}
        return RootImageFile(path, **root_kw)
    kwargs.pop("time_reversed", None)
    kwargs.pop("producer", None)
    return EventFile(path, **kwargs)
