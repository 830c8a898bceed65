"""Simulation speed: events per second of `larseg simulate` writing a larcv3 file.

Target (simulator issue): >= 20 MicroBooNE 3-plane events per second on 2 cores with ~25 cosmic
muons each (the `cosmics` generator: 24.5 muons per window on average). Measured side by side in
one run with 1 and with N workers, after a warm-up that compiles the numba kernels (the on-disk
numba cache makes later processes start warm).

    .venv/bin/python benchmarks/bench_simulate.py [--events 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from larseg.sim.simulate import SimulationJob, simulate_event, simulate_to_file

CASES = (("microboone", "cosmics"), ("microboone", "bomb"), ("sbnd", "cosmics+neutrino"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--output", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "simulate.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for det, gen in CASES:
            job = SimulationJob(det, gen, seed=99)
            simulate_event(job, 0)  # compile / load the numba kernels in this process
            for workers in sorted({1, args.workers}):
                path = Path(tmp) / f"{det}_{workers}.h5"
                t0 = time.perf_counter()
                simulate_to_file(path, job, args.events, workers=workers, overwrite=True)
                dt = time.perf_counter() - t0
                rows.append({"detector": det, "generator": gen, "workers": workers,
                             "events": args.events, "seconds": round(dt, 3),
                             "events_per_s": round(args.events / dt, 2),
                             "file_MB": round(path.stat().st_size / 1e6, 2)})
                r = rows[-1]
                print(f"{det:11s} {gen:17s} workers={workers}  {r['events_per_s']:7.1f} events/s"
                      f"  ({r['seconds']:.1f} s for {args.events}, {r['file_MB']} MB)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                       "target": ">= 20 MicroBooNE cosmics events/s on 2 cores",
                                       "results": rows}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
