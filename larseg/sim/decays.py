"""What happens at the end of a track: decays at rest and in flight, nuclear captures, hadronic
inelastic interactions, π0 decays and neutron interactions (numba; secondaries are appended to
the particle table with their parent).

The hadronic final states are a deliberately simple phenomenology (a few protons, a scattered
or absorbed pion) meant to give images the right look, not GEANT4's cross sections.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .scattering import rotate
from .spectra import sample_michel_energy
from .stack import (A1, A2, B1, DX, DY, DZ, ET, EX, EY, EZ, F8, I8, PN, P_CAPTURE, P_DECAY,
                    P_KMINEL, P_KPINEL, P_MUCAPTURE, P_NINEL, P_PIMINEL, P_PINEL, P_PIPINEL, ST,
                    SX, SY, SZ, S_MICHEL, S_SHOWER, T0, add_by_pdg, ray_box)
from .stopping import ELECTRON_MASS, KAON_MASS, MUON_MASS, NEUTRON_MASS, PI0_MASS, PION_MASS

C_CM_US = 29979.2458              # speed of light, cm/µs
MUON_LIFETIME_US = 2.1969811      # PDG 2024
PION_LIFETIME_US = 2.6033e-2      # PDG 2024 (π±)
KAON_LIFETIME_US = 1.2380e-2      # PDG 2024 (K±)
# μ- in argon: nuclear capture rate 1.36e6 /s vs free decay 4.55e5 /s (Suzuki, Measday &
# Roalsvig, PRC 35 (1987) 2212): P(capture) = 0.749, lifetime 0.551 µs
MU_CAPTURE_RATE_US = 1.36
MU_DECAY_RATE_US = 1.0 / MUON_LIFETIME_US
# K± → μν (63.56 %) and π π0 (20.67 %) (PDG 2024), the two-body modes renormalised to 1
KAON_MUNU_FRACTION = 63.56 / (63.56 + 20.67)
NUCLEAR_INTERACTION_LENGTH_CM = 85.7   # PDG: λ_I(LAr) = 119.7 g/cm² / 1.396 g/cm³


@njit(cache=True)
def isotropic():
    c = 2.0 * np.random.random() - 1.0
    s = math.sqrt(max(1.0 - c * c, 0.0))
    phi = 2.0 * math.pi * np.random.random()
    return s * math.cos(phi), s * math.sin(phi), c


@njit(cache=True)
def two_body_momentum(M, m1, m2):
    """Momentum of the daughters of a two-body decay at rest."""
    a = (M * M - (m1 + m2) ** 2) * (M * M - (m1 - m2) ** 2)
    return math.sqrt(max(a, 0.0)) / (2.0 * M)


@njit(cache=True)
def boost(E, px, py, pz, bx, by, bz):
    """Lorentz boost of (E, p) by the velocity (bx, by, bz) (units of c)."""
    b2 = bx * bx + by * by + bz * bz
    if b2 <= 1e-20:
        return E, px, py, pz
    g = 1.0 / math.sqrt(1.0 - b2)
    bp = bx * px + by * py + bz * pz
    k = (g - 1.0) * bp / b2 + g * E
    return g * (E + bp), px + k * bx, py + k * by, pz + k * bz


@njit(PN(A2, I8, I8, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def add_decay_product(P, n, parent, pdg, proc, sem, m, pstar, x, y, z, t, bx, by, bz,
                      ux, uy, uz):
    """Daughter of mass m, rest-frame momentum pstar along (ux, uy, uz), boosted."""
    E, px, py, pz = boost(math.sqrt(pstar * pstar + m * m), pstar * ux, pstar * uy, pstar * uz,
                          bx, by, bz)
    return add_by_pdg(P, n, pdg, parent, proc, sem, x, y, z, t, px, py, pz, max(E - m, 0.0))


@njit(PN(A2, I8, I8, I8, F8, I8, I8, F8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def decay_two_body(P, n, i, pdg1, m1, sem1, pdg2, m2, sem2, M, T, dx, dy, dz, x, y, z, t):
    """Two-body decay of particle row i (mass M, kinetic T along d); pdg 0 = not recorded."""
    p = math.sqrt(max(T * (T + 2.0 * M), 0.0))
    E = T + M
    bx, by, bz = p / E * dx, p / E * dy, p / E * dz
    ps = two_body_momentum(M, m1, m2)
    ux, uy, uz = isotropic()
    if pdg1 != 0:
        P, n = add_decay_product(P, n, i, pdg1, P_DECAY, sem1, m1, ps, x, y, z, t, bx, by, bz,
                                 ux, uy, uz)
    if pdg2 != 0:
        P, n = add_decay_product(P, n, i, pdg2, P_DECAY, sem2, m2, ps, x, y, z, t, bx, by, bz,
                                 -ux, -uy, -uz)
    return P, n


@njit(PN(A2, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def decay(P, n, i, pdg, M, T, dx, dy, dz, x, y, z, t):
    """Decay of a π± or K± (at rest when T = 0, in flight otherwise). Neutrinos not recorded."""
    a = abs(pdg)
    sign = 1 if pdg > 0 else -1
    if a == 211:
        return decay_two_body(P, n, i, -13 * sign, MUON_MASS, -2, 0, 0.0, -2, M, T, dx, dy, dz,
                              x, y, z, t)
    if a == 321:
        if np.random.random() < KAON_MUNU_FRACTION:
            return decay_two_body(P, n, i, -13 * sign, MUON_MASS, -2, 0, 0.0, -2, M, T, dx, dy,
                                  dz, x, y, z, t)
        return decay_two_body(P, n, i, 211 * sign, PION_MASS, -2, 111, PI0_MASS, -2, M, T, dx,
                              dy, dz, x, y, z, t)
    return P, n


@njit(PN(A2, I8, I8, I8, F8, F8, I8, F8, F8, F8, F8), cache=True)
def _emit_protons(P, n, i, proc, budget, mean_T, max_n, x, y, z, t):
    """Up to max_n protons with exponential energies (mean mean_T) within an energy budget."""
    for _ in range(max_n):
        Tp = -mean_T * math.log(max(np.random.random(), 1e-12))
        if Tp > budget:
            Tp = budget * np.random.random()
        if Tp < 1.0:
            continue
        budget -= Tp
        ux, uy, uz = isotropic()
        P, n = add_by_pdg(P, n, 2212, i, proc, -2, x, y, z, t, ux, uy, uz, Tp)
    return P, n


@njit(I8(F8, F8, F8), cache=True)
def _count(probs0, probs1, probs2):
    r = np.random.random()
    if r < probs0:
        return 0
    if r < probs0 + probs1:
        return 1
    if r < probs0 + probs1 + probs2:
        return 2
    return 3


@njit(PN(A2, I8, I8, I8, F8, F8, F8, F8, B1), cache=True)
def at_rest(P, n, i, pdg, x, y, z, t, decays_on):
    """A particle stopped at (x, y, z, t): decay or nuclear capture."""
    if not decays_on:
        return P, n
    a = abs(pdg)
    if a == 13:
        if pdg == -13:
            tt = t - MUON_LIFETIME_US * math.log(max(np.random.random(), 1e-300))
            E = sample_michel_energy()
            ux, uy, uz = isotropic()
            return add_by_pdg(P, n, -11, i, P_DECAY, S_MICHEL, x, y, z, tt, ux, uy, uz,
                              E - ELECTRON_MASS)
        rate = MU_CAPTURE_RATE_US + MU_DECAY_RATE_US
        tt = t - math.log(max(np.random.random(), 1e-300)) / rate
        if np.random.random() < MU_DECAY_RATE_US / rate:
            # decay in orbit: GEANT4 books its electron under muMinusCaptureAtRest
            E = sample_michel_energy()
            ux, uy, uz = isotropic()
            return add_by_pdg(P, n, 11, i, P_MUCAPTURE, S_MICHEL, x, y, z, tt, ux, uy, uz,
                              E - ELECTRON_MASS)
        # nuclear capture: mostly neutrons (not recorded); de-excitation photons, rare protons
        n_gamma = np.random.poisson(0.8)
        for _ in range(n_gamma):
            ux, uy, uz = isotropic()
            P, n = add_by_pdg(P, n, 22, i, P_MUCAPTURE, S_SHOWER, x, y, z, tt, ux, uy, uz,
                              0.5 + 5.5 * np.random.random())
        if np.random.random() < 0.05:
            P, n = _emit_protons(P, n, i, P_MUCAPTURE, 40.0, 8.0, 1, x, y, z, tt)
        return P, n
    if a == 211:
        tt = t - PION_LIFETIME_US * math.log(max(np.random.random(), 1e-300))
        if pdg > 0:
            return decay(P, n, i, pdg, PION_MASS, 0.0, 0.0, 0.0, 1.0, x, y, z, tt)
        # π- capture: a few protons (neutrons not recorded)
        k = _count(0.35, 0.4, 0.2)
        return _emit_protons(P, n, i, P_CAPTURE, 100.0, 20.0, k, x, y, z, t)
    if a == 321:
        if pdg > 0:
            tt = t - KAON_LIFETIME_US * math.log(max(np.random.random(), 1e-300))
            return decay(P, n, i, pdg, KAON_MASS, 0.0, 0.0, 0.0, 1.0, x, y, z, tt)
        ux, uy, uz = isotropic()
        P, n = add_by_pdg(P, n, -211 if np.random.random() < 0.5 else 211, i, P_CAPTURE, -2,
                          x, y, z, t, ux, uy, uz, 50.0 + 150.0 * np.random.random())
        return _emit_protons(P, n, i, P_CAPTURE, 150.0, 30.0, 1, x, y, z, t)
    return P, n


@njit(F8(I8, F8), cache=True)
def inelastic_rate(pdg, T):
    """Hadronic inelastic interactions per cm: 1/λ_I (PDG) times a ramp that switches them
    on between 10 and 50 MeV, with a Δ(1232)-like enhancement for pions around 165 MeV
    (π-Ar cross sections peak ≈ 1.5x the high-energy value)."""
    a = abs(pdg)
    ramp = min(max((T - 10.0) / 40.0, 0.0), 1.0)
    if ramp <= 0.0:
        return 0.0
    f = 1.0
    if a == 211:
        f = 1.0 + 0.6 * math.exp(-((T - 165.0) / 80.0) ** 2)
    elif a == 321:
        f = 0.8
    elif a != 2212 and a != 2112:
        return 0.0
    return ramp * f / NUCLEAR_INTERACTION_LENGTH_CM


@njit(cache=True)
def _forward(dx, dy, dz, width):
    return rotate(dx, dy, dz, abs(np.random.normal()) * width, 2 * math.pi * np.random.random())


@njit(PN(A2, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def inelastic(P, n, i, pdg, T, dx, dy, dz, x, y, z, t):
    """Final state of a hadronic inelastic interaction of row i (p, π±, K±, n)."""
    a = abs(pdg)
    if a == 2212 or a == 2112:
        proc = P_PINEL if a == 2212 else P_NINEL
        avail = T - 8.0                                # minus a nucleon binding energy
        if avail <= 1.0:
            return P, n
        k = _count(0.35, 0.45, 0.2) if T < 100.0 else _count(0.2, 0.4, 0.28)
        budget = 0.8 * avail
        if k >= 1:
            Tl = avail * (0.3 + 0.5 * np.random.random())
            ux, uy, uz = _forward(dx, dy, dz, 0.35)
            P, n = add_by_pdg(P, n, 2212, i, proc, -2, x, y, z, t, ux, uy, uz, Tl)
            budget -= Tl
            P, n = _emit_protons(P, n, i, proc, max(budget, 0.0), 25.0, k - 1, x, y, z, t)
        if T > 500.0 and np.random.random() < 0.3:
            ux, uy, uz = _forward(dx, dy, dz, 0.6)
            P, n = add_by_pdg(P, n, 211 if np.random.random() < 0.5 else -211, i, proc, -2,
                              x, y, z, t, ux, uy, uz, avail * (0.05 + 0.25 * np.random.random()))
        return P, n
    if a == 211 or a == 321:
        if a == 211:
            proc = P_PIPINEL if pdg > 0 else P_PIMINEL
        else:
            proc = P_KPINEL if pdg > 0 else P_KMINEL
        r = np.random.random()
        p_abs = 0.0 if a == 321 else (0.45 if T < 100.0 else 0.25)
        if r < p_abs:                                   # absorption: nucleons only
            budget = 0.6 * (T + PION_MASS - 20.0)
            return _emit_protons(P, n, i, proc, budget, 40.0, _count(0.3, 0.4, 0.25),
                                 x, y, z, t)
        Tout = T * (0.3 + 0.55 * np.random.random())
        if a == 211 and r < p_abs + 0.1:                # charge exchange: a π0 goes on
            ux, uy, uz = _forward(dx, dy, dz, 0.5)
            P, n = add_by_pdg(P, n, 111, i, proc, -2, x, y, z, t, ux, uy, uz, Tout)
        else:                                           # quasi-elastic / inelastic scatter
            c = -0.2 + 1.2 * np.random.random()
            ux, uy, uz = rotate(dx, dy, dz, math.acos(c), 2 * math.pi * np.random.random())
            P, n = add_by_pdg(P, n, pdg, i, proc, -2, x, y, z, t, ux, uy, uz, Tout)
        return _emit_protons(P, n, i, proc, 0.7 * (T - Tout), 30.0, _count(0.4, 0.4, 0.2),
                             x, y, z, t)
    return P, n


@njit(PN(A2, I8, I8), cache=True)
def decay_pi0(P, n, i):
    """π0 -> γγ at its creation point (cτ = 25 nm), isotropic in the rest frame."""
    return decay_two_body(P, n, i, 22, 0.0, S_SHOWER, 22, 0.0, S_SHOWER, PI0_MASS, P[i, T0],
                          P[i, DX], P[i, DY], P[i, DZ], P[i, SX], P[i, SY], P[i, SZ], P[i, ST])


@njit(PN(A2, I8, I8, A1, B1), cache=True)
def transport_neutron(P, n, i, bb, hadronic_on):
    """Neutrons leave no charge of their own: they fly straight to an inelastic interaction (a
    few protons, sometimes a photon) or out of the detector's bounding box."""
    x, y, z, t = P[i, SX], P[i, SY], P[i, SZ], P[i, ST]
    dx, dy, dz = P[i, DX], P[i, DY], P[i, DZ]
    T = P[i, T0]
    t_in, t_out = ray_box(bb, x, y, z, dx, dy, dz)
    if t_in > t_out or t_out <= 0.0:
        return P, n
    rate = inelastic_rate(2112, T) if hadronic_on else 0.0
    d = -math.log(max(np.random.random(), 1e-300)) / rate if rate > 0 else 1e30
    p = math.sqrt(T * (T + 2 * NEUTRON_MASS))
    v = p / (T + NEUTRON_MASS) * C_CM_US
    end = min(d, t_out)
    P[i, EX], P[i, EY], P[i, EZ] = x + end * dx, y + end * dy, z + end * dz
    P[i, ET] = t + end / v
    if d >= t_out or d < t_in:
        return P, n
    P, n = inelastic(P, n, i, 2112, T, dx, dy, dz, P[i, EX], P[i, EY], P[i, EZ], P[i, ET])
    if np.random.random() < 0.5:
        ux, uy, uz = isotropic()
        P, n = add_by_pdg(P, n, 22, i, P_NINEL, S_SHOWER, P[i, EX], P[i, EY], P[i, EZ],
                          P[i, ET], ux, uy, uz, 1.0 + 4.0 * np.random.random())
    return P, n
