"""sMask-RCNN's instance metrics on hand-made masks whose efficiency, purity and coverage are known
exactly, and the cosmic rejection curve on hand-made events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.labels import InstanceClass
from larseg.metrics.instances import (InstanceEvaluator, InstanceMetricsConfig, match, purities,
                                      table)

COSMIC, NU = int(InstanceClass.COSMIC), int(InstanceClass.NEUTRINO)


def _mask(shape, cells) -> np.ndarray:
    m = np.zeros(shape, bool)
    for r, cols in cells:
        m[r, cols] = True
    return m


def _event_one():
    """Two cosmic truths and three predictions (module doc of the test for the numbers).

    Truth A: row 0 (10 pixels counted: 8 of 20 ADC, 2 of 100) plus one pixel of exactly 10 ADC
    at (1, 0), which is blank (only ADC > 10 counts). Truth B: row 5, columns 0-4, 50 ADC.
    P1 (0.9): A's columns 0-7, B's columns 0-1 and row 9, which has no charge (blank), and the
    10-ADC pixel: purity 8 / 10. P2 (0.8): all of B, purity 1. P3 (0.3, below 0.4): all of A,
    ignored.
    """
    shape = (10, 10)
    adc = np.zeros(shape, np.float32)
    adc[0, :8], adc[0, 8:] = 20.0, 100.0
    adc[1, 0] = 10.0
    adc[5, :5] = 50.0
    truth = {"masks": torch.from_numpy(np.stack([_mask(shape, [(0, slice(None)), (1, 0)]),
                                                 _mask(shape, [(5, slice(0, 5))])])),
             "labels": torch.tensor([COSMIC, COSMIC])}
    preds = [{"mask": _mask(shape, [(0, slice(0, 8)), (5, slice(0, 2)), (9, slice(None)),
                                    (1, 0)]), "label": COSMIC, "score": 0.9},
             {"mask": _mask(shape, [(5, slice(0, 5))]), "label": COSMIC, "score": 0.8},
             {"mask": _mask(shape, [(0, slice(None))]), "label": NU, "score": 0.3}]
    return preds, truth, adc


def test_efficiency_purity_and_charge_efficiency_of_hand_made_masks():
    preds, truth, adc = _event_one()
    m = match(preds, truth, adc)
    np.testing.assert_array_equal(m.truth_pixels, [10, 5])        # the 10-ADC pixel is out
    np.testing.assert_array_equal(m.pred_pixels, [10, 5, 10])     # blank pixels are out
    np.testing.assert_array_equal(m.overlap, [[8, 0, 10], [2, 5, 0]])
    ev = InstanceEvaluator()
    ev.process(preds, truth, adc)
    d = ev.distributions()
    np.testing.assert_allclose(d["truth_efficiency"], [0.8, 1.0])   # P3 (score 0.3) ignored
    np.testing.assert_allclose(d["truth_charge_efficiency"], [160 / 360, 1.0])
    np.testing.assert_allclose(d["prediction_purity"], [0.8, 1.0])  # 40 % A + blanks: 0.8
    np.testing.assert_allclose([d["event_efficiency"][0], d["event_purity"][0]], [0.9, 0.9])
    assert d["event_truths"] == [2] and d["event_covered"] == [1]  # only B is above 90 %
    # at a score threshold of 0.2, P3 covers all of A
    low = InstanceEvaluator(InstanceMetricsConfig(score_threshold=0.2))
    low.process(preds, truth, adc)
    np.testing.assert_allclose(low.distributions()["truth_efficiency"], [1.0, 1.0])


def test_mask_formats_give_the_same_overlaps():
    preds, truth, adc = _event_one()
    as_flat = [{**p, "mask": np.flatnonzero(p["mask"])} for p in preds]
    as_pairs = [{**p, "mask": np.argwhere(p["mask"])} for p in preds]
    truth_list = [{"mask": np.argwhere(truth["masks"][k].numpy()), "label": COSMIC}
                  for k in range(2)]
    ref = match(preds, truth, adc)
    for p, t in ((as_flat, truth), (as_pairs, truth_list), (preds, truth_list)):
        got = match(p, t, torch.from_numpy(adc)[None])
        np.testing.assert_array_equal(got.overlap, ref.overlap)
        np.testing.assert_allclose(got.charge_overlap, ref.charge_overlap)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\)"):
        match([{"mask": np.zeros((3, 3), bool), "label": 0, "score": 1.0}], [], adc)


def test_blank_pixels_never_count_for_or_against_purity():
    shape = (4, 20)
    adc = np.zeros(shape, np.float32)
    adc[0, :10] = 30.0   # truth A
    adc[2, :10] = 30.0   # truth B
    adc[3, :5] = 8.0     # below the threshold: blank
    truth = [{"mask": _mask(shape, [(0, slice(0, 10))]), "label": COSMIC},
             {"mask": _mask(shape, [(2, slice(0, 10))]), "label": COSMIC}]
    # 4 pixels of A, 1 of B, 5 blank (ADC 8 or 0): purity 4 / 5, whatever the blanks
    base = _mask(shape, [(0, slice(0, 4)), (2, 0)])
    for blank in ([], [(3, slice(0, 5))], [(1, slice(None)), (3, slice(None))]):
        p = base | _mask(shape, blank) if blank else base
        pur = purities(match([{"mask": p, "label": COSMIC, "score": 1.0}], truth, adc))
        np.testing.assert_allclose(pur, [0.8])
    # a non-blank pixel on no truth (noise above 10 ADC) is counted: 4 / 6
    adc[1, 19] = 40.0
    p = base | _mask(shape, [(1, 19)])
    np.testing.assert_allclose(purities(match([{"mask": p, "label": COSMIC, "score": 1.0}],
                                              truth, adc)), [4 / 6])
    # a prediction on blank pixels only has no purity (left out, counted as blank)
    ev = InstanceEvaluator()
    ev.process([{"mask": _mask(shape, [(3, slice(0, 5))]), "label": COSMIC, "score": 1.0}],
               truth, adc)
    r = ev.evaluate()
    assert r["predictions"] == 1 and r["blank_predictions"] == 1 and np.isnan(r["purity"])
    assert r["efficiency"] == 0.0


def test_averages_coverage_and_neutrino_metrics_over_events():
    ev = InstanceEvaluator()
    ev.process(*_event_one(), category="cosmic_only")
    # event 2: one neutrino truth (4 pixels), no prediction: efficiency 0, no purity
    adc2 = np.zeros((10, 10), np.float32)
    adc2[3, :4] = 30.0
    ev.process([], {"masks": _mask((10, 10), [(3, slice(0, 4))])[None],
                    "labels": np.array([NU])}, adc2, category="nue_cc")
    # event 3: neutrino N (row 0) and cosmic D (row 2), 10 pixels each.
    # Q1 neutrino 0.7: 6 of N + 4 of D; Q2 cosmic 0.9: all of N; Q3 neutrino 0.5: 5 of D only
    shape = (4, 10)
    adc3 = np.zeros(shape, np.float32)
    adc3[0], adc3[2] = 25.0, 25.0
    truth3 = [{"mask": _mask(shape, [(0, slice(None))]), "label": NU},
              {"mask": _mask(shape, [(2, slice(None))]), "label": COSMIC}]
    preds3 = [{"mask": _mask(shape, [(0, slice(0, 6)), (2, slice(0, 4))]), "label": NU,
               "score": 0.7},
              {"mask": _mask(shape, [(0, slice(None))]), "label": COSMIC, "score": 0.9},
              {"mask": _mask(shape, [(2, slice(0, 5))]), "label": NU, "score": 0.5}]
    ev.process(preds3, truth3, adc3, category="nue_cc")
    r = ev.evaluate()
    # per truth: A 0.8, B 1.0 | C 0 | N 1.0 (Q2), D 0.5 (Q3)
    assert r["truths"] == 5 and r["events"] == 3
    assert r["efficiency"] == pytest.approx((0.8 + 1.0 + 0.0 + 1.0 + 0.5) / 5)
    # per prediction: 0.8, 1.0 | - | Q1 0.6, Q2 1.0, Q3 1.0
    assert r["purity"] == pytest.approx((0.8 + 1.0 + 0.6 + 1.0 + 1.0) / 5)
    assert r["coverage"] == pytest.approx(2 / 5)                  # B and N
    assert r["event_coverage"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert r["event_efficiency"] == pytest.approx((0.9 + 0.0 + 0.75) / 3)
    assert r["event_purity"] == pytest.approx((0.9 + (0.6 + 1 + 1) / 3) / 2)  # event 2 has none
    assert r["truths_per_event"] == pytest.approx(5 / 3)
    assert r["covered_per_event"] == pytest.approx(2 / 3)
    assert r["by_class"]["cosmic"]["truths"] == 3
    assert r["by_class"]["neutrino"]["efficiency"] == pytest.approx(0.5)   # C 0, N 1
    # neutrino efficiency from neutrino-class predictions only: C 0 (none), N 0.6 (Q1, not Q2)
    nu = r["neutrino"]
    assert nu["truths"] == 2 and nu["efficiency"] == pytest.approx(0.3)
    assert nu["missed"] == pytest.approx(0.5)
    # neutrino purity against neutrino truths only: Q1 0.6, Q3 0 (on a cosmic)
    assert nu["predictions"] == 2 and nu["purity"] == pytest.approx(0.3)
    assert r["events_by_category"] == {"cosmic_only": 1, "nue_cc": 2}
    assert "| average efficiency (per truth) | 66.0 % | 89.1 % | 85.9 % |" in table(r)
    ev.reset()
    assert ev.evaluate()["events"] == 0


def _nu_event(pred_cells, n_wires=10):
    """A νe event: one neutrino truth on row 0 (n_wires pixels), neutrino-class predictions
    given as (columns covered on row 0, score)."""
    shape = (2, n_wires)
    adc = np.zeros(shape, np.float32)
    adc[0], adc[1] = 30.0, 30.0
    truth = [{"mask": _mask(shape, [(0, slice(None))]), "label": NU},
             {"mask": _mask(shape, [(1, slice(None))]), "label": COSMIC}]
    preds = [{"mask": _mask(shape, [(0, cols)]), "label": NU, "score": s}
             for cols, s in pred_cells]
    preds.append({"mask": _mask(shape, [(1, slice(None))]), "label": COSMIC, "score": 0.99})
    return preds, truth, adc


def _cosmic_window(nu_scores):
    shape = (1, 10)
    adc = np.full(shape, 30.0, np.float32)
    truth = [{"mask": np.ones(shape, bool), "label": COSMIC}]
    preds = [{"mask": np.ones(shape, bool), "label": NU, "score": s} for s in nu_scores]
    preds.append({"mask": np.ones(shape, bool), "label": COSMIC, "score": 0.9})
    return preds, truth, adc


def test_rejection_curve_on_hand_made_events():
    ev = InstanceEvaluator(InstanceMetricsConfig(thresholds=(0.0, 0.5, 0.75, 0.9, 0.95)))
    for scores in ([0.3], [0.7], [], [0.95]):           # cosmic-only windows
        ev.process(*_cosmic_window(scores))             # no neutrino truth: cosmic_only
    ev.process(*_nu_event([(slice(None), 0.8)]), category="nue_cc")              # found at 0.8
    ev.process(*_nu_event([(slice(0, 4), 0.6), (slice(4, 10), 0.2)]),
               category="nue_cc")    # 0.6 covers 40 % (< 50 %): found at 0.2, selected at 0.6
    ev.process(*_nu_event([]), category="nue_cc")                                # never found
    curve = ev.rejection_curve()
    assert [c["threshold"] for c in curve] == [0.0, 0.5, 0.75, 0.9, 0.95]
    assert [c["rejection"] for c in curve] == [0.25, 0.5, 0.75, 0.75, 1.0]
    np.testing.assert_allclose([c["efficiency"]["nue_cc"] for c in curve],
                               [2 / 3, 1 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose([c["selected"]["nue_cc"] for c in curve],
                               [2 / 3, 2 / 3, 1 / 3, 0, 0])
    r = ev.evaluate()
    assert r["rejection_at_score_threshold"]["threshold"] == 0.5  # nearest to 0.4
    assert r["events_by_category"] == {"cosmic_only": 4, "nue_cc": 3}


def test_rejection_curve_is_monotonic_over_the_default_thresholds():
    rng = np.random.default_rng(3)
    ev = InstanceEvaluator()
    for _ in range(20):
        ev.process(*_cosmic_window(rng.uniform(0, 1, rng.integers(0, 3)).tolist()))
        cols = slice(0, int(rng.integers(1, 11)))
        ev.process(*_nu_event([(cols, float(rng.uniform()))]), category="nue_cc")
    curve = ev.rejection_curve()
    assert len(curve) == 101
    rej = np.array([c["rejection"] for c in curve])
    eff = np.array([c["efficiency"]["nue_cc"] for c in curve])
    assert np.all(np.diff(rej) >= 0) and np.all(np.diff(eff) <= 0)
    assert rej[-1] == 1.0 and eff[-1] == 0.0 and eff[0] > 0
