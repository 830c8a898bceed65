"""Segmentation metrics by hand, and `larseg evaluate` on weights trained by `larseg train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larseg.metrics.segmentation import ConfusionEvaluator, confusion, summarise


def test_confusion_and_summary_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2, -1])
    pred = np.array([0, 0, 1, 1, 0, 2, 2])
    cm = confusion(truth, pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [1, 1, 0], [0, 0, 1]])
    s = summarise(cm, ["bg", "cosmic", "nu"])
    assert s["pixels"] == 6 and s["accuracy"] == pytest.approx(4 / 6)
    # IoU: bg 2/(3+3-2) = 0.5, cosmic 1/(2+2-1) = 1/3, nu 1/(1+1-1) = 1
    assert s["iou"] == pytest.approx({"bg": 0.5, "cosmic": 1 / 3, "nu": 1.0})
    assert s["mean_iou"] == pytest.approx((0.5 + 1 / 3 + 1) / 3)
    assert s["normalised_by_truth"][0] == pytest.approx([2 / 3, 1 / 3, 0])


def test_evaluator_counts_active_pixels_apart():
    label = np.array([[[[0, 1], [2, 0]]]])         # (B=1, P=1, 2, 2)
    image = np.array([[[[0.0, 5.0], [7.0, 3.0]]]])
    pred = np.array([[[[0, 1], [1, 1]]]])
    ev = ConfusionEvaluator(["bg", "cosmic", "nu"], planes=(2,))
    ev.process({"label": label, "image": image}, pred)
    out = ev.evaluate()
    assert out["all"]["Y"]["pixels"] == 4 and out["active"]["Y"]["pixels"] == 3
    assert out["active"]["Y"]["accuracy"] == pytest.approx(1 / 3)   # only the cosmic one right


def test_evaluate_command_on_trained_weights(simulated_files, tmp_path):
    from tests.test_train_engine import CONFIG

    larseg = str(Path(sys.executable).with_name("larseg"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.replace("steps: 10", "steps: 2") % simulated_files["sbnd"])
    run = tmp_path / "run"
    done = subprocess.run([larseg, "train", str(cfg), "-o", str(run)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ev = subprocess.run([larseg, "evaluate", str(run / "config.yaml"), "--weights",
                         str(run / "model.safetensors"), "--data", str(simulated_files["sbnd"]),
                         "-o", str(tmp_path / "eval")], capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["events"] == 3 and set(m["active"]) == {"U", "V", "Y"}
    for plane in m["active"].values():
        assert plane["pixels"] > 1000 and 0.0 <= plane["accuracy"] <= 1.0
        assert np.asarray(plane["confusion"]).sum() == plane["pixels"]
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 10_000
    wrong = subprocess.run([larseg, "evaluate", str(run / "config.yaml"), "--weights",
                            str(run / "model.safetensors"), "--data", str(simulated_files["sbnd"]),
                            "--set", "model.filters=8", "-o", str(tmp_path / "e2")],
                           capture_output=True, text=True, timeout=600)
    assert wrong.returncode == 1 and "another architecture" in wrong.stderr, wrong.stderr
