"""Physics functions of the transport checked against reference tables and textbook numbers."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.sim import physics as ph
from larseg.sim.scattering import step_theta0
from larseg.sim.spectra import (draw_energy_loss, landau_tables, sample_delta_energy, seed)
from larseg.sim.stopping import RHO

REFERENCES = {
    "muon": (ph.muon_table, ph.MUON_MASS),
    "pion": (ph.pion_table, ph.PION_MASS),
    "proton": (ph.pstar_table, ph.PROTON_MASS),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_csda_range_matches_reference_tables(name):
    table, mass = REFERENCES[name]
    tab = table()
    sel = (tab["T_MeV"] >= 10) & (tab["T_MeV"] <= 500)
    assert sel.sum() >= 20
    ref = tab["csda_range_g_cm2"][sel] / RHO
    ours = ph.csda_range(tab["T_MeV"][sel], mass)
    worst = np.max(np.abs(ours / ref - 1))
    assert worst < 0.03, f"{name}: worst range deviation {worst:.3%}"


@pytest.mark.parametrize("pdg", [13, 211, 2212])
def test_range_energy_round_trip(pdg):
    T = np.geomspace(1.0, 5000.0, 40)
    back = ph.kinetic_energy_from_range(ph.range_of(pdg, T), ph.mass_of(pdg))
    np.testing.assert_allclose(back, T, rtol=2e-3)


def test_minimum_ionisation_of_muons():
    T = np.geomspace(50, 5000, 400)
    s = ph.stopping_power(T, ph.MUON_MASS)
    i = int(np.argmin(s))
    # PDG: minimum ionisation of LAr 1.508 MeV cm²/g, at βγ ≈ 3.5
    assert s[i] / RHO == pytest.approx(1.508, rel=0.01)
    bg = np.sqrt((1 + T[i] / ph.MUON_MASS) ** 2 - 1)
    assert 2.5 < bg < 4.5
    # the whole curve against the PDG muon table's ionisation column, up to 10 GeV
    tab = ph.muon_table()
    sel = tab["T_MeV"] <= 1e4
    ours = ph.stopping_power(tab["T_MeV"][sel], ph.MUON_MASS) / RHO
    np.testing.assert_allclose(ours, tab["dEdx_ionization"][sel], rtol=0.015)


def test_proton_stopping_power_follows_pstar_at_low_energy():
    tab = ph.pstar_table()
    sel = (tab["T_MeV"] >= 0.01) & (tab["T_MeV"] <= 10)
    ours = ph.stopping_power(tab["T_MeV"][sel], ph.PROTON_MASS) / RHO
    np.testing.assert_allclose(ours, tab["dEdx_total"][sel], rtol=0.01)


def test_delta_ray_sampler_carries_the_hard_part_of_the_loss():
    """Rate × mean δ energy = unrestricted - restricted stopping power."""
    T, M, tcut = 3000.0, ph.MUON_MASS, 1.0
    rate = ph.delta_ray_rate(np.array([T]), M, tcut)[0]
    tmax = ph.t_max(np.array([T]), M)[0]
    b2 = 1 - 1 / (1 + T / M) ** 2
    seed(11)
    sample = np.array([sample_delta_energy(tcut, tmax, b2) for _ in range(100_000)])
    assert sample.min() >= tcut and sample.max() <= tmax
    hard = ph.stopping_power(T, M)[0] - ph.stopping_power(T, M, tcut=tcut)[0]
    assert rate * sample.mean() == pytest.approx(hard, rel=0.05)
    # 1/T² spectrum: half of the δ-rays lie below 2 tcut
    assert np.mean(sample < 2 * tcut) == pytest.approx(0.5, abs=0.02)


def test_electron_losses_give_the_critical_energy_and_radiation_length():
    E = np.linspace(20, 50, 301)
    col = ph.electron_dedx(E) * ph.RADIATION_LENGTH_CM       # ionisation loss per X0
    ec = E[np.argmin(np.abs(col - (E + ph.ELECTRON_MASS)))]
    assert ec == pytest.approx(ph.CRITICAL_ENERGY_MEV, rel=0.05)    # Rossi definition
    E_hi = 1e4
    rad = ph.radiative_dedx(E_hi, None)[0]
    assert rad == pytest.approx(E_hi / ph.RADIATION_LENGTH_CM, rel=0.02)


def test_highland_formula_and_its_step_splitting():
    p, beta = 1000.0, 1000.0 / np.hypot(1000.0, ph.MUON_MASS)
    x = ph.RADIATION_LENGTH_CM
    expected = 13.6 / (beta * p) * np.sqrt(1.0) * (1 + 0.038 * np.log(1.0 / beta ** 2))
    assert ph.highland_theta0(p, beta, x) == pytest.approx(expected, rel=1e-9)
    # 0.15 cm steps whose θ0² add up to the formula for the whole thickness
    steps = np.arange(0, x, 0.15)
    total = np.sqrt(sum(step_theta0(p, beta, s, min(0.15, x - s)) ** 2 for s in steps))
    assert total == pytest.approx(ph.highland_theta0(p, beta, x), rel=1e-6)
    # naive per-step θ0 would be ≈ 17 % too small
    naive = np.sqrt(len(steps)) * ph.highland_theta0(p, beta, 0.15)
    assert naive < 0.9 * total


def test_landau_density():
    lam = np.linspace(-3, 30, 3301)
    pdf = ph.landau_pdf(lam)
    assert lam[np.argmax(pdf)] == pytest.approx(-0.2228, abs=0.02)
    assert pdf.max() == pytest.approx(0.1805, abs=0.002)
    forward, _ = landau_tables()
    assert forward[-1, 0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("xi,tmax", [(0.0145, 1.0), (0.02, 0.01)])
def test_energy_loss_fluctuations_keep_the_mean(xi, tmax):
    forward, inverse = landau_tables()
    seed(5)
    d = draw_energy_loss(200_000, 0.25, xi, tmax, 0.9, forward, inverse)
    assert d.mean() == pytest.approx(0.25, rel=0.01)
    assert d.min() >= 0.0
    if xi / tmax < 0.1:   # Landau regime: long high tail, most probable loss below the mean
        assert np.median(d) < 0.9 * d.mean()
        assert np.percentile(d, 99.5) > 2.5 * d.mean()
    else:                 # Gaussian-like, Bohr width
        assert d.std() == pytest.approx(np.sqrt(xi * tmax * (1 - 0.45)), rel=0.05)


def test_michel_spectrum():
    E = ph.sample_michel(200_000, np.random.default_rng(3))
    assert E.max() <= ph.MICHEL_ENDPOINT + 1e-9
    assert E.max() > 52.5
    assert ph.MICHEL_ENDPOINT == pytest.approx(52.83, abs=0.01)
    assert E.mean() == pytest.approx(0.7 * ph.MICHEL_ENDPOINT, abs=0.1)   # ≈ 37 MeV
    hist, edges = np.histogram(E, bins=20, range=(0, ph.MICHEL_ENDPOINT), density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    np.testing.assert_allclose(hist[5:], ph.michel_pdf(centres)[5:], rtol=0.06)


def test_photon_conversion_length():
    # at high energy the pair cross section reaches 7/(9 X0): mean free path 9/7 X0 ≈ 18 cm
    lam = ph.photon_mean_free_path(1e4)[0]
    assert lam == pytest.approx(9 / 7 * ph.RADIATION_LENGTH_CM, rel=0.05)
    # screening is incomplete at lower energies: the path is longer
    lam = ph.photon_mean_free_path(np.array([100.0, 1000.0, 1e4]))
    assert lam[0] > lam[1] > lam[2]
    # Compton dominates at 1 MeV (Klein-Nishina: 0.0573 cm²/g on argon's electrons)
    assert ph.compton_mu(1.0)[0] / RHO == pytest.approx(0.0573, rel=0.01)


def test_capture_and_lifetime_constants():
    assert ph.MU_MINUS_CAPTURE_PROBABILITY == pytest.approx(0.75, abs=0.01)
    assert ph.MUON_LIFETIME_US == pytest.approx(2.197, abs=1e-3)
    assert ph.shower_max(1000.0) == pytest.approx(np.log(1000 / 32.84) - 0.5)
    with pytest.raises(ValueError, match="no range table"):
        ph.mass_of(2112)
