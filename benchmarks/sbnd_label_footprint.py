"""SBND labels on the charge as it arrives at the wires against labels on the processed charge
(larseg issue 9: where the file's cosmic voxels differ).

Simulates SBND `cosmics+neutrino` events with the preset (``label_time_resolution_px`` 0: the
SimChannel footprint) and with the labels on the processed charge's footprint (the same events:
the charge and the random streams are identical, only the labels differ), and prints per plane
the median over events of the voxels >= 5 ADC labelled background / cosmic / neutrino, and the
share of cosmic voxels that the arrival footprint leaves unlabelled. Writes
benchmarks/results/sbnd_label_footprint.json.

    .venv/bin/python benchmarks/sbnd_label_footprint.py [--events 20] [--seed 12345]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from larseg.detectors import get_detector
from larseg.sim.simulate import SimulationJob, simulate_event

ROOT = Path(__file__).resolve().parents[1]


def _counts(job: SimulationJob, n: int, detector) -> np.ndarray:
    """(events, planes, 3): voxels >= 5 ADC labelled background, cosmic, neutrino."""
    rows = []
    for i in range(n):
        ev = simulate_event(job, i, detector)
        rows.append([[int(((img.cosmic == k) & (img.values >= 5)).sum()) for k in range(3)]
                     for img in ev.planes])
    return np.asarray(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sbnd_label_footprint.json")
    args = ap.parse_args()
    preset = get_detector("sbnd")
    signal = dataclasses.replace(preset, readout=dataclasses.replace(
        preset.readout, label_time_resolution_px=None))
    job = SimulationJob("sbnd", "cosmics+neutrino", seed=args.seed)
    out = {"events": args.events, "seed": args.seed}
    for name, det in (("arrival (preset)", preset), ("processed charge", signal)):
        c = _counts(job, args.events, det)
        out[name] = {"median_background_cosmic_neutrino_per_plane":
                     np.median(c, axis=0).round(0).tolist()}
        out[name]["_counts"] = c
    a, s = out["arrival (preset)"].pop("_counts"), out["processed charge"].pop("_counts")
    moved = 1.0 - a[:, :, 1].sum(axis=0) / np.maximum(s[:, :, 1].sum(axis=0), 1)
    out["cosmic_voxels_unlabelled_by_the_arrival_footprint_UVY"] = moved.round(3).tolist()
    for name in ("arrival (preset)", "processed charge"):
        med = out[name]["median_background_cosmic_neutrino_per_plane"]
        print(f"{name:17s} " + "; ".join(f"{p}: bkg {m[0]:,.0f} cosmic {m[1]:,.0f} nu {m[2]:,.0f}"
                                         for p, m in zip("UVY", med)))
    print("cosmic voxels the arrival footprint leaves unlabelled, U/V/Y: "
          + " / ".join(f"{100 * v:.1f} %" for v in moved))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
