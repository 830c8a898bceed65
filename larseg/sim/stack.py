"""Buffers shared by the numba transport kernels: the particle table (which is also the queue of
particles still to transport), the energy deposits, and the detector geometry.

The particle table is a float64 array (n, NCOL); a kernel appends a row for every new particle
and the event loop transports rows in order. Deposits are a float64 array (n, 7):
x, y, z, t, energy, dE/dx, particle id. Both grow by doubling: between particles, in the event
loop, which leaves the stepping loops room to write into (they never grow or reassign a table
themselves, see ``transport.DEPOSIT_ROOM``), and wherever else a row is added.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba import types as nt

from .kernel_cache import drop_stale
from .stopping import (ELECTRON_MASS, KAON_MASS, MUON_MASS, NEUTRON_MASS, PI0_MASS, PION_MASS,
                       PROTON_MASS)

_KERNEL_MODULES = ("stack", "decays", "tracks", "showers", "spectra", "scattering", "emphysics",
                   "stopping", "transport")

# a cached kernel compiled against an older callee in another module is dropped
drop_stale(_KERNEL_MODULES, "transport_kernel.sha1")

# numba signatures: explicit types stop numba from compiling one specialisation per literal
# argument (a PDG code, a process code...), which multiplied the compile time
F8, I8, B1 = nt.float64, nt.int64, nt.boolean
A1, A2, A3 = nt.float64[::1], nt.float64[:, ::1], nt.float64[:, :, ::1]
PN = nt.Tuple((A2, I8))
PND = nt.Tuple((A2, I8, A2, I8))

# ------------------------------------------------------------------ particle-table columns
PDG, PARENT, ANCESTOR, PROC, SEMANTIC = 0, 1, 2, 3, 4
SX, SY, SZ, ST = 5, 6, 7, 8
EX, EY, EZ, ET = 9, 10, 11, 12
T0, EDEP = 13, 14
DX, DY, DZ = 15, 16, 17
MASS, CHARGE, KIND, SPECIES, PRIMARY = 18, 19, 20, 21, 22
NCOL = 23

# transport kinds
KIND_NONE, KIND_HEAVY, KIND_EM, KIND_NEUTRON, KIND_PI0 = 0, 1, 2, 3, 4

# creator processes (GEANT4 names), index = code
PROCESS_NAMES = ("primary", "muIoni", "hIoni", "Decay", "muMinusCaptureAtRest", "conv", "compt",
                 "eBrem", "pi+Inelastic", "pi-Inelastic", "protonInelastic", "neutronInelastic",
                 "hBertiniCaptureAtRest", "kaon+Inelastic", "kaon-Inelastic", "annihil")
P_PRIMARY, P_MUIONI, P_HIONI, P_DECAY, P_MUCAPTURE = 0, 1, 2, 3, 4
P_PIPINEL, P_PIMINEL, P_PINEL, P_NINEL, P_CAPTURE, P_KPINEL, P_KMINEL = 8, 9, 10, 11, 12, 13, 14

# semantic classes (larseg.labels.SemanticLabel) and NO_LABEL
S_HIP, S_MIP, S_SHOWER, S_DELTA, S_MICHEL, S_NONE = 0, 1, 2, 3, 4, -1

# heavy species (rows of the range tables); extra species (nuclei...) follow
SP_MUON, SP_PION, SP_KAON, SP_PROTON = 0, 1, 2, 3

# deposit columns
NDEP = 7


@njit(A2(A2, I8), cache=True)
def grow(a, n_needed):
    """Return ``a`` or a copy with at least n_needed rows (capacity doubles). The new rows are
    not initialised: every table here writes a whole row before it reads it."""
    if n_needed <= a.shape[0]:
        return a
    cap = a.shape[0] * 2
    while cap < n_needed:
        cap *= 2
    b = np.empty((cap, a.shape[1]))
    b[:a.shape[0]] = a
    return b


@njit(nt.void(A2, I8, I8, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, I8, I8),
      cache=True)
def _write_particle(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T, mass, charge,
                    kind, species):
    r = P[n]
    r[:] = 0.0
    r[PDG] = pdg
    r[PARENT] = parent
    r[ANCESTOR] = P[parent, ANCESTOR] if parent >= 0 else n
    r[PRIMARY] = P[parent, PRIMARY] if parent >= 0 else n
    r[PROC] = proc
    r[SEMANTIC] = sem
    r[SX], r[SY], r[SZ], r[ST] = x, y, z, t
    r[EX], r[EY], r[EZ], r[ET] = x, y, z, t
    nrm = math.sqrt(dx * dx + dy * dy + dz * dz)
    if nrm <= 0.0:
        dx, dy, dz, nrm = 0.0, 0.0, 1.0, 1.0
    r[DX], r[DY], r[DZ] = dx / nrm, dy / nrm, dz / nrm
    r[T0] = T
    r[MASS] = mass
    r[CHARGE] = charge
    r[KIND] = kind
    r[SPECIES] = species


@njit(PN(A2, I8, I8, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, I8, I8), cache=True)
def add_particle(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T, mass, charge, kind,
                 species):
    """Append a particle created by ``parent`` (a row); returns (P, n + 1)."""
    P = grow(P, n + 1)
    _write_particle(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T, mass, charge, kind,
                    species)
    return P, n + 1


# The helpers called at every step that take arrays are compiled without numba's reference
# counting (_nrt=False: they neither allocate nor keep arrays, so there is nothing to count).
# Otherwise every call increments and decrements the count of each array argument, atomic
# operations that cost ~25 ns a call here, a third of a muon step's time in all.
NO_RC = dict(cache=True, _nrt=False)


@njit(B1(A2, F8, F8, F8), **NO_RC)
def inside(boxes, x, y, z):
    """Whether a point lies in any active volume (boxes: (n, 6) x0 x1 y0 y1 z0 z1, half-open)."""
    for b in range(boxes.shape[0]):
        if (boxes[b, 0] <= x < boxes[b, 1] and boxes[b, 2] <= y < boxes[b, 3]
                and boxes[b, 4] <= z < boxes[b, 5]):
            return True
    return False


@njit(nt.Tuple((I8, F8))(A2, I8, A2, F8, F8, F8, F8, F8, F8, I8), **NO_RC)
def deposit_into(D, nd, boxes, x, y, z, t, e, dedx, pid):
    """Record a deposit if it lies in an active volume, without growing the table; returns
    (nd, energy recorded). A row beyond the table is counted but not written: nd > len(D) on
    return means the table overflowed (callers either grow it first with :func:`grow`, or
    check and run the event again with more room). The table is neither grown nor returned
    here: a call that returns an array at every step of a loop makes numba reference-count it
    at every step (see NO_RC)."""
    if e <= 0.0 or not inside(boxes, x, y, z):
        return nd, 0.0
    if nd >= D.shape[0]:
        return nd + 1, e
    D[nd, 0] = x
    D[nd, 1] = y
    D[nd, 2] = z
    D[nd, 3] = t
    D[nd, 4] = e
    D[nd, 5] = dedx
    D[nd, 6] = pid
    return nd + 1, e


@njit(nt.UniTuple(F8, 2)(A1, F8, F8, F8, F8, F8, F8), **NO_RC)
def ray_box(bb, x, y, z, dx, dy, dz):
    """Entry and exit distances (t_in, t_out) of the ray through the box bb (6,); t_in > t_out
    when it misses. t_in < 0 when the point is inside."""
    t_in = -1e30
    t_out = 1e30
    p = (x, y, z)
    d = (dx, dy, dz)
    for a in range(3):
        lo, hi = bb[2 * a], bb[2 * a + 1]
        if abs(d[a]) < 1e-15:
            if p[a] < lo or p[a] > hi:
                return 1.0, -1.0
            continue
        t1 = (lo - p[a]) / d[a]
        t2 = (hi - p[a]) / d[a]
        if t1 > t2:
            t1, t2 = t2, t1
        t_in = max(t_in, t1)
        t_out = min(t_out, t2)
    return t_in, t_out


@njit(B1(A1, F8, F8, F8), **NO_RC)
def in_box(bb, x, y, z):
    return bb[0] <= x <= bb[1] and bb[2] <= y <= bb[3] and bb[4] <= z <= bb[5]


# ------------------------------------------------------------------ particle properties
@njit(nt.Tuple((F8, F8, I8, I8, I8))(I8), cache=True)
def pdg_props(pdg):
    """(mass MeV, charge, transport kind, heavy species, default semantic) of a PDG code.
    Unknown codes get kind KIND_NONE (the Python side adds nuclei and other charged hadrons)."""
    a = abs(pdg)
    if a == 11:
        return ELECTRON_MASS, -1.0 if pdg > 0 else 1.0, KIND_EM, -1, S_SHOWER
    if a == 22:
        return 0.0, 0.0, KIND_EM, -1, S_SHOWER
    if a == 13:
        return MUON_MASS, -1.0 if pdg > 0 else 1.0, KIND_HEAVY, SP_MUON, S_MIP
    if a == 211:
        return PION_MASS, 1.0 if pdg > 0 else -1.0, KIND_HEAVY, SP_PION, S_MIP
    if a == 321:
        return KAON_MASS, 1.0 if pdg > 0 else -1.0, KIND_HEAVY, SP_KAON, S_MIP
    if a == 2212:
        return PROTON_MASS, 1.0 if pdg > 0 else -1.0, KIND_HEAVY, SP_PROTON, S_HIP
    if a == 2112:
        return NEUTRON_MASS, 0.0, KIND_NEUTRON, -1, S_NONE
    if a == 111:
        return PI0_MASS, 0.0, KIND_PI0, -1, S_NONE
    return 0.0, 0.0, KIND_NONE, -1, S_NONE


@njit(PN(A2, I8, I8, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def add_by_pdg(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T):
    """Append a particle of a known PDG code; ``sem`` < -1 means its default semantic class."""
    mass, charge, kind, species, s0 = pdg_props(pdg)
    if sem < -1:
        sem = s0
    return add_particle(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T, mass, charge,
                        kind, species)


@njit(I8(A2, I8, I8, I8, I8, I8, F8, F8, F8, F8, F8, F8, F8, F8), cache=True)
def add_by_pdg_in_place(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T):
    """:func:`add_by_pdg` without growing the table: row ``n`` is written only if the table has
    it; returns n + 1 either way (more than ``len(P)``: the table overflowed, see
    :func:`deposit_into`)."""
    if n < P.shape[0]:
        mass, charge, kind, species, s0 = pdg_props(pdg)
        if sem < -1:
            sem = s0
        _write_particle(P, n, pdg, parent, proc, sem, x, y, z, t, dx, dy, dz, T, mass, charge,
                        kind, species)
    return n + 1


# ------------------------------------------------------------------ table look-ups
@njit(F8(A3, I8, I8, A2, F8), **NO_RC)
def table_value(tab, s, col, meta, T):
    """Linear interpolation in ln T of column ``col`` of species ``s`` (meta: log_t0, dlog_t at
    columns 2, 3)."""
    x = (math.log(max(T, 1e-30)) - meta[s, 2]) / meta[s, 3]
    last = tab.shape[1] - 1
    if x <= 0.0:
        return tab[s, 0, col]
    if x >= last:
        return tab[s, last, col]
    i = int(x)
    f = x - i
    return tab[s, i, col] * (1.0 - f) + tab[s, i + 1, col] * f


@njit(F8(A2, I8, A2, F8), **NO_RC)
def energy_of_range(inv, s, meta, R):
    """Kinetic energy whose range is R (meta: log_r0, dlog_r at columns 4, 5)."""
    if R <= 0.0:
        return 0.0
    x = (math.log(R) - meta[s, 4]) / meta[s, 5]
    last = inv.shape[1] - 1
    if x <= 0.0:
        # below the grid: range ∝ T^(1/2) regime is irrelevant here; scale linearly
        return inv[s, 0] * R / math.exp(meta[s, 4])
    if x >= last:
        return inv[s, last]
    i = int(x)
    f = x - i
    return inv[s, i] * (1.0 - f) + inv[s, i + 1] * f


@njit(F8(A1, F8, F8, F8), **NO_RC)
def face_distance(bb, x, y, z):
    """Distance from an inside point to the nearest face of the box (negative outside)."""
    return min(x - bb[0], bb[1] - x, y - bb[2], bb[3] - y, z - bb[4], bb[5] - z)


@njit(nt.Tuple((I8, F8))(A2, I8, F8), **NO_RC)
def table_index(meta, s, T):
    """(row, fraction) of T in species s's log-uniform grid, for :func:`table_at`."""
    x = (math.log(max(T, 1e-30)) - meta[s, 2]) / meta[s, 3]
    if x <= 0.0:
        return 0, 0.0
    i = int(x)
    return i, x - i


@njit(F8(A3, I8, I8, I8, F8), **NO_RC)
def table_at(tab, s, col, i, f):
    last = tab.shape[1] - 1
    if i >= last:
        return tab[s, last, col]
    return tab[s, i, col] * (1.0 - f) + tab[s, i + 1, col] * f
