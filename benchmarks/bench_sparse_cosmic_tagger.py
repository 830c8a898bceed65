"""CPU time per event of the dense and the sparse SBND cosmic tagger, side by side (inference).

Simulates ``--events`` SBND ``cosmics+neutrino`` events (``--seed``) into a temporary file and
reads them at the paper's 50 % resolution (3 planes of 640 × 1024: ``downsample=2``,
``pool="mean"``) with :class:`~larseg.data.DenseDataset` for the dense network
(:mod:`larseg.models.cosmic_tagger`) and :class:`~larseg.data.SparseDataset` for the sparse one
(:mod:`larseg.models.sparse_cosmic_tagger`), the same widths (``--filters``, default 8, Table 1's
configuration).

Variants (``--variants``, each ``KIND:PRECISION`` run in its own process on ``--threads``
threads, in eval mode under ``torch.inference_mode``; bf16 is CPU autocast, as
``eval.precision: bf16``):

- ``dense:fp32``, ``dense:bf16`` — the dense network as it is;
- ``sparse-spconv:fp32`` — the sparse network through spconv's modules
  (``inference="modules"``: what the previous result of this benchmark measured);
- ``sparse-reference:fp32`` / ``:bf16`` — through the reference backend's modules;
- ``sparse-fused:fp32`` / ``:bf16`` — the fused inference path (``inference="fused"``, the
  default: BatchNorm folded, one gather-matmul per convolution on the fine levels with
  lookup-table maps, masked dense convolutions from the first level whose sites fill half its
  grid: ``dense_fill`` 0.5);
- ``sparse-gather:fp32`` / ``:bf16`` — the fused path with every level gathered
  (``dense_fill`` 2: no dense level);
- ``sparse-fused-plane:fp32`` / ``:bf16`` — the fused path of the network with per-plane
  BatchNorm (``norm="plane"``: each convolution's output scaled and shifted per plane after it,
  instead of one BatchNorm folded into the weight).

Weights: random (seed 0 in every variant; the time does not depend on them), with the
BatchNorm running statistics of event 0 (one training-mode pass with cumulative averages, once
per network kind in a process of its own; every variant of the kind loads that state dict) so
that folding them is not the identity. One warm-up pass on the first event, then every event
once, each sparse pass on a fresh record (no neighbour map carried over). The variants run
``--rounds`` times (default 2) in turn, so that a busy spell of the shared machine falls on all
of them. Printed per variant: the median wall and CPU (process) seconds per event over all
rounds (and each round's median CPU time), CPU per wall second, the peak RSS, and the ratio of
dense fp32's median CPU time to the variant's. A bf16 variant is also compared with fp32 of the
same network on the same events: the share of pixels (those with ADC > 0, the sparse network's
sites) whose predicted class is the same; as the weights are random, many pixels are near-ties
(the share whose fp32 top-two logits lie within 1 % of the event's RMS logit is printed beside
it), and the agreement where fp32 is decided (gap ≥ 1 %). Writes
benchmarks/results/sparse_cosmic_tagger.json (``--output``) and the printed table to
benchmarks/results/ under the output's name with .txt (sparse_cosmic_tagger.txt). The issue's
goal: at least 10× less CPU time per event for the sparse network than the dense one.

``--adc-min`` adds ``sparse-fused:bf16`` rows with the input mask ``adc_min`` (pixels below it
dropped, as the trainer's ``model.adc_min`` would): how many sites, and how many cosmic- and
neutrino-labelled pixels, that drops is printed beside the time. ``--profile VARIANT`` prints
torch.profiler's operator table (by input shape) of one pass of that variant instead.

OMP_WAIT_POLICY=PASSIVE is set (unless already set) before torch loads, as
larseg.models.sparse.spconv_backend explains. The machine is shared: the load average at start
and end, and CPU per wall second, say how much other work took the cores.

    .venv/bin/python benchmarks/bench_sparse_cosmic_tagger.py [--events 4] [--threads 2]
        [--rounds 2] [--variants dense:fp32 sparse-fused:bf16 ...] [--adc-min 2]
        [--profile sparse-fused:bf16]
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

VARIANTS = ("dense:fp32", "dense:bf16", "sparse-spconv:fp32", "sparse-reference:fp32",
            "sparse-reference:bf16", "sparse-gather:fp32", "sparse-gather:bf16",
            "sparse-fused:fp32", "sparse-fused:bf16", "sparse-fused-plane:fp32",
            "sparse-fused-plane:bf16")


def weights_kind(kind: str) -> str:
    """Which calibrated state dict a variant's network loads: dense, sparse or sparse-plane
    (per-plane BatchNorm: other buffers)."""
    return "dense" if kind == "dense" else "sparse-plane" if kind.endswith("-plane") else "sparse"
DEFAULT_VARIANTS = list(VARIANTS)
#: a pixel whose fp32 top-two logits lie closer than this share of the event's RMS logit is a
#: near-tie (random weights make many)
NEAR_TIE = 0.01


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


def _agreement(bf16: list, fp32: list) -> dict:
    """Same predicted class per pixel (rows: pixels, columns: classes), overall and where
    fp32's top-two gap is at least NEAR_TIE of the event's RMS logit."""
    same = decided = decided_same = total = 0
    for a, b in zip(bf16, fp32):
        top = b.topk(2, dim=1).values
        clear = (top[:, 0] - top[:, 1]) >= NEAR_TIE * b.pow(2).mean().sqrt()
        eq = a.argmax(1) == b.argmax(1)
        same += int(eq.sum())
        decided += int(clear.sum())
        decided_same += int((eq & clear).sum())
        total += len(b)
    return {"same_class": same / total, "near_ties": 1 - decided / total,
            "same_class_decided": decided_same / max(decided, 1), "pixels": total}


def _network(kind: str, filters: int, adc_min: float | None = None):
    """The network of a variant's kind (seed 0) and its config, in eval mode."""
    from dataclasses import replace

    from larseg.data._torch import torch
    from larseg.models.cosmic_tagger import CosmicTagger
    from larseg.models.sparse_cosmic_tagger import SparseCosmicTagger, SparseCosmicTaggerConfig

    torch.manual_seed(0)
    # zero_init_head off: random logits, not all zero (the agreement columns need them)
    cfg = SparseCosmicTaggerConfig(filters=filters, adc_min=adc_min, zero_init_head=False)
    if kind == "dense":
        return CosmicTagger(replace(cfg.dense(), zero_init_head=False)).eval(), cfg
    backend, inference, dense_fill = {
        "sparse-spconv": ("spconv", "modules", cfg.dense_fill),
        "sparse-reference": ("reference", "modules", cfg.dense_fill),
        "sparse-reference-plane": ("reference", "modules", cfg.dense_fill),
        "sparse-gather": ("auto", "fused", 2.0),
        "sparse-fused": ("auto", "fused", cfg.dense_fill),
        "sparse-fused-plane": ("auto", "fused", cfg.dense_fill)}[kind]
    cfg = replace(cfg, backend=backend, inference=inference, dense_fill=dense_fill,
                  norm="plane" if kind.endswith("-plane") else "batch")
    return SparseCosmicTagger(cfg).eval(), cfg


def _runner(net, kind: str, path: Path, adc_min: float | None, n_classes: int):
    """run(i): the logits of event i as a list of (pixels, classes) per plane (the dense
    network's on the pixels with ADC > 0); the sites per event; extra report fields."""
    if kind == "dense":
        images = _dense_inputs(path)
        active = [(x > 0).reshape(3, -1) for x in images]

        def run(i: int):
            logits = net(images[i])[0].reshape(3, n_classes, -1)  # (P, C, H·W)
            return [lg[:, a].t() for lg, a in zip(logits, active[i])]
        return run, [int(a.sum()) for a in active], {}

    from larseg.models.sparse import SparseTensor

    events, dropped = _sparse_inputs(path, adc_min)

    def run(i: int):
        return net([SparseTensor.from_pixels(c, f, s, 1) for c, f, s in events[i]])
    return (run, [sum(len(c) for c, _, _ in planes) for planes in events],
            {"backend": net.backend, "dropped": dropped})


def calibrate(kind: str, path: Path, out: Path, filters: int) -> None:
    """The weights every variant of a kind loads: seed 0, with the BatchNorm running statistics
    of event 0 (one training-mode pass, cumulative averages), in a process of its own so that
    the training-mode pass does not count in a variant's peak RSS."""
    from larseg.data._torch import torch

    net, cfg = _network({"dense": "dense", "sparse": "sparse-reference",
                         "sparse-plane": "sparse-reference-plane"}[kind], filters)
    run, _, _ = _runner(net, kind, path, None, cfg.n_classes)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    net.train()
    with torch.no_grad():
        run(0)
    torch.save(net.state_dict(), out)


def worker(variant: str, path: Path, out: Path, weights: Path, threads: int, filters: int,
           adc_min: float | None, profile: bool) -> None:
    """One variant in a process of its own: per-event times and peak memory to ``out``."""
    from larseg.data._torch import torch

    kind, precision = variant.split(":")
    torch.set_num_threads(threads)
    net, cfg = _network(kind, filters, adc_min)
    net.load_state_dict(torch.load(weights))
    run, sites, extra = _runner(net, kind, path, adc_min, cfg.n_classes)

    def autocast(p: str):
        return torch.autocast("cpu", torch.bfloat16, enabled=p == "bf16")

    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch.inference_mode(), autocast(precision):
            run(0)
            with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                run(0)
        table = prof.key_averages(group_by_input_shape=True)
        print(table.table(sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=28,
                          max_shapes_column_width=70))
        return

    wall, cpu, outputs = [], [], []
    with torch.inference_mode(), autocast(precision):
        run(0)  # warm-up: allocator, oneDNN primitive caches, folded weights
        for i in range(len(sites)):
            t0, c0 = time.perf_counter(), time.process_time()
            logits = run(i)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if precision == "bf16":
                outputs.append([lg.float() for lg in logits])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # before the fp32 check
    if precision == "bf16":
        with torch.inference_mode():
            fp32 = [[lg.float() for lg in run(i)] for i in range(len(sites))]
        extra["agreement"] = _agreement([torch.cat(o) for o in outputs],
                                        [torch.cat(o) for o in fp32])
    out.write_text(json.dumps({
        "variant": variant, "kind": kind, "precision": precision, "wall_s": wall,
        "cpu_s": cpu, "sites": sites, "adc_min": adc_min, "peak_rss_gb": peak,
        "parameters": sum(p.numel() for p in net.parameters()), **extra}))


def _label(r: dict) -> str:
    name = {"dense": "dense", "sparse-spconv": "sparse spconv modules",
            "sparse-reference": "sparse reference modules",
            "sparse-gather": "sparse fused, all gathered",
            "sparse-fused": "sparse fused",
            "sparse-fused-plane": "sparse fused, plane BN"}[r["kind"]] \
        + f" {r['precision']}"
    if r["adc_min"] is not None:
        name += f", ADC >= {r['adc_min']:g}"
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2,
                    help="run every variant this many times, in turn; medians over all")
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=VARIANTS,
                    metavar="KIND:PRECISION", help=f"any of {', '.join(VARIANTS)}")
    ap.add_argument("--adc-min", type=float, nargs="*", default=[],
                    help="extra sparse-fused:bf16 rows with this input mask")
    ap.add_argument("--profile", choices=VARIANTS, default=None,
                    help="print one pass's operator profile of this variant (nothing saved)")
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "sparse_cosmic_tagger.json")
    ap.add_argument("--worker", nargs=5, metavar=("VARIANT", "DATA", "OUT", "WEIGHTS", "ADC_MIN"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--calibrate", nargs=3, metavar=("KIND", "DATA", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.calibrate:
        kind, data, out = args.calibrate
        calibrate(kind, Path(data), Path(out), args.filters)
        return
    if args.worker:
        variant, data, out, weights, adc_min = args.worker
        worker(variant, Path(data), Path(out), Path(weights), args.threads, args.filters,
               None if adc_min == "none" else float(adc_min), args.profile is not None)
        return

    from larseg.sim.simulate import SimulationJob, simulate_to_file

    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sbnd.h5"
        simulate_to_file(data, SimulationJob("sbnd", "cosmics+neutrino", seed=args.seed),
                         args.events, workers=1)
        runs = ([(args.profile, None)] if args.profile else
                [(v, None) for v in args.variants]
                + [("sparse-fused:bf16", a) for a in args.adc_min])
        weights = {}
        for kind in {weights_kind(v.split(":")[0]) for v, _ in runs}:
            weights[kind] = Path(tmp) / f"{kind}.pt"
            subprocess.run([sys.executable, __file__, "--calibrate", kind, str(data),
                            str(weights[kind]), "--filters", str(args.filters)], check=True)
        rounds = 1 if args.profile else args.rounds
        for r in range(rounds):  # round robin: a slow spell of the machine hits every variant
            for i, (variant, adc_min) in enumerate(runs):
                out = Path(tmp) / f"{r}-{i}.json"
                kind = weights_kind(variant.split(":")[0])
                cmd = [sys.executable, __file__, "--worker", variant, str(data), str(out),
                       str(weights[kind]), "none" if adc_min is None else str(adc_min),
                       "--threads", str(args.threads), "--filters", str(args.filters)]
                if args.profile:
                    cmd += ["--profile", args.profile]
                subprocess.run(cmd, check=True)
                if not args.profile:
                    row = json.loads(out.read_text())
                    row["round_median_cpu_s"] = [statistics.median(row["cpu_s"])]
                    if r == 0:
                        rows.append(row)
                        continue
                    first = rows[i]
                    for key in ("cpu_s", "wall_s", "sites", "round_median_cpu_s"):
                        first[key] += row[key]
                    first["peak_rss_gb"] = max(first["peak_rss_gb"], row["peak_rss_gb"])
    load_end = os.getloadavg()
    if args.profile:
        return
    _report(args, rows, load_start, load_end)


def _report(args, rows: list[dict], load_start, load_end) -> None:
    with saved_output(args.output.stem):  # the printed table beside the JSON
        print(f"SBND 'cosmics+neutrino', {args.events} events (seed {args.seed}), 3 planes of "
              f"640 x 1024 (50 %: downsample 2, ADC mean-pooled); {args.filters} filters; "
              f"{args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
              f"inference mode, every event once after one warm-up, {args.rounds} rounds of all "
              f"variants in turn; random weights, BatchNorm statistics of event 0")
        base = next((r for r in rows if r["variant"] == "dense:fp32"), None)
        print(f"{'variant':34s} {'params':>11s} {'sites/event':>11s} {'wall s':>7s} "
              f"{'CPU s':>7s} {'CPU/wall':>8s} {'peak RSS':>9s} {'CPU vs dense fp32':>17s} "
              f"{'same class':>10s} {'near-ties':>9s} {'same where decided':>18s}")
        for r in rows:
            r["median_wall_s"] = statistics.median(r["wall_s"])
            r["median_cpu_s"] = statistics.median(r["cpu_s"])
            if base is not None:
                r["cpu_ratio"] = statistics.median(base["cpu_s"]) / r["median_cpu_s"]
                r["wall_ratio"] = statistics.median(base["wall_s"]) / r["median_wall_s"]
            ratio = f"{r['cpu_ratio']:16.1f}x" if "cpu_ratio" in r else f"{'-':>17s}"
            agree = r.get("agreement")
            same = (f"{100 * agree['same_class']:9.3f}% {100 * agree['near_ties']:8.2f}% "
                    f"{100 * agree['same_class_decided']:17.3f}%" if agree else
                    f"{'-':>10s} {'-':>9s} {'-':>18s}")
            print(f"{_label(r):34s} {r['parameters']:11,d} {statistics.median(r['sites']):11,.0f} "
                  f"{r['median_wall_s']:7.3f} {r['median_cpu_s']:7.3f} "
                  f"{sum(r['cpu_s']) / sum(r['wall_s']):8.2f} {r['peak_rss_gb']:6.2f} GB "
                  f"{ratio} {same}")
        print("median CPU s per round: " + "; ".join(
            f"{_label(r)} " + " ".join(f"{x:.3f}" for x in r["round_median_cpu_s"])
            for r in rows))
        for r in rows:
            if r["adc_min"] is None:
                continue
            parts = []
            for k in ("background", "cosmic", "neutrino"):
                lost = sum(d[k][0] for d in r["dropped"])
                total = sum(d[k][1] for d in r["dropped"])
                parts.append(f"{lost:,} of {total:,} {k} ({100 * lost / max(total, 1):.1f} %)")
            print(f"{_label(r)}: the mask dropped " + ", ".join(parts) + " pixels")
        print("load average (1, 5, 15 min) at start " + " ".join(f"{x:.2f}" for x in load_start)
              + ", at end " + " ".join(f"{x:.2f}" for x in load_end))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({
            "machine": platform.platform(), "events": args.events, "seed": args.seed,
            "threads": args.threads, "filters": args.filters, "rounds": args.rounds,
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "load_average_start": load_start, "load_average_end": load_end,
            "rows": rows}, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
