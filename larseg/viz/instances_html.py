"""sMask-RCNN's interactive instance display: one plane's ADC with the predicted instances over
it, as a self-contained plotly page (the HTML twin of
:func:`larseg.viz.instances.instance_figure`).

The ADC is one WebGL scatter trace of the plane's pixels (grey, log scale). Each instance is
one trace of its mask's pixels, in :func:`~larseg.viz.instances.instance_color` of its rank
(the PNG's colours), named "k: class score"; its box is a rectangle shape in the same legend
group, labelled with the class and score, so clicking the instance's legend entry hides or
shows mask and box together. Hovering a mask pixel shows the class, the score, the pixel's
wire, row and ADC and, for records of ``read_instances``, its mask probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ..metrics.instances import INSTANCE_NAMES
from .colors import adc_norm
from .instances import _as_prediction, _dense_adc, _mask_array, instance_color

_WIDTH_PX = 1400  # page width; the height follows the plane's aspect ratio
_GREYS = [[0.0, "#c8c8c8"], [1.0, "#000000"]]  # light grey (small charge) to black


def _adc_trace(img, marker_px: float) -> go.Scattergl:
    norm = adc_norm([img.values])
    order = np.argsort(img.values, kind="stable")  # largest charge drawn on top
    v = img.values[order]
    return go.Scattergl(
        x=img.coords[order, 1], y=img.coords[order, 0], mode="markers", name="ADC",
        customdata=v.astype(np.float32), legendrank=0,
        marker=dict(symbol="square", size=marker_px, line=dict(width=0),
                    color=np.log10(np.clip(v, norm.vmin, norm.vmax)).astype(np.float32),
                    colorscale=_GREYS, cmin=np.log10(norm.vmin), cmax=np.log10(norm.vmax)),
        hovertemplate="wire %{x}, row %{y}<br>ADC %{customdata:.1f}<extra>ADC</extra>")


def instance_plotly_figure(img, predictions: Sequence, *, score_threshold: float = 0.0,
                           class_names: Sequence[str] = INSTANCE_NAMES,
                           title: str = "") -> go.Figure:
    """Plotly figure of plane image ``img`` (a :class:`~larseg.event.PlaneImage`) with the
    predictions scoring above ``score_threshold`` (records of ``read_instances`` or the dicts
    :func:`~larseg.viz.instances.instance_figure` takes): one trace per instance (module doc)."""
    h, w = img.meta.shape
    dense = _dense_adc(img)
    height = int(np.clip(_WIDTH_PX * h / w, 450, 900))
    marker_px = float(np.clip(_WIDTH_PX / w * 1.5, 2.0, 8.0))
    fig = go.Figure([_adc_trace(img, marker_px)])
    shown = [(p, _as_prediction(p)) for p in predictions]
    shown = [(raw, p) for raw, p in shown if float(p["score"]) > score_threshold]
    for i, (raw, p) in enumerate(shown):
        colour, group = instance_color(i), f"instance {i}"
        label = int(p["label"])
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        score = float(p["score"])
        prob = getattr(raw, "probability", None)
        # (N, 2) (row, wire): a record's own pixels (its probabilities' order), else the mask's
        rc = (np.asarray(raw.coords, np.int64).reshape(-1, 2) if prob is not None
              else np.argwhere(_mask_array(p["mask"], (h, w))))
        custom = [dense[rc[:, 0], rc[:, 1]]]
        hover = [f"<b>{name}</b> score {score:.3f}", "wire %{x}, row %{y}",
                 "ADC %{customdata[0]:.1f}"]
        if prob is not None:
            custom.append(np.asarray(prob, np.float32))
            hover.append("mask probability %{customdata[1]:.3f}")
        fig.add_trace(go.Scattergl(
            x=rc[:, 1], y=rc[:, 0], mode="markers", name=f"{i}: {name} {score:.2f}",
            legendgroup=group, customdata=np.stack(custom, axis=1).astype(np.float32),
            marker=dict(symbol="square", size=marker_px, color=colour, opacity=0.75,
                        line=dict(width=0)),
            hovertemplate="<br>".join(hover) + f"<extra>{i}</extra>"))
        box = p.get("box")
        if box is None:
            if not len(rc):
                continue
            box = (rc[:, 1].min(), rc[:, 0].min(), rc[:, 1].max() + 1, rc[:, 0].max() + 1)
        x1, y1, x2, y2 = (float(v) for v in np.asarray(box))
        fig.add_shape(type="rect", x0=x1 - 0.5, y0=y1 - 0.5, x1=x2 - 0.5, y1=y2 - 0.5,
                      line=dict(color=colour, width=1.5), legendgroup=group, showlegend=False,
                      label=dict(text=f"{name} {score:.2f}", textposition="top left",
                                 font=dict(color=colour, size=11)))
    fig.update_layout(
        title=dict(text=title or f"{len(shown)} predictions (score > {score_threshold:g})",
                   x=0.01),
        width=_WIDTH_PX, height=height, plot_bgcolor="white", paper_bgcolor="white",
        xaxis=dict(title_text="wire", range=[-0.5, w - 0.5], showgrid=False, zeroline=False),
        yaxis=dict(title_text="time (row)", range=[-0.5, h - 0.5], showgrid=False,
                   zeroline=False),
        legend=dict(font=dict(size=11), itemclick="toggle", itemdoubleclick="toggleothers"),
        margin=dict(l=70, r=30, t=60, b=60), dragmode="zoom")
    return fig


def render_instance_html(img, predictions: Sequence, path: str | Path, **kwargs) -> Path:
    """Write :func:`instance_plotly_figure` as a self-contained page (plotly.js inline: works
    offline); returns its path."""
    html = pio.to_html(instance_plotly_figure(img, predictions, **kwargs),
                       include_plotlyjs=True, full_html=True,
                       config={"scrollZoom": True, "displaylogo": False})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


__all__ = ["instance_plotly_figure", "render_instance_html"]
