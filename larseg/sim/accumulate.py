"""Numba kernels of the fast readout: spread deposit charge over pixels and keep per-particle truth.

Accumulation is sparse but indexed through a dense int32 map (flat pixel -> compact index, -1 when
untouched) that is allocated once per image shape and per process and reset only where touched:
no dense float planes are zeroed per event, and memory stays at one int32 plane (14 MB for
MicroBooNE) plus arrays the size of the touched pixels. Those arrays live in a per-process
:class:`Workspace` and are reused from event to event: they are allocated by numpy (which asks for
transparent huge pages) and never inside the kernels, because first-touch page faults of fresh
memory cost ~0.4 ms per MB here — more than the arithmetic.

Consecutive deposits of one particle whose centres fall in the same pixel (2-4 per wire for
0.15 cm steps), within ``MERGE_SPAN`` σ of each other in time, are merged into one Gaussian with
the same charge, mean and variance before they are spread.

Each deposit is a 2D Gaussian (rows: longitudinal diffusion ⊕ deconvolved time resolution;
columns: transverse diffusion) integrated over pixel bins with a tabulated normal CDF, on an
adaptive stencil that covers ±3σ (at most ±``MAX_HALF_WIDTH``). Cells below ``CELL_EPS`` of
the deposit are skipped and the rest renormalised, so each deposit's charge is conserved except
where the stencil leaves the image, the TPC's row band or the plane's wires.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Deposits merged into one Gaussian lie within this many σ (time) of the first one's row:
#: moment matching is exact enough there (tests/test_sim_readout.py, shuffled deposits).
MERGE_SPAN = 0.5
#: Largest stencil half-width (pixels) on either axis.
MAX_HALF_WIDTH = 3
#: Gaussian widths are cut at this many σ (before the stencil cap).
N_SIGMA = 3.0
#: Cells that would get less than this fraction of a deposit are skipped (charge renormalised).
CELL_EPS = 1e-3
#: Floor on Gaussian widths (pixels) so that σ → 0 stays finite.
MIN_SIGMA_PX = 1e-3

# Normal CDF tabulated on [-CDF_XMAX, CDF_XMAX] with linear interpolation (error < 2e-7): about
# five times faster than math.erf in the inner loop.
CDF_XMAX = 8.0
CDF_STEPS_PER_UNIT = 512


def _cdf_table() -> np.ndarray:
    x = np.linspace(-CDF_XMAX, CDF_XMAX, int(2 * CDF_XMAX * CDF_STEPS_PER_UNIT) + 1)
    return np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])


CDF_TABLE = _cdf_table()


@njit(cache=True, inline="always")
def _cdf(x: float, table: np.ndarray) -> float:
    t = (x + CDF_XMAX) * CDF_STEPS_PER_UNIT
    if t <= 0.0:
        return 0.0
    n = table.shape[0] - 1
    if t >= n:
        return 1.0
    i = int(t)
    f = t - i
    return table[i] * (1.0 - f) + table[i + 1] * f


@njit(cache=True)
def normal_cdf(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Tabulated Φ(x) (exposed for tests)."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = _cdf(x[i], table)
    return out


@njit(cache=True, inline="always")
def _bin_weights(mu: float, sigma: float, table: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """Gaussian mass in pixels [n - 0.5, n + 0.5) around ``mu``; returns (first pixel, count)."""
    s = max(sigma, MIN_SIGMA_PX)
    n0 = int(math.floor(mu + 0.5))
    # cells n0 ± hw cover mu ± N_SIGMA σ
    hw = int(math.ceil(N_SIGMA * s + abs(mu - n0) - 0.5))
    if hw < 1:
        hw = 1
    if hw > MAX_HALF_WIDTH:
        hw = MAX_HALF_WIDTH
    first = n0 - hw
    inv = 1.0 / s
    prev = _cdf((first - 0.5 - mu) * inv, table)
    for a in range(2 * hw + 1):
        cur = _cdf((first + a + 0.5 - mu) * inv, table)
        out[a] = cur - prev
        prev = cur
    return first, 2 * hw + 1


@njit(cache=True)
def particles_contiguous(particle: np.ndarray, n_particles: int) -> bool:
    """Whether each particle's deposits form one contiguous run (what the kernel needs)."""
    seen = np.zeros(n_particles, dtype=np.bool_)
    prev = -1
    for i in range(particle.shape[0]):
        p = particle[i]
        if p != prev:
            if seen[p]:
                return False
            seen[p] = True
            prev = p
    return True


#: Most cells one deposit can touch.
_MAX_CELLS = (2 * MAX_HALF_WIDTH + 1) ** 2


@njit(cache=True, inline="always")
def map_slot(dense_map, pix, total, f, n):
    """Index of flat pixel ``f`` in the compact pixel arrays, appending it (with zero charge)
    if it is not there yet. ``dense_map`` maps flat pixels to indices (-1: absent).
    Returns (index, new count, whether it was appended)."""
    k = dense_map[f]
    if k >= 0:
        return k, n, False
    dense_map[f] = n
    pix[n] = f
    total[n] = 0.0
    return n, n + 1, True


@njit(cache=True, inline="always")
def _stencil(wr, fr, nr, wc, fc, nc, lo, hi, col_lo, col_hi, n_cols, cell_w, cell_f):
    """The cells of a deposit's stencil (row weights ``wr`` from row ``fr``, column weights
    ``wc`` from column ``fc``): returns the normalisation (every cell above CELL_EPS, in or
    out of the image) and the number of cells to write, inside the rows [lo, hi) and the
    columns [col_lo, col_hi), filled into ``cell_w`` / ``cell_f`` (weight, flat pixel)."""
    s = 0.0
    m = 0
    for a in range(nr):
        rr = fr + a
        row_in = lo <= rr < hi
        for b in range(nc):
            w = wr[a] * wc[b]
            if w >= CELL_EPS:
                s += w
                cc = fc + b
                if row_in and col_lo <= cc < col_hi:
                    cell_w[m] = w
                    cell_f[m] = rr * n_cols + cc
                    m += 1
    return s, m


@njit(cache=True, inline="always")
def _add_truth(k, p, val, last, slot, t_pix, t_part, t_q, n_trip):
    """Add charge ``val`` of particle ``p`` to compact pixel ``k``'s truth: a new triplet for
    the particle's first charge there (``last[k]`` is the pixel's latest particle), else to
    its triplet. Returns the new number of triplets."""
    if last[k] != p:
        last[k] = p
        slot[k] = n_trip
        t_pix[n_trip] = k
        t_part[n_trip] = p
        t_q[n_trip] = val
        return n_trip + 1
    t_q[slot[k]] += val
    return n_trip


@njit(cache=True)
def _accumulate_chunk(start, row, sig_long, time_res, label_time_res, col, sig_col, electrons,
                      gain, particle, tpc, band_lo, band_hi, col_lo, col_hi, n_cols, dense_map,
                      table, pix, total, last, slot, t_pix, t_part, t_q, n_pix, n_trip):
    """Inner loop of :func:`accumulate_plane` from deposit ``start`` until the arrays are full.

    The truth triplets take the charge as it arrives at the wires, spread in time by
    ``label_time_res`` instead of ``time_res`` when the two differ (see accumulate_plane).

    Arrays are never reallocated here (reassigning arrays inside the hot loop makes numba
    reference-count them at every access, ~20× slower); returns (next deposit, n_pix, n_trip).
    """
    wr = np.empty(2 * MAX_HALF_WIDTH + 1)
    wc = np.empty(2 * MAX_HALF_WIDTH + 1)
    wl = np.empty(2 * MAX_HALF_WIDTH + 1)        # label footprint's row weights
    own_labels = label_time_res != time_res
    dl2 = label_time_res * label_time_res - time_res * time_res
    per_deposit = 2 * _MAX_CELLS if own_labels else _MAX_CELLS  # new pixels one deposit can add
    cell_w = np.empty(_MAX_CELLS)                 # the cells a deposit writes: weight ...
    cell_f = np.empty(_MAX_CELLS, dtype=np.int64)  # ... and flat pixel, in stencil order
    # buffers may differ in length (they are grown separately): stay within the shortest
    cap = min(pix.shape[0], total.shape[0], last.shape[0], slot.shape[0])
    tcap = min(t_pix.shape[0], t_part.shape[0], t_q.shape[0])
    n = row.shape[0]
    tr2 = time_res * time_res
    i = start
    while i < n:
        if n_pix + per_deposit > cap or n_trip + _MAX_CELLS > tcap:
            return i, n_pix, n_trip
        t = tpc[i]
        if t < 0 or not electrons[i] > 0.0:
            i += 1
            continue
        lo = band_lo[t]
        hi = band_hi[t]
        r0 = int(math.floor(row[i] + 0.5))
        c0 = int(math.floor(col[i] + 0.5))
        if r0 < lo or r0 >= hi or c0 < col_lo or c0 >= col_hi:
            i += 1
            continue
        p = particle[i]
        # Merge the run of this particle's deposits centred in the same pixel into one Gaussian
        # with the same charge, mean and variance (moments taken relative to the pixel centre).
        q = electrons[i] * gain
        dr = row[i] - r0
        dc = col[i] - c0
        sq = q
        sr = q * dr
        srr = q * (sig_long[i] * sig_long[i] + tr2 + dr * dr)
        sc = q * dc
        scc = q * (sig_col[i] * sig_col[i] + dc * dc)
        # Only deposits within MERGE_SPAN of the first one's row are merged: a run spread over
        # more of the pixel than that is no longer a Gaussian of the same moments.
        span = MERGE_SPAN * math.sqrt(sig_long[i] * sig_long[i] + tr2)
        r_first = row[i]
        j = i + 1
        while j < n and particle[j] == p and tpc[j] == t:
            qj = electrons[j] * gain
            if not qj > 0.0:
                j += 1
                continue
            if int(math.floor(row[j] + 0.5)) != r0 or int(math.floor(col[j] + 0.5)) != c0:
                break
            if abs(row[j] - r_first) > span:
                break
            dr = row[j] - r0
            dc = col[j] - c0
            sq += qj
            sr += qj * dr
            srr += qj * (sig_long[j] * sig_long[j] + tr2 + dr * dr)
            sc += qj * dc
            scc += qj * (sig_col[j] * sig_col[j] + dc * dc)
            j += 1
        i = j
        mr = sr / sq
        mc = sc / sq
        fr, nr = _bin_weights(r0 + mr, math.sqrt(max(srr / sq - mr * mr, 0.0)), table, wr)
        fc, nc = _bin_weights(c0 + mc, math.sqrt(max(scc / sq - mc * mc, 0.0)), table, wc)
        # one pass over the stencil: the normalisation (every cell above CELL_EPS, in or out
        # of the image) and the list of cells to write (inside the band and the wires)
        s, m = _stencil(wr, fr, nr, wc, fc, nc, lo, hi, col_lo, col_hi, n_cols, cell_w, cell_f)
        scale = sq / s
        if own_labels:
            # charge first, then the label footprint's triplets on the same compact pixels
            for c in range(m):
                k, n_pix, new = map_slot(dense_map, pix, total, cell_f[c], n_pix)
                if new:
                    last[k] = -1
                total[k] += cell_w[c] * scale
            var_r = srr / sq - mr * mr + dl2
            fl, nl = _bin_weights(r0 + mr, math.sqrt(max(var_r, 0.0)), table, wl)
            s, m = _stencil(wl, fl, nl, wc, fc, nc, lo, hi, col_lo, col_hi, n_cols, cell_w,
                            cell_f)
            scale = sq / s
            for c in range(m):
                k, n_pix, new = map_slot(dense_map, pix, total, cell_f[c], n_pix)
                if new:
                    last[k] = -1
                n_trip = _add_truth(k, p, cell_w[c] * scale, last, slot, t_pix, t_part, t_q,
                                    n_trip)
            continue
        for c in range(m):
            val = cell_w[c] * scale
            f = cell_f[c]
            k = dense_map[f]
            if k < 0:  # a new pixel: its charge and its first triplet are this value
                k = n_pix
                dense_map[f] = k
                pix[k] = f
                total[k] = val
                last[k] = -1
                n_pix += 1
            else:
                total[k] += val
            n_trip = _add_truth(k, p, val, last, slot, t_pix, t_part, t_q, n_trip)
    return n, n_pix, n_trip


class Workspace:
    """Per-process scratch arrays reused between events (grown, never shrunk)."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}
        self._maps: dict[int, np.ndarray] = {}

    def get(self, name: str, n: int, dtype, keep: int = 0) -> np.ndarray:
        """Buffer ``name`` with room for at least ``n`` items; its first ``keep`` items survive
        a reallocation."""
        a = self._bufs.get(name)
        if a is None or a.shape[0] < n or a.dtype != np.dtype(dtype):
            size = max(int(n), 1024) if a is None else max(int(n), a.shape[0] * 3 // 2)
            b = np.empty(size, dtype=dtype)
            if a is not None and keep:
                b[:keep] = a[:keep]
            self._bufs[name] = a = b
        return a

    def dense_map(self, size: int) -> np.ndarray:
        """The flat-pixel -> compact-index map for images of ``size`` pixels (all -1 between
        uses: whoever fills it resets the entries it touched)."""
        m = self._maps.get(size)
        if m is None:  # (not setdefault: that would fill a fresh 14 MB map at every call)
            m = self._maps[size] = np.full(size, -1, dtype=np.int32)
        return m

    def drop_map(self, size: int) -> None:
        """Forget a map that may be dirty (after an error), so the next use starts afresh."""
        self._maps.pop(size, None)

    def clear(self) -> None:
        """Free every buffer and map (the next event allocates them again)."""
        self._bufs.clear()
        self._maps.clear()

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self._bufs.values(), *self._maps.values()))


def accumulate_plane(row, sig_long, time_res, col, sig_col, electrons, gain, particle, tpc,
                     band_lo, band_hi, col_lo, col_hi, n_cols, dense_map,
                     ws: Workspace, label_time_res: float | None = None) -> tuple[int, int]:
    """Spread deposits over one plane's pixels.

    ``row``/``col``: continuous pixel coordinates (pixel n covers [n - 0.5, n + 0.5));
    Gaussian widths in pixels: rows sqrt(``sig_long``² + ``time_res``²), columns ``sig_col``;
    charge: ``electrons`` × ``gain`` (ADC per electron);
    ``particle``: ids, each particle's deposits contiguous; ``tpc``: TPC of each deposit with
    ``band_lo``/``band_hi`` the row band of each TPC; columns [col_lo, col_hi) hold wires.
    ``dense_map`` (n_rows * n_cols int32, all -1 on entry) is left pointing at the compact pixels;
    the caller resets it with :func:`reset_map`.

    Fills workspace buffers ``pix`` (flat index of each compact pixel), ``total`` (its charge) and
    the truth triplets ``t_pix``/``t_part``/``t_q`` (compact pixel, particle, charge; one per pixel
    and particle). Returns (n_pix, n_trip).

    The triplets, from which the labels come, spread each deposit in time by ``label_time_res``
    (default: ``time_res``, the same footprint as the charge). 0 gives the charge as it arrives
    at the wires, diffused but not widened by the deconvolved pulse: what LArSoft's SimChannels
    record, and so the footprint of labels made from them (a pixel with charge outside it is
    background).
    """
    n = row.shape[0]
    label_res = time_res if label_time_res is None else label_time_res
    # a separate label footprint can touch pixels the charge does not: room for both
    cap = max((2 if label_res == time_res else 3) * n, 4 * _MAX_CELLS)
    i, n_pix, n_trip = 0, 0, 0
    while True:
        bufs = [ws.get(name, cap, dt, keep=n_pix) for name, dt in
                (("pix", np.int64), ("total", np.float64), ("last", np.int64),
                 ("slot", np.int64))]
        tbufs = [ws.get(name, cap, dt, keep=n_trip) for name, dt in
                 (("t_pix", np.int64), ("t_part", np.int64), ("t_q", np.float64))]
        i, n_pix, n_trip = _accumulate_chunk(
            i, row, sig_long, float(time_res), float(label_res), col, sig_col, electrons,
            float(gain), particle,
            tpc, band_lo, band_hi, col_lo, col_hi, n_cols, dense_map, CDF_TABLE, *bufs, *tbufs,
            n_pix, n_trip)
        if i >= n:
            return n_pix, n_trip
        cap = 2 * max(max(b.shape[0] for b in bufs), max(b.shape[0] for b in tbufs))


@njit(cache=True)
def reset_map(dense_map, pix):
    for k in range(pix.shape[0]):
        dense_map[pix[k]] = -1
