"""Interactive HTML event displays with plotly: one self-contained page per event.

Every plane is a row, every panel a column; the pixels are drawn as WebGL scatter points (the
images are > 99 % empty, so this is far lighter than heatmaps of 3.5 M cells). The panels of a
plane zoom and pan together, and all planes share the time axis, so zooming into the vertex on
one panel shows it on all. Hovering a pixel shows its wire, time row, ADC and every label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from ..event import Event, PlaneImage
from .colors import WEIGHT_CMAP, ZERO_WEIGHT_COLOR, adc_norm, weight_norm
from .panels import (Panel, build_panels, detector_title, interaction_summary,
                     plane_field, plane_title, resolve_zoom, select_planes, signal_mask)

_PANEL_PX = 460      # width of one panel in the page
_HOVER_FIELDS = ("cosmic", "semantic", "instance")


def event_plotly_figure(event: Event, *, fields: Sequence[str] | None = None,
                        prediction: Any = None, prediction_field: str | None = None,
                        weights: Any = None, planes: Sequence[int | str] | None = None,
                        zoom: Any = None,
                        adc_range: tuple[float, float] | None = None) -> go.Figure:
    """Plotly figure of one event (arguments as for :func:`larseg.viz.event_figure`).

    ``zoom`` only sets the initial view: double-clicking a panel returns to the full image.
    """
    idx = select_planes(event, planes)
    panels = build_panels(event, idx, fields, prediction, prediction_field, weights)
    regions, zoom_note = resolve_zoom(event, idx, zoom)
    imgs = [event.planes[i] for i in idx]
    n_rows, n_cols = len(imgs), len(panels)

    anorm = adc_norm([img.values for img in imgs], adc_range, [signal_mask(i) for i in imgs])
    wnorm = weight_norm([p for pan in panels if pan.kind == "weight"
                         for p in pan.per_plane if p is not None])
    r0, r1, c0, c1 = regions[0]
    m = imgs[0].meta
    ratio = ((r1 - r0) * m.tick_pitch / ((c1 - c0) * m.wire_pitch)
             if m.tick_pitch > 0 and m.wire_pitch > 0 else (r1 - r0) / (c1 - c0))
    panel_h = int(_PANEL_PX * float(np.clip(ratio, 0.45, 1.0)))

    fig = make_subplots(
        rows=n_rows, cols=n_cols, horizontal_spacing=0.05 + 0.02 / n_cols,
        vertical_spacing=min(0.1, 0.35 / n_rows),
        subplot_titles=[f"{plane_title(img)} · {pan.title}" for img in imgs for pan in panels])
    shown: set[str] = set()
    for row, (img, reg) in enumerate(zip(imgs, regions)):
        msize = float(np.clip(_PANEL_PX / max(reg[3] - reg[2], 1) * 1.2, 2.5, 8.0))
        for col, pan in enumerate(panels):
            custom, template = _hover_data(event, img, panels, row, pan)
            for tr in _panel_traces(img, pan, pan.per_plane[row], custom, template, msize,
                                    anorm, wnorm, shown):
                fig.add_trace(tr, row=row + 1, col=col + 1)
            k = row * n_cols + col + 1
            xa, ya = _axis_name("xaxis", k), _axis_name("yaxis", k)
            fig.layout[xa].update(range=[reg[2] - 0.5, reg[3] - 0.5], title_text="wire",
                                  showgrid=False, zeroline=False)
            fig.layout[ya].update(range=[reg[0] - 0.5, reg[1] - 0.5],
                                  title_text="time tick (row)" if col == 0 else None,
                                  showgrid=False, zeroline=False)
            if col > 0:  # the panels of one plane zoom together
                fig.layout[xa].matches = _axis_name("x", row * n_cols + 1)
            if k > 1:    # the planes share the drift time
                fig.layout[ya].matches = "y"

    axes_colors = {}
    if any(p.kind == "adc" for p in panels):
        axes_colors["coloraxis"] = dict(
            colorscale="Turbo", cmin=np.log10(anorm.vmin), cmax=np.log10(anorm.vmax),
            colorbar=dict(title="ADC", tickvals=_log_ticks(anorm.vmin, anorm.vmax),
                          ticktext=_tick_text(anorm.vmin, anorm.vmax), x=1.01, y=0.75, len=0.45))
    if any(p.kind == "weight" for p in panels):
        axes_colors["coloraxis2"] = dict(
            colorscale=_plotly_scale(WEIGHT_CMAP), cmin=np.log10(wnorm.vmin),
            cmax=np.log10(wnorm.vmax),
            colorbar=dict(title="weight", x=1.01, y=0.25, len=0.45,
                          tickvals=_log_ticks(wnorm.vmin, wnorm.vmax),
                          ticktext=_tick_text(wnorm.vmin, wnorm.vmax)))
    fig.update_layout(
        **axes_colors,
        title=dict(text=(f"<b>{detector_title(event)}</b> run {event.run}, subrun "
                         f"{event.subrun}, event {event.event}<br><sup>"
                         f"{interaction_summary(event)} {zoom_note}</sup>"), x=0.01),
        width=120 + n_cols * (_PANEL_PX + 60), height=150 + n_rows * (panel_h + 90),
        plot_bgcolor="white", paper_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.09, x=0.0, font=dict(size=11)),
        margin=dict(l=70, r=90, t=90, b=150),
        hoverlabel=dict(font=dict(size=11)), dragmode="zoom",
    )
    fig.update_annotations(font_size=12)
    return fig


def render_event_html(event: Event, path: str | Path, *, fields: Sequence[str] | None = None,
                      prediction: Any = None, prediction_field: str | None = None,
                      weights: Any = None, planes: Sequence[int | str] | None = None,
                      zoom: Any = None, adc_range: tuple[float, float] | None = None) -> Path:
    """Write a self-contained interactive page (plotly.js inline: works offline)."""
    fig = event_plotly_figure(event, fields=fields, prediction=prediction,
                              prediction_field=prediction_field, weights=weights, planes=planes,
                              zoom=zoom, adc_range=adc_range)
    html = pio.to_html(fig, include_plotlyjs=True, full_html=True,
                       config={"scrollZoom": True, "displaylogo": False})
    html = html.replace("</body>", _CAPTION + "</body>", 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


_CAPTION = (
    "<div style='font-family:sans-serif;font-size:13px;margin:8px 20px;color:#333'>"
    "Drag to zoom (the panels of a plane follow; all planes share the time axis), "
    "double-click to reset, click a legend entry to hide a class. Label codes in the hover: "
    "cosmic 0 background, 1 cosmic, 2 neutrino; semantic 0 HIP, 1 MIP, 2 shower, 3 delta, "
    "4 Michel, -1 none; particle = instance id (-1 none) and its PDG code. "
    "Time rows are image rows (several TPC ticks each).</div>\n")


# ------------------------------------------------------------------------------ helpers
def _axis_name(base: str, k: int) -> str:
    return base if k == 1 else f"{base}{k}"


def _hover_data(event: Event, img: PlaneImage, panels: list[Panel], row: int,
                pan: Panel) -> tuple[np.ndarray, str]:
    """Hover columns of one panel (float32, sent as a binary array) and the template reading them.

    The ADC panel carries every label of the pixel; the other panels only ADC and their own
    value (and, for a prediction, the truth it is compared with), which keeps pages of
    ~10^5 pixels at ~10 MB rather than several times that.
    """
    cols: list[np.ndarray] = [img.values]
    lines = ["wire %{x}", "tick (row) %{y}", "ADC %{customdata[0]:.1f}"]

    def add(arr: np.ndarray | None, label: str, fmt: str = ":d") -> None:
        if arr is None:
            return
        cols.append(arr)
        lines.append(f"{label} %{{customdata[{len(cols) - 1}]{fmt}}}")
        if label.endswith("instance"):  # particle id: show its PDG code too
            cols.append(_pdg_of(event, arr))
            lines[-1] += f" (pdg %{{customdata[{len(cols) - 1}]:d}})"

    if pan.kind == "adc":
        for f in _HOVER_FIELDS:
            add(plane_field(img, f), f)
        for other in panels:
            if other.key in ("prediction", "weights"):
                add(other.per_plane[row], other.title, ":d" if other.kind == "label" else ":.3g")
    elif pan.kind == "weight":
        add(pan.per_plane[row], "weight", ":.3g")
    else:
        field = pan.scheme.field
        truth = plane_field(img, field)
        pred = next((o.per_plane[row] for o in panels
                     if o.key == "prediction" and o.scheme.field == field), None)
        add(truth, f"truth {field}")
        if pred is not None:
            add(pred, f"predicted {field}")
    custom = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1) if len(img) \
        else np.zeros((0, len(cols)), np.float32)
    return custom, "<br>".join(lines)


def _pdg_of(event: Event, inst: np.ndarray) -> np.ndarray:
    n = len(event.particles)
    pdg = np.array([p.pdg for p in event.particles] + [0], dtype=np.int64)
    inst = np.asarray(inst, dtype=np.int64)
    return np.where((inst >= 0) & (inst < n), pdg[np.clip(inst, 0, n)], 0)


def _scatter(img: PlaneImage, sel: np.ndarray, custom: np.ndarray, template: str, msize: float,
             name: str, marker: dict, **kw) -> go.Scattergl:
    xy = img.coords[sel].astype(np.int16 if img.meta.n_wires < 32768 else np.int32)
    return go.Scattergl(
        x=xy[:, 1], y=xy[:, 0], customdata=custom[sel], mode="markers",
        marker=dict(symbol="square", size=msize, line=dict(width=0), **marker), name=name,
        hovertemplate=template + f"<extra>{name}</extra>", **kw)


def _panel_traces(img: PlaneImage, pan: Panel, data: np.ndarray | None, custom: np.ndarray,
                  template: str, msize: float, anorm, wnorm, shown: set[str]) -> list:
    if data is None or len(img) == 0:
        # keep the subplot alive (axes, hover) even without pixels
        return [go.Scattergl(x=[], y=[], mode="markers", showlegend=False, hoverinfo="skip")]
    if pan.kind == "adc":
        order = np.argsort(data, kind="stable")  # largest charge drawn on top
        color = np.log10(np.clip(data[order], anorm.vmin, anorm.vmax)).astype(np.float32)
        return [_scatter(img, order, custom, template, msize, f"ADC {plane_title(img)}",
                         dict(color=color, coloraxis="coloraxis"), showlegend=False)]
    if pan.kind == "weight":
        out = []
        zero = np.flatnonzero(data <= 0)
        if zero.size:
            out.append(_scatter(img, zero, custom, template, msize, "weight 0",
                                dict(color=ZERO_WEIGHT_COLOR), showlegend=False))
        pos = np.flatnonzero(data > 0)
        pos = pos[np.argsort(data[pos], kind="stable")]
        color = np.log10(np.clip(data[pos], wnorm.vmin, wnorm.vmax)).astype(np.float32)
        out.append(_scatter(img, pos, custom, template, msize, "weight",
                            dict(color=color, coloraxis="coloraxis2"), showlegend=False))
        return out
    scheme = pan.scheme
    out = []
    if scheme.cyclic:
        none = np.flatnonzero(data < 0)
        if none.size:
            out.append(_label_trace(img, none, custom, template, msize, pan, -1, shown))
        some = np.flatnonzero(data >= 0)
        n = len(scheme.colors)
        scale = [[min(max((i + j) / n, 0.0), 1.0), c] for i, c in enumerate(scheme.colors)
                 for j in (0, 1)]
        out.append(_scatter(img, some, custom, template, msize, f"{scheme.field}: particles",
                            dict(color=((data[some] % n) + 0.5).astype(np.float32), colorscale=scale, cmin=0, cmax=n,
                                 showscale=False),
                            legendgroup=f"{scheme.field}:particles",
                            showlegend=f"{scheme.field}:particles" not in shown))
        shown.add(f"{scheme.field}:particles")
        return out
    codes = list(scheme.draw_order) + [v for v in np.unique(data) if v not in scheme.draw_order]
    for code in codes:
        sel = np.flatnonzero(data == code)
        if sel.size:
            out.append(_label_trace(img, sel, custom, template, msize, pan, int(code), shown))
    return out


def _label_trace(img, sel, custom, template, msize, pan: Panel, code: int, shown: set[str]):
    scheme = pan.scheme
    group = f"{scheme.field}:{code}"
    color = scheme.color_of(code)
    if color.lower() in ("#ffffff", "white"):
        color = "#f2f2f2"  # background pixels: almost white, still hoverable
    tr = _scatter(img, sel, custom, template, msize, f"{scheme.field}: {scheme.name_of(code)}",
                  dict(color=color), legendgroup=group, showlegend=group not in shown)
    shown.add(group)
    return tr


def _log_ticks(lo: float, hi: float) -> list[float]:
    vals = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
            for m in (1, 2, 5)]
    return [float(np.log10(v)) for v in vals if lo <= v <= hi]


def _tick_text(lo: float, hi: float, fmt: str = "g") -> list[str]:
    return [format(10.0 ** t, fmt) for t in _log_ticks(lo, hi)]


def _plotly_scale(cmap, n: int = 11) -> list[list]:
    return [[i / (n - 1), "rgb({:.0f},{:.0f},{:.0f})".format(*(255 * np.asarray(cmap(i / (n - 1))[:3])))]
            for i in range(n)]
