"""How much the cosmic tagger's results hang on its BatchNorm running statistics (issue 11).

Evaluates weights on a validation file twice: as they are, and with every BatchNorm layer's
running mean and variance recomputed exactly (a cumulative average, no learning) over whole
images of the training file, at the network's 50 % resolution. Prints the Table-2 numbers of
both and writes benchmarks/results/cosmic_tagger_bn_stats.json.

    .venv/bin/python benchmarks/cosmic_tagger_bn_stats.py [--weights cosmic_tagger]
        [--images 60] [--data runs/data/sbnd_val.h5]

(The other half of the probe, BatchNorm statistics from training crops and no weight change:
``larseg train larseg/configs/cosmic_tagger.yaml -o runs/cosmic_tagger_ft50_lr0
--set model.init_from=cosmic_tagger --set train.steps=50 --set optim.lr=0.0`` and
``larseg evaluate cosmic_tagger --weights runs/cosmic_tagger_ft50_lr0/model.safetensors
--data runs/data/sbnd_val.h5 -o runs/cosmic_tagger_ft50_lr0/eval_val``.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from larseg.data import DenseDataset
from larseg.data.targets import SOURCE_FIELD
from larseg.io import open_events
from larseg.models import build
from larseg.train.config import load_config
from larseg.train.evaluate import evaluate, full_image_batches, load_weights
from larseg.train.trainer import TrainingConfig, size_multiple
from larseg.weights.loading import save_weights

ROOT = Path(__file__).resolve().parents[1]


def recompute_bn(model, cfg, images: int) -> None:
    """Exact running statistics over ``images`` whole training images (no gradient step)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    source = open_events(cfg.data.train, fields=[SOURCE_FIELD[cfg.data.target]])
    ds = DenseDataset(source, planes=cfg.data.planes, target=cfg.data.target,
                      downsample=cfg.data.downsample, pool=cfg.data.pool, seed=cfg.data.seed,
                      on_empty="skip")
    for _ in full_image_batches(model, ds, size_multiple(model), images):
        pass
    for m in norms:
        m.momentum = 0.1
    model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="cosmic_tagger")
    ap.add_argument("--config", default=str(ROOT / "larseg" / "configs" / "cosmic_tagger.yaml"))
    ap.add_argument("--data", default="runs/data/sbnd_val.h5")
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--output", type=Path,
                    default=ROOT / "benchmarks" / "results" / "cosmic_tagger_bn_stats.json")
    args = ap.parse_args()
    cfg = load_config(args.config, TrainingConfig, [])
    out = {"weights": args.weights, "data": args.data, "images": args.images}
    with tempfile.TemporaryDirectory() as tmp:
        model = build(cfg.model)
        load_weights(model, args.weights)
        recompute_bn(model, cfg, args.images)
        recomputed = save_weights(Path(tmp) / "recomputed.safetensors", model, cfg.model)
        for name, weights in (("as trained", args.weights), ("statistics recomputed", recomputed)):
            m = evaluate(cfg, weights, [args.data], Path(tmp) / name.replace(" ", "_"))
            table = m["cosmic_tagger"]["table2"]
            out[name] = {plane: {k: round(v, 3) for k, v in row.items()}
                         for plane, row in table.items()}
            print(f"{name:22s} " + "; ".join(
                f"{plane}: non-bkg acc {row['non_background_accuracy']:.3f} cosmic IoU "
                f"{row['cosmic_iou']:.3f} nu IoU {row['neutrino_iou']:.3f}"
                for plane, row in table.items() if plane in ("Y", "all planes")))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
