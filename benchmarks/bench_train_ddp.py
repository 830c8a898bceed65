"""Training throughput, 1 process vs 2 DDP processes (torchrun, gloo) at the same global batch.

Simulates a small SBND file, then trains the engine's UResNet (8 filters, depth 2, 256 × 256
crops at 50 % resolution, 3 planes) for --steps steps: one process with accumulate 2, and two
processes with accumulate 1 (the same micro-batches: tests/test_train_engine.py checks the
equality). Prints micro-batches per second and the speed-up; writes
benchmarks/results/train_ddp.json.

    .venv/bin/python benchmarks/bench_train_ddp.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CONFIG = """\
model: {{name: uresnet, n_classes: 3, filters: 8, depth: 2}}
data: {{train: {data}, planes: [0, 1, 2], target: cosmic, downsample: 2, crop: [256, 256],
       batch_size: 1, seed: 1}}
optim: {{name: rmsprop, lr: 3.0e-4, accumulate: {acc}}}
train: {{steps: {steps}, checkpoint_every: 1000, threads: 1}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "train_ddp.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "sbnd.h5"
        subprocess.run([BIN / "larseg", "simulate", "-d", "sbnd", "-g", "cosmics+neutrino", "-n",
                        "8", "--seed", "3", "-o", str(data), "-q"], check=True)
        rows = []
        for label, acc, cmd in (
                ("1 process, accumulate 2", 2, [BIN / "larseg", "train"]),
                ("2 DDP processes, accumulate 1", 1,
                 [BIN / "torchrun", "--standalone", "--nproc_per_node", "2", "-m", "larseg",
                  "train"])):
            cfg = tmp / f"c{acc}.yaml"
            cfg.write_text(CONFIG.format(data=data, acc=acc, steps=args.steps))
            t0 = time.perf_counter()
            subprocess.run([*map(str, cmd), str(cfg), "-o", str(tmp / f"run{acc}")], check=True,
                           capture_output=True)
            dt = time.perf_counter() - t0
            rows.append({"setup": label, "seconds": round(dt, 2),
                         "micro_batches_per_s": round(2 * args.steps / dt, 2)})
            print(f"{label:32s} {dt:6.1f} s  {2 * args.steps / dt:6.2f} micro-batches/s "
                  "(start-up included)")
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"speed-up 1 -> 2 processes: {speedup:.2f}x")
    args.output.write_text(json.dumps({"machine": platform.platform(), "steps": args.steps,
                                       "rows": rows, "speedup": round(speedup, 2)}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
