"""The held-out samples of the SSNet talk's ICPF table (../shared/papers/004, slide
"Performance": Test, νe, νμ, 1e1p, 1μ1p-LE, 1e1p-LE), assigned to an event from its truth only.

- ``test``: an event without a neutrino, the particle bomb (its Interaction has ``nu_pdg`` 0,
  larseg.sim.generators.bomb; or, without an Interaction record, particles of origin BOMB);
- ``nue_cc`` / ``numu_cc`` / ``nc``: the neutrino's category, antineutrinos included, the first
  interaction deciding (as :func:`larseg.metrics.cosmic.category`);
- ``1e1p`` / ``1mu1p``: a CC event whose visible final state is exactly one charged lepton (e± /
  μ±) and one proton, each above its kinetic-energy threshold, and nothing else visible
  (:class:`SampleRules`);
- ``*_lowe``: ``nue_cc``, ``numu_cc``, ``1e1p``, ``1mu1p`` with the true E_ν below
  :attr:`SampleRules.lowe_max_energy`.

An event may belong to several samples (a νe CC 1e1p event of 400 MeV: ``nue_cc``, ``1e1p``,
``nue_cc_lowe``, ``1e1p_lowe``), or to none (no neutrino and no bomb truth: a cosmic-only or a
foreign event; the evaluation reports those under their file's name).

The final state is the interaction's primaries (``parent_id`` < 0, its ``interaction_id``, not of
cosmic origin): what leaves the nucleus after final-state interactions, as the generator hands
it to transport. Kinetic energy = ``energy_init`` (total energy, larseg.sim.transport) − mass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from .event import Interaction, Particle
from .labels import Origin

#: every sample name, in the order of the reports
SAMPLES = ("test", "nue_cc", "numu_cc", "nc", "1e1p", "1mu1p",
           "nue_cc_lowe", "numu_cc_lowe", "1e1p_lowe", "1mu1p_lowe")
#: the samples that have a low-energy version (the talk's table has 1μ1p-LE and 1e1p-LE)
LOWE_OF = ("nue_cc", "numu_cc", "1e1p", "1mu1p")

ELECTRON, MUON, PROTON = 11, 13, 2212
_INVISIBLE = {2112, 12, 14, 16}  # neutrons and neutrinos: no charge, no 1ℓ1p topology


@dataclass(frozen=True)
class SampleRules:
    """Thresholds of the 1ℓ1p samples and the low-energy cut (MeV).

    The lepton and proton thresholds are those of MicroBooNE's deep-learning 1e1p / 1μ1p
    selection (PRD 105, 112003 (2022), arXiv:2110.14080: lepton KE > 35 MeV, proton KE > 60
    MeV; these values were not checked against a copy of the paper: none is in ../shared/).
    Its signal topology is "1 electron, 1 proton, and 0 mesons" (its abstract), so a meson
    (π±, π0, …) at any energy excludes an event. The rest is larseg's choice: photons and any
    other particle count as visible above ``other_min_ke``; the talk does not define its "LE"
    samples, so ``lowe_max_energy`` is larseg's cut on the true E_ν, 500 MeV, the region below
    which MiniBooNE saw its electron-like excess (as the SparseSSNet paper, arXiv:2012.08513,
    sec. I, puts it)."""

    lepton_min_ke: float = 35.0    # MicroBooNE DL 1e1p / 1μ1p (PRD 105, 112003)
    proton_min_ke: float = 60.0    # MicroBooNE DL 1e1p / 1μ1p (PRD 105, 112003)
    other_min_ke: float = 35.0     # larseg's choice: the lepton's threshold, for γ and the rest
    lowe_max_energy: float = 500.0  # larseg's choice: E_ν below MiniBooNE's excess bound


@lru_cache(maxsize=None)
def _mass(pdg: int) -> float:
    """Rest mass (MeV) from the PDG data of the ``particle`` package; 0 where it has none."""
    from particle import Particle as PDGParticle
    from particle.particle import ParticleNotFound

    try:
        m = PDGParticle.from_pdgid(int(pdg)).mass
    except (ParticleNotFound, ValueError):
        return 0.0
    return 0.0 if m is None else float(m)


@lru_cache(maxsize=None)
def _is_meson(pdg: int) -> bool:
    from particle.pdgid import is_meson

    return bool(is_meson(int(pdg)))


def kinetic_energy(p: Particle) -> float:
    """Kinetic energy (MeV) of a particle record whose ``energy_init`` is its total energy."""
    return max(float(p.energy_init) - _mass(abs(p.pdg)), 0.0)


def final_state(particles: Sequence[Particle], interaction: Interaction) -> list[Particle]:
    """The interaction's primaries: what leaves the nucleus."""
    return [p for p in particles if p.parent_id < 0 and p.interaction_id == interaction.id
            and p.origin != Origin.COSMIC]


def one_lepton_one_proton(particles: Sequence[Particle], interaction: Interaction,
                          rules: SampleRules = SampleRules()) -> str | None:
    """``"1e1p"`` or ``"1mu1p"`` when the CC interaction's visible final state is one charged
    lepton and one proton above their thresholds and nothing else visible; else None."""
    if interaction.current != 0 or interaction.nu_pdg == 0:
        return None
    leptons, protons, others = [], 0, 0
    for p in final_state(particles, interaction):
        pdg, ke = abs(p.pdg), kinetic_energy(p)
        if pdg in _INVISIBLE:
            continue
        if _is_meson(pdg):  # "0 mesons": visible at any energy (a π± decays, a π0 gives γγ)
            others += 1
        elif pdg in (ELECTRON, MUON):
            if ke > rules.lepton_min_ke:
                leptons.append(pdg)
        elif pdg == PROTON:
            protons += ke > rules.proton_min_ke
        elif ke > rules.other_min_ke:
            others += 1
    if len(leptons) != 1 or protons != 1 or others:
        return None
    return "1e1p" if leptons[0] == ELECTRON else "1mu1p"


def _category(interaction: Interaction) -> str:
    if interaction.current == 1:
        return "nc"
    return "nue_cc" if abs(interaction.nu_pdg) == 12 else "numu_cc"


def event_samples(interactions: Sequence[Interaction], particles: Sequence[Particle],
                  rules: SampleRules = SampleRules()) -> tuple[str, ...]:
    """The samples (names of :data:`SAMPLES`, in that order) an event belongs to, from its
    truth; empty for an event with neither a neutrino nor a particle bomb."""
    if not interactions:
        bomb = any(p.origin == Origin.BOMB for p in particles)
        return ("test",) if bomb else ()
    it = interactions[0]
    if it.nu_pdg == 0:
        return ("test",)
    found = {_category(it)}
    topology = one_lepton_one_proton(particles, it, rules)
    if topology is not None:
        found.add(topology)
    if it.energy < rules.lowe_max_energy:
        found |= {f"{s}_lowe" for s in LOWE_OF if s in found}
    return tuple(s for s in SAMPLES if s in found)
