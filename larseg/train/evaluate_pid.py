"""The PID CNN of SSNet's transfer learning on held-out simulated single particles: accuracy and
the 5 × 5 species confusion (the talk on PRD 99, 092001, ../shared/papers/004, slide "Transfer
learning"), written as metrics.json, report.md and the confusion picture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data._torch import torch


def evaluate_pid(cfg, model, weights, sources: list[str], out: Path, max_events: int = 0) -> dict:
    """Evaluate the loaded PID CNN ``model`` on each particle source of ``sources``
    (``single_particle:N@SEED``, the seed apart from the training one; ``max_events`` particles
    at most, 0: all); returns the metrics."""
    from ..data.single_particle import SPECIES
    from ..metrics.segmentation import confusion, summarise
    from ..viz.plots import confusion_figure
    from .paths import path_for

    path = path_for(model, cfg)
    cpu = torch.device("cpu")
    cm = np.zeros((len(SPECIES), len(SPECIES)), dtype=np.int64)
    for source in sources:
        ds = path.dataset(source, "data", training=False)
        n = len(ds) if max_events <= 0 else min(len(ds), max_events)
        for start in range(0, n, 64):
            batch = path.collate([ds[i] for i in range(start, min(start + 64, n))])
            if batch is None:
                continue
            with torch.no_grad():
                truth, pred, _ = path.predictions(path.forward(model, batch, cpu), batch)
            cm += confusion(truth, pred, len(SPECIES))
    summary = summarise(cm, SPECIES)
    metrics = {"weights": str(weights), "data": list(sources), "particles": int(cm.sum()),
               "classes": list(SPECIES), "accuracy": summary["accuracy"],
               "per_species_accuracy": {s: float(r) for s, r in
                                        zip(SPECIES, np.diag(np.asarray(
                                            summary["normalised_by_truth"])))},
               "confusion": summary["confusion"],
               "normalised_by_truth": summary["normalised_by_truth"]}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    picture = confusion_figure({"particles": summary["normalised_by_truth"]}, SPECIES,
                               out / "confusion_species.png",
                               title="PID CNN, normalised by truth")
    rows = [f"| {s} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
            for s, row in zip(SPECIES, summary["normalised_by_truth"])]
    (out / "report.md").write_text("\n".join([
        f"# PID CNN evaluation of {weights}", "",
        f"Held-out single particles: {', '.join(sources)} ({int(cm.sum())} particles). "
        f"Accuracy {summary['accuracy']:.4f}.", "",
        "| truth \\ prediction | " + " | ".join(SPECIES) + " |",
        "|---|" + "---|" * len(SPECIES), *rows, "", f"![confusion]({picture.name})", ""]))
    return metrics
