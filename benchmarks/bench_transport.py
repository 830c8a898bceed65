"""Timing of larseg.sim.transport on the two reference workloads (one core, after JIT warm-up).

- a MicroBooNE cosmic window: 25 muons of 1-10 GeV on straight lines that cross 2-10 m of the
  active volume;
- a particle-bomb event (MicroBooNE note 1091): 1-6 particles (e, γ up to 1 GeV, μ, π±, p up to
  4 GeV) from one vertex + 5-10 cosmic muons.

Run:  .venv/bin/python benchmarks/bench_transport.py [--events N]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from larseg.detectors import get_detector  # noqa: E402
from larseg.labels import Origin  # noqa: E402
from larseg.sim.records import Primary  # noqa: E402
from larseg.sim.transport import detector_boxes, transport  # noqa: E402


def _chord(bb: np.ndarray, p: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    lo, hi = bb[0::2], bb[1::2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - p) / d, (hi - p) / d
    return float(np.max(np.minimum(t1, t2))), float(np.min(np.maximum(t1, t2)))


def cosmic_muons(det, rng: np.random.Generator, n: int) -> list[Primary]:
    """Muons on lines crossing 2-10 m of the active volume, starting at its surface."""
    _, bb = detector_boxes(det)
    out = []
    while len(out) < n:
        c = rng.uniform(bb[0::2], bb[1::2])
        cos_zen = rng.uniform(0.05, 1.0) ** (1 / 3)        # ~cos² zenith distribution
        phi = rng.uniform(0, 2 * np.pi)
        s = np.sqrt(1 - cos_zen ** 2)
        d = np.array([s * np.cos(phi), -cos_zen, s * np.sin(phi)])
        t_in, t_out = _chord(bb, c, d)
        if not 200.0 <= t_out - t_in <= 1000.0:
            continue
        start = c + (t_in + 1e-3) * d
        out.append(Primary(pdg=int(rng.choice([13, -13])), position=tuple(start),
                           direction=tuple(d),
                           kinetic_energy=float(np.exp(rng.uniform(np.log(1e3), np.log(1e4)))),
                           time=float(rng.uniform(-1000, 1000)), origin=Origin.COSMIC))
    return out


def bomb(det, rng: np.random.Generator) -> list[Primary]:
    _, bb = detector_boxes(det)
    vtx = rng.uniform(bb[0::2] + 20, bb[1::2] - 20)
    prims = []
    for _ in range(rng.integers(1, 7)):
        pdg = int(rng.choice([11, 22, 13, 211, -211, 2212]))
        top = {11: 1000.0, 22: 1000.0, 13: 1000.0, 211: 1000.0, -211: 1000.0, 2212: 4000.0}[pdg]
        d = rng.normal(size=3)
        prims.append(Primary(pdg=pdg, position=tuple(vtx), direction=tuple(d / np.linalg.norm(d)),
                             kinetic_energy=float(rng.uniform(30.0, top)), origin=Origin.BOMB,
                             interaction_id=0))
    return prims + cosmic_muons(det, rng, int(rng.integers(5, 11)))


def _time(make, det, n_events: int, seed: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    events = [make(rng) for _ in range(n_events)]
    transport(events[0], det, np.random.default_rng(0))     # warm-up (JIT cache load, tables)
    times, n_dep, n_part = [], 0, 0
    for i, prims in enumerate(events):
        t0 = time.perf_counter()
        parts, deps = transport(prims, det, np.random.default_rng(i))
        times.append(time.perf_counter() - t0)
        n_dep += len(deps)
        n_part += len(parts)
    t = np.array(times) * 1e3
    return float(np.mean(t)), float(np.percentile(t, 90)), n_dep / n_events, n_part / n_events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--detector", default="microboone")
    args = ap.parse_args()
    det = get_detector(args.detector)
    rows = [
        ("cosmic window (25 μ)", lambda r: cosmic_muons(det, r, 25), 40.0),
        ("particle bomb + 5-10 μ", lambda r: bomb(det, r), 100.0),
    ]
    print(f"{'workload':<26}{'mean ms':>9}{'p90 ms':>9}{'target':>8}{'deposits':>10}"
          f"{'particles':>11}")
    for name, make, target in rows:
        mean, p90, nd, npart = _time(make, det, args.events, 1)
        print(f"{name:<26}{mean:9.1f}{p90:9.1f}{target:8.0f}{nd:10.0f}{npart:11.0f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import saved_output

    with saved_output("transport"):
        main()
