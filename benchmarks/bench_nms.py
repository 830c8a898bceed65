"""NMS speed: larseg's kernel vs a vectorised torch version, a naive Python loop and torchvision.

Random boxes over a MicroBooNE collection-plane image (3456 ticks × 1008 wires; boxes 8 to 200
pixels a side), 2,000 and 10,000 of them, in two layouts: ``uniform`` (anywhere) and
``clustered`` (jittered around 20 objects, as an RPN's proposals are). For each, in one run:

- ``larseg``: ``larseg.models.detection.nms.nms`` (the numba kernel with its spatial index);
- ``torch matrix``: a vectorised pure-torch NMS, the IoU matrix in blocks of rows, thresholded
  into a boolean suppression matrix, then the greedy pass over its rows (what
  ``../shared/dependencies.md`` measured at 25-55 ms for 2,000 boxes);
- ``python loop``: the naive reference, a Python loop over the kept boxes, each dropping the
  boxes it overlaps (one torch IoU row per kept box);
- ``torchvision``: ``torchvision.ops.nms`` when it imports (not beside this machine's CPU torch).

Every implementation must keep the same boxes (checked). Prints the best of ``--repeat`` times
(the naive loop: one pass) and the load average (the machine is shared); writes
benchmarks/results/nms.json (and .txt).

    .venv/bin/python benchmarks/bench_nms.py [--sizes 2000 10000] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import saved_output  # noqa: E402

IMAGE = (3456.0, 1008.0)  # MicroBooNE collection plane: (height = ticks, width = wires)


def make_boxes(n: int, layout: str, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    h, w = IMAGE
    size = 8 + torch.rand(n, 2, generator=g) * 192
    if layout == "uniform":
        corner = torch.rand(n, 2, generator=g) * torch.tensor([w, h])
    else:
        centres = torch.rand(20, 2, generator=g) * torch.tensor([w, h])
        corner = (centres[torch.randint(0, 20, (n,), generator=g)]
                  + torch.randn(n, 2, generator=g) * 15)
    return torch.cat([corner, corner + size], dim=1), torch.rand(n, generator=g)


def nms_torch_matrix(boxes, scores, threshold: float, block: int = 1024):
    """Vectorised pure torch: suppression matrix S[i, j] = IoU > t for j after i (score order),
    built in blocks of rows, then the greedy pass keeps i if no kept box before it suppresses
    it."""
    import torch

    from larseg.models.detection.boxes import box_iou

    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    n = len(b)
    keep = torch.ones(n, dtype=torch.bool)
    for start in range(0, n, block):
        rows = box_iou(b[start:start + block], b) > threshold
        rows &= torch.arange(n)[None, :] > torch.arange(start, start + len(rows))[:, None]
        rows = rows.numpy()
        alive = keep.numpy()  # a view: the updates below land in keep
        for i in range(len(rows)):
            if alive[start + i]:
                alive &= ~rows[i]
    return order[keep]


def nms_python_loop(boxes, scores, threshold: float):
    """The naive reference: a Python loop over the kept boxes."""
    import torch

    from larseg.models.detection.boxes import box_iou

    order = torch.sort(scores, descending=True, stable=True).indices
    kept = []
    while len(order):
        i = order[0]
        kept.append(int(i))
        rest = order[1:]
        order = rest[box_iou(boxes[i][None], boxes[rest])[0] <= threshold]
    return torch.tensor(kept, dtype=torch.long)


def best_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--layouts", nargs="+", default=["uniform", "clustered"])
    ap.add_argument("--threshold", type=float, default=0.7, help="the RPN's NMS threshold")
    ap.add_argument("--repeat", type=int, default=5)
    # one thread: the kernel is serial, and on this shared 2-core machine 2 torch threads made
    # the naive loop's many small ops ~70x slower (thread wake-ups), which is not NMS's cost
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "nms.json")
    args = ap.parse_args()

    import torch

    from larseg.models.detection.nms import nms

    torch.set_num_threads(args.threads)
    try:
        import torchvision.ops as tv_ops
        tv_ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
        tv_nms, tv_note = tv_ops.nms, f"torchvision {sys.modules['torchvision'].__version__}"
    except Exception as exc:  # the CUDA build beside a CPU torch fails at import or call
        tv_nms, tv_note = None, f"torchvision unavailable ({type(exc).__name__})"
    nms(*make_boxes(10, "uniform", 0), 0.5)  # numba: load (or compile) the kernel first

    impls = [("larseg", nms, args.repeat), ("torch matrix", nms_torch_matrix, args.repeat),
             ("python loop", nms_python_loop, 1)]
    if tv_nms is not None:
        impls.append(("torchvision", tv_nms, args.repeat))
    rows = []
    with saved_output("nms"):
        print(f"NMS at IoU > {args.threshold}, boxes 8-200 px over a {IMAGE[0]:.0f} x "
              f"{IMAGE[1]:.0f} image; torch {torch.__version__}, {args.threads} thread(s); "
              f"{tv_note}; best of {args.repeat} (python loop: 1 pass)")
        print(f"load average at start: {os.getloadavg()[0]:.1f} "
              f"(on {os.cpu_count()} cores; the machine is shared)")
        names = [name for name, _, _ in impls]
        print(f"{'layout':10s} {'boxes':>6s} {'kept':>6s} "
              + " ".join(f"{n + ' ms':>16s}" for n in names) + "  same kept")
        for layout in args.layouts:
            for n in args.sizes:
                boxes, scores = make_boxes(n, layout, seed=n)
                results = {name: best_time(lambda f=fn: f(boxes, scores, args.threshold), r)
                           for name, fn, r in impls}
                ref = results["larseg"][1]
                same = all(torch.equal(out.long(), ref) for _, out in results.values())
                print(f"{layout:10s} {n:6d} {len(ref):6d} "
                      + " ".join(f"{results[name][0] * 1e3:16.2f}" for name in names)
                      + f"  {'yes' if same else 'NO'}")
                rows.append({"layout": layout, "boxes": n, "kept": len(ref), "same_kept": same,
                             "ms": {name: round(results[name][0] * 1e3, 3) for name in names}})
        for r in rows:
            ms = r["ms"]
            print(f"  {r['layout']} {r['boxes']}: larseg is faster than the torch matrix "
                  f"{ms['torch matrix'] / ms['larseg']:.0f}x, than the python loop "
                  f"{ms['python loop'] / ms['larseg']:.0f}x"
                  + (f", than torchvision {ms['torchvision'] / ms['larseg']:.1f}x"
                     if "torchvision" in ms else ""))
        args.output.write_text(json.dumps({
            "machine": platform.platform(), "threads": args.threads, "torchvision": tv_note,
            "threshold": args.threshold, "load_average": os.getloadavg()[0], "rows": rows},
            indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
