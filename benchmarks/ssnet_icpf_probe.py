"""SSNet's ICPF and track/shower confusion of one run's checkpoint on the first events of a file
(a diagnostic behind docs/results.md's SSNet comparisons of runs, not a test): the run's
config.yaml builds the network, its checkpoint.pt (the latest step, or the step a stopped run
was checkpointed at) gives the weights; whole planes by tiles, bf16, as `larseg evaluate`. The
pixels counted are those with ADC >= --min-adc (10: what the masked networks see; the same set
for a run trained without the mask). Prints the mean ICPF, shower and track ICPF and the
confusion normalised by truth.

    .venv/bin/python benchmarks/ssnet_icpf_probe.py RUN [--data FILE] [--events 3] [--min-adc 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from larseg.data import DenseDataset
from larseg.data.collate import dense_collate
from larseg.io import open_events
from larseg.metrics.ssnet import icpf
from larseg.models import build
from larseg.train.config import load_config
from larseg.train.evaluate_ssnet import ssnet_truth
from larseg.train.runtime import autocast
from larseg.train.tiling import tiled_forward, tiling_for
from larseg.train.trainer import TrainingConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", default="runs/data/uboone_bomb_heldout.h5")
    ap.add_argument("--events", type=int, default=3)
    ap.add_argument("--min-adc", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.run / "config.yaml", TrainingConfig)
    model = build(cfg.model)
    ckpt = torch.load(args.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    model.eval().to(memory_format=torch.channels_last)
    ds = DenseDataset(open_events(args.data, fields=["semantic"]), planes=list(cfg.data.planes),
                      target="ssnet", downsample=cfg.data.downsample, on_empty="skip")
    values, confusion = [], np.zeros((3, 3))
    for i in range(min(args.events, len(ds))):
        batch = dense_collate([ds[i]])
        with torch.no_grad(), autocast("bf16", torch.device("cpu")):
            pred = tiled_forward(model, batch["image"], tiling_for(cfg)).float().argmax(2)
        pred, truth = pred[0].numpy(), ssnet_truth(batch["label"], "ssnet")[0].numpy()
        seen = batch["image"][0].numpy() >= args.min_adc
        for k in range(len(truth)):
            values.append(icpf(truth[k], pred[k], seen[k]))
            m = seen[k] & (truth[k] >= 0)
            np.add.at(confusion, (truth[k][m], pred[k][m]), 1)
    print(f"{args.run} (step {ckpt['position']['step']}) on {args.events} events of {args.data}, "
          f"pixels with ADC >= {args.min_adc:g}:")
    for key in ("icpf", "shower", "track"):
        print(f"  mean {key} ICPF {100 * np.nanmean([v[key] for v in values]):.1f} %")
    print("  truth (background, track, shower) -> prediction, normalised by truth:")
    for name, row in zip(("background", "track", "shower"), confusion):
        print(f"    {name:10s} " + " ".join(f"{v:.3f}" for v in row / max(row.sum(), 1)))


if __name__ == "__main__":
    main()
