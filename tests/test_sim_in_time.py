"""The cosmic generator's readout-time filter: a dropped ray could not have left charge in the
image, a kept one can, and neutral rays are always kept."""

import numpy as np
import pytest

from larseg.detectors import get_detector
from larseg.sim.generators import get_generator
from larseg.sim.generators.in_time import MARGIN_CM, MARGIN_US, reaches_image
from larseg.sim.readout import readout
from larseg.sim.transport import transport

UB = get_detector("microboone")
SBND = get_detector("sbnd")


def _vertical(detector, x: float, t: float):
    (_, _), (_, y1), (z0, z1) = detector.bounds
    start = np.array([[x, y1 - 1e-3, 0.5 * (z0 + z1)]])
    return start, np.array([[0.0, -1.0, 0.0]]), np.array([t])


@pytest.mark.parametrize("offset_us, kept", [(-MARGIN_US - 50.0, False), (-MARGIN_US + 5.0, True),
                                             (0.0, True), (1500.0, True),
                                             (MARGIN_US - 5.0, True), (MARGIN_US + 50.0, False)])
def test_a_vertical_ray_is_kept_when_its_charge_arrives_during_the_readout(offset_us, kept):
    ro = UB.readout
    tpc = UB.tpcs[0]
    x = 100.0
    # the margin in x widens the drift distances by MARGIN_CM each way
    drift_near = (x - MARGIN_CM - tpc.x_anode) / UB.drift_velocity_cm_us
    drift_far = (x + MARGIN_CM - tpc.x_anode) / UB.drift_velocity_cm_us
    start_us, end_us = ro.window_start_us, ro.window_start_us + tpc.n_rows * ro.pixel_us
    if offset_us < 0:        # arrives before the window opens
        t = start_us - drift_far + offset_us
    elif offset_us > 1000:   # in the middle of the window
        t = start_us + offset_us - x / UB.drift_velocity_cm_us
    else:                    # after the window closes (offset 0: just at its end)
        t = end_us - drift_near + offset_us
    assert reaches_image(UB, *_vertical(UB, x, t))[0] == kept


def test_a_ray_that_crosses_no_tpc_is_dropped():
    start = np.array([[-500.0, 0.0, 500.0]])
    assert not reaches_image(UB, start, np.array([[0.0, -1.0, 0.0]]), np.array([0.0]))[0]


def test_both_sbnd_tpcs_are_considered():
    # SBND's cathode is at x = 0, the anodes at ±202 cm: a ray drifting from each side
    for x in (-100.0, 100.0):
        start, d, _ = _vertical(SBND, x, 0.0)
        assert reaches_image(SBND, start, d, np.array([0.0]))[0]
        assert not reaches_image(SBND, start, d, np.array([-1e5]))[0]


def test_dropped_rays_leave_no_charge_in_the_image():
    """Every charged ray the filter drops, transported alone, puts no true charge in any plane."""
    gen = get_generator("cosmics", in_time_only=False)
    rng = np.random.default_rng(3)
    dropped = []
    for _ in range(4):
        for p in gen.generate(UB, rng).primaries:
            keep = reaches_image(UB, np.array([p.position]), np.array([p.direction]),
                                 np.array([p.time]))[0]
            if not keep and p.pdg != 2112:
                dropped.append(p)
    assert len(dropped) >= 10
    for p in dropped[:12]:
        particles, deposits = transport([p], UB, rng)
        assert len(deposits) > 0  # it did deposit energy in the argon, only not in time
        planes = readout(deposits, particles, UB, rng)
        assert all(len(img.particle_charge) == 0 for img in planes), p


def test_the_filter_drops_a_third_of_the_microboone_window_and_keeps_neutrons():
    every = get_generator("cosmics", in_time_only=False)
    in_time = get_generator("cosmics")
    n_all = [len(every.generate(UB, np.random.default_rng(s)).primaries) for s in range(40)]
    kept = [in_time.generate(UB, np.random.default_rng(s)).primaries for s in range(40)]
    ratio = sum(map(len, kept)) / sum(n_all)
    assert 0.55 < ratio < 0.85, ratio
    # the same draws: the kept rays are a subset of every ray, in the same order of time
    for s in range(3):
        a = every.generate(UB, np.random.default_rng(s)).primaries
        b = in_time.generate(UB, np.random.default_rng(s)).primaries
        assert {(p.pdg, p.time) for p in b} <= {(p.pdg, p.time) for p in a}
        assert [p for p in a if p.pdg == 2112] == [p for p in b if p.pdg == 2112]
