"""sMask-RCNN's figures: written, non-empty, and drawing the numbers they were given."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import Rectangle

from larseg.labels import InstanceClass
from larseg.metrics.instances import InstanceEvaluator, InstanceMetricsConfig
from larseg.viz.instances import (MASK_PALETTE, coverage_figure, draw_efficiency_by_class,
                                  draw_efficiency_purity, draw_rejection_curve,
                                  efficiency_by_class_figure, efficiency_purity_figure,
                                  instance_figure, rejection_curve_figure, render_instance_png)

COSMIC, NU = int(InstanceClass.COSMIC), int(InstanceClass.NEUTRINO)


def _evaluated() -> InstanceEvaluator:
    """Six νe events, a cosmic found over 20 - 3k of its 20 pixels (k = 0..5) and the neutrino
    found in odd k only (scores 0.55, 0.65, 0.75), and six cosmic-only windows, found whole,
    with a neutrino-class prediction of score 0.1 k."""
    ev = InstanceEvaluator(InstanceMetricsConfig(thresholds=(0.0, 0.4, 0.8)))
    for k in range(6):
        adc = np.zeros((4, 20), np.float32)
        adc[0], adc[2, :5] = 30.0, 60.0
        cosmic = np.zeros((4, 20), bool)
        cosmic[0] = True
        nu = np.zeros((4, 20), bool)
        nu[2, :5] = True
        covered = cosmic.copy()
        covered[0, 20 - 3 * k:] = False
        preds = [{"mask": covered, "label": COSMIC, "score": 0.9}]
        if k % 2:
            preds.append({"mask": nu, "label": NU, "score": 0.5 + 0.05 * k})
        ev.process(preds, [{"mask": cosmic, "label": COSMIC}, {"mask": nu, "label": NU}], adc,
                   category="nue_cc")
        window, full = np.full((1, 20), 40.0, np.float32), np.ones((1, 20), bool)
        ev.process([{"mask": full, "label": COSMIC, "score": 0.9},
                    {"mask": full, "label": NU, "score": 0.1 * k}],
                   [{"mask": full, "label": COSMIC}], window)
    return ev


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def _png_ok(path) -> np.ndarray:
    assert path.exists() and path.stat().st_size > 5_000
    img = imread(path)[..., :3]
    assert img.std() > 0.01  # not a blank canvas
    return img


def test_metric_figures_are_written_and_draw_the_distributions(tmp_path):
    ev = _evaluated()
    d = ev.distributions()
    _png_ok(efficiency_purity_figure(d["event_efficiency"], d["event_purity"],
                                     tmp_path / "eff_pur.png", title="Figs. 8-9"))
    _png_ok(efficiency_by_class_figure(d, tmp_path / "by_class.png"))
    _png_ok(coverage_figure(d, tmp_path / "coverage.png"))
    _png_ok(rejection_curve_figure(ev.rejection_curve(), tmp_path / "rejection.png"))

    fig = _figure(4, 4)
    counts = draw_efficiency_purity(fig.add_subplot(), d["event_efficiency"], d["event_purity"])
    assert counts.sum() == 12                      # every event has truths and a prediction
    assert counts[-1, -1] == 6                     # the windows: efficiency 1, purity 1
    # νe events: efficiency (cosmic + neutrino) / 2, purity 1
    assert counts[:, -1].sum() == 12
    nue = [((20 - 3 * k) / 20 + k % 2) / 2 for k in range(6)]  # 0.5, 0.925, 0.35, ...
    expected, _ = np.histogram(nue + [1.0] * 6, bins=np.linspace(0, 1, 21))
    np.testing.assert_array_equal(counts[:, -1], expected)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_array().sum() == 12

    per_class = draw_efficiency_by_class(_figure(4, 4).add_subplot(), d["truth_efficiency"],
                                         d["truth_class"])
    assert per_class["cosmic"].sum() == 12 and per_class["neutrino"].sum() == 6
    assert per_class["cosmic"][-1] == 7            # the 6 windows and the νe event k = 0
    assert per_class["neutrino"][0] == 3 and per_class["neutrino"][-1] == 3
    drawn = draw_rejection_curve(_figure(4, 4).add_subplot(), ev.rejection_curve())
    # thresholds 0, 0.4, 0.8: windows with ν scores 0..0.5 rejected above 0, 0.4, 0.8
    np.testing.assert_allclose(drawn["nue_cc"][1], [1 / 6, 5 / 6, 1.0])
    np.testing.assert_allclose(drawn["nue_cc"][0], [0.5, 0.5, 0.0])


def test_event_display_draws_masks_boxes_classes_and_scores(tmp_path):
    adc = np.zeros((200, 600), np.float32)
    adc[50, 100:400] = 40.0                        # a cosmic track along the wires
    adc[120:160, 450] = 80.0                       # a neutrino prong along time
    cosmic = adc == 40.0
    nu_idx = np.flatnonzero(adc == 80.0)           # a mask as flat pixel indices
    preds = [{"mask": cosmic, "label": COSMIC, "score": 0.93},
             {"mask": nu_idx, "label": NU, "score": 0.61, "box": [440, 115, 460, 165]},
             {"mask": cosmic, "label": COSMIC, "score": 0.2}]          # below the threshold
    fig = instance_figure(adc, preds, score_threshold=0.4, width=8, dpi=100)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [(b.get_x(), b.get_y(), b.get_width(), b.get_height()) for b in boxes] == [
        (99.5, 49.5, 300.0, 1.0), (439.5, 114.5, 20.0, 50.0)]
    assert [t.get_text() for t in ax.texts] == ["cosmic 0.93", "neutrino 0.61"]
    path = render_instance_png(adc, preds, tmp_path / "display.png", score_threshold=0.4,
                               width=8, dpi=100)
    img = _png_ok(path)
    # the second mask's colour is in the picture (tinted neutrino pixels and its box)
    second = np.array(to_rgb(MASK_PALETTE[1]))
    assert (np.abs(img - second).max(axis=-1) < 0.08).sum() > 20
