"""Forward and training-step time of the SBND cosmic tagger at the paper's configuration.

The multi-plane UResNet of larseg.models.cosmic_tagger with 8 initial filters (Table 1, 23.8 M
parameters), batch 1, 3 planes of 640 × 1024 (H = ticks × W = wires, the paper's 50 % images),
on the CPU with --threads threads: inference (eval mode, torch.inference_mode) and one training
step (train mode, the paper's mild-weight cross entropy, backward, RMSProp lr 3e-4). The input
is a synthetic image with ~2 % active pixels (dense convolutions do not depend on the values).
Prints the median of --repeats timed runs after one warm-up, the process's peak RSS after each
phase, and the load average at start and end (the machine is shared: CPU seconds per wall second
well under --threads means other work took the cores); writes
benchmarks/results/cosmic_tagger.json.

    .venv/bin/python benchmarks/bench_cosmic_tagger.py [--repeats 3] [--threads 2] [--full]

--full adds one inference at full resolution (1280 × 2048).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from larseg.models.cosmic_tagger import CosmicTagger, CosmicTaggerConfig
from larseg.models.losses import PixelCrossEntropy

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kB


def sparse_image(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    active = torch.rand(1, 3, h, w, generator=g) < 0.02
    image = torch.where(active, 20 + 80 * torch.rand(1, 3, h, w, generator=g), 0.0)
    label = torch.where(active, torch.randint(1, 3, (1, 3, h, w), generator=g), 0)
    return image, label


def timed(fn, repeats: int) -> tuple[list[float], float]:
    """Wall seconds of each run after a warm-up, and CPU seconds per wall second over them."""
    fn()  # warm-up: allocator, oneDNN primitive caches
    out = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out, (time.process_time() - c0) / sum(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--channels-last", action="store_true",
                    help="model and input in channels-last memory format (the same arithmetic)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPU)")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "cosmic_tagger.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = CosmicTaggerConfig()
    model = CosmicTagger(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    image, label = sparse_image(640, 1024, seed=1)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    image = image.contiguous(memory_format=fmt)
    precision = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)
    rows = []

    model.eval()

    def infer(x=image):
        with torch.inference_mode(), precision:
            model(x.contiguous(memory_format=fmt))

    load_start = os.getloadavg()
    t, cpu = timed(infer, args.repeats)
    rows.append({"phase": "inference 640 × 1024", "median_s": statistics.median(t),
                 "runs_s": t, "cpu_per_wall": cpu, "peak_rss_gb": peak_rss_gb()})

    model.train()
    loss_fn = PixelCrossEntropy((1.0, 1.5, 10.0))  # SBND paper, section 7: mild weights
    opt = torch.optim.RMSprop(model.parameters(), lr=3e-4)  # SBND paper, section 7

    def step():
        opt.zero_grad(set_to_none=True)
        with precision:
            out = model(image)
        loss_fn(out.float(), label)["cross_entropy"].backward()
        opt.step()

    t, cpu = timed(step, args.repeats)
    rows.append({"phase": "training step 640 × 1024", "median_s": statistics.median(t),
                 "runs_s": t, "cpu_per_wall": cpu, "peak_rss_gb": peak_rss_gb()})

    if args.full:
        model.eval()
        full, _ = sparse_image(1280, 2048, seed=2)
        t0, c0 = time.perf_counter(), time.process_time()
        infer(full)
        t = [time.perf_counter() - t0]
        rows.append({"phase": "inference 1280 × 2048 (1 run, cold)", "median_s": t[0],
                     "runs_s": t, "cpu_per_wall": (time.process_time() - c0) / t[0],
                     "peak_rss_gb": peak_rss_gb()})

    load_end = os.getloadavg()

    variant = ", ".join(v for v, on in (("channels-last", args.channels_last),
                                        ("bf16", args.bf16)) if on) or "fp32, channels-first"
    print(f"cosmic tagger, {cfg.filters} filters, {n_params:,} parameters, batch 1 × 3 planes, "
          f"{args.threads} threads, torch {torch.__version__}, {variant}")
    print(f"{'phase':38s} {'median s':>9s} {'runs s':>20s} {'CPU/wall':>9s} {'peak RSS GB':>12s}")
    for r in rows:
        runs = " ".join(f"{x:.2f}" for x in r["runs_s"])
        print(f"{r['phase']:38s} {r['median_s']:9.2f} {runs:>20s} {r['cpu_per_wall']:9.2f} "
              f"{r['peak_rss_gb']:12.2f}")
    print("load average (1, 5, 15 min) at start " + " ".join(f"{x:.2f}" for x in load_start)
          + ", at end " + " ".join(f"{x:.2f}" for x in load_end))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": platform.platform(), "torch": torch.__version__, "threads": args.threads,
        "channels_last": args.channels_last, "bf16": args.bf16,
        "config": cfg.__dict__, "parameters": n_params, "repeats": args.repeats,
        "load_average_start": load_start, "load_average_end": load_end,
        "rows": [{**r, "median_s": round(r["median_s"], 3),
                  "cpu_per_wall": round(r["cpu_per_wall"], 2),
                  "runs_s": [round(x, 3) for x in r["runs_s"]],
                  "peak_rss_gb": round(r["peak_rss_gb"], 3)} for r in rows]}, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
