"""Electromagnetic cascades in liquid argon (numba, explicit stack).

One particle-table row (an e±/γ primary, a δ-ray, a Michel electron, a π0 photon...) is
developed into its whole cascade; every deposit of every descendant carries that row's id.

- photons: free path from μ_pair + μ_Compton + μ_photo; pair production (Bethe-Heitler with
  screening), Compton (Klein-Nishina) or photoabsorption; below ``gamma_cut`` absorbed where
  they next interact;
- e±: continuous collision loss (ICRU 37) plus bremsstrahlung below ``brems_cut``, fluctuated
  (truncated Landau, Tmax = T/2 for e-, T for e+); explicit bremsstrahlung photons above
  ``brems_cut``; Highland multiple scattering; below ``e_cut`` the rest is deposited on the
  spot; a stopped e+ annihilates into two 511 keV photons.

The row's ``end`` is the photon's first interaction point (or where it left the box) for a
photon, and the end of the leading electron's track for an e±.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .decays import C_CM_US, isotropic
from .emphysics import EM_LOG_E0, EM_LOG_E1, ME, sample_brems_k, sample_compton, \
    sample_pair_fraction, sample_small_angle
from .scattering import advance, rotate
from .spectra import sample_energy_loss
from .stack import (A1, A2, A3, DX, DY, DZ, EDEP, ET, EX, EY, EZ, F8, I8, PDG, PN, PND, ST, SX, SY,
                    SZ, T0, deposit_into, energy_of_range, face_distance, grow, in_box, ray_box,
                    table_value)
from .tracks import (PR_BREMS_CUT, PR_E_CUT, PR_E_MAX_STEP, PR_E_MIN_STEP, PR_E_RANGE_FRAC,
                     PR_FLUCT, PR_GAMMA_CUT, PR_MCS, XI_PER_CM)

_DLOG_EM = (EM_LOG_E1 - EM_LOG_E0)

# stack columns
_K, _X, _Y, _Z, _DX, _DY, _DZ, _E, _T, _LEAD = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
_NS = 10
GAMMA, ELECTRON, POSITRON = 0, 1, 2


@njit(F8(A2, I8, F8), cache=True, _nrt=False)  # called at every step (see stack.NO_RC)
def _em_lookup(tab, col, E):
    n = tab.shape[0]
    x = (math.log(max(E, 1e-30)) - EM_LOG_E0) / _DLOG_EM * (n - 1)
    if x <= 0.0:
        return tab[0, col]
    if x >= n - 1:
        return tab[n - 1, col]
    i = int(x)
    f = x - i
    return tab[i, col] * (1.0 - f) + tab[i + 1, col] * f


@njit(PN(A2, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def _push(S, ns, kind, x, y, z, dx, dy, dz, E, t, lead):
    S = grow(S, ns + 1)
    S[ns, _K] = kind
    S[ns, _X] = x
    S[ns, _Y] = y
    S[ns, _Z] = z
    S[ns, _DX] = dx
    S[ns, _DY] = dy
    S[ns, _DZ] = dz
    S[ns, _E] = E
    S[ns, _T] = t
    S[ns, _LEAD] = lead
    return S, ns + 1


@njit(PND(A2, I8, A2, I8, I8, A3, A2, A2, A2, A2, A2, A1, A1, A2, A1), cache=True)
def transport_em(P, n, D, nd, i, etab, einv, emeta, gtab, btab, lfwd, linv, prm, boxes, bb):
    """Develop the cascade of row i; returns (P, n, D, nd).

    Like :func:`larseg.sim.tracks.transport_heavy`, the deposit table is not grown here: the
    caller leaves room, and nd > len(D) on return means there was not enough."""
    pdg = int(P[i, PDG])
    kind0 = GAMMA if pdg == 22 else (ELECTRON if pdg == 11 else POSITRON)
    S = np.zeros((32, _NS))
    S, ns = _push(S, 0, kind0, P[i, SX], P[i, SY], P[i, SZ], P[i, DX], P[i, DY], P[i, DZ],
                  P[i, T0], P[i, ST], 1.0)
    e_cut = prm[PR_E_CUT]
    g_cut = prm[PR_GAMMA_CUT]
    kcut = prm[PR_BREMS_CUT]
    fluct = prm[PR_FLUCT] > 0
    mcs = prm[PR_MCS] > 0
    edep = 0.0
    while ns > 0:
        ns -= 1
        kind = int(S[ns, _K])
        x, y, z = S[ns, _X], S[ns, _Y], S[ns, _Z]
        dx, dy, dz = S[ns, _DX], S[ns, _DY], S[ns, _DZ]
        E, t, lead = S[ns, _E], S[ns, _T], S[ns, _LEAD] > 0
        if kind == GAMMA:
            mu_pair = _em_lookup(gtab, 0, E)
            mu_c = _em_lookup(gtab, 1, E)
            mu_pe = _em_lookup(gtab, 2, E)
            mu = mu_pair + mu_c + mu_pe
            d = -math.log(max(np.random.random(), 1e-300)) / mu
            t_in, t_out = ray_box(bb, x, y, z, dx, dy, dz)
            if t_in > t_out or d > t_out:
                if lead:
                    dl = max(min(t_out, d), 0.0)
                    P[i, EX], P[i, EY], P[i, EZ] = x + dl * dx, y + dl * dy, z + dl * dz
                    P[i, ET] = t + dl / C_CM_US
                continue
            x, y, z = x + d * dx, y + d * dy, z + d * dz
            t += d / C_CM_US
            if lead:
                P[i, EX], P[i, EY], P[i, EZ], P[i, ET] = x, y, z, t
            inside_bb = d >= t_in
            if E < g_cut:
                if inside_bb:
                    nd, e = deposit_into(D, nd, boxes, x, y, z, t, E,
                                       table_value(etab, 0, 0, emeta, E), i)
                    edep += e
                continue
            r = np.random.random() * mu
            if r < mu_pair:
                if not inside_bb:
                    continue
                f = sample_pair_fraction(E)
                Ep, Em = f * E, (1.0 - f) * E
                phi = 2 * math.pi * np.random.random()
                ux, uy, uz = rotate(dx, dy, dz, sample_small_angle(Em), phi)
                S, ns = _push(S, ns, ELECTRON, x, y, z, ux, uy, uz, Em - ME, t, 0.0)
                ux, uy, uz = rotate(dx, dy, dz, sample_small_angle(Ep), phi + math.pi)
                S, ns = _push(S, ns, POSITRON, x, y, z, ux, uy, uz, Ep - ME, t, 0.0)
            elif r < mu_pair + mu_c:
                eps, cth = sample_compton(E)
                phi = 2 * math.pi * np.random.random()
                gx, gy, gz = rotate(dx, dy, dz, math.acos(max(-1.0, min(1.0, cth))), phi)
                Eg = eps * E
                Te = E - Eg
                S, ns = _push(S, ns, GAMMA, x, y, z, gx, gy, gz, Eg, t, 0.0)
                if inside_bb and Te > 0.0:
                    px, py, pz = E * dx - Eg * gx, E * dy - Eg * gy, E * dz - Eg * gz
                    pn = math.sqrt(px * px + py * py + pz * pz)
                    if pn > 0:
                        S, ns = _push(S, ns, ELECTRON, x, y, z, px / pn, py / pn, pz / pn, Te,
                                      t, 0.0)
            elif inside_bb:
                ux, uy, uz = isotropic()
                S, ns = _push(S, ns, ELECTRON, x, y, z, ux, uy, uz, E, t, 0.0)
            continue
        # ------------------------------------------------------------- e- / e+
        sp = 0 if kind == ELECTRON else 1
        T = E
        t_in, t_out = ray_box(bb, x, y, z, dx, dy, dz)
        if t_in > 0.0 or t_out <= 0.0:
            # outside the box: straight CSDA flight to it (primary electrons only)
            R = table_value(etab, sp, 2, emeta, T)
            if t_in > t_out or t_out <= 0.0 or R <= t_in:
                continue
            T = energy_of_range(einv, sp, emeta, R - t_in)
            x, y, z = x + t_in * dx, y + t_in * dy, z + t_in * dz
            t += t_in / C_CM_US
        n_b = -math.log(max(np.random.random(), 1e-300))
        path = 0.0
        stopped = True
        while True:
            if T <= e_cut:
                nd, e = deposit_into(D, nd, boxes, x, y, z, t, T,
                                   table_value(etab, sp, 0, emeta, T), i)
                edep += e
                break
            R = table_value(etab, sp, 2, emeta, T)
            if R <= prm[PR_E_MIN_STEP]:
                nd, e = deposit_into(D, nd, boxes, x + 0.5 * R * dx, y + 0.5 * R * dy,
                                   z + 0.5 * R * dz, t, T, T / max(R, 1e-6), i)
                edep += e
                x, y, z = x + R * dx, y + R * dy, z + R * dz
                break
            L = min(prm[PR_E_MAX_STEP], max(prm[PR_E_RANGE_FRAC] * R, prm[PR_E_MIN_STEP]), R)
            brate = _em_lookup(btab, 0, T) if T > kcut else 0.0
            brem = False
            if brate > 0.0 and brate * L > n_b:
                L = n_b / brate
                brem = True
            leaving = False
            if face_distance(bb, x, y, z) <= L:
                t_in, t_out = ray_box(bb, x, y, z, dx, dy, dz)
                leaving = t_out <= L
                if leaving:
                    L = max(t_out, 1e-6)
            # mean loss: a difference of one interpolant (see tracks.py)
            dE_mean = min(energy_of_range(einv, sp, emeta, R)
                          - energy_of_range(einv, sp, emeta, max(R - L, 0.0)), T)
            Tmid = max(T - 0.5 * dE_mean, 1e-6)
            g = 1.0 + Tmid / ME
            b2 = 1.0 - 1.0 / (g * g)
            if fluct:
                tm = 0.5 * Tmid if sp == 0 else Tmid
                dE = sample_energy_loss(dE_mean, XI_PER_CM * L / b2, tm, b2, lfwd, linv)
            else:
                dE = dE_mean
            dE = min(dE, T)
            nx, ny, nz, ndx, ndy, ndz = advance(x, y, z, dx, dy, dz, L, mcs,
                                                math.sqrt(Tmid * (Tmid + 2 * ME)), math.sqrt(b2),
                                                path, 1.0)
            v = math.sqrt(b2) * C_CM_US
            nd, e = deposit_into(D, nd, boxes, 0.5 * (x + nx), 0.5 * (y + ny), 0.5 * (z + nz),
                               t + 0.5 * L / v, dE, dE / L, i)
            edep += e
            T -= dE
            x, y, z = nx, ny, nz
            dx, dy, dz = ndx, ndy, ndz
            t += L / v
            path += L
            n_b -= brate * L
            if brem:
                if T > kcut:
                    k = sample_brems_k(T, kcut)
                    T -= k
                    ux, uy, uz = rotate(dx, dy, dz, sample_small_angle(T + k + ME),
                                        2 * math.pi * np.random.random())
                    S, ns = _push(S, ns, GAMMA, x, y, z, ux, uy, uz, k, t, 0.0)
                n_b = -math.log(max(np.random.random(), 1e-300))
            if leaving:
                stopped = False
                break
        if lead:
            P[i, EX], P[i, EY], P[i, EZ], P[i, ET] = x, y, z, t
        if kind == POSITRON and stopped and in_box(bb, x, y, z):
            ux, uy, uz = isotropic()
            S, ns = _push(S, ns, GAMMA, x, y, z, ux, uy, uz, ME, t, 0.0)
            S, ns = _push(S, ns, GAMMA, x, y, z, -ux, -uy, -uz, ME, t, 0.0)
    if nd <= D.shape[0]:
        P[i, EDEP] = edep
    return P, n, D, nd
