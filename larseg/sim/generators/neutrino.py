"""Neutrino-like interactions of a BNB-like beam on argon (a GENIE stand-in, not a cross section).

Per event: a category (νμ CC, νe CC, NC) from ``mix``; a mode with fixed fractions (QE 40 %,
MEC 10 %, RES 30 %, DIS 20 %: the rough composition GENIE predicts at BNB energies, used for
CC and NC alike); E_ν from the BNB stand-in spectrum (flux.py), redrawn until the mode is kinematically open
(so E_ν | mode is physical: DIS needs W > M + 2 m_π). Beam along +z.

Kinematics, hadronic decays, Pauli blocking and the final-state-interaction sketch (``fsi``):
:mod:`larseg.sim.generators.final_states`.
Neutrons are primaries like any other particle. NC events carry the outgoing neutrino only in the
Interaction record (``lepton_pdg`` = ``nu_pdg``); νe NC is not generated.

Antineutrinos: within each category a fraction ``ANTI_FRACTION`` of the interactions are of the
antineutrino (ν̄ CC gives ℓ⁺ and turns a proton into a neutron: ν̄ p → ℓ⁺ n, Δ⁻ / Δ⁰ resonances).
The fraction is the BNB flux's (neutrino mode at MiniBooNE, PRD 79 (2009) 072002: 93.6 % νμ,
5.86 % ν̄μ, 0.52 % νe, 0.05 % ν̄e) times σ(ν̄)/σ(ν) ≈ 0.4 per nucleon at ~1 GeV (PDG review
"Neutrino cross-section measurements"); the same composition is used for MicroBooNE (470 m) and
SBND (110 m), whose published flux fractions differ from it by less than the mode model's own
uncertainty.

The mode code is that of the primary interaction (as GENIE's): final-state interactions can change
what leaves the nucleus (a CC RES ν n → ℓ⁻ p π⁰ whose π⁰ is absorbed shows ℓ⁻ p p n).

Modes are LArSoft simb::int_type_ codes (listed in final_states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...detectors import Detector
from ...errors import LarsegError
from ...event import Interaction, Particle
from ...labels import Origin
from ...samples import one_lepton_one_proton
from ..records import GeneratedEvent, Primary
from .final_states import FinalState, sample_final_state, weighted_choice
from .flux import BNB_ENERGY_RANGE_MEV, BNB_SPILL_US
from .kinematics import kinetic_from_momentum, mass, to_primaries

CATEGORIES = ("numu_cc", "nue_cc", "nc")
# "balanced": the SBND training set's equal νμ CC / νe CC / NC populations (SBND paper, sec. 5);
# "bnb": natural rates, νe CC ≈ 0.5 % of events (BNB νe/νμ flux ≈ 0.5 %, MiniBooNE PRD 79 072002)
# and NC ≈ 30 % of νμ CC (σ_NC/σ_CC ≈ 0.3 at ~1 GeV).
MIXES = {"balanced": (1 / 3, 1 / 3, 1 / 3),
         "bnb": (0.995 / 1.3, 0.005, 0.995 * 0.3 / 1.3)}
#: Fraction of antineutrino interactions per flavour: flux ratio × σ(ν̄)/σ(ν) ≈ 0.4 (see above).
NU_BAR_XSEC_RATIO = 0.4
ANTI_FRACTION = {14: 5.86 * NU_BAR_XSEC_RATIO / (93.6 + 5.86 * NU_BAR_XSEC_RATIO),
                 12: 0.05 * NU_BAR_XSEC_RATIO / (0.52 + 0.05 * NU_BAR_XSEC_RATIO)}
MODES = ("QE", "MEC", "RES", "DIS")
MODE_FRACTIONS = (0.40, 0.10, 0.30, 0.20)


def sample_category(rng: np.random.Generator, mix: str) -> str:
    return CATEGORIES[weighted_choice(rng, MIXES[mix])]


def sample_mode(rng: np.random.Generator) -> str:
    return MODES[weighted_choice(rng, MODE_FRACTIONS)]


def uniform_vertex(detector: Detector, rng: np.random.Generator,
                   margin_cm: float = 0.0) -> np.ndarray:
    b = np.array(detector.bounds, dtype=np.float64)
    while True:
        v = rng.uniform(b[:, 0] + margin_cm, b[:, 1] - margin_cm)
        if detector.contains(v[0:1], v[1:2], v[2:3])[0]:
            return v


def final_state_primaries(fs: FinalState, vertex: np.ndarray, t: float,
                          interaction_id: int) -> list[Primary]:
    parts = fs.visible
    pdgs = [pdg for pdg, _ in parts]
    mom = np.array([p4[:3] for _, p4 in parts]).reshape(-1, 3)
    pmag = np.linalg.norm(mom, axis=1)
    dirs = np.where(pmag[:, None] > 0, mom, [[0.0, 0.0, 1.0]])
    ke = kinetic_from_momentum(pmag, np.array([mass(p) for p in pdgs]))
    return to_primaries(pdgs, vertex, dirs, ke, t, Origin.NEUTRINO, interaction_id=interaction_id)


#: the category each 1ℓ1p topology implies (a CC event whose one lepton is e± / μ±)
TOPOLOGY_CATEGORY = {"1e1p": "nue_cc", "1mu1p": "numu_cc"}
#: draws of the whole interaction for one event with a selection (``topology``, an energy window)
#: before the generator gives up. The talk's rarest samples accept about one draw in 20 (of νμ
#: CC, 1μ1p below 500 MeV: 4.9 %; of νe CC, 1e1p below 500 MeV: 4.8 %; 4000 draws each, seed 1,
#: ~0.45 ms a draw), so reaching the limit (~10 s) means the selection is (nearly) empty.
SELECTION_TRIES = 20_000


def _topology(fs: FinalState, interaction_id: int) -> str | None:
    """The 1e1p / 1μ1p topology of a final state by the held-out samples' own rule."""
    particles = [Particle(id=k, pdg=pr.pdg, origin=pr.origin, ancestor_id=k,
                          energy_init=pr.kinetic_energy + mass(pr.pdg),
                          interaction_id=pr.interaction_id)
                 for k, pr in enumerate(final_state_primaries(fs, np.zeros(3), 0.0,
                                                              interaction_id))]
    inter = Interaction(id=interaction_id, nu_pdg=fs.nu_pdg, current=fs.current, mode=fs.mode,
                        energy=fs.energy, vertex=(0.0, 0.0, 0.0, 0.0), lepton_pdg=fs.lepton[0])
    return one_lepton_one_proton(particles, inter)


@dataclass(frozen=True)
class NeutrinoGenerator:
    """One BNB-like neutrino interaction, vertex uniform in the active volume, t in the spill.

    Options (the defaults give the generator's natural sample; the selections draw from it, for
    the SSNet talk's held-out samples, ``larseg.samples``):

    - ``mix``: "balanced" (equal νμ CC / νe CC / NC) or "bnb" (natural rates), see :data:`MIXES`;
    - ``fsi``: the final-state-interaction sketch on or off;
    - ``category``: "" (from ``mix``) or one of :data:`CATEGORIES`: every event of that category;
    - ``min_energy`` / ``max_energy`` (MeV, None: no limit): E_ν in [min_energy, max_energy).
      The interaction, E_ν included, is redrawn until its E_ν is inside: E_ν follows the BNB
      stand-in spectrum (times each mode's kinematic opening) truncated to the window, not
      reweighted, and the modes keep the shares they have there (few DIS below 500 MeV);
    - ``topology``: "" or "1e1p" / "1mu1p": the interaction is redrawn until
      :func:`larseg.samples.one_lepton_one_proton` (default ``SampleRules``) says that
      topology of its final state; it implies the category (νe CC / νμ CC), and another
      ``category`` is an error.

    A selection is rejection sampling: each try draws the category (from ``mix``, unless fixed),
    the mode, ν / ν̄ and the final state as without options, and the first that passes is the
    event, so the events are the natural sample restricted to the selection; after
    :data:`SELECTION_TRIES` tries it is an error. The vertex and time are drawn after, as
    without options, so event i depends only on (seed, i, options), and without a selection
    the draws are exactly those of the plain generator.
    """

    mix: str = "balanced"
    fsi: bool = True
    interaction_id: int = 0
    category: str = ""
    min_energy: float | None = None
    max_energy: float | None = None
    topology: str = ""
    name: str = "neutrino"

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise LarsegError(f"neutrino generator: unknown mix '{self.mix}'; "
                              f"choose one of {', '.join(MIXES)}")
        if self.category and self.category not in CATEGORIES:
            raise LarsegError(f"neutrino generator: unknown category '{self.category}'; "
                              f"choose one of {', '.join(CATEGORIES)} (or '' for the mix)")
        if self.topology and self.topology not in TOPOLOGY_CATEGORY:
            raise LarsegError(f"neutrino generator: unknown topology '{self.topology}'; "
                              f"choose one of {', '.join(TOPOLOGY_CATEGORY)} (or '' for any)")
        implied = TOPOLOGY_CATEGORY.get(self.topology)
        if implied and self.category and self.category != implied:
            raise LarsegError(f"neutrino generator: topology {self.topology} is {implied} only, "
                              f"not category {self.category}")
        lo, hi = self._window()
        if not lo < hi:
            raise LarsegError(f"neutrino generator: min_energy {self.min_energy} MeV is not below "
                              f"max_energy {self.max_energy} MeV")
        e_lo, e_hi = BNB_ENERGY_RANGE_MEV
        if hi <= e_lo or lo > e_hi:
            raise LarsegError(f"neutrino generator: E_ν window [{lo:g}, {hi:g}) MeV is outside the "
                              f"BNB spectrum's {e_lo:g}-{e_hi:g} MeV")

    def _window(self) -> tuple[float, float]:
        return (-np.inf if self.min_energy is None else float(self.min_energy),
                np.inf if self.max_energy is None else float(self.max_energy))

    def _draw(self, rng: np.random.Generator) -> FinalState:
        """One interaction as the plain generator draws it (its category fixed if asked)."""
        category = (self.category or TOPOLOGY_CATEGORY.get(self.topology)
                    or sample_category(rng, self.mix))
        mode = sample_mode(rng)
        anti = rng.uniform() < ANTI_FRACTION[12 if category == "nue_cc" else 14]
        return sample_final_state(rng, category, mode, self.fsi, anti=anti)

    def _selected(self, fs: FinalState) -> bool:
        lo, hi = self._window()
        return lo <= fs.energy < hi and (not self.topology
                                         or _topology(fs, self.interaction_id) == self.topology)

    def sample(self, rng: np.random.Generator) -> FinalState:
        for _ in range(SELECTION_TRIES):
            fs = self._draw(rng)
            if self._selected(fs):
                return fs
        raise LarsegError(
            f"neutrino generator: no event of {self._selection()} in {SELECTION_TRIES} tries; "
            "the selection is too rare for this generator (widen the energy window)")

    def _selection(self) -> str:
        parts = [self.topology or self.category or f"mix {self.mix}"]
        if self.min_energy is not None:
            parts.append(f"E_ν ≥ {self.min_energy:g} MeV")
        if self.max_energy is not None:
            parts.append(f"E_ν < {self.max_energy:g} MeV")
        return ", ".join(parts)

    def generate(self, detector: Detector, rng: np.random.Generator) -> GeneratedEvent:
        fs = self.sample(rng)
        v = uniform_vertex(detector, rng)
        t = float(rng.uniform(0.0, BNB_SPILL_US))
        inter = Interaction(id=self.interaction_id, nu_pdg=fs.nu_pdg, current=fs.current,
                            mode=fs.mode, energy=fs.energy,
                            vertex=(float(v[0]), float(v[1]), float(v[2]), t),
                            lepton_pdg=fs.lepton[0])
        return GeneratedEvent(primaries=final_state_primaries(fs, v, t, self.interaction_id),
                              interactions=[inter])
