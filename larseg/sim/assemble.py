"""Numba kernel that turns the readout's compact pixel arrays into a sorted, labelled plane image.

Input: the compact pixels of one plane (flat index, true charge, processed value, whether the
pixel is inside an ROI), the noise-only pixels, and the (pixel, particle, charge) truth triplets.
Output: row-major sorted coords, float32 values, cosmic/semantic/instance labels and the
particle-charge triplets of the labelled pixels, grouped by output pixel. One pass per job, no
numpy temporaries: this runs once per plane and event on up to ~10^6 pixels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# CosmicLabel values (larseg.labels): kept as ints for the kernel.
_BACKGROUND, _COSMIC, _NEUTRINO = 0, 1, 2


@njit(cache=True)
def _row_major_order(flat, n, n_rows, n_cols, out, tmp, rows, cols, count):
    """Fill ``out[:n]`` with the permutation that sorts ``flat[:n]`` row-major: two stable
    counting-sort passes (LSD). ``tmp``, ``rows``, ``cols`` (≥ n) and ``count`` (≥ max(n_rows,
    n_cols) + 1) are scratch."""
    count[:n_cols + 1] = 0
    for i in range(n):
        r = flat[i] // n_cols
        rows[i] = r
        cols[i] = flat[i] - r * n_cols
        count[cols[i] + 1] += 1
    for c in range(n_cols):
        count[c + 1] += count[c]
    for i in range(n):
        c = cols[i]
        tmp[count[c]] = i
        count[c] += 1
    count[:n_rows + 1] = 0
    for i in range(n):
        count[rows[i] + 1] += 1
    for r in range(n_rows):
        count[r + 1] += count[r]
    for j in range(n):
        i = tmp[j]
        r = rows[i]
        out[count[r]] = i
        count[r] += 1


def row_major_order(flat: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Permutation sorting flat pixel indices row-major (exposed for tests)."""
    flat = np.ascontiguousarray(flat, dtype=np.int64)
    n = flat.shape[0]
    out = np.empty(n, np.int64)
    _row_major_order(flat, n, n_rows, n_cols, out, np.empty(n, np.int64), np.empty(n, np.int64),
                     np.empty(n, np.int64), np.empty(max(n_rows, n_cols) + 1, np.int64))
    return out


# A written pixel travels through the sort as one int64 key, position | (label + 1) << 25 |
# cosmic << 56, its value and its index in written order: three arrays scattered per pass, so
# the final loop reads everything sequentially. The position is row << col_bits | column
# (col_bits: the bits of the largest column), so that both sort passes and the coordinates
# are shifts and masks, not divisions (MicroBooNE: 10 + 12 bits, SBND 11 + 11).
_POS_BITS = 25
_POS_MASK = (1 << _POS_BITS) - 1
_LABEL_BITS = 31
_LABEL_MASK = (1 << _LABEL_BITS) - 1


@njit(cache=True)
def _assemble(n_acc, pix, total, value, in_roi, noise_pix, noise_val, n_trip, t_pix, t_part, t_q,
              semantic_of_particle, is_neutrino, n_rows, n_cols, col_bits, storage_threshold,
              saturation,
              label_threshold, origin_threshold, best, best_q, nu_q, cos_q, m_of_k, key, val, src,
              key2, val2, src2, count, pos_m, coords, values, cosmic, semantic, instance,
              pc_pix, pc_part, pc_q):
    """Kernel of :func:`assemble_plane`; every array is a preallocated buffer. Returns
    (written pixels, particle-charge triplets)."""
    n_noise = noise_pix.shape[0]
    col_mask = (1 << col_bits) - 1
    for k in range(n_acc):
        best[k] = -1
        best_q[k] = 0.0
        nu_q[k] = 0.0
        cos_q[k] = 0.0
    for j in range(n_trip):
        k = t_pix[j]
        q = t_q[j]
        p = t_part[j]
        if q > best_q[k]:
            best_q[k] = q
            best[k] = p
        if is_neutrino[p]:
            nu_q[k] += q
        else:
            cos_q[k] += q
    # written pixels, in compact order, with their labels (sequential reads)
    m = 0
    for k in range(n_acc):
        m_of_k[k] = -1
        v = value[k]
        if not (in_roi[k] and v >= storage_threshold):
            continue
        lab = -1
        cos = _BACKGROUND
        if nu_q[k] + cos_q[k] >= label_threshold:  # the truth charge (triplets) decides
            lab = best[k]
            if nu_q[k] >= origin_threshold:
                cos = _NEUTRINO
            elif cos_q[k] >= origin_threshold:
                cos = _COSMIC
            else:
                cos = _NEUTRINO if is_neutrino[lab] else _COSMIC
            m_of_k[k] = m
        f = pix[k]
        r = f // n_cols
        key[m] = (((r << col_bits) | (f - r * n_cols)) | ((lab + 1) << _POS_BITS)
                  | (cos << (_POS_BITS + _LABEL_BITS)))
        val[m] = min(v, saturation)
        src[m] = m
        m += 1
    for i in range(n_noise):
        v = noise_val[i]
        if v >= storage_threshold:
            f = noise_pix[i]
            r = f // n_cols
            key[m] = (r << col_bits) | (f - r * n_cols)
            val[m] = min(v, saturation)
            src[m] = m
            m += 1
    # LSD radix sort on (row, column): by column, then stably by row
    count[:n_cols + 1] = 0
    for i in range(m):
        count[(key[i] & col_mask) + 1] += 1
    for c in range(n_cols):
        count[c + 1] += count[c]
    for i in range(m):
        c = key[i] & col_mask
        d = count[c]
        key2[d] = key[i]
        val2[d] = val[i]
        src2[d] = src[i]
        count[c] = d + 1
    count[:n_rows + 1] = 0
    for i in range(m):
        count[((key2[i] & _POS_MASK) >> col_bits) + 1] += 1
    for r in range(n_rows):
        count[r + 1] += count[r]
    for i in range(m):
        r = (key2[i] & _POS_MASK) >> col_bits
        d = count[r]
        key[d] = key2[i]
        val[d] = val2[i]
        src[d] = src2[i]
        count[r] = d + 1
    for o in range(m):
        kk = key[o]
        coords[o, 0] = (kk & _POS_MASK) >> col_bits
        coords[o, 1] = kk & col_mask
        values[o] = val[o]
        lab = ((kk >> _POS_BITS) & _LABEL_MASK) - 1
        instance[o] = lab
        if lab >= 0:
            semantic[o] = semantic_of_particle[lab]
            cosmic[o] = kk >> (_POS_BITS + _LABEL_BITS)
        else:
            semantic[o] = -1
            cosmic[o] = _BACKGROUND
        pos_m[src[o]] = o
    # particle-charge triplets of labelled pixels, grouped by output pixel (counting sort)
    count[:m + 1] = 0
    for j in range(n_trip):
        mk = m_of_k[t_pix[j]]
        if mk >= 0:
            count[pos_m[mk] + 1] += 1
    for o in range(m):
        count[o + 1] += count[o]
    n_pc = count[m]
    for j in range(n_trip):
        mk = m_of_k[t_pix[j]]
        if mk >= 0:
            o = pos_m[mk]
            d = count[o]
            pc_pix[d] = o
            pc_part[d] = t_part[j]
            pc_q[d] = t_q[j]
            count[o] = d + 1
    return m, n_pc


def assemble_plane(ws, n_acc: int, n_trip: int, noise_pix: np.ndarray, noise_val: np.ndarray,
                   semantic_of_particle: np.ndarray, is_neutrino: np.ndarray, n_rows: int,
                   n_cols: int, storage_threshold: float, saturation: float,
                   label_threshold: float, origin_threshold: float):
    """Zero suppression, saturation, row-major sorting and labels of one plane.

    Reads the workspace's compact pixels (``pix``, ``total``, ``value``, ``in_roi``; ``n_acc``)
    and truth triplets (``t_pix``, ``t_part``, ``t_q``; ``n_trip``). A compact pixel is written
    if it is in an ROI and its value ≥ ``storage_threshold``; a noise-only pixel if its value is.
    Values are capped at ``saturation``. A written pixel whose triplets sum to ≥ ``label_threshold``
    is labelled: instance = the particle with most charge, semantic = its class, cosmic =
    NEUTRINO if neutrino-origin particles put ≥ ``origin_threshold`` there (summed over them),
    else COSMIC if cosmics did, else the main particle's origin; its triplets become the
    particle charge.
    Returns fresh arrays (coords, values, cosmic, semantic, instance, pc_pixel, pc_particle,
    pc_charge).
    """
    col_bits = max(int(n_cols - 1).bit_length(), 1)
    if max(int(n_rows - 1).bit_length(), 1) + col_bits > _POS_BITS:
        raise ValueError(f"images of {n_rows} x {n_cols} pixels exceed the sort key's "
                         f"{_POS_BITS} position bits")
    if semantic_of_particle.shape[0] >= _LABEL_MASK:
        raise ValueError(f"{semantic_of_particle.shape[0]} particles exceed the sort key's "
                         f"{_LABEL_BITS} label bits")
    m_max = n_acc + noise_pix.shape[0]
    g = ws.get
    bufs = dict(
        best=g("a_best", n_acc, np.int64), best_q=g("a_best_q", n_acc, np.float64),
        nu_q=g("a_nu_q", n_acc, np.float64), cos_q=g("a_cos_q", n_acc, np.float64),
        m_of_k=g("a_m_of_k", n_acc, np.int64),
        key=g("a_key", m_max, np.int64), val=g("a_val", m_max, np.float32),
        src=g("a_src", m_max, np.int64), key2=g("a_key2", m_max, np.int64),
        val2=g("a_val2", m_max, np.float32), src2=g("a_src2", m_max, np.int64),
        count=g("a_count", max(m_max, n_rows, n_cols) + 1, np.int64),
        pos_m=g("a_pos_m", m_max, np.int64),
        coords=g("a_coords", 2 * m_max, np.int32)[:2 * m_max].reshape(m_max, 2),
        values=g("a_values", m_max, np.float32), cosmic=g("a_cosmic", m_max, np.int8),
        semantic=g("a_semantic", m_max, np.int8), instance=g("a_instance", m_max, np.int32),
        pc_pix=g("a_pc_pix", n_trip, np.int64), pc_part=g("a_pc_part", n_trip, np.int64),
        pc_q=g("a_pc_q", n_trip, np.float32))
    m, n_pc = _assemble(
        n_acc, g("pix", 0, np.int64), g("total", 0, np.float64), g("value", 0, np.float64),
        g("in_roi", 0, np.bool_), noise_pix, noise_val, n_trip, g("t_pix", 0, np.int64),
        g("t_part", 0, np.int64), g("t_q", 0, np.float64), semantic_of_particle, is_neutrino,
        n_rows, n_cols, col_bits, storage_threshold, saturation, label_threshold,
        origin_threshold, **bufs)
    return (bufs["coords"][:m].copy(), bufs["values"][:m].copy(), bufs["cosmic"][:m].copy(),
            bufs["semantic"][:m].copy(), bufs["instance"][:m].copy(), bufs["pc_pix"][:n_pc].copy(),
            bufs["pc_part"][:n_pc].copy(), bufs["pc_q"][:n_pc].copy())
