"""Stepping of heavy charged particles (μ, π, K, p, nuclei) through liquid argon (numba).

Each step: length min(max_step, range_frac · range) (but ≥ min_step), cut short at the edge of
the active volumes' bounding box, at a hadronic interaction or at a decay in flight. The mean
energy loss over the step comes from the range-energy table (exact CSDA), the continuous part is
the restricted loss when δ-rays above the cut are produced explicitly, fluctuated with a
truncated Landau / Gamma law; multiple scattering follows Highland. Deposits sit at the step
midpoints. At the end of the range the particle decays or is captured (``decays.at_rest``).

Outside the readout. Where no charge within ``OUT_REACH_CM`` of the track can reach any TPC's
image in its readout window (the ``window`` table: x range, anode and time span per TPC), the
step limit is ``out_max_step`` and δ-rays up to ``out_delta_max`` are not followed: their energy
is deposited where they start, as a δ-ray below the production cut would be. Range, energy loss,
scattering and the track's end are sampled by the same laws (each is step-length aware), so
what the image can see is unchanged; what the image cannot see costs a quarter of the steps.
(A δ-ray of 10 MeV stops within 5 cm: NIST ESTAR CSDA range in argon 6.1 g/cm², 1.396 g/cm³.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .decays import C_CM_US, at_rest, decay, inelastic, inelastic_rate
from .scattering import advance, rotate
from .spectra import sample_delta_energy, sample_energy_loss
from .stack import (A1, A2, A3, CHARGE, DX, DY, DZ, EDEP, ET, EX, EY, EZ, I8, MASS, PDG, PND,
                    P_HIONI, P_MUIONI, SPECIES, ST, SX, SY, SZ, S_DELTA, T0,
                    add_by_pdg_in_place, deposit_into, energy_of_range, face_distance, in_box,
                    ray_box, table_at, table_index, table_value)
from .stopping import ELECTRON_MASS, K_BETHE, RHO, Z_OVER_A
from .decays import KAON_LIFETIME_US, PION_LIFETIME_US

XI_PER_CM = 0.5 * K_BETHE * Z_OVER_A * RHO   # ξ = XI_PER_CM z² x / β² (PDG eq. 34.11), MeV

# indices into the float parameter vector built by transport.TransportConfig
PR_MAX_STEP, PR_RANGE_FRAC, PR_MIN_STEP, PR_DELTA_CUT = 0, 1, 2, 3
PR_FLUCT, PR_DELTA, PR_MCS, PR_HADRONIC, PR_DECAYS = 4, 5, 6, 7, 8
PR_BREMS_CUT, PR_E_CUT, PR_GAMMA_CUT, PR_E_MAX_STEP, PR_E_RANGE_FRAC, PR_E_MIN_STEP = (
    9, 10, 11, 12, 13, 14)
PR_OUT_MAX_STEP, PR_OUT_DELTA_MAX = 15, 16
N_PARAMS = 17

#: Distance (cm) within which a track's charge, its δ-rays up to ``out_delta_max`` and their
#: scattering stay during one step outside the readout (see the module docstring).
OUT_REACH_CM = 10.0

END_STOP, END_EXIT, END_INELASTIC, END_DECAY = 0, 1, 2, 3


@njit(cache=True)
def _tmax(T, M):
    g = 1.0 + T / M
    bg2 = g * g - 1.0
    r = ELECTRON_MASS / M
    return 2.0 * ELECTRON_MASS * bg2 / (1.0 + 2.0 * g * r + r * r)


@njit(cache=True)
def _delta_rate(T, M, z, tcut):
    tm = _tmax(T, M)
    if tm <= tcut:
        return 0.0, tm
    g = 1.0 + T / M
    b2 = 1.0 - 1.0 / (g * g)
    c = XI_PER_CM * z * z / b2
    return max(c * ((1.0 / tcut - 1.0 / tm) - b2 / tm * math.log(tm / tcut)), 0.0), tm


@njit(cache=True, inline="always")
def outside_readout(window, x, t, reach):
    """Whether no charge deposited within ``reach`` cm (in x) of a point at x at time t can
    reach the image: for every TPC (row of ``window``: x_lo, x_hi, x_anode, first and last
    arrival time the image shows, 1 / drift velocity) it lies beyond the TPC in x or its
    arrival times fall outside that span."""
    for k in range(window.shape[0]):
        x_lo, x_hi, x_anode = window[k, 0], window[k, 1], window[k, 2]
        if x < x_lo - reach or x > x_hi + reach:
            continue
        a = abs(min(max(x - reach, x_lo), x_hi) - x_anode)
        b = abs(min(max(x + reach, x_lo), x_hi) - x_anode)
        first = t + min(a, b) * window[k, 5]
        last = t + max(a, b) * window[k, 5]
        if last >= window[k, 3] and first <= window[k, 4]:
            return False
    return True


@njit(PND(A2, I8, A2, I8, I8, A3, A2, A2, A2, A1, A1, A2, A1, A2), cache=True)
def transport_heavy(P, n, D, nd, i, htab, hinv, hmeta, lfwd, linv, prm, boxes, bb, window):
    """Step particle row i to its end; returns (P, n, D, nd).

    The step loop neither grows nor reassigns the tables (which would make numba
    reference-count them at every step): the caller leaves room for this particle's deposits
    and δ-rays, and n > len(P) or nd > len(D) on return means there was not enough (the
    particle's end is then not processed; the caller runs the event again with more room)."""
    pdg = int(P[i, PDG])
    s = int(P[i, SPECIES])
    M = P[i, MASS]
    z = P[i, CHARGE]
    x, y, zz, t = P[i, SX], P[i, SY], P[i, SZ], P[i, ST]
    dx, dy, dz = P[i, DX], P[i, DY], P[i, DZ]
    T = P[i, T0]
    a = abs(pdg)
    decays_on = prm[PR_DECAYS] > 0
    if T <= 0.0:
        # created at rest (e.g. by a generator): decays or is captured on the spot
        if in_box(bb, x, y, zz):
            P, n = at_rest(P, n, i, pdg, x, y, zz, t, decays_on)
        return P, n, D, nd
    t_in, t_out = ray_box(bb, x, y, zz, dx, dy, dz)
    if t_in > t_out or t_out <= 0.0:
        return P, n, D, nd
    if t_in > 0.0:
        # outside the box: straight CSDA flight to its surface (the world is argon)
        R = table_value(htab, s, 2, hmeta, T)
        if R <= t_in:
            P[i, EX], P[i, EY], P[i, EZ] = x + R * dx, y + R * dy, zz + R * dz
            return P, n, D, nd
        T1 = energy_of_range(hinv, s, hmeta, R - t_in)
        b0 = math.sqrt(T * (T + 2 * M)) / (T + M)
        b1 = math.sqrt(T1 * (T1 + 2 * M)) / (T1 + M)
        t += t_in / (0.5 * (b0 + b1) * C_CM_US)
        x, y, zz = x + t_in * dx, y + t_in * dy, zz + t_in * dz
        T = T1
    fluct = prm[PR_FLUCT] > 0
    deltas = prm[PR_DELTA] > 0
    tcut = prm[PR_DELTA_CUT]
    hadronic = prm[PR_HADRONIC] > 0 and (a == 211 or a == 321 or a == 2212)
    n_int = -math.log(max(np.random.random(), 1e-300)) if hadronic else 1e30
    lifetime = PION_LIFETIME_US if a == 211 else (KAON_LIFETIME_US if a == 321 else 0.0)
    tau_left = -lifetime * math.log(max(np.random.random(), 1e-300)) if (
        decays_on and lifetime > 0) else 1e30
    proc_delta = P_MUIONI if a == 13 else P_HIONI
    path = 0.0
    edep = 0.0
    reason = END_STOP
    min_step = prm[PR_MIN_STEP]
    out_step = prm[PR_OUT_MAX_STEP]
    out_delta = prm[PR_OUT_DELTA_MAX]
    coarse = out_step > prm[PR_MAX_STEP] or out_delta > 0.0
    while True:
        R = table_value(htab, s, 2, hmeta, T)
        if R <= min_step:
            # last step: the rest of the energy over the rest of the range (Bragg peak)
            mx, my, mz = x + 0.5 * R * dx, y + 0.5 * R * dy, zz + 0.5 * R * dz
            nd, e = deposit_into(D, nd, boxes, mx, my, mz, t, T, T / max(R, 1e-6), i)
            edep += e
            x, y, zz = x + R * dx, y + R * dy, zz + R * dz
            T = 0.0
            break
        unseen = coarse and outside_readout(window, x, t, OUT_REACH_CM)
        L = min(out_step if unseen else prm[PR_MAX_STEP], max(prm[PR_RANGE_FRAC] * R, min_step))
        L = min(L, R)
        limit = 0
        if face_distance(bb, x, y, zz) <= L:
            t_in, t_out = ray_box(bb, x, y, zz, dx, dy, dz)
            if t_out <= L:
                L = max(t_out, 1e-6)
                limit = END_EXIT
        p = math.sqrt(T * (T + 2 * M))
        rate = inelastic_rate(pdg, T) if hadronic else 0.0
        if rate > 0.0 and n_int < rate * L:
            L = n_int / rate
            limit = END_INELASTIC
        bgc = p / M * C_CM_US
        if tau_left < L / bgc:
            L = tau_left * bgc
            limit = END_DECAY
        # mean loss from the range table (a difference of one interpolant, so that its error
        # cancels instead of piling up step after step), split into continuous and δ-ray parts
        dE_mean = min(energy_of_range(hinv, s, hmeta, R)
                      - energy_of_range(hinv, s, hmeta, max(R - L, 0.0)), T)
        Tmid = max(T - 0.5 * dE_mean, 1e-6)
        cont = dE_mean
        if deltas:
            ti, tf = table_index(hmeta, s, Tmid)
            cont = dE_mean * table_at(htab, s, 1, ti, tf) / table_at(htab, s, 0, ti, tf)
        g = 1.0 + Tmid / M
        b2 = 1.0 - 1.0 / (g * g)
        pm = math.sqrt(Tmid * (Tmid + 2 * M))
        if fluct:
            tm = _tmax(Tmid, M)
            if deltas:
                tm = min(tm, tcut)
            dE = sample_energy_loss(cont, XI_PER_CM * z * z * L / b2, tm, b2, lfwd, linv)
        else:
            dE = cont
        dE = min(dE, T)
        # multiple scattering over the step
        nx, ny, nz, ndx, ndy, ndz = advance(x, y, zz, dx, dy, dz, L, prm[PR_MCS] > 0, pm,
                                            math.sqrt(b2), path, z)
        v = math.sqrt(b2) * C_CM_US
        nd, e = deposit_into(D, nd, boxes, 0.5 * (x + nx), 0.5 * (y + ny), 0.5 * (zz + nz),
                           t + 0.5 * L / v, dE, dE / L, i)
        edep += e
        T -= dE
        # explicit δ-rays above the cut
        if deltas:
            rate_d, tmx = _delta_rate(Tmid, M, z, tcut)
            nd_ray = np.random.poisson(rate_d * L) if rate_d > 0 else 0
            for _ in range(nd_ray):
                Td = sample_delta_energy(tcut, tmx, b2)
                if Td >= T:
                    continue
                u = np.random.random()
                pe = math.sqrt(Td * (Td + 2 * ELECTRON_MASS))
                # cos θ = (T/p)_δ (E + m_e)/p of the track (PDG section 34.2.7)
                cth = min(Td / pe * (Tmid + M + ELECTRON_MASS) / pm, 1.0)
                ux, uy, uz = rotate(dx, dy, dz, math.acos(cth), 2 * math.pi * np.random.random())
                if unseen and Td <= out_delta:  # cannot reach the image: deposited on the spot
                    nd, e = deposit_into(D, nd, boxes, x + u * (nx - x), y + u * (ny - y),
                                         zz + u * (nz - zz), t + u * L / v, Td, dE / L, i)
                    edep += e
                else:
                    n = add_by_pdg_in_place(P, n, 11, i, proc_delta, S_DELTA, x + u * (nx - x),
                                            y + u * (ny - y), zz + u * (nz - zz),
                                            t + u * L / v, ux, uy, uz, Td)
                T -= Td
        x, y, zz = nx, ny, nz
        dx, dy, dz = ndx, ndy, ndz
        t += L / v
        path += L
        n_int -= rate * L
        tau_left -= L / bgc
        if limit != 0:
            reason = limit
            break
        if T <= 1e-6:
            break
    if n > P.shape[0] or nd > D.shape[0]:  # overflowed: the caller runs the event again
        return P, n, D, nd
    P[i, EX], P[i, EY], P[i, EZ], P[i, ET] = x, y, zz, t
    P[i, EDEP] = edep
    if reason == END_STOP:
        P, n = at_rest(P, n, i, pdg, x, y, zz, t, decays_on)
    elif reason == END_INELASTIC:
        P, n = inelastic(P, n, i, pdg, T, dx, dy, dz, x, y, zz, t)
    elif reason == END_DECAY:
        P, n = decay(P, n, i, pdg, M, T, dx, dy, dz, x, y, zz, t)
    return P, n, D, nd
