"""In-memory larcv3 products, one projection (plane) at a time, as the low-level I/O sees them.

larcv's 2D image geometry (``ImageMeta2D``): axis 0 has ``number_of_voxels[0]`` pixels (the wire
axis in larseg's files), axis 1 ``number_of_voxels[1]`` (time). A voxel id is the row-major
index of an array of shape ``number_of_voxels``: ``id = c0 * n1 + c1`` (checked against the
coordinates larcv's own ``ImageMeta2D.coordinates(id)`` returns, in the reference manifests).
An image2d pixel array is stored in that same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .larcv3_schema import IMAGE_META_DTYPE


@dataclass(frozen=True)
class ImageMeta2D:
    projection_id: int
    number_of_voxels: tuple[int, int]
    image_sizes: tuple[float, float]
    origin: tuple[float, float] = (0.0, 0.0)
    valid: bool = True

    @property
    def n_voxels(self) -> int:
        return int(self.number_of_voxels[0]) * int(self.number_of_voxels[1])

    def coordinates(self, ids: np.ndarray) -> np.ndarray:
        """(N, 2) int64 (axis-0, axis-1) coordinates of voxel ids."""
        ids = np.asarray(ids, dtype=np.int64)
        n1 = int(self.number_of_voxels[1])
        return np.stack([ids // n1, ids % n1], axis=1)

    def index(self, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
        """Voxel ids (uint64) of (axis-0, axis-1) coordinates."""
        return (np.asarray(c0, np.int64) * int(self.number_of_voxels[1])
                + np.asarray(c1, np.int64)).astype(np.uint64)

    def to_row(self) -> np.ndarray:
        row = np.zeros((), IMAGE_META_DTYPE)
        row["valid"] = 1 if self.valid else 0
        row["projection_id"] = self.projection_id
        row["image_sizes"] = self.image_sizes
        row["number_of_voxels"] = self.number_of_voxels
        row["origin"] = self.origin
        return row

    @classmethod
    def from_row(cls, row: np.void) -> "ImageMeta2D":
        n = row["number_of_voxels"]
        s = row["image_sizes"]
        o = row["origin"]
        return cls(projection_id=int(row["projection_id"]), number_of_voxels=(int(n[0]), int(n[1])),
                   image_sizes=(float(s[0]), float(s[1])), origin=(float(o[0]), float(o[1])),
                   valid=bool(row["valid"]))


def metas_to_rows(metas: list[ImageMeta2D]) -> np.ndarray:
    out = np.zeros(len(metas), IMAGE_META_DTYPE)
    for i, m in enumerate(metas):
        out[i] = m.to_row()
    return out


@dataclass
class Sparse2D:
    """One projection of a sparse2d product: voxel ids (sorted in files larcv writes), values."""

    meta: ImageMeta2D
    ids: np.ndarray     # (N,) uint64
    values: np.ndarray  # (N,) float32

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.uint64).reshape(-1)
        self.values = np.asarray(self.values, dtype=np.float32).reshape(-1)
        if self.ids.shape != self.values.shape:
            raise ValueError(f"Sparse2D: {self.ids.size} ids but {self.values.size} values")

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class Cluster2D:
    """One projection of a cluster2d product: clusters laid end to end.

    Cluster k has larcv id ``cluster_ids[k]`` and voxels ``ids[offsets[k]:offsets[k+1]]``.
    """

    meta: ImageMeta2D
    cluster_ids: np.ndarray  # (K,) int64
    offsets: np.ndarray      # (K + 1,) int64
    ids: np.ndarray          # (M,) uint64
    values: np.ndarray       # (M,) float32

    def __post_init__(self) -> None:
        self.cluster_ids = np.asarray(self.cluster_ids, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
        self.ids = np.asarray(self.ids, dtype=np.uint64).reshape(-1)
        self.values = np.asarray(self.values, dtype=np.float32).reshape(-1)
        if self.offsets.shape != (self.cluster_ids.size + 1,) or self.offsets[-1] != self.ids.size:
            raise ValueError("Cluster2D: offsets do not match cluster_ids / ids")

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_ids.shape[0])

    def cluster(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[k], self.offsets[k + 1]
        return self.ids[a:b], self.values[a:b]

    @classmethod
    def from_clusters(cls, meta: ImageMeta2D,
                      clusters: list[tuple[int, np.ndarray, np.ndarray]]) -> "Cluster2D":
        """From (cluster id, voxel ids, values) triplets."""
        counts = [len(ids) for _, ids, _ in clusters]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        ids = (np.concatenate([np.asarray(c[1], np.uint64) for c in clusters])
               if clusters else np.zeros(0, np.uint64))
        vals = (np.concatenate([np.asarray(c[2], np.float32) for c in clusters])
                if clusters else np.zeros(0, np.float32))
        return cls(meta, np.array([c[0] for c in clusters], np.int64), offsets, ids, vals)


@dataclass
class Image2D:
    """One dense image: ``data`` has shape ``meta.number_of_voxels`` (axis 0, axis 1)."""

    meta: ImageMeta2D
    data: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        shape = tuple(int(n) for n in self.meta.number_of_voxels)
        if self.data.size != shape[0] * shape[1]:
            raise ValueError(f"Image2D: {self.data.size} pixels for a meta of {shape}")
        self.data = self.data.reshape(shape)


@dataclass(frozen=True)
class ProductInfo:
    type: str
    producer: str
    n_planes: int
