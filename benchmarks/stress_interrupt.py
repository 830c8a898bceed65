"""Interrupt a real `larseg simulate -j 2` at random moments and check that resuming never damages.

For each kind (SIGINT and SIGTERM to the process group, as a terminal or a batch system sends
them; SIGKILL; a full disk, made by a file-size limit that fails writes with EFBIG), each trial
interrupts the job once or twice (alternately) at random moments (from start-up to the final
rename), then
reruns the same command to completion and compares the file, dataset by dataset and by reading
every event, with one written without interruption. For the signals it also checks the exit
code (130 / 143), that the first signal stopped the job within 10 s, and the one-line message.

    .venv/bin/python benchmarks/stress_interrupt.py [--trials 36] [--kinds INT TERM KILL DISK]

Prints a table and writes benchmarks/results/stress_interrupt.json. Not a test: it takes about
15 minutes on 2 cores (tests/test_job_safety.py runs a few trials of each kind in the suite).
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
import platform
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.interrupting import larseg, same_file, signal_group, start  # noqa: E402

from larseg.io import partial_path  # noqa: E402

SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "KILL": signal.SIGKILL}


def interrupt_once(job: list[str], out: Path, kind: str, delay: float, ref_size: int,
                   rng: random.Random) -> dict:
    """One interrupted run; returns what was seen."""
    if kind == "DISK":
        limit = int(ref_size * rng.uniform(0.5, 2.0))

        def small_disk() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        done = larseg(*job, "-o", str(out), preexec_fn=small_disk)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        ok = done.returncode == 0 or (done.returncode == 1 and bool(lines)
                                      and ("writing failed" in lines[-1]
                                           or "cannot resume, no room" in lines[-1])
                                      and "Traceback" not in done.stderr)
        return {"rc": done.returncode, "clean": ok, "limit": limit,
                "message": lines[-1] if lines else ""}
    proc = start(*job, "-o", str(out))
    time.sleep(delay)
    sig = SIGNALS[kind]
    if proc.poll() is not None:  # finished before the signal
        proc.communicate()
        return {"rc": proc.returncode, "clean": proc.returncode == 0, "finished_first": True}
    t0 = time.monotonic()
    signal_group(proc, sig)
    try:
        _, err = proc.communicate(timeout=30)
    except Exception:  # noqa: BLE001 - a hang is a finding
        signal_group(proc, signal.SIGKILL)
        _, err = proc.communicate()
        return {"rc": None, "clean": False, "hang": True, "stderr": err[-400:]}
    latency = time.monotonic() - t0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if kind == "KILL":
        clean = proc.returncode == -signal.SIGKILL
    elif proc.returncode in (0, -sig):
        # 0: the signal came after the job's last event; -sig: it came while the interpreter
        # was starting or shutting down, outside larseg's handlers (the shell shows 128 + sig)
        clean = "Traceback" not in err
    else:
        # "interrupted (SIGINT): N events kept in FILE.partial; ..." once the job has its file;
        # "interrupted ..." alone when the signal came during start-up
        clean = (proc.returncode == 128 + sig and latency < 10 and "Traceback" not in err
                 and bool(lines) and lines[-1].startswith(("interrupted", "terminated")))
    return {"rc": proc.returncode, "clean": clean, "latency_s": round(latency, 2),
            "message": lines[-1] if lines else "", "finished_first": False,
            "stderr": err[-600:] if not clean else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=36,
                    help="Trials per kind (36: 54 interruptions of each kind).")
    ap.add_argument("--kinds", nargs="+", default=["INT", "TERM", "KILL", "DISK"],
                    choices=["INT", "TERM", "KILL", "DISK"])
    ap.add_argument("--events", type=int, default=24, help="Events per job (3 commits of 8).")
    ap.add_argument("--parallel", type=int, default=2, help="Kinds run at the same time.")
    ap.add_argument("--seed", type=int, default=2026, help="Seed of the random moments.")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "stress_interrupt.json")
    args = ap.parse_args()
    job = ["simulate", "-d", "microboone", "-g", "bomb", "-n", str(args.events), "--seed", "5",
           "-j", "2", "-q"]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "reference.h5"
        t0 = time.monotonic()
        done = larseg(*job, "-o", str(ref))
        duration = time.monotonic() - t0
        if done.returncode != 0:
            raise SystemExit(f"reference run failed: {done.stderr}")
        ref_size = ref.stat().st_size
        print(f"reference: {args.events} events in {duration:.1f} s, {ref_size / 1e6:.1f} MB")
        def run_kind(kind: str) -> None:
            rng = random.Random(f"{args.seed}-{kind}")
            trials = results[kind] = []
            for t in range(args.trials):
                out = Path(tmp) / f"{kind}_{t}.h5"
                steps = []
                for _ in range(1 + t % 2):  # one, then two interruptions before the rerun
                    steps.append(interrupt_once(job, out, kind, rng.uniform(0.2, duration + 0.3),
                                                ref_size, rng))
                final = larseg(*job, "-o", str(out))
                resumed = final.returncode == 0
                diff = same_file(out, ref) if resumed else None
                trials.append({"steps": steps, "resumed": resumed,
                               "resume_error": None if resumed else final.stderr[-400:],
                               "damaged": diff, "clean_stops": all(s["clean"] for s in steps)})
                status = ("ok" if resumed and diff is None and trials[-1]["clean_stops"]
                          else "PROBLEM")
                print(f"{kind} trial {t + 1}/{args.trials}: {status} "
                      f"{[s.get('rc') for s in steps]} {diff or ''}", flush=True)
                if status != "ok":
                    print(json.dumps(trials[-1], indent=1), flush=True)
                out.unlink(missing_ok=True)
                partial_path(out).unlink(missing_ok=True)

        same_file(ref, ref)  # reads the reference once, before the threads share it
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(run_kind, args.kinds))
    rows = []
    for kind in args.kinds:
        trials = results[kind]
        steps = [s for t in trials for s in t["steps"]]
        lat = [s["latency_s"] for s in steps if s.get("latency_s") is not None]
        rows.append({"kind": kind, "trials": len(trials), "interruptions": len(steps),
                     "finished_before_signal": sum(1 for s in steps if s.get("finished_first")),
                     "unclean_stops": sum(1 for s in steps if not s["clean"]),
                     "hangs": sum(1 for s in steps if s.get("hang")),
                     "max_stop_latency_s": max(lat) if lat else None,
                     "unresumable": sum(1 for t in trials if not t["resumed"]),
                     "damaged": sum(1 for t in trials if t["damaged"])})
    head = ("kind", "trials", "interruptions", "finished_before_signal", "unclean_stops", "hangs",
            "max_stop_latency_s", "unresumable", "damaged")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(r[h]) for h in head) + " |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": platform.platform(), "events": args.events,
                                       "seed": args.seed, "summary": rows, "trials": results},
                                      indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
