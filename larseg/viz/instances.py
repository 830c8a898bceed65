"""sMask-RCNN's pictures: the per-event efficiency-purity histogram (the paper's Figs. 8, 9),
per-truth efficiency per class (Figs. 10, 11), interaction coverage (Figs. 14-17), cosmic
rejection against neutrino efficiency over the score threshold, and an event display of
predicted masks, boxes, classes and scores over the ADC image.

The inputs are what :class:`larseg.metrics.instances.InstanceEvaluator` gives (its
``evaluate()["distributions"]`` and ``rejection_curve()``). Figures are built on
``matplotlib.figure.Figure`` (no pyplot state); each ``*_figure`` writes a PNG and returns its
path, and the ``draw_*`` functions that fill one axes return the numbers they drew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..labels import InstanceClass
from ..metrics.instances import COSMIC_ONLY, INSTANCE_NAMES, PAPER
from .colors import adc_norm

#: one colour per InstanceClass in the per-class plots (cosmic grey and neutrino red, as the
#: cosmic tagger's displays; the rest Okabe-Ito)
CLASS_COLORS = ("#7f7f7f", "#e31a1c", "#D55E00", "#0072B2", "#009E73", "#CC79A7")
#: masks of the event display: saturated colours that differ from neighbours
MASK_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#bcbd22", "#393b79", "#e6550d", "#637939")
_FONT = 8
# ADC under coloured masks: greys from light (small charge) to black, never white
_ADC_GREYS = ListedColormap(colormaps["Greys"](np.linspace(0.3, 1.0, 256)), name="greys_dark")


def _figure(w: float, h: float, dpi: int = 110) -> Figure:
    fig = Figure(figsize=(w, h), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, facecolor="white")
    return path


def _finite(*arrays) -> list[np.ndarray]:
    a = [np.asarray(x, np.float64) for x in arrays]
    ok = np.logical_and.reduce([np.isfinite(x) for x in a])
    return [x[ok] for x in a]


# ------------------------------------------------------------ Figs. 8 and 9
def draw_efficiency_purity(ax, event_efficiency, event_purity, bins: int = 20) -> np.ndarray:
    """2D histogram of per-event average efficiency (x) and purity (y); events lacking either
    (no truth, or no prediction) are left out. Returns the (bins, bins) counts, x first."""
    eff, pur = _finite(event_efficiency, event_purity)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _, _ = np.histogram2d(eff, pur, bins=(edges, edges))
    shown = np.ma.masked_equal(counts.T, 0)  # empty cells white
    mesh = ax.pcolormesh(edges, edges, shown, cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label="events")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="average efficiency per event",
           ylabel="average purity per event")
    if eff.size:
        ax.set_title(f"{eff.size} events · mean efficiency {eff.mean():.3f}, "
                     f"purity {pur.mean():.3f}", fontsize=_FONT + 1)
    return counts


def efficiency_purity_figure(event_efficiency, event_purity, path: str | Path,
                             title: str = "", bins: int = 20) -> Path:
    """The paper's Figs. 8 and 9: each event's average efficiency and purity."""
    fig = _figure(5.4, 4.4)
    ax = fig.add_subplot()
    draw_efficiency_purity(ax, event_efficiency, event_purity, bins)
    if title:
        fig.suptitle(title, fontsize=_FONT + 2)
    fig.tight_layout()
    return _save(fig, path)


# ----------------------------------------------------------- Figs. 10 and 11
def draw_efficiency_by_class(ax, truth_efficiency, truth_class, bins: int = 20,
                             xlabel: str = "pixel efficiency") -> dict[str, np.ndarray]:
    """Per-truth efficiency histograms, one per class present (counts, so that each integrates
    to that class's number of truths, as the paper's). Returns the counts per class name."""
    eff = np.asarray(truth_efficiency, np.float64)
    cls = np.asarray(truth_class, np.int64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = {}
    for c in InstanceClass:
        sel = (cls == c) & np.isfinite(eff)
        if not sel.any():
            continue
        name = INSTANCE_NAMES[c]
        counts, _ = np.histogram(eff[sel], bins=edges)
        ax.stairs(counts, edges, color=CLASS_COLORS[c], lw=1.5,
                  label=f"{name} ({int(sel.sum())}, mean {eff[sel].mean():.3f})")
        out[name] = counts
    ax.set(xlim=(0, 1), xlabel=xlabel, ylabel="truth interactions")
    if out:
        ax.legend(fontsize=_FONT - 1, loc="upper center")
    return out


def efficiency_by_class_figure(distributions: dict, path: str | Path, title: str = "",
                               bins: int = 20) -> Path:
    """The paper's Figs. 10 (pixel) and 11 (charge) side by side, per class."""
    fig = _figure(10.0, 3.8)
    axes = fig.subplots(1, 2)
    draw_efficiency_by_class(axes[0], distributions["truth_efficiency"],
                             distributions["truth_class"], bins, "pixel efficiency")
    draw_efficiency_by_class(axes[1], distributions["truth_charge_efficiency"],
                             distributions["truth_class"], bins, "charge efficiency")
    if title:
        fig.suptitle(title, fontsize=_FONT + 2)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------- Figs. 14 to 17
def draw_coverage(ax, event_truths, event_covered) -> np.ndarray:
    """Covered against true interactions per event, with the ideal y = x. Returns the counts
    (truths × covered, indexed from 0)."""
    n = np.asarray(event_truths, np.int64)
    k = np.asarray(event_covered, np.int64)
    top = int(max(n.max(initial=0), 1))
    edges = np.arange(top + 2) - 0.5
    counts, _, _ = np.histogram2d(n, k, bins=(edges, edges))
    mesh = ax.pcolormesh(edges, edges, np.ma.masked_equal(counts.T, 0), cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label="events")
    ax.plot([0, top], [0, top], "k--", lw=0.8)
    ax.set(xlabel="true interactions", ylabel="interactions covered (efficiency > 90 %)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return counts


def coverage_figure(distributions: dict, path: str | Path, title: str = "") -> Path:
    """The paper's Figs. 14-15 (covered vs true interactions) and 16-17 (covered fraction)."""
    fig = _figure(10.0, 3.8)
    axes = fig.subplots(1, 2)
    n = np.asarray(distributions["event_truths"], np.float64)
    k = np.asarray(distributions["event_covered"], np.float64)
    draw_coverage(axes[0], n, k)
    frac = k[n > 0] / n[n > 0]
    axes[1].hist(frac, bins=np.linspace(0, 1, 21), histtype="step", color="k")
    axes[1].set(xlim=(0, 1), xlabel="fraction of interactions covered", ylabel="events",
                title=f"coverage {k.sum() / max(n.sum(), 1):.3f} "
                      f"({k.mean() if k.size else 0:.2f} of {n.mean() if n.size else 0:.2f} "
                      f"per event)")
    if title:
        fig.suptitle(title, fontsize=_FONT + 2)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------- rejection curve
def draw_rejection_curve(ax, curve: Sequence[dict], score_threshold: float = 0.4
                         ) -> dict[str, np.ndarray]:
    """Cosmic-only rejection (y) against the found fraction of each event category (x) over
    the score threshold; the point at ``score_threshold`` starred, Wire-Cell's marked. Returns
    the (efficiency, rejection) arrays per category."""
    rej = np.array([r["rejection"] for r in curve], np.float64)
    thr = np.array([r["threshold"] for r in curve], np.float64)
    cats = sorted({c for r in curve for c in r["efficiency"]})
    at = int(np.argmin(np.abs(thr - score_threshold))) if thr.size else 0
    out = {}
    for i, c in enumerate(cats):
        eff = np.array([r["efficiency"].get(c, np.nan) for r in curve], np.float64)
        colour = MASK_PALETTE[i % len(MASK_PALETTE)]
        ax.plot(eff, rej, "-", color=colour, lw=1.2, label=c)
        ax.plot(eff[at], rej[at], "*", ms=10, color=colour)
        out[c] = np.stack([eff, rej])
    wc = PAPER["wirecell"]
    ax.plot(wc["nue_efficiency"], wc["rejection"], "kx", ms=8,
            label="Wire-Cell (paper): νe CC")
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="events whose neutrino is found",
           ylabel=f"{COSMIC_ONLY.replace('_', '-')} events rejected",
           title=f"over the score threshold (★: {score_threshold:g})")
    ax.legend(fontsize=_FONT - 1, loc="lower left")
    return out


def rejection_curve_figure(curve: Sequence[dict], path: str | Path, title: str = "",
                           score_threshold: float = 0.4) -> Path:
    fig = _figure(5.0, 4.4)
    draw_rejection_curve(fig.add_subplot(), curve, score_threshold)
    if title:
        fig.suptitle(title, fontsize=_FONT + 2)
    fig.tight_layout()
    return _save(fig, path)


# ----------------------------------------------------------- event display
def _pool_max(values: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Max-pool an (H, W) array onto ``out_shape`` cells (a 1-pixel track stays visible)."""
    h, w = values.shape
    oh, ow = out_shape
    r, c = np.nonzero(values)
    out = np.zeros(out_shape, values.dtype)
    np.maximum.at(out, (r * oh // h, c * ow // w), values[r, c])
    return out


def _mask_array(mask, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if m.dtype == bool:
        return m
    out = np.zeros(shape, bool)
    m = m.astype(np.int64)
    if m.ndim == 2 and m.shape[1] == 2:
        out[m[:, 0], m[:, 1]] = True
    else:
        out.reshape(-1)[m.reshape(-1)] = True
    return out


def _box_of(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    r, c = np.nonzero(mask)
    if r.size == 0:
        return None
    return float(c.min()), float(r.min()), float(c.max() + 1), float(r.max() + 1)


# display layout, in inches: fixed margins so that the axes' size in pixels is known
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.75, 0.25, 0.55, 0.4


def instance_color(i: int) -> str:
    """The colour of the ``i``-th instance shown (the PNG's and the HTML page's)."""
    return MASK_PALETTE[i % len(MASK_PALETTE)]


def _as_prediction(p) -> dict:
    """A prediction dict (``mask``, ``label``, ``score``, optional ``box``) of a dict or of a
    record with ``coords`` (N, 2) (row, wire), ``label``, ``score`` and ``box`` (the
    :class:`larseg.train.predict_detection.InstanceRecord` that ``read_instances`` gives)."""
    if isinstance(p, dict):
        return p
    return {"mask": p.coords, "label": p.label, "score": p.score, "box": p.box}


def _dense_adc(adc) -> np.ndarray:
    """(H, W) float32 of an (H, W) / (1, H, W) array or tensor, or of a
    :class:`~larseg.event.PlaneImage` (its pixels made dense)."""
    if hasattr(adc, "coords") and hasattr(adc, "meta"):
        out = np.zeros(adc.meta.shape, np.float32)
        out[adc.coords[:, 0], adc.coords[:, 1]] = adc.values
        return out
    a = np.asarray(adc.detach().cpu() if hasattr(adc, "detach") else adc, np.float32)
    return a[0] if a.ndim == 3 else a


def instance_figure(adc, predictions: Sequence, *, score_threshold: float = 0.0,
                    class_names: Sequence[str] = INSTANCE_NAMES, width: float = 12.0,
                    dpi: int = 100, title: str = "") -> Figure:
    """The ADC image (grey, log scale, white where empty: the masks' colours stand out) with
    each prediction scoring above ``score_threshold``: its mask tinted in its own colour
    (:func:`instance_color` of its rank among those shown), its box (``box`` [x1, y1, x2, y2]
    end-exclusive, else the mask's) and "class score" above the box. Rows (time) go up.
    ``adc``: (H, W) or (1, H, W) array or tensor, or a PlaneImage. A prediction is a dict whose
    ``mask`` is bool (H, W), flat pixel indices or (row, wire) pairs, or a record of
    ``larseg.train.predict_detection.read_instances``."""
    a = _dense_adc(adc)
    predictions = [_as_prediction(p) for p in predictions]
    h, w = a.shape
    ax_w = width - _LEFT - _RIGHT
    ax_h = ax_w * float(np.clip(h / w, 0.25, 1.0))
    fig = _figure(width, ax_h + _BOTTOM + _TOP, dpi)
    fh = ax_h + _BOTTOM + _TOP
    ax = fig.add_axes((_LEFT / width, _BOTTOM / fh, ax_w / width, ax_h / fh))
    # pooled onto at most the axes' pixels (max-pooling keeps 1-pixel tracks visible)
    px = (min(max(int(ax_h * dpi), 1), h), min(max(int(ax_w * dpi), 1), w))
    extent = (-0.5, w - 0.5, -0.5, h - 0.5)
    pooled = _pool_max(a, px)
    rgba = _ADC_GREYS(adc_norm([a[a > 0]])(np.where(pooled > 0, pooled, np.nan)))
    rgba[pooled <= 0] = (1.0, 1.0, 1.0, 1.0)
    ax.imshow(rgba, origin="lower", interpolation="nearest", aspect="auto", extent=extent)
    shown = [p for p in predictions if float(p["score"]) > score_threshold]
    for i, p in enumerate(shown):
        colour = instance_color(i)
        m = _mask_array(p["mask"], (h, w))
        tint = np.zeros(px + (4,))
        tint[_pool_max(m.astype(np.uint8), px) > 0] = to_rgba(colour, 0.6)
        ax.imshow(tint, origin="lower", interpolation="nearest", aspect="auto", extent=extent)
        box = p.get("box")
        box = _box_of(m) if box is None else tuple(float(v) for v in np.asarray(box))
        if box is None:
            continue
        x1, y1, x2, y2 = box
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                               edgecolor=colour, lw=1.2))
        label = int(p["label"])
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        top = y2 < 0.95 * h  # room above the box; else the text goes below it
        ax.text(x1 - 0.5, (y2 if top else y1) - 0.5, f"{name} {float(p['score']):.2f}",
                color=colour, fontsize=_FONT, va="bottom" if top else "top", ha="left",
                weight="bold", clip_on=True)
    ax.set(xlim=extent[:2], ylim=extent[2:])
    ax.set_xlabel("wire", fontsize=_FONT + 1)
    ax.set_ylabel("time (row)", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    ax.set_title(title or f"{len(shown)} predictions (score > {score_threshold:g})",
                 fontsize=_FONT + 2, loc="left")
    return fig


def render_instance_png(adc, predictions: Sequence, path: str | Path, **kwargs) -> Path:
    """Write :func:`instance_figure` as a PNG; returns its path."""
    return _save(instance_figure(adc, predictions, **kwargs), path)


__all__ = ["draw_efficiency_purity", "efficiency_purity_figure", "draw_efficiency_by_class",
           "efficiency_by_class_figure", "draw_coverage", "coverage_figure",
           "draw_rejection_curve", "rejection_curve_figure", "instance_figure",
           "render_instance_png", "instance_color", "CLASS_COLORS", "MASK_PALETTE"]
