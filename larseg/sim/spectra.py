"""Random spectra of the transport: energy-loss fluctuations (Landau), δ-ray energies, the Michel
spectrum. Tables are built in numpy; the samplers are numba functions drawing from numba's RNG
(seeded per event by the transport)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from .stopping import ELECTRON_MASS, MUON_MASS

# Michel endpoint W = (m_μ² + m_e²) / (2 m_μ) = 52.83 MeV (total electron energy; PDG masses)
MICHEL_ENDPOINT = (MUON_MASS ** 2 + ELECTRON_MASS ** 2) / (2 * MUON_MASS)
# Landau-table grid: u = ln(λ + 4) uniform from λ = -3.5 to 1e4; inverse table in v = -ln(1 - F)
_LAM_LO, _LAM_HI, _N_LAM = -3.5, 1.0e4, 3000
_N_INV = 4096


def landau_pdf(lam: np.ndarray) -> np.ndarray:
    """Landau density φ(λ) = (1/π) ∫₀^∞ exp(-t ln t - λ t) sin(π t) dt (by quadrature)."""
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    out = np.empty_like(lam)
    for start in range(0, lam.size, 256):
        lc = lam[start:start + 256, None]
        # the integrand decays like exp(-λ t): integrate to t ≈ 40/λ for large λ
        top = np.where(lc > 0.67, 40.0 / np.maximum(lc, 1e-9), 60.0)
        s = np.linspace(0.0, 1.0, 6001)[None, :]
        t = np.maximum(s * top, 1e-300)
        f = np.exp(-t * np.log(t) - lc * t) * np.sin(np.pi * t)
        out[start:start + 256] = np.trapezoid(f, s, axis=1) * top[:, 0] / np.pi
    return np.maximum(out, 0.0)


@lru_cache(maxsize=1)
def landau_tables() -> tuple[np.ndarray, np.ndarray]:
    """(forward, inverse) tables of the Landau distribution.

    forward (N, 2) on u = ln(λ + 4) uniform: CDF F(λ) and partial mean ∫_{-∞}^λ λ' φ dλ';
    inverse (M,) λ on v = -ln(1 - F) uniform in [0, v_max]. Beyond λ = 1e4 the tail (≈ 1/λ²)
    is cut: λ is truncated at the energy transfer limit anyway.
    """
    u = np.linspace(math.log(_LAM_LO + 4), math.log(_LAM_HI + 4), _N_LAM)
    lam = np.exp(u) - 4.0
    pdf = landau_pdf(lam)
    dl = np.diff(lam)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * dl)])
    m1 = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] * lam[1:] + pdf[:-1] * lam[:-1]) * dl)])
    forward = np.stack([cdf, m1], axis=1)
    v = -np.log1p(-np.minimum(cdf, 1 - 1e-12))
    vg = np.linspace(0.0, v[-1], _N_INV)
    inverse = np.interp(vg, v, lam)
    return forward, inverse


# no reference counting (here and below, see stack.NO_RC): sample_energy_loss is called at
# every step
@njit(cache=True, _nrt=False)
def _forward_lookup(forward, lam):
    u = math.log(lam + 4.0)
    u0 = math.log(_LAM_LO + 4.0)
    du = (math.log(_LAM_HI + 4.0) - u0) / (forward.shape[0] - 1)
    x = (u - u0) / du
    if x <= 0:
        return forward[0, 0], forward[0, 1]
    if x >= forward.shape[0] - 1:
        return forward[-1, 0], forward[-1, 1]
    i = int(x)
    f = x - i
    return (forward[i, 0] * (1 - f) + forward[i + 1, 0] * f,
            forward[i, 1] * (1 - f) + forward[i + 1, 1] * f)


@njit(cache=True, _nrt=False)
def sample_truncated_landau(forward, inverse, lam_max):
    """(λ, <λ>) with λ drawn from the Landau density truncated at lam_max, and the mean of
    that truncated density."""
    cmax, m1 = _forward_lookup(forward, lam_max)
    F = np.random.random() * cmax
    vmax = -math.log(max(1.0 - forward[-1, 0], 1e-12))
    v = -math.log(1.0 - F)
    x = v / vmax * (inverse.shape[0] - 1)
    i = min(int(x), inverse.shape[0] - 2)
    f = x - i
    lam = inverse[i] * (1 - f) + inverse[i + 1] * f
    return min(lam, lam_max), m1 / cmax


@njit(cache=True, _nrt=False)
def sample_energy_loss(mean, xi, tmax, beta2, forward, inverse):
    """Energy lost over a step, with mean ``mean`` (MeV).

    ``xi`` is the Landau scale ξ = (K/2)(Z/A) ρ x / β² (PDG eq. 34.11) and ``tmax`` the largest
    transfer in one collision (the δ-ray cut when δ-rays are explicit). For κ = ξ/tmax < 0.1:
    Landau truncated at λ = tmax/ξ, shifted so the mean is ``mean``; thicker absorbers
    (κ ≥ 0.1, the Vavilov-Gaussian regime): a Gamma law with the Bohr variance ξ tmax (1 - β²/2).
    """
    if mean <= 0.0:
        return 0.0
    if xi <= 0.0 or tmax <= 0.0:
        return mean
    kappa = xi / tmax
    if kappa >= 0.1:
        var = xi * tmax * (1.0 - 0.5 * beta2)
        shape = mean * mean / var
        if shape > 1e4:
            return mean + math.sqrt(var) * np.random.normal()
        return np.random.gamma(shape, var / mean)
    lam, lam_mean = sample_truncated_landau(forward, inverse, 1.0 / kappa)
    return max(mean + xi * (lam - lam_mean), 0.0)


@njit(cache=True)
def sample_delta_energy(tcut, tmax, beta2):
    """Kinetic energy of a δ-ray: dN/dT ∝ (1 - β² T/Tmax)/T² on [tcut, tmax] (PDG eq. 34.10)."""
    a = 1.0 / tcut
    b = 1.0 / tmax
    for _ in range(1000):
        T = 1.0 / (a - np.random.random() * (a - b))
        if np.random.random() <= 1.0 - beta2 * T / tmax:
            return T
    return tcut


@njit(cache=True)
def sample_michel_energy():
    """Total energy (MeV) of a Michel electron: x = E/W from x²(3 - 2x) (leading order)."""
    while True:
        x = np.random.random()
        if np.random.random() <= x * x * (3.0 - 2.0 * x):
            return max(x * MICHEL_ENDPOINT, ELECTRON_MASS * 1.0001)


def michel_pdf(E: np.ndarray) -> np.ndarray:
    """Normalised leading-order Michel density in the electron energy E (MeV)."""
    x = np.asarray(E, dtype=np.float64) / MICHEL_ENDPOINT
    return np.where((x >= 0) & (x <= 1), 2.0 * x * x * (3 - 2 * x), 0.0) / MICHEL_ENDPOINT


@njit(cache=True)
def seed(s):
    """Seed numba's generator (one per thread) for a reproducible event."""
    np.random.seed(s)


@njit(cache=True)
def draw_michel(n):
    out = np.empty(n)
    for i in range(n):
        out[i] = sample_michel_energy()
    return out


@njit(cache=True)
def draw_energy_loss(n, mean, xi, tmax, beta2, forward, inverse):
    out = np.empty(n)
    for i in range(n):
        out[i] = sample_energy_loss(mean, xi, tmax, beta2, forward, inverse)
    return out
