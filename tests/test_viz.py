"""Event displays: PNG (matplotlib) and HTML (plotly) on toy events and hand-made thin tracks."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.colors import to_rgb

from larseg.detectors import meta_for
from larseg.event import Event, Particle, PlaneImage
from larseg.labels import CosmicLabel, Origin, SemanticLabel
from larseg.viz import (DisplayError, default_fields, event_figure, event_plotly_figure,
                        figure_size_px, render_event_html, render_event_png, vertex_regions)
from larseg.viz.colors import COSMIC_SCHEME, SEMANTIC_SCHEME
from larseg.viz.panels import pool_sparse
from tests.factories import toy_event


# ----------------------------------------------------------------------------- helpers
def _diagonal_event(detector: str = "microboone") -> Event:
    """One 1-pixel-wide cosmic muon crossing every plane's image corner to corner."""
    meta = meta_for(detector)
    planes = []
    for pm in meta.planes:
        n = pm.n_wires
        cols = np.arange(n)
        rows = (cols * (pm.n_ticks - 1)) // (n - 1)
        coords = np.stack([rows, cols], axis=1)
        planes.append(PlaneImage(pm, coords, np.full(n, 60.0), cosmic=np.ones(n),
                                 semantic=np.full(n, int(SemanticLabel.MIP)),
                                 instance=np.zeros(n)))
    particles = [Particle(id=0, pdg=13, origin=Origin.COSMIC, ancestor_id=0, semantic=1)]
    return Event(7, 0, 1, meta, planes, particles).validate()


def _png_array(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    buf.seek(0)
    return imread(buf)[..., :3]


def _axes_pixels(fig, img: np.ndarray, ax) -> np.ndarray:
    """The part of the PNG inside an axes (strictly inside its frame)."""
    bb = ax.get_window_extent()
    h = img.shape[0]
    x0, x1 = int(np.ceil(bb.x0)) + 2, int(np.floor(bb.x1)) - 2
    y0, y1 = h - int(np.floor(bb.y1)) + 2, h - int(np.ceil(bb.y0)) - 2
    return img[y0:y1, x0:x1]


def _count_color(pixels: np.ndarray, color: str, tol: float = 0.06) -> int:
    return int((np.abs(pixels - np.array(to_rgb(color))).max(axis=-1) < tol).sum())


def _axes_by_title(fig, text: str) -> list:
    return [ax for ax in fig.axes if text in ax.get_title(loc="left")]


# --------------------------------------------------------------------------------- PNG
@pytest.mark.parametrize("detector", ["microboone", "sbnd"])
def test_png_written_with_expected_size_and_content(tmp_path, detector):
    ev = toy_event(detector, seed=3)
    fig = event_figure(ev, dpi=80)
    path = render_event_png(ev, tmp_path / "sub" / f"{detector}.png", dpi=80)
    assert path.exists() and path.stat().st_size > 10_000
    img = imread(path)[..., :3]
    w, h = figure_size_px(fig)
    assert img.shape[:2] == (h, w)
    # 3 planes × (ADC + cosmic + semantic + instance)
    assert len(_axes_by_title(fig, "·")) == 3 * 4
    assert img.std() > 0.05
    # coloured (non-grey) pixels exist: the ADC colour map and the label colours
    sat = img.max(axis=-1) - img.min(axis=-1)
    assert (sat > 0.3).sum() > 500
    # the neutrino-labelled tracks show in red on every cosmic panel
    arr = _png_array(fig)
    for ax in _axes_by_title(fig, "truth: cosmic"):
        assert _count_color(_axes_pixels(fig, arr, ax), COSMIC_SCHEME.color_of(2)) > 10
        assert _count_color(_axes_pixels(fig, arr, ax), COSMIC_SCHEME.color_of(1)) > 3
    titles = " ".join(ax.get_title(loc="left") for ax in fig.axes)
    assert "plane 0 (U)" in titles and "plane 2 (Y)" in titles
    assert all(ax.get_xlabel() == "wire" and ax.get_ylabel().startswith("time tick")
               for ax in _axes_by_title(fig, "·"))
    texts = " ".join(t.get_text() for t in fig.texts)
    assert ("MicroBooNE" if detector == "microboone" else "SBND") in texts


def test_one_pixel_track_survives_downscaling():
    """A 1-pixel diagonal across 3456 wires drawn in ~400 px must stay continuous."""
    ev = _diagonal_event("microboone")
    fig = event_figure(ev, fields=("adc", "semantic"), dpi=80)
    arr = _png_array(fig)
    mip = SEMANTIC_SCHEME.color_of(int(SemanticLabel.MIP))
    for ax in _axes_by_title(fig, "·"):
        px = _axes_pixels(fig, arr, ax)
        nonwhite = (px < 0.9).any(axis=-1)
        assert px.shape[1] < 3456 / 4  # really downscaled
        assert nonwhite.any(axis=0).mean() > 0.97, ax.get_title(loc="left")
        assert nonwhite.any(axis=1).mean() > 0.9
        if "semantic" in ax.get_title(loc="left"):
            assert _count_color(px, mip) > 0.9 * px.shape[1]


def test_pool_sparse_keeps_max_and_thin_lines():
    coords = np.array([[0, 0], [0, 1], [5, 9], [9, 9]])
    adc = np.array([1.0, 3.0, 2.0, 7.0])
    rows, cols, win = pool_sparse(coords, (adc,), (0, 10, 0, 10), (2, 2))
    got = {(int(r), int(c)): int(w) for r, c, w in zip(rows, cols, win)}
    assert got == {(0, 0): 1, (1, 1): 3}
    # priority key first: a labelled pixel beats a brighter unlabelled one
    rows, cols, win = pool_sparse(coords, (np.array([1, 0, 1, 0]), adc), (0, 10, 0, 10), (1, 1))
    assert win.tolist() == [2]
    line = np.stack([np.arange(1000) // 10, np.arange(1000)], axis=1)
    _, cols, _ = pool_sparse(line, (np.ones(1000),), (0, 100, 0, 1000), (30, 70))
    assert sorted(set(cols.tolist())) == list(range(70))


def test_prediction_and_weight_panels(tmp_path):
    ev = toy_event("sbnd", seed=4)
    rng = np.random.default_rng(0)
    pred = [np.where(rng.random(len(p)) < 0.2, 2, p.semantic) for p in ev.planes]
    weights = {p.plane: rng.uniform(1e-4, 2e-2, len(p)) * (rng.random(len(p)) > 0.1)
               for p in ev.planes}
    base = event_figure(ev, fields=("adc", "semantic"), dpi=60)
    fig = event_figure(ev, fields=("adc", "semantic"), prediction=pred, weights=weights, dpi=60)
    assert len(_axes_by_title(fig, "prediction: semantic")) == 3
    assert len(_axes_by_title(fig, "loss weight")) == 3
    assert figure_size_px(fig)[0] > figure_size_px(base)[0]
    arr = _png_array(fig)
    for ax in _axes_by_title(fig, "prediction: semantic"):  # predicted showers drawn
        assert _count_color(_axes_pixels(fig, arr, ax), SEMANTIC_SCHEME.color_of(2)) > 5
    for ax in _axes_by_title(fig, "loss weight"):
        px = _axes_pixels(fig, arr, ax)
        assert ((px.max(-1) - px.min(-1)) > 0.3).sum() > 20
    path = render_event_png(ev, tmp_path / "p.png", prediction=pred, weights=weights, dpi=60)
    assert imread(path).std() > 0.05


def test_dense_and_score_predictions_are_accepted():
    ev = toy_event("microboone", seed=5)
    dense = [p.dense("cosmic") for p in ev.planes]
    scores = [np.eye(3)[p.cosmic] for p in ev.planes]  # (N, 3) one-hot scores
    for pred in (dense, scores):
        fig = event_figure(ev, fields=("cosmic",), prediction=pred, dpi=40)
        assert len(_axes_by_title(fig, "prediction: cosmic")) == 3
    with pytest.raises(DisplayError, match=r"event 1/0/0.*prediction\.plane0"):
        event_figure(ev, prediction=[np.zeros(3)] * 3)
    with pytest.raises(DisplayError, match="3 planes"):
        event_figure(ev, prediction=[np.zeros(3)])


def test_zoom_box_and_vertex():
    ev = toy_event("microboone", seed=6)
    fig = event_figure(ev, fields=("adc", "cosmic"), zoom=(100, 300, 1000, 1500), dpi=40)
    for ax in _axes_by_title(fig, "·"):
        assert ax.get_xlim() == (999.5, 1499.5) and ax.get_ylim() == (99.5, 299.5)
    regions = vertex_regions(ev, [0, 1, 2])
    assert regions is not None
    rows = {r[:2] for r in regions}
    assert len(rows) == 1  # planes share the drift time
    for img, (r0, r1, c0, c1) in zip(ev.planes, regions):
        nu = img.coords[img.cosmic == CosmicLabel.NEUTRINO]
        assert nu.size
        assert r0 <= nu[:, 0].min() and nu[:, 0].max() < r1
        assert c0 <= nu[:, 1].min() and nu[:, 1].max() < c1
        assert (r1 - r0) * (c1 - c0) < img.meta.n_pixels
    fig = event_figure(ev, zoom="vertex", dpi=40)
    ax = _axes_by_title(fig, "plane 2 (Y) · ADC")[0]
    assert ax.get_xlim() == (regions[2][2] - 0.5, regions[2][3] - 0.5)
    assert "zoom: vertex" in " ".join(t.get_text() for t in fig.texts)
    with pytest.raises(DisplayError, match="outside"):
        event_figure(ev, zoom=(5000, 6000, 0, 10))
    with pytest.raises(DisplayError):
        event_figure(ev, zoom="nowhere")


def test_vertex_zoom_without_neutrino_falls_back_to_full_view():
    ev = _diagonal_event("sbnd")
    assert vertex_regions(ev, [0, 1, 2]) is None
    fig = event_figure(ev, zoom="vertex", dpi=40)
    assert _axes_by_title(fig, "· ADC")[0].get_xlim() == (-0.5, 2047.5)


def test_empty_plane_and_plane_selection(tmp_path):
    ev = toy_event("microboone", seed=7, empty_plane=1)
    path = render_event_png(ev, tmp_path / "empty.png", dpi=50)
    assert imread(path).std() > 0.05
    fig = event_figure(ev, dpi=50)
    notes = [t.get_text() for ax in _axes_by_title(fig, "plane 1 (V)") for t in ax.texts]
    assert notes and all(n == "no pixels in this plane" for n in notes)
    fig = event_figure(ev, planes=["Y"], fields=("adc",), dpi=50)
    assert [ax.get_title(loc="left") for ax in _axes_by_title(fig, "·")] == ["plane 2 (Y) · ADC"]
    with pytest.raises(DisplayError, match="no plane"):
        event_figure(ev, planes=[5])


def test_default_fields_follow_the_event():
    ev = toy_event("sbnd", seed=8)
    assert default_fields(ev) == ("adc", "cosmic", "semantic", "instance")
    for p in ev.planes:
        p.cosmic = None
        p.instance = None
    assert default_fields(ev) == ("adc", "semantic")
    fig = event_figure(ev, dpi=40)
    assert len(_axes_by_title(fig, "·")) == 6
    with pytest.raises(DisplayError, match="unknown display field"):
        event_figure(ev, fields=("adc", "charge"))


# -------------------------------------------------------------------------------- HTML
def test_html_self_contained_with_every_plane_and_hover(tmp_path):
    ev = toy_event("microboone", seed=9)
    weights = [np.full(len(p), 1e-3) for p in ev.planes]
    path = render_event_html(ev, tmp_path / "ev.html", prediction=[p.semantic for p in ev.planes],
                             prediction_field="semantic", weights=weights)
    text = path.read_text()
    assert text.startswith("<html>") or "<!DOCTYPE" in text[:200] or "<html" in text[:200]
    assert "Plotly.newPlot" in text and "<script src=\"http" not in text
    assert len(text) > 3_000_000  # plotly.js inline: works offline
    for name in ("plane 0 (U)", "plane 1 (V)", "plane 2 (Y)"):
        assert name in text
    for hover in ("wire %{x}", "tick (row) %{y}", "ADC %{customdata[0]", "cosmic %{customdata",
                  "semantic %{customdata", "particle", "weight"):
        assert hover in text, hover

    fig = event_plotly_figure(ev, weights=weights)
    data = json.loads(fig.to_json())
    n_panels = 5  # adc, cosmic, semantic, instance, weights
    axes = {(tr["xaxis"], tr["yaxis"]) for tr in data["data"]}
    assert len(axes) == 3 * n_panels
    n_points = sum(len(fig.data[i].x) for i in range(len(fig.data))
                   if fig.data[i].hovertemplate and "ADC %{customdata[0]:.1f}<br>cosmic"
                   in fig.data[i].hovertemplate)
    assert n_points == sum(ev.n_pixels())  # every pixel hoverable on the ADC panels
    layout = data["layout"]
    assert layout["xaxis2"]["matches"] == "x" and layout["yaxis7"]["matches"] == "y"
    assert layout["xaxis"]["title"]["text"] == "wire"


def test_html_zoom_and_empty_plane(tmp_path):
    ev = toy_event("sbnd", seed=10, empty_plane=0)
    fig = event_plotly_figure(ev, fields=("adc", "cosmic"), zoom=(10, 200, 300, 700))
    assert tuple(fig.layout.xaxis.range) == (299.5, 699.5)
    assert tuple(fig.layout.yaxis3.range) == (9.5, 199.5)
    path = render_event_html(ev, tmp_path / "z.html", zoom="vertex")
    assert path.exists() and "zoom: vertex" in path.read_text()[-200_000:]
