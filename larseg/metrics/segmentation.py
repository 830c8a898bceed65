"""Pixel-segmentation metrics from confusion matrices (numpy), as evaluators.

An evaluator has ``reset()``, ``process(batch, outputs)`` and ``evaluate() -> dict``; several can
run over the same batches. :class:`ConfusionEvaluator` accumulates one confusion matrix per plane
(rows: truth, columns: prediction; pixels labelled -1 ignored) over two pixel sets: every labelled
pixel, and the *active* pixels (ADC > 0: the SBND paper's non-zero accuracy and note 1091's
"non-zero pixels"). From them: accuracy, per-class IoU and their mean, and the matrix normalised
by truth (efficiency) and by prediction (purity).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PLANE_NAMES = ("U", "V", "Y")

def confusion(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts of (truth, prediction) pairs; truth < 0 ignored."""
    truth, pred = np.asarray(truth).reshape(-1), np.asarray(pred).reshape(-1)
    keep = truth >= 0
    idx = truth[keep].astype(np.int64) * n_classes + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def summarise(cm: np.ndarray, names: Sequence[str]) -> dict:
    """Accuracy, per-class IoU (TP / (TP + FP + FN)), mean IoU over classes present, and the
    two normalised matrices, from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    truth, pred = cm.sum(axis=1), cm.sum(axis=0)
    union = truth + pred - tp
    iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    total = cm.sum()
    present = truth > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        by_truth = np.where(truth[:, None] > 0, cm / truth[:, None], np.nan)
        by_pred = np.where(pred[None, :] > 0, cm / pred[None, :], np.nan)
    return {"pixels": int(total),
            "accuracy": float(tp.sum() / total) if total else float("nan"),
            "iou": {n: float(v) for n, v in zip(names, iou)},
            "mean_iou": float(np.nanmean(iou[present])) if present.any() else float("nan"),
            "confusion": cm.astype(np.int64).tolist(),
            "normalised_by_truth": by_truth.tolist(),
            "normalised_by_prediction": by_pred.tolist()}


class ConfusionEvaluator:
    """Per-plane confusion matrices of dense batches: ``batch["label"]`` and ``batch["image"]``
    (B, P, H, W), ``outputs`` logits (B, P, C, H, W) or predicted classes (B, P, H, W)."""

    def __init__(self, class_names: Sequence[str], planes: Sequence[int] = (0, 1, 2)) -> None:
        self.names = list(class_names)
        self.planes = [int(p) for p in planes]  # the plane of each position of the batch
        self.reset()

    def reset(self) -> None:
        self.cm: dict[str, dict[int, np.ndarray]] = {"all": {}, "active": {}}

    def process(self, batch: dict, outputs) -> None:
        out = np.asarray(outputs.detach().cpu() if hasattr(outputs, "detach") else outputs)
        pred = out.argmax(axis=2) if out.ndim == 5 else out
        label = np.asarray(batch["label"])
        active = np.asarray(batch["image"]) > 0
        n = len(self.names)
        for p in range(label.shape[1]):
            for key, mask in (("all", np.ones_like(active[:, p])), ("active", active[:, p])):
                t = np.where(mask, label[:, p], -1)
                cm = confusion(t, pred[:, p], n)
                self.cm[key][p] = self.cm[key].get(p, 0) + cm

    def evaluate(self) -> dict:
        out = {}
        for key, planes in self.cm.items():
            out[key] = {}
            for k, cm in sorted(planes.items()):
                plane = self.planes[k]
                name = PLANE_NAMES[plane] if plane < len(PLANE_NAMES) else str(plane)
                out[key][name] = summarise(cm, self.names)
        return out
