"""Track/shower agreement of two segmentations (larseg.metrics.agreement) on hand-made images
whose agreement is known pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.metrics.agreement import (AgreementAccumulator, decisions_from_labels,
                                      decisions_from_scores, decisions_from_shower_score,
                                      plane_agreement)

T, S, U = 0, 1, -1  # track, shower, undecided

# A 3 × 4 plane: ADC, prediction and reference decisions, pixel by pixel.
ADC = np.array([[0.0, 12.0, 50.0, 9.99],
                [10.0, 300.0, 11.0, 40.0],
                [25.0, 0.0, 30.0, 80.0]])
PRED = np.array([[T, T, S, S],
                 [S, T, U, T],
                 [T, S, S, S]], dtype=np.int8)
REF = np.array([[S, T, T, T],
                [S, S, T, U],
                [T, T, S, T]], dtype=np.int8)


def test_table_counts_only_pixels_at_or_above_the_threshold():
    pa = plane_agreement(ADC, PRED, REF, adc_threshold=10.0, plane=2)
    # counted (ADC ≥ 10): (0,1) (0,2) (1,0) (1,1) (1,2) (1,3) (2,0) (2,2) (2,3); (0,3) at 9.99
    # and the two 0-ADC pixels are not, although their decisions differ
    assert pa.n_counted == 9
    assert pa.prediction_undecided == 1 and pa.reference_undecided == 1  # (1,2), (1,3)
    # compared: (0,1) T/T, (0,2) S/T, (1,0) S/S, (1,1) T/S, (2,0) T/T, (2,2) S/S, (2,3) S/T
    np.testing.assert_array_equal(pa.table, [[2, 1], [2, 2]])
    assert pa.n_compared == 7 and pa.n_agreeing == 4
    assert pa.agreement == pytest.approx(4 / 7)
    np.testing.assert_array_equal(pa.disagreeing, [[0, 2], [1, 1], [2, 3]])
    assert pa.plane == 2


def test_threshold_moves_pixels_in_and_out():
    low = plane_agreement(ADC, PRED, REF, adc_threshold=9.0)
    assert low.n_counted == 10  # (0,3) at 9.99 joins: S vs T
    np.testing.assert_array_equal(low.table, [[2, 1], [3, 2]])
    high = plane_agreement(ADC, PRED, REF, adc_threshold=30.0)
    # ADC ≥ 30: (0,2) S/T, (1,1) T/S, (1,3) T/undecided, (2,2) S/S, (2,3) S/T
    assert high.n_counted == 5 and high.reference_undecided == 1
    np.testing.assert_array_equal(high.table, [[0, 1], [2, 1]])
    none = plane_agreement(ADC, PRED, REF, adc_threshold=1000.0)
    assert none.n_compared == 0 and np.isnan(none.agreement) and none.disagreeing.shape == (0, 2)


def test_scores_argmax_and_unscored_pixels():
    track = np.array([[0.7, 0.2, 0.5, 0.0, np.nan]])
    shower = np.array([[0.3, 0.8, 0.5, 0.0, 0.9]])
    # a tie goes to the first class (track); all-zero and NaN scores are not scored
    np.testing.assert_array_equal(decisions_from_scores([track, shower]), [[T, S, T, U, U]])
    # 5 classes: the winning class's group, not the summed groups: HIP 0.3 + MIP 0.3 > shower
    # 0.4, yet shower wins the argmax, as pred_semantic's classes are made
    five = [np.array([0.3, 0.1]), np.array([0.3, 0.6]), np.array([0.4, 0.1]),
            np.array([0.0, 0.1]), np.array([0.0, 0.1])]
    np.testing.assert_array_equal(decisions_from_scores(five), [S, T])
    # 3 classes (SSNet): a background win is no decision
    three = [np.array([0.6, 0.2]), np.array([0.3, 0.7]), np.array([0.1, 0.1])]
    np.testing.assert_array_equal(decisions_from_scores(three), [U, T])
    with pytest.raises(ValueError, match="4 score images"):
        decisions_from_scores([track] * 4)


def test_single_shower_score_is_thresholded_at_one_half():
    score = np.array([0.5, 0.5001, 0.01, 0.0, np.nan, 1.0])
    np.testing.assert_array_equal(decisions_from_shower_score(score), [T, S, T, U, U, S])
    np.testing.assert_array_equal(decisions_from_shower_score(score, 0.9), [T, T, T, U, U, S])


@pytest.mark.parametrize("encoding, codes, want", [
    ("semantic", [-1, 0, 1, 2, 3, 4, 5], [U, T, T, S, S, S, U]),
    ("track_shower", [-1, 0, 1, 2], [U, T, S, U]),
    ("ssnet_classes", [0, 1, 2, 3], [U, T, S, U]),
    ("ssnet_categories", [0, 1, 2, 3], [U, U, T, S]),
    ("ubdl", [0, 1, 2, 3, 4], [U, T, T, S, U]),
    ("larcv_shape", [0, 1, 2], [S, T, U]),
])
def test_label_encodings(encoding, codes, want):
    labels = np.array(codes + [np.nan], dtype=np.float32)  # image2d labels are floats
    np.testing.assert_array_equal(decisions_from_labels(labels, encoding), want + [U])


def test_both_reference_conventions_give_the_same_table_on_consistent_inputs():
    """A reference given as (track, shower) score images and as the labels of their argmax is
    one and the same decision image; a shower score with track = 1 - shower too."""
    rng = np.random.default_rng(3)
    adc = np.where(rng.random((20, 30)) < 0.4, rng.uniform(1, 200, (20, 30)), 0)
    shower = np.where(adc > 0, rng.uniform(0.01, 0.99, adc.shape), 0)
    track = np.where(adc > 0, 1 - shower, 0)
    pred = decisions_from_labels(rng.integers(-1, 5, adc.shape), "semantic")
    by_scores = plane_agreement(adc, pred, decisions_from_scores([track, shower]))
    by_labels = plane_agreement(adc, pred, decisions_from_labels(
        np.where(adc > 0, (shower > track).astype(float), -1.0), "track_shower"))
    by_shower = plane_agreement(adc, pred, decisions_from_shower_score(shower))
    for other in (by_labels, by_shower):
        np.testing.assert_array_equal(by_scores.table, other.table)
        np.testing.assert_array_equal(by_scores.disagreeing, other.disagreeing)
    counted = adc >= 10
    ref = np.where(shower > track, S, T)
    keep = counted & (pred >= 0)
    assert by_scores.n_compared == keep.sum() > 100
    assert by_scores.n_agreeing == (keep & (pred == ref)).sum()


def test_accumulator_sums_events_per_plane_and_over_planes():
    acc = AgreementAccumulator(10.0)
    a = plane_agreement(ADC, PRED, REF, plane=0)
    b = plane_agreement(ADC, PRED, PRED, plane=1)   # agrees with itself
    acc.add([a, b], {"entry": 0})
    acc.add([a], {"entry": 1})
    rep = acc.report()
    assert rep["n_events"] == 2 and rep["adc_threshold"] == 10.0
    u, v = rep["planes"]["U"], rep["planes"]["V"]
    assert u["table"] == [[4, 2], [4, 4]] and u["compared"] == 14 and u["agreeing"] == 8
    assert u["agreement"] == pytest.approx(8 / 14)
    assert u["pixels_above_threshold"] == 18 and u["prediction_undecided"] == 2
    # the reference's 8 track pixels: 4 called track, 4 shower
    assert u["normalised_by_reference"] == [[0.5, pytest.approx(1 / 3)],
                                            [0.5, pytest.approx(2 / 3)]]
    assert v["table"] == [[4, 0], [0, 4]] and v["agreement"] == 1.0
    assert v["reference_undecided"] == 1  # PRED's own undecided pixel
    assert rep["all_planes"]["table"] == [[8, 2], [4, 8]]
    assert rep["events"][0] == {"entry": 0, "planes": {
        "U": {"agreement": pytest.approx(4 / 7), "compared": 7, "disagreeing": 3},
        "V": {"agreement": 1.0, "compared": 8, "disagreeing": 0}}}
    assert list(rep["events"][1]["planes"]) == ["U"]


def test_empty_table_reports_none_not_nan():
    acc = AgreementAccumulator()
    acc.add([plane_agreement(ADC, PRED, REF, adc_threshold=1e6)])
    s = acc.report()["planes"]["U"]
    assert s["agreement"] is None and s["normalised_by_reference"] == [[None, None],
                                                                       [None, None]]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"ADC image \(3, 4\), prediction \(3, 3\)"):
        plane_agreement(ADC, PRED[:, :3], REF)
    with pytest.raises(ValueError, match="prediction holds values outside -1, 0, 1"):
        plane_agreement(ADC, PRED + 2, REF)
    with pytest.raises(ValueError, match="unknown label encoding 'five'"):
        decisions_from_labels(PRED, "five")
