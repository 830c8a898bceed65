"""SparseSSNet inference on one full simulated MicroBooNE plane: spconv vs the reference backend.

Simulates one MicroBooNE event (``--generator``, default ``cosmics``), takes the plane with the
most pixels after the note's 10–300 ADC mask (``--plane`` to choose), and runs one plane network
of the full SparseSSNet (5 levels, 32 filters, two residual blocks per level) on the whole
1008 × 3456 image, in inference mode, on ``--threads`` threads. Each backend runs in its own
process (same seed, hence the same weights), so that its peak RSS is its own: one warm-up pass,
then ``--repeat`` timed passes. Variants are BACKEND:PRECISION (bf16: CPU autocast). With
``--weights`` (a SparseSSNet model.safetensors, or ``shipped``) the plane's network carries those
trained weights, so that the "same class" column measures what bf16 changes in real
predictions; otherwise the weights are random. Prints the median and best time, the peak RSS and
its rise over the loaded network, and how far each variant's logits are from the first's; writes
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

from _planes import add_plane_options, busiest_plane  # noqa: E402
from _results import saved_output  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(variant: str, data: Path, out: Path, repeat: int, threads: int) -> None:
    """One backend:precision, in a process of its own: times and peak memory to ``out`` (JSON
    + logits). bf16 runs the network under CPU autocast (the matmuls in bfloat16)."""
    from larseg.data._torch import torch
    from larseg.models.sparse import SparseTensor
    from larseg.models.sparse_ssnet import SparseSSNet, SparseSSNetConfig

    backend, _, precision = variant.partition(":")
    precision = precision or "fp32"
    torch.set_num_threads(threads)
    d = np.load(data)
    torch.manual_seed(0)
    cfg = SparseSSNetConfig(n_planes=1, backend=backend)
    net = SparseSSNet(cfg).eval()
    if str(d["weights"]):
        from safetensors.torch import load_file

        prefix = f"planes.{int(d['plane'])}."
        state = {"planes.0." + k[len(prefix):]: v for k, v in load_file(str(d["weights"])).items()
                 if k.startswith(prefix)}
        net.load_state_dict(state)
    shape = (int(d["shape"][0]), int(d["shape"][1]))

    def fresh() -> SparseTensor:  # a new record each pass: no neighbour map carried over
        return SparseTensor.from_pixels(torch.from_numpy(d["coords"]),
                                        torch.from_numpy(d["adc"]), shape)

    rss_loaded = _rss_mb()
    times = []
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16,
                                                enabled=precision == "bf16"):
        logits = net([fresh()])[0].float()  # warm-up
        for _ in range(repeat):
            x = fresh()
            t0 = time.perf_counter()
            net([x])
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out.with_suffix(".npy"), logits.numpy())
    out.write_text(json.dumps({
        "backend": f"{net.backend}:{precision}", "times_s": times, "peak_rss_mb": peak,
        "rss_loaded_mb": rss_loaded,
        "parameters": sum(p.numel() for p in net.parameters())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_plane_options(ap)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", nargs="+",
                    default=["spconv:fp32", "reference:fp32", "reference:bf16"],
                    help="BACKEND[:PRECISION] (fp32 or bf16), each run in its own process")
    ap.add_argument("--weights", default="",
                    help="SparseSSNet weights (model.safetensors or 'shipped'); default random")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sparse_ssnet.json")
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "DATA", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        backend, data, out = args.worker
        worker(backend, Path(data), Path(out), args.repeat, args.threads)
        return

    from larseg.models.sparse_ssnet import SparseSSNetConfig

    cfg = SparseSSNetConfig()  # the note's network, as the workers build it: printed below
    mp = busiest_plane(args.generator, args.seed, args.plane)
    index, p, keep = mp.index, mp.plane, mp.keep
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "plane.npz"
        weights = args.weights
        if weights == "shipped":
            from larseg.weights import resolve_weights

            weights = str(resolve_weights("sparse_ssnet"))
        np.savez(data, coords=p.coords[keep], adc=p.values[keep],
                 shape=np.array([p.meta.n_ticks, p.meta.n_wires]), weights=np.array(weights),
                 plane=np.array(index))
        for backend in args.backends:
            out = Path(tmp) / f"{backend.replace(':', '_')}.json"
            subprocess.run([sys.executable, __file__, "--worker", backend, str(data), str(out),
                            "--repeat", str(args.repeat), "--threads", str(args.threads)],
                           check=True)
            r = json.loads(out.read_text())
            r["logits"] = np.load(out.with_suffix(".npy"))
            rows.append(r)
    with saved_output("sparse_ssnet"):
        print(f"MicroBooNE '{args.generator}' event (seed {args.seed}), plane {index}: "
              f"{p.meta.n_ticks} x {p.meta.n_wires}, {len(p.values)} pixels, "
              f"{int(keep.sum())} after the {mp.adc_min:g}-{mp.adc_max:g} ADC mask")
        threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
        print(f"one plane network: {cfg.levels} levels, widths {cfg.widths()}, "
              f"{rows[0]['parameters']:,} parameters; {threads}, "
              f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, inference mode, "
              f"{args.repeat} timed passes after one warm-up")
        print(f"{'backend':16s} {'median':>8s} {'best':>8s} {'peak RSS':>9s} {'rise':>8s} "
              f"{'vs first':>9s} {'|dlogit|':>9s} {'same class':>10s}")
        first = rows[0]
        for r in rows:
            med, best = statistics.median(r["times_s"]), min(r["times_s"])
            rise = r["peak_rss_mb"] - r["rss_loaded_mb"]
            r.update(median_s=round(med, 4), best_s=round(best, 4))
            # against the first row: time ratio, largest logit difference relative to the
            # largest logit, and the fraction of pixels given the same class
            a, b = first["logits"], r["logits"]
            diff = float(np.abs(a - b).max() / np.abs(a).max())
            same = float((a.argmax(1) == b.argmax(1)).mean())
            r.update(time_vs_first=round(med / first["median_s"], 3), logit_diff=diff,
                     same_class=same)
            print(f"{r['backend']:16s} {med:7.3f}s {best:7.3f}s {r['peak_rss_mb']:6.0f} MB "
                  f"{rise:5.0f} MB {med / first['median_s']:8.2f}x {diff:9.1e} {same:10.4f}")
        print("weights: " + (weights or "random (seed 0)"))
        summary = {"machine": platform.platform(), "generator": args.generator,
                   "weights": weights or "random",
                   "seed": args.seed, "plane": index, "pixels_after_mask": int(keep.sum()),
                   "threads": args.threads, "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                   "rows": [{k: v for k, v in r.items() if k != "logits"} for r in rows]}
        args.output.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
