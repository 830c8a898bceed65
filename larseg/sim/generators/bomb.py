"""The particle bomb of MicroBooNE note 1091 (section 3.1, Table 1): SparseSSNet's training sample.

One vertex uniform in the active volume (``margin_cm`` from the walls); N ~ uniform{1..6}
particles, each type drawn uniformly among those still below their cap (e 2, γ 2, μ 2, π± 2,
p 3), isotropic; kinetic energies uniform in Table 1's ranges, or, for the low-energy sample
(``bomb-lowe``, ~15 % of the paper's data), momenta uniform in its ranges. Every event also holds
5-10 cosmic muons of kinetic energy 5-20 GeV crossing the detector (entry points and directions
as the cosmic generator's, times uniform in the cosmic window).

The bomb vertex is recorded as one Interaction: ``nu_pdg`` 0 (no neutrino), ``current`` 0,
``mode`` 0, ``lepton_pdg`` 0, ``energy`` = summed kinetic energy of the bomb's particles, time
uniform in the 1.6 µs beam spill like a neutrino's. Its particles have origin BOMB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...detectors import Detector
from ...event import Interaction
from ...labels import Origin
from ..records import GeneratedEvent
from .cosmics import sample_crossing_rays
from .flux import BNB_SPILL_US, sample_muon_charge
from .kinematics import isotropic_directions, kinetic_from_momentum, masses, to_primaries

# Note 1091, Table 1: per-type caps and ranges. Species -> (PDG codes drawn uniformly, cap,
# kinetic-energy range MeV, low-E momentum range MeV/c).
BOMB_SPECIES: dict[str, tuple[tuple[int, ...], int, tuple[float, float], tuple[float, float]]] = {
    "e": ((11,), 2, (50.0, 1000.0), (30.0, 100.0)),
    "gamma": ((22,), 2, (50.0, 1000.0), (30.0, 100.0)),
    "mu": ((13,), 2, (50.0, 3000.0), (85.0, 175.0)),
    "pi": ((211, -211), 2, (50.0, 2000.0), (95.0, 195.0)),
    "p": ((2212,), 3, (50.0, 4000.0), (300.0, 450.0)),
}
BOMB_MULTIPLICITY = (1, 6)
COSMIC_MUONS = (5, 10)                  # note 1091: "a random number of muons in the range [5, 10]"
COSMIC_MUON_KE_MEV = (5000.0, 20000.0)  # note 1091, Table 1 (same for both samples)
LOWE_FRACTION = 0.15                    # note 1091: "a smaller sample ~15 %"


def draw_species(rng: np.random.Generator, n: int) -> list[str]:
    """n species, each uniform among those below their cap (so the caps always hold)."""
    counts = dict.fromkeys(BOMB_SPECIES, 0)
    out = []
    for _ in range(n):
        open_ = [s for s, c in counts.items() if c < BOMB_SPECIES[s][1]]
        s = open_[int(rng.integers(len(open_)))]
        counts[s] += 1
        out.append(s)
    return out


@dataclass(frozen=True)
class BombGenerator:
    """``low_energy``: always the low-E sample; ``mix``: the low-E sample with probability 0.15."""

    low_energy: bool = False
    mix: bool = False
    margin_cm: float = 10.0
    cosmic_muons: bool = True
    name: str = "bomb"

    def _vertex(self, detector: Detector, rng: np.random.Generator) -> np.ndarray:
        b = np.array(detector.bounds, dtype=np.float64)
        lo, hi = b[:, 0] + self.margin_cm, b[:, 1] - self.margin_cm
        while True:
            v = rng.uniform(lo, hi)
            if detector.contains(v[0:1], v[1:2], v[2:3])[0]:
                return v

    def generate(self, detector: Detector, rng: np.random.Generator) -> GeneratedEvent:
        low_e = self.low_energy or (self.mix and rng.uniform() < LOWE_FRACTION)
        vertex = self._vertex(detector, rng)
        t0 = float(rng.uniform(0.0, BNB_SPILL_US))
        n = int(rng.integers(BOMB_MULTIPLICITY[0], BOMB_MULTIPLICITY[1] + 1))
        species = draw_species(rng, n)
        pdgs = [BOMB_SPECIES[s][0][int(rng.integers(len(BOMB_SPECIES[s][0])))] for s in species]
        m = masses(pdgs)
        if low_e:
            lo, hi = np.array([BOMB_SPECIES[s][3] for s in species]).T
            ke = kinetic_from_momentum(rng.uniform(lo, hi), m)
        else:
            lo, hi = np.array([BOMB_SPECIES[s][2] for s in species]).T
            ke = rng.uniform(lo, hi)
        dirs = isotropic_directions(rng, n)
        primaries = to_primaries(pdgs, vertex, dirs, ke, t0, Origin.BOMB, interaction_id=0)
        interaction = Interaction(id=0, nu_pdg=0, current=0, mode=0, energy=float(ke.sum()),
                                  vertex=(float(vertex[0]), float(vertex[1]), float(vertex[2]), t0),
                                  lepton_pdg=0)
        if self.cosmic_muons:
            k = int(rng.integers(COSMIC_MUONS[0], COSMIC_MUONS[1] + 1))
            entry, d, _ = sample_crossing_rays(detector, rng, n=k)
            ke_mu = rng.uniform(*COSMIC_MUON_KE_MEV, k)
            t = rng.uniform(*detector.cosmic_window_us, k)
            primaries += to_primaries(sample_muon_charge(rng, k), entry, d, ke_mu, t, Origin.COSMIC)
        return GeneratedEvent(primaries=primaries, interactions=[interaction])
