"""Where SBND's cosmic-labelled voxels come from (an investigation of larseg issue 9's open gap).

Simulates SBND `cosmics` windows twice with the same per-event streams, with and without the
cosmic e±/p/n admixture, and counts per plane the cosmic-labelled voxels ≥ 5 ADC, their split by
semantic class, and the muons per window. Prints a table; writes
benchmarks/results/sbnd_cosmic_sources.json.

    .venv/bin/python benchmarks/sbnd_cosmic_sources.py [--events 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from larseg.detectors import get_detector
from larseg.event import Event
from larseg.labels import SEMANTIC_NAMES
from larseg.sim.generators import get_generator
from larseg.sim.readout import readout
from larseg.sim.simulate import SimulationJob
from larseg.sim.transport import transport

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sbnd_cosmic_sources.json")
    args = ap.parse_args()
    det = get_detector("sbnd")
    out = {}
    for admixture in (True, False):
        gen = get_generator("cosmics", admixture=admixture)
        counts = np.zeros((3, len(SEMANTIC_NAMES)))
        muons = []
        for i in range(args.events):
            rng = SimulationJob("sbnd", "cosmics", seed=args.seed).rng(i)
            g = gen.generate(det, rng)
            muons.append(sum(1 for p in g.primaries if abs(p.pdg) == 13))
            parts, deps = transport(g.primaries, det, rng)
            ev = Event(run=1, subrun=0, event=i, detector=det.meta(),
                       planes=readout(deps, parts, det, rng), particles=parts, interactions=[])
            for img in ev.planes:
                sel = (img.values >= 5) & (img.cosmic == 1) & (img.semantic >= 0)
                counts[img.plane] += np.bincount(img.semantic[sel].astype(int),
                                                 minlength=len(SEMANTIC_NAMES))
        per_event = counts / args.events
        out["with admixture" if admixture else "muons only"] = {
            "muons_per_window": float(np.mean(muons)),
            "cosmic_voxels_per_plane": per_event.sum(axis=1).round(0).tolist(),
            "by_class": {n: per_event[:, k].round(0).tolist()
                         for k, n in enumerate(SEMANTIC_NAMES)}}
    for name, r in out.items():
        print(f"{name:15s} muons/window {r['muons_per_window']:.1f}; cosmic voxels per plane "
              f"U/V/Y {' / '.join(f'{v:,.0f}' for v in r['cosmic_voxels_per_plane'])}; "
              + ", ".join(f"{n} {sum(v):,.0f}" for n, v in r["by_class"].items()))
    a, b = (np.array(out[k]["cosmic_voxels_per_plane"]) for k in ("with admixture", "muons only"))
    share = (a - b) / a
    print("share of cosmic voxels due to the admixture, U/V/Y: "
          + " / ".join(f"{100 * s:.1f} %" for s in share))
    out["admixture_share"] = share.round(4).tolist()
    args.output.write_text(json.dumps({"events": args.events, "seed": args.seed, **out}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
