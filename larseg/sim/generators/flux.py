"""Fluxes the generators sample: cosmic rays at sea level and the Booster Neutrino Beam.

Cosmic muons (CORSIKA stand-in):
- angular distribution I(θ) = I_v cos²θ (PDG Review of Particle Physics, "Cosmic rays", sec. 30.3),
  with the vertical intensity I_v ≈ 70 m⁻² s⁻¹ sr⁻¹ (PDG, muons above 1 GeV/c). Through a
  horizontal surface this gives π/2 · I_v ≈ 110 m⁻² s⁻¹ ≈ 0.66 cm⁻² min⁻¹: the same order as PDG's
  rounded "≈ 1 cm⁻² min⁻¹ for horizontal detectors";
- energy spectrum at a given zenith angle: Gaisser's formula (PDG eq. 30.4) with the low-energy
  and Earth-curvature corrections of Guan et al., arXiv:1509.06176 (2015), whose cosθ* is
  Chirkin's parameterisation (hep-ph/0407078). Sampled from 0.2 GeV to 1 TeV total energy;
- charge ratio μ+/μ− ≈ 1.27 (PDG, sec. 30.3, for p below ~100 GeV/c).

BNB neutrinos: a Gamma-shaped energy spectrum (shape 6, mean 0.8 GeV, peak ≈ 0.67 GeV, truncated
at 3 GeV) standing in for the νμ flux of the Booster Neutrino Beam (mean ≈ 0.8 GeV,
MiniBooNE flux paper, PRD 79 (2009) 072002); the beam spill lasts 1.6 µs (same paper).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .kinematics import sample_power_law

# ----------------------------------------------------------------------------- cosmics
VERTICAL_MUON_INTENSITY_M2_S_SR = 70.0   # PDG "Cosmic rays" sec. 30.3: vertical muons > 1 GeV/c
MU_PLUS_OVER_MINUS = 1.27                # PDG "Cosmic rays" sec. 30.3: μ+/μ− charge ratio
MUON_ENERGY_RANGE_GEV = (0.2, 1000.0)    # total energy range sampled (see module doc)

# Other charged/neutral cosmic particles at sea level, as fractions of the muon rate, from PDG's
# vertical integral intensities (sec. 30.3): e± above 100 MeV ≈ 6, protons above 1 GeV/c ≈ 0.9,
# neutrons ≈ half the protons ("about 1/3 of the nucleons are neutrons") — over 70 for muons.
ADMIXTURE_FRACTIONS = {11: 6.0 / 70.0, 2212: 0.9 / 70.0, 2112: 0.45 / 70.0}
# Their energy spectra, as power laws (PDG: nucleons ∝ E^-2.7 above ~1 GeV; the e± integral
# intensities 6 (> 100 MeV) and 0.2 (> 1 GeV) m⁻² s⁻¹ sr⁻¹ imply a differential index ≈ 2.5).
ELECTRON_SPECTRUM = (2.5, 100.0, 2000.0)       # (index, min, max) of kinetic energy, MeV
NUCLEON_SPECTRUM = (2.7, 1000.0, 20000.0)      # (index, min, max) of momentum, MeV/c

# Chirkin's cosθ* parameters (hep-ph/0407078, as used by Guan et al. 2015)
_P1, _P2, _P3, _P4, _P5 = 0.102573, -0.068287, 0.958633, 0.0407253, 0.817285


def cos_theta_star(cos_theta: np.ndarray) -> np.ndarray:
    """Effective zenith cosine at the muon production height (Earth's curvature)."""
    c = np.clip(np.asarray(cos_theta, dtype=np.float64), 0.0, 1.0)
    num = c * c + _P1 ** 2 + _P2 * c ** _P3 + _P4 * c ** _P5
    return np.sqrt(num / (1.0 + _P1 ** 2 + _P2 + _P4))


def muon_spectrum(energy_gev: np.ndarray, cos_theta: np.ndarray) -> np.ndarray:
    """Differential muon intensity dI/dE (cm⁻² s⁻¹ sr⁻¹ GeV⁻¹) at sea level, Guan et al. 2015.

    Gaisser's form 0.14 E^-2.7 [1/(1 + 1.1 E cosθ/115) + 0.054/(1 + 1.1 E cosθ/850)] (PDG eq. 30.4:
    pion and kaon terms) with cosθ -> cosθ* and E -> E (1 + 3.64 GeV / (E cosθ*^1.29)) in the
    power law, which flattens the spectrum below a few GeV.
    """
    e = np.asarray(energy_gev, dtype=np.float64)
    cs = cos_theta_star(cos_theta)
    power = (e * (1.0 + 3.64 / (e * cs ** 1.29))) ** -2.7
    pion = 1.0 / (1.0 + 1.1 * e * cs / 115.0)
    kaon = 0.054 / (1.0 + 1.1 * e * cs / 850.0)
    return 0.14 * power * (pion + kaon)


@lru_cache(maxsize=None)
def _muon_energy_table(n_cos: int = 101,
                       n_energy: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-CDF table of the muon energy at fixed zenith cosines (rows), on a log-energy grid."""
    cos_grid = np.linspace(0.0, 1.0, n_cos)
    log_e = np.linspace(*np.log(MUON_ENERGY_RANGE_GEV), n_energy)
    e = np.exp(log_e)
    dens = muon_spectrum(e[None, :], cos_grid[:, None]) * e[None, :]  # per unit log E
    seg = 0.5 * (dens[:, 1:] + dens[:, :-1]) * np.diff(log_e)[None, :]
    cdf = np.concatenate([np.zeros((n_cos, 1)), np.cumsum(seg, axis=1)], axis=1)
    cdf /= cdf[:, -1:]
    return cos_grid, log_e, cdf


def sample_muon_energy(rng: np.random.Generator, cos_theta: np.ndarray) -> np.ndarray:
    """Total muon energies (MeV) from the sea-level spectrum at each zenith cosine."""
    cos_theta = np.asarray(cos_theta, dtype=np.float64).reshape(-1)
    cos_grid, log_e, cdf = _muon_energy_table()
    n_cos, n_e = cdf.shape
    row = np.clip(np.rint(cos_theta * (n_cos - 1)).astype(np.int64), 0, n_cos - 1)
    u = rng.uniform(0.0, 1.0, cos_theta.size)
    # one searchsorted over all rows: row r's CDF is shifted into [2r, 2r + 1]
    flat = (cdf + 2.0 * np.arange(n_cos)[:, None]).reshape(-1)
    j = np.searchsorted(flat, u + 2.0 * row, side="right") - 1
    j = np.clip(j - row * n_e, 0, n_e - 2)
    c0, c1 = cdf[row, j], cdf[row, j + 1]
    frac = np.where(c1 > c0, (u - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
    return 1000.0 * np.exp(log_e[j] + frac * (log_e[j + 1] - log_e[j]))


def sample_muon_charge(rng: np.random.Generator, n: int) -> np.ndarray:
    """PDG codes ±13 with μ+/μ− = 1.27."""
    plus = rng.uniform(0.0, 1.0, n) < MU_PLUS_OVER_MINUS / (1.0 + MU_PLUS_OVER_MINUS)
    return np.where(plus, -13, 13)


def sample_admixture_energy(rng: np.random.Generator, pdg: int, n: int) -> np.ndarray:
    """Kinetic energies (MeV) of cosmic e± / nucleons from the power laws above."""
    from .kinematics import kinetic_from_momentum, mass

    if abs(pdg) == 11:
        return sample_power_law(rng, n, *ELECTRON_SPECTRUM)
    p = sample_power_law(rng, n, *NUCLEON_SPECTRUM)
    return kinetic_from_momentum(p, mass(pdg))


# ---------------------------------------------------------------------------------- BNB
BNB_SPILL_US = 1.6            # Booster spill length (MiniBooNE flux paper, PRD 79 (2009) 072002)
BNB_MEAN_ENERGY_MEV = 800.0   # νμ flux mean ≈ 0.8 GeV (same paper; SBND/MicroBooNE papers)
BNB_GAMMA_SHAPE = 6.0         # Gamma shape: peak at (k-1)/k · mean ≈ 0.67 GeV
BNB_ENERGY_RANGE_MEV = (100.0, 3000.0)


def sample_bnb_energy(rng: np.random.Generator, n: int) -> np.ndarray:
    """Neutrino energies (MeV) from the truncated Gamma stand-in for the BNB flux."""
    lo, hi = BNB_ENERGY_RANGE_MEV
    scale = BNB_MEAN_ENERGY_MEV / BNB_GAMMA_SHAPE
    out = np.empty(0)
    while out.size < n:
        e = rng.gamma(BNB_GAMMA_SHAPE, scale, max(2 * (n - out.size), 8))
        out = np.concatenate([out, e[(e >= lo) & (e <= hi)]])
    return out[:n]
