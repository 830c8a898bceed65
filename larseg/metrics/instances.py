"""The sMask-RCNN paper's instance metrics (section III, Figures 6-11 and 14-19) and an
event-level cosmic rejection against νe efficiency over the score threshold.

Only predictions with a classification score above ``score_threshold`` (0.4) are used, and only
pixels with ADC above ``min_adc`` (10) count (paper III.A: the image is made binary at 10 ADC);
"blank" pixels are the others. A truth is one ancestor interaction's mask (the targets of
:mod:`larseg.data.instances`), a prediction a mask with a class and a score.

- efficiency of a truth: the fraction of its pixels covered by the single prediction whose
  mask overlaps it most (Fig. 6); 0 without predictions; a truth with no pixel above ``min_adc``
  has none and is left out;
- charge efficiency: the same with each pixel weighted by its ADC (the prediction that
  overlaps the most charge; Fig. 11);
- purity of a prediction: the largest fraction of its non-blank pixels that lie on one truth
  (Fig. 7; blank pixels count neither for nor against it); a prediction with only blank pixels
  has none and is left out of the averages;
- per event: the average efficiency of its truths and purity of its predictions (Figs. 8, 9);
- coverage: the fraction of truths with efficiency above ``coverage_threshold`` (90 %, section
  III.B), over all truths (the paper's 16.59 / 20.82 = 79.7 %) and per event (Figs. 14-17);
- neutrino efficiency (Fig. 18): the efficiency of neutrino truths from the neutrino-class
  predictions only (0 without one); neutrino purity (Fig. 19): the purity of neutrino-class
  predictions against the neutrino truths only (0 for a prediction on cosmics only);
- cosmic rejection vs neutrino efficiency, per score threshold t (section IV; the paper quotes
  Wire-Cell's 99.7 % rejection at 80.1 % νe efficiency): rejection = the fraction of cosmic-only
  events with no neutrino-class prediction scoring above t; efficiency (per event category, e.g.
  "nue_cc") = the fraction of events whose neutrino is found, i.e. a neutrino-class prediction
  scoring above t covers at least ``found_fraction`` of a neutrino truth's pixels. The paper
  does not define "found": ``found_fraction`` = 0.5 (most of the neutrino's pixels) is larseg's
  choice. ``selected`` is the looser fraction with any neutrino-class prediction above t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import InstanceClass

INSTANCE_NAMES = tuple(c.name.lower() for c in InstanceClass)
COSMIC_ONLY = "cosmic_only"

#: The paper's results on full 3456 × 1008 images (sections III.A-C, IV) and Wire-Cell's point.
PAPER = {
    "dense": {"efficiency": 0.891, "purity": 0.869, "coverage": 0.797,
              "covered_per_event": 16.59, "truths_per_event": 20.82},
    "sparse": {"efficiency": 0.859, "purity": 0.844, "coverage": 0.644,
               "covered_per_event": 13.41, "truths_per_event": 20.82},
    "sparse_neutrino": {"efficiency": 0.807, "charge_efficiency": 0.815},
    "wirecell": {"rejection": 0.997, "nue_efficiency": 0.801},
}


@dataclass(frozen=True)
class InstanceMetricsConfig:
    min_adc: float = 10.0               # paper III.A: only pixels above 10 ADC count
    score_threshold: float = 0.4        # paper III.A: predictions scoring above 0.4
    coverage_threshold: float = 0.9     # paper III.B: covered above 90 % efficiency
    found_fraction: float = 0.5         # larseg's choice (the paper gives none), see module doc
    thresholds: tuple[float, ...] = tuple(i / 100 for i in range(101))  # rejection curve


# ------------------------------------------------------------------------ inputs
def _array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _members(mask, active: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(len(active),) bool: which active pixels (sorted flat indices) the mask holds.

    ``mask``: bool (H, W), flat pixel indices (n,), or (row, column) pairs (n, 2).
    """
    m = _array(mask)
    if m.dtype == bool:
        if m.shape != shape:
            raise ValueError(f"mask of shape {m.shape} for an image of shape {shape}")
        return m.reshape(-1)[active]
    m = m.astype(np.int64)
    if m.ndim == 2 and m.shape[1] == 2:
        m = m[:, 0] * shape[1] + m[:, 1]
    m = m.reshape(-1)
    out = np.zeros(active.size, bool)
    pos = np.searchsorted(active, m)
    hit = pos < active.size
    hit[hit] = active[pos[hit]] == m[hit]
    out[pos[hit]] = True
    return out


def _truth_list(truth) -> list[tuple[object, int]]:
    """(mask, label) pairs from a target dict (``masks``, ``labels``) or a list of dicts."""
    if isinstance(truth, dict):
        masks, labels = truth["masks"], _array(truth["labels"]).reshape(-1)
        return [(masks[k], int(labels[k])) for k in range(len(labels))]
    return [(t["mask"], int(t["label"])) for t in truth]


@dataclass
class EventMatch:
    """One event's overlaps, restricted to its active pixels (ADC > min_adc)."""

    truth_label: np.ndarray     # (K,) InstanceClass
    truth_pixels: np.ndarray    # (K,) active pixels of each truth
    truth_charge: np.ndarray    # (K,) ADC of those pixels
    pred_label: np.ndarray      # (M,)
    pred_score: np.ndarray      # (M,)
    pred_pixels: np.ndarray     # (M,) active (non-blank) pixels of each prediction
    overlap: np.ndarray         # (K, M) active pixels shared
    charge_overlap: np.ndarray  # (K, M) their ADC


def match(prediction, truth, adc, min_adc: float = 10.0) -> EventMatch:
    """Overlaps of every truth with every prediction on the pixels with ADC > ``min_adc``.

    ``prediction``: list of dicts with ``mask``, ``label``, ``score``; ``truth``: a target dict
    (``masks`` (K, H, W), ``labels``) or a list of dicts with ``mask`` and ``label``; ``adc``:
    the (H, W) image (a leading axis of 1 is dropped).
    """
    a = _array(adc).astype(np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"adc must be an (H, W) image, got shape {a.shape}")
    shape = (int(a.shape[0]), int(a.shape[1]))
    active = np.flatnonzero(a.reshape(-1) > min_adc)
    charge = a.reshape(-1)[active]
    truths = _truth_list(truth)
    t = np.array([_members(m, active, shape) for m, _ in truths], bool).reshape(-1, active.size)
    p = np.array([_members(d["mask"], active, shape) for d in prediction],
                 bool).reshape(-1, active.size)
    tf, pf = t.astype(np.float64), p.astype(np.float64)
    return EventMatch(
        truth_label=np.array([lab for _, lab in truths], np.int64),
        truth_pixels=t.sum(axis=1), truth_charge=tf @ charge,
        pred_label=np.array([int(d["label"]) for d in prediction], np.int64),
        pred_score=np.array([float(d["score"]) for d in prediction], np.float64),
        pred_pixels=p.sum(axis=1),
        overlap=np.rint(tf @ pf.T).astype(np.int64), charge_overlap=(tf * charge) @ pf.T)


def _best_fraction(num: np.ndarray, den: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per row, max over the selected columns of num / den (0 without columns; nan if den 0)."""
    best = num[:, cols].max(axis=1) if cols.any() else np.zeros(num.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, best / np.where(den > 0, den, 1), np.nan)


def efficiencies(m: EventMatch, score_threshold: float = 0.4,
                 pred_labels: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pixel, charge) efficiency of every truth from the predictions scoring above the
    threshold (and of ``pred_labels`` only, when given); nan for a truth without pixels."""
    use = m.pred_score > score_threshold
    if pred_labels is not None:
        use &= np.isin(m.pred_label, pred_labels)
    return (_best_fraction(m.overlap, m.truth_pixels, use),
            _best_fraction(m.charge_overlap, m.truth_charge, use))


def purities(m: EventMatch, score_threshold: float = 0.4,
             truth_labels: tuple[int, ...] | None = None) -> np.ndarray:
    """Purity of every prediction (nan for one below the threshold or with only blank
    pixels), against all truths or those of ``truth_labels``."""
    cols = np.ones(len(m.truth_label), bool) if truth_labels is None else \
        np.isin(m.truth_label, truth_labels)
    pur = _best_fraction(m.overlap.T, m.pred_pixels, cols)
    return np.where(m.pred_score > score_threshold, pur, np.nan)


def _mean(x) -> float:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


# ------------------------------------------------------------------- evaluator
@dataclass
class _Records:
    truth_class: list = field(default_factory=list)
    truth_eff: list = field(default_factory=list)
    truth_charge_eff: list = field(default_factory=list)
    pred_class: list = field(default_factory=list)
    pred_purity: list = field(default_factory=list)
    nu_eff: list = field(default_factory=list)
    nu_charge_eff: list = field(default_factory=list)
    nu_purity: list = field(default_factory=list)
    event_eff: list = field(default_factory=list)
    event_purity: list = field(default_factory=list)
    event_truths: list = field(default_factory=list)
    event_covered: list = field(default_factory=list)
    event_category: list = field(default_factory=list)
    # best score of a neutrino-class prediction (any / covering a neutrino), -inf without
    event_nu_score: list = field(default_factory=list)
    event_found_score: list = field(default_factory=list)


class InstanceEvaluator:
    """The metrics of the module doc, accumulated over events: ``reset`` / ``process`` /
    ``evaluate``."""

    def __init__(self, config: InstanceMetricsConfig | None = None) -> None:
        self.config = config or InstanceMetricsConfig()
        self.reset()

    def reset(self) -> None:
        self.records = _Records()

    def process(self, prediction, truth, adc, category: str | None = None) -> EventMatch:
        """Add one image. ``category``: the event's (``larseg.metrics.cosmic.category``, or an
        item's ``category``); by default "cosmic_only" without a neutrino truth, else
        "neutrino". Returns the event's overlaps."""
        cfg, rec = self.config, self.records
        m = match(prediction, truth, adc, cfg.min_adc)
        nu = int(InstanceClass.NEUTRINO)
        eff, ceff = efficiencies(m, cfg.score_threshold)
        pur = purities(m, cfg.score_threshold)
        counted = np.isfinite(eff)
        rec.truth_class += m.truth_label[counted].tolist()
        rec.truth_eff += eff[counted].tolist()
        rec.truth_charge_eff += ceff[counted].tolist()
        above = m.pred_score > cfg.score_threshold
        rec.pred_class += m.pred_label[above].tolist()
        rec.pred_purity += pur[above].tolist()
        is_nu = (m.truth_label == nu) & counted
        nu_eff, nu_ceff = efficiencies(m, cfg.score_threshold, pred_labels=(nu,))
        rec.nu_eff += nu_eff[is_nu].tolist()
        rec.nu_charge_eff += nu_ceff[is_nu].tolist()
        nu_pur = purities(m, cfg.score_threshold, truth_labels=(nu,))
        rec.nu_purity += nu_pur[above & (m.pred_label == nu)].tolist()
        rec.event_eff.append(_mean(eff))
        rec.event_purity.append(_mean(pur))
        rec.event_truths.append(int(counted.sum()))
        rec.event_covered.append(int((eff[counted] > cfg.coverage_threshold).sum()))
        if category is None:
            category = "neutrino" if is_nu.any() else COSMIC_ONLY
        rec.event_category.append(str(category))
        # the rejection curve uses every prediction, whatever its score
        nu_pred = m.pred_label == nu
        rec.event_nu_score.append(float(m.pred_score[nu_pred].max()) if nu_pred.any()
                                  else -np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = m.overlap[is_nu] / m.truth_pixels[is_nu, None]
        covers = nu_pred & (frac >= cfg.found_fraction).any(axis=0) if is_nu.any() else \
            np.zeros_like(nu_pred)
        rec.event_found_score.append(float(m.pred_score[covers].max()) if covers.any()
                                     else -np.inf)
        return m

    def rejection_curve(self) -> list[dict]:
        """Per score threshold: cosmic-only rejection, and found / selected fractions per
        other event category."""
        rec = self.records
        cats = np.array(rec.event_category)
        nu_score, found = np.array(rec.event_nu_score), np.array(rec.event_found_score)
        cosmic = cats == COSMIC_ONLY
        signal = sorted(set(cats.tolist()) - {COSMIC_ONLY})
        rows = []
        for t in self.config.thresholds:
            row = {"threshold": float(t),
                   "rejection": float((nu_score[cosmic] <= t).mean()) if cosmic.any()
                   else float("nan"),
                   "efficiency": {c: float((found[cats == c] > t).mean()) for c in signal},
                   "selected": {c: float((nu_score[cats == c] > t).mean()) for c in signal}}
            rows.append(row)
        return rows

    def evaluate(self) -> dict:
        cfg, rec = self.config, self.records
        eff, ceff = np.array(rec.truth_eff), np.array(rec.truth_charge_eff)
        cls = np.array(rec.truth_class, np.int64)
        pcls = np.array(rec.pred_class, np.int64)
        pur = np.array(rec.pred_purity)
        n_truths, n_covered = np.array(rec.event_truths), np.array(rec.event_covered)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac_cov = np.where(n_truths > 0, n_covered / np.maximum(n_truths, 1), np.nan)
        by_class = {}
        for c in InstanceClass:
            sel = cls == c
            if sel.any() or (pcls == c).any():
                by_class[INSTANCE_NAMES[c]] = {
                    "truths": int(sel.sum()), "efficiency": _mean(eff[sel]),
                    "charge_efficiency": _mean(ceff[sel]),
                    "coverage": float((eff[sel] > cfg.coverage_threshold).mean())
                    if sel.any() else float("nan"),
                    "predictions": int((pcls == c).sum()), "purity": _mean(pur[pcls == c])}
        nu_eff = np.array(rec.nu_eff)
        curve = self.rejection_curve()
        at = min(curve, key=lambda r: abs(r["threshold"] - cfg.score_threshold)) if curve \
            else None
        return {
            "events": len(rec.event_eff), "truths": int(eff.size), "predictions": int(pur.size),
            "blank_predictions": int((~np.isfinite(pur)).sum()),
            "efficiency": _mean(eff), "charge_efficiency": _mean(ceff), "purity": _mean(pur),
            "event_efficiency": _mean(rec.event_eff), "event_purity": _mean(rec.event_purity),
            "coverage": float(n_covered.sum() / n_truths.sum()) if n_truths.sum()
            else float("nan"),
            "event_coverage": _mean(frac_cov),
            "truths_per_event": float(n_truths.mean()) if n_truths.size else float("nan"),
            "covered_per_event": float(n_covered.mean()) if n_covered.size else float("nan"),
            "by_class": by_class,
            "neutrino": {"truths": int(nu_eff.size), "efficiency": _mean(nu_eff),
                         "charge_efficiency": _mean(rec.nu_charge_eff),
                         "missed": float((nu_eff == 0).mean()) if nu_eff.size else float("nan"),
                         "predictions": len(rec.nu_purity), "purity": _mean(rec.nu_purity)},
            "events_by_category": {c: rec.event_category.count(c)
                                   for c in sorted(set(rec.event_category))},
            "rejection_at_score_threshold": at,
            "rejection_curve": curve,
            "config": {"min_adc": cfg.min_adc, "score_threshold": cfg.score_threshold,
                       "coverage_threshold": cfg.coverage_threshold,
                       "found_fraction": cfg.found_fraction},
            "paper": PAPER,
            "distributions": self.distributions(),
        }

    def distributions(self) -> dict[str, list]:
        """The per-truth, per-prediction and per-event values the figures draw."""
        rec = self.records
        return {"truth_class": list(rec.truth_class), "truth_efficiency": list(rec.truth_eff),
                "truth_charge_efficiency": list(rec.truth_charge_eff),
                "prediction_class": list(rec.pred_class),
                "prediction_purity": list(rec.pred_purity),
                "neutrino_efficiency": list(rec.nu_eff),
                "neutrino_purity": list(rec.nu_purity),
                "event_efficiency": list(rec.event_eff), "event_purity": list(rec.event_purity),
                "event_truths": list(rec.event_truths),
                "event_covered": list(rec.event_covered)}


def table(result: dict, name: str = "larseg") -> str:
    """A markdown table of the headline numbers beside the paper's dense and sparse networks."""
    def pct(x) -> str:
        return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"

    d, s = PAPER["dense"], PAPER["sparse"]
    nu = result["neutrino"]
    rows = [("average efficiency (per truth)", result["efficiency"], d["efficiency"],
             s["efficiency"]),
            ("average purity (per prediction)", result["purity"], d["purity"], s["purity"]),
            ("interaction coverage (> 90 %)", result["coverage"], d["coverage"], s["coverage"]),
            ("charge efficiency", result["charge_efficiency"], None, None),
            ("neutrino efficiency", nu["efficiency"], None,
             PAPER["sparse_neutrino"]["efficiency"]),
            ("neutrino charge efficiency", nu["charge_efficiency"], None,
             PAPER["sparse_neutrino"]["charge_efficiency"])]
    lines = [f"| metric | {name} | paper dense | paper sparse |", "|---|---|---|---|"]
    lines += [f"| {a} | {pct(b)} | {pct(c)} | {pct(e)} |" for a, b, c, e in rows]
    return "\n".join(lines)


__all__ = ["InstanceEvaluator", "InstanceMetricsConfig", "EventMatch", "match", "efficiencies",
           "purities", "table", "PAPER", "INSTANCE_NAMES", "COSMIC_ONLY"]
