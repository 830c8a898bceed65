"""Readout stage: deposits -> processed, labelled plane images (larseg.sim.readout)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from larseg.detectors import get_detector
from larseg.detectors.physics_constants import W_ION_EV
from larseg.errors import InvalidEventError
from larseg.event import Event, Particle
from larseg.labels import CosmicLabel, Origin, SemanticLabel
from larseg.sim.accumulate import CDF_TABLE, normal_cdf
from larseg.sim.assemble import row_major_order
from larseg.sim.noise import NOISY_WIRE_FACTOR, channel_status, dead_wire_mask
from larseg.sim.readout import (LABEL_THRESHOLD_ADC, drift_charge, noiseless, readout)
from larseg.sim.recombination import recombination
from larseg.sim.records import Deposits
from larseg.sim.response import line_deposits

SBND = get_detector("sbnd")
MUON = Particle(id=0, pdg=13, origin=Origin.COSMIC, semantic=int(SemanticLabel.MIP))


def _replace(det, **readout_changes):
    return dataclasses.replace(det, readout=dataclasses.replace(det.readout, **readout_changes))


# The readout's signal shapes are checked below MicroBooNE's 10 ADC zero suppression, which
# would cut their tails (the preset's own threshold: test_microboone_files_keep_pixels_from_10_adc).
UBOONE = _replace(get_detector("microboone"), storage_threshold_adc=0.5)


def _expected_adc_per_cm(det, plane: int, x: float, dedx: float = 2.1) -> float:
    """ADC per cm of MIP track from W, recombination, lifetime and gain (independent formula)."""
    t_drift = abs(x - det.tpcs[0].x_anode) / det.drift_velocity_cm_us
    electrons = dedx * 1e6 / W_ION_EV
    r = math.log(0.93 + 0.212 * dedx / (1.396 * det.drift_field_kV_cm)) / (
        0.212 * dedx / (1.396 * det.drift_field_kV_cm))
    return electrons * r * math.exp(-t_drift / det.readout.electron_lifetime_us) \
        * det.readout.adc_per_electron[plane]


# --------------------------------------------------------------------------- physics

def test_recombination_values():
    assert recombination(2.1, 0.5) == pytest.approx(0.70, abs=0.01)  # ArgoNeuT MIP at 500 V/cm
    r = recombination(np.array([2.1, 5.0, 10.0, 20.0, 40.0]), 0.273)
    assert np.all(np.diff(r) < 0)  # falls towards the Bragg peak
    assert r[3] < 0.4 and r[0] > 0.6
    assert recombination(0.01, 0.5) == recombination(1.0, 0.5)  # clipped, never negative
    assert 0 < recombination(0.01, 0.5) <= 1


def test_cdf_table_matches_erf():
    x = np.linspace(-7, 7, 2001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert np.max(np.abs(normal_cdf(x, CDF_TABLE) - exact)) < 1e-6


def test_charge_scale_mip_perpendicular_to_y_wires():
    """A MIP along z at fixed drift: ADC per Y wire = 0.3 cm x 2.1 MeV/cm / W x R x e^-t/τ x gain,
    and its pixels follow the Gaussian of σ² = σ_L² + time resolution² over row bins."""
    # no zero suppression: the 10 ADC of MicroBooNE's files would cut the rows' tails
    det = noiseless(_replace(UBOONE, storage_threshold_adc=0.0))
    x = 120.0
    deps = line_deposits((x, 10.0, 400.0), (x, 10.0, 460.0))
    y = readout(deps, [MUON], det, np.random.default_rng(0))[2].dense()
    cols = np.arange(1340, 1520)  # inner wires of the segment (z = 402..456 cm)
    per_wire = y[:, cols].sum(axis=0)
    expected = _expected_adc_per_cm(det, 2, x) * 0.3
    np.testing.assert_allclose(per_wire, expected, rtol=0.02)
    # per pixel: integrate the expected Gaussian over the row bins
    d = drift_charge(deps, det)
    row = float(d.rows[0])
    sigma = math.hypot(float(d.sigma_long_px[0]), det.readout.time_resolution_px[2])
    rows = np.arange(int(row) - 3, int(row) + 5)
    cdf = [0.5 * math.erfc(-(r - row) / (sigma * math.sqrt(2))) for r in np.r_[rows - 0.5, rows[-1] + 0.5]]
    pixel_expected = expected * np.diff(cdf)
    measured = y[rows][:, cols].mean(axis=1)
    big = pixel_expected > 5.0
    assert big.sum() >= 2
    np.testing.assert_allclose(measured[big], pixel_expected[big], rtol=0.03)


def test_lifetime_attenuation():
    # no zero suppression: the far track's faint row tails (< 0.5 ADC) would be cut
    det = noiseless(_replace(UBOONE, electron_lifetime_us=1000.0, storage_threshold_adc=0.0))
    near = line_deposits((20.0, 0.0, 300.0), (20.0, 0.0, 330.0))
    far = line_deposits((220.0, 0.0, 600.0), (220.0, 0.0, 630.0))
    far.particle[:] = 1
    planes = readout(Deposits.concatenate([near, far]),
                     [MUON, dataclasses.replace(MUON, id=1)], det, np.random.default_rng(0))
    y = planes[2].dense()
    q_near = y[:, 1005:1095].sum(axis=0).mean()
    q_far = y[:, 2005:2095].sum(axis=0).mean()
    dt = 200.0 / det.drift_velocity_cm_us
    assert q_far / q_near == pytest.approx(math.exp(-dt / 1000.0), rel=0.01)
    assert q_near == pytest.approx(_expected_adc_per_cm(det, 2, 20.0) * 0.3, rel=0.02)


def test_diffusion_widths():
    """Row and column spreads grow as sqrt(2 D t) (D enlarged so the widths are ~1 pixel)."""
    det = noiseless(_replace(UBOONE, diffusion_long_cm2_us=3e-5, diffusion_trans_cm2_us=4e-5,
                             time_resolution_px=(0.0, 0.0, 0.0)))
    x = 230.0
    t = x / det.drift_velocity_cm_us
    # along z at fixed x: the row profile is longitudinal diffusion only
    y = readout(line_deposits((x, 0.0, 300.0), (x, 0.0, 360.0)), [MUON], det,
                np.random.default_rng(0))[2].dense()
    prof = y[:, 1010:1190].sum(axis=1)
    r = np.arange(prof.size)
    m = (prof * r).sum() / prof.sum()
    var_rows = (prof * (r - m) ** 2).sum() / prof.sum() - 1 / 12  # Sheppard's correction
    sigma_l = math.sqrt(2 * 3e-5 * t) / det.tick_pitch
    assert math.sqrt(var_rows) == pytest.approx(sigma_l, rel=0.08)
    # along y at the centre of a Y wire: the column profile is transverse diffusion only
    z_wire = det.planes[2].wire0_coordinate + 1500 * det.planes[2].pitch
    y = readout(line_deposits((x, -50.0, z_wire), (x, 50.0, z_wire)), [MUON], det,
                np.random.default_rng(0))[2].dense()
    prof = y.sum(axis=0)
    c = np.arange(prof.size)
    m = (prof * c).sum() / prof.sum()
    assert m == pytest.approx(1500, abs=0.05)
    var_cols = (prof * (c - m) ** 2).sum() / prof.sum() - 1 / 12
    sigma_t = math.sqrt(2 * 4e-5 * t) / det.planes[2].pitch
    assert math.sqrt(var_cols) == pytest.approx(sigma_t, rel=0.08)


def test_projection_of_a_point_same_row_and_wire_numbers():
    det = noiseless(UBOONE)
    p = (100.0, 30.0, 500.0)
    deps = Deposits([p[0]], [p[1]], [p[2]], [0.0], [1.0], [2.1], [0])
    planes = readout(deps, [MUON], det, np.random.default_rng(0))
    _, rows, cols, _ = det.project(*[np.array([v]) for v in (*p, 0.0)])
    peaks = []
    for img in planes:
        i = int(np.argmax(img.values))
        peaks.append(tuple(img.coords[i]))
    assert len({r for r, _ in peaks}) == 1  # all planes see it at the same drift time
    assert peaks[0][0] == int(np.floor(rows[0] + 0.5))
    for k, wp in enumerate(det.planes):
        py, pz = wp.pitch_direction
        wire = (py * p[1] + pz * p[2] - wp.wire0_coordinate) / wp.pitch
        assert cols[k, 0] == pytest.approx(wire + wp.image_offset)
        assert peaks[k][1] == int(np.floor(wire + 0.5)) + wp.image_offset
    assert peaks[2][1] == round((p[2] - det.planes[2].wire0_coordinate) / 0.3)
    assert peaks[0][1] != peaks[1][1]  # U and V see the point on different wires


def test_sbnd_tpcs_fill_their_own_row_bands():
    det = noiseless(SBND)
    a = line_deposits((-1.0, 0.0, 200.0), (-1.0, 0.0, 220.0))    # TPC 0, next to the cathode
    b = line_deposits((150.0, 0.0, 300.0), (150.0, 0.0, 320.0))  # TPC 1
    b.particle[:] = 1
    planes = readout(Deposits.concatenate([a, b]), [MUON, dataclasses.replace(MUON, id=1)],
                     det, np.random.default_rng(0))
    for img in planes:
        rows_a = img.coords[img.instance == 0, 0]
        rows_b = img.coords[img.instance == 1, 0]
        assert rows_a.size and rows_b.size
        assert rows_a.max() < 640 and rows_a.min() > 600   # near the cathode, top band
        assert rows_b.min() >= 640                          # bottom band
        expected_b = 1280 - (200.0 - 150.0) / det.tick_pitch - 0.5  # 50 cm from the anode
        assert abs(np.median(rows_b) - expected_b) < 2


# --------------------------------------------------------------------------- labels

def _overlap_event():
    """A cosmic muon along z and a neutrino proton crossing it, plus a delta ray."""
    mu = line_deposits((100.0, 0.0, 300.0), (100.0, 0.0, 400.0), particle=0)
    p = line_deposits((60.0, -20.0, 350.0), (140.0, 20.0, 352.0), dedx=8.0, particle=1)
    e = line_deposits((100.0, 0.0, 320.0), (104.0, 3.0, 321.0), dedx=2.5, particle=2)
    parts = [MUON,
             Particle(id=1, pdg=2212, origin=Origin.NEUTRINO, semantic=int(SemanticLabel.HIP)),
             Particle(id=2, pdg=11, origin=Origin.COSMIC, parent_id=0, ancestor_id=0,
                      process="muIoni")]  # semantic left unset: derived from pdg/process
    return Deposits.concatenate([mu, p, e]), parts


@pytest.mark.parametrize("quiet", [True, False])
def test_label_consistency(quiet):
    deps, parts = _overlap_event()
    det = noiseless(UBOONE) if quiet else UBOONE
    planes = readout(deps, parts, det, np.random.default_rng(5))
    Event(1, 0, 0, det.meta(), planes, particles=parts).validate()
    n_both = 0
    for img in planes:
        lab = img.instance >= 0
        assert lab.sum() > 100
        assert np.all(img.values[lab] >= det.readout.storage_threshold_adc)  # labelled => charge
        assert np.all(img.cosmic[~lab] == CosmicLabel.BACKGROUND)
        assert np.all(img.semantic[~lab] == -1)
        assert np.all(img.cosmic[lab] != CosmicLabel.BACKGROUND)
        sem_of = np.array([SemanticLabel.MIP, SemanticLabel.HIP, SemanticLabel.DELTA])
        np.testing.assert_array_equal(img.semantic[lab], sem_of[img.instance[lab]])
        pc = img.particle_charge
        assert np.all(np.diff(pc.pixel) >= 0)  # grouped by pixel
        assert set(np.unique(pc.pixel)) == set(np.flatnonzero(lab))
        true = np.bincount(pc.pixel, weights=pc.charge, minlength=len(img))
        assert np.all(true[lab] >= LABEL_THRESHOLD_ADC * (1 - 1e-6))
        if quiet:  # without noise the written value is the true charge
            np.testing.assert_allclose(true[lab], img.values[lab], rtol=1e-5)
        # instance = the particle with most charge in the pixel
        dense_q = np.zeros((len(img), 3))
        np.add.at(dense_q, (pc.pixel, pc.particle), pc.charge)
        np.testing.assert_array_equal(np.argmax(dense_q[lab], axis=1), img.instance[lab])
        # neutrino precedence: any neutrino charge (≥ threshold) makes the pixel neutrino
        has_nu = dense_q[:, 1] >= 0.5
        has_cos = (dense_q[:, 0] >= 0.5) | (dense_q[:, 2] >= 0.5)
        both = lab & has_nu & has_cos
        # the proton crosses the muon: shared pixels on every plane, unless (with dead wires)
        # the crossing falls on a dead one; at least one plane always keeps some
        assert both.sum() > 0 or not quiet
        n_both += int(both.sum())
        assert np.all(img.cosmic[both] == CosmicLabel.NEUTRINO)
        assert not both.any() or np.any(img.instance[both] == 0)  # even where the muon dominates
        assert np.all(img.cosmic[lab & has_cos & ~has_nu] == CosmicLabel.COSMIC)
        # coords sorted row-major, unique
        flat = img.flat_index
        assert np.all(np.diff(flat) > 0)
    assert n_both > 0


def test_particle_charge_sums_to_true_signal():
    deps, parts = _overlap_event()
    det = noiseless(UBOONE)
    planes = readout(deps, parts, det, np.random.default_rng(0))
    y = planes[2]
    lab = y.instance >= 0
    # pixels below the label threshold hold little: labelled charge is almost all of it
    assert y.particle_charge.charge.sum() == pytest.approx(y.values.sum(), rel=0.01)
    assert y.values[~lab].max() < LABEL_THRESHOLD_ADC


def test_deposits_order_does_not_matter():
    deps, parts = _overlap_event()
    det = noiseless(UBOONE)
    a = readout(deps, parts, det, np.random.default_rng(0))
    # particles interleaved (each one's own deposits still in order): identical images
    idx = np.arange(len(deps))
    runs = [idx[deps.particle == p] for p in range(3)]
    halves = [np.array_split(r, 2) for r in runs]
    perm = np.concatenate([halves[0][0], halves[1][0], halves[0][1], halves[2][0],
                           halves[1][1], halves[2][1]])
    b = readout(deps.select(perm), parts, det, np.random.default_rng(0))
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.coords, pb.coords)
        np.testing.assert_allclose(pa.values, pb.values, rtol=1e-5)
        np.testing.assert_array_equal(pa.instance, pb.instance)
        np.testing.assert_array_equal(pa.cosmic, pb.cosmic)
    # fully shuffled: deposits are merged differently, the image is the same within rounding
    perm = np.random.default_rng(1).permutation(len(deps))
    c = readout(deps.select(perm), parts, det, np.random.default_rng(0))
    for pa, pc in zip(a, c):
        assert pc.values.sum() == pytest.approx(pa.values.sum(), rel=2e-3)
        np.testing.assert_allclose(pc.dense(), pa.dense(), atol=0.05 * pa.values.max())


def test_bad_particle_id_is_reported():
    deps = line_deposits((100.0, 0.0, 300.0), (100.0, 0.0, 310.0), particle=3)
    with pytest.raises(InvalidEventError, match="deposits.particle"):
        readout(deps, [MUON], UBOONE, np.random.default_rng(0))


def test_saturation():
    det = noiseless(UBOONE)
    deps = Deposits([100.0], [0.0], [300.0], [0.0], [200.0], [2.1], [0])
    img = readout(deps, [MUON], det, np.random.default_rng(0))[2]
    assert img.values.max() == pytest.approx(det.readout.saturation_adc)


# --------------------------------------------------------------------------- noise, dead wires

def test_dead_wires_are_empty_and_grouped():
    deps, parts = _overlap_event()
    long_mu = line_deposits((100.0, 0.0, 10.0), (100.0, 0.0, 1030.0), particle=0)
    deps = Deposits.concatenate([long_mu, deps])
    planes = readout(deps, parts, UBOONE, np.random.default_rng(2))
    for img in planes:
        status = channel_status(UBOONE, img.plane)
        wp = UBOONE.planes[img.plane]
        frac = status.dead[wp.image_offset:wp.image_offset + wp.n_wires].mean()
        assert frac == pytest.approx(UBOONE.readout.dead_wire_fraction[img.plane], abs=0.002)
        assert not status.dead[img.coords[:, 1]].any()
    mask = dead_wire_mask(3000, 0.1, np.random.default_rng(0))
    assert mask.sum() == 300
    runs = np.count_nonzero(np.diff(mask.astype(int)) == 1)
    assert runs < 150  # contiguous groups, not scattered single wires


def test_noise_rms_and_coherence():
    """Residual noise on signal pixels: σ² = noise² + coherent², shared within a wire group."""
    det = _replace(UBOONE, dead_wire_fraction=(0.0, 0.0, 0.0))
    deps = Deposits.concatenate([line_deposits((20.0 + 20 * k, 0.0, 10.0),
                                               (20.0 + 20 * k, 0.0, 1030.0), particle=0)
                                 for k in range(6)])
    quiet = readout(deps, [MUON], noiseless(det), np.random.default_rng(0))[0]
    noisy = readout(deps, [MUON], det, np.random.default_rng(0))[0]
    ref = dict(zip(map(tuple, quiet.coords), quiet.values))
    status = channel_status(det, 0)
    diffs, keys = [], []
    for (r, c), v in zip(map(tuple, noisy.coords), noisy.values):
        t = ref.get((r, c), 0.0)
        if t > 30.0 and not status.noisy[c]:  # clear signal: never zero-suppressed
            diffs.append(v - t)
            keys.append((r, status.group[c]))
    diffs = np.array(diffs)
    assert diffs.size > 3000
    expected = math.hypot(det.readout.noise_adc[0], det.readout.coherent_noise_adc[0])
    assert abs(diffs.mean()) < 0.2
    assert diffs.std() == pytest.approx(expected, rel=0.05)
    # pairs in the same (row, group) share the coherent part
    by_key: dict = {}
    for d, k in zip(diffs, keys):
        by_key.setdefault(k, []).append(d)
    prods = []
    for a in by_key.values():
        a = np.asarray(a)
        if a.size >= 2:  # mean of d_i d_j over the pairs i < j
            prods.append(((a.sum() ** 2 - (a ** 2).sum()) / 2, a.size * (a.size - 1) / 2))
    num, den = np.sum(prods, axis=0)
    assert den > 2000
    assert num / den == pytest.approx(det.readout.coherent_noise_adc[0] ** 2, abs=0.4)
    assert NOISY_WIRE_FACTOR > 1


def test_noise_only_pixels_occupancy():
    det = SBND
    planes = readout(Deposits.empty(), [], det, np.random.default_rng(3))
    for img in planes:
        status = channel_status(det, img.plane)
        n_live = det.image_rows * int(status.live.sum())
        expected = det.readout.noise_occupancy[img.plane] * n_live
        assert abs(len(img) - expected) < 5 * math.sqrt(expected)
        assert np.all(img.cosmic == CosmicLabel.BACKGROUND) and np.all(img.instance == -1)
        assert len(img.particle_charge) == 0
        assert img.values.min() >= det.readout.storage_threshold_adc
        assert not status.dead[img.coords[:, 1]].any()
        # noisy wires hold many more noise pixels than their share of wires
        on_noisy = status.noisy[img.coords[:, 1]].mean()
        assert on_noisy > 5 * status.noisy.sum() / status.live.sum()


def test_determinism_under_seed():
    deps, parts = _overlap_event()
    a = readout(deps, parts, UBOONE, np.random.default_rng(11))
    b = readout(deps, parts, UBOONE, np.random.default_rng(11))
    c = readout(deps, parts, UBOONE, np.random.default_rng(12))
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.coords, pb.coords)
        np.testing.assert_array_equal(pa.values, pb.values)
        np.testing.assert_array_equal(pa.particle_charge.charge, pb.particle_charge.charge)
    assert any(len(pa) != len(pc) or not np.array_equal(pa.values, pc.values)
               for pa, pc in zip(a, c))


def test_row_major_order():
    flat = np.random.default_rng(0).integers(0, 50 * 70, 5000)
    order = row_major_order(flat, 50, 70)
    np.testing.assert_array_equal(flat[order], np.sort(flat))
    np.testing.assert_array_equal(order, np.argsort(flat, kind="stable"))


def test_microboone_files_keep_pixels_from_10_adc():
    """MicroBooNE's zero suppression is its processed images' 10 ADC noise floor."""
    from larseg.sim.simulate import SimulationJob, simulate_event

    ev = simulate_event(SimulationJob("microboone", "cosmics", seed=8), 0)
    values = np.concatenate([img.values for img in ev.planes])
    assert values.size > 10_000 and values.min() >= 10.0


def test_labels_can_take_the_charge_as_it_arrives_at_the_wires():
    """``label_time_resolution_px`` = 0 (SBND): the same charge, labels only where the diffused
    ionisation arrives (LArSoft's SimChannel footprint), the pulse's flanks left unlabelled."""
    assert SBND.readout.label_time_resolution_px == (0.0, 0.0, 0.0)  # the SBND preset's
    det = noiseless(_replace(SBND, storage_threshold_adc=0.5, label_time_resolution_px=None))
    arrival = _replace(det, label_time_resolution_px=(0.0, 0.0, 0.0))
    # ~10 cm from TPC 0's anode (σ_L ≈ 0.1 row, far below the pulse's 0.45), in a row's centre
    x = -190.0
    row = float(drift_charge(line_deposits((x, 10.0, 100.0), (x, 10.0, 101.0)), det).rows[0])
    x -= (row - round(row)) * det.tick_pitch
    deps = line_deposits((x, 10.0, 100.0), (x, 10.0, 160.0))
    a = readout(deps, [MUON], det, np.random.default_rng(0))[2]
    b = readout(deps, [MUON], arrival, np.random.default_rng(0))[2]
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.values, b.values)  # the charge is the same
    la, lb = a.instance >= 0, b.instance >= 0
    assert lb.sum() > 100 and not (lb & ~la).any()    # fewer labelled voxels, none new
    rows_a = np.unique(a.coords[la, 0]).size
    rows_b = np.unique(b.coords[lb, 0]).size
    assert rows_a == 3 and rows_b == 1                 # the pulse's ±1 row is the flanks'
    assert (b.cosmic[~lb] == CosmicLabel.BACKGROUND).all() and (b.semantic[~lb] == -1).all()
    # the labelled voxels still carry all the true charge (it is concentrated, not lost)
    assert b.particle_charge.charge.sum() == pytest.approx(b.values.sum(), rel=0.01)
    assert b.particle_charge.charge.sum() == pytest.approx(a.particle_charge.charge.sum(),
                                                            rel=0.01)
