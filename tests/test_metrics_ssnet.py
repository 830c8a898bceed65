"""SSNet's ICPF (larseg.metrics.ssnet) on hand-made images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.metrics.segmentation import confusion, summarise
from larseg.metrics.ssnet import ICPFEvaluator, icpf

# SSNet's classes: background 0, track 1, shower 2
TRUTH = np.array([[0, 1, 1, 0],
                  [0, 2, 2, 2],
                  [0, 0, 0, 0]])
PRED = np.array([[0, 1, 2, 1],
                 [0, 2, 2, 0],
                 [1, 0, 0, 0]])


def test_icpf_by_hand():
    # truth track/shower: 5 pixels; predicted track/shower on truth background: (0,3), (2,0)
    # -> 7 pixels, of which wrong: (0,2) track as shower, (0,3), (1,3) shower missed, (2,0)
    got = icpf(TRUTH, PRED)
    assert got["icpf"] == pytest.approx(4 / 7)
    # shower: truth {(1,1),(1,2),(1,3)} ∪ predicted {(0,2),(1,1),(1,2)}; wrong (0,2), (1,3)
    assert got["shower"] == pytest.approx(2 / 4)
    # track: truth {(0,1),(0,2)} ∪ predicted {(0,1),(0,3),(2,0)}; only (0,1) right
    assert got["track"] == pytest.approx(3 / 4)


def test_class_icpf_is_one_minus_iou():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (20, 20))
    pred = rng.integers(0, 3, (20, 20))
    iou = summarise(confusion(truth, pred, 3), ["background", "track", "shower"])["iou"]
    got = icpf(truth, pred)
    assert got["shower"] == pytest.approx(1 - iou["shower"])
    assert got["track"] == pytest.approx(1 - iou["track"])


def test_background_only_and_ignored_pixels():
    empty = icpf(np.zeros((3, 3), int), np.zeros((3, 3), int))
    assert all(np.isnan(v) for v in empty.values())
    truth = TRUTH.copy()
    truth[2, 0] = -1  # the false positive there is not labelled: left out
    assert icpf(truth, PRED)["icpf"] == pytest.approx(3 / 6)


def one_hot(pred: np.ndarray) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(pred), 3).permute(0, 1, 4, 2, 3).float()


def test_evaluator_like_the_talks_table():
    # the "ssnet" target's categories: background 0, edge band 1, track 2, shower 3
    cat = np.where(TRUTH > 0, TRUTH + 1, 0)
    cat[1, 0] = cat[0, 0] = 1  # edge band: background for the metric
    perfect_truth = np.array([[0, 3, 3, 1]] * 3)  # shower only, predicted perfectly
    perfect_pred = np.array([[0, 2, 2, 0]] * 3)
    label = np.stack([cat, perfect_truth, np.zeros_like(cat)])[:, None]     # (3, 1, 3, 4)
    pred = np.stack([PRED, perfect_pred, np.zeros_like(PRED)])[:, None]
    ev = ICPFEvaluator(truth="ssnet", planes=(2,))
    ev.process({"label": torch.from_numpy(label), "image": torch.ones(label.shape)},
               one_hot(pred))
    y = ev.evaluate()["Y"]
    assert y["icpf"]["n"] == 2 and y["icpf"]["undefined"] == 1
    assert y["icpf"]["mean"] == pytest.approx((4 / 7 + 0) / 2)
    assert y["icpf"]["q90"] == pytest.approx(0.9 * 4 / 7)  # linear between 0 and 4/7
    assert y["shower"] == pytest.approx((0.5 + 0.0) / 2)
    assert y["track"] == pytest.approx(0.75)  # the shower-only image has no track value
    assert [r["icpf"] for r in y["images"][:2]] == pytest.approx([4 / 7, 0.0])
    ev.reset()
    assert ev.evaluate() == {}


def test_evaluator_min_adc_and_class_truth():
    adc = np.full(TRUTH.shape, 50.0)
    adc[2, 0] = 0.0  # the false positive at (2, 0) sits on an empty pixel
    ev = ICPFEvaluator(truth="classes", planes=(0,), min_adc=0.0)
    ev.process({"label": TRUTH[None, None], "image": adc[None, None]}, PRED[None, None])
    u = ev.evaluate()["U"]
    assert u["icpf"]["mean"] == pytest.approx(3 / 6)
    assert u["track"] == pytest.approx(2 / 3)
    assert u["shower"] == pytest.approx(2 / 4)


def test_category_table_matches_the_model():
    from larseg.metrics.ssnet import _CATEGORY_TO_CLASS
    from larseg.models.ssnet import CATEGORY_TO_CLASS

    assert tuple(_CATEGORY_TO_CLASS) == CATEGORY_TO_CLASS


def test_evaluator_rejects_unknown_truth():
    with pytest.raises(ValueError, match="truth"):
        ICPFEvaluator(truth="semantic")
