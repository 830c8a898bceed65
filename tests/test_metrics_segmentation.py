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


def test_predict_writes_predictions_on_the_voxels_and_display_shows_them(simulated_files,
                                                                          tmp_path):
    from tests.test_train_engine import CONFIG

    from larseg.io import EventFile, Larcv3Reader

    larseg = str(Path(sys.executable).with_name("larseg"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.replace("steps: 10", "steps: 2") % simulated_files["sbnd"])
    run = tmp_path / "run"
    assert subprocess.run([larseg, "train", str(cfg), "-o", str(run)], capture_output=True,
                          timeout=600).returncode == 0
    out = tmp_path / "pred.h5"
    done = subprocess.run([larseg, "predict", str(run / "config.yaml"), str(simulated_files["sbnd"]),
                           "--weights", str(run / "model.safetensors"), "-o", str(out), "-q"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    src, got = EventFile(simulated_files["sbnd"]), EventFile(out)
    assert len(got) == len(src) == 3
    r = Larcv3Reader(out)
    names = {p.producer for p in r.products()}
    assert {"pred_cosmic", "pred_cosmic_score_background", "pred_cosmic_score_cosmic",
            "pred_cosmic_score_neutrino"} <= names
    for entry in range(3):
        cls = r.read_sparse2d("pred_cosmic", entry)
        adc = r.read_sparse2d("sbndwire", entry)
        scores = [r.read_sparse2d(f"pred_cosmic_score_{n}", entry)
                  for n in ("background", "cosmic", "neutrino")]
        for k in range(3):  # same voxels as the ADC; class = argmax of the scores
            np.testing.assert_array_equal(cls[k].ids, adc[k].ids)
            s = np.stack([sc[k].values for sc in scores])
            np.testing.assert_allclose(s.sum(axis=0), 1.0, atol=1e-5)
            np.testing.assert_array_equal(cls[k].values, s.argmax(axis=0))
    again = subprocess.run([larseg, "predict", str(run / "config.yaml"),
                            str(simulated_files["sbnd"]), "--weights",
                            str(run / "model.safetensors"), "-o", str(out), "-q"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr           # a finished output: left as it is
    assert len(EventFile(out)) == 3
    shown = subprocess.run([larseg, "display", str(out), "-e", "1", "--prediction", "pred_cosmic",
                            "-o", str(tmp_path / "d"), "--no-html"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "d" / "pred_event1.png").stat().st_size > 10_000
