"""Small hand-made events for tests of the stages downstream of the simulator.

These are not physics: straight lines of charge with consistent labels, particle table and
per-particle charge, so that I/O, datasets and displays can be tested on exact, known content.
Tests that need physics use ``larseg.sim``.
"""

from __future__ import annotations

import numpy as np

from larseg.detectors import meta_for
from larseg.event import Event, Interaction, ParticleCharge, Particle, PlaneImage
from larseg.labels import CosmicLabel, Origin, SemanticLabel


def toy_event(detector: str = "microboone", seed: int = 0, n_tracks: int = 4,
              run: int = 1, subrun: int = 0, event: int = 0,
              empty_plane: int | None = None) -> Event:
    rng = np.random.default_rng(seed)
    meta = meta_for(detector)
    particles: list[Particle] = []
    for i in range(n_tracks):
        cosmic = i % 2 == 0
        pdg = 13 if cosmic else int(rng.choice([2212, 11, 13]))
        sem = {13: SemanticLabel.MIP, 2212: SemanticLabel.HIP, 11: SemanticLabel.SHOWER}[pdg]
        particles.append(Particle(
            id=i, pdg=pdg, origin=Origin.COSMIC if cosmic else Origin.NEUTRINO,
            parent_id=-1, ancestor_id=i, energy_init=float(rng.uniform(100, 2000)),
            energy_deposit=float(rng.uniform(10, 100)), momentum=(0.0, 0.0, 100.0),
            start=(10.0, 0.0, 100.0 + i, 0.0), end=(50.0, 10.0, 200.0 + i, 1.0),
            process="primary", semantic=int(sem), interaction_id=-1 if cosmic else 0))
    interactions = [Interaction(id=0, nu_pdg=14, current=0, mode=1001, energy=800.0,
                                vertex=(10.0, 0.0, 101.0, 0.0), lepton_pdg=13)]
    planes = []
    for pm in meta.planes:
        if pm.plane == empty_plane:
            planes.append(PlaneImage(pm, np.zeros((0, 2)), np.zeros(0), cosmic=np.zeros(0),
                                     semantic=np.zeros(0), instance=np.zeros(0),
                                     particle_charge=ParticleCharge.empty()))
            continue
        charge: dict[tuple[int, int], dict[int, float]] = {}
        for p in particles:
            r0, c0 = rng.integers(50, pm.n_ticks - 50), rng.integers(50, pm.n_wires - 50)
            length = int(rng.integers(20, 120))
            angle = rng.uniform(0, np.pi)
            for s in range(length):
                r = int(np.clip(r0 + s * np.sin(angle), 0, pm.n_ticks - 1))
                c = int(np.clip(c0 + s * np.cos(angle), 0, pm.n_wires - 1))
                charge.setdefault((r, c), {}).setdefault(p.id, 0.0)
                charge[(r, c)][p.id] += float(rng.uniform(20, 80))
        # a few noise pixels with no particle
        for _ in range(10):
            r, c = int(rng.integers(0, pm.n_ticks)), int(rng.integers(0, pm.n_wires))
            charge.setdefault((r, c), {})
        keys = sorted(charge)
        coords = np.array(keys, dtype=np.int32).reshape(-1, 2)
        values, cos, sem, inst = [], [], [], []
        pix, part, q = [], [], []
        for k, key in enumerate(keys):
            contrib = charge[key]
            total = sum(contrib.values())
            values.append(total + 5.0 if contrib else float(rng.uniform(10, 20)))
            if contrib:
                best = max(contrib, key=contrib.get)
                nu = any(particles[i].origin != Origin.COSMIC for i in contrib)
                cos.append(CosmicLabel.NEUTRINO if nu else CosmicLabel.COSMIC)
                sem.append(particles[best].semantic)
                inst.append(best)
            else:
                cos.append(CosmicLabel.BACKGROUND)
                sem.append(-1)
                inst.append(-1)
            for pid, qq in sorted(contrib.items()):
                pix.append(k)
                part.append(pid)
                q.append(qq)
        planes.append(PlaneImage(pm, coords, np.array(values), cosmic=np.array(cos),
                                 semantic=np.array(sem), instance=np.array(inst),
                                 particle_charge=ParticleCharge(np.array(pix, np.int64),
                                                                np.array(part, np.int64),
                                                                np.array(q, np.float32))))
    return Event(run=run, subrun=subrun, event=event, detector=meta, planes=planes,
                 particles=particles, interactions=interactions).validate()


def write_larcv1_root(path, products: dict, ids) -> None:
    """A larcv1-layout ROOT file (MicroBooNE's member names, as flat branches: uproot cannot
    write larcv's nested objects): ``products[name][entry]`` is a list of (plane, dense
    rows × columns image), stored column-major as larcv1 does; ``ids`` the (run, subrun, event)
    of each entry, the same for every tree."""
    import awkward as ak
    import uproot

    with uproot.recreate(path) as f:
        for name, entries in products.items():
            f[f"image2d_{name}_tree"] = {
                "_run": np.array([i[0] for i in ids], np.uint64),
                "_subrun": np.array([i[1] for i in ids], np.uint64),
                "_event": np.array([i[2] for i in ids], np.uint64),
                "_image_v._img": ak.Array([[im.T.reshape(-1).astype(np.float32) for _, im in ev]
                                           for ev in entries]),
                "_image_v._meta._plane": ak.Array([[np.uint16(p) for p, _ in ev]
                                                   for ev in entries]),
                "_image_v._meta._row_count": ak.Array([[np.uint64(im.shape[0]) for _, im in ev]
                                                       for ev in entries]),
                "_image_v._meta._col_count": ak.Array([[np.uint64(im.shape[1]) for _, im in ev]
                                                       for ev in entries]),
            }
