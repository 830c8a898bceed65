"""Particle-transport physics of liquid argon: one import for the public functions.

The implementation is split by topic:
- :mod:`larseg.sim.stopping`   Bethe(-Bloch) and electron stopping powers, range-energy tables;
- :mod:`larseg.sim.scattering` Highland multiple Coulomb scattering;
- :mod:`larseg.sim.spectra`    Landau fluctuations, δ-ray and Michel spectra;
- :mod:`larseg.sim.emphysics`  bremsstrahlung, pair production, Compton, photoabsorption;
- :mod:`larseg.sim.decays`     lifetimes, capture probabilities, hadronic interaction rates.

Reference tables (PDG muon table, NIST PSTAR, a Bethe pion table) live in ``larseg/sim/tables``.
"""

from __future__ import annotations

import numpy as np

from ..detectors.physics_constants import (CRITICAL_ENERGY_MEV, MOLIERE_RADIUS_CM,
                                           RADIATION_LENGTH_CM)
from .decays import (KAON_LIFETIME_US, MU_CAPTURE_RATE_US, MU_DECAY_RATE_US, MUON_LIFETIME_US,
                     NUCLEAR_INTERACTION_LENGTH_CM, PION_LIFETIME_US, inelastic_rate)
from .emphysics import compton_mu, pair_mu, photoelectric_mu, radiative_dedx
from .scattering import highland_theta0
from .spectra import MICHEL_ENDPOINT, draw_michel, landau_pdf, michel_pdf, seed
from .stopping import (ELECTRON_MASS, KAON_MASS, MUON_MASS, PION_MASS, PROTON_MASS, RangeTable,
                       bethe_dedx, csda_range, delta_ray_rate, density_effect, electron_dedx,
                       electron_range_table, heavy_range_table, kinetic_energy_from_range,
                       muon_table, pion_table, pstar_table, stopping_power, t_max)

#: μ- in argon: probability of nuclear capture (Suzuki, Measday & Roalsvig, PRC 35 (1987) 2212)
MU_MINUS_CAPTURE_PROBABILITY = MU_CAPTURE_RATE_US / (MU_CAPTURE_RATE_US + MU_DECAY_RATE_US)

_MASSES = {11: ELECTRON_MASS, 13: MUON_MASS, 211: PION_MASS, 321: KAON_MASS, 2212: PROTON_MASS}


def mass_of(pdg: int) -> float:
    """Mass (MeV) of the charged particles the range tables cover."""
    try:
        return _MASSES[abs(pdg)]
    except KeyError:
        raise ValueError(f"no range table for PDG code {pdg}; known: {sorted(_MASSES)}") from None


def range_of(pdg: int, T: np.ndarray | float) -> np.ndarray:
    """CSDA range (cm) in LAr of a μ, π, K or p (by PDG code) of kinetic energy T (MeV)."""
    return csda_range(T, mass_of(pdg))


def photon_mean_free_path(E: np.ndarray | float) -> np.ndarray:
    """Mean distance (cm) to a photon's first interaction (pair + Compton + photoabsorption)."""
    E = np.atleast_1d(np.asarray(E, dtype=np.float64))
    return 1.0 / (pair_mu(E) + compton_mu(E) + photoelectric_mu(E))


def shower_max(E: float, photon: bool = False) -> float:
    """Depth of the shower maximum in radiation lengths, t_max = ln(E/Ec) + C with C = -0.5
    for electrons and +0.5 for photons (PDG eq. 34.36)."""
    return float(np.log(E / CRITICAL_ENERGY_MEV) + (0.5 if photon else -0.5))


def sample_michel(n: int, rng: np.random.Generator) -> np.ndarray:
    """Total energies (MeV) of n Michel electrons, drawn with the transport's own sampler."""
    seed(int(rng.integers(0, 2**32 - 1)))
    return draw_michel(int(n))


__all__ = [
    "RADIATION_LENGTH_CM", "MOLIERE_RADIUS_CM", "CRITICAL_ENERGY_MEV", "MICHEL_ENDPOINT",
    "MUON_LIFETIME_US", "PION_LIFETIME_US", "KAON_LIFETIME_US", "MU_MINUS_CAPTURE_PROBABILITY",
    "NUCLEAR_INTERACTION_LENGTH_CM", "RangeTable", "bethe_dedx", "stopping_power", "electron_dedx",
    "radiative_dedx", "density_effect", "t_max", "delta_ray_rate", "csda_range",
    "kinetic_energy_from_range", "heavy_range_table", "electron_range_table", "range_of",
    "mass_of", "highland_theta0", "landau_pdf", "michel_pdf", "sample_michel",
    "photon_mean_free_path", "pair_mu", "compton_mu", "photoelectric_mu", "shower_max",
    "inelastic_rate", "muon_table", "pion_table", "pstar_table",
]
