"""The explicit raw-response + deconvolution chain (larseg.sim.response) and the fast model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from larseg.detectors import get_detector
from larseg.event import Particle
from larseg.labels import Origin, SemanticLabel
from larseg.sim.readout import noiseless, readout
from larseg.sim.response import (RESPONSE, deconvolve, electronics_response, field_response,
                                 line_deposits, raw_waveforms, slow_plane_pixels)

# below MicroBooNE's 10 ADC zero suppression, which would cut the pulses' tails
UBOONE = noiseless(get_detector("microboone"))
UBOONE = dataclasses.replace(UBOONE, readout=dataclasses.replace(UBOONE.readout,
                                                                 storage_threshold_adc=0.5))
MUON = Particle(id=0, pdg=13, origin=Origin.COSMIC, semantic=int(SemanticLabel.MIP))
TICK = 0.5
N_TICKS = 6048
Q = 17_000.0  # electrons of a MIP on one 3 mm wire at 273 V/cm


def _pulse(n_wires: int = 1) -> np.ndarray:
    t = np.arange(N_TICKS)
    q = np.exp(-0.5 * ((t - 3000.3) / 1.5) ** 2)
    return np.repeat((q * Q / q.sum())[None, :], n_wires, axis=0)


def test_response_shapes_have_the_right_integrals():
    t = np.arange(-40, 41) * TICK
    coll = field_response(t, collection=True)
    ind = field_response(t, collection=False)
    assert coll.sum() == pytest.approx(1.0, abs=1e-9)          # collects the charge
    assert np.all(coll >= 0)
    assert ind.sum() == pytest.approx(0.0, abs=1e-9)           # bipolar: integrates to zero
    assert 0.5 < ind[ind > 0].sum() <= 1.0  # the induced charge peaks below the drifting charge
    assert t[np.argmax(ind)] < 0 < t[np.argmin(ind)]           # positive lobe first
    te = np.arange(0, 40, 0.01)
    e = electronics_response(te)
    assert te[np.argmax(e)] == pytest.approx(RESPONSE.peaking_time_us, abs=0.02)
    assert e.max() == pytest.approx(RESPONSE.adc_per_electron_peak)


@pytest.mark.parametrize("collection", [True, False])
def test_deconvolution_recovers_charge_without_noise(collection):
    raw = raw_waveforms(_pulse(), TICK, collection)
    if not collection:
        assert raw.min() < -0.5 * raw.max()  # the raw induction signal is bipolar
    dec = deconvolve(raw, TICK, collection, sigma_ticks=2.4)
    assert dec.sum() == pytest.approx(Q, rel=0.01)
    assert dec.min() > -0.01 * dec.max()  # processed: positive charge on both plane kinds
    assert abs(np.argmax(dec[0]) - 3000) <= 1


@pytest.mark.parametrize("collection, raw_noise", [(True, 2.0), (False, 1.0)])
def test_deconvolution_recovers_charge_with_noise(collection, raw_noise):
    """Mean over 300 noisy wires within a few % (each wire scatters by the noise: ~10 % on
    collection, ~20 % on induction, whose deconvolution amplifies low-frequency noise)."""
    raw = raw_waveforms(_pulse(300), TICK, collection, np.random.default_rng(7), raw_noise)
    dec = deconvolve(raw, TICK, collection, sigma_ticks=2.4)
    sums = dec[:, 2950:3050].sum(axis=1)
    assert sums.mean() == pytest.approx(Q, rel=0.05)
    assert np.median(sums) == pytest.approx(Q, rel=0.05)
    assert sums.std() > 0.01 * Q  # the noise is really there


def _track(plane: int):
    """A MIP segment along z at x = 100 cm and the columns of its inner wires on ``plane``."""
    deps = line_deposits((100.0, 5.0, 300.0), (100.0, 5.0, 345.0))
    fast = readout(deps, [MUON], UBOONE, np.random.default_rng(0))[plane].dense()
    cols = np.flatnonzero(fast.sum(axis=0) > 0)
    return deps, fast, cols[5:-5][:20]


@pytest.mark.parametrize("plane", [0, 2])
def test_fast_path_agrees_with_slow_path_per_wire(plane):
    deps, fast, cols = _track(plane)
    slow = slow_plane_pixels(deps, UBOONE, plane, cols)
    rows = np.flatnonzero(fast[:, cols].sum(axis=1) > 0)
    window = slice(rows.min() - 3, rows.max() + 4)
    f_wire = fast[window][:, cols].sum(axis=0)
    s_wire = slow[window].sum(axis=0)
    assert len(cols) == 20
    np.testing.assert_allclose(f_wire, s_wire, rtol=0.05)
    peak = fast[:, cols].max(axis=0)
    np.testing.assert_allclose(slow.max(axis=0), peak, rtol=0.05)
    # same rows: the processed signal sits where the fast model puts it
    np.testing.assert_array_equal(np.argmax(slow, axis=0), np.argmax(fast[:, cols], axis=0))


@pytest.mark.parametrize("plane, raw_noise", [(0, 1.0), (2, 2.0)])
def test_fast_path_agrees_with_noisy_slow_path_on_average(plane, raw_noise):
    deps, fast, cols = _track(plane)
    slow = slow_plane_pixels(deps, UBOONE, plane, cols, rng=np.random.default_rng(3),
                             raw_noise_adc=raw_noise)
    rows = np.flatnonzero(fast[:, cols].sum(axis=1) > 0)
    window = slice(rows.min() - 3, rows.max() + 4)
    ratio = slow[window].sum() / fast[window][:, cols].sum()
    assert ratio == pytest.approx(1.0, rel=0.08)


def test_slow_path_is_deterministic_and_model_is_configurable():
    deps, _, cols = _track(2)
    a = slow_plane_pixels(deps, UBOONE, 2, cols[:3], rng=np.random.default_rng(1), raw_noise_adc=2)
    b = slow_plane_pixels(deps, UBOONE, 2, cols[:3], rng=np.random.default_rng(1), raw_noise_adc=2)
    np.testing.assert_array_equal(a, b)
    wide = dataclasses.replace(RESPONSE, collection_sigma_us=1.2)
    c = slow_plane_pixels(deps, UBOONE, 2, cols[:3], model=wide)
    d = slow_plane_pixels(deps, UBOONE, 2, cols[:3])
    # deconvolution removes the field response: a wider current pulse gives the same image
    np.testing.assert_allclose(c.sum(axis=0), d.sum(axis=0), rtol=0.01)
