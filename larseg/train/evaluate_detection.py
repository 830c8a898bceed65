"""sMask-RCNN on held-out files: the paper's instance metrics (../shared/papers/003, sections
III-IV) on whole collection-plane images, written as metrics.json, report.md and pictures.

Each event of each file is one item of :class:`~larseg.data.instances.InstanceDataset` with
``crop=None``: the config's plane (``data.planes``, one entry) at full resolution, the ADC below
the model's ``adc_threshold`` (10) set to 0, as in training. The loaded model runs in eval mode
on the CPU in fp32 (``eval.precision`` and ``--device`` are not used here), one image at a time;
its detections go through :func:`~larseg.train.detection_path.detections_to_predictions` into
:class:`~larseg.metrics.instances.InstanceEvaluator` with the event's category (νe CC, νμ CC,
NC or cosmic-only) for the rejection curve.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from ..data._torch import torch


def whole_image_dataset(cfg, path: Path):
    """The whole-image items of one file: the training path's data settings, no crops."""
    from ..data.instances import InstanceDataConfig, InstanceDataset
    from .detection_path import open_instance_events

    config = InstanceDataConfig(plane=cfg.data.planes[0],
                                min_adc=float(getattr(cfg.model, "adc_threshold", 10.0)),
                                crop=None, seed=cfg.data.seed)
    return InstanceDataset(open_instance_events(str(path), "data"), config)


def detect(model, image: torch.Tensor) -> dict:
    """The detections of one (1, H, W) image (the backbone pads it to its multiple itself)."""
    with torch.no_grad():
        det, = model(image[None], image_sizes=[tuple(image.shape[-2:])])
    return det


def evaluate_detection(cfg, model, weights, files: list[Path], out: Path,
                       max_events: int = 0) -> dict:
    """Evaluate the loaded sMask-RCNN ``model`` on the first ``max_events`` events of each file
    (0: all); returns the metrics written to ``out / "metrics.json"``: the evaluator's dict
    plus ``weights``, ``data`` and ``seconds_per_event`` (the mean wall time of the model's
    forward pass per image, detection and mask pasting included, metrics not)."""
    from ..metrics.instances import InstanceEvaluator, InstanceMetricsConfig
    from .detection_path import detections_to_predictions

    model.cpu().eval()
    metrics_cfg = replace(InstanceMetricsConfig(),
                          min_adc=float(getattr(cfg.model, "adc_threshold", 10.0)),
                          score_threshold=float(getattr(cfg.model, "score_threshold", 0.4)))
    ev = InstanceEvaluator(metrics_cfg)
    seconds, shown = 0.0, None
    for path in files:
        ds = whole_image_dataset(cfg, path)
        n = len(ds) if max_events <= 0 else min(len(ds), max_events)
        for i in range(n):
            item = ds[i]
            t0 = time.perf_counter()
            det = detect(model, item["image"])
            seconds += time.perf_counter() - t0
            predictions = detections_to_predictions(det)
            ev.process(predictions, item["target"], item["image"][0], item["category"])
            # the display: the first event with a neutrino, else the first event
            if shown is None or (shown[2] == "cosmic_only" and item["category"] != "cosmic_only"):
                boxes = det["boxes"].cpu().numpy()
                shown = (item["image"][0].numpy(),
                         [{**p, "box": b} for p, b in zip(predictions, boxes)],
                         item["category"], f"{path.name} event {item['entry']}")
    result = ev.evaluate()
    events = result["events"]
    metrics = {"weights": str(weights), "data": [str(f) for f in files], **result,
               "seconds_per_event": seconds / events if events else float("nan")}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "report.md").write_text(_report(metrics, metrics_cfg, out, shown))
    return metrics


def _report(m: dict, mc, out: Path, shown) -> str:
    """report.md: the evaluator's table beside the paper's numbers, and the figures."""
    from ..metrics.instances import PAPER, table
    from ..viz.instances import (coverage_figure, efficiency_by_class_figure,
                                 efficiency_purity_figure, rejection_curve_figure,
                                 render_instance_png)

    d = m["distributions"]
    label = ", ".join(Path(f).name for f in m["data"])
    figures = [("efficiency and purity per event (paper Figs. 8, 9)",
                efficiency_purity_figure(d["event_efficiency"], d["event_purity"],
                                         out / "efficiency_purity.png")),
               ("efficiency per truth by class (paper Figs. 10, 11)",
                efficiency_by_class_figure(d, out / "efficiency_by_class.png")),
               ("interaction coverage (paper Figs. 14-17)",
                coverage_figure(d, out / "coverage.png")),
               ("cosmic rejection against neutrino efficiency over the score threshold",
                rejection_curve_figure(m["rejection_curve"], out / "rejection_curve.png",
                                       score_threshold=mc.score_threshold))]
    if shown is not None:
        adc, predictions, _, where = shown
        figures.append((f"event display: {where}",
                        render_instance_png(adc, predictions, out / "event_display.png",
                                            score_threshold=mc.score_threshold,
                                            title=f"{where}: predictions scoring above "
                                                  f"{mc.score_threshold:g}")))
    at = m["rejection_at_score_threshold"]
    wc = PAPER["wirecell"]
    lines = [f"# sMask-RCNN evaluation of {m['weights']}", "",
             f"Data: `{label}` ({m['events']} whole plane images, {m['truths']} truths, "
             f"{m['predictions']} predictions scoring above {mc.score_threshold:g}; pixels with "
             f"ADC > {mc.min_adc:g} only). {m['seconds_per_event']:.2f} s per event on the CPU.",
             "", table(m, Path(m["weights"]).name), ""]
    if at is not None:
        eff = ", ".join(f"{c} {e:.3f}" for c, e in at["efficiency"].items()) or "–"
        lines += [f"At the score threshold {at['threshold']:g}: cosmic-only rejection "
                  f"{at['rejection']:.3f}, neutrino found in {eff} (the paper, with Wire-Cell: "
                  f"{wc['rejection']} rejection at {wc['nue_efficiency']} νe efficiency).", ""]
    for caption, path in figures:
        lines += [f"![{caption}]({path.name})", ""]
    return "\n".join(lines)


__all__ = ["evaluate_detection", "whole_image_dataset", "detect"]
