"""Evaluate trained weights on a file: full (downsampled) images, every plane, the metrics of
:mod:`larseg.metrics.segmentation`, written as JSON and a Markdown report with pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import LarsegError
from .trainer import TrainingConfig, size_multiple


def load_weights(model, path: str | Path) -> None:
    """Load safetensors weights, saying which tensors do not fit this architecture."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise LarsegError(f"weights {path} do not exist")
    try:
        state = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise LarsegError(f"weights {path} cannot be read ({e})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or shape:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                else f"shape of {shape[0]}: {tuple(state[shape[0]].shape)} in the file, "
                     f"{tuple(own[shape[0]].shape)} in the model")
        raise LarsegError(f"weights {path} are for another architecture ({what}); check "
                          "the config's model section")
    model.load_state_dict(state)


def _padded_forward(model, image, multiple: int):
    """Forward a (B, P, H, W) image zero-padded to multiples of ``multiple``; logits cropped."""
    b, p, h, w = image.shape
    ph, pw = -h % multiple, -w % multiple
    x = torch.nn.functional.pad(image, (0, pw, 0, ph))
    return model(x)[..., :h, :w]


def full_image_batches(model, ds, multiple: int, n: int, device=None):
    """(batch, logits) of the first ``n`` items of a dense dataset, one event per batch, whole
    images (zero-padded to multiples of ``multiple``) run on ``device`` (default CPU); skipped
    items are left out. No gradients."""
    from ..data.collate import dense_collate

    with torch.no_grad():
        for i in range(min(len(ds), n)):
            batch = dense_collate([ds[i]])
            if batch is not None:
                image = batch["image"] if device is None else batch["image"].to(device)
                yield batch, _padded_forward(model, image, multiple)


def evaluate(cfg: TrainingConfig, weights: str | Path, data: str | Path, out: str | Path,
             max_events: int = 0) -> dict:
    from ..data import DenseDataset
    from ..data.targets import CLASS_NAMES
    from ..io import open_events
    from ..metrics.segmentation import ConfusionEvaluator
    from ..models import build
    from ..viz.plots import confusion_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = build(cfg.model)
    load_weights(model, weights)
    model.eval()
    ds = DenseDataset(open_events(data), planes=cfg.data.planes, target=cfg.data.target,
                      downsample=cfg.data.downsample, pool=cfg.data.pool, seed=cfg.data.seed,
                      on_empty="skip")
    names = list(CLASS_NAMES[cfg.data.target])
    ev = ConfusionEvaluator(names, cfg.data.planes)
    n = len(ds) if max_events <= 0 else min(len(ds), max_events)
    for batch, logits in full_image_batches(model, ds, size_multiple(model), n):
        ev.process(batch, logits)
    metrics = {"weights": str(weights), "data": str(data), "events": n, **ev.evaluate()}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figure = confusion_figure({p: m["normalised_by_truth"] for p, m in metrics["active"].items()},
                              names, out / "confusion.png",
                              title=f"{Path(weights).name} on {Path(data).name}: active pixels, "
                                    "each truth column normalised")
    lines = [f"# Evaluation of {weights}", "", f"Data: `{data}` ({n} events). Active pixels "
             "(ADC > 0):", "", "| plane | accuracy | mean IoU | " + " | ".join(
                 f"IoU {c}" for c in names) + " |", "|---|---|---|" + "---|" * len(names)]
    for p, m in metrics["active"].items():
        lines.append(f"| {p} | {m['accuracy']:.4f} | {m['mean_iou']:.4f} | " + " | ".join(
            f"{m['iou'][c]:.4f}" if np.isfinite(m['iou'][c]) else "–" for c in names) + " |")
    lines += ["", f"![confusion]({figure.name})", ""]
    (out / "report.md").write_text("\n".join(lines))
    return metrics
