"""Display of two track/shower segmentations of one event compared (``larseg agree``): a row
per plane, columns ADC, prediction, reference and where the two differ, on the pixels with ADC
at or above the threshold (:class:`larseg.metrics.agreement.EventArrays` holds the images)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..metrics.agreement import SHOWER, TRACK, UNDECIDED, EventArrays, plane_name
from .colors import ADC_CMAP, EMPTY_RGBA, TRACK_SHOWER_SCHEME, adc_norm
from .panels import pool_sparse

AGREE, PRED_TRACK, PRED_SHOWER, ONE_UNDECIDED = 0, 1, 2, 3
DIFF_COLORS = {AGREE: "#b8e0b8", PRED_TRACK: "#d62728", PRED_SHOWER: "#6A3D9A",
               ONE_UNDECIDED: "#000000"}
DIFF_NAMES = {AGREE: "same decision", PRED_TRACK: "prediction track, reference shower",
              PRED_SHOWER: "prediction shower, reference track",
              ONE_UNDECIDED: "one side undecided"}
_DIFF_RANK = np.array([0, 3, 3, 1])  # what wins a raster cell: a disagreement, then undecided


def difference_codes(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per pixel: 0 same decision, 1 prediction track / reference shower, 2 the reverse,
    3 one side undecided (both undecided: 0)."""
    out = np.full(pred.shape, AGREE, dtype=np.int8)
    out[(pred == TRACK) & (ref == SHOWER)] = PRED_TRACK
    out[(pred == SHOWER) & (ref == TRACK)] = PRED_SHOWER
    out[(pred < 0) != (ref < 0)] = ONE_UNDECIDED
    return out


def _region(mask: np.ndarray, margin: int = 8) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) around the pixels of ``mask``, ``margin`` more each side."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return 0, mask.shape[0], 0, mask.shape[1]
    return (max(int(rows.min()) - margin, 0), min(int(rows.max()) + margin + 1, mask.shape[0]),
            max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, mask.shape[1]))


def agreement_figure(ev: EventArrays, threshold: float, titles: tuple[str, str]) -> Figure:
    """Matplotlib Figure: a row per plane, columns ADC, prediction, reference, difference, on
    the pixels with ADC ≥ ``threshold`` (zoomed on them); pixels are max-pooled so that none
    disappears when the image is larger than the panel (disagreements win a cell).
    ``titles``: the names of the prediction and the reference."""
    n, w, dpi = len(ev.planes), 4.0, 100
    masks = {p: ev.adc[p] >= threshold for p in ev.planes}
    regions = {p: _region(masks[p]) for p in ev.planes}
    h = w * float(np.clip(min((r1 - r0) / max(c1 - c0, 1) for r0, r1, c0, c1 in
                              regions.values()), 0.3, 1.0))
    fig = Figure(figsize=(4 * w + 2.5, n * (h + 0.9) + 1.2), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    norm = adc_norm([ev.adc[p][masks[p]] for p in ev.planes])
    names = ("ADC", f"prediction: {titles[0]}", f"reference: {titles[1]}", "difference")
    axes = fig.subplots(n, 4, squeeze=False)
    fh = n * (h + 0.9) + 1.2
    fig.subplots_adjust(left=0.05, right=0.98, top=1 - 0.6 / fh, bottom=0.9 / fh, wspace=0.3,
                        hspace=0.45)  # before drawing: the rasters are sized to the axes
    diff_rgba = to_rgba_array([DIFF_COLORS[c] for c in range(4)])
    for row, p in enumerate(ev.planes):
        reg = regions[p]
        coords = np.argwhere(masks[p])
        adc = ev.adc[p][masks[p]]
        pred, ref = ev.prediction[p][masks[p]], ev.reference[p][masks[p]]
        diff = difference_codes(pred, ref)
        panels = ((ADC_CMAP(norm(adc)), (adc,)),
                  (TRACK_SHOWER_SCHEME.rgba(pred), (pred >= 0, adc)),
                  (TRACK_SHOWER_SCHEME.rgba(ref), (ref >= 0, adc)),
                  (diff_rgba[diff], (_DIFF_RANK[diff], adc)))
        for col, (colors, keys) in enumerate(panels):
            ax = axes[row, col]
            bbox = ax.get_window_extent()
            shape = (min(reg[1] - reg[0], max(int(bbox.height), 1)),
                     min(reg[3] - reg[2], max(int(bbox.width), 1)))
            raster = np.empty(shape + (4,), dtype=np.float32)
            raster[:] = EMPTY_RGBA
            if len(coords):
                rr, cc, win = pool_sparse(coords, keys, reg, shape)
                raster[rr, cc] = colors[win]
            ax.imshow(raster, origin="lower", interpolation="nearest", aspect="auto",
                      extent=(reg[2] - 0.5, reg[3] - 0.5, reg[0] - 0.5, reg[1] - 0.5))
            ax.set_title(f"plane {plane_name(p)} · {names[col]}", fontsize=9, loc="left")
            ax.set_xlabel("wire", fontsize=8)
            ax.set_ylabel("row (time)", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [Patch(color=TRACK_SHOWER_SCHEME.color_of(c), label=TRACK_SHOWER_SCHEME.name_of(c)
                     if c >= 0 else "undecided") for c in (TRACK, SHOWER, UNDECIDED)]
    handles += [Patch(color=DIFF_COLORS[c], label=DIFF_NAMES[c]) for c in range(4)]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"run {ev.run}, subrun {ev.subrun}, event {ev.event} (entry {ev.entry}): "
                 f"pixels with ADC ≥ {threshold:g}", fontsize=11)
    return fig
