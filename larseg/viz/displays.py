"""PNG event displays with matplotlib (Agg, no pyplot state): planes × panels grids.

Rows are planes, columns are panels (ADC, truth labels, prediction, loss weight), as in note
1091's Fig. 6 ("pixel intensity, truth label, weight, prediction") and the SBND paper's Figs. 4/5.
The sparse pixels are max-pooled onto a raster no larger than the axes' pixel size before
drawing, so a 1-pixel track of a 3456-wire image never disappears when downscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from ..event import Event, PlaneImage
from .colors import (ADC_CMAP, EMPTY_RGBA, WEIGHT_CMAP, ZERO_WEIGHT_COLOR, adc_norm, weight_norm)
from .panels import (Panel, Region, build_panels, detector_title, instance_label,
                     interaction_summary, plane_title, pool_sparse, resolve_zoom, select_planes,
                     signal_mask)

# Layout, in inches: fixed margins so that every axes' size in pixels is known before drawing.
_LEFT, _RIGHT, _COLGAP = 0.85, 0.3, 0.85
_TOP, _TITLE, _XAXIS, _KEY = 0.8, 0.3, 0.5, 0.95
_FONT = 8
_MAX_INSTANCE_LEGEND = 8


@dataclass
class _Grid:
    panel_w: float
    panel_h: float
    n_rows: int
    n_cols: int

    @property
    def size(self) -> tuple[float, float]:
        w = _LEFT + self.n_cols * self.panel_w + (self.n_cols - 1) * _COLGAP + _RIGHT
        h = _TOP + self.n_rows * (_TITLE + self.panel_h + _XAXIS) + _KEY
        return w, h

    def box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """Axes rectangle in inches (x0, y0, w, h) from the lower-left corner."""
        x0 = _LEFT + col * (self.panel_w + _COLGAP)
        y0 = _KEY + (self.n_rows - 1 - row) * (_TITLE + self.panel_h + _XAXIS) + _XAXIS
        return x0, y0, self.panel_w, self.panel_h


def event_figure(event: Event, *, fields: Sequence[str] | None = None, prediction: Any = None,
                 prediction_field: str | None = None, weights: Any = None,
                 planes: Sequence[int | str] | None = None, zoom: Any = None, dpi: int = 100,
                 panel_width: float = 5.0, adc_range: tuple[float, float] | None = None,
                 title: str | None = None) -> Figure:
    """Matplotlib Figure of one event: a grid of planes (rows) × panels (columns).

    ``fields``: "adc", "cosmic", "semantic", "track_shower", "instance" (default: ADC and every
    label field the event has). ``prediction``: predicted labels in the encoding of
    ``prediction_field`` (default: the first label field shown), per plane (sequence or dict
    plane -> array) aligned with coords, dense (n_ticks, n_wires), or class scores; ``weights``:
    per-pixel loss weights, same layouts. ``zoom``: (row0, row1, col0, col1), one such tuple per
    plane, or "vertex". ``adc_range``: (low, high) of the log ADC colour scale.
    """
    idx = select_planes(event, planes)
    panels = build_panels(event, idx, fields, prediction, prediction_field, weights)
    regions, zoom_note = resolve_zoom(event, idx, zoom)
    imgs = [event.planes[i] for i in idx]

    r0, r1, c0, c1 = regions[0]
    meta = imgs[0].meta
    if meta.tick_pitch > 0 and meta.wire_pitch > 0:  # physical aspect (cm per pixel differ)
        ratio = (r1 - r0) * meta.tick_pitch / ((c1 - c0) * meta.wire_pitch)
    else:
        ratio = (r1 - r0) / (c1 - c0)
    grid = _Grid(panel_width, panel_width * float(np.clip(ratio, 0.3, 1.0)), len(idx),
                 len(panels))
    # whole pixels (plus a hair, as Agg truncates): the PNG size is exactly figure_size_px
    fw, fh = ((np.round(v * dpi) + 1e-3) / dpi for v in grid.size)
    fig = Figure(figsize=(fw, fh), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)

    in_region = [_in_region(img, reg) for img, reg in zip(imgs, regions)]
    norms = {
        "adc": adc_norm([img.values[m] for img, m in zip(imgs, in_region)], adc_range,
                        [None if s is None else s[m] for s, m in
                         zip(map(signal_mask, imgs), in_region)]),
        "weight": weight_norm([p[m] for pan in panels if pan.kind == "weight"
                               for p, m in zip(pan.per_plane, in_region) if p is not None]),
    }
    time_label = _time_axis_label(event)
    for row, (img, reg) in enumerate(zip(imgs, regions)):
        for col, pan in enumerate(panels):
            x0, y0, w, h = grid.box(row, col)
            ax = fig.add_axes((x0 / fw, y0 / fh, w / fw, h / fh))
            px = (max(int(w * dpi), 1), max(int(h * dpi), 1))
            _draw_panel(ax, img, reg, pan, pan.per_plane[row], norms, px)
            ax.set_title(f"{plane_title(img)} · {pan.title}", fontsize=_FONT + 1, loc="left")
            ax.set_xlabel("wire", fontsize=_FONT)
            ax.set_ylabel(time_label, fontsize=_FONT)
            ax.tick_params(labelsize=_FONT - 1)
            ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(6, integer=True))
            _mark_tpc_boundaries(ax, event, reg)
    for col, pan in enumerate(panels):
        x0 = _LEFT + col * (grid.panel_w + _COLGAP)
        _draw_key(fig, event, pan, norms, in_region, (x0, grid.panel_w), (fw, fh))

    head = title or (f"{detector_title(event)}   run {event.run}, subrun {event.subrun}, "
                     f"event {event.event}")
    sub = "   ".join(s for s in (interaction_summary(event), zoom_note,
                                  "pixels per plane: " + ", ".join(
                                      f"{img.meta.name or img.plane} {len(img)}" for img in imgs))
                     if s)
    fig.text(_LEFT / fw, 1 - 0.3 / fh, head, fontsize=_FONT + 4, weight="bold", va="center")
    fig.text(_LEFT / fw, 1 - 0.6 / fh, sub, fontsize=_FONT + 1, va="center")
    return fig


def render_event_png(event: Event, path: str | Path, *, fields: Sequence[str] | None = None,
                     prediction: Any = None, prediction_field: str | None = None,
                     weights: Any = None, planes: Sequence[int | str] | None = None,
                     zoom: Any = None, dpi: int = 100, panel_width: float = 5.0,
                     adc_range: tuple[float, float] | None = None,
                     title: str | None = None) -> Path:
    """Write the event display as a PNG (see :func:`event_figure`); returns its path."""
    fig = event_figure(event, fields=fields, prediction=prediction,
                       prediction_field=prediction_field, weights=weights, planes=planes,
                       zoom=zoom, dpi=dpi, panel_width=panel_width, adc_range=adc_range,
                       title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white")  # no bbox "tight": the size stays predictable
    return path


def figure_size_px(fig: Figure) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that ``savefig`` writes at the figure's dpi."""
    w, h = fig.bbox.size  # what FigureCanvasAgg allocates (it truncates)
    return int(w), int(h)


# ------------------------------------------------------------------------------ drawing
def _in_region(img: PlaneImage, reg: Region) -> np.ndarray:
    r, c = img.coords[:, 0], img.coords[:, 1]
    return (r >= reg[0]) & (r < reg[1]) & (c >= reg[2]) & (c < reg[3])


def _draw_panel(ax, img: PlaneImage, reg: Region, pan: Panel, data: np.ndarray | None,
                norms: dict[str, LogNorm], px: tuple[int, int]) -> None:
    r0, r1, c0, c1 = reg
    ax.set_xlim(c0 - 0.5, c1 - 0.5)
    ax.set_ylim(r0 - 0.5, r1 - 0.5)
    ax.set_facecolor("white")
    if data is None:
        _note(ax, f"no {pan.key} array for this plane")
        return
    if len(img) == 0:
        _note(ax, "no pixels in this plane")
        return
    out_shape = (min(r1 - r0, px[1]), min(c1 - c0, px[0]))
    if pan.kind == "label":
        keys = (pan.scheme.is_signal(data), img.values)  # labelled charge wins, then the largest
    else:
        keys = (data,)
    rows, cols, win = pool_sparse(img.coords, keys, reg, out_shape)
    if win.size == 0:
        _note(ax, "no pixels in this view")
        return
    if pan.kind == "adc":
        colors = ADC_CMAP(norms["adc"](data[win]))
    elif pan.kind == "weight":
        w = data[win]
        colors = np.empty((w.size, 4))
        colors[:] = to_rgba(ZERO_WEIGHT_COLOR)
        pos = w > 0
        colors[pos] = WEIGHT_CMAP(norms["weight"](w[pos]))
    else:
        colors = pan.scheme.rgba(data[win])
    raster = np.empty(out_shape + (4,), dtype=np.float32)
    raster[:] = EMPTY_RGBA
    raster[rows, cols] = colors
    ax.imshow(raster, origin="lower", interpolation="nearest", aspect="auto",
              extent=(c0 - 0.5, c1 - 0.5, r0 - 0.5, r1 - 0.5))


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=_FONT + 1, color="0.4")


def _draw_key(fig: Figure, event: Event, pan: Panel, norms: dict[str, LogNorm],
              in_region: list[np.ndarray], xspan: tuple[float, float],
              fsize: tuple[float, float]) -> None:
    """Colour bar (ADC, weights) or legend (labels) under a column."""
    (x0, w), (fw, fh) = xspan, fsize
    if pan.kind in ("adc", "weight"):
        cax = fig.add_axes(((x0 + 0.1 * w) / fw, 0.5 / fh, 0.8 * w / fw, 0.12 / fh))
        cmap = ADC_CMAP if pan.kind == "adc" else WEIGHT_CMAP
        cb = fig.colorbar(ScalarMappable(norm=norms[pan.kind], cmap=cmap), cax=cax,
                          orientation="horizontal", extend="both")
        label = ("ADC (log scale; values outside the range clipped)" if pan.kind == "adc"
                 else "loss weight (log scale; grey: weight 0)")
        cb.set_label(label, fontsize=_FONT)
        cb.ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        cb.ax.xaxis.set_minor_locator(NullLocator())
        cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        cb.ax.tick_params(labelsize=_FONT - 1)
        return
    scheme = pan.scheme
    if scheme.cyclic:
        handles = _instance_handles(event, pan, in_region)
    else:
        handles = [Patch(facecolor=c, edgecolor="0.35", linewidth=0.5, label=n)
                   for c, n in zip(scheme.colors, scheme.names)]
    lax = fig.add_axes((x0 / fw, 0.05 / fh, w / fw, (_KEY - 0.1) / fh))
    lax.set_axis_off()
    lax.legend(handles=handles, loc="center", ncol=min(len(handles), 3 if scheme.cyclic else 6),
               fontsize=_FONT, frameon=False, handlelength=1.2, columnspacing=1.0)


def _instance_handles(event: Event, pan: Panel, in_region: list[np.ndarray]) -> list[Patch]:
    ids = np.concatenate([d[m] for d, m in zip(pan.per_plane, in_region) if d is not None]
                         or [np.zeros(0, np.int64)])
    uniq, counts = np.unique(ids[ids >= 0], return_counts=True)
    top = uniq[np.argsort(-counts, kind="stable")][:_MAX_INSTANCE_LEGEND]
    handles = [Patch(facecolor=pan.scheme.color_of(int(i)), label=instance_label(event, int(i)))
               for i in top]
    if uniq.size > top.size:
        handles.append(Patch(facecolor="none", edgecolor="none",
                             label=f"+{uniq.size - top.size} more (colours repeat)"))
    if (ids < 0).any():
        handles.append(Patch(facecolor=pan.scheme.color_of(-1), label="no particle"))
    if not handles:
        handles.append(Patch(facecolor="none", edgecolor="none", label="no particles"))
    return handles


def _time_axis_label(event: Event) -> str:
    try:
        from ..detectors import get_detector
        tpp = get_detector(event.detector.name).readout.ticks_per_pixel
        return f"time tick (row = {tpp} ticks)"
    except Exception:  # a user's own detector: rows only
        return "time tick (row)"


def _mark_tpc_boundaries(ax, event: Event, reg: Region) -> None:
    """Dotted line where two TPCs' readout windows meet (SBND: the cathode, mid-image)."""
    try:
        from ..detectors import get_detector
        det = get_detector(event.detector.name)
    except Exception:
        return
    if len(det.tpcs) < 2:
        return
    edges = {t.row_band[0] for t in det.tpcs} | {t.row_band[1] for t in det.tpcs}
    for e in sorted(edges):
        if reg[0] < e < reg[1]:
            ax.axhline(e - 0.5, color="0.55", lw=0.6, ls=":", zorder=3)

