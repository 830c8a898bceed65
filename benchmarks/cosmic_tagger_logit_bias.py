"""Is the shipped cosmic tagger's low neutrino IoU a calibration effect of its class weights? (a
diagnostic behind the closing notes of issue 11, not a test). Runs the shipped weights on whole
images of events of the *training* file (not the held-out set: nothing here may be tuned on it)
and counts the pixel confusion with the logits as they are, and with the mild weights' bias
undone (logit_c - log w_c, w = 1 / 1.5 / 10: weighted cross entropy learns p_c * w_c). Prints
cosmic / neutrino IoU, non-background accuracy and the neutrino recall and precision.

    .venv/bin/python benchmarks/cosmic_tagger_logit_bias.py [--data runs/data/sbnd_train.h5] [--events 12]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from larseg.data import DenseDataset
from larseg.io import open_events
from larseg.models import build
from larseg.train.evaluate import full_image_batches, load_weights
from larseg.train.trainer import size_multiple
from larseg.weights import shipped
from larseg.weights.loading import config_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="runs/data/sbnd_train.h5")
    ap.add_argument("--events", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    weights = shipped("cosmic_tagger")
    cfg = config_of(weights)
    model = build(cfg.model)
    load_weights(model, weights)
    model.eval().to(memory_format=torch.channels_last)
    ds = DenseDataset(open_events(args.data, fields=["cosmic", "interactions"]),
                      planes=cfg.data.planes, target="cosmic", downsample=cfg.data.downsample,
                      pool=cfg.data.pool, on_empty="skip")
    biases = {"as trained": np.zeros(3),
              "weights undone": -np.log(np.asarray(cfg.loss.class_weights, dtype=np.float64))}
    confusion = {k: np.zeros((3, 3)) for k in biases}
    for batch, logits in full_image_batches(model, ds, size_multiple(model), args.events, None,
                                            "bf16"):
        label = batch["label"].numpy()
        keep = label >= 0
        for k, b in biases.items():
            shift = torch.tensor(b, dtype=logits.dtype).view(1, 1, 3, 1, 1)
            pred = (logits + shift).argmax(2).numpy()
            np.add.at(confusion[k], (label[keep], pred[keep]), 1)
    print(f"shipped cosmic_tagger on {args.events} events of {args.data} (all planes):")
    for k, c in confusion.items():
        iou = [c[i, i] / (c[i].sum() + c[:, i].sum() - c[i, i]) for i in range(3)]
        print(f"  {k:15s} cosmic IoU {iou[1]:.3f}, neutrino IoU {iou[2]:.3f}, non-background "
              f"accuracy {c[1:, 1:].trace() / c[1:].sum():.3f}, neutrino recall "
              f"{c[2, 2] / c[2].sum():.3f}, precision {c[2, 2] / c[:, 2].sum():.3f}")


if __name__ == "__main__":
    main()
