"""Residual noise and channel effects of the processed (deconvolved, ROI-based) image.

What a signal-processed LArTPC image looks like (MicroBooNE noise paper, JINST 12 P08003; signal
processing papers JINST 13 P07006/P07007): charge survives only inside regions of interest (ROIs)
around signals, where it carries residual noise; outside ROIs the image is zero except for the
few noise excursions that passed the ROI finder; unresponsive channels carry nothing.

Model (all cheap: nothing dense is drawn per event except one coherent value per group and row):
- channel status: dead wires in contiguous groups and individual noisy wires, fixed per
  (detector, plane) by ``CHANNEL_STATUS_SEED`` — like a run period's bad-channel list, the same in
  every event (so the networks see stable dead regions, as in data);
- ROI: true-signal pixels (≥ ``ROI_SEED_ADC``) dilated by ``ROI_PAD_PX`` rows on their wire,
  within their TPC's band;
- in ROIs: value = true + N(0, σ_wire) + coherent(group, row), σ_wire = ``noise_adc`` (×
  ``NOISY_WIRE_FACTOR`` on noisy wires), coherent ~ N(0, ``coherent_noise_adc``) shared by
  ``coherent_group_size`` adjacent wires in a row;
- outside ROIs: Binomial(live pixels outside ROIs, ``noise_occupancy``) noise pixels, placed where
  σ_wire·z + coherent exceeds the threshold T = ``noise_floor_adc`` (default: the ROI finder's
  ``NOISE_ROI_SIGMA``·noise_adc), so noisy wires and rows of positive coherent noise hold more
  of them, with the value of that excursion (a Gaussian tail above T).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from ..detectors import Detector
from .accumulate import CDF_TABLE, _cdf, map_slot

#: Seed of the fixed channel-status (dead / noisy wire) map of each (detector, plane).
CHANNEL_STATUS_SEED = 20170801
#: Mean length of a contiguous group of dead wires. Assumption: MicroBooNE's cold front-end
#: ASICs serve 16 channels each (JINST 12 P02017), so channels fail in blocks as well as singly.
DEAD_GROUP_MEAN_WIRES = 8.0
#: Noise RMS of a noisy wire relative to a normal one. Assumption, not a measured value: a
#: "noisy" channel is one clearly above its plane's RMS after filtering (JINST 12 P08003).
NOISY_WIRE_FACTOR = 2.5
#: Pixels with at least this true charge seed ROIs (same as the label threshold).
ROI_SEED_ADC = 1.0
#: ROI extension in rows on each side of a seed. Assumption: ROIs are extended beyond the signal
#: to keep its tails (ROI signal processing, JINST 13 P07006); 2 rows = 6 µs for MicroBooNE.
ROI_PAD_PX = 2
#: Threshold of the ROI finder in units of the plane's noise RMS: noise outside signals shows up
#: only where it exceeds this (assumption: ROI thresholds are a few σ of the noise, as in the
#: ROI finding of JINST 13 P07006).
NOISE_ROI_SIGMA = 3.0


@dataclass(frozen=True)
class ChannelStatus:
    """Per image column of one plane (columns without a wire count as dead)."""

    dead: np.ndarray      # (image_wires,) bool
    noisy: np.ndarray     # (image_wires,) bool
    sigma: np.ndarray     # (image_wires,) float64 residual noise RMS (ADC)
    group: np.ndarray     # (image_wires,) int64 coherent-noise group, -1 where no wire
    n_groups: int

    @property
    def live(self) -> np.ndarray:
        return ~self.dead


def dead_wire_mask(n_wires: int, fraction: float, rng: np.random.Generator,
                   mean_group: float = DEAD_GROUP_MEAN_WIRES) -> np.ndarray:
    """Boolean mask of ``round(fraction * n_wires)`` dead wires in contiguous groups."""
    target = int(round(min(max(fraction, 0.0), 1.0) * n_wires))
    dead = np.zeros(n_wires, dtype=bool)
    count = 0
    while count < target:
        start = int(rng.integers(0, n_wires))
        length = min(int(rng.geometric(1.0 / mean_group)), target - count)
        seg = dead[start:start + length]
        count += int((~seg).sum())
        seg[:] = True
    return dead


@lru_cache(maxsize=64)
def channel_status(detector: Detector, plane: int, seed: int = CHANNEL_STATUS_SEED) -> ChannelStatus:
    """The fixed dead / noisy wire map of a plane (cached; do not modify the arrays)."""
    ro = detector.readout
    wp = detector.planes[plane]
    rng = np.random.default_rng(np.random.SeedSequence([seed, plane, wp.n_wires]))
    dead_w = dead_wire_mask(wp.n_wires, ro.dead_wire_fraction[plane], rng)
    noisy_w = (rng.random(wp.n_wires) < ro.noisy_wire_fraction) & ~dead_w
    dead = np.ones(detector.image_wires, dtype=bool)
    noisy = np.zeros(detector.image_wires, dtype=bool)
    group = np.full(detector.image_wires, -1, dtype=np.int64)
    cols = slice(wp.image_offset, wp.image_offset + wp.n_wires)
    dead[cols] = dead_w
    noisy[cols] = noisy_w
    size = max(int(ro.coherent_group_size), 1)
    group[cols] = np.arange(wp.n_wires) // size
    sigma = np.where(noisy, NOISY_WIRE_FACTOR, 1.0) * ro.noise_adc[plane]
    for a in (dead, noisy, sigma, group):
        a.flags.writeable = False
    return ChannelStatus(dead=dead, noisy=noisy, sigma=sigma.astype(np.float64), group=group,
                         n_groups=-(-wp.n_wires // size))


def coherent_table(n_rows: int, status: ChannelStatus, rms: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Coherent noise (n_rows, n_groups): one value per group of wires and row."""
    if rms <= 0:
        return np.zeros((n_rows, max(status.n_groups, 1)))
    coh = rng.standard_normal((n_rows, max(status.n_groups, 1)))
    coh *= rms  # in place: the same products as ``* rms``, without a second table
    return coh


@njit(cache=True)
def _dilate_chunk(start, n0, pix, total, in_roi, n, dense_map, n_cols, row_tpc, dead, roi_seed,
                  roi_pad):
    """Dilate seeds ``start``.. while the arrays have room (never reallocating inside the loop,
    which would make numba reference-count the arrays at every access); returns (next, n)."""
    n_rows = row_tpc.shape[0]
    cap = min(pix.shape[0], total.shape[0], in_roi.shape[0])
    for k in range(start, n0):
        if total[k] < roi_seed:
            continue
        if n + 2 * roi_pad + 1 > cap:
            return k, n
        f = pix[k]
        r = f // n_cols
        c = f - r * n_cols
        if dead[c]:
            continue
        band = row_tpc[r]
        for rr in range(max(r - roi_pad, 0), min(r + roi_pad + 1, n_rows)):
            if row_tpc[rr] != band:
                continue
            g = rr * n_cols + c
            j, n, _ = map_slot(dense_map, pix, total, g, n)
            in_roi[j] = True
    return n0, n


@njit(cache=True)
def _roi_noise(n, pix, total, in_roi, value, n_cols, sigma, group, coh, rng):
    for k in range(n):
        if not in_roi[k]:
            value[k] = 0.0
            continue
        f = pix[k]
        r = f // n_cols
        c = f - r * n_cols
        v = total[k]
        s = sigma[c]
        if s > 0.0:
            v += s * rng.standard_normal()
        value[k] = v + coh[r, group[c]]
    return value


def roi_values(n_pix: int, dense_map: np.ndarray, n_cols: int, row_tpc: np.ndarray,
               status: ChannelStatus, coh: np.ndarray, ws, rng: np.random.Generator,
               roi_seed: float = ROI_SEED_ADC, roi_pad: int = ROI_PAD_PX) -> int:
    """Dilate signal pixels into ROIs and give every ROI pixel its processed value.

    Works on the workspace's compact pixels (``pix``, ``total``; the first ``n_pix`` filled by
    accumulation): adds the ROI pixels that hold no true charge (also to ``dense_map``), fills
    ``in_roi`` and ``value`` (true charge + noise; 0 outside ROIs and on dead wires). Returns
    the new number of compact pixels.
    """
    k, n = 0, n_pix
    cap = n_pix + n_pix // 2 + 16 * (roi_pad + 1)
    while True:
        pix = ws.get("pix", cap, np.int64, keep=n)
        total = ws.get("total", cap, np.float64, keep=n)
        in_roi = ws.get("in_roi", cap, np.bool_, keep=n if k > 0 else 0)
        if k == 0:
            in_roi[:n_pix] = False
        k, n = _dilate_chunk(k, n_pix, pix, total, in_roi, n, dense_map, n_cols, row_tpc,
                             status.dead, roi_seed, roi_pad)
        if k >= n_pix:
            break
        cap = 2 * max(pix.shape[0], total.shape[0], in_roi.shape[0])
    value = ws.get("value", n, np.float64)
    _roi_noise(n, pix, total, in_roi, value, n_cols, status.sigma, status.group, coh, rng)
    return n


@njit(cache=True)
def _tail_normal(a, rng):
    """A standard normal conditioned on z > a (Marsaglia's tail method for a ≥ 0.5)."""
    if a < 0.5:
        while True:
            z = rng.standard_normal()
            if z > a:
                return z
    while True:
        u1 = rng.random()
        u2 = rng.random()
        x = np.sqrt(a * a - 2.0 * np.log(1.0 - u1))
        if u2 * x < a:
            return x


@njit(cache=True)
def _noise_pixels(n_noise, start_index, dense_map, n_cols, w_cum, p_noisy, n_groups, ptr_norm,
                  cols_norm, ptr_noisy, cols_noisy, sigma, coh, threshold, rng):
    """Place ``n_noise`` noise-only pixels; see :func:`noise_only_pixels`."""
    out_pix = np.empty(n_noise, dtype=np.int64)
    out_val = np.empty(n_noise, dtype=np.float64)
    total_w = w_cum[-1]
    m = 0
    tries = 0
    while m < n_noise and tries < 100 * (n_noise + 10):
        tries += 1
        cell = np.searchsorted(w_cum, rng.random() * total_w, side="right")
        if cell >= w_cum.shape[0]:
            cell = w_cum.shape[0] - 1
        r = cell // n_groups
        g = cell - r * n_groups
        if rng.random() < p_noisy[cell]:
            lo, hi = ptr_noisy[g], ptr_noisy[g + 1]
            c = cols_noisy[lo + int(rng.random() * (hi - lo))]
        else:
            lo, hi = ptr_norm[g], ptr_norm[g + 1]
            c = cols_norm[lo + int(rng.random() * (hi - lo))]
        f = r * n_cols + c
        if dense_map[f] >= 0:  # an ROI pixel, or taken already
            continue
        s = sigma[c]
        cv = coh[r, g]
        dense_map[f] = start_index + m
        out_pix[m] = f
        out_val[m] = cv + s * _tail_normal((threshold - cv) / s, rng)
        m += 1
    return out_pix[:m], out_val[:m]


def _group_columns(status: ChannelStatus, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists (pointer per group, columns) of the columns in ``mask``, by coherent group."""
    cols = np.flatnonzero(mask & (status.group >= 0))
    groups = status.group[cols]
    ptr = np.zeros(status.n_groups + 1, dtype=np.int64)
    np.add.at(ptr, groups + 1, 1)
    return np.cumsum(ptr), cols[np.argsort(groups, kind="stable")]


@lru_cache(maxsize=64)
def _noise_layout(detector: Detector, plane: int):
    status = channel_status(detector, plane)
    live = status.live
    ptr_norm, cols_norm = _group_columns(status, live & ~status.noisy)
    ptr_noisy, cols_noisy = _group_columns(status, live & status.noisy)
    return (ptr_norm, cols_norm, ptr_noisy, cols_noisy,
            np.diff(ptr_norm).astype(np.float64), np.diff(ptr_noisy).astype(np.float64))


@njit(cache=True)
def _cell_weights(coh, threshold, sigma_norm, sigma_noisy, n_norm, n_noisy, row_live, table,
                  w_cum, p_noisy):
    """Weights of the (row, group) cells, in one pass (what :func:`noise_only_pixels` draws
    from): fills the running sum of w = [n_normal Q((T - coh)/σ) + n_noisy Q((T - coh)/σ_noisy)]
    × (row live) and the noisy share w_noisy / w (w_noisy where w = 0); returns whether any
    w > 0. The same operations, in the same order, as the numpy expressions they replace."""
    n_rows, n_groups = coh.shape
    acc = 0.0
    positive = False
    for r in range(n_rows):
        live = 1.0 if row_live[r] else 0.0
        for g in range(n_groups):
            c = coh[r, g]
            w_norm = (1.0 - _cdf((threshold - c) / sigma_norm, table)) * n_norm[g]
            w_noisy = (1.0 - _cdf((threshold - c) / sigma_noisy, table)) * n_noisy[g]
            w = (w_norm + w_noisy) * live
            k = r * n_groups + g
            if w > 0.0:
                positive = True
                p_noisy[k] = w_noisy / w
            else:
                p_noisy[k] = w_noisy / 1.0
            acc += w
            w_cum[k] = acc
    return positive


def noise_floor(detector: Detector, plane: int) -> float:
    """Value above which noise excursions show outside ROIs (ADC)."""
    ro = detector.readout
    if ro.noise_floor_adc is not None:
        return float(ro.noise_floor_adc[plane])
    return NOISE_ROI_SIGMA * ro.noise_adc[plane]


def noise_only_pixels(n_live_outside: int, detector: Detector, plane: int, coh: np.ndarray,
                      row_tpc: np.ndarray, dense_map: np.ndarray, start_index: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise excursions outside ROIs: Binomial(``n_live_outside``, ``noise_occupancy``) pixels.

    A pixel (r, c) of wire group g is drawn with probability ∝ P(σ_c z + coh(r, g) > T), T =
    :func:`noise_floor`: exactly, by drawing a (row, group) cell with weight
    n_normal(g) Q((T - coh)/σ) + n_noisy(g) Q((T - coh)/σ_noisy), then a normal or noisy wire
    of the group in proportion, then the wire uniformly (pixels already in the image are drawn
    again). Its value is the excursion, coh + σ_c z with z drawn above (T - coh) / σ_c.
    Returns (flat pixel, value); the pixels enter ``dense_map`` from ``start_index`` on.
    """
    ro = detector.readout
    occupancy, base_sigma = ro.noise_occupancy[plane], ro.noise_adc[plane]
    empty = np.zeros(0, np.int64), np.zeros(0)
    if occupancy <= 0 or base_sigma <= 0 or n_live_outside <= 0:
        return empty
    n_noise = int(rng.binomial(n_live_outside, occupancy))
    if n_noise == 0:
        return empty
    status = channel_status(detector, plane)
    ptr_norm, cols_norm, ptr_noisy, cols_noisy, n_norm, n_noisy = _noise_layout(detector, plane)
    threshold = noise_floor(detector, plane)
    w_cum = np.empty(coh.size)
    p_noisy = np.empty(coh.size)
    if not _cell_weights(np.ascontiguousarray(coh), threshold, base_sigma,
                         base_sigma * NOISY_WIRE_FACTOR, n_norm, n_noisy, row_tpc >= 0,
                         CDF_TABLE, w_cum, p_noisy):
        return empty
    return _noise_pixels(n_noise, start_index, dense_map, detector.image_wires, w_cum,
                         p_noisy, coh.shape[1], ptr_norm, cols_norm, ptr_noisy, cols_noisy,
                         status.sigma, coh, threshold, rng)
