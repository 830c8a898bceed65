"""SparseSSNet inference on one full simulated MicroBooNE plane: spconv vs the reference backend.

Simulates one MicroBooNE event (``--generator``, default ``cosmics``), takes the plane with the
most pixels after the note's 10–300 ADC mask (``--plane`` to choose), and runs one plane network
of the full SparseSSNet (5 levels, 32 filters, two residual blocks per level) on the whole
1008 × 3456 image, in inference mode, on ``--threads`` threads. Each backend runs in its own
process (same seed, hence the same weights), so that its peak RSS is its own: one warm-up pass,
then ``--repeat`` timed passes. Prints the median and best time, the peak RSS and its rise over
the loaded network, and how far apart the two backends' logits are; writes
benchmarks/results/sparse_ssnet.json (and .txt). The note's target: ~0.5 s and ~1 GB per image
on a CPU worker.

OMP_WAIT_POLICY=PASSIVE is set (unless already set) before torch loads, as
larseg.models.sparse.spconv_backend explains: only then does it reach the OpenMP runtime that
runs both torch's and spconv's loops.

    .venv/bin/python benchmarks/bench_sparse_ssnet.py [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import saved_output  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(backend: str, data: Path, out: Path, repeat: int, threads: int) -> None:
    """One backend, in a process of its own: times and peak memory to ``out`` (JSON + logits)."""
    from larseg.data._torch import torch
    from larseg.models.sparse import SparseTensor
    from larseg.models.sparse_ssnet import SparseSSNet, SparseSSNetConfig

    torch.set_num_threads(threads)
    d = np.load(data)
    torch.manual_seed(0)
    cfg = SparseSSNetConfig(n_planes=1, backend=backend)
    net = SparseSSNet(cfg).eval()
    shape = (int(d["shape"][0]), int(d["shape"][1]))

    def fresh() -> SparseTensor:  # a new record each pass: no neighbour map carried over
        return SparseTensor.from_pixels(torch.from_numpy(d["coords"]),
                                        torch.from_numpy(d["adc"]), shape)

    rss_loaded = _rss_mb()
    times = []
    with torch.inference_mode():
        logits = net([fresh()])[0]  # warm-up
        for _ in range(repeat):
            x = fresh()
            t0 = time.perf_counter()
            net([x])
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out.with_suffix(".npy"), logits.numpy())
    out.write_text(json.dumps({
        "backend": net.backend, "times_s": times, "peak_rss_mb": peak,
        "rss_loaded_mb": rss_loaded,
        "parameters": sum(p.numel() for p in net.parameters())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="cosmics")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--plane", type=int, default=None, help="default: the busiest plane")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", nargs="+", default=["spconv", "reference"])
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sparse_ssnet.json")
    ap.add_argument("--worker", nargs=3, metavar=("BACKEND", "DATA", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        backend, data, out = args.worker
        worker(backend, Path(data), Path(out), args.repeat, args.threads)
        return

    from larseg.models.sparse_ssnet import SparseSSNetConfig
    from larseg.sim.simulate import SimulationJob, simulate_event

    cfg = SparseSSNetConfig()
    event = simulate_event(SimulationJob("microboone", args.generator, seed=args.seed), 0)
    kept = [int(((p.values >= cfg.adc_min) & (p.values <= cfg.adc_max)).sum())
            for p in event.planes]
    index = int(np.argmax(kept)) if args.plane is None else args.plane
    p = event.planes[index]
    keep = (p.values >= cfg.adc_min) & (p.values <= cfg.adc_max)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "plane.npz"
        np.savez(data, coords=p.coords[keep], adc=p.values[keep],
                 shape=np.array([p.meta.n_ticks, p.meta.n_wires]))
        for backend in args.backends:
            out = Path(tmp) / f"{backend}.json"
            subprocess.run([sys.executable, __file__, "--worker", backend, str(data), str(out),
                            "--repeat", str(args.repeat), "--threads", str(args.threads)],
                           check=True)
            r = json.loads(out.read_text())
            r["logits"] = np.load(out.with_suffix(".npy"))
            rows.append(r)
    with saved_output("sparse_ssnet"):
        print(f"MicroBooNE '{args.generator}' event (seed {args.seed}), plane {index}: "
              f"{p.meta.n_ticks} x {p.meta.n_wires}, {len(p.values)} pixels, "
              f"{int(keep.sum())} after the {cfg.adc_min:g}-{cfg.adc_max:g} ADC mask")
        threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
        print(f"one plane network: {cfg.levels} levels, widths {cfg.widths()}, "
              f"{rows[0]['parameters']:,} parameters; {threads}, "
              f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, inference mode, "
              f"{args.repeat} timed passes after one warm-up")
        print(f"{'backend':10s} {'median':>8s} {'best':>8s} {'peak RSS':>9s} {'rise':>8s}")
        for r in rows:
            med, best = statistics.median(r["times_s"]), min(r["times_s"])
            rise = r["peak_rss_mb"] - r["rss_loaded_mb"]
            print(f"{r['backend']:10s} {med:7.3f}s {best:7.3f}s {r['peak_rss_mb']:6.0f} MB "
                  f"{rise:5.0f} MB")
            r.update(median_s=round(med, 4), best_s=round(best, 4))
        if len(rows) == 2:
            a, b = rows[0]["logits"], rows[1]["logits"]
            diff = float(np.abs(a - b).max() / np.abs(a).max())
            speed = rows[1]["median_s"] / rows[0]["median_s"]
            print(f"{rows[1]['backend']} / {rows[0]['backend']} median time: {speed:.2f}x; "
                  f"logits max |difference| / max |logit| = {diff:.1e}")
        summary = {"machine": platform.platform(), "generator": args.generator,
                   "seed": args.seed, "plane": index, "pixels_after_mask": int(keep.sum()),
                   "threads": args.threads, "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                   "rows": [{k: v for k, v in r.items() if k != "logits"} for r in rows]}
        args.output.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
