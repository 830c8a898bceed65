"""Read speed of larcv3 files: events per second into numpy, into Events, into torch tensors.

For each ``--voxels`` value, writes a file of ``--events`` simulated-like sparse 3-plane events
(random straight tracks two pixels wide, ~``--voxels`` active pixels per plane, cosmic/semantic
labels, one or two particles per pixel in the cluster2d product, 20 particles), then times on
one core (``--threads`` > 1: chunk inflation on that many threads):

  (a) numpy: ``Larcv3Reader.read_sparse2d_block`` of the ADC product (and, separately, ADC +
      cosmic + semantic), blocks of ``--block`` events;
  (b) ``EventFile`` iteration -> ``Event`` objects (every product, incl. clusters and
      particles), with and without ``Event.validate()``;
  (c) torch: per event (N, 3) [plane, row, col] int64 coordinates, float32 ADC and int64
      cosmic + semantic labels, built from the bulk blocks with ``torch.from_numpy``.

Median of ``--repeat`` passes over the file (the first pass warms the page cache and numba).

    .venv/bin/python benchmarks/bench_read.py [--events 300] [--voxels 2000 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from larseg.detectors import meta_for  # noqa: E402
from larseg.event import Event, Particle, ParticleCharge, PlaneImage  # noqa: E402
from larseg.io import MICROBOONE, EventFile, Larcv3Reader, write_events  # noqa: E402
from larseg.io.convert import instance_from_charge  # noqa: E402
from larseg.labels import Origin  # noqa: E402


def sim_like_event(rng: np.random.Generator, index: int, n_voxels: int,
                   detector: str = "microboone", n_particles: int = 20) -> Event:
    meta = meta_for(detector)
    particles = [Particle(id=i, pdg=13, origin=Origin.COSMIC if i % 3 else Origin.NEUTRINO,
                          parent_id=-1 if i < 5 else int(rng.integers(0, 5)),
                          ancestor_id=i if i < 5 else 0, energy_init=float(rng.uniform(10, 900)),
                          semantic=int(rng.integers(1, 5)), process="primary")
                 for i in range(n_particles)]
    planes = []
    for pm in meta.planes:
        flat = np.zeros(0, np.int64)
        owner = np.zeros(0, np.int64)
        while flat.size < n_voxels:  # add tracks until enough distinct pixels, then trim
            pid = int(rng.integers(0, n_particles))
            length = int(rng.integers(50, 600))
            r0, c0 = rng.uniform(0, pm.n_ticks), rng.uniform(0, pm.n_wires)
            ang = rng.uniform(0, np.pi)
            s = np.arange(length)
            r = np.clip((r0 + s * np.sin(ang)).astype(np.int64), 0, pm.n_ticks - 1)
            c = np.clip((c0 + s * np.cos(ang)).astype(np.int64), 0, pm.n_wires - 1)
            r = np.concatenate([r, np.clip(r + 1, 0, pm.n_ticks - 1)])  # two pixels wide
            c = np.concatenate([c, c])
            flat, first = np.unique(np.concatenate([flat, r * pm.n_wires + c]), return_index=True)
            owner = np.concatenate([owner, np.full(r.size, pid)])[first]
        keep = np.sort(rng.choice(flat.size, n_voxels, replace=False))
        f, who = flat[keep], owner[keep]
        n = f.size
        coords = np.stack([f // pm.n_wires, f % pm.n_wires], axis=1)
        q = rng.gamma(2.0, 30.0, n).astype(np.float32)
        second = np.flatnonzero(rng.random(n) < 0.1)  # a second particle in 10 % of pixels
        pc = ParticleCharge(np.concatenate([np.arange(n), second]),
                            np.concatenate([who, (who[second] + 1) % n_particles]),
                            np.concatenate([q, 0.5 * q[second]]))
        cosmic = np.where(np.array([particles[i].origin for i in who]) == Origin.COSMIC, 1, 2)
        semantic = np.array([particles[i].semantic for i in who])
        img = PlaneImage(pm, coords, q + 0.5 * np.isin(np.arange(n), second) * q, cosmic=cosmic,
                         semantic=semantic, particle_charge=pc)
        img.instance = instance_from_charge(pc, n)
        planes.append(img)
    return Event(1, 0, index, meta, planes, particles).validate()


def _median_rate(fn, n_events: int, repeat: int) -> tuple[float, float]:
    fn()  # warm-up: page cache, numba, h5py handles
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return n_events / med, med


def bench_one(n: int, n_voxels: int, block: int, repeat: int, threads: int, tmp: Path) -> dict:
    import torch

    rng = np.random.default_rng(2024 + n_voxels)
    path = tmp / f"bench_{n_voxels}.h5"
    t0 = time.perf_counter()
    events = [sim_like_event(rng, i, n_voxels) for i in range(n)]
    t1 = time.perf_counter()
    write_events(path, events, MICROBOONE, buffer_events=64)
    t_write = time.perf_counter() - t1
    vox = np.array([ev.n_pixels() for ev in events])
    n_pc = np.mean([sum(len(p.particle_charge) for p in ev.planes) for ev in events])
    del events
    reader = Larcv3Reader(path, threads=threads)
    B = block

    def numpy_adc():
        for a in range(0, n, B):
            reader.read_sparse2d_block("wire", a, min(n, a + B))

    def numpy_labels():
        for a in range(0, n, B):
            for prod in ("wire", "cosmicseg", "semantic"):
                reader.read_sparse2d_block(prod, a, min(n, a + B))

    ef = EventFile(path, block_size=B, threads=threads)
    ef_fast = EventFile(path, block_size=B, threads=threads, validate=False)

    def events_iter():
        for _ in ef:
            pass

    def events_novalidate():
        for _ in ef_fast:
            pass

    def torch_tensors():
        for a in range(0, n, B):
            b = min(n, a + B)
            adc, cos, sem = (reader.read_sparse2d_block(p, a, b)
                             for p in ("wire", "cosmicseg", "semantic"))
            for k in range(b - a):
                p0, pn = int(adc.event_start[k]), int(adc.event_count[k])
                v0 = int(adc.voxel_start[p0])
                v1 = int(adc.voxel_start[p0 + pn - 1] + adc.voxel_count[p0 + pn - 1])
                ids = adc.ids[v0:v1].astype(np.int64)
                plane = np.repeat(np.arange(pn), adc.voxel_count[p0:p0 + pn])
                n1 = adc.meta["number_of_voxels"][p0, 1].astype(np.int64)
                wire = ids // n1
                coords = np.stack([plane, ids - wire * n1, wire], axis=1)
                _ = (torch.from_numpy(coords), torch.from_numpy(adc.values[v0:v1]),
                     torch.from_numpy(cos.values[v0:v1].astype(np.int64)),
                     torch.from_numpy(sem.values[v0:v1].astype(np.int64)))

    rates = {}
    for name, fn in (("numpy: ADC sparse2d (bulk blocks)", numpy_adc),
                     ("numpy: ADC + cosmic + semantic (bulk)", numpy_labels),
                     ("torch: coords + ADC + cosmic + semantic", torch_tensors),
                     ("EventFile -> Event, validated", events_iter),
                     ("EventFile -> Event, validate=False", events_novalidate)):
        rate, sec = _median_rate(fn, n, repeat)
        rates[name] = {"events_per_s": round(rate, 1), "seconds_per_pass": round(sec, 4)}
    reader.close()
    ef.close()
    ef_fast.close()
    return {"events": n, "voxels_per_plane_target": n_voxels,
            "voxels_per_plane_mean": round(float(vox.mean()), 1),
            "voxels_per_event_mean": round(float(vox.sum(axis=1).mean()), 1),
            "particle_charge_entries_per_event_mean": round(float(n_pc), 1),
            "file_mb": round(path.stat().st_size / 1e6, 2), "generate_s": round(t1 - t0, 2),
            "write_events_per_s": round(n / t_write, 1), "rates": rates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--voxels", type=int, nargs="+", default=[2000, 5000],
                    help="active pixels per plane (approx.), one run each")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="inflate threads (Larcv3Reader)")
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "read.json")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for nv in args.voxels:
            runs.append(bench_one(args.events, nv, args.block, args.repeat, args.threads,
                                  Path(tmp)))
    result = {"benchmark": "bench_read", "block": args.block, "repeat": args.repeat,
              "threads": args.threads,
              "machine": f"{platform.machine()}, {os.cpu_count()} cpu(s) (shared)",
              "runs": runs}
    names = list(runs[0]["rates"])
    head = "".join(f"{r['voxels_per_event_mean']:>12.0f}" for r in runs)
    print(f"{args.events} events per file; columns: mean voxels per 3-plane event")
    print(f"{'events/s':<42}{head}")
    for name in names:
        print(f"{name:<42}" + "".join(f"{r['rates'][name]['events_per_s']:>12.0f}" for r in runs))
    print(f"{'(write, EventWriter)':<42}" + "".join(f"{r['write_events_per_s']:>12.0f}"
                                                   for r in runs))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
