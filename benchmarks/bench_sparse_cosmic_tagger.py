"""CPU time per event of the dense and the sparse SBND cosmic tagger, side by side (inference).

Simulates ``--events`` SBND ``cosmics+neutrino`` events (``--seed``) into a temporary file and
reads them at the paper's 50 % resolution (3 planes of 640 × 1024: ``downsample=2``,
``pool="mean"``) with :class:`~larseg.data.DenseDataset` for the dense network
(:mod:`larseg.models.cosmic_tagger`) and :class:`~larseg.data.SparseDataset` for the sparse one
(:mod:`larseg.models.sparse_cosmic_tagger`), the same widths (``--filters``, default 8, Table 1's
configuration) and random weights (seed 0; the time does not depend on them). Each network runs
in its own process on ``--threads`` threads, in eval mode under ``torch.inference_mode``: one
warm-up pass on the first event, then every event once, each sparse pass on a fresh record (no
neighbour map carried over). Prints per network the median wall and CPU (process) seconds per
event, the peak RSS, the median active pixels per event (ADC > 0; the sparse network's input
sites), and the dense / sparse ratios; writes
benchmarks/results/sparse_cosmic_tagger.json (and .txt). The issue's goal: at least 10× less
CPU time per event for the sparse network.

The sparse network gets every pixel the dense one sees (ADC > 0). ``--adc-min`` adds sparse rows
with the input mask ``adc_min`` (pixels below it dropped, as the trainer's ``model.adc_min``
would): how many sites, and how many cosmic- and neutrino-labelled pixels, that drops is printed
beside the time.

OMP_WAIT_POLICY=PASSIVE is set (unless already set) before torch loads, as
larseg.models.sparse.spconv_backend explains. The machine is shared: the load average at start
and end, and CPU per wall second, say how much other work took the cores.

    .venv/bin/python benchmarks/bench_sparse_cosmic_tagger.py [--events 4] [--threads 2]
        [--backend spconv] [--adc-min 2]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import saved_output  # noqa: E402


def _dense_inputs(path: Path) -> list:
    from larseg.data import DenseDataset
    from larseg.io import open_events

    ds = DenseDataset(open_events(path), downsample=2, pool="mean")
    return [ds[i]["image"][None] for i in range(len(ds))]


def _sparse_inputs(path: Path, adc_min: float | None) -> tuple[list, list[dict]]:
    """Per event the planes' (coords, features, shape) and what the mask dropped."""
    import numpy as np

    from larseg.data import SparseDataset
    from larseg.io import open_events

    ds = SparseDataset(open_events(path), downsample=2, pool="mean")
    events, dropped = [], []
    for i in range(len(ds)):
        item = ds[i]
        planes = []
        lost, total = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
        for c, f, lab, s in zip(item["coords"], item["features"], item["label"], item["shape"]):
            keep = np.ones(len(f), bool) if adc_min is None else (f[:, 0] >= adc_min).numpy()
            lost += np.bincount(lab.numpy()[~keep], minlength=3)[:3]
            total += np.bincount(lab.numpy(), minlength=3)[:3]
            planes.append((c[keep], f[keep], s))
        events.append(planes)
        dropped.append({name: [int(lost[k]), int(total[k])]
                        for k, name in enumerate(("background", "cosmic", "neutrino"))})
    return events, dropped


def worker(kind: str, path: Path, out: Path, threads: int, filters: int, backend: str,
           adc_min: float | None) -> None:
    """One network in a process of its own: per-event times and peak memory to ``out``."""
    from larseg.data._torch import torch
    from larseg.models.cosmic_tagger import CosmicTagger
    from larseg.models.sparse import SparseTensor
    from larseg.models.sparse_cosmic_tagger import SparseCosmicTagger, SparseCosmicTaggerConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = SparseCosmicTaggerConfig(filters=filters, backend=backend, adc_min=adc_min)
    extra: dict = {}
    if kind == "dense":
        net = CosmicTagger(cfg.dense()).eval()
        images = _dense_inputs(path)
        sites = [int((x > 0).sum()) for x in images]

        def run(i: int) -> None:
            net(images[i])
    else:
        net = SparseCosmicTagger(cfg).eval()
        extra["backend"] = net.backend
        events, extra["dropped"] = _sparse_inputs(path, adc_min)
        sites = [sum(len(c) for c, _, _ in planes) for planes in events]

        def run(i: int) -> None:
            net([SparseTensor.from_pixels(c, f, s, 1) for c, f, s in events[i]])

    wall, cpu = [], []
    with torch.inference_mode():
        run(0)  # warm-up: allocator, oneDNN primitive caches
        for i in range(len(sites)):
            t0, c0 = time.perf_counter(), time.process_time()
            run(i)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    out.write_text(json.dumps({
        "kind": kind, "wall_s": wall, "cpu_s": cpu, "sites": sites, "adc_min": adc_min,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "parameters": sum(p.numel() for p in net.parameters()), **extra}))


def _label(r: dict) -> str:
    if r["kind"] == "dense":
        return "dense"
    mask = "all pixels" if r["adc_min"] is None else f"ADC >= {r['adc_min']:g}"
    return f"sparse {r['backend']}, {mask}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--backend", default="auto", help="sparse backend: spconv | reference | auto")
    ap.add_argument("--adc-min", type=float, nargs="*", default=[],
                    help="extra sparse rows with this input mask")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sparse_cosmic_tagger.json")
    ap.add_argument("--worker", nargs=4, metavar=("KIND", "DATA", "OUT", "ADC_MIN"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, data, out, adc_min = args.worker
        worker(kind, Path(data), Path(out), args.threads, args.filters, args.backend,
               None if adc_min == "none" else float(adc_min))
        return

    from larseg.sim.simulate import SimulationJob, simulate_to_file

    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sbnd.h5"
        simulate_to_file(data, SimulationJob("sbnd", "cosmics+neutrino", seed=args.seed),
                         args.events, workers=1)
        runs = [("dense", None), ("sparse", None)] + [("sparse", a) for a in args.adc_min]
        for i, (kind, adc_min) in enumerate(runs):
            out = Path(tmp) / f"{i}.json"
            subprocess.run([sys.executable, __file__, "--worker", kind, str(data), str(out),
                            "none" if adc_min is None else str(adc_min),
                            "--threads", str(args.threads), "--filters", str(args.filters),
                            "--backend", args.backend], check=True)
            rows.append(json.loads(out.read_text()))
    load_end = os.getloadavg()

    with saved_output("sparse_cosmic_tagger"):
        print(f"SBND 'cosmics+neutrino', {args.events} events (seed {args.seed}), 3 planes of "
              f"640 x 1024 (50 %: downsample 2, ADC mean-pooled); {args.filters} filters; "
              f"{args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
              f"inference mode, every event once after one warm-up")
        print(f"{'network':30s} {'params':>11s} {'active/event':>12s} {'wall s':>7s} "
              f"{'CPU s':>7s} {'CPU/wall':>8s} {'peak RSS':>9s}")
        for r in rows:
            r["median_wall_s"] = statistics.median(r["wall_s"])
            r["median_cpu_s"] = statistics.median(r["cpu_s"])
            print(f"{_label(r):30s} {r['parameters']:11,d} {statistics.median(r['sites']):12,.0f} "
                  f"{r['median_wall_s']:7.3f} {r['median_cpu_s']:7.3f} "
                  f"{sum(r['cpu_s']) / sum(r['wall_s']):8.2f} {r['peak_rss_gb']:6.2f} GB")
        dense = rows[0]
        for r in rows[1:]:
            r["cpu_ratio"] = dense["median_cpu_s"] / r["median_cpu_s"]
            r["wall_ratio"] = dense["median_wall_s"] / r["median_wall_s"]
            note = ""
            if r["adc_min"] is not None:
                parts = []
                for k in ("background", "cosmic", "neutrino"):
                    lost = sum(d[k][0] for d in r["dropped"])
                    total = sum(d[k][1] for d in r["dropped"])
                    parts.append(f"{lost:,} of {total:,} {k} ({100 * lost / max(total, 1):.1f} %)")
                note = "\n  the mask dropped " + ", ".join(parts) + " pixels"
            print(f"dense / {_label(r)}: CPU time {r['cpu_ratio']:.1f}x, wall time "
                  f"{r['wall_ratio']:.1f}x{note}")
        print("load average (1, 5, 15 min) at start " + " ".join(f"{x:.2f}" for x in load_start)
              + ", at end " + " ".join(f"{x:.2f}" for x in load_end))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({
            "machine": platform.platform(), "events": args.events, "seed": args.seed,
            "threads": args.threads, "filters": args.filters,
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "load_average_start": load_start, "load_average_end": load_end,
            "rows": rows}, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
