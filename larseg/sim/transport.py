"""Transport entry point: primaries -> particle table + energy deposits.

``transport(primaries, detector, rng)`` steps every primary and all its descendants through
liquid argon (the whole world is argon; only the bounding box of the detector's active volumes
is tracked, and only deposits inside an active volume are kept). The particle table is built in
a numba kernel that doubles as the queue of particles still to transport; e±/γ cascades are
folded into one row each. All randomness comes from numba's generator, seeded from ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from ..detectors import Detector
from ..errors import InvalidEventError
from ..event import Particle
from ..labels import NO_LABEL, Origin, SemanticLabel, is_hip_pdg
from .decays import decay_pi0, transport_neutron
from .emphysics import em_tables
from .records import Deposits, Primary
from .showers import transport_em
from .spectra import landau_tables
from .stack import (ANCESTOR, CHARGE, DX, DY, DZ, EDEP, ET, EX, EY, EZ, KIND, KIND_EM,
                    KIND_HEAVY, KIND_NEUTRON, KIND_NONE, KIND_PI0, MASS, NCOL, PARENT, PDG,
                    PRIMARY, PROC, PROCESS_NAMES, SEMANTIC, SP_KAON, SP_MUON, SP_PION,
                    SP_PROTON, SPECIES, ST, SX, SY, SZ, T0, grow, pdg_props)
from .stopping import (KAON_MASS, MUON_MASS, PION_MASS, PROTON_MASS, electron_range_table,
                       heavy_range_table)
from .tracks import N_PARAMS, PR_HADRONIC, transport_heavy


@dataclass(frozen=True)
class TransportConfig:
    """Switches and cuts of the transport (lengths in cm, energies in MeV)."""

    max_step: float = 0.15          # heavy-particle step limit
    range_frac: float = 0.2         # step ≤ this fraction of the residual range
    min_step: float = 0.01          # below this residual range: one last deposit
    delta_cut: float = 1.0          # δ-rays above this kinetic energy are explicit particles
    fluctuations: bool = True
    delta_rays: bool = True
    mcs: bool = True
    hadronic: bool = True
    decays: bool = True
    brems_cut: float = 1.0          # explicit bremsstrahlung photons above this energy
    e_cut: float = 0.1              # e± below this deposit their energy on the spot
    gamma_cut: float = 0.05         # photons below this are absorbed at their next interaction
    e_max_step: float = 0.15
    e_range_frac: float = 0.2
    e_min_step: float = 0.02
    # where nothing the track leaves can reach the image (tracks.py, "Outside the readout"):
    out_max_step: float = 0.6       # heavy-particle step limit there
    out_delta_max: float = 10.0     # δ-rays up to this energy deposit where they start there
    max_particles: int = 200_000    # safety limit on the particle table

    def params(self) -> np.ndarray:
        p = np.array([self.max_step, self.range_frac, self.min_step, self.delta_cut,
                      float(self.fluctuations), float(self.delta_rays), float(self.mcs),
                      float(self.hadronic), float(self.decays), self.brems_cut, self.e_cut,
                      self.gamma_cut, self.e_max_step, self.e_range_frac, self.e_min_step,
                      self.out_max_step, self.out_delta_max])
        assert p.size == N_PARAMS
        return p


_BASE_SPECIES = {SP_MUON: (MUON_MASS, 1.0), SP_PION: (PION_MASS, 1.0),
                 SP_KAON: (KAON_MASS, 1.0), SP_PROTON: (PROTON_MASS, 1.0)}


def _pack(tables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tab = np.stack([t.table for t in tables])
    inv = np.stack([t.inverse for t in tables])
    meta = np.array([[t.mass, t.charge, t.log_t0, t.dlog_t, t.log_r0, t.dlog_r, t.tcut, 0.0]
                     for t in tables])
    return tab, inv, meta


@lru_cache(maxsize=16)
def _tables(species: tuple[tuple[float, float], ...], delta_cut: float, brems_cut: float):
    heavy = _pack([heavy_range_table(m, abs(q), delta_cut) for m, q in species])
    elec = _pack([electron_range_table(False, brems_cut), electron_range_table(True, brems_cut)])
    gam, brem = em_tables(brems_cut)
    lf, linv = landau_tables()
    return heavy, elec, gam, brem.reshape(-1, 1), lf, linv


@lru_cache(maxsize=256)
def _extra_properties(pdg: int) -> tuple[float, float]:
    """Mass and charge of a particle the kernel does not know (nuclei, hyperons, ...)."""
    try:
        from particle import Particle as PDGParticle

        info = PDGParticle.from_pdgid(pdg)
        mass = float(info.mass) if info.mass is not None else 0.0
        return mass, float(info.charge or 0.0)
    except Exception:  # noqa: BLE001 - unknown to the PDG tables: not transported
        if abs(pdg) > 1_000_000_000:        # nucleus 10LZZZAAAI
            Z, A = (abs(pdg) // 10_000) % 1000, (abs(pdg) // 10) % 1000
            return A * 931.494, float(Z)
        return 0.0, 0.0


#: Room (rows) left in the deposit and particle tables before each heavy particle or e±/γ
#: cascade is stepped (their step loops do not grow them, see tracks.transport_heavy): a track
#: crossing MicroBooNE's whole length in 0.15 cm steps makes ~7,000 deposits and ~100 δ-rays.
#: An event that needs more is simply run again with 8 times the room (same seed, same event).
DEPOSIT_ROOM = 1 << 16
PARTICLE_ROOM = 1 << 12
_room = [DEPOSIT_ROOM, PARTICLE_ROOM]  # grown for later events of this process when needed


@njit(cache=True)
def _run(P, n, htab, hinv, hmeta, etab, einv, emeta, gtab, btab, lfwd, linv, prm, boxes, bb,
         window, seed, max_particles, deposit_room, particle_room):
    """Transport rows 0 … n - 1 and all they create; returns (particles, deposits, whether a
    heavy particle overflowed the room it was given)."""
    np.random.seed(seed)
    D = np.empty((4096, 7))
    nd = 0
    i = 0
    while i < n and i < max_particles:
        kind = int(P[i, KIND])
        if kind == KIND_HEAVY:
            D = grow(D, nd + deposit_room)
            P = grow(P, n + particle_room)
            P, n, D, nd = transport_heavy(P, n, D, nd, i, htab, hinv, hmeta, lfwd, linv, prm,
                                          boxes, bb, window)
            if n > P.shape[0] or nd > D.shape[0]:
                return P[:0], D[:0], True
        elif kind == KIND_EM:
            D = grow(D, nd + deposit_room)
            P, n, D, nd = transport_em(P, n, D, nd, i, etab, einv, emeta, gtab, btab, lfwd,
                                       linv, prm, boxes, bb)
            if nd > D.shape[0]:
                return P[:0], D[:0], True
        elif kind == KIND_NEUTRON:
            P, n = transport_neutron(P, n, i, bb, prm[PR_HADRONIC] > 0)
        elif kind == KIND_PI0:
            P, n = decay_pi0(P, n, i)
        i += 1
    return P[:min(n, max_particles)], D[:nd], False


def _check(k: int, pr: Primary) -> None:
    """Reject a primary the kernel cannot step (names the primary and the field)."""
    checks = (("position", pr.position, 3), ("direction", pr.direction, 3),
              ("kinetic_energy", [pr.kinetic_energy], 1), ("time", [pr.time], 1))
    for name, value, size in checks:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.size != size or not np.all(np.isfinite(arr)):
            raise InvalidEventError(f"primary {k} (pdg {pr.pdg}) has {name} {value!r}",
                                    field=f"primaries[{k}].{name}")
    if pr.kinetic_energy < 0:
        raise InvalidEventError(f"primary {k} (pdg {pr.pdg}) has negative kinetic energy "
                                f"{pr.kinetic_energy} MeV", field=f"primaries[{k}].kinetic_energy")


def _primary_arrays(primaries: list[Primary]) -> tuple[np.ndarray, ...]:
    """Positions (k, 3), directions (k, 3), kinetic energies and times (k,) of the primaries;
    a primary with a field of the wrong size or a non-finite or negative value is named by
    :func:`_check`."""
    try:
        pos = np.array([pr.position for pr in primaries], dtype=np.float64).reshape(-1, 3)
        d = np.array([pr.direction for pr in primaries], dtype=np.float64).reshape(-1, 3)
        ke = np.array([pr.kinetic_energy for pr in primaries], dtype=np.float64)
        t = np.array([pr.time for pr in primaries], dtype=np.float64)
        ok = (len(pos) == len(d) == len(ke) == len(t) == len(primaries)
              and np.isfinite(pos).all() and np.isfinite(d).all() and np.isfinite(ke).all()
              and np.isfinite(t).all() and (ke >= 0).all())
    except (ValueError, TypeError):  # ragged or non-numeric: found field by field below
        ok = False
    if not ok:
        for k, pr in enumerate(primaries):
            _check(k, pr)
    return pos, d, ke, t


def _primary_rows(primaries: list[Primary], species: list[tuple[float, float]]) -> np.ndarray:
    P = np.zeros((max(len(primaries), 1) * 4 + 64, NCOL))
    k_all = len(primaries)
    if k_all == 0:
        return P
    pos, d, ke, t = _primary_arrays(primaries)
    norm = np.linalg.norm(d, axis=1)
    d = np.where(norm[:, None] > 0, d / np.where(norm > 0, norm, 1.0)[:, None],
                 np.array([0.0, 0.0, 1.0]))
    rows = P[:k_all]
    for k, pr in enumerate(primaries):
        mass, charge, kind, sp, sem = pdg_props(int(pr.pdg))
        if kind == KIND_NONE and pr.pdg not in (12, -12, 14, -14, 16, -16):
            m, q = _extra_properties(int(pr.pdg))
            if q != 0 and m > 0:
                key = (m, abs(q))
                if key not in species:
                    species.append(key)
                sem = int(SemanticLabel.HIP if is_hip_pdg(int(pr.pdg)) else SemanticLabel.MIP)
                mass, charge, kind, sp = m, q, KIND_HEAVY, species.index(key)
            else:
                mass = m
        row = rows[k]
        row[PDG], row[SEMANTIC] = pr.pdg, sem
        row[MASS], row[CHARGE], row[KIND], row[SPECIES] = mass, charge, kind, sp
    idx = np.arange(k_all)
    rows[:, PARENT] = -1
    rows[:, ANCESTOR] = idx
    rows[:, PRIMARY] = idx
    rows[:, PROC] = 0
    rows[:, [SX, SY, SZ]] = pos
    rows[:, ST] = t
    rows[:, [EX, EY, EZ]] = pos
    rows[:, ET] = t
    rows[:, [DX, DY, DZ]] = d
    rows[:, T0] = ke
    return P


def detector_boxes(detector: Detector) -> tuple[np.ndarray, np.ndarray]:
    """Active volumes (n, 6) and their bounding box (6,) as x0 x1 y0 y1 z0 z1."""
    boxes = np.array([[*t.x_range, *t.y_range, *t.z_range] for t in detector.tpcs],
                     dtype=np.float64)
    (x0, x1), (y0, y1), (z0, z1) = detector.bounds
    return boxes, np.array([x0, x1, y0, y1, z0, z1], dtype=np.float64)


#: Time margin (image pixels) on each side of the readout window within which charge still
#: counts as visible: the deconvolved pulse and diffusion spread it over a few rows.
WINDOW_MARGIN_PX = 10


def readout_window(detector: Detector) -> np.ndarray:
    """Per TPC: x_lo, x_hi, x_anode, first and last arrival time (µs) the image shows (with
    ``WINDOW_MARGIN_PX`` rows of margin), 1 / drift velocity (µs/cm); what the heavy-particle
    kernel reads to know where a track's charge cannot reach the image (the per-step twin of
    the generator's per-ray :func:`larseg.sim.generators.in_time.reaches_image`)."""
    margin = WINDOW_MARGIN_PX * detector.readout.pixel_us
    rows = []
    for t in detector.tpcs:
        if t.n_rows > 0:
            lo, hi = detector.readout_span_us(t)
            lo, hi = lo - margin, hi + margin
        else:  # no window given: everything counts as visible
            lo, hi = -np.inf, np.inf
        rows.append([*t.x_range, t.x_anode, lo, hi, 1.0 / detector.drift_velocity_cm_us])
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def transport_arrays(primaries: list[Primary], detector: Detector, rng: np.random.Generator,
                     config: TransportConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's raw output: particle table (n, NCOL) and deposits (m, 7)."""
    config = config or TransportConfig()
    species = [_BASE_SPECIES[k] for k in sorted(_BASE_SPECIES)]
    P = _primary_rows(primaries, species)
    (htab, hinv, hmeta), (etab, einv, emeta), gtab, btab, lf, linv = _tables(
        tuple(species), float(config.delta_cut), float(config.brems_cut))
    boxes, bb = detector_boxes(detector)
    seed = int(rng.integers(0, 2**32 - 1))
    while True:  # the kernel seeds numba's generator itself: a second run is the same event
        particles, deposits, overflow = _run(
            P.copy(), len(primaries), htab, hinv, hmeta, etab, einv, emeta, gtab, btab, lf,
            linv, config.params(), boxes, bb, readout_window(detector), seed,
            int(config.max_particles), *_room)
        if not overflow:
            return particles, deposits
        _room[:] = [8 * r for r in _room]


def transport(primaries: list[Primary], detector: Detector, rng: np.random.Generator,
              config: TransportConfig | None = None) -> tuple[list[Particle], Deposits]:
    """Transport the primaries; returns (particle table, deposits).

    Particle ids are row indices; parents/ancestors refer to rows (-1 / own id for primaries);
    ``energy_init`` is the total energy, ``energy_deposit`` what the particle (with its folded
    cascade) left in the active volumes.
    """
    P, D = transport_arrays(primaries, detector, rng, config)
    T = P[:, T0]
    m = P[:, MASS]
    pabs = np.sqrt(np.maximum(T * (T + 2 * m), 0.0))
    # columns as Python numbers (tolist): the same values, without a numpy scalar per field
    mom = (pabs[:, None] * P[:, [DX, DY, DZ]]).tolist()
    start = P[:, [SX, SY, SZ, ST]].tolist()
    end = P[:, [EX, EY, EZ, ET]].tolist()
    ints = P[:, [PDG, PARENT, ANCESTOR, PRIMARY, PROC, SEMANTIC]].astype(np.int64).tolist()
    e_init = (T + m).tolist()
    e_dep = P[:, EDEP].tolist()
    origins = [Origin(pr.origin) for pr in primaries]
    particles: list[Particle] = []
    for k, (pdg, parent, ancestor, j, proc, sem) in enumerate(ints):
        prim = primaries[j]
        process = PROCESS_NAMES[proc]
        if parent < 0:
            process = prim.process or process
        particles.append(Particle(
            id=k, pdg=pdg, origin=origins[j], parent_id=parent, ancestor_id=ancestor,
            energy_init=e_init[k], energy_deposit=e_dep[k], momentum=tuple(mom[k]),
            start=tuple(start[k]), end=tuple(end[k]), process=process,
            semantic=sem if sem >= 0 else NO_LABEL, interaction_id=prim.interaction_id))
    deposits = Deposits(D[:, 0], D[:, 1], D[:, 2], D[:, 3], D[:, 4], D[:, 5],
                        D[:, 6].astype(np.int64))
    return particles, deposits


__all__ = ["TransportConfig", "transport", "transport_arrays", "detector_boxes"]
