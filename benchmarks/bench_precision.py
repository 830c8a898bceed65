"""Training-step time of the dense networks under the trainer's runtime options, side by side:
fp32, bf16 autocast, channels-last, both, and torch.compile (CPU; on CUDA also fp16).

Each variant trains the same model (same initial weights) on the same real batches, taken from a
small simulated SBND file at 50 % resolution; the variants take turns step by step, so that the
machine's noise falls on all of them alike. Prints the median step time and its ratio to fp32,
and writes benchmarks/results/precision.json (and .txt).

    .venv/bin/python benchmarks/bench_precision.py [--model uresnet|cosmic_tagger] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import saved_output  # noqa: E402


def _batches(path: Path, crop: tuple[int, int], n: int):
    from larseg.data import DenseDataset, RandomCrop
    from larseg.data.collate import dense_collate
    from larseg.io import open_events

    ds = DenseDataset(open_events(path), target="cosmic", downsample=2, pool="mean",
                      transform=[RandomCrop(crop, min_pixels=1)], on_empty="skip")
    out = []
    while len(out) < n:
        b = dense_collate([ds[len(out) % len(ds)]])
        if b is not None:
            out.append(b)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="uresnet")
    ap.add_argument("--crop", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--steps", type=int, default=8, help="timed steps per variant")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "precision.json")
    args = ap.parse_args()

    from larseg.data._torch import torch
    from larseg.models import build
    from larseg.models.losses import PixelCrossEntropy
    from larseg.sim.simulate import SimulationJob, simulate_to_file
    from larseg.train import runtime
    from larseg.train.config import load_config
    from larseg.train.trainer import TrainingConfig

    torch.set_num_threads(args.threads)
    device = runtime.resolve_device(args.device)
    cfg = load_config(None, TrainingConfig, [f"model.name={args.model}"])
    variants = [("fp32", "fp32", False, False), ("bf16", "bf16", False, False),
                ("channels-last", "fp32", True, False), ("channels-last + bf16", "bf16", True,
                                                         False)]
    if device.type == "cuda":
        variants.append(("fp16", "fp16", False, False))
    if not args.no_compile:
        variants.append(("torch.compile", "fp32", False, True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sbnd.h5"
        simulate_to_file(path, SimulationJob("sbnd", "cosmics+neutrino", seed=7), 4, workers=1)
        batches = _batches(path, tuple(args.crop), args.steps + 2)
    torch.manual_seed(0)
    reference = build(cfg.model)
    runs = []
    for name, precision, cl, comp in variants:
        model = build(cfg.model)
        model.load_state_dict(reference.state_dict())
        model, forward = runtime.prepare(model.to(device), channels_last=cl, compile=comp)
        runs.append({"name": name, "precision": precision, "cl": cl, "model": model,
                     "forward": forward, "loss": PixelCrossEntropy(cfg.loss.class_weights).to(device),
                     "opt": torch.optim.RMSprop(model.parameters(), lr=3e-4),
                     "scaler": runtime.grad_scaler(precision, device), "times": [],
                     "first": None})

    def step(r, batch) -> float:
        t0 = time.perf_counter()
        image = runtime.to_input(batch["image"], device, r["cl"])
        with runtime.autocast(r["precision"], device):
            logits = r["forward"](image)
        loss = sum(r["loss"](logits.float(), batch["label"].to(device)).values())
        r["scaler"].scale(loss).backward()
        r["scaler"].step(r["opt"])
        r["scaler"].update()
        r["opt"].zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for r in runs:  # warm-up (torch.compile compiles here)
        r["first"] = step(r, batches[0]) + step(r, batches[1])
    for batch in batches[2:]:
        for r in runs:
            r["times"].append(step(r, batch))
    base = statistics.median(runs[0]["times"])
    rows = []
    with saved_output("precision"):
        print(f"{args.model}, crop {args.crop[0]} x {args.crop[1]} (50 % resolution), 3 planes, "
              f"batch 1, {device}, {args.threads} threads, {args.steps} steps each")
        print(f"{'variant':24s} {'median step':>12s} {'vs fp32':>8s} {'warm-up':>9s}")
        for r in runs:
            med = statistics.median(r["times"])
            rows.append({"variant": r["name"], "median_step_s": round(med, 4),
                         "ratio_to_fp32": round(med / base, 3),
                         "warmup_s": round(r["first"], 2)})
            print(f"{r['name']:24s} {med:11.3f}s {med / base:7.2f}x {r['first']:8.1f}s")
    args.output.write_text(json.dumps({"machine": platform.platform(), "model": args.model,
                                       "crop": list(args.crop), "device": str(device),
                                       "threads": args.threads, "rows": rows}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
