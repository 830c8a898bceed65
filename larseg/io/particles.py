"""Particle and interaction records <-> rows of a larcv3 particle product.

Particle rows (larcv field <- larseg):
  id <- Particle.id (row index); trackid <- track_id (id + 1, 0 never used);
  parent_trackid / parent_pdg / parent_vtx <- the parent's, or the particle's own for a primary
  (larcv's convention); ancestor_* <- the ancestor's (own for a particle that is its own
  ancestor; trackid kINVALID_UINT when there is none);
  mcst_index <- origin code (larseg.labels.Origin) and mct_index <- interaction_id
  (kINVALID_USHORT for none): larseg's use of larcv's "which MC record" indices;
  shape <- semantic via larseg.labels.semantic_to_larcv_shape (larcv3 knows track/shower only: HIP/MIP come back
  from the pdg, delta/Michel from the process and parent pdg);
  px, py, pz <- momentum; vtx <- start; end_pt <- end; energy_init, energy_deposit, process.
  current_type / interaction_type / first_step / last_step / dist_travel keep larcv's defaults.
Interaction rows (one "particle" per interaction, as CosmicTagger reads ``particle_sbndneutrino``):
  id <- row index; mct_index <- Interaction.id; pdg <- nu_pdg; current_type <- current (0 CC,
  1 NC); interaction_type <- mode; energy_init <- energy (MeV); vtx <- vertex;
  parent_pdg <- lepton_pdg (the outgoing lepton: larcv has no field of its own for it).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidEventError
from ..event import Interaction, Particle
from ..labels import Origin, larcv_shape_to_semantic, semantic_to_larcv_shape
from . import larcv3_schema as S

_ORIGINS = {int(o) for o in Origin}


def _process_bytes(process: str, what: str) -> bytes:
    try:
        raw = process.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidEventError(f"process '{process}' is not ASCII", field=what) from None
    if len(raw) >= S.PROCESS_STRLEN:
        raise InvalidEventError(f"process '{process}' is longer than {S.PROCESS_STRLEN - 1} "
                                "characters (larcv's limit)", field=what)
    return raw


def particles_to_rows(particles: list[Particle], event: str = "?") -> np.ndarray:
    n = len(particles)
    rows = S.empty_particles(n)
    if n == 0:
        return rows
    if n >= S.INVALID_USHORT:
        raise InvalidEventError(f"{n} particles: larcv's id field holds fewer than 65535",
                                event=event, field="particles")
    # column-wise: one numpy assignment per field (a per-row loop costs ~10 µs a particle)
    ids = np.array([p.id for p in particles], np.int64)
    inter = np.array([p.interaction_id for p in particles], np.int64)
    if inter.max() >= S.INVALID_USHORT:
        i = int(np.argmax(inter))
        raise InvalidEventError(f"particle {i}: interaction_id {inter[i]} too large",
                                event=event, field="particles.interaction_id")
    pdg = np.array([p.pdg for p in particles], np.int64)
    start = np.array([p.start for p in particles], np.float64).reshape(n, 4)
    tid = np.array([p.track_id for p in particles], np.int64)
    rows["id"] = ids
    rows["mcst_index"] = [int(p.origin) for p in particles]
    rows["mct_index"] = np.where(inter >= 0, inter, S.INVALID_USHORT)
    rows["shape"] = [semantic_to_larcv_shape(p.semantic) for p in particles]
    rows["trackid"] = tid
    rows["pdg"] = pdg
    mom = np.array([p.momentum for p in particles], np.float64).reshape(n, 3)
    rows["px"], rows["py"], rows["pz"] = mom[:, 0], mom[:, 1], mom[:, 2]
    end_pt = np.array([p.end for p in particles], np.float64).reshape(n, 4)
    for k, axis in enumerate("xyzt"):
        rows["vtx"][axis] = start[:, k]
        rows["end_pt"][axis] = end_pt[:, k]
    rows["energy_init"] = [p.energy_init for p in particles]
    rows["energy_deposit"] = [p.energy_deposit for p in particles]
    cache: dict[str, bytes] = {}
    rows["process"] = [cache[p.process] if p.process in cache else
                       cache.setdefault(p.process, _process_bytes(p.process, "particles.process"))
                       for p in particles]
    row_of = {int(v): i for i, v in enumerate(ids)}
    # a primary's parent is itself (larcv's convention); a missing reference keeps the default
    parent = np.array([row_of.get(p.parent_id, -1) if p.parent_id >= 0 else i
                       for i, p in enumerate(particles)], np.int64)
    anc = np.array([row_of.get(p.ancestor_id, -1) if p.ancestor_id >= 0 else -1
                    for p in particles], np.int64)
    for sel, prefix in ((parent, "parent"), (anc, "ancestor")):
        ok = sel >= 0
        src = sel[ok]
        rows[f"{prefix}_trackid"][ok] = tid[src]
        rows[f"{prefix}_pdg"][ok] = pdg[src]
        for k, axis in enumerate("xyzt"):
            rows[f"{prefix}_vtx"][axis][ok] = start[src, k]
    return rows


def _decode(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def rows_to_particles(rows: np.ndarray) -> list[Particle]:
    """Particles of one event; ``id`` is the row index (what clusters are indexed by)."""
    n = rows.shape[0]
    if n == 0:
        return []
    trackid = rows["trackid"].astype(np.int64)
    valid, counts = np.unique(trackid, return_counts=True)
    unique = set(valid[counts == 1].tolist()) - {S.INVALID_UINT}
    index = {int(t): i for i, t in enumerate(trackid.tolist()) if t in unique}
    out = []
    for i, r in enumerate(rows.tolist()):
        (_, mcst, mct, shape, _, _, tid, pdg, px, py, pz, vtx, end, _, _, _, e0, edep, proc,
         ptid, ppdg, _, atid, _, _) = r
        parent = -1 if ptid == tid else index.get(ptid, -1)
        ancestor = i if atid == tid else index.get(atid, -1)
        if mcst in _ORIGINS:
            origin = Origin(mcst)
        else:  # not written by larseg: a record of an MC truth interaction is not a cosmic
            origin = Origin.NEUTRINO if mct != S.INVALID_USHORT else Origin.COSMIC
        out.append(Particle(
            id=i, pdg=pdg, origin=origin, parent_id=parent, ancestor_id=ancestor,
            energy_init=e0, energy_deposit=edep, momentum=(px, py, pz), start=tuple(vtx),
            end=tuple(end), process=_decode(proc), semantic=larcv_shape_to_semantic(shape, pdg, _decode(proc), ppdg),
            interaction_id=-1 if mct == S.INVALID_USHORT else mct))
    return out


def interactions_to_rows(interactions: list[Interaction], event: str = "?") -> np.ndarray:
    rows = S.empty_particles(len(interactions))
    for i, it in enumerate(interactions):
        if not 0 <= it.id < S.INVALID_USHORT:
            raise InvalidEventError(f"interaction id {it.id} outside [0, 65535)", event=event,
                                    field="interactions.id")
        r = rows[i]
        r["id"] = i
        r["mct_index"] = it.id
        r["pdg"] = it.nu_pdg
        r["current_type"] = it.current
        r["interaction_type"] = it.mode
        r["energy_init"] = it.energy
        r["vtx"] = tuple(it.vertex)
        r["parent_pdg"] = it.lepton_pdg
    return rows


def rows_to_interactions(rows: np.ndarray) -> list[Interaction]:
    out = []
    for i, r in enumerate(rows.tolist()):
        mct, ctype, itype, pdg, vtx, e0, ppdg = r[2], r[4], r[5], r[7], r[11], r[16], r[20]
        out.append(Interaction(id=i if mct == S.INVALID_USHORT else mct, nu_pdg=pdg,
                               current=ctype, mode=itype, energy=e0, vertex=tuple(vtx),
                               lepton_pdg=ppdg))
    return out
