"""larcv3 products of a simulated event, built from what the readout guarantees about its planes.

The generic conversion (:func:`larseg.io.convert.plane_products`) sorts each plane's pixels by
larcv voxel id (wire-major) and each particle-charge triplet by (particle, voxel id) with
comparison sorts. A readout plane (:mod:`larseg.sim.assemble`) comes sorted row-major with unique
pixels, so a stable counting sort on the wire gives voxel-id order, and two stable counting
passes (by voxel rank, then by particle) give the clusters' order: the same arrays in linear
time. A plane that is not strictly row-major sorted, or that holds a repeated (pixel, particle)
pair or a negative particle id, goes through the generic conversion instead, which also raises
its errors. ``tests/test_sim_products.py`` checks that both paths give identical products.

The three sparse products of a plane (ADC, cosmic, semantic labels) share one voxel-id array
object, so pickling a prepared event (workers -> writer) sends it once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..event import Event, PlaneImage
from ..io.convert import instance_from_charge, larcv_meta, plane_products
from ..io.event_writer import PreparedEvent, prepare_event
from ..io.producers import ProducerNames
from ..io.products import Cluster2D, Sparse2D


@njit(cache=True)
def _voxel_order(coords, values, cosmic, semantic, n_ticks, n_wires, sorted_ids, rank,
                 s_values, s_cosmic, s_semantic):
    """Stable counting sort of row-major pixels by wire: ``sorted_ids`` (larcv ids in voxel-id
    order), ``rank`` (position of each pixel in that order) and the pixels' values and labels
    in that order (labels as float32, as larcv stores them). Returns False, leaving the outputs
    undefined, if the pixels are not strictly row-major sorted or lie outside the image."""
    m = coords.shape[0]
    count = np.zeros(n_wires + 1, np.int64)
    prev = -1
    for i in range(m):
        r = np.int64(coords[i, 0])
        c = np.int64(coords[i, 1])
        if r < 0 or r >= n_ticks or c < 0 or c >= n_wires:
            return False
        f = r * n_wires + c
        if f <= prev:
            return False
        prev = f
        count[c + 1] += 1
    for c in range(n_wires):
        count[c + 1] += count[c]
    for i in range(m):
        r = np.int64(coords[i, 0])
        c = np.int64(coords[i, 1])
        d = count[c]
        sorted_ids[d] = c * n_ticks + r
        s_values[d] = values[i]
        s_cosmic[d] = cosmic[i]
        s_semantic[d] = semantic[i]
        rank[i] = d
        count[c] = d + 1
    return True


@njit(cache=True)
def _cluster_order(pc_pix, pc_part, pc_q, rank, sorted_ids, m, n_clusters, counts, ids, q):
    """The triplets ordered by (particle, voxel id): a stable counting pass by voxel rank, then
    one by particle; fills their voxel ids ``ids``, charges ``q`` and ``counts`` (voxels per
    cluster). Returns False on a repeated (pixel, particle) pair."""
    n = pc_pix.shape[0]
    by_rank = np.empty(n, np.int64)
    c_rank = np.zeros(m + 1, np.int64)
    for j in range(n):
        c_rank[rank[pc_pix[j]] + 1] += 1
    for k in range(m):
        c_rank[k + 1] += c_rank[k]
    for j in range(n):
        k = rank[pc_pix[j]]
        by_rank[c_rank[k]] = j
        c_rank[k] += 1
    start = np.zeros(n_clusters + 1, np.int64)
    for j in range(n):
        start[pc_part[j] + 1] += 1
    for p in range(n_clusters):
        counts[p] = start[p + 1]
        start[p + 1] += start[p]
    order = np.empty(n, np.int64)
    for t in range(n):
        j = by_rank[t]
        p = pc_part[j]
        order[start[p]] = j
        start[p] += 1
    for t in range(n):
        j = order[t]
        k = rank[pc_pix[j]]
        if t > 0 and pc_part[j] == pc_part[order[t - 1]] and k == rank[pc_pix[order[t - 1]]]:
            return False
        ids[t] = sorted_ids[k]
        q[t] = pc_q[j]
    return True


def fast_plane_products(img: PlaneImage, event: str = "?"):
    """:func:`larseg.io.convert.plane_products` of a readout plane (same return value), in
    linear time; planes outside this path's assumptions take the generic one."""
    pc = img.particle_charge
    if pc is None or img.instance is None or img.cosmic is None or img.semantic is None:
        return plane_products(img, event)
    m = len(img)
    pm = img.meta
    sorted_ids = np.empty(m, np.uint64)
    rank = np.empty(m, np.int64)
    values = np.empty(m, np.float32)
    cosmic = np.empty(m, np.float32)
    semantic = np.empty(m, np.float32)
    if not _voxel_order(img.coords, img.values, img.cosmic, img.semantic, pm.n_ticks,
                        pm.n_wires, sorted_ids, rank, values, cosmic, semantic):
        return plane_products(img, event)
    n_pc = len(pc)
    if n_pc and (pc.particle.min() < 0 or pc.pixel.min() < 0 or pc.pixel.max() >= m):
        return plane_products(img, event)
    n_clusters = int(pc.particle.max()) + 1 if n_pc else 0
    counts = np.zeros(n_clusters, np.int64)
    c_ids = np.empty(n_pc, np.uint64)
    c_q = np.empty(n_pc, np.float32)
    if not _cluster_order(pc.pixel, pc.particle, pc.charge, rank, sorted_ids, m, n_clusters,
                          counts, c_ids, c_q):
        return plane_products(img, event)
    meta = larcv_meta(pm)
    adc = Sparse2D(meta, sorted_ids, values)
    cos = Sparse2D(meta, sorted_ids, cosmic)
    sem = Sparse2D(meta, sorted_ids, semantic)
    cos.ids = sem.ids = adc.ids  # one object: pickled once
    offsets = np.zeros(n_clusters + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    clusters = Cluster2D(meta, np.arange(n_clusters), offsets, c_ids, c_q)
    mismatch = int(np.count_nonzero(instance_from_charge(pc, m) != img.instance))
    return adc, cos, sem, clusters, mismatch


def prepare_simulated(event: Event, names: ProducerNames) -> PreparedEvent:
    """:func:`larseg.io.prepare_event` of a simulated event (validated, the same products),
    with :func:`fast_plane_products` for the planes."""
    return prepare_event(event, names, fast_plane_products)
