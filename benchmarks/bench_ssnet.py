"""SSNet inference on a 512 × 512 crop and on a full MicroBooNE plane (tiled), beside SparseSSNet
on the same image.

Simulates one MicroBooNE event (``--generator``, default ``cosmics``, seed 5: the event of
bench_sparse_ssnet.py) and takes the plane with the most pixels after SparseSSNet's 10–300 ADC
mask (``--plane`` to choose). The 512 × 512 crop is centred on the median masked pixel (kept in
the image). Four runs, each in a process of its own so that its peak RSS is its own:

- SSNet as larseg/configs/ssnet.yaml builds it (8 filters, 5 levels, 2 residual blocks per
  level), on the crop's dense ADC, and on the whole 1008 × 3456 plane by tiles of 512 with
  larseg's default margin (larseg.train.tiling: 27 tiles, ``--tile-batch`` per pass), fp32,
  as ``larseg predict`` runs it;
- SparseSSNet (note 1091: 32 filters, 5 levels, one plane network, spconv) on the same crop and
  plane after its 10–300 ADC mask.

Weights are random (seed 0): the time and memory of a pass do not depend on them. Each run
makes one warm-up pass, then ``--repeat`` timed passes, in inference mode on ``--threads``
threads. Prints the median and best time, the peak RSS and its rise over the RSS with network
and data loaded; writes benchmarks/results/ssnet.json (and .txt). ``--one-pass`` adds SSNet on
the whole plane in a single pass, and how far its logits are from the tiled ones.

OMP_WAIT_POLICY=PASSIVE is set (unless already set) before torch loads, as in
bench_sparse_ssnet.py (spconv's OpenMP runtime).

    .venv/bin/python benchmarks/bench_ssnet.py [--repeat 2] [--threads 2] [--one-pass]
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

from _planes import add_plane_options, busiest_plane, rss_mb  # noqa: E402
from _results import saved_output  # noqa: E402

CROP = 512
#: (network, input) of each run, in the order of the table
RUNS = {"ssnet-crop": ("SSNet", "crop"), "ssnet-tiled": ("SSNet", "plane, tiled"),
        "ssnet-one-pass": ("SSNet", "plane, one pass"), "sparse-crop": ("SparseSSNet", "crop"),
        "sparse-plane": ("SparseSSNet", "plane")}




def _dense(d, crop: bool):
    """The plane's ADC as a (1, 1, H, W) tensor, or its crop."""
    from larseg.data._torch import torch

    h, w = (int(v) for v in d["shape"])
    image = np.zeros((h, w), dtype=np.float32)
    image[d["coords"][:, 0], d["coords"][:, 1]] = d["adc"]
    if crop:
        r0, c0 = (int(v) for v in d["origin"])
        image = image[r0:r0 + CROP, c0:c0 + CROP]
    return torch.from_numpy(np.ascontiguousarray(image))[None, None]


def _masked(d, crop: bool):
    """(coords, adc, shape) of the plane's pixels inside SparseSSNet's mask, or the crop's."""
    keep = d["mask"]
    coords, adc = d["coords"][keep], d["adc"][keep]
    shape = tuple(int(v) for v in d["shape"])
    if crop:
        r0, c0 = (int(v) for v in d["origin"])
        inside = ((coords[:, 0] >= r0) & (coords[:, 0] < r0 + CROP) & (coords[:, 1] >= c0)
                  & (coords[:, 1] < c0 + CROP))
        coords, adc, shape = coords[inside] - [r0, c0], adc[inside], (CROP, CROP)
    return np.ascontiguousarray(coords), np.ascontiguousarray(adc), shape


def worker(run: str, data: Path, out: Path, repeat: int, threads: int, tile_batch: int) -> None:
    """One run, in a process of its own: times, peak memory and logits to ``out``."""
    from larseg.data._torch import torch

    torch.set_num_threads(threads)
    d = np.load(data)
    torch.manual_seed(0)
    info: dict = {}
    if run.startswith("ssnet"):
        from larseg.models import build
        from larseg.train.config import load_config
        from larseg.train.evaluate import _padded_forward
        from larseg.train.tiling import Tiling, tile_plan, tiled_forward
        from larseg.train.trainer import TrainingConfig

        cfg = load_config(ROOT / "larseg" / "configs" / "ssnet.yaml", TrainingConfig)
        net = build(cfg.model).eval()
        x = _dense(d, run == "ssnet-crop")
        tiling = Tiling((CROP, CROP), batch=tile_batch)
        if run == "ssnet-tiled":
            info["tiles"] = len(tile_plan(tuple(x.shape[-2:]), tiling, net.size_multiple))
            info["margin"] = tiling.margin

            def once():
                return tiled_forward(net, x, tiling)
        else:
            def once():
                return _padded_forward(net, x, net.size_multiple)
        pixels = int(x.numel())
    else:
        from larseg.models.sparse import SparseTensor
        from larseg.models.sparse_ssnet import SparseSSNet, SparseSSNetConfig

        net = SparseSSNet(SparseSSNetConfig(n_planes=1, backend="spconv")).eval()
        coords, adc, shape = _masked(d, run == "sparse-crop")
        pixels = len(adc)

        def once():  # a new record each pass: no neighbour map carried over
            return net([SparseTensor.from_pixels(torch.from_numpy(coords),
                                                 torch.from_numpy(adc), shape)])[0]
    rss_loaded = rss_mb()
    times = []
    with torch.inference_mode():
        logits = once()  # warm-up
        for _ in range(repeat):
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if run.startswith("ssnet-") and run != "ssnet-crop":
        np.save(out.with_suffix(".npy"), logits.numpy())
    out.write_text(json.dumps({
        "run": run, "times_s": times, "peak_rss_mb": peak, "rss_loaded_mb": rss_loaded,
        "input_pixels": pixels, "parameters": sum(p.numel() for p in net.parameters()),
        **info}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_plane_options(ap)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tile-batch", type=int, default=3, help="tiles per forward pass")
    ap.add_argument("--one-pass", action="store_true",
                    help="also SSNet on the whole plane in one pass")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "ssnet.json")
    ap.add_argument("--worker", nargs=3, metavar=("RUN", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run, data, out = args.worker
        worker(run, Path(data), Path(out), args.repeat, args.threads, args.tile_batch)
        return

    mp = busiest_plane(args.generator, args.seed, args.plane)
    index, p, keep = mp.index, mp.plane, mp.keep
    h, w = p.meta.n_ticks, p.meta.n_wires
    centre = np.median(p.coords[keep], axis=0).astype(int)
    origin = [int(np.clip(centre[0] - CROP // 2, 0, h - CROP)),
              int(np.clip(centre[1] - CROP // 2, 0, w - CROP))]
    runs = ["ssnet-crop", "ssnet-tiled", *(["ssnet-one-pass"] if args.one_pass else []),
            "sparse-crop", "sparse-plane"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "plane.npz"
        np.savez(data, coords=p.coords.astype(np.int64), adc=p.values.astype(np.float32),
                 mask=keep, shape=np.array([h, w]), origin=np.array(origin))
        for run in runs:
            out = Path(tmp) / f"{run}.json"
            subprocess.run([sys.executable, __file__, "--worker", run, str(data), str(out),
                            "--repeat", str(args.repeat), "--threads", str(args.threads),
                            "--tile-batch", str(args.tile_batch)], check=True)
            r = json.loads(out.read_text())
            if out.with_suffix(".npy").exists():
                r["logits"] = np.load(out.with_suffix(".npy"))
            rows.append(r)
    with saved_output("ssnet"):
        print(f"MicroBooNE '{args.generator}' event (seed {args.seed}), plane {index}: "
              f"{h} x {w}, {len(p.values)} pixels, {int(keep.sum())} after the "
              f"{mp.adc_min:g}-{mp.adc_max:g} ADC mask; crop {CROP} x {CROP} at "
              f"row {origin[0]}, wire {origin[1]}")
        by_run = {r["run"]: r for r in rows}
        tiled = by_run["ssnet-tiled"]
        print(f"SSNet (larseg/configs/ssnet.yaml) {by_run['ssnet-crop']['parameters']:,} "
              f"parameters, fp32, tiles of {CROP} with margin {tiled['margin']} "
              f"({tiled['tiles']} tiles, {args.tile_batch} per pass); SparseSSNet "
              f"{by_run['sparse-crop']['parameters']:,} parameters, spconv; "
              f"{args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
              f"inference mode, {args.repeat} timed pass{'es' if args.repeat != 1 else ''} "
              "after one warm-up")
        print(f"{'network':12s} {'input':16s} {'pixels in':>10s} {'median':>8s} {'best':>8s} "
              f"{'peak RSS':>9s} {'rise':>8s}")
        for r in rows:
            net, what = RUNS[r["run"]]
            med, best = statistics.median(r["times_s"]), min(r["times_s"])
            rise = r["peak_rss_mb"] - r["rss_loaded_mb"]
            print(f"{net:12s} {what:16s} {r['input_pixels']:10,d} {med:7.2f}s {best:7.2f}s "
                  f"{r['peak_rss_mb']:6.0f} MB {rise:5.0f} MB")
            r.update(median_s=round(med, 4), best_s=round(best, 4))
        ratio = by_run["ssnet-tiled"]["median_s"] / by_run["sparse-plane"]["median_s"]
        print(f"full plane: SSNet tiled / SparseSSNet median time {ratio:.1f}x")
        if "ssnet-one-pass" in by_run:
            a, b = by_run["ssnet-tiled"]["logits"], by_run["ssnet-one-pass"]["logits"]
            diff = float(np.abs(a - b).max() / np.abs(b).max())
            agree = float((a.argmax(axis=2) == b.argmax(axis=2)).mean())
            print(f"tiled vs one pass: logits max |difference| / max |logit| = {diff:.1e}, "
                  f"same class on {100 * agree:.3f} % of the pixels (random weights)")
        summary = {"machine": platform.platform(), "generator": args.generator,
                   "seed": args.seed, "plane": index, "crop_origin": origin,
                   "pixels": len(p.values), "pixels_after_mask": int(keep.sum()),
                   "threads": args.threads, "tile_batch": args.tile_batch,
                   "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                   "rows": [{k: v for k, v in r.items() if k != "logits"} for r in rows]}
        args.output.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
