"""Simulation speed: events per second of `larseg simulate` writing a larcv3 file.

Target (simulator issue 9): >= 30 MicroBooNE 3-plane events per second on 2 cores including
writing, with ~25 cosmic muons each (the `cosmics` generator: 24.5 muons per window on average).

Each measurement runs in a fresh process (kernels loaded from numba's on-disk cache, one warm-up
event, then the timed job of ``--events`` events with 1 and with N workers). Wall-clock events/s
is given for the whole job and after its first event (which also starts the workers and loads
their kernels: the rate a long job keeps). Besides wall-clock events/s, the CPU time of the writing process and of its workers per event is reported: on a
machine that other jobs share, wall time says how busy the machine was, CPU time (nearly) how
much work an event costs, and 2 cores / (CPU per event) is the rate that work allows on two
idle cores.

``--baseline DIR`` runs the same measurements, interleaved (A, B, A, B, ...), with the larseg
package found in DIR (e.g. a copy of an older checkout's ``larseg/`` folder in DIR/larseg), and
prints the ratios: side by side in one run, so that both see the same machine load.

    .venv/bin/python benchmarks/bench_simulate.py [--events 60] [--workers 2] [--repeat 3]
        [--cases microboone/cosmics,microboone/bomb,sbnd/cosmics+neutrino] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = "microboone/cosmics,microboone/bomb,sbnd/cosmics+neutrino"


def _child(det: str, gen: str, workers: int, events: int) -> None:
    """Runs in the measured process: one job, one JSON line on stdout."""
    import resource
    import time

    from larseg.sim.simulate import SimulationJob, simulate_event, simulate_to_file

    def cpu(who) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    job = SimulationJob(det, gen, seed=99)
    simulate_event(job, 0)  # load (or, once, compile) the numba kernels in this process
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        p0, c0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = simulate_to_file(path, job, events, workers=workers, overwrite=True)
        dt = time.perf_counter() - t0
        p1, c1 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        size = path.stat().st_size
    print(json.dumps({"seconds": dt, "steady_events_per_s": res.steady_rate,
                      "cpu_parent_s": p1 - p0, "cpu_workers_s": c1 - c0,
                      "file_bytes": size, "load": os.getloadavg()[0]}))


def _measure(tree: Path, det: str, gen: str, workers: int, events: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--child", det, gen, str(workers),
                          str(events)], env=env, cwd=tree, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict], events: int) -> dict:
    rate = [events / r["seconds"] for r in runs]
    cpu = [1e3 * (r["cpu_parent_s"] + r["cpu_workers_s"]) / events for r in runs]
    return {"events_per_s": round(statistics.median(rate), 2),
            "events_per_s_best": round(max(rate), 2),
            # after the first event (worker start-up, kernel loading): the rate a long job keeps
            "steady_events_per_s": round(statistics.median(
                r["steady_events_per_s"] for r in runs), 2),
            "cpu_ms_per_event": round(statistics.median(cpu), 1),
            "cpu_ms_writer": round(statistics.median(
                1e3 * r["cpu_parent_s"] / events for r in runs), 1),
            "idle_2core_events_per_s": round(2000.0 / statistics.median(cpu), 1),
            "file_MB": round(runs[0]["file_bytes"] / 1e6, 2),
            "load_avg": round(statistics.median(r["load"] for r in runs), 2),
            "repeats": len(runs)}


def _line(label: str, s: dict) -> str:
    return (f"{label:9s} {s['events_per_s']:6.1f} events/s (best {s['events_per_s_best']:5.1f}, "
            f"after the first {s['steady_events_per_s']:5.1f}); CPU {s['cpu_ms_per_event']:5.1f} ms/event (writer {s['cpu_ms_writer']:4.1f}) -> "
            f"{s['idle_2core_events_per_s']:5.1f}/s on 2 idle cores; {s['file_MB']} MB; "
            f"load {s['load_avg']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        det, gen, workers, events = sys.argv[2:6]
        _child(det, gen, int(workers), int(events))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default=CASES, help="comma-separated detector/generator pairs")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a folder holding another larseg package, measured side by side")
    ap.add_argument("--output", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "simulate.json")
    args = ap.parse_args()
    trees = {"current": ROOT}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    rows = []
    for case in args.cases.split(","):
        det, gen = case.split("/")
        for workers in sorted({1, args.workers}):
            runs: dict[str, list[dict]] = {name: [] for name in trees}
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    runs[name].append(_measure(tree, det, gen, workers, args.events))
            print(f"{det} {gen}, {workers} worker{'s' if workers > 1 else ''}, "
                  f"{args.events} events, median of {args.repeat}:")
            row = {"detector": det, "generator": gen, "workers": workers,
                   "events": args.events}
            for name in trees:
                row[name] = _summary(runs[name], args.events)
                print("  " + _line(name, row[name]))
            if "baseline" in row:
                row["ratio"] = {k: round(row["current"][k] / row["baseline"][k], 3)
                                for k in ("events_per_s", "steady_events_per_s",
                                          "cpu_ms_per_event", "cpu_ms_writer")}
                print(f"  ratio     events/s x{row['ratio']['events_per_s']}, CPU per event "
                      f"x{row['ratio']['cpu_ms_per_event']} (writer "
                      f"x{row['ratio']['cpu_ms_writer']})")
            rows.append(row)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "target": ">= 30 MicroBooNE cosmics events/s on 2 cores, writing included",
        "command": " ".join(sys.argv), "results": rows}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
