"""Evaluate a sparse network (SparseSSNet, MicroBooNE note 1091) on files, as the note does.

Every event is run whole: no crop, at the config's resolution (``data.downsample``; the shipped
SparseSSNet config uses 1, full resolution), after the network's input mask (``model.adc_min`` ≤
ADC ≤ ``model.adc_max``: 10-300 ADC, note 1091 Sec. 2), in fp32 on the CPU. The metrics are
counted over the input pixels that carry a label, which are all non-zero: note 1091's
"non-zero pixels" (:mod:`larseg.metrics.semantic`):

- per plane the confusion matrix of the target's classes (5 for the semantic target: HIP, MIP,
  shower, delta, Michel), normalised by truth and by prediction, and for the semantic target the
  2-class one (track = HIP + MIP, shower = shower + delta + Michel) summed from it;
- per plane the accuracy overall and per class, the purity per class, IoU.

Written to OUTPUT: ``metrics.json``; ``report.md`` with the tables; pictures like the note's
Figs. 4, 11, 12 (``confusion_<k>class_by_truth.png`` / ``_by_prediction.png``, one panel per
plane) and Fig. 5 (``confusion_2class_*``); and ``event_display.png``, the note's Fig. 6 for the
first evaluated event on the last plane of ``data.planes`` (Y by default): the network's input
ADC, the truth, the prediction and the loss weights of ``loss.scheme`` on the same pixels.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ..data._torch import torch


def _forward_path(cfg):
    """The trainer's sparse path (dataset layout, forward), run at ``eval.precision``."""
    from .paths import SparsePath

    train = dataclasses.replace(cfg.train, precision=cfg.eval.precision)
    return SparsePath(dataclasses.replace(cfg, train=train))


def input_mask(cfg) -> tuple[float | None, float | None]:
    """The network's ADC input mask (model.adc_min, model.adc_max); None where it has none."""
    return getattr(cfg.model, "adc_min", None), getattr(cfg.model, "adc_max", None)


def evaluate_sparse(cfg, model, weights: str | Path, files: list[Path], out: Path,
                    max_events: int = 0) -> dict:
    """Evaluate the loaded sparse ``model`` on ``files`` (``max_events`` per file, 0: all);
    writes OUTPUT/metrics.json, report.md and the pictures; returns the metrics."""
    from ..data import AdcMask, SparseDataset, sparse_collate
    from ..data.targets import CLASS_NAMES, SOURCE_FIELD
    from ..io import open_events
    from ..metrics.semantic import SparseConfusionEvaluator

    names = list(CLASS_NAMES[cfg.data.target])
    ev = SparseConfusionEvaluator.for_target(cfg.data.target, names, cfg.data.planes)
    path = _forward_path(cfg)
    cpu = torch.device("cpu")
    low, high = input_mask(cfg)
    n = skipped = 0
    seconds = 0.0
    shown = None
    for f in files:
        # the instances are the clusters of note 1091's weights, drawn in the event display
        source = open_events(f, fields=[SOURCE_FIELD[cfg.data.target], "instance"])
        ds = SparseDataset(source, planes=cfg.data.planes, target=cfg.data.target,
                           transform=[AdcMask(low, high)], downsample=cfg.data.downsample,
                           pool=cfg.data.pool, seed=cfg.data.seed, on_empty="skip")
        k = len(ds) if max_events <= 0 else min(len(ds), max_events)
        n += k
        for i in range(k):
            sample = ds.sample(i)
            if sample is None:  # no pixel inside the input mask on any plane
                skipped += 1
                continue
            batch = sparse_collate([ds.to_tensors(sample, i)])
            t0 = time.perf_counter()
            with torch.no_grad():
                logits = path.forward(model, batch, cpu)
            seconds += time.perf_counter() - t0
            ev.process(batch, logits)
            if shown is None:
                shown = (f, i, source[i], sample, batch, logits)
    done = n - skipped
    metrics = {"weights": str(weights), "data": [str(f) for f in files], "events": n,
               "skipped_events": skipped, "classes": names,
               "network_input": {"adc_min": low, "adc_max": high,
                                 "downsample": cfg.data.downsample, "pool": cfg.data.pool},
               "precision": cfg.eval.precision,
               "seconds_per_event": seconds / done if done else float("nan"),
               **ev.evaluate()}
    metrics["classes_track_shower"] = ev.group_names if ev.groups is not None else None
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    # the matrices to show: the target's classes, and track/shower where they are derived
    sets = [("active", names)] + ([("track_shower", ev.group_names)]
                                  if ev.groups is not None else [])
    pictures = _confusion_pictures(metrics, sets, out)
    display = _event_display(cfg, shown, out / "event_display.png") if shown else None
    (out / "report.md").write_text(_report(metrics, sets, files, pictures, display))
    return metrics


def _mask_text(low: float | None, high: float | None) -> str:
    """'10 ≤ ADC ≤ 300', or a one-sided or absent mask in words."""
    text = "ADC"
    if low is not None:
        text = f"{low:g} ≤ {text}"
    if high is not None:
        text = f"{text} ≤ {high:g}"
    return "every pixel" if low is None and high is None else text


def _confusion_pictures(metrics: dict, sets: list[tuple[str, list[str]]],
                        out: Path) -> list[Path]:
    from ..viz.plots import confusion_figure

    paths = []
    for key, cls in sets:
        planes = metrics[key]
        for norm, what in (("truth", "each truth column sums to 1"),
                           ("prediction", "each prediction row sums to 1")):
            paths.append(confusion_figure(
                {p: m[f"normalised_by_{norm}"] for p, m in planes.items()}, cls,
                out / f"confusion_{len(cls)}class_by_{norm}.png",
                title=f"{len(cls)}-class confusion of the input pixels, normalised by {norm} "
                      f"({what})"))
    return paths


def _event_display(cfg, shown, path: Path) -> Path:
    """Note 1091's Fig. 6 for one event: the network's input on one plane — ADC, truth,
    prediction and the loss weights that training would give these pixels."""
    from ..data import event_with_planes
    from ..viz import render_event_png

    f, index, event, sample, batch, logits = shown
    shown_event = event_with_planes(event, sample.planes)
    # the trainer's weights of these pixels (its path also knows the sparse cosmic tagger's
    # mild class weights, which note 1091's sparse_batch_weights does not)
    weights = [w.numpy() for w in _forward_path(cfg).weights(batch, torch.device("cpu"))]
    pred = [o.argmax(dim=1).numpy() for o in logits]
    field = cfg.data.target
    return render_event_png(
        shown_event, path, fields=("adc", field), prediction=pred, prediction_field=field,
        weights=weights, planes=[len(shown_event.planes) - 1], dpi=80,
        title=f"{Path(f).name}, event {index}: the network's input "
              f"({_mask_text(*input_mask(cfg))}), truth, prediction, loss weight "
              f"({cfg.loss.scheme})")


def _fmt(v: float) -> str:
    return f"{v:.4f}" if v is not None and np.isfinite(v) else "–"


def _matrix_table(m: list[list[float]], names: list[str]) -> list[str]:
    lines = ["| truth \\ prediction | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for name, row in zip(names, m):
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in row) + " |")
    return lines


def _report(metrics: dict, sets: list[tuple[str, list[str]]], files: list[Path],
            pictures: list[Path], display: Path | None) -> str:
    inp = metrics["network_input"]
    label = ", ".join(Path(f).name for f in files)
    names = sets[0][1]
    two = metrics.get("track_shower")
    lines = [f"# Evaluation of {metrics['weights']}", "",
             f"Data: `{label}` ({metrics['events']} events, {metrics['skipped_events']} without "
             f"any pixel in the network's input). Network input: pixels with "
             f"{_mask_text(inp['adc_min'], inp['adc_max'])} (note 1091), downsample "
             f"{inp['downsample']}, whole images. Metrics over the input pixels that carry a "
             "label (note 1091's non-zero pixels); unlabelled input pixels are counted apart. "
             f"Inference {metrics['seconds_per_event']:.3f} s per event (all planes, CPU).", "",
             "## Non-zero-pixel accuracy", "",
             "| plane | pixels | unlabelled | accuracy | "
             + ("track/shower accuracy | " if two else "")
             + " | ".join(f"{c} accuracy" for c in names) + " |",
             "|---|---|---|---|" + ("---|" if two else "") + "---|" * len(names)]
    for p, m in metrics["active"].items():
        lines.append(f"| {p} | {m['pixels']} | {m['unlabelled_pixels']} | {_fmt(m['accuracy'])}"
                     " | " + (f"{_fmt(two[p]['accuracy'])} | " if two else "")
                     + " | ".join(_fmt(m["class_accuracy"][c]) for c in names) + " |")
    titles = {"active": f"{len(names)}-class",
              "track_shower": "2-class (track = HIP + MIP, shower = shower + delta + Michel)"}
    for key, cls in sets:
        for p, m in metrics[key].items():
            for norm in ("truth", "prediction"):
                lines += ["", f"### {titles[key]} confusion, plane {p}, normalised by {norm}",
                          ""]
                lines += _matrix_table(m[f"normalised_by_{norm}"], cls)
    lines.append("")
    lines += [f"![{pic.stem}]({pic.name})" for pic in pictures]
    if display is not None:
        lines += ["", "## Event display (note 1091, Fig. 6)", "", f"![event]({display.name})"]
    return "\n".join(lines) + "\n"
