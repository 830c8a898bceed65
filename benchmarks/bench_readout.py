"""Speed of the readout stage on one core: MicroBooNE events of ~200,000 deposits.

Events:
- ``synthetic``: the specification's event: 25 cosmic muons with 0.15 cm steps (dE/dx 2.1
  MeV/cm) and δ-ray segments, ~200,000 deposits. To reach that many deposits with 25 muons the
  tracks run nearly along the beam axis (~10 m each), which makes it a worst case in pixels:
  every 0.15 cm step reaches new wires (~840,000 written pixels over the three planes);
- ``transport``: cosmic-ray windows from ``larseg.sim.generators`` stepped by
  ``larseg.sim.transport`` (when those modules are present), overlaid until ~200,000 deposits:
  realistic angles, δ-rays and showers, many steps per pixel.

Timings after a JIT warm-up (numba cache), median of ``--repeat`` runs, plus the mean time per
stage. Run alone: the numbers are wall-clock on a shared machine.

    .venv/bin/python benchmarks/bench_readout.py [--detector microboone] [--repeat 5]
        [--event synthetic|transport|both]
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
from larseg.event import Particle  # noqa: E402
from larseg.labels import Origin, SemanticLabel  # noqa: E402
from larseg.sim import readout as ro_mod  # noqa: E402
from larseg.sim.records import Deposits  # noqa: E402
from larseg.sim.response import line_deposits  # noqa: E402


def cosmic_event(detector, n_muons: int = 25, target: int = 200_000,
                 seed: int = 1) -> tuple[Deposits, list[Particle]]:
    """Straight muons through the active volume plus δ-rays, ~``target`` deposits."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1), (z0, z1) = detector.bounds
    parts: list[Particle] = []
    deps: list[Deposits] = []
    t_lo = detector.readout.window_start_us
    for m in range(n_muons):
        a = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1), z0 + 1.0])
        b = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1), z1 - 1.0])
        t = float(rng.uniform(t_lo, t_lo + 600.0))
        parts.append(Particle(id=len(parts), pdg=13, origin=Origin.COSMIC,
                              semantic=int(SemanticLabel.MIP)))
        deps.append(line_deposits(tuple(a), tuple(b), dedx=2.1, particle=parts[-1].id, t=t))
        mu = parts[-1].id
        n_delta = 0
        while sum(len(d) for d in deps) < target * (m + 1) / n_muons and n_delta < 2000:
            f = rng.uniform(0, 1)
            p = a + f * (b - a)
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            length = rng.exponential(3.0) + 0.3
            q = np.clip(p + length * d, [x0 + 0.1, y0 + 0.1, z0 + 0.1], [x1 - 0.1, y1 - 0.1, z1 - 0.1])
            parts.append(Particle(id=len(parts), pdg=11, origin=Origin.COSMIC, parent_id=mu,
                                  ancestor_id=mu, semantic=int(SemanticLabel.DELTA)))
            deps.append(line_deposits(tuple(p), tuple(q), dedx=2.5, particle=parts[-1].id, t=t))
            n_delta += 1
    return Deposits.concatenate(deps), parts


def transported_cosmics(detector, target: int = 200_000, seed: int = 1):
    """Cosmic windows (generator + transport) overlaid until ``target`` deposits, or None."""
    try:
        from larseg.sim.generators import get_generator
        from larseg.sim.transport import transport
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    gen = get_generator("cosmics")
    primaries = []
    particles, deposits = [], Deposits.empty()
    while len(deposits) < target and len(primaries) < 5000:
        primaries += gen.generate(detector, rng).primaries
        particles, deposits = transport(primaries, detector, np.random.default_rng(seed))
    return deposits, particles


def _time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def bench(det, name: str, deposits: Deposits, particles: list[Particle], repeat: int) -> None:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    planes = ro_mod.readout(deposits, particles, det, rng)  # JIT warm-up / cache load
    first = time.perf_counter() - t0
    quiet = ro_mod.noiseless(det)
    rows = [
        ("drift_charge (recombination, lifetime, project)",
         _time(lambda: ro_mod.drift_charge(deposits, det), repeat)),
        ("readout, noiseless detector",
         _time(lambda: ro_mod.readout(deposits, particles, quiet, rng), repeat)),
        ("readout, full (3 planes)",
         _time(lambda: ro_mod.readout(deposits, particles, det, rng), repeat)),
    ]
    print(f"\n== {name} event, {det.name}: {len(deposits):,} deposits, {len(particles)} "
          f"particles; first call (JIT compile or cache load) {first * 1e3:.0f} ms")
    print(f"written pixels per plane: {[len(p) for p in planes]}, labelled: "
          f"{[int((p.instance >= 0).sum()) for p in planes]}")
    print(f"{'run':<52}{'median ms':>10}")
    for label, t in rows:
        print(f"{label:<52}{t * 1e3:>10.1f}")
    stages: dict[str, float] = {}
    for _ in range(repeat):
        ro_mod.readout(deposits, particles, det, rng, timings=stages)
    print(f"{'stage of the full readout (3 planes)':<52}{'mean ms':>10}")
    for label, t in stages.items():
        print(f"{label:<52}{t / repeat * 1e3:>10.1f}")
    print(f"{'total':<52}{sum(stages.values()) / repeat * 1e3:>10.1f}")
    print(f"per-process workspace (reused between events): "
          f"{ro_mod.WORKSPACE.nbytes() / 1e6:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="microboone")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--event", choices=("synthetic", "transport", "both"), default="both")
    args = ap.parse_args()
    det = get_detector(args.detector)
    if args.event in ("synthetic", "both"):
        bench(det, "synthetic", *cosmic_event(det), args.repeat)
    if args.event in ("transport", "both"):
        ev = transported_cosmics(det)
        if ev is None:
            print("\n(transport event skipped: larseg.sim.transport / generators not available)")
        else:
            bench(det, "transport", *ev, args.repeat)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import saved_output

    with saved_output("readout"):
        main()
