"""Label-consistent downsampling of sparse plane images (no dense intermediate).

CosmicTagger trains on SBND images halved in both directions (2048 × 1280 -> 1024 × 640,
Acciarri et al. 2021, section 3.1). A pooled pixel gathers the ``factor × factor`` block of
source pixels ("children") below it. ADC values:

- ``"sum"``  total charge of the children (charge is conserved exactly);
- ``"max"``  largest child value;
- ``"mean"`` sum / factor², i.e. a dense average pool in which empty pixels count as 0.

Labels, chosen so that rare neutrino / labelled pixels survive:

- ``cosmic``: the maximum over the children, i.e. neutrino (2) > cosmic (1) > background (0),
  which is what larcv's Downsample with PoolType max does to CosmicTagger's label images and
  matches the paper's "neutrino takes precedence" rule for overlaps;
- ``semantic`` and ``instance``: the label of the highest-charge *labelled* child (a child with
  label -1 wins only when no child is labelled); ties go to the child listed first.

``particle_charge`` is summed per (pooled pixel, particle).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import njit

from ..event import ParticleCharge
from .sample import PlaneArrays

POOLS = ("sum", "max", "mean")


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and, for each input, the index of its group."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse.reshape(-1)


@njit(cache=True)
def _best_labelled_child(inverse: np.ndarray, labels: np.ndarray, values: np.ndarray,
                         n_groups: int) -> np.ndarray:
    """Index of each group's highest-charge labelled member (any member if none is labelled).

    One pass, O(N); ties keep the member that comes first.
    """
    best = np.full(n_groups, -1, dtype=np.int64)
    for i in range(inverse.size):
        g = inverse[i]
        b = best[g]
        if b < 0:
            best[g] = i
            continue
        li = labels[i] >= 0
        lb = labels[b] >= 0
        if (li and not lb) or (li == lb and values[i] > values[b]):
            best[g] = i
    return best


def downsample_plane(pa: PlaneArrays, factor: int, pool: str = "sum") -> PlaneArrays:
    """Pool ``pa`` by ``factor`` along both axes; the pooled shape is ceil(shape / factor).

    Pooled pixel (i, j) covers source pixels ``offset + (i, j) * scale`` onwards, with
    ``scale`` multiplied by ``factor``; the offset is unchanged.
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"downsampling factor must be >= 1, got {factor}")
    if pool not in POOLS:
        raise ValueError(f"unknown pool '{pool}'; choose one of {', '.join(POOLS)}")
    if factor == 1:
        return pa
    rows, cols = pa.shape
    shape = (-(-rows // factor), -(-cols // factor))
    if len(pa) == 0:
        pc = pa.particle_charge
        return replace(pa, shape=shape, scale=pa.scale * factor,
                       particle_charge=None if pc is None else ParticleCharge.empty())
    # pooled pixel (i, j) covers source pixels offset + (i, j) * scale * factor: offset stays
    parent = pa.coords // factor
    keys = parent[:, 0] * shape[1] + parent[:, 1]
    uniq, inv = _group(keys)
    g = uniq.size
    coords = np.stack([uniq // shape[1], uniq % shape[1]], axis=1).astype(np.int64)

    vals = pa.values.astype(np.float64)
    if pool == "max":
        values = np.full(g, -np.inf)
        np.maximum.at(values, inv, vals)
    else:
        values = np.bincount(inv, weights=vals, minlength=g)
        if pool == "mean":
            values = values / (factor * factor)

    cosmic = semantic = instance = None
    if pa.cosmic is not None:
        c = np.zeros(g, dtype=np.int64)
        np.maximum.at(c, inv, pa.cosmic.astype(np.int64))
        cosmic = c.astype(np.int8)
    if pa.semantic is not None:
        semantic = pa.semantic[_best_labelled_child(inv, pa.semantic, pa.values, g)]
    if pa.instance is not None:
        instance = pa.instance[_best_labelled_child(inv, pa.instance, pa.values, g)]

    pc = pa.particle_charge
    if pc is not None and len(pc):
        pix = inv[pc.pixel]
        n_part = int(pc.particle.max()) + 1
        pk, pinv = _group(pix * n_part + pc.particle)
        charge = np.bincount(pinv, weights=pc.charge.astype(np.float64), minlength=pk.size)
        pc = ParticleCharge(pk // n_part, pk % n_part, charge.astype(np.float32))
    return replace(pa, shape=shape, coords=coords, values=values.astype(np.float32),
                   cosmic=cosmic, semantic=semantic, instance=instance, particle_charge=pc,
                   scale=pa.scale * factor)
