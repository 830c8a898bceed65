"""SSNet's metric: the incorrectly classified pixel fraction, ICPF (talk on PRD 99, 092001,
slide "Performance": "Incorrectly Classified Pixel Fraction (ICPF) as performance metric. Takes
into account false positives, both for tracks and shower categories", and the table beside it:
per sample the mean ICPF, its 90 % quantile, and "Shower" and "Track" columns).

Per plane image, with T the pixels whose truth is track or shower and P those predicted track or
shower (our reading of the slide; the talk gives no formula):

- ICPF = |{x in T ∪ P : prediction(x) ≠ truth(x)}| / |T ∪ P| — the non-background pixels,
  plus the background pixels predicted track or shower (the false positives), of which the
  fraction wrongly labelled;
- shower ICPF: the same over S = {truth shower} ∪ {predicted shower} (the pixels of S not
  labelled shower by both), i.e. 1 − IoU of the shower class; track ICPF likewise.

An image with an empty set has no value for that quantity (counted in ``"undefined"``). Truth
comes as the ``"ssnet"`` target categories (background, edge band, track, shower; the edge band
is background, :data:`larseg.models.ssnet.CATEGORY_TO_CLASS`) or as SSNet's classes
(background 0, track 1, shower 2); pixels labelled -1 are left out, and so, with ``min_adc``,
are pixels with ADC ≤ ``min_adc`` (both as truth and as false positives). Numbers are fractions
(the talk's table is in %).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .segmentation import PLANE_NAMES

BACKGROUND, TRACK, SHOWER = 0, 1, 2
_CATEGORY_TO_CLASS = np.array([0, 0, 1, 2], dtype=np.int64)  # = models.ssnet.CATEGORY_TO_CLASS
TRUTH_ENCODINGS = ("ssnet", "classes")


def _fraction(wrong: np.ndarray, region: np.ndarray) -> float:
    n = int(region.sum())
    return float((wrong & region).sum() / n) if n else float("nan")


def icpf(truth: np.ndarray, pred: np.ndarray, keep: np.ndarray | None = None
         ) -> dict[str, float]:
    """ICPF, shower and track ICPF of one image; ``truth`` and ``pred`` in SSNet's classes
    (background 0, track 1, shower 2), ``keep`` the pixels that count (default: truth ≥ 0).
    NaN where the set is empty."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    keep = truth >= 0 if keep is None else np.asarray(keep) & (truth >= 0)
    wrong = pred != truth
    feature = keep & ((truth > BACKGROUND) | (pred > BACKGROUND))
    out = {"icpf": _fraction(wrong, feature)}
    for name, cls in (("shower", SHOWER), ("track", TRACK)):
        out[name] = _fraction(wrong, keep & ((truth == cls) | (pred == cls)))
    return out


def _summary(values: Sequence[float], quantile: float) -> dict:
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    return {"mean": float(ok.mean()) if ok.size else float("nan"),
            f"q{int(round(quantile * 100))}": float(np.quantile(ok, quantile)) if ok.size
            else float("nan"),
            "n": int(ok.size), "undefined": int(v.size - ok.size)}


class ICPFEvaluator:
    """Per-image ICPF of dense batches, summarised per plane like the talk's table.

    ``process(batch, outputs)``: ``batch["label"]`` (B, P, H, W) in ``truth`` encoding,
    ``batch["image"]`` (B, P, H, W) ADC (used with ``min_adc``), ``outputs`` SSNet logits
    (B, P, 3, H, W) or predicted classes (B, P, H, W). ``evaluate()`` gives per plane: ``icpf``
    (mean, 90 % quantile, images counted, undefined), ``shower`` and ``track`` (mean over the
    images where defined, as the table's columns) and ``images`` (per-image values)."""

    def __init__(self, truth: str = "ssnet", planes: Sequence[int] = (0, 1, 2),
                 min_adc: float | None = None, quantile: float = 0.9) -> None:
        if truth not in TRUTH_ENCODINGS:
            raise ValueError(f"truth must be one of {', '.join(TRUTH_ENCODINGS)}, got '{truth}'")
        self.truth = truth
        self.planes = [int(p) for p in planes]  # the plane of each position of the batch
        self.min_adc = min_adc
        self.quantile = float(quantile)  # the talk's table: 90 %
        self.reset()

    def reset(self) -> None:
        self.values: dict[int, list[dict[str, float]]] = {}

    def _classes(self, label: np.ndarray) -> np.ndarray:
        if self.truth == "classes":
            return label
        return np.where(label >= 0, _CATEGORY_TO_CLASS[np.clip(label, 0, 3)], -1)

    def process(self, batch: dict, outputs) -> None:
        out = np.asarray(outputs.detach().cpu() if hasattr(outputs, "detach") else outputs)
        pred = out.argmax(axis=2) if out.ndim == 5 else out
        truth = self._classes(np.asarray(batch["label"]))
        keep = np.ones(truth.shape, dtype=bool)
        if self.min_adc is not None:
            keep = np.asarray(batch["image"]) > self.min_adc
        for b in range(truth.shape[0]):
            for p in range(truth.shape[1]):
                self.values.setdefault(p, []).append(icpf(truth[b, p], pred[b, p], keep[b, p]))

    def evaluate(self) -> dict:
        out = {}
        for k, rows in sorted(self.values.items()):
            plane = self.planes[k]
            name = PLANE_NAMES[plane] if plane < len(PLANE_NAMES) else str(plane)
            out[name] = {"icpf": _summary([r["icpf"] for r in rows], self.quantile),
                         "shower": _summary([r["shower"] for r in rows], self.quantile)["mean"],
                         "track": _summary([r["track"] for r in rows], self.quantile)["mean"],
                         "images": rows}
        return out
