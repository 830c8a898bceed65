"""Crop occupancy of MicroBooNE particle-bomb training crops: one window shared by the planes
against one window per plane (``data.crop_per_plane``), under SparseSSNet's 10-300 ADC mask.

Prints, per rule, the mean fraction of a 512 x 512 plane crop kept by the mask and the share of
plane crops with fewer than 50 and 300 pixels; writes benchmarks/results/crop_occupancy.json.

    .venv/bin/python benchmarks/crop_occupancy.py [--events 100] [--seed 12345]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from larseg.data.sample import Sample
from larseg.data.transforms import AdcMask, RandomCrop
from larseg.sim.simulate import SimulationJob, simulate_event

OUT = Path(__file__).resolve().parent / "results" / "crop_occupancy.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args()
    job = SimulationJob("microboone", "bomb", seed=args.seed, options={"mix": True})
    mask = AdcMask(10, 300)
    rules = {"shared window": RandomCrop((512, 512), min_pixels=1),
             "window per plane": RandomCrop((512, 512), min_pixels=1, shared=False)}
    counts: dict[str, list[int]] = {name: [] for name in rules}
    rng = np.random.default_rng(args.seed)
    for i in range(args.events):
        sample = mask(Sample.from_event(simulate_event(job, i)))
        for name, crop in rules.items():
            counts[name] += [len(pa.values) for pa in crop(sample, rng).planes]
    rows = {}
    print(f"{args.events} bomb events (85 % regular, 15 % low-E), 512 x 512 crops, 10-300 ADC")
    print(f"{'rule':18s} {'kept':>8s} {'< 50 px':>8s} {'< 300 px':>9s}")
    for name, n in counts.items():
        n = np.array(n)
        rows[name] = {"kept_percent": 100 * float(n.mean()) / 512 ** 2,
                      "below_50_percent": 100 * float((n < 50).mean()),
                      "below_300_percent": 100 * float((n < 300).mean()), "plane_crops": len(n)}
        r = rows[name]
        print(f"{name:18s} {r['kept_percent']:7.2f}% {r['below_50_percent']:7.1f}% "
              f"{r['below_300_percent']:8.1f}%")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"events": args.events, "seed": args.seed, "rules": rows}, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
