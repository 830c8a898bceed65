"""Relativistic kinematics helpers shared by the event generators.

Four-vectors are numpy arrays whose last axis is (px, py, pz, E) in MeV (c = 1). Masses come from
the Scikit-HEP ``particle`` package (PDG data), never from a hand-typed table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ...labels import Origin
from ..records import Primary

# Fermi gas of argon: k_F ≈ 250 MeV/c (Moniz et al., PRL 26 (1971) 445, for nuclei of A ≈ 40).
FERMI_MOMENTUM_AR = 250.0
# Mean removal (binding) energy of a nucleon in argon: ≈ 30 MeV (a typical value; spectral-function
# fits to Ar(e,e'p) data of JLab E12-14-012 place the shells between ~10 and ~60 MeV).
BINDING_ENERGY_AR = 30.0
# Nucleon separation energy (cost of knocking a nucleon out of argon): ≈ 8 MeV (AME2020 S_n, S_p
# of 40Ar are 9.9 and 12.5 MeV; a round value is enough for these sketches).
SEPARATION_ENERGY_AR = 8.0
# Argon-40: Z = 18 protons, N = 22 neutrons.
AR_Z, AR_N = 18, 22


# ----------------------------------------------------------------------------- masses
@lru_cache(maxsize=None)
def mass(pdg: int) -> float:
    """Rest mass in MeV from the PDG data of the ``particle`` package (0 for photons, neutrinos)."""
    from particle import Particle

    m = Particle.from_pdgid(int(pdg)).mass
    return 0.0 if m is None else float(m)


@lru_cache(maxsize=None)
def charge(pdg: int) -> int:
    from particle import Particle

    return int(round(Particle.from_pdgid(int(pdg)).charge))


@lru_cache(maxsize=None)
def width(pdg: int) -> float:
    from particle import Particle

    w = Particle.from_pdgid(int(pdg)).width
    return 0.0 if w is None else float(w)


def masses(pdgs: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.array([mass(int(p)) for p in np.asarray(pdgs).reshape(-1)], dtype=np.float64)


def kinetic_from_momentum(p: np.ndarray | float, m: np.ndarray | float) -> np.ndarray:
    """Kinetic energy (MeV) of momentum ``p`` (MeV/c), mass ``m`` (MeV); stable for p << m."""
    p, m = np.asarray(p, dtype=np.float64), np.asarray(m, dtype=np.float64)
    return p * p / (np.sqrt(p * p + m * m) + m)


def momentum_from_kinetic(t: np.ndarray | float, m: np.ndarray | float) -> np.ndarray:
    t, m = np.asarray(t, dtype=np.float64), np.asarray(m, dtype=np.float64)
    return np.sqrt(t * (t + 2.0 * m))


# ------------------------------------------------------------------------- directions
def isotropic_directions(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) unit vectors uniform on the sphere."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(np.clip(1.0 - cos_t * cos_t, 0.0, None))
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def rotate_from_z(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (n, 3) given in a frame whose z axis is ``axis`` (n, 3) to the lab."""
    v, axis = np.atleast_2d(v), np.atleast_2d(axis)
    a = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    # any vector not parallel to a, then an orthonormal basis (u, w, a)
    helper = np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(helper, a)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    w = np.cross(a, u)
    return v[:, :1] * u + v[:, 1:2] * w + v[:, 2:3] * a


def deflect(directions: np.ndarray, cos_theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn unit vectors by polar angles ``arccos(cos_theta)`` at random azimuths."""
    cos_theta = np.asarray(cos_theta, dtype=np.float64).reshape(-1)
    sin_t = np.sqrt(np.clip(1.0 - cos_theta ** 2, 0.0, None))
    phi = rng.uniform(0.0, 2.0 * np.pi, cos_theta.size)
    local = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_theta], axis=-1)
    return rotate_from_z(local, directions)


# ----------------------------------------------------------------------- four-vectors
def four_vector(direction: np.ndarray, p: np.ndarray | float, m: np.ndarray | float) -> np.ndarray:
    d = np.atleast_2d(direction)
    p = np.asarray(p, dtype=np.float64).reshape(-1, 1)
    m = np.asarray(m, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([d * p, np.sqrt(p * p + m * m)], axis=-1)


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    p4 = np.asarray(p4, dtype=np.float64)
    m2 = p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1)
    return np.sqrt(np.clip(m2, 0.0, None))


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``p4`` (n, 4) by velocities ``beta`` (n, 3) (or (3,))."""
    p4 = np.atleast_2d(np.asarray(p4, dtype=np.float64))
    beta = np.broadcast_to(np.atleast_2d(np.asarray(beta, dtype=np.float64)), p4[:, :3].shape)
    b2 = np.sum(beta * beta, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(np.clip(1.0 - b2, 1e-300, None))
    bp = np.sum(beta * p4[:, :3], axis=-1, keepdims=True)
    # (gamma - 1) / b2, with its b2 -> 0 limit
    coef = np.where(b2 > 1e-300, (gamma - 1.0) / np.where(b2 > 1e-300, b2, 1.0), 0.5)
    e = p4[:, 3:4]
    p = p4[:, :3] + coef * bp * beta + gamma * beta * e
    return np.concatenate([p, gamma * (e + bp)], axis=-1)


def velocity(p4: np.ndarray) -> np.ndarray:
    """Velocity (n, 3) of the rest frame of ``p4``: boost(rest-frame vector, velocity) -> lab."""
    p4 = np.atleast_2d(p4)
    return p4[:, :3] / p4[:, 3:4]


def two_body_momentum(m_parent: np.ndarray | float, m1: np.ndarray | float,
                      m2: np.ndarray | float) -> np.ndarray:
    """Momentum of either daughter in the rest frame of the parent (NaN where forbidden)."""
    m_parent, m1, m2 = (np.asarray(a, dtype=np.float64) for a in (m_parent, m1, m2))
    lam = (m_parent ** 2 - (m1 + m2) ** 2) * (m_parent ** 2 - (m1 - m2) ** 2)
    with np.errstate(invalid="ignore"):
        return np.where(lam >= 0, np.sqrt(np.clip(lam, 0, None)) / (2.0 * m_parent), np.nan)


def two_body_decay(rng: np.random.Generator, parent: np.ndarray, m1: np.ndarray | float,
                   m2: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decays of parents (n, 4) in their rest frames; lab four-vectors."""
    parent = np.atleast_2d(np.asarray(parent, dtype=np.float64))
    n = parent.shape[0]
    m_parent = invariant_mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, dtype=np.float64), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=np.float64), (n,))
    p = two_body_momentum(m_parent, m1, m2)
    if np.any(~np.isfinite(p)):
        raise ValueError("two_body_decay: a parent is lighter than its daughters")
    d = isotropic_directions(rng, n)
    beta = velocity(parent)
    d1 = boost(four_vector(d, p, m1), beta)
    d2 = boost(four_vector(-d, p, m2), beta)
    return d1, d2


def n_body_decay(rng: np.random.Generator, parent: np.ndarray, daughter_masses: Sequence[float],
                 max_tries: int = 1000) -> np.ndarray:
    """Phase-space decay of one parent (4,) into daughters of the given masses; (k, 4) lab vectors.

    The Raubold-Lynch method (F. James, CERN 68-15, "GENBOD"): sorted uniform numbers give the
    intermediate invariant masses, the event weight is the product of two-body momenta, and
    accept-reject against the weight's upper bound makes the events unweighted.
    """
    parent = np.asarray(parent, dtype=np.float64).reshape(4)
    ms = np.asarray(daughter_masses, dtype=np.float64)
    k = ms.size
    m_parent = float(invariant_mass(parent))
    if k == 1:
        return parent[None, :].copy()
    if k == 2:
        a, b = two_body_decay(rng, parent, ms[0], ms[1])
        return np.concatenate([a, b])
    t_kin = m_parent - ms.sum()
    if t_kin <= 0:
        raise ValueError(f"n_body_decay: mass {m_parent:.1f} MeV below the sum of daughters")
    cum = np.cumsum(ms)
    # upper bound of the weight: each two-body momentum at its largest (James, eq. for w_max)
    w_max = 1.0
    for i in range(1, k):
        w_max *= float(two_body_momentum(cum[i] + t_kin, cum[i - 1], ms[i]))
    for _ in range(max_tries):
        r = np.sort(rng.uniform(0.0, 1.0, k - 2))
        inv = np.concatenate([[ms[0]], cum[1:-1] + r * t_kin, [m_parent]])
        pk = two_body_momentum(inv[1:], inv[:-1], ms[1:])
        if rng.uniform(0.0, w_max) <= np.prod(pk):
            break
    # build the chain in the rest frames, from the lightest system up
    out = np.zeros((k, 4))
    out[0] = [0.0, 0.0, 0.0, ms[0]]
    for i in range(1, k):
        d = isotropic_directions(rng, 1)
        q = pk[i - 1]
        # daughters 0..i-1 form a system of mass inv[i-1] recoiling against daughter i
        sys_vec = four_vector(-d, q, inv[i - 1])
        beta = velocity(sys_vec)
        out[:i] = boost(out[:i], beta)
        out[i] = four_vector(d, q, ms[i])[0]
    return boost(out, velocity(parent))


# ------------------------------------------------------------------------ nuclear model
def fermi_momenta(rng: np.random.Generator, n: int,
                  k_fermi: float = FERMI_MOMENTUM_AR) -> np.ndarray:
    """(n, 3) nucleon momenta uniform in the Fermi sphere (global Fermi gas)."""
    r = k_fermi * rng.uniform(0.0, 1.0, n) ** (1.0 / 3.0)
    return isotropic_directions(rng, n) * r[:, None]


def sample_power_law(rng: np.random.Generator, n: int, index: float, lo: float,
                     hi: float) -> np.ndarray:
    """n values from a density ∝ x^-index on [lo, hi] (index != 1)."""
    u = rng.uniform(0.0, 1.0, n)
    a = 1.0 - index
    return (lo ** a + u * (hi ** a - lo ** a)) ** (1.0 / a)


# --------------------------------------------------------------------------- records
def to_primaries(pdgs: Sequence[int], positions: np.ndarray, directions: np.ndarray,
                 kinetic_energies: np.ndarray, times: np.ndarray | float, origin: Origin,
                 interaction_id: int = -1, process: str = "primary") -> list[Primary]:
    """Primary records from arrays (positions/directions (n, 3), energies and times (n,))."""
    n = len(pdgs)
    pos = np.broadcast_to(np.asarray(positions, dtype=np.float64).reshape(-1, 3), (n, 3))
    dirs = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    ke = np.broadcast_to(np.asarray(kinetic_energies, dtype=np.float64).reshape(-1), (n,))
    t = np.broadcast_to(np.asarray(times, dtype=np.float64).reshape(-1), (n,))
    return [Primary(pdg=int(pdgs[i]), position=tuple(float(v) for v in pos[i]),
                    direction=tuple(float(v) for v in dirs[i]),
                    kinetic_energy=float(max(ke[i], 0.0)), time=float(t[i]), origin=origin,
                    interaction_id=int(interaction_id), process=process)
            for i in range(n)]
