"""Colour conventions of the event displays (shared by the PNG and the HTML renderers).

- cosmic-tagger labels: white background, grey cosmic, red neutrino (SBND paper, Fig. 5);
- SparseSSNet classes: five distinct colours (Okabe-Ito based, readable by most colour-blind
  viewers) for HIP/MIP/shower/delta/Michel, grey for pixels without a label;
- instances: a cycling 16-colour palette keyed by particle id (neighbouring ids differ);
- ADC: "turbo" (blue for small, red for large charge, as in the SBND paper's Fig. 4) on a log
  scale so that MIPs and Bragg peaks are both visible; loss weights: log scale too (note 1091's
  weights span 2e-4 .. 2e-2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, LogNorm, to_rgba_array

from ..labels import COSMIC_NAMES, NO_LABEL, SEMANTIC_NAMES, TRACK_SHOWER_NAMES

#: Panel fields that hold per-pixel labels (``adc`` is the charge image itself).
LABEL_FIELDS = ("cosmic", "semantic", "track_shower", "instance")
ALL_FIELDS = ("adc",) + LABEL_FIELDS

EMPTY_RGBA = (1.0, 1.0, 1.0, 1.0)     # pixels with no charge: white, like the papers' displays
NO_LABEL_COLOR = "#a6a6a6"            # charge without a label (noise): grey
ZERO_WEIGHT_COLOR = "#d0d0d0"         # pixels whose loss weight is 0: light grey

ADC_CMAP = colormaps["turbo"]
# plasma without its last (yellow) 15 %: the highest weights stay readable on white
WEIGHT_CMAP = ListedColormap(colormaps["plasma"](np.linspace(0.0, 0.85, 256)), name="plasma_dark")

# Okabe & Ito (2008) "Color Universal Design" palette members, one per SparseSSNet class.
_SEMANTIC_COLORS = ("#D55E00",   # HIP: vermillion
                    "#0072B2",   # MIP: blue
                    "#009E73",   # shower: bluish green
                    "#CC79A7",   # delta: reddish purple
                    "#6A3D9A")   # Michel: dark violet (yellow would vanish on white)
_COSMIC_COLORS = ("#ffffff", "#7f7f7f", "#e31a1c")          # SBND Fig. 5: white / grey / red
_TRACK_SHOWER_COLORS = ("#0072B2", "#E69F00")               # track blue, shower orange
# saturated colours only (pastels vanish on white), ordered so consecutive ids contrast
_INSTANCE_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                     "#e377c2", "#17becf", "#bcbd22", "#393b79", "#e6550d", "#637939",
                     "#843c39", "#7b4173", "#3182bd", "#8c6d31")


@dataclass(frozen=True)
class LabelScheme:
    """How one label field is coloured: fixed classes, or (instance) a cycling palette."""

    field: str
    values: tuple[int, ...]         # class codes, in legend order
    names: tuple[str, ...]
    colors: tuple[str, ...]
    draw_order: tuple[int, ...]     # codes from bottom to top (rare classes drawn last)
    cyclic: bool = False            # instance ids: colour = palette[id % len(palette)]
    unlabelled: tuple[int, ...] = (NO_LABEL,)  # codes that mean "no label" (drawn below others)

    def rgba(self, labels: np.ndarray) -> np.ndarray:
        """(N, 4) float colours of label codes; unknown codes get the no-label grey."""
        labels = np.asarray(labels, dtype=np.int64)
        out = np.empty((labels.size, 4), dtype=np.float64)
        out[:] = to_rgba_array(NO_LABEL_COLOR)[0]
        if self.cyclic:
            pal = to_rgba_array(list(self.colors))
            ok = labels >= 0
            out[ok] = pal[labels[ok] % len(pal)]
            return out
        for code, color in zip(self.values, self.colors):
            out[labels == code] = to_rgba_array(color)[0]
        return out

    def color_of(self, code: int) -> str:
        if self.cyclic:
            return self.colors[code % len(self.colors)] if code >= 0 else NO_LABEL_COLOR
        for v, c in zip(self.values, self.colors):
            if v == code:
                return c
        return NO_LABEL_COLOR

    def name_of(self, code: int) -> str:
        for v, n in zip(self.values, self.names):
            if v == code:
                return n
        return f"particle {code}" if self.cyclic and code >= 0 else "no label"

    def is_signal(self, labels: np.ndarray) -> np.ndarray:
        """Pixels that carry a real label (they win over unlabelled ones when pooling)."""
        return ~np.isin(np.asarray(labels), self.unlabelled)


COSMIC_SCHEME = LabelScheme(
    "cosmic", (0, 1, 2), COSMIC_NAMES, _COSMIC_COLORS, draw_order=(0, 1, 2), unlabelled=(0,))
SEMANTIC_SCHEME = LabelScheme(
    "semantic", (0, 1, 2, 3, 4, NO_LABEL), SEMANTIC_NAMES + ("no label",),
    _SEMANTIC_COLORS + (NO_LABEL_COLOR,), draw_order=(NO_LABEL, 1, 2, 0, 3, 4))
TRACK_SHOWER_SCHEME = LabelScheme(
    "track_shower", (0, 1, NO_LABEL), TRACK_SHOWER_NAMES + ("no label",),
    _TRACK_SHOWER_COLORS + (NO_LABEL_COLOR,), draw_order=(NO_LABEL, 0, 1))
INSTANCE_SCHEME = LabelScheme(
    "instance", (NO_LABEL,), ("no particle",), _INSTANCE_PALETTE, draw_order=(NO_LABEL,),
    cyclic=True)

SCHEMES = {"cosmic": COSMIC_SCHEME, "semantic": SEMANTIC_SCHEME,
           "track_shower": TRACK_SHOWER_SCHEME, "instance": INSTANCE_SCHEME}


def scheme_for(field: str) -> LabelScheme:
    try:
        return SCHEMES[field]
    except KeyError:
        raise ValueError(f"no colour scheme for field '{field}'; label fields are "
                         f"{', '.join(LABEL_FIELDS)}") from None


def adc_norm(values: list[np.ndarray], adc_range: tuple[float, float] | None = None,
             signal: list[np.ndarray | None] | None = None) -> LogNorm:
    """Log colour scale for ADC shared by all planes of an event, centred on the MIP scale.

    The typical charge of a pixel on a particle's track (the median of the labelled pixels, or
    of the upper half of all pixels when there are no labels: most charge is MIP-like) sits in
    the middle of the scale, which spans a factor 8 either way: noise shows dark blue, MIPs
    green, Bragg peaks and showers' dense cores red (the SBND paper's Fig. 4 colours).
    """
    if adc_range is not None:
        lo, hi = float(adc_range[0]), float(adc_range[1])
        if not (0 < lo < hi):
            raise ValueError(f"adc_range must be 0 < low < high, got {adc_range}")
        return LogNorm(lo, hi, clip=True)
    picked = []
    for i, v in enumerate(values):
        v = np.asarray(v, np.float64).ravel()
        m = None if signal is None else signal[i]
        if m is not None and m.any():
            picked.append(v[m])
        elif v.size:
            picked.append(v[v >= np.median(v)])
    allv = np.concatenate(picked) if picked else np.zeros(0)
    allv = allv[np.isfinite(allv) & (allv > 0)]
    if allv.size == 0:
        return LogNorm(1.0, 100.0, clip=True)
    mip = float(np.median(allv))
    return LogNorm(mip / _ADC_HALF_DECADES, mip * _ADC_HALF_DECADES, clip=True)


_ADC_HALF_DECADES = 8.0  # scale spans [MIP / 8, MIP × 8]: Bragg peaks reach ~5-10 × MIP


def weight_norm(values: list[np.ndarray]) -> LogNorm:
    """Log colour scale over the positive loss weights (zero weights are drawn apart)."""
    allv = np.concatenate([np.asarray(v, np.float64).ravel() for v in values] or [np.zeros(0)])
    allv = allv[np.isfinite(allv) & (allv > 0)]
    if allv.size == 0:
        return LogNorm(1e-4, 1e-2, clip=True)
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo * 1.0001:
        lo, hi = lo / 3.0, hi * 3.0
    return LogNorm(lo, hi, clip=True)
