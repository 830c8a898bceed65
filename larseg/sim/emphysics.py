"""Electromagnetic processes in liquid argon: bremsstrahlung, pair production, Compton scattering
and photoabsorption (cross-section tables in numpy, samplers in numba).

Bremsstrahlung and pair production use the Bethe-Heitler cross sections with Thomas-Fermi
screening functions and the Coulomb correction (Butcher & Messel, Nucl. Phys. 20 (1960) 15;
Tsai, Rev. Mod. Phys. 46 (1974) 815; PDG eqs. 34.27-34.31 in the complete-screening limit).
They are normalised so that at high energy the radiative loss is E/X0 and the pair cross section
is 7/(9 X0), X0 = 14.0 cm (PDG). Compton: Klein-Nishina on free electrons. Photoabsorption: an
E^-3 law with ≈ 0.04 cm²/g at 100 keV (order of magnitude of NIST XCOM for argon; it matters only
for where sub-100-keV photons stop).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from ..detectors.physics_constants import LAR_DENSITY_G_CM3, LAR_Z, RADIATION_LENGTH_CM
from .stopping import ELECTRON_MASS, Z_OVER_A

ME = ELECTRON_MASS
X0 = RADIATION_LENGTH_CM
R_E_CM = 2.8179403262e-13          # classical electron radius (PDG 2024)
N_A = 6.02214076e23                # Avogadro (PDG 2024)
ELECTRON_DENSITY = LAR_DENSITY_G_CM3 * N_A * Z_OVER_A   # electrons / cm³
Z13 = LAR_Z ** (1.0 / 3.0)
_AZ = LAR_Z / 137.035999
# Coulomb correction f(Z) (Davies, Bethe & Maximon 1954; PDG eq. 34.26)
F_COULOMB = _AZ ** 2 * (1 / (1 + _AZ ** 2) + 0.20206 - 0.0369 * _AZ ** 2 + 0.0083 * _AZ ** 4
                        - 0.002 * _AZ ** 6)
LN_Z_3 = math.log(LAR_Z) / 3.0
PHOTOELECTRIC_MU_RHO_100KEV = 0.04  # cm²/g at 100 keV (≈ NIST XCOM argon, see module docstring)


@njit(cache=True)
def _phi1(d):
    # Screening functions (Butcher & Messel 1960)
    if d <= 1.0:
        return 20.867 - 3.242 * d + 0.625 * d * d
    return 21.12 - 4.184 * math.log(d + 0.952)


@njit(cache=True)
def _phi2(d):
    if d <= 1.0:
        return 20.209 - 1.930 * d - 0.086 * d * d
    return 21.12 - 4.184 * math.log(d + 0.952)


_C = LN_Z_3 + F_COULOMB
# complete-screening normalisations: ∫F dy = (4/3)A1 - (1/3)A2 (brems),
# ∫G dx = (2/3)A1 + (1/9)A2 (pairs, scaled so that σ -> 7/(9 X0))
_A1 = 20.867 / 4 - _C
_A2 = 20.209 / 4 - _C
BREMS_NORM = (4.0 / 3.0) * _A1 - _A2 / 3.0
PAIR_NORM = (9.0 / 7.0) * ((2.0 / 3.0) * _A1 + _A2 / 9.0)
BREMS_F_MAX = 2.0 * _A1 - (2.0 / 3.0) * _A2 + 0.05   # bound of F over y at δ = 0 (y -> 0)
PAIR_G_MAX = _A1 + 0.05                               # bound of G over x at δ = 0 (x -> 0, 1)


@njit(cache=True)
def brems_shape(k, E):
    """F(k, E): k dσ/dk in units of 1/X0 (photon energy k, electron total energy E)."""
    if k >= E - ME:
        return 0.0
    y = k / E
    Ep = E - k
    d = 136.0 * ME * k / (Z13 * E * Ep)
    a1 = max(_phi1(d) / 4.0 - _C, 0.0)
    a2 = max(_phi2(d) / 4.0 - _C, 0.0)
    return max((1.0 + (1.0 - y) ** 2) * a1 - (2.0 / 3.0) * (1.0 - y) * a2, 0.0) / BREMS_NORM


@njit(cache=True)
def pair_shape(x, E):
    """G(x, E): dσ/dx for an e+ (or e-) with fraction x of the photon energy E, units 1/X0."""
    if x <= ME / E or x >= 1.0 - ME / E:
        return 0.0
    d = 136.0 * ME / (Z13 * E * x * (1.0 - x))
    a1 = max(_phi1(d) / 4.0 - _C, 0.0)
    a2 = max(_phi2(d) / 4.0 - _C, 0.0)
    return max((x * x + (1 - x) ** 2) * a1 + (2.0 / 3.0) * x * (1 - x) * a2, 0.0) / PAIR_NORM


@njit(cache=True)
def _brems_integrals(T, kcut, n):
    """(photons per cm above kcut, radiative loss per cm below kcut) for kinetic energy T."""
    E = T + ME
    nph = 0.0
    loss = 0.0
    if T > kcut and kcut > 0:
        # ∫ F/k dk in ln k
        a, b = math.log(kcut), math.log(T)
        h = (b - a) / n
        for i in range(n + 1):
            w = 0.5 if (i == 0 or i == n) else 1.0
            nph += w * brems_shape(math.exp(a + i * h), E) * h
    top = min(kcut, T) if kcut > 0 else T
    h = top / n
    for i in range(n + 1):
        w = 0.5 if (i == 0 or i == n) else 1.0
        loss += w * brems_shape(max(i * h, 1e-9), E) * h
    return nph / X0, loss / X0


def radiative_dedx(T: np.ndarray, kcut: float | None) -> np.ndarray:
    """Radiative energy loss (MeV/cm) of e∓ of kinetic energy T, from photons below ``kcut``
    (all photons if None)."""
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    out = np.empty_like(T)
    for i, t in enumerate(T):
        out[i] = _brems_integrals(t, 0.0 if kcut is None else min(kcut, t), 200)[1]
    return out


def brems_rate(T: np.ndarray, kcut: float) -> np.ndarray:
    """Number of bremsstrahlung photons with k > kcut emitted per cm by e∓ of energy T."""
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    return np.array([_brems_integrals(t, kcut, 200)[0] for t in T])


@njit(cache=True)
def _pair_integral(E, n):
    if E <= 2.0 * ME * 1.0001:
        return 0.0
    lo, hi = ME / E, 1.0 - ME / E
    h = (hi - lo) / n
    s = 0.0
    for i in range(1, n):
        s += pair_shape(lo + i * h, E) * h
    return s / X0


def pair_mu(E: np.ndarray) -> np.ndarray:
    """Pair-production attenuation coefficient (1/cm) at photon energy E (MeV)."""
    E = np.atleast_1d(np.asarray(E, dtype=np.float64))
    return np.array([_pair_integral(e, 400) for e in E])


def compton_mu(E: np.ndarray) -> np.ndarray:
    """Klein-Nishina attenuation coefficient (1/cm) of LAr's electrons."""
    k = np.atleast_1d(np.asarray(E, dtype=np.float64)) / ME
    l2 = np.log1p(2 * k)
    s = 2 * math.pi * R_E_CM ** 2 * ((1 + k) / k ** 2 * (2 * (1 + k) / (1 + 2 * k) - l2 / k)
                                     + l2 / (2 * k) - (1 + 3 * k) / (1 + 2 * k) ** 2)
    return s * ELECTRON_DENSITY


def photoelectric_mu(E: np.ndarray) -> np.ndarray:
    E = np.atleast_1d(np.asarray(E, dtype=np.float64))
    return PHOTOELECTRIC_MU_RHO_100KEV * (0.1 / np.maximum(E, 1e-3)) ** 3 * LAR_DENSITY_G_CM3


N_EM = 800
EM_LOG_E0, EM_LOG_E1 = math.log(1e-3), math.log(1e5)


@lru_cache(maxsize=8)
def em_tables(kcut: float) -> tuple[np.ndarray, np.ndarray]:
    """(photon table (N, 3): μ_pair, μ_compton, μ_photo in 1/cm; electron table (N,): brems
    photons per cm above kcut), both on the log-uniform grid EM_LOG_E0..EM_LOG_E1."""
    E = np.exp(np.linspace(EM_LOG_E0, EM_LOG_E1, N_EM))
    gam = np.stack([pair_mu(E), compton_mu(E), photoelectric_mu(E)], axis=1)
    return gam, brems_rate(E, kcut)


# ------------------------------------------------------------------------ samplers (numba)
@njit(cache=True)
def sample_brems_k(T, kcut):
    """Photon energy of a bremsstrahlung emission above kcut by an e∓ of kinetic energy T."""
    E = T + ME
    r = T / kcut
    for _ in range(1000):
        k = kcut * r ** np.random.random()
        if np.random.random() * BREMS_F_MAX <= brems_shape(k, E):
            return k
    return kcut


@njit(cache=True)
def sample_pair_fraction(E):
    """Fraction x of the photon energy carried by one of the pair (total energies)."""
    lo = ME / E
    for _ in range(1000):
        x = lo + (1.0 - 2.0 * lo) * np.random.random()
        if np.random.random() * PAIR_G_MAX <= pair_shape(x, E):
            return x
    return 0.5


@njit(cache=True)
def sample_compton(E):
    """Scattered-photon energy fraction ε = E'/E and cos θ (Klein-Nishina, rejection with the
    1/ε + ε envelope, Butcher & Messel 1960)."""
    k = E / ME
    e0 = 1.0 / (1.0 + 2.0 * k)
    a1 = -math.log(e0)
    a2 = 0.5 * (1.0 - e0 * e0)
    for _ in range(1000):
        if np.random.random() * (a1 + a2) < a1:
            eps = math.exp(-a1 * np.random.random())
        else:
            eps = math.sqrt(e0 * e0 + (1.0 - e0 * e0) * np.random.random())
        t = (1.0 - eps) / (k * eps)
        sin2 = max(t * (2.0 - t), 0.0)
        if np.random.random() <= 1.0 - eps * sin2 / (1.0 + eps * eps):
            return eps, 1.0 - t
    return 1.0, 1.0


@njit(cache=True)
def sample_small_angle(E):
    """Polar angle of a pair lepton / brems photon: θ = (m_e/E) u with u from a Gamma(2) law of
    mean 1.6 (the characteristic angle m_e/E of PDG section 34.4; shape as in GEANT3)."""
    u = -math.log(max(np.random.random() * np.random.random(), 1e-300)) / 1.25
    return min(u * ME / E, math.pi)
