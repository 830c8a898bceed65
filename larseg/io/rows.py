"""Rows of larcv3's index and voxel tables, built from products (no file access here)."""

from __future__ import annotations

import numpy as np

from . import larcv3_schema as S
from .products import Cluster2D


def _id_extents(first0: int, counts: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts), S.ID_EXTENTS_DTYPE)
    if len(counts):
        starts = np.empty(len(counts), np.int64)
        starts[0] = 0
        np.cumsum(counts[:-1], out=starts[1:])
        out["first"] = first0 + starts
        out["N"] = counts
        out["ID"] = ids
    return out


def _voxels(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(ids), S.VOXEL_DTYPE)
    out["id"] = ids
    out["value"] = values
    return out


def _sorted_voxels(ids: np.ndarray, values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """larcv's VoxelSet keeps voxels sorted by id, without duplicates."""
    if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, values = ids[order], values[order]
        if np.any(ids[1:] == ids[:-1]):
            raise ValueError(f"{what}: duplicate voxel ids")
    return ids, values


def _sorted_cluster_voxels(p: Cluster2D, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of every cluster sorted by id (larcv's VoxelSet order), all clusters at once."""
    ids, vals = p.ids, p.values
    if ids.size < 2:
        return ids, vals
    boundary = np.zeros(ids.size - 1, bool)  # position i: between voxel i and i + 1
    last = p.offsets[1:-1] - 1
    boundary[last[(last >= 0) & (last < ids.size - 1)]] = True
    if np.all((ids[1:] > ids[:-1]) | boundary):
        return ids, vals
    cluster = np.repeat(np.arange(p.n_clusters), np.diff(p.offsets))
    order = np.lexsort((ids, cluster))
    ids, vals, cluster = ids[order], vals[order], cluster[order]
    dup = (ids[1:] == ids[:-1]) & (cluster[1:] == cluster[:-1])
    if dup.any():
        k = int(cluster[1:][dup][0])
        raise ValueError(f"{what}, cluster {p.cluster_ids[k]}: duplicate voxel ids")
    return ids, vals
