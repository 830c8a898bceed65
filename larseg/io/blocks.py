"""Products of a range of entries read in one go: flat arrays plus per-entry (start, count) ranges.

The bulk readers of :class:`larseg.io.larcv3.Larcv3Reader` return these; each level of larcv's
extents chain becomes a pair of ``*_start`` / ``*_count`` arrays relative to the block's arrays,
so entry ``i``'s projections are ``proj[event_start[i] : event_start[i] + event_count[i]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .products import Cluster2D, Image2D, ImageMeta2D, Sparse2D


def _meta_list(meta_rows: np.ndarray, cache: dict) -> list[ImageMeta2D]:
    out = []
    for row in meta_rows:
        key = row.tobytes()
        m = cache.get(key)
        if m is None:
            m = cache[key] = ImageMeta2D.from_row(row)
        out.append(m)
    return out


@dataclass
class Sparse2DBlock:
    start: int                 # first entry of the block
    event_start: np.ndarray    # (n,) into the projection arrays
    event_count: np.ndarray    # (n,)
    meta: np.ndarray           # (P,) IMAGE_META_DTYPE rows
    voxel_start: np.ndarray    # (P,) into ids/values
    voxel_count: np.ndarray    # (P,)
    ids: np.ndarray            # (V,) uint64
    values: np.ndarray         # (V,) float32

    def __len__(self) -> int:
        return int(self.event_start.shape[0])

    def event(self, i: int, meta_cache: dict | None = None) -> list[Sparse2D]:
        cache = {} if meta_cache is None else meta_cache
        p0 = int(self.event_start[i])
        p1 = p0 + int(self.event_count[i])
        metas = _meta_list(self.meta[p0:p1], cache)
        out = []
        for p, m in zip(range(p0, p1), metas):
            a = int(self.voxel_start[p])
            b = a + int(self.voxel_count[p])
            out.append(Sparse2D(m, self.ids[a:b], self.values[a:b]))
        return out


@dataclass
class Cluster2DBlock:
    start: int
    event_start: np.ndarray    # (n,) into projections
    event_count: np.ndarray
    meta: np.ndarray           # (P,)
    cluster_start: np.ndarray  # (P,) into clusters
    cluster_count: np.ndarray
    cluster_ids: np.ndarray    # (C,) int64
    voxel_start: np.ndarray    # (C,) into ids/values
    voxel_count: np.ndarray
    ids: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.event_start.shape[0])

    def event(self, i: int, meta_cache: dict | None = None) -> list[Cluster2D]:
        cache = {} if meta_cache is None else meta_cache
        p0 = int(self.event_start[i])
        p1 = p0 + int(self.event_count[i])
        out = []
        for p, m in zip(range(p0, p1), _meta_list(self.meta[p0:p1], cache)):
            c0 = int(self.cluster_start[p])
            c1 = c0 + int(self.cluster_count[p])
            vs, vc = self.voxel_start[c0:c1], self.voxel_count[c0:c1]
            if vc.size and np.all(vs[1:] == vs[:-1] + vc[:-1]):
                # contiguous (as larcv writes): views, no copy
                a = int(vs[0])
                b = int(vs[-1] + vc[-1])
                ids, vals = self.ids[a:b], self.values[a:b]
            else:
                sel = (np.concatenate([np.arange(s, s + c) for s, c in zip(vs, vc)])
                       if vc.size else np.zeros(0, np.int64))
                ids, vals = self.ids[sel], self.values[sel]
            offsets = np.zeros(vc.size + 1, np.int64)
            np.cumsum(vc, out=offsets[1:])
            out.append(Cluster2D(m, self.cluster_ids[c0:c1], offsets, ids, vals))
        return out


@dataclass
class ParticleBlock:
    start: int
    event_start: np.ndarray
    event_count: np.ndarray
    particles: np.ndarray      # PARTICLE_DTYPE rows

    def __len__(self) -> int:
        return int(self.event_start.shape[0])

    def event(self, i: int) -> np.ndarray:
        a = int(self.event_start[i])
        return self.particles[a:a + int(self.event_count[i])]


@dataclass
class Image2DBlock:
    start: int
    event_start: np.ndarray
    event_count: np.ndarray
    meta: np.ndarray
    pixel_start: np.ndarray
    pixel_count: np.ndarray
    pixels: np.ndarray         # flat float32

    def __len__(self) -> int:
        return int(self.event_start.shape[0])

    def event(self, i: int, meta_cache: dict | None = None) -> list[Image2D]:
        cache = {} if meta_cache is None else meta_cache
        p0 = int(self.event_start[i])
        p1 = p0 + int(self.event_count[i])
        out = []
        for p, m in zip(range(p0, p1), _meta_list(self.meta[p0:p1], cache)):
            a = int(self.pixel_start[p])
            out.append(Image2D(m, self.pixels[a:a + int(self.pixel_count[p])]))
        return out
