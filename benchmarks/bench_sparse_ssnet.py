"""SparseSSNet inference on one full simulated MicroBooNE plane: spconv, the reference backend, and
the identical network run densely.

Simulates one MicroBooNE event (``--generator``, default ``cosmics``), takes the plane with the
most pixels after the note's 10–300 ADC mask (``--plane`` to choose), and runs one plane network
of the full SparseSSNet (5 levels, 32 filters, two residual blocks per level) on the whole
1008 × 3456 image, in inference mode, on ``--threads`` threads. Each variant runs in its own
process (same seed, hence the same weights), so that its peak RSS is its own. Variants are
BACKEND:PRECISION (bf16: CPU autocast):

- ``spconv`` / ``reference``: the sparse network; one warm-up pass, then ``--repeat`` timed
  passes;
- ``dense``: the same network and weights run densely by
  :class:`~larseg.models.sparse.dense_twin.DenseTwin` (masked: the sparse definitions evaluated
  on the full padded image, so its logits are the sparse ones) in one pass over the whole plane;
- ``dense-crops``: the same, on 512 × 512 crops covering the plane, as note 1091's dense SSNet
  was run (14 crops here; the last row and column of crops are shifted back inside the image, so
  they overlap their neighbours; a pixel takes its logits from the first crop that holds it). The
  time is the sum over the crops. Its logits differ from the sparse ones near the crop edges,
  where a crop does not see the context the full image gives;
- ``dense-plain`` / ``dense-plain-crops``: the unmasked twin (a plain dense U-Net with these
  weights, convolving the zeros too; its logits differ, activity dilates). Not run by default:
  it costs about what the masked twin costs.

Dense variants are fp32 only and time ``--dense-repeat`` passes (default 1) with no warm-up: a
pass takes tens of seconds, next to which the first call's set-up is small. With ``--weights``
(a SparseSSNet model.safetensors, or ``shipped``) the plane's network carries those trained
weights, so that the "same class" column measures what bf16 (or cropping) changes in real
predictions; otherwise the weights are random. Prints the median and best time, the peak RSS and
its rise over the loaded network, and how far each variant's logits are from the first's; writes
benchmarks/results/sparse_ssnet.json (and .txt). The note's target: ~0.5 s and ~1 GB per image
on a CPU worker; issue 12's: the sparse network >= 50× faster than the dense one.

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

from _planes import add_plane_options, busiest_plane, rss_mb  # noqa: E402
from _results import saved_output  # noqa: E402




DENSE = ("dense", "dense-crops", "dense-plain", "dense-plain-crops")
CROP = 512  # note 1091's dense SSNet ran on 512 × 512 crops


def crop_starts(n: int, size: int = CROP) -> list[int]:
    """Starts of the crops of ``size`` covering 0..n: every ``size``, the last shifted back so
    that it ends at n (one crop of the whole when n <= size)."""
    if n <= size:
        return [0]
    return list(range(0, n - size, size)) + [n - size]


def load_plane_network(d, backend: str):
    """The one-plane SparseSSNet the workers run (seed 0, or the weights named in ``d``)."""
    from larseg.data._torch import torch
    from larseg.models.sparse_ssnet import SparseSSNet, SparseSSNetConfig

    torch.manual_seed(0)
    net = SparseSSNet(SparseSSNetConfig(n_planes=1, backend=backend)).eval()
    if str(d["weights"]):
        from safetensors.torch import load_file

        prefix = f"planes.{int(d['plane'])}."
        state = {"planes.0." + k[len(prefix):]: v for k, v in load_file(str(d["weights"])).items()
                 if k.startswith(prefix)}
        net.load_state_dict(state)
    return net


def dense_passes(kind: str, net, x, repeat: int):
    """``repeat`` timed passes of the dense twin (``kind`` in DENSE) on record ``x``: the times
    and the logits on x's sites, in its order."""
    from larseg.data._torch import torch
    from larseg.models.sparse import densify
    from larseg.models.sparse.dense_twin import DenseTwin

    twin = DenseTwin(net.planes[0], masked="plain" not in kind)
    image = densify(x)
    rows, cols = x.coords[:, 1].long(), x.coords[:, 2].long()
    mask = torch.zeros(image.shape[-2:], dtype=torch.bool)
    mask[rows, cols] = True
    mask = mask[None]
    h, w = x.spatial_shape
    if kind.endswith("crops"):
        windows = [(r, c) for r in crop_starts(h) for c in crop_starts(w)]
    else:
        windows = [(0, 0)]
    size = (CROP, CROP) if kind.endswith("crops") else (h, w)
    times = []
    for _ in range(repeat):
        logits = torch.zeros(x.n_sites, net.cfg.n_classes)
        done = torch.zeros(x.n_sites, dtype=torch.bool)
        total = 0.0
        for r, c in windows:
            t0 = time.perf_counter()
            out = twin(image[:, :, r:r + size[0], c:c + size[1]],
                       mask[:, r:r + size[0], c:c + size[1]])
            total += time.perf_counter() - t0
            # each pixel's logits from the first crop that holds it
            take = (~done & (rows >= r) & (rows < r + size[0])
                    & (cols >= c) & (cols < c + size[1]))
            logits[take] = out[0].permute(1, 2, 0)[rows[take] - r, cols[take] - c]
            done |= take
        assert bool(done.all()), "the crops do not cover the plane"
        times.append(total)
    return times, logits


def worker(variant: str, data: Path, out: Path, repeat: int, threads: int,
           dense_repeat: int) -> None:
    """One backend:precision, in a process of its own: times and peak memory to ``out`` (JSON
    + logits). bf16 runs the sparse network under CPU autocast (the matmuls in bfloat16)."""
    from larseg.data._torch import torch
    from larseg.models.sparse import SparseTensor

    backend, _, precision = variant.partition(":")
    precision = precision or "fp32"
    dense = backend in DENSE
    if dense and precision != "fp32":
        raise SystemExit(f"{variant}: the dense variants run fp32 only")
    torch.set_num_threads(threads)
    d = np.load(data)
    # the twin only reads the parameters: the reference backend's modules hold them
    net = load_plane_network(d, "reference" if dense else backend)
    shape = (int(d["shape"][0]), int(d["shape"][1]))

    def fresh() -> SparseTensor:  # a new record each pass: no neighbour map carried over
        return SparseTensor.from_pixels(torch.from_numpy(d["coords"]),
                                        torch.from_numpy(d["adc"]), shape)

    rss_loaded = rss_mb()
    times = []
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16,
                                                enabled=precision == "bf16"):
        if dense:
            times, logits = dense_passes(backend, net, fresh(), dense_repeat)
        else:
            logits = net([fresh()])[0].float()  # warm-up
            for _ in range(repeat):
                x = fresh()
                t0 = time.perf_counter()
                net([x])
                times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out.with_suffix(".npy"), logits.numpy())
    name = backend if dense else net.backend
    out.write_text(json.dumps({
        "backend": f"{name}:{precision}", "times_s": times, "peak_rss_mb": peak,
        "rss_loaded_mb": rss_loaded,
        "parameters": sum(p.numel() for p in net.parameters())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_plane_options(ap)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dense-repeat", type=int, default=1,
                    help="timed passes of the dense variants (no warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", nargs="+",
                    default=["spconv:fp32", "reference:fp32", "reference:bf16",
                             "dense:fp32", "dense-crops:fp32"],
                    help="BACKEND[:PRECISION] (fp32 or bf16), each run in its own process; "
                         "BACKEND: spconv, reference, " + ", ".join(DENSE) + " (fp32 only)")
    ap.add_argument("--weights", default="",
                    help="SparseSSNet weights (model.safetensors or 'shipped'); default random")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sparse_ssnet.json")
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "DATA", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        backend, data, out = args.worker
        worker(backend, Path(data), Path(out), args.repeat, args.threads, args.dense_repeat)
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
                            "--repeat", str(args.repeat), "--threads", str(args.threads),
                            "--dense-repeat", str(args.dense_repeat)],
                           check=True)
            r = json.loads(out.read_text())
            r["logits"] = np.load(out.with_suffix(".npy"))
            rows.append(r)
    with saved_output("sparse_ssnet"):
        print(f"MicroBooNE '{args.generator}' event (seed {args.seed}), plane {index}: "
              f"{p.meta.n_ticks} x {p.meta.n_wires}, {len(p.values)} pixels, "
              f"{int(keep.sum())} after the {mp.adc_min:g}-{mp.adc_max:g} ADC mask")
        threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
        n_crops = len(crop_starts(p.meta.n_ticks)) * len(crop_starts(p.meta.n_wires))
        print(f"one plane network: {cfg.levels} levels, widths {cfg.widths()}, "
              f"{rows[0]['parameters']:,} parameters; {threads}, "
              f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, inference mode, "
              f"sparse: {args.repeat} timed passes after one warm-up; dense: "
              f"{args.dense_repeat} timed, no warm-up; dense-crops: summed over "
              f"{n_crops} crops of {CROP} x {CROP}")
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
        sparse = [r for r in rows if r["backend"].split(":")[0] not in DENSE]
        for r in rows:
            if r["backend"].split(":")[0] in DENSE and sparse:
                print(f"{r['backend']} / {sparse[0]['backend']}: "
                      f"{r['median_s'] / sparse[0]['median_s']:.0f}x the time, "
                      f"{r['peak_rss_mb'] / sparse[0]['peak_rss_mb']:.1f}x the peak RSS "
                      f"(issue 12's target: >= 50x faster than dense)")
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
