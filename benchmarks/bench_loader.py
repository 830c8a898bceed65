"""Does the data pipeline keep the network fed? Loader throughput vs the training step rate.

Simulates a small SBND ``cosmics+neutrino`` file, then measures at the trainer's defaults
(``TrainingConfig()``: 3 planes, cosmic target, 50 % resolution, 256 × 256 crops, batch 1,
loss scheme "mild"):

(a) the loader: events -> collated batches with crops and per-pixel weights (``DenseDataset`` +
    ``RandomCrop`` + ``dense_collate`` + ``larseg.data.weights.batch_weights``, the trainer's
    path), through a torch DataLoader with 0, 1 and 2 worker processes; the rate counts every
    batch from the start of the iteration (worker start-up included) over ``--epochs`` epochs;
(b) the training step of the engine's network (``uresnet`` at its defaults: 8 filters, depth 2;
    RMSProp, forward + backward + step, batch 1) on the same batches, after two warm-up steps,
    with ``train.threads`` (1) and with 2 torch threads;

and prints loader batches/s ÷ steps/s (the target: ≥ 3). Writes benchmarks/results/loader.txt.

    .venv/bin/python benchmarks/bench_loader.py [--events 32] [--epochs 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import saved_output  # noqa: E402


def collate_with_weights(items, scheme: str, n_classes: int, class_weights):
    """dense_collate + the loss scheme's per-pixel weights, as the trainer's batches have them
    (run inside the DataLoader workers)."""
    import torch

    from larseg.data.collate import dense_collate
    from larseg.data.weights import batch_weights

    batch = dense_collate(items)
    if batch is not None:
        batch["weight"] = torch.from_numpy(
            batch_weights(batch["label"].numpy(), scheme, n_classes, class_weights)).float()
    return batch


def dataset(path: Path, cfg):
    from larseg.data import DenseDataset, RandomCrop
    from larseg.io import open_events

    return DenseDataset(open_events(path), planes=cfg.data.planes, target=cfg.data.target,
                        transform=[RandomCrop(cfg.data.crop, min_pixels=1)],
                        downsample=cfg.data.downsample, pool=cfg.data.pool, seed=cfg.data.seed,
                        on_empty="skip")


def loader_rate(path: Path, cfg, workers: int, epochs: int) -> tuple[float, list]:
    """(batches/s over ``epochs`` epochs, start-up included; the batches of the first epoch)."""
    import torch

    from larseg.data.seeding import worker_init_fn

    ds = dataset(path, cfg)
    collate = functools.partial(collate_with_weights, scheme=cfg.loss.scheme,
                                n_classes=cfg.model.n_classes,
                                class_weights=cfg.loss.class_weights)
    collate([ds[0]])  # first calls (numba kernels, file handles) out of the timing
    kept, n = [], 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        gen = torch.Generator().manual_seed(cfg.data.seed * 1_000_003 + epoch)
        loader = torch.utils.data.DataLoader(
            ds, batch_size=cfg.data.batch_size, shuffle=True, num_workers=workers,
            collate_fn=collate, generator=gen,
            worker_init_fn=worker_init_fn if workers else None)
        for batch in loader:
            if batch is None:
                continue
            n += 1
            if epoch == 0:
                kept.append(batch)
    return n / (time.perf_counter() - t0), kept


def step_rate(cfg, batches: list, steps: int, threads: int) -> float:
    """Optimiser steps per second (forward + backward + step, one batch each) with ``threads``
    torch threads, after 2 warm-up steps."""
    import torch

    from larseg.models import build
    from larseg.models.losses import PixelCrossEntropy

    torch.set_num_threads(threads)
    torch.manual_seed(cfg.data.seed)
    model = build(cfg.model)
    model.train()
    loss_fn = PixelCrossEntropy(cfg.loss.class_weights)
    optim = torch.optim.RMSprop(model.parameters(), lr=cfg.optim.lr)

    def step(batch) -> None:
        logits = model(batch["image"])
        sum(loss_fn(logits, batch["label"], batch["weight"]).values()).backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    for b in batches[:2]:
        step(b)
    t0 = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    from larseg.sim.simulate import SimulationJob, simulate_to_file
    from larseg.train.trainer import TrainingConfig

    cfg = TrainingConfig()
    with tempfile.TemporaryDirectory() as tmp, saved_output("loader"):
        path = Path(tmp) / "sbnd.h5"
        t0 = time.perf_counter()
        simulate_to_file(path, SimulationJob("sbnd", "cosmics+neutrino", seed=3), args.events,
                         workers=2)
        print(f"simulated {args.events} SBND cosmics+neutrino events in "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"trainer defaults: planes {cfg.data.planes}, downsample {cfg.data.downsample} "
              f"({cfg.data.pool}), crop {cfg.data.crop}, batch {cfg.data.batch_size}, loss "
              f"{cfg.loss.scheme}, model {cfg.model}")
        rates, batches = {}, []
        for workers in (0, 1, 2):
            rates[workers], kept = loader_rate(path, cfg, workers, args.epochs)
            batches = batches or kept
            print(f"loader, {workers} worker(s): {rates[workers]:7.2f} batches/s "
                  f"({args.epochs} epochs of {args.events} events, start-up included)")
        for threads in sorted({cfg.train.threads, 2}):
            steps = step_rate(cfg, batches, args.steps, threads)
            print(f"training step (forward + backward + RMSProp), batch 1, {threads} torch "
                  f"thread(s): {steps:7.2f} steps/s ({1000 / steps:.0f} ms)")
            for workers, r in rates.items():
                verdict = "meets" if r >= 3 * steps else "below"
                print(f"  ratio loader / step, {workers} worker(s): {r / steps:5.2f}x "
                      f"({verdict} the 3x target)")


if __name__ == "__main__":
    main()
