"""Evaluate trained weights on files: full (downsampled) images, every plane, the metrics of
:mod:`larseg.metrics.segmentation` (and for the cosmic tagger those of
:mod:`larseg.metrics.cosmic`), written as JSON and a Markdown report with pictures. Sparse
networks go to :mod:`larseg.train.evaluate_sparse`; SSNet runs on whole planes by tiles
(:mod:`larseg.train.tiling`) and adds the talk's ICPF table per file and per sample
(:mod:`larseg.train.evaluate_ssnet`, re-exported here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data._torch import torch
from .evaluate_ssnet import (SSNET_TARGETS, TALK_ICPF, TALK_MEAN_ICPF,  # noqa: F401
                             evaluate_ssnet, ssnet_truth)
from .paths import input_kind, path_kind
from .runtime import resolve_device
from .trainer import TrainingConfig, size_multiple


def load_weights(model, path: str | Path) -> dict | None:
    """Load weights (a ``.safetensors`` file, or the name of shipped weights) into ``model``,
    checking the sha256 recorded beside the file and the architecture
    (:func:`larseg.weights.loading.load_checked`); returns the JSON beside the file, if any."""
    from ..weights import resolve_weights
    from ..weights.loading import load_checked

    return load_checked(model, resolve_weights(path))


def _padded_forward(model, image, multiple: int):
    """Forward a (B, P, H, W) image zero-padded to multiples of ``multiple``; logits cropped."""
    b, p, h, w = image.shape
    ph, pw = -h % multiple, -w % multiple
    x = torch.nn.functional.pad(image, (0, pw, 0, ph))
    return model(x)[..., :h, :w]


def full_image_batches(model, ds, multiple: int, n: int, device=None,
                       precision: str = "fp32"):
    """(batch, logits) of the first ``n`` items of a dense dataset, one event per batch, whole
    images (zero-padded to multiples of ``multiple``) run on ``device`` (default CPU) at
    ``precision`` (autocast; fp32 logits); skipped items are left out. No gradients."""
    from ..data.collate import dense_collate
    from .runtime import autocast

    dev = torch.device("cpu") if device is None else torch.device(device)
    with torch.no_grad():
        for i in range(min(len(ds), n)):
            batch = dense_collate([ds[i]])
            if batch is not None:
                with autocast(precision, dev):
                    logits = _padded_forward(model, batch["image"].to(dev), multiple)
                yield batch, logits.float()


def evaluate(cfg: TrainingConfig, weights: str | Path, data, out: str | Path,
             max_events: int = 0, device: str = "cpu") -> dict:
    """Evaluate ``weights`` on one file or a list of files (``max_events`` per file, 0: all);
    writes OUTPUT/metrics.json, report.md and pictures. For the cosmic target the SBND paper's
    Table 2, event selection and IoU-vs-energy are added (:mod:`larseg.metrics.cosmic`). A
    sparse network (``input_kind`` "sparse") is evaluated by
    :func:`larseg.train.evaluate_sparse.evaluate_sparse` (note 1091's metrics); SSNet (its
    ``training_path`` "ssnet") by :func:`evaluate_ssnet`."""
    from ..data import DenseDataset
    from ..data.targets import CLASS_NAMES, SOURCE_FIELD
    from ..io import open_events
    from ..metrics.cosmic import CosmicTaggerEvaluator
    from ..metrics.segmentation import ConfusionEvaluator
    from ..models import build
    from ..viz.plots import confusion_figure

    files = [Path(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = build(cfg.model)
    load_weights(model, weights)
    model.eval()
    if input_kind(model) == "sparse":  # whole events after the input mask, note 1091's metrics
        from .evaluate_sparse import evaluate_sparse

        return evaluate_sparse(cfg, model, weights, files, out, max_events)  # on the CPU
    if path_kind(model) == "classification":  # the PID CNN: held-out simulated particles
        from .evaluate_pid import evaluate_pid

        return evaluate_pid(cfg, model, weights, [str(f) for f in files], out, max_events)
    if path_kind(model) == "detection":  # sMask-RCNN: whole plane images, the paper's metrics
        from .evaluate_detection import evaluate_detection

        return evaluate_detection(cfg, model, weights, files, out, max_events)  # on the CPU
    dev = resolve_device(device)
    model.to(dev)
    if cfg.train.channels_last:  # as trained: 1.7x faster on this CPU for SSNet (fp32 and bf16)
        model.to(memory_format=torch.channels_last)
    if path_kind(model) == "ssnet":  # whole planes by tiles, the talk's ICPF per sample
        return evaluate_ssnet(cfg, model, weights, files, out, max_events)
    names = list(CLASS_NAMES[cfg.data.target])
    ev = ConfusionEvaluator(names, cfg.data.planes)
    cosmic = CosmicTaggerEvaluator(cfg.data.planes) if cfg.data.target == "cosmic" else None
    n = 0
    for path in files:
        source = open_events(path, fields=[SOURCE_FIELD[cfg.data.target], "interactions"])
        ds = DenseDataset(source, planes=cfg.data.planes, target=cfg.data.target,
                          downsample=cfg.data.downsample, pool=cfg.data.pool,
                          seed=cfg.data.seed, on_empty="skip")
        k = len(ds) if max_events <= 0 else min(len(ds), max_events)
        n += k
        for batch, logits in full_image_batches(model, ds, size_multiple(model), k, dev,
                                                cfg.eval.precision):
            ev.process(batch, logits)
            if cosmic is not None:
                cosmic.process(batch, logits, [source[int(i)].interactions
                                               for i in batch["indices"]])
    metrics = {"weights": str(weights), "data": [str(f) for f in files], "events": n,
               **ev.evaluate()}
    if cosmic is not None:
        metrics["cosmic_tagger"] = cosmic.evaluate()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    label = ", ".join(f.name for f in files)
    figure = confusion_figure({p: m["normalised_by_truth"] for p, m in metrics["active"].items()},
                              names, out / "confusion.png",
                              title=f"{Path(weights).name} on {label}: active pixels, "
                                    "each truth column normalised")
    lines = [f"# Evaluation of {weights}", "", f"Data: `{label}` ({n} events). Active pixels "
             "(ADC > 0):", "", "| plane | accuracy | mean IoU | " + " | ".join(
                 f"IoU {c}" for c in names) + " |", "|---|---|---|" + "---|" * len(names)]
    for p, m in metrics["active"].items():
        lines.append(f"| {p} | {m['accuracy']:.4f} | {m['mean_iou']:.4f} | " + " | ".join(
            f"{m['iou'][c]:.4f}" if np.isfinite(m['iou'][c]) else "–" for c in names) + " |")
    lines += ["", f"![confusion]({figure.name})", ""]
    if cosmic is not None:
        lines += _cosmic_report(cosmic, metrics["cosmic_tagger"], out)
    (out / "report.md").write_text("\n".join(lines))
    return metrics


def _cosmic_report(cosmic, m: dict, out: Path) -> list[str]:
    """The report's SBND-paper section: Table 2, the selection, and their pictures."""
    from ..metrics.cosmic import MAX_ROW_SEPARATION, MIN_PIXELS, PAPER_TABLE2, selection
    from ..viz.plots import iou_energy_figure, selection_figure

    keys = ("accuracy", "non_background_accuracy", "cosmic_iou", "neutrino_iou", "mean_iou")
    lines = ["## SBND paper metrics (all pixels; Table 2)", "",
             "| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    rows = {**m["table2"], **{f"paper {k}": v for k, v in PAPER_TABLE2.items()}}
    for name, t in rows.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{t[k]:.3f}" if k in t and np.isfinite(t[k]) else "–" for k in keys) + " |")
    sel = m["selection"]
    lines += ["", f"## Event selection (≥ {MIN_PIXELS} neutrino pixels per plane, mean-row "
              f"separation ≤ {MAX_ROW_SEPARATION:g} px)", "",
              "| | selected / events | efficiency | paper |", "|---|---|---|---|"]
    for c in ("nue_cc", "numu_cc", "nc"):
        k, t = sel["counts"][c]
        e = sel["efficiency"][c]
        lines.append(f"| {c} | {k} / {t} | {e:.3f} | {sel['paper']['efficiency'][c]:.3f} |"
                     if t else f"| {c} | 0 / 0 | – | {sel['paper']['efficiency'][c]:.3f} |")
    k, t = sel["counts"]["cosmic_only"]
    lines.append(f"| cosmic only (rejection) | {k} / {t} selected | "
                 + (f"{sel['rejection']:.3f}" if t else "–") + f" | {sel['paper']['rejection']} |")
    result = selection(cosmic.records)
    fig = selection_figure(cosmic.records, result, out / "selection.png", MIN_PIXELS,
                           MAX_ROW_SEPARATION)
    fig2 = iou_energy_figure(m["iou_by_energy"], out / "iou_vs_energy.png")
    lines += ["", f"![selection]({fig.name})", "", f"![IoU vs energy]({fig2.name})", ""]
    return lines
