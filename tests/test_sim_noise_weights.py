"""The one-pass noise-cell weights equal, bit for bit, the numpy expressions they replaced."""

from __future__ import annotations

import numpy as np

from larseg.detectors import get_detector
from larseg.sim.accumulate import CDF_TABLE, normal_cdf
from larseg.sim.noise import (NOISY_WIRE_FACTOR, _cell_weights, _noise_layout, channel_status,
                              coherent_table, noise_floor)
from larseg.sim.readout import row_tpc_map


def _numpy_weights(coh, threshold, sigma, n_norm, n_noisy, row_tpc):
    q_norm = 1.0 - normal_cdf(((threshold - coh) / sigma).ravel(), CDF_TABLE)
    q_noisy = 1.0 - normal_cdf(((threshold - coh) / (sigma * NOISY_WIRE_FACTOR)).ravel(),
                               CDF_TABLE)
    w_norm = q_norm.reshape(coh.shape) * n_norm[None, :]
    w_noisy = q_noisy.reshape(coh.shape) * n_noisy[None, :]
    w = (w_norm + w_noisy) * (row_tpc >= 0)[:, None]
    return np.cumsum(w), (w_noisy / np.where(w > 0, w, 1.0)).ravel(), bool(w.any())


def test_cell_weights_match_the_numpy_formula():
    det = get_detector("sbnd")
    row_tpc = row_tpc_map(det).copy()
    row_tpc[100:160] = -1  # rows of no TPC carry no weight
    for plane in range(det.n_planes):
        status = channel_status(det, plane)
        *_, n_norm, n_noisy = _noise_layout(det, plane)
        coh = coherent_table(det.image_rows, status, 3.0, np.random.default_rng(plane))
        sigma = det.readout.noise_adc[plane]
        threshold = noise_floor(det, plane)
        w_cum, p_noisy = np.empty(coh.size), np.empty(coh.size)
        positive = _cell_weights(coh, threshold, sigma, sigma * NOISY_WIRE_FACTOR, n_norm,
                                 n_noisy, row_tpc >= 0, CDF_TABLE, w_cum, p_noisy)
        ref_cum, ref_p, ref_positive = _numpy_weights(coh, threshold, sigma, n_norm, n_noisy,
                                                      row_tpc)
        assert positive is ref_positive is True
        assert w_cum.tobytes() == ref_cum.tobytes()
        assert p_noisy.tobytes() == ref_p.tobytes()


def test_coherent_table_in_place_is_the_scaled_draw():
    status = channel_status(get_detector("microboone"), 0)
    got = coherent_table(100, status, 0.7, np.random.default_rng(5))
    ref = np.random.default_rng(5).standard_normal((100, status.n_groups)) * 0.7
    assert got.tobytes() == ref.tobytes()
