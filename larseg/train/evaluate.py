"""Evaluate trained weights on files: full (downsampled) images, every plane, the metrics of
:mod:`larseg.metrics.segmentation` (and for the cosmic tagger those of
:mod:`larseg.metrics.cosmic`), written as JSON and a Markdown report with pictures. Sparse
networks go to :mod:`larseg.train.evaluate_sparse`; SSNet runs on whole planes by tiles
(:mod:`larseg.train.tiling`) and adds the talk's ICPF table per file (:func:`evaluate_ssnet`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data._torch import torch
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


# --- SSNet: whole planes by tiles, the talk's ICPF table -------------------------------------

#: the talk's mean ICPF on four of its samples (the bomb test sample, νμ CC, νe CC, 1μ1p low
#: energy), as fractions: the numbers to beat. As larseg's issue 13 quotes the talk's table; the
#: plain-text copy in ../shared/papers/ (004) lost that slide
TALK_MEAN_ICPF = {"test": 0.019, "numu_cc": 0.039, "nue_cc": 0.060, "1mu1p_lowe": 0.023}
#: the targets SSNet is evaluated on (their truth mapped to its classes by :func:`ssnet_truth`)
SSNET_TARGETS = ("ssnet", "track_shower")


def ssnet_truth(label, target: str):
    """SSNet's classes (background 0, track 1, shower 2) of a batch's labels: the ``"ssnet"``
    target's categories by :data:`larseg.models.ssnet.CATEGORY_TO_CLASS`, or the
    ``"track_shower"`` target's track 0 / shower 1 shifted by one, its unlabelled pixels (-1:
    empty or noise) background, as the ``"ssnet"`` target labels them."""
    from ..models.ssnet import CATEGORY_TO_CLASS

    if target == "ssnet":
        table = torch.tensor(CATEGORY_TO_CLASS, dtype=torch.int64)
        return torch.where(label >= 0, table[label.clamp(min=0)], -1)
    if target == "track_shower":
        return torch.where(label >= 0, label + 1, 0)
    raise _not_ssnet_target(target)


def _not_ssnet_target(target: str):
    from ..errors import LarsegError

    return LarsegError(f"data.target '{target}': SSNet is evaluated on the "
                       f"{' or '.join(SSNET_TARGETS)} target")


def evaluate_ssnet(cfg: TrainingConfig, model, weights, files: list[Path], out: Path,
                   max_events: int = 0) -> dict:
    """SSNet on every plane of the first ``max_events`` events of each file (0: all) at the
    config's resolution, whole planes by tiles of ``data.crop``
    (:func:`larseg.train.tiling.tiled_forward`, margin :func:`~larseg.train.tiling.tiling_for`'s).

    metrics.json: ``classes`` (background, track, shower), ``all`` / ``active`` — per plane the
    confusion of those classes over every pixel / pixels with ADC > 0, all files together — and
    ``icpf``, per file (the talk's samples) per plane and over ``"all planes"`` pooled: the mean
    ICPF, its 90 % quantile, the images counted and undefined (no track or shower pixel, truth
    or predicted), and the mean shower and track ICPF (:mod:`larseg.metrics.ssnet`); per plane
    also each image's values. report.md has the table in %, beside the talk's means."""
    from ..data import DenseDataset
    from ..data.collate import dense_collate
    from ..data.targets import SOURCE_FIELD
    from ..io import open_events
    from ..metrics.segmentation import ConfusionEvaluator
    from ..metrics.ssnet import ICPFEvaluator
    from ..models.ssnet import SSNET_CLASSES
    from ..viz.plots import confusion_figure
    from .runtime import autocast
    from .tiling import tiled_forward, tiling_for

    target, planes = cfg.data.target, list(cfg.data.planes)
    if target not in SSNET_TARGETS:
        raise _not_ssnet_target(target)
    tiling = tiling_for(cfg)
    confusion = ConfusionEvaluator(SSNET_CLASSES, planes)
    icpf, names, n = {}, [], 0
    for path in files:
        name = path.name if path.name not in names else str(path)
        names.append(name)
        source = open_events(path, fields=[SOURCE_FIELD[target]])
        ds = DenseDataset(source, planes=planes, target=target, downsample=cfg.data.downsample,
                          pool=cfg.data.pool, seed=cfg.data.seed, on_empty="skip")
        per_plane = ICPFEvaluator("classes", planes)
        pooled = ICPFEvaluator("classes", planes[:1])  # every plane image as one set
        k = len(ds) if max_events <= 0 else min(len(ds), max_events)
        for i in range(k):
            batch = dense_collate([ds[i]])
            if batch is None:  # an empty event
                continue
            n += 1
            with autocast(cfg.eval.precision, next(model.parameters()).device):
                logits = tiled_forward(model, batch["image"], tiling).float()
            truth = {"image": batch["image"], "label": ssnet_truth(batch["label"], target)}
            confusion.process(truth, logits)
            per_plane.process(truth, logits)
            h, w = truth["label"].shape[-2:]
            pooled.process({"image": truth["image"].reshape(-1, 1, h, w),
                            "label": truth["label"].reshape(-1, 1, h, w)},
                           logits.reshape(-1, 1, logits.shape[2], h, w))
        table = {}
        if pooled.values:
            (everything,) = pooled.evaluate().values()
            table["all planes"] = {key: v for key, v in everything.items() if key != "images"}
        table.update(per_plane.evaluate())
        icpf[name] = table
    metrics = {"weights": str(weights), "data": [str(f) for f in files], "events": n,
               "classes": list(SSNET_CLASSES), "target": target,
               "tiling": {"tile": list(tiling.tile), "margin": tiling.margin},
               **confusion.evaluate(), "icpf": icpf}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figure = confusion_figure({p: m["normalised_by_truth"] for p, m in metrics["active"].items()},
                              SSNET_CLASSES, out / "confusion.png",
                              title=f"{Path(weights).name}: active pixels, each truth column "
                                    "normalised")
    (out / "report.md").write_text("\n".join(_ssnet_report(metrics, figure.name)))
    return metrics


def _pct(v: float) -> str:
    return f"{100 * v:.1f}" if np.isfinite(v) else "–"


def _ssnet_report(m: dict, figure: str) -> list[str]:
    """report.md of :func:`evaluate_ssnet`: the ICPF table, then the active-pixel metrics."""
    tile, margin = m["tiling"]["tile"], m["tiling"]["margin"]
    lines = [f"# Evaluation of {m['weights']}", "",
             f"SSNet on whole planes ({m['events']} events, target `{m['target']}`), tiles of "
             f"{tile[0]} × {tile[1]} with {margin} pixels not kept at each cut edge.", "",
             "## ICPF (incorrectly classified pixel fraction, %)", "",
             "Per plane image, over the pixels that are track or shower in truth or prediction "
             "(larseg.metrics.ssnet); mean and 90 % quantile over the images that have such "
             "pixels (undefined: those without), shower and track columns the means of the "
             "per-class values.", "",
             "| sample | plane | images | mean | 90 % quantile | shower | track | undefined |",
             "|---|---|---|---|---|---|---|---|"]
    for sample, table in m["icpf"].items():
        for plane, t in table.items():
            s = t["icpf"]
            lines.append(f"| {sample} | {plane} | {s['n']} | {_pct(s['mean'])} | "
                         f"{_pct(s['q90'])} | {_pct(t['shower'])} | {_pct(t['track'])} | "
                         f"{s['undefined']} |")
    lines += ["", "The talk's mean ICPF: " + ", ".join(
        f"{k} {100 * v:.1f} %" for k, v in TALK_MEAN_ICPF.items()) + ".", "",
        "## Active pixels (ADC > 0)", "", "| plane | accuracy | mean IoU | " + " | ".join(
            f"IoU {c}" for c in m["classes"]) + " |", "|---|---|---|" + "---|" * len(m["classes"])]
    for p, s in m["active"].items():
        lines.append(f"| {p} | {s['accuracy']:.4f} | {s['mean_iou']:.4f} | " + " | ".join(
            f"{s['iou'][c]:.4f}" if np.isfinite(s['iou'][c]) else "–" for c in m["classes"])
            + " |")
    return [*lines, "", f"![confusion]({figure})", ""]
