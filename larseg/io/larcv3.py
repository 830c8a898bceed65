"""Product-level larcv3 HDF5 reader (and, re-exported, the writer) with h5py alone.

``Larcv3Reader`` opens its file lazily, once per process (so a reader made before a
``DataLoader`` forks its workers opens its own handle in each worker), caches the small
per-event index tables, and reads a range of entries with one h5py read per dataset: the
``read_*_block`` methods are the fast path; ``read_*`` (one entry) are thin wrappers.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError, ProductNotFoundError
from . import chunks
from . import larcv3_schema as S
from .blocks import Cluster2DBlock, Image2DBlock, ParticleBlock, Sparse2DBlock
from .products import Cluster2D, Image2D, ProductInfo, Sparse2D

#: Per-dataset chunk cache: a few voxel chunks of a block stay decompressed between reads.
_RDCC_NBYTES = 4 * 1024 * 1024


def open_h5(path: str | Path, mode: str = "r") -> h5py.File:
    """``h5py.File`` that turns "missing / not HDF5 / truncated" into a FileFormatError."""
    path = Path(path)
    if mode == "r" and not path.exists():
        raise FileFormatError(f"file {path}: does not exist")
    try:
        return h5py.File(path, mode, rdcc_nbytes=_RDCC_NBYTES)
    except OSError as e:
        raise FileFormatError(
            f"file {path}: not a readable HDF5 file (not HDF5, truncated or corrupt): {e}"
        ) from None


class Larcv3Reader:
    """Reads larcv3 products. ``threads``: inflate the voxel/pixel chunks of a block on this
    many threads (zlib releases the GIL; the bottleneck of reading is inflating larcv's gzip).
    """

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        self.path = Path(path)
        self.threads = max(1, int(threads))
        self._fast: dict[str, bool] = {}
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._dsets: dict[str, h5py.Dataset] = {}
        self._index: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._event_ids: np.ndarray | None = None
        self._products: list[ProductInfo] | None = None

    # ---------------------------------------------------------------- file handling
    @property
    def h5(self) -> h5py.File:
        """The open file of this process (opened on first use, re-opened after a fork)."""
        if self._h5 is None or self._pid != os.getpid():
            self._dsets = {}
            self._fast = {}
            self._h5 = open_h5(self.path)
            self._pid = os.getpid()
        return self._h5

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None
        self._dsets = {}

    def __enter__(self) -> "Larcv3Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:  # picklable for spawn-started DataLoader workers
        state = self.__dict__.copy()
        state.update(_h5=None, _pid=None, _dsets={}, _fast={})
        return state

    def _dset(self, path: str) -> h5py.Dataset:
        h5 = self.h5
        d = self._dsets.get(path)
        if d is None:
            try:
                obj = h5[path]
            except KeyError:
                raise FileFormatError(f"file {self.path}: dataset {path} is missing") from None
            except OSError as e:
                raise FileFormatError(f"file {self.path}: cannot open {path}: {e}") from None
            if not isinstance(obj, h5py.Dataset):
                raise FileFormatError(f"file {self.path}: {path} is not a dataset")
            d = self._dsets[path] = obj
        return d

    def _read_flat(self, path: str, lo: int, hi: int, what: str) -> np.ndarray:
        """Rows of a big flat table (voxels, images): raw-chunk fast path where possible."""
        d = self._dset(path)
        fast = self._fast.get(path)
        if fast is None:
            fast = self._fast[path] = chunks.eligible(d)
        if fast and lo < hi <= d.shape[0]:
            rows = chunks.read_rows(d, lo, hi, self.threads)
            if rows is not None:
                return rows
        return self._read(path, lo, hi, what)

    def _read(self, path: str, lo: int, hi: int, what: str) -> np.ndarray:
        d = self._dset(path)
        if hi > d.shape[0]:
            raise FileFormatError(f"file {self.path}, {what}: inconsistent extents: rows "
                                  f"[{lo}, {hi}) asked of {path}, which has {d.shape[0]}")
        if hi <= lo:
            return np.zeros(0, d.dtype)
        try:
            return d[lo:hi]
        except (OSError, ValueError, RuntimeError) as e:
            raise FileFormatError(f"file {self.path}, {what}: cannot read {path} rows "
                                  f"[{lo}, {hi}) (corrupt file?): {e}") from None

    # ---------------------------------------------------------------- events, products
    def event_ids(self) -> np.ndarray:
        """(n_events,) structured array (run, subrun, event)."""
        if self._event_ids is None:
            path = f"{S.EVENTS_GROUP}/{S.EVENT_ID_DATASET}"
            try:
                present = path in self.h5
            except (RuntimeError, KeyError) as e:
                raise FileFormatError(f"file {self.path}: cannot find {path}, the file is "
                                      f"damaged ({e})") from None
            if not present:
                raise FileFormatError(f"file {self.path}: no {path} dataset (not a larcv3 file?)")
            d = self._dset(path)
            if d.dtype.names is None or not {"run", "subrun", "event"} <= set(d.dtype.names):
                raise FileFormatError(f"file {self.path}: {path} has dtype {d.dtype}, "
                                      "expected (run, subrun, event)")
            self._event_ids = self._read(path, 0, d.shape[0], "event ids")
        return self._event_ids

    @property
    def n_events(self) -> int:
        return int(self.event_ids().shape[0])

    def products(self) -> list[ProductInfo]:
        """Every product in the file, with the number of projections of its first entry."""
        if self._products is None:
            try:
                self._products = self._list_products()
            except (OSError, RuntimeError, KeyError, ValueError) as e:
                if isinstance(e, (FileFormatError, ProductNotFoundError)):
                    raise
                raise FileFormatError(f"file {self.path}: cannot list its products, the file is "
                                      f"damaged ({e})") from None
        return self._products

    def _list_products(self) -> list[ProductInfo]:
        out = []
        data = self.h5.get(S.DATA_GROUP)
        for name in (data.keys() if isinstance(data, h5py.Group) else ()):
            parsed = S.parse_group_name(name)
            if parsed is None:
                continue
            t, p = parsed
            n_planes = 0
            ext = data[name].get("extents")
            if t != S.PARTICLE and self.n_events and isinstance(ext, h5py.Dataset) \
                    and ext.shape[0]:
                n_planes = int(self._read(ext.name, 0, 1, f"{t} '{p}'")["N"][0])
            out.append(ProductInfo(t, p, n_planes))
        return out

    def has_product(self, product_type: str, producer: str) -> bool:
        return any(p.type == product_type and p.producer == producer for p in self.products())

    def _require(self, product_type: str, producer: str) -> None:
        if not self.has_product(product_type, producer):
            have = ", ".join(f"{p.type} '{p.producer}'" for p in self.products()) or "none"
            raise ProductNotFoundError(f"file {self.path}: no {product_type} product "
                                       f"'{producer}'; it holds: {have}")

    # ---------------------------------------------------------------- index tables
    def _extents(self, t: str, p: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self._index_tables(t, p)
        return idx["first"], idx["N"]

    def _index_tables(self, t: str, p: str) -> dict[str, np.ndarray]:
        """Per-event extents and (not for particles) the per-projection ID-extents, as int64."""
        key = (t, p)
        idx = self._index.get(key)
        if idx is None:
            self._require(t, p)
            g = S.group_path(t, p)
            n = self.n_events
            ext = self._read(f"{g}/extents", 0, self._dset(f"{g}/extents").shape[0], f"{t} '{p}'")
            if ext.shape[0] < n:
                raise FileFormatError(f"file {self.path}, {t} '{p}': inconsistent extents: "
                                      f"{ext.shape[0]} entries for {n} events")
            idx = {"first": ext["first"][:n].astype(np.int64), "N": ext["N"][:n].astype(np.int64)}
            if t != S.PARTICLE:
                level1 = S.CHAINS[t][0][1]
                path = f"{g}/{level1}"
                hi = int((idx["first"] + idx["N"]).max()) if n else 0
                rows = self._read(path, 0, hi, f"{t} '{p}'")
                idx.update(l1_first=rows["first"].astype(np.int64),
                           l1_N=rows["N"].astype(np.int64), l1_ID=rows["ID"].astype(np.int64))
            self._index[key] = idx
        return idx

    def _entries(self, a: int, b: int | None) -> tuple[int, int]:
        n = self.n_events
        b = a + 1 if b is None else b
        if a < 0 or b > n or a > b:
            raise IndexError(f"file {self.path}: entries [{a}, {b}) out of range (0..{n})")
        return a, b

    def _span(self, first: np.ndarray, count: np.ndarray) -> tuple[int, int]:
        if first.size == 0:
            return 0, 0
        return int(first.min()), int((first + count).max())

    def _what(self, t: str, p: str, a: int, b: int) -> str:
        ev = f"event {a}" if b == a + 1 else f"events {a}..{b - 1}"
        return f"{ev}, {t} '{p}'"

    # ---------------------------------------------------------------- bulk readers
    def _projection_level(self, t: str, producer: str, start: int, stop: int):
        """What sparse2d, cluster2d and image2d blocks share: entries [a, b), their extents into the
        per-projection tables, the image metas and the per-projection (first, N) rows."""
        a, b = self._entries(start, stop)
        g = S.group_path(t, producer)
        idx = self._index_tables(t, producer)
        what = self._what(t, producer, a, b)
        f0, n0 = idx["first"][a:b], idx["N"][a:b]
        lo1, hi1 = self._span(f0, n0)
        meta = self._read(f"{g}/image_meta", lo1, hi1, what)
        pf, pn = idx["l1_first"][lo1:hi1], idx["l1_N"][lo1:hi1]
        return a, g, what, f0 - lo1, n0, meta, pf, pn

    def read_sparse2d_block(self, producer: str, start: int, stop: int) -> Sparse2DBlock:
        a, g, what, first, n, meta, vf, vn = self._projection_level(S.SPARSE2D, producer,
                                                                     start, stop)
        lo2, hi2 = self._span(vf, vn)
        vox = self._read_flat(f"{g}/voxels", lo2, hi2, what)
        return Sparse2DBlock(a, first, n, meta, vf - lo2, vn,
                             np.ascontiguousarray(vox["id"]), np.ascontiguousarray(vox["value"]))

    def read_cluster2d_block(self, producer: str, start: int, stop: int) -> Cluster2DBlock:
        a, g, what, first, n, meta, pf, pn = self._projection_level(S.CLUSTER2D, producer,
                                                                     start, stop)
        lo2, hi2 = self._span(pf, pn)
        cl = self._read(f"{g}/cluster_extents", lo2, hi2, what)
        cf, cn = cl["first"].astype(np.int64), cl["N"].astype(np.int64)
        lo3, hi3 = self._span(cf, cn)
        vox = self._read_flat(f"{g}/voxels", lo3, hi3, what)
        return Cluster2DBlock(a, first, n, meta, pf - lo2, pn, cl["ID"].astype(np.int64),
                              cf - lo3, cn, np.ascontiguousarray(vox["id"]),
                              np.ascontiguousarray(vox["value"]))

    def read_particle_block(self, producer: str, start: int, stop: int) -> ParticleBlock:
        a, b = self._entries(start, stop)
        t, g = S.PARTICLE, S.group_path(S.PARTICLE, producer)
        f0, n0 = self._extents(t, producer)
        f0, n0 = f0[a:b], n0[a:b]
        lo, hi = self._span(f0, n0)
        rows = self._read(f"{g}/particles", lo, hi, self._what(t, producer, a, b))
        if rows.dtype != S.PARTICLE_DTYPE:  # another layout: copy the fields by name
            fixed = S.empty_particles(rows.shape[0])
            for name in set(rows.dtype.names or ()) & set(S.PARTICLE_DTYPE.names):
                fixed[name] = rows[name]
            rows = fixed
        return ParticleBlock(a, f0 - lo, n0, rows)

    def read_image2d_block(self, producer: str, start: int, stop: int) -> Image2DBlock:
        a, g, what, first, n, meta, pf, pn = self._projection_level(S.IMAGE2D, producer,
                                                                     start, stop)
        expected = meta["number_of_voxels"].astype(np.int64).prod(axis=1) if meta.size else pn
        if meta.shape[0] != pn.shape[0] or np.any(expected != pn):
            raise FileFormatError(f"file {self.path}, {what}: inconsistent extents: image sizes "
                                  f"{pn.tolist()} differ from image_meta {expected.tolist()}")
        lo2, hi2 = self._span(pf, pn)
        pix = self._read_flat(f"{g}/images", lo2, hi2, what)
        return Image2DBlock(a, first, n, meta, pf - lo2, pn, pix)

    # ---------------------------------------------------------------- one entry
    def read_sparse2d(self, producer: str, entry: int) -> list[Sparse2D]:
        return self.read_sparse2d_block(producer, entry, entry + 1).event(0)

    def read_cluster2d(self, producer: str, entry: int) -> list[Cluster2D]:
        return self.read_cluster2d_block(producer, entry, entry + 1).event(0)

    def read_particles(self, producer: str, entry: int) -> np.ndarray:
        return self.read_particle_block(producer, entry, entry + 1).event(0)

    def read_image2d(self, producer: str, entry: int) -> list[Image2D]:
        return self.read_image2d_block(producer, entry, entry + 1).event(0)


from .larcv3_writer import Larcv3Writer  # noqa: E402  (re-export: the one low-level module)

__all__ = ["Larcv3Reader", "Larcv3Writer", "ProductInfo", "open_h5"]
