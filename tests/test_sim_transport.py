"""The transport through real stepping: ranges, Bragg peak, scattering, showers, decays, and the
particle table it returns."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from larseg.detectors import get_detector
from larseg.event import semantic_of
from larseg.labels import Origin, SemanticLabel
from larseg.sim import physics as ph
from larseg.sim.records import Deposits, Primary
from larseg.sim.transport import TransportConfig, transport

UB = get_detector("microboone")
START = (128.0, 0.0, 100.0)           # middle of MicroBooNE's active volume, 1 m from its front
Z = (0.0, 0.0, 1.0)
BARE = TransportConfig(fluctuations=False, delta_rays=False, mcs=False, hadronic=False,
                       decays=False)
STRAIGHT = TransportConfig(mcs=False, hadronic=False, decays=False)


def run(prims, seed=0, config=None, det=UB):
    return transport(prims, det, np.random.default_rng(seed), config)


def slab(thickness: float):
    """MicroBooNE with its active volume cut to a slab 0 ≤ z < thickness (wide in x and y)."""
    tpc = dataclasses.replace(UB.tpcs[0], x_anode=-500.0, x_cathode=500.0,
                              y_range=(-500.0, 500.0), z_range=(0.0, thickness))
    return dataclasses.replace(UB, tpcs=(tpc,))


def length(p) -> float:
    return float(np.linalg.norm(np.subtract(p.end[:3], p.start[:3])))


@pytest.mark.parametrize("pdg", [13, 211, 2212])
@pytest.mark.parametrize("T", [10.0, 100.0, 500.0])
def test_stopping_track_length_is_the_csda_range(pdg, T):
    parts, _ = run([Primary(pdg, START, Z, T)], config=BARE)
    assert length(parts[0]) == pytest.approx(ph.range_of(pdg, T)[0], rel=0.03)


@pytest.mark.parametrize("pdg", [13, 211, 2212])
@pytest.mark.parametrize("T", [50.0, 300.0])
def test_mean_track_length_with_fluctuations_and_delta_rays(pdg, T):
    lengths = [length(run([Primary(pdg, START, Z, T)], seed=s, config=STRAIGHT)[0][0])
               for s in range(60)]
    R = ph.range_of(pdg, T)[0]
    assert np.mean(lengths) == pytest.approx(R, rel=0.03)
    assert 0.003 < np.std(lengths) / R < 0.08            # range straggling


def test_bragg_peak_at_the_end_of_a_proton_track():
    parts, dep = run([Primary(2212, START, Z, 200.0)], config=TransportConfig(hadronic=False))
    own = dep.particle == 0
    s = np.linalg.norm(np.stack([dep.x, dep.y, dep.z], 1)[own] - np.array(START), axis=1)
    L = length(parts[0])
    mip = ph.stopping_power(350.0, ph.MUON_MASS)[0]          # ≈ 2.1 MeV/cm
    last_cm = dep.energy[own][s > L - 1.0].sum()
    first_10cm = dep.energy[own][s < 10.0].sum() / 10.0
    assert last_cm > 5 * mip
    assert last_cm > 3 * first_10cm
    assert dep.dedx[own][np.argmax(s)] > 10 * mip           # the last step


def test_multiple_scattering_follows_highland():
    p, L = 1000.0, ph.RADIATION_LENGTH_CM
    T = np.hypot(p, ph.MUON_MASS) - ph.MUON_MASS
    det = slab(L)
    cfg = TransportConfig(fluctuations=False, delta_rays=False, hadronic=False, decays=False)
    x_exit = [run([Primary(13, (0.0, 0.0, 0.0), Z, T)], seed=s, config=cfg, det=det)[0][0].end[0]
              for s in range(1500)]
    beta = p / np.hypot(p, ph.MUON_MASS)
    # lateral displacement after a thickness L: RMS = L θ0 / √3 (PDG eq. 34.20)
    theta_eff = np.std(x_exit) * np.sqrt(3.0) / L
    assert theta_eff == pytest.approx(ph.highland_theta0(p, beta, L), rel=0.10)
    no_mcs = [run([Primary(13, (0.0, 0.0, 0.0), Z, T)], seed=s, det=det,
                  config=dataclasses.replace(cfg, mcs=False))[0][0].end[0] for s in range(5)]
    assert np.allclose(no_mcs, 0.0)


def _profile(pdg: int, E: float, n: int, seed0: int = 0):
    edges = np.arange(0.0, 25.0, 0.25)
    prof = np.zeros(edges.size - 1)
    inside_rm, total = [], []
    for s in range(n):
        _, dep = run([Primary(pdg, START, Z, E)], seed=seed0 + s)
        t = (dep.z - START[2]) / ph.RADIATION_LENGTH_CM
        prof += np.histogram(t, edges, weights=dep.energy)[0]
        r = np.hypot(dep.x - START[0], dep.y - START[1])
        inside_rm.append([dep.energy[r < k * ph.MOLIERE_RADIUS_CM].sum() / dep.energy.sum()
                          for k in (1, 2)])
        total.append(dep.energy.sum())
    smooth = np.convolve(prof, np.ones(3) / 3, mode="same")
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres[np.argmax(smooth)], np.mean(inside_rm, axis=0), np.array(total)


@pytest.mark.parametrize("pdg", [11, 22])
@pytest.mark.parametrize("E", [200.0, 1000.0])
def test_shower_maximum_follows_ln_e_over_ec(pdg, E):
    t_max, _, total = _profile(pdg, E, 60)
    # PDG eq. 34.36 is Rossi's approximation B, which full cascade simulations follow to
    # ~10-20 %; this transport's maxima (0.25 X0 bins) lie within 14 % of it (was ±0.6 X0,
    # i.e. ±46 % at 200 MeV)
    assert t_max == pytest.approx(ph.shower_max(E, photon=pdg == 22), rel=0.2)
    assert total.mean() > 0.98 * E                  # contained: all the energy is deposited


def test_moliere_containment():
    _, (in1, in2), _ = _profile(11, 1000.0, 30, seed0=100)
    # ≈ 90 % within one Molière radius (PDG); this cascade gives ≈ 86 %
    assert 0.80 < in1 < 0.95
    assert in2 > 0.92


def test_photon_conversion_distance():
    cheap = TransportConfig(e_cut=50.0, gamma_cut=50.0, brems_cut=50.0)
    d = np.array([run([Primary(22, START, Z, 1000.0)], seed=s, config=cheap)[0][0].end[2]
                  for s in range(800)]) - START[2]
    lam = ph.photon_mean_free_path(1000.0)[0]
    assert d.mean() == pytest.approx(lam, rel=0.05)
    assert d.std() == pytest.approx(d.mean(), rel=0.1)             # exponential
    # 9/7 X0 ≈ 18 cm in the high-energy limit; 1 GeV is a few % short of it
    assert 9 / 7 * ph.RADIATION_LENGTH_CM < lam < 1.1 * 9 / 7 * ph.RADIATION_LENGTH_CM


def test_stopping_mu_plus_gives_a_michel_positron():
    energies, delays = [], []
    for s in range(150):
        parts, dep = run([Primary(-13, START, Z, 30.0)], seed=s)
        michel = [p for p in parts if p.parent_id == 0 and p.process == "Decay"]
        assert len(michel) == 1
        m = michel[0]
        assert m.pdg == -11 and m.semantic == SemanticLabel.MICHEL
        energies.append(m.energy_init)
        delays.append(m.start[3] - parts[0].end[3])
        assert np.all(dep.energy[dep.particle == m.id] > 0)
    assert max(energies) <= ph.MICHEL_ENDPOINT
    assert np.mean(energies) == pytest.approx(37.0, abs=2.5)
    assert np.mean(delays) == pytest.approx(ph.MUON_LIFETIME_US, rel=0.25)


def test_mu_minus_capture_fraction():
    n_michel, n = 0, 400
    for s in range(n):
        parts, _ = run([Primary(13, START, Z, 20.0)], seed=s)
        kids = [p for p in parts if p.parent_id == 0 and p.pdg == 11 and p.process != "muIoni"]
        n_michel += len(kids)
        assert all(k.semantic == SemanticLabel.MICHEL for k in kids)
    assert 1 - n_michel / n == pytest.approx(ph.MU_MINUS_CAPTURE_PROBABILITY, abs=0.07)


def test_pion_decay_chain_and_pi_minus_capture():
    parts, _ = run([Primary(211, START, Z, 60.0)], config=TransportConfig(hadronic=False))
    mu = [p for p in parts if p.parent_id == 0 and p.pdg == -13]
    assert len(mu) == 1 and mu[0].process == "Decay"
    assert mu[0].energy_init - ph.MUON_MASS == pytest.approx(4.12, abs=0.01)
    e = [p for p in parts if p.parent_id == mu[0].id]
    assert len(e) == 1 and e[0].semantic == SemanticLabel.MICHEL
    n_mu = 0
    for s in range(50):
        parts, _ = run([Primary(-211, START, Z, 60.0)], seed=s,
                       config=TransportConfig(hadronic=False))
        # a μ- of 4.12 MeV would be a decay at rest (decays in flight can happen, ~2 %)
        n_mu += sum(p.pdg == 13 and abs(p.energy_init - ph.MUON_MASS - 4.12) < 0.01 for p in parts)
        assert all(p.semantic == SemanticLabel.HIP for p in parts if p.pdg == 2212)
    assert n_mu == 0                                  # π- is captured, never decays at rest


def test_pi0_decays_to_two_photon_showers():
    parts, dep = run([Primary(111, START, Z, 300.0)])
    gammas = [p for p in parts if p.parent_id == 0]
    assert [g.pdg for g in gammas] == [22, 22]
    assert sum(g.energy_init for g in gammas) == pytest.approx(300.0 + 134.9768, rel=1e-9)
    assert all(g.semantic == SemanticLabel.SHOWER for g in gammas)
    assert not np.any(dep.particle == 0)                   # the π0 itself leaves nothing


def test_energy_conservation():
    _, dep = run([Primary(2212, START, Z, 300.0)], config=TransportConfig(hadronic=False))
    assert dep.energy.sum() == pytest.approx(300.0, rel=1e-6)
    _, dep = run([Primary(13, START, Z, 300.0)], config=TransportConfig(decays=False))
    assert dep.energy.sum() == pytest.approx(300.0, rel=1e-6)
    for s in range(5):
        parts, dep = run([Primary(2212, START, Z, 800.0)], seed=s)      # with interactions
        assert dep.energy.sum() <= 800.0 + 1e-6
        per = np.bincount(dep.particle, weights=dep.energy, minlength=len(parts))
        np.testing.assert_allclose(per, [p.energy_deposit for p in parts], atol=1e-9)
    parts, dep = run([Primary(11, START, Z, 1000.0)])
    assert 0.98 * 1000.0 < dep.energy.sum() <= 1000.0 + 1e-6
    assert parts[0].energy_deposit == pytest.approx(dep.energy.sum())


def test_crossing_muon_stays_in_the_active_volume():
    (x0, x1), (y0, y1), _ = UB.bounds
    parts, dep = run([Primary(13, (128.0, y1 + 100.0, 500.0), (0.3, -1.0, 0.1), 4000.0)])
    assert len(dep) > 1000
    assert UB.contains(dep.x, dep.y, dep.z).all()
    assert parts[0].end[1] == pytest.approx(y0, abs=0.5)                # left through the bottom
    # entered through the top after ~104 cm of argon outside (≈ 2.1 MeV/cm lost on the way)
    own = dep.particle == 0
    assert dep.y[own].max() > y1 - 0.2
    assert parts[0].start[1] == y1 + 100.0
    deltas = [p for p in parts if p.process == "muIoni"]
    assert len(deltas) > 5
    assert all(p.semantic == SemanticLabel.DELTA and p.pdg == 11 for p in deltas)


def test_muon_crosses_both_sbnd_tpcs():
    sbnd = get_detector("sbnd")
    _, dep = run([Primary(13, (-150.0, 0.0, 250.0), (1.0, 0.0, 0.0), 3000.0)], det=sbnd)
    tpc = sbnd.tpc_index(dep.x, dep.y, dep.z)
    assert set(np.unique(tpc)) == {0, 1}


def test_same_seed_same_event_other_seed_other_event():
    prims = [Primary(13, (128.0, 116.0, 300.0), (0.2, -1.0, 0.3), 3000.0),
             Primary(11, START, Z, 300.0), Primary(2212, START, (0, 1, 0), 500.0)]
    a_parts, a = run(prims, seed=7)
    b_parts, b = run(prims, seed=7)
    _, c = run(prims, seed=8)
    for f in ("x", "y", "z", "t", "energy", "dedx", "particle"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a_parts == b_parts
    assert len(a) != len(c) or not np.array_equal(a.x, c.x)


def test_particle_table_is_consistent():
    prims = [Primary(13, (128.0, 116.0, 300.0), (0.2, -1.0, 0.3), 3000.0, time=-12.0),
             Primary(211, START, (0, 0.3, 1), 400.0, origin=Origin.BOMB, interaction_id=3),
             Primary(2212, START, (0, 1, 0), 900.0, origin=Origin.BOMB, interaction_id=3),
             Primary(22, START, (1, 0, 0), 500.0, origin=Origin.BOMB, interaction_id=3),
             Primary(2112, START, (0, -1, 0), 300.0, origin=Origin.BOMB, interaction_id=3),
             Primary(1000010020, START, (0, 0, -1), 100.0, origin=Origin.BOMB, interaction_id=3)]
    parts, dep = run(prims, seed=3)
    assert isinstance(dep, Deposits)
    assert len(parts) > len(prims)
    for k, p in enumerate(parts):
        assert p.id == k
        if k < len(prims):
            assert p.parent_id == -1 and p.ancestor_id == k and p.process == "primary"
        else:
            assert 0 <= p.parent_id < k
            parent = parts[p.parent_id]
            assert p.ancestor_id == parent.ancestor_id
            assert parts[p.ancestor_id].parent_id == -1
            assert p.origin == parent.origin and p.interaction_id == parent.interaction_id
        assert p.semantic in (-1, 0, 1, 2, 3, 4)
        if p.semantic >= 0 and p.pdg not in (22, 11, -11):
            assert p.semantic == semantic_of(p.pdg, p.process)
        assert p.energy_init >= 0 and np.isfinite(p.energy_deposit)
    assert dep.particle.min() >= 0 and dep.particle.max() < len(parts)
    assert np.all(dep.energy > 0) and np.all(np.isfinite(dep.dedx))
    assert parts[0].origin == Origin.COSMIC and parts[1].interaction_id == 3
    assert parts[0].start[3] == -12.0 and np.all(dep.t[dep.particle == 0] > -12.0)
    assert parts[4].energy_deposit == 0.0                  # neutrons leave no charge themselves
    assert parts[5].semantic == SemanticLabel.HIP and parts[5].energy_deposit > 90.0
    procs = Counter(p.process for p in parts)
    assert procs["hIoni"] + procs["muIoni"] > 0


def test_primaries_that_miss_the_detector_leave_nothing():
    (x0, x1), (y0, y1), _ = UB.bounds
    prims = [Primary(13, (128.0, y1 + 50.0, 500.0), (0.0, 1.0, 0.0), 2000.0),     # flies away
             Primary(22, (x1 + 10.0, 0.0, 500.0), (1.0, 0.0, 0.0), 500.0),
             Primary(2212, (128.0, y1 + 50.0, 500.0), (0.0, -1.0, 0.0), 50.0)]   # stops outside
    parts, dep = run(prims)
    assert len(dep) == 0
    assert parts[2].end[1] > y1                       # its CSDA range (2.3 cm) ends outside


def test_bad_primary_names_the_field():
    from larseg.errors import InvalidEventError

    with pytest.raises(InvalidEventError, match=r"primaries\[1\]\.kinetic_energy"):
        run([Primary(13, START, Z, 100.0), Primary(13, START, Z, -5.0)])
    with pytest.raises(InvalidEventError, match=r"primaries\[0\]\.direction"):
        run([Primary(13, START, (0.0, float("nan"), 1.0), 100.0)])
