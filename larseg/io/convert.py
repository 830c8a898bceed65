"""Plane images <-> larcv3 sparse2d / cluster2d projections.

Geometry: larcv axis 0 = wire (``number_of_voxels[0] = n_wires``), axis 1 = time
(``n_ticks``), ``voxel id = wire * n_ticks + time``; ``image_sizes`` = (n_wires × wire_pitch,
n_ticks × tick_pitch) in cm. larcv keeps voxels sorted by id, so pixels read back from a file
come in that (wire-major) order, which need not be the order they were written in.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit

from ..detectors import guess_detector_name, meta_for
from ..errors import InvalidEventError
from ..event import ParticleCharge, PlaneImage, PlaneMeta
from ..labels import NO_LABEL, N_COSMIC_CLASSES, N_SEMANTIC_CLASSES
from .products import Cluster2D, ImageMeta2D, Sparse2D


# --------------------------------------------------------------------------- geometry
def larcv_meta(pm: PlaneMeta) -> ImageMeta2D:
    return ImageMeta2D(projection_id=pm.plane, number_of_voxels=(pm.n_wires, pm.n_ticks),
                       image_sizes=(pm.n_wires * pm.wire_pitch, pm.n_ticks * pm.tick_pitch),
                       origin=tuple(pm.origin))


def _pitch(size: float, n: int) -> float:
    """size / n, as the short decimal it most likely was (so 0.3 comes back as 0.3)."""
    p = size / n if n else 0.0
    short = float(f"{p:.10g}")
    return short if abs(short * n - size) <= 1e-12 * abs(size) else p


_PLANE_META_CACHE: dict[ImageMeta2D, tuple[str, PlaneMeta]] = {}


def plane_meta(meta: ImageMeta2D) -> tuple[str, PlaneMeta]:
    """(detector name, PlaneMeta) of a larcv projection meta; a preset's own meta if it matches."""
    hit = _PLANE_META_CACHE.get(meta)
    if hit is not None:
        return hit
    n_wires, n_ticks = (int(n) for n in meta.number_of_voxels)
    name = guess_detector_name(n_wires, n_ticks)
    pm = None
    preset_name = ""
    if name != "unknown":
        for p in meta_for(name).planes:
            if p.plane == meta.projection_id:
                preset_name = p.name
                if larcv_meta(p) == meta:
                    pm = p
    if pm is None:
        pm = PlaneMeta(plane=int(meta.projection_id), n_wires=n_wires, n_ticks=n_ticks,
                       wire_pitch=_pitch(meta.image_sizes[0], n_wires),
                       tick_pitch=_pitch(meta.image_sizes[1], n_ticks), name=preset_name,
                       origin=tuple(meta.origin))
    if len(_PLANE_META_CACHE) < 4096:
        _PLANE_META_CACHE[meta] = (name, pm)
    return name, pm


# --------------------------------------------------------------------------- writing
def voxel_ids(img: PlaneImage) -> tuple[np.ndarray, np.ndarray]:
    """larcv's voxel id of each pixel (column-major: wire × n_ticks + row) and the order that
    sorts them (the order of a written product's voxels)."""
    ids = img.coords[:, 1].astype(np.int64) * img.meta.n_ticks + img.coords[:, 0]
    return ids, np.argsort(ids, kind="stable")


def values_product(img: PlaneImage, values: np.ndarray) -> Sparse2D:
    """A sparse2d projection holding ``values`` (one per pixel of ``img``) on its voxels."""
    ids, order = voxel_ids(img)
    return Sparse2D(larcv_meta(img.meta), ids[order].astype(np.uint64),
                    np.asarray(values, dtype=np.float32)[order])


def values_on_pixels(img: PlaneImage, product: Sparse2D) -> np.ndarray:
    """The values of a sparse2d projection at the pixels of ``img`` (NaN where it has none)."""
    ids, _ = voxel_ids(img)
    pids = np.asarray(product.ids, dtype=np.int64)
    order = np.argsort(pids, kind="stable")
    pos = np.searchsorted(pids[order], ids)
    pos = np.clip(pos, 0, max(len(pids) - 1, 0))
    out = np.full(len(ids), np.nan, dtype=np.float32)
    if len(pids):
        hit = pids[order][pos] == ids
        out[hit] = np.asarray(product.values, dtype=np.float32)[order][pos[hit]]
    return out


def plane_products(img: PlaneImage, event: str = "?"
                   ) -> tuple[Sparse2D, Sparse2D | None, Sparse2D | None, Cluster2D | None, int]:
    """(adc, cosmic, semantic, clusters, n_instance_mismatch) projections of one plane.

    Pixels are sorted by voxel id; clusters are 0..max(particle id) (empty ones included).
    Without ``particle_charge`` but with ``instance``, clusters are made from ``instance`` with
    each pixel's ADC as its charge.
    """
    meta = larcv_meta(img.meta)
    ids, order = voxel_ids(img)
    sorted_ids = ids[order].astype(np.uint64)

    def labels(arr):
        return None if arr is None else Sparse2D(meta, sorted_ids, arr[order].astype(np.float32))

    adc = Sparse2D(meta, sorted_ids, img.values[order])
    pc = img.particle_charge
    mismatch = 0
    clusters = None
    if pc is None and img.instance is not None:
        keep = np.flatnonzero(img.instance >= 0)
        pc = ParticleCharge(keep, img.instance[keep], img.values[keep])
    elif pc is not None and img.instance is not None:
        derived = instance_from_charge(pc, len(img))
        mismatch = int(np.count_nonzero(derived != img.instance))
    if pc is not None:
        clusters = _clusters(meta, ids, pc, event, img.plane)
    return adc, labels(img.cosmic), labels(img.semantic), clusters, mismatch


def _clusters(meta: ImageMeta2D, ids: np.ndarray, pc: ParticleCharge, event: str,
              plane: int) -> Cluster2D:
    vid = ids[pc.pixel]
    order = np.lexsort((vid, pc.particle))
    part, vid, q = pc.particle[order], vid[order], pc.charge[order]
    dup = (part[1:] == part[:-1]) & (vid[1:] == vid[:-1])
    if dup.any():
        raise InvalidEventError(f"{int(dup.sum())} repeated (pixel, particle) pairs",
                                event=event, field=f"plane{plane}.particle_charge")
    n_clusters = int(part.max()) + 1 if part.size else 0
    counts = np.bincount(part, minlength=n_clusters)
    offsets = np.zeros(n_clusters + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Cluster2D(meta, np.arange(n_clusters), offsets, vid.astype(np.uint64), q)


# --------------------------------------------------------------------------- reading
@njit(cache=True)
def _best_particle(pixel, particle, charge, n):  # pragma: no cover - compiled
    best = np.full(n, -1, np.int32)
    best_q = np.zeros(n, np.float32)
    for k in range(pixel.shape[0]):
        i = pixel[k]
        p = particle[k]
        if best[i] < 0 or charge[k] > best_q[i] or (charge[k] == best_q[i] and p < best[i]):
            best[i] = p
            best_q[i] = charge[k]
    return best


def instance_from_charge(pc: ParticleCharge, n_pixels: int) -> np.ndarray:
    """Per-pixel instance: the particle with most charge in the pixel (lowest id on ties)."""
    if len(pc) == 0:
        return np.full(n_pixels, NO_LABEL, np.int32)
    return _best_particle(pc.pixel, pc.particle, pc.charge, n_pixels)


class DroppedVoxels:
    """Counts label/cluster voxels that have no ADC voxel (they are dropped, with a warning)."""

    def __init__(self) -> None:
        self.count = 0

    def warn(self, n: int, what: str) -> None:
        if n:
            self.count += n
            warnings.warn(f"{what}: {n} voxel(s) without an ADC voxel dropped", stacklevel=4)


def _positions(adc_ids: np.ndarray, ids: np.ndarray,
               sorted_adc: bool) -> tuple[np.ndarray, np.ndarray]:
    """Index into adc_ids of each id, and whether it was found."""
    if sorted_adc:
        pos = np.searchsorted(adc_ids, ids)
        pos_c = np.minimum(pos, max(adc_ids.size - 1, 0))
        found = (pos < adc_ids.size) & (adc_ids[pos_c] == ids) if adc_ids.size else \
            np.zeros(ids.size, bool)
        return pos_c, found
    order = np.argsort(adc_ids, kind="stable")
    pos, found = _positions(adc_ids[order], ids, True)
    return order[pos] if order.size else pos, found


_LABEL_RANGE = {"cosmic": (0, N_COSMIC_CLASSES - 1), "semantic": (NO_LABEL, N_SEMANTIC_CLASSES - 1)}
_LABEL_DEFAULT = {"cosmic": 0, "semantic": NO_LABEL}


def aligned_labels(adc: Sparse2D, lab: Sparse2D, name: str, sorted_adc: bool,
                   dropped: DroppedVoxels, field: str, where: str = "") -> np.ndarray:
    """Label ``name`` of every ADC voxel (default where the label product has no voxel)."""
    vals = lab.values
    if vals.size and (not np.all(np.isfinite(vals)) or np.any(vals != np.rint(vals))):
        odd = vals[~np.isfinite(vals) | (vals != np.rint(vals))][:3]
        raise InvalidEventError(f"non-integer label values (e.g. {odd})", field=field)
    lo, hi = _LABEL_RANGE[name]
    if vals.size and (vals.min() < lo or vals.max() > hi):
        bad = vals.min() if vals.min() < lo else vals.max()
        raise InvalidEventError(f"label {bad:g} out of range [{lo}, {hi}]", field=field)
    if lab.ids.size == adc.ids.size and np.array_equal(lab.ids, adc.ids):
        return vals.astype(np.int8)
    out = np.full(adc.ids.size, _LABEL_DEFAULT[name], np.int8)
    pos, found = _positions(adc.ids, lab.ids, sorted_adc)
    out[pos[found]] = vals[found].astype(np.int8)
    dropped.warn(int(found.size - np.count_nonzero(found)), where + field)
    return out


def aligned_charge(adc: Sparse2D, cl: Cluster2D, sorted_adc: bool, dropped: DroppedVoxels,
                   what: str) -> ParticleCharge:
    if cl.ids.size == 0:
        return ParticleCharge.empty()
    particle = np.repeat(cl.cluster_ids, np.diff(cl.offsets))
    pos, found = _positions(adc.ids, cl.ids, sorted_adc)
    dropped.warn(int(found.size - np.count_nonzero(found)), what)
    if not found.all():
        pos, particle, charge = pos[found], particle[found], cl.values[found]
    else:
        charge = cl.values
    return ParticleCharge(pos, particle, charge)


def plane_image(pm: PlaneMeta, adc: Sparse2D, cosmic: Sparse2D | None,
                semantic: Sparse2D | None, clusters: Cluster2D | None,
                dropped: DroppedVoxels, where: str) -> PlaneImage:
    """A PlaneImage from the projections of one plane (``where`` names file/event for errors)."""
    ids = adc.ids.astype(np.int64)
    n_ticks = pm.n_ticks
    wire = ids // n_ticks
    coords = np.empty((ids.size, 2), np.int32)
    coords[:, 0] = ids - wire * n_ticks
    coords[:, 1] = wire
    sorted_adc = bool(ids.size < 2 or np.all(ids[1:] > ids[:-1]))
    tag = f"plane{pm.plane}"
    img = PlaneImage(pm, coords, adc.values)
    if cosmic is not None:
        img.cosmic = aligned_labels(adc, cosmic, "cosmic", sorted_adc, dropped,
                                    f"{tag}.cosmic", where)
    if semantic is not None:
        img.semantic = aligned_labels(adc, semantic, "semantic", sorted_adc, dropped,
                                      f"{tag}.semantic", where)
    if clusters is not None:
        pc = aligned_charge(adc, clusters, sorted_adc, dropped, f"{where}{tag}.particle_charge")
        img.particle_charge = pc
        img.instance = instance_from_charge(pc, len(img))
    return img
