"""Final states of neutrino-like interactions on argon (kinematics; a GENIE stand-in, not a
cross section), for :mod:`larseg.sim.generators.neutrino`.

All four-momenta are conserved at the nucleon level:
- target: one nucleon (two for MEC) from a Fermi gas (k_F = 250 MeV/c), off shell with energy
  M − E_b (E_b = 30 MeV), so Σ E_final ≤ E_ν + Σ M_target;
- hadronic invariant mass W: the nucleon (QE), the nucleon pair + 0-300 MeV (MEC), a Δ(1232)
  Breit-Wigner (RES), exp(−(W − W_min)/500 MeV) above M + 2 m_π (DIS);
- Q² in the lepton-hadron CM frame from (1 + Q²/M²)^-n: the dipole form factor squared
  (n = 4, M_A = 1.0 GeV) for QE/MEC, M_A^RES = 1.12 GeV (Rein-Sehgal as in GENIE) for RES,
  n = 2 for DIS; azimuth uniform;
- the hadronic system decays: MEC into two nucleons, RES Δ -> N π (isotropic, isospin
  Clebsch-Gordan channel weights), DIS into a nucleon + ≥ 2 pions by phase space (multiplicity
  from the AGKY mean ⟨n_ch⟩ = 0.4 + 1.42 ln W², Yang et al., EPJ C 63 (2009) 1);
- Pauli blocking: final nucleons below k_F are redrawn (up to 50 times);
- final-state interactions (``fsi``): a one-step sketch: each pion is absorbed on an np pair
  with probability 0.2 (giving two nucleons), each nucleon above 50 MeV knocks out another with
  probability 0.3 (isotropic NN scattering in the CM); 8 MeV separation energy per nucleon.

Modes are LArSoft simb::int_type_ codes: 1001 CCQE, 1002 NCQE, 10 MEC, 1003-1005 CC RES
(p π+, p π0, n π+), 1006-1009 NC RES (p π0, n π+, n π0, p π−), 1010-1012 ν̄ CC RES (n π−,
n π0, p π−), 1013-1016 ν̄ NC RES (p π0, n π+, n π0, p π−), 1091 CC DIS, 1092 NC DIS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import LarsegError
from .flux import sample_bnb_energy
from .kinematics import (AR_N, AR_Z, BINDING_ENERGY_AR, FERMI_MOMENTUM_AR, SEPARATION_ENERGY_AR,
                         boost, charge, fermi_momenta, four_vector, invariant_mass, mass,
                         n_body_decay, rotate_from_z, two_body_decay, two_body_momentum, velocity,
                         width)

P, N, PIP, PI0, PIM = 2212, 2112, 211, 111, -211

Q2_SHAPE = {"QE": (1000.0, 4), "MEC": (1000.0, 4), "RES": (1120.0, 4), "DIS": (1000.0, 2)}
MEC_W_SPREAD = 300.0         # MeV above the pair's mass: the "dip" between QE and Δ peaks
DIS_W_SLOPE = 500.0          # MeV
PION_ABSORPTION = 0.2        # per pion (order of π-argon absorption fractions at ~200 MeV)
NUCLEON_KNOCKOUT = 0.3       # per nucleon above KNOCKOUT_MIN_KE
KNOCKOUT_MIN_KE = 50.0
_MAX_TRIES = 50


@dataclass
class FinalState:
    """One interaction: E_ν, code, outgoing lepton (ν for NC), hadrons, target nucleons."""

    nu_pdg: int
    current: int
    mode: int
    energy: float
    lepton: tuple[int, np.ndarray]
    hadrons: list[tuple[int, np.ndarray]] = field(default_factory=list)
    targets: tuple[int, ...] = ()

    @property
    def visible(self) -> list[tuple[int, np.ndarray]]:
        """Particles handed to transport: the charged lepton (CC) and every hadron."""
        return ([self.lepton] if self.current == 0 else []) + self.hadrons


def weighted_choice(rng: np.random.Generator, weights) -> int:
    w = np.asarray(weights, dtype=np.float64)
    i = int(np.searchsorted(np.cumsum(w) / w.sum(), rng.uniform(), side="right"))
    return min(i, w.size - 1)


def sample_q2(rng: np.random.Generator, lo: float, hi: float, scale: float, power: int) -> float:
    """Q² on [lo, hi] from a density ∝ (1 + Q²/scale²)^-power (inverse CDF)."""
    a = scale * scale
    g0, g1 = (1.0 + lo / a) ** (1 - power), (1.0 + hi / a) ** (1 - power)
    g = g0 + rng.uniform() * (g1 - g0)
    return a * (g ** (1.0 / (1 - power)) - 1.0)


def scatter(rng: np.random.Generator, e_nu: float, target: np.ndarray, m_lepton: float, w: float,
            q2_shape: tuple[float, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """ν(+z) + target -> lepton + hadronic system of mass w; lab four-vectors, None if closed."""
    k = np.array([0.0, 0.0, e_nu, e_nu])
    tot = k + target
    sqrt_s = float(invariant_mass(tot))
    if not sqrt_s > m_lepton + w:
        return None
    beta = velocity(tot)[0]
    k_cm = boost(k, -beta)[0]
    e_cm = float(np.linalg.norm(k_cm[:3]))
    p = float(two_body_momentum(sqrt_s, m_lepton, w))
    e_l = float(np.hypot(p, m_lepton))
    q2_lo = -m_lepton ** 2 + 2.0 * e_cm * (e_l - p)
    q2_hi = -m_lepton ** 2 + 2.0 * e_cm * (e_l + p)
    q2 = sample_q2(rng, max(q2_lo, 0.0), q2_hi, *q2_shape)
    cos_t = float(np.clip((e_l - (q2 + m_lepton ** 2) / (2.0 * e_cm)) / p, -1.0, 1.0))
    phi = rng.uniform(0.0, 2.0 * np.pi)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    d = rotate_from_z(np.array([[sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t]]), k_cm[None, :3])
    lepton = boost(four_vector(d, p, m_lepton), beta)[0]
    return lepton, tot - lepton


def _target(rng: np.random.Generator, pdgs: tuple[int, ...]) -> np.ndarray:
    """Summed four-momentum of off-shell Fermi-gas nucleons (energy M - E_b each)."""
    pf = fermi_momenta(rng, len(pdgs)).sum(axis=0)
    e = sum(mass(t) - BINDING_ENERGY_AR for t in pdgs)
    return np.array([pf[0], pf[1], pf[2], e])


def _channel(rng: np.random.Generator, mode: str, cc: bool,
             anti: bool = False) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(target nucleons, final hadrons (DIS: the nucleon only), code) for a mode."""
    if anti:
        return _channel_anti(rng, mode, cc)
    if mode == "QE":
        if cc:
            return (N,), (P,), 1001
        t = P if rng.uniform() < AR_Z / (AR_Z + AR_N) else N
        return (t,), (t,), 1002
    if mode == "MEC":
        # np pairs dominate short-range correlations (Subedi et al., Science 320 (2008) 1476)
        pair = (N, P) if rng.uniform() < 0.8 else ((N, N) if cc else (P, P))
        if cc:
            return pair, ((P, P) if pair == (N, P) else (P, N)), 10
        return pair, pair, 10
    if mode == "RES":
        # Δ dominance: CC ν p -> Δ++ (p π+), ν n -> Δ+ (p π0 : n π+ = 2 : 1), the Δ++ being 3x
        # stronger (isospin 3/2 Clebsch-Gordan); weighted by argon's Z = 18, N = 22.
        if cc:
            opts = [((P,), (P, PIP), 1003, 9 * AR_Z), ((N,), (P, PI0), 1004, 2 * AR_N),
                    ((N,), (N, PIP), 1005, 1 * AR_N)]
        else:
            opts = [((P,), (P, PI0), 1006, 2 * AR_Z), ((P,), (N, PIP), 1007, 1 * AR_Z),
                    ((N,), (N, PI0), 1008, 2 * AR_N), ((N,), (P, PIM), 1009, 1 * AR_N)]
        t, f, code, _ = opts[weighted_choice(rng, [o[3] for o in opts])]
        return t, f, code
    t = P if rng.uniform() < AR_Z / (AR_Z + AR_N) else N
    return (t,), (P if rng.uniform() < 0.5 else N,), (1091 if cc else 1092)


def _channel_anti(rng: np.random.Generator, mode: str,
                  cc: bool) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The antineutrino's channels: CC turns a proton into a neutron."""
    if mode == "QE":
        if cc:
            return (P,), (N,), 1001
        t = P if rng.uniform() < AR_Z / (AR_Z + AR_N) else N
        return (t,), (t,), 1002
    if mode == "MEC":
        pair = (N, P) if rng.uniform() < 0.8 else ((P, P) if cc else (N, N))
        if cc:
            return pair, ((N, N) if pair == (N, P) else (N, P)), 10
        return pair, pair, 10
    if mode == "RES":
        # ν̄ n -> Δ- (n π-), ν̄ p -> Δ0 (n π0 : p π- = 2 : 1); Δ- 3x stronger (isospin 3/2)
        if cc:
            opts = [((N,), (N, PIM), 1010, 9 * AR_N), ((P,), (N, PI0), 1011, 2 * AR_Z),
                    ((P,), (P, PIM), 1012, 1 * AR_Z)]
        else:
            opts = [((P,), (P, PI0), 1013, 2 * AR_Z), ((P,), (N, PIP), 1014, 1 * AR_Z),
                    ((N,), (N, PI0), 1015, 2 * AR_N), ((N,), (P, PIM), 1016, 1 * AR_N)]
        t, f, code, _ = opts[weighted_choice(rng, [o[3] for o in opts])]
        return t, f, code
    t = P if rng.uniform() < AR_Z / (AR_Z + AR_N) else N
    return (t,), (P if rng.uniform() < 0.5 else N,), (1091 if cc else 1092)


def _sample_w(rng: np.random.Generator, mode: str, finals: tuple[int, ...],
              w_hi: float) -> float | None:
    m_sum = sum(mass(f) for f in finals)
    if mode == "QE":
        return m_sum if w_hi > m_sum else None
    if mode == "MEC":
        hi = min(w_hi, m_sum + MEC_W_SPREAD)
        return rng.uniform(m_sum, hi) if hi > m_sum else None
    if mode == "RES":
        lo, hi = m_sum + 1.0, min(w_hi, 2000.0)
        if hi <= lo:
            return None
        m0, g = mass(2214), width(2214)  # Δ(1232), PDG via `particle`
        f_lo, f_hi = (np.arctan(2.0 * (x - m0) / g) for x in (lo, hi))
        return float(m0 + 0.5 * g * np.tan(f_lo + rng.uniform() * (f_hi - f_lo)))
    lo = m_sum + 2.0 * mass(PIP) + 10.0
    if w_hi <= lo:
        return None
    span = 1.0 - np.exp(-(w_hi - lo) / DIS_W_SLOPE)
    return float(lo - DIS_W_SLOPE * np.log(1.0 - rng.uniform() * span))


def _dis_hadrons(rng: np.random.Generator, w: float, nucleon: int, hadron_charge: int) -> list[int]:
    n_ch = 0.4 + 1.42 * np.log((w / 1000.0) ** 2)          # AGKY ⟨n_ch⟩ (ν p)
    n_pi = 2 + int(rng.poisson(max(1.5 * n_ch - 1.0 - 2.0, 0.0)))
    while n_pi > 2 and mass(nucleon) + n_pi * mass(PIP) >= w - 1.0:
        n_pi -= 1
    need = hadron_charge - charge(nucleon)
    for _ in range(200):
        q = rng.integers(-1, 2, n_pi)
        if q.sum() == need:
            break
    else:  # always reachable: fix the charges deterministically
        q = np.zeros(n_pi, dtype=np.int64)
        q[:abs(need)] = np.sign(need)
    return [nucleon] + [{1: PIP, 0: PI0, -1: PIM}[int(c)] for c in q]


def _pauli_ok(hadrons: list[tuple[int, np.ndarray]]) -> bool:
    return all(np.linalg.norm(p4[:3]) >= FERMI_MOMENTUM_AR for pdg, p4 in hadrons if pdg in (P, N))


def sample_final_state(rng: np.random.Generator, category: str, mode: str,
                       fsi: bool = True, anti: bool = False) -> FinalState:
    """One interaction of the given category ('numu_cc', 'nue_cc', 'nc') and mode, of the
    antineutrino when ``anti``."""
    cc = category != "nc"
    nu = 12 if category == "nue_cc" else 14
    lep = (nu - 1) if cc else nu
    if anti:
        nu, lep = -nu, -lep
    m_l = mass(lep)
    for _ in range(100):
        e_nu = float(sample_bnb_energy(rng, 1)[0])
        targets, base, code = _channel(rng, mode, cc, anti)
        result = None
        for _ in range(_MAX_TRIES):
            target = _target(rng, targets)
            w_hi = float(invariant_mass(target + np.array([0, 0, e_nu, e_nu]))) - m_l
            w = _sample_w(rng, mode, base, w_hi)
            if w is None:
                break
            out = scatter(rng, e_nu, target, m_l, w, Q2_SHAPE[mode])
            if out is None:
                continue
            lepton, system = out
            finals = base
            if mode == "DIS":
                qh = sum(charge(t) for t in targets) + ((-1 if anti else 1) if cc else 0)
                finals = tuple(_dis_hadrons(rng, w, base[0], qh))
            if len(finals) == 1:
                hadrons = [(finals[0], system)]
            else:
                hadrons = list(zip(finals, n_body_decay(rng, system, [mass(f) for f in finals])))
            result = (lepton, hadrons)
            if _pauli_ok(hadrons):
                break
        if result is not None:
            lepton, hadrons = result
            if fsi:
                hadrons = final_state_interactions(rng, hadrons)
            return FinalState(nu_pdg=nu, current=0 if cc else 1, mode=code, energy=e_nu,
                              lepton=(lep, lepton), hadrons=hadrons, targets=targets)
    raise LarsegError(f"neutrino generator: mode {mode} never kinematically open")


def final_state_interactions(rng: np.random.Generator,
                             hadrons: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray]]:
    """One step of pion absorption and nucleon knock-out (see the module doc)."""
    s = SEPARATION_ENERGY_AR
    out: list[tuple[int, np.ndarray]] = []
    for pdg, p4 in hadrons:
        if pdg in (PIP, PI0, PIM) and rng.uniform() < PION_ABSORPTION:
            # π + (n p) -> N N: π+ -> p p, π0 -> p n, π− -> n n
            pair = {PIP: (P, P), PI0: (P, N), PIM: (N, N)}[pdg]
            system = p4 + np.array([0.0, 0.0, 0.0, mass(pair[0]) + mass(pair[1]) - 2 * s])
            if invariant_mass(system) > mass(pair[0]) + mass(pair[1]):
                a, b = two_body_decay(rng, system, mass(pair[0]), mass(pair[1]))
                out += [(pair[0], a[0]), (pair[1], b[0])]
                continue
        out.append((pdg, p4))
    final: list[tuple[int, np.ndarray]] = []
    for pdg, p4 in out:
        fast = pdg in (P, N) and p4[3] - mass(pdg) > KNOCKOUT_MIN_KE
        if fast and rng.uniform() < NUCLEON_KNOCKOUT:
            struck = P if rng.uniform() < AR_Z / (AR_Z + AR_N) else N
            system = p4 + np.array([0.0, 0.0, 0.0, mass(struck) - s])
            if invariant_mass(system) > mass(pdg) + mass(struck):
                a, b = two_body_decay(rng, system, mass(pdg), mass(struck))
                final += [(pdg, a[0]), (struck, b[0])]
                continue
        final.append((pdg, p4))
    return final
