"""The SBND cosmic-removal paper's metrics (Acciarri et al. 2021, section 8, Table 2; Figure 9)
and its event selection (section 9).

Pixel metrics, from the confusion matrices over *all* pixels of a plane (rows truth, columns
prediction; classes background 0 / cosmic 1 / neutrino 2):

- accuracy: correct pixels / all pixels;
- non-background accuracy: the same over the pixels whose *label* is not background;
- cosmic and neutrino IoU: |labelled ∩ predicted| / |labelled ∪ predicted|;
- mean IoU: the mean of the cosmic and the neutrino IoU (the paper's definition; background left
  out).

Event selection: an event is selected as containing a neutrino when every plane has at least
``min_pixels`` (100) pixels predicted neutrino and the mean row (drift time, shared by the three
planes) of those pixels differs by at most ``max_row_separation`` (50) pixels between every pair
of planes, both at the paper's 50 % resolution. Efficiency per interaction category (νe CC, νμ CC,
NC) and rejection of cosmic-only events; the paper reached 91.5 %, 78.6 %, 37.3 % at 91.1 %
rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import CosmicLabel

#: The paper's cuts (section 9) and results (Table 3), at 50 % resolution.
MIN_PIXELS = 100
MAX_ROW_SEPARATION = 50.0
PAPER_EFFICIENCY = {"nue_cc": 0.915, "numu_cc": 0.786, "nc": 0.373}
PAPER_REJECTION = 0.911
#: Table 2 (its four columns are non-background accuracy, cosmic, neutrino and mean IoU; the
#: mean IoU column is the mean of the two IoUs): the baseline and the best ("batch size × 2").
PAPER_TABLE2 = {
    "baseline": {"non_background_accuracy": 0.951, "cosmic_iou": 0.908, "neutrino_iou": 0.606,
                 "mean_iou": 0.757},
    "best": {"non_background_accuracy": 0.956, "cosmic_iou": 0.914, "neutrino_iou": 0.698,
             "mean_iou": 0.806}}
CATEGORIES = ("nue_cc", "numu_cc", "nc", "cosmic_only")


def table2(cm: np.ndarray) -> dict[str, float]:
    """Table 2's metrics from a 3 × 3 confusion matrix over all pixels."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    total = cm.sum()
    labelled = cm[1:].sum()

    def iou(c: int) -> float:
        union = cm[c].sum() + cm[:, c].sum() - tp[c]
        return float(tp[c] / union) if union else float("nan")

    cosmic, neutrino = iou(CosmicLabel.COSMIC), iou(CosmicLabel.NEUTRINO)
    return {"accuracy": float(tp.sum() / total) if total else float("nan"),
            "non_background_accuracy": float(tp[1:].sum() / labelled) if labelled
            else float("nan"),
            "cosmic_iou": cosmic, "neutrino_iou": neutrino,
            "mean_iou": float(np.nanmean([cosmic, neutrino]))
            if np.isfinite([cosmic, neutrino]).any() else float("nan")}


def category(interactions) -> str:
    """νe CC, νμ CC (antineutrinos included), NC, or cosmic-only for an event's interactions
    (the first interaction decides when there are several)."""
    if not interactions:
        return "cosmic_only"
    it = interactions[0]
    if it.current == 1:
        return "nc"
    return "nue_cc" if abs(it.nu_pdg) == 12 else "numu_cc"


@dataclass
class EventRecord:
    """What the selection and the per-event plots need of one event."""

    index: int
    category: str
    energy: float                                    # neutrino energy, MeV (0: cosmic-only)
    neutrino_pixels: list[int]                       # predicted neutrino pixels per plane
    mean_row: list[float]                            # their mean row per plane (nan if none)
    neutrino_iou: float                              # over all planes of the event

    def row_separation(self) -> float:
        rows = np.asarray(self.mean_row)
        if not np.isfinite(rows).all():
            return float("inf")
        return float(np.max(np.abs(rows[:, None] - rows[None, :])))

    def selected(self, min_pixels: int = MIN_PIXELS,
                 max_separation: float = MAX_ROW_SEPARATION) -> bool:
        return min(self.neutrino_pixels) >= min_pixels and \
            self.row_separation() <= max_separation


def event_record(index: int, interactions, label: np.ndarray, pred: np.ndarray) -> EventRecord:
    """The record of one event from its (P, H, W) truth and predicted classes."""
    nu = CosmicLabel.NEUTRINO
    counts, rows = [], []
    for p in range(pred.shape[0]):
        r = np.nonzero(pred[p] == nu)[0]
        counts.append(int(r.size))
        rows.append(float(r.mean()) if r.size else float("nan"))
    truth, guess = label == nu, pred == nu
    union = np.logical_or(truth, guess).sum()
    iou = float(np.logical_and(truth, guess).sum() / union) if union else float("nan")
    energy = float(interactions[0].energy) if interactions else 0.0
    return EventRecord(index, category(interactions), energy, counts, rows, iou)


@dataclass
class SelectionResult:
    efficiency: dict[str, float]
    counts: dict[str, tuple[int, int]]               # (selected, total) per category
    rejection: float
    curve: list[dict] = field(default_factory=list)  # efficiency and rejection per cut value

    def as_dict(self) -> dict:
        return {"efficiency": self.efficiency, "rejection": self.rejection,
                "counts": {k: list(v) for k, v in self.counts.items()},
                "cuts": {"min_pixels": MIN_PIXELS, "max_row_separation": MAX_ROW_SEPARATION},
                "paper": {"efficiency": PAPER_EFFICIENCY, "rejection": PAPER_REJECTION},
                "curve": self.curve}


def _rates(records, min_pixels: int, max_sep: float) -> tuple[dict, dict, float]:
    counts = {}
    for c in CATEGORIES:
        sel = [r.selected(min_pixels, max_sep) for r in records if r.category == c]
        counts[c] = (int(sum(sel)), len(sel))
    eff = {c: counts[c][0] / counts[c][1] if counts[c][1] else float("nan")
           for c in CATEGORIES[:3]}
    sel, n = counts["cosmic_only"]
    return eff, counts, (1.0 - sel / n) if n else float("nan")


def selection(records: list[EventRecord], min_pixels: int = MIN_PIXELS,
              max_separation: float = MAX_ROW_SEPARATION,
              scan=(0, 10, 25, 50, 100, 200, 400, 800, 1600)) -> SelectionResult:
    """Efficiencies and rejection at the cuts, and over a scan of the pixel cut (the
    efficiency-vs-rejection curve) at the same row-separation cut."""
    eff, counts, rej = _rates(records, min_pixels, max_separation)
    curve = []
    for cut in scan:
        e, _, r = _rates(records, cut, max_separation)
        curve.append({"min_pixels": cut, "rejection": r, **e})
    return SelectionResult(eff, counts, rej, curve)


def iou_by_energy(records: list[EventRecord], edges_mev=(0, 500, 1000, 1500, 2000, 3000, 5000)
                  ) -> dict[str, list[dict]]:
    """Mean per-event neutrino IoU in bins of neutrino energy, per category (Figure 9)."""
    out = {}
    for c in CATEGORIES[:3]:
        rows = []
        for lo, hi in zip(edges_mev[:-1], edges_mev[1:]):
            x = [r.neutrino_iou for r in records if r.category == c and lo <= r.energy < hi
                 and np.isfinite(r.neutrino_iou)]
            rows.append({"energy_mev": [lo, hi], "events": len(x),
                         "mean_iou": float(np.mean(x)) if x else float("nan")})
        out[c] = rows
    return out


class CosmicTaggerEvaluator:
    """Table 2 per plane and over all planes, per-event records, the selection and the IoU by
    energy, from dense batches (``label`` (B, P, H, W)) and logits (B, P, 3, H, W).
    ``process`` takes each event's interactions (the truth the selection is scored against)."""

    def __init__(self, planes=(0, 1, 2)) -> None:
        from .segmentation import PLANE_NAMES

        self.plane_names = [PLANE_NAMES[p] if p < len(PLANE_NAMES) else str(p) for p in planes]
        self.reset()

    def reset(self) -> None:
        self.cm = [np.zeros((3, 3), np.int64) for _ in self.plane_names]
        self.records: list[EventRecord] = []

    def process(self, batch: dict, outputs, interactions: list) -> None:
        from .segmentation import confusion

        out = np.asarray(outputs.detach().cpu() if hasattr(outputs, "detach") else outputs)
        pred = out.argmax(axis=2) if out.ndim == 5 else out
        label = np.asarray(batch["label"])
        for b in range(label.shape[0]):
            for p in range(label.shape[1]):
                self.cm[p] += confusion(label[b, p], pred[b, p], 3)
            self.records.append(event_record(int(batch["indices"][b]), interactions[b],
                                             label[b], pred[b]))

    def evaluate(self) -> dict:
        per_plane = {n: table2(cm) for n, cm in zip(self.plane_names, self.cm)}
        sel = selection(self.records)
        return {"table2": {**per_plane, "all planes": table2(sum(self.cm))},
                "paper": PAPER_TABLE2,
                "selection": sel.as_dict(),
                "iou_by_energy": iou_by_energy(self.records),
                "events": {c: sum(r.category == c for r in self.records) for c in CATEGORIES}}
