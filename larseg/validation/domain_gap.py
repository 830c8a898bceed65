"""Domain-gap report: how the images of two (or more) file sets differ, plane by plane.

What a network trained on one set would notice on another: how many pixels pass the usual
thresholds, the ADC distribution (overall and per label class when labels exist), the fraction of
background (noise) pixels, how many long tracks an image holds
(:mod:`larseg.validation.track_count`), how wide tracks are across wires, and how much charge a
wire collects from a track (the "hit" charge: consecutive rows above threshold on one wire,
summed, whose median is the MIP's charge per wire on a cosmic-dominated image). Each statistic
gets a distance: the Kolmogorov–Smirnov distance between the two distributions (0 = same,
1 = disjoint), or for a per-event count the relative difference of the medians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..event import Event
from ..labels import CosmicLabel
from .track_count import long_tracks

#: Thresholds (ADC) at which pixels are counted: SBND's zero suppression, the networks' cut.
COUNT_THRESHOLDS = (5.0, 10.0, 50.0)
_PLANE_NAMES = ("U", "V", "Y")
TRACKS = "long tracks ≥ 100 px (median per event)"
COSMIC_TRACKS = "long cosmic-labelled tracks (median per event)"


@dataclass
class PlaneSample:
    """What one file set shows on one plane, accumulated over its events."""

    counts: dict[float, list[int]] = field(default_factory=lambda: {t: [] for t in
                                                                    COUNT_THRESHOLDS})
    adc: list[np.ndarray] = field(default_factory=list)
    adc_by_class: dict[str, list[np.ndarray]] = field(default_factory=dict)
    background_fraction: list[float] = field(default_factory=list)
    hit_charge: list[np.ndarray] = field(default_factory=list)
    run_length: list[np.ndarray] = field(default_factory=list)
    tracks: list[int] = field(default_factory=list)          # long clusters per event
    cosmic_tracks: list[int] = field(default_factory=list)   # the same, cosmic-labelled pixels

    def array(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0)


def hits(coords: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Charge of each run of consecutive rows on one wire (a hit), for the given pixels."""
    if len(values) == 0:
        return np.zeros(0)
    order = np.lexsort((coords[:, 0], coords[:, 1]))
    r, c, v = coords[order, 0], coords[order, 1], values[order].astype(np.float64)
    start = np.ones(len(v), bool)
    start[1:] = (c[1:] != c[:-1]) | (r[1:] - r[:-1] > 1)
    return np.add.reduceat(v, np.flatnonzero(start))


def run_lengths(coords: np.ndarray) -> np.ndarray:
    """Lengths of runs of consecutive wires in one row (a track's width across wires)."""
    if len(coords) == 0:
        return np.zeros(0)
    order = np.lexsort((coords[:, 1], coords[:, 0]))
    r, c = coords[order, 0], coords[order, 1]
    start = np.ones(len(r), bool)
    start[1:] = (r[1:] != r[:-1]) | (c[1:] - c[:-1] > 1)
    idx = np.flatnonzero(start)
    return np.diff(np.append(idx, len(r))).astype(np.float64)


def accumulate(events: Sequence[Event] | object, threshold: float = 10.0,
               max_events: int = 20) -> dict[int, PlaneSample]:
    """Per-plane samples of up to ``max_events`` events (pixels ≥ ``threshold`` for the
    distributions)."""
    out: dict[int, PlaneSample] = {}
    n = 0
    for ev in events:
        if n >= max_events:
            break
        n += 1
        for img in ev.planes:
            s = out.setdefault(img.plane, PlaneSample())
            v = img.values
            for t in COUNT_THRESHOLDS:
                s.counts[t].append(int((v >= t).sum()))
            sel = v >= threshold
            s.adc.append(v[sel].astype(np.float64))
            s.hit_charge.append(hits(img.coords[sel], v[sel]))
            s.run_length.append(run_lengths(img.coords[sel]))
            shape = (img.meta.n_ticks, img.meta.n_wires)
            s.tracks.append(long_tracks(img.coords[sel], shape))
            if img.cosmic is not None and sel.any():
                lab = img.cosmic[sel]
                s.cosmic_tracks.append(long_tracks(img.coords[sel][lab == CosmicLabel.COSMIC],
                                                   shape))
                s.background_fraction.append(float((lab == CosmicLabel.BACKGROUND).mean()))
                for code, name in ((1, "cosmic"), (2, "neutrino")):
                    s.adc_by_class.setdefault(name, []).append(v[sel][lab == code])
    return out


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance: the largest gap between the two empirical CDFs."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def _q(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if x.size else float("nan")


def statistics(s: PlaneSample) -> dict[str, float]:
    """The numbers the report's table shows for one plane of one set."""
    adc, hc, rl = s.array("adc"), s.array("hit_charge"), s.array("run_length")
    out = {f"pixels ≥ {t:g} ADC (median per event)": float(np.median(c)) if c else float("nan")
           for t, c in s.counts.items()}
    out.update({"ADC median": _q(adc, 50), "ADC 90th percentile": _q(adc, 90),
                "hit charge median (ADC per wire)": _q(hc, 50),
                "track width across wires (mean run)": float(rl.mean()) if rl.size else float("nan")})
    out[TRACKS] = float(np.median(s.tracks)) if s.tracks else float("nan")
    if s.cosmic_tracks:
        out[COSMIC_TRACKS] = float(np.median(s.cosmic_tracks))
    if s.background_fraction:
        out["background fraction"] = float(np.mean(s.background_fraction))
    for name, parts in s.adc_by_class.items():
        x = np.concatenate(parts) if parts else np.zeros(0)
        out[f"ADC median, {name}"] = _q(x, 50)
    return out


def distances(a: PlaneSample, b: PlaneSample) -> dict[str, float]:
    """Distance per statistic between two sets on one plane."""
    d = {}
    for t in COUNT_THRESHOLDS:
        ma, mb = np.median(a.counts[t] or [np.nan]), np.median(b.counts[t] or [np.nan])
        d[f"pixels ≥ {t:g} ADC (median per event)"] = float(abs(ma - mb) / max(ma, mb, 1e-9))
    d["ADC median"] = d["ADC 90th percentile"] = ks_distance(a.array("adc"), b.array("adc"))
    d["hit charge median (ADC per wire)"] = ks_distance(a.array("hit_charge"),
                                                        b.array("hit_charge"))
    d["track width across wires (mean run)"] = ks_distance(a.array("run_length"),
                                                           b.array("run_length"))
    for key, name in ((TRACKS, "tracks"), (COSMIC_TRACKS, "cosmic_tracks")):
        ma, mb = getattr(a, name), getattr(b, name)
        if ma and mb:
            ma, mb = float(np.median(ma)), float(np.median(mb))
            d[key] = abs(ma - mb) / max(ma, mb, 1e-9)
    return d


def report(sets: dict[str, dict[int, PlaneSample]]) -> dict:
    """JSON-able report: per plane, each set's statistics and each set's distances to the
    first set (the reference)."""
    names = list(sets)
    ref = names[0]
    planes = sorted(set().union(*(s.keys() for s in sets.values())))
    out = {"reference": ref, "sets": names, "planes": []}
    for p in planes:
        entry = {"plane": p, "name": _PLANE_NAMES[p] if p < 3 else str(p), "statistics": {},
                 "distance_to_reference": {}}
        for name in names:
            if p in sets[name]:
                entry["statistics"][name] = statistics(sets[name][p])
                if name != ref and p in sets[ref]:
                    entry["distance_to_reference"][name] = distances(sets[ref][p], sets[name][p])
        out["planes"].append(entry)
    return out


def figure(sets: dict[str, dict[int, PlaneSample]], path: Path) -> Path:
    """Side-by-side histograms per plane: pixel ADC, hit charge, track width."""
    import matplotlib.pyplot as plt

    planes = sorted(set().union(*(s.keys() for s in sets.values())))
    fig, axes = plt.subplots(len(planes), 3, figsize=(12, 3 * len(planes)), squeeze=False)
    panels = (("adc", "pixel ADC", np.linspace(0, 300, 61)),
              ("hit_charge", "hit charge (ADC per wire)", np.linspace(0, 600, 61)),
              ("run_length", "run across wires (pixels)", np.arange(0.5, 15.5)))
    for row, p in enumerate(planes):
        for col, (attr, label, bins) in enumerate(panels):
            ax = axes[row][col]
            for name, s in sets.items():
                if p in s:
                    x = s[p].array(attr)
                    if x.size:
                        ax.hist(x, bins=bins, histtype="step", density=True, label=name)
            ax.set(xlabel=label, ylabel="density",
                   title=f"plane {_PLANE_NAMES[p] if p < 3 else p}")
            ax.set_yscale("log")
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
