"""SparseSSNet's evaluation, prediction and displays (note 1091), on a tiny sparse network
trained for 2 steps on the simulator's particle-bomb file, checked against counts made here
from the file itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from larseg.cli.app import register_all
from larseg.metrics.semantic import TRACK_SHOWER_GROUPS, merge_classes

runner = CliRunner()
app = register_all()

TINY = ["model.name=sparse_ssnet", "model.filters=4", "model.levels=3", "model.backend=reference",
        "data.target=semantic", "data.downsample=1", "data.crop=[128, 128]",
        "loss.scheme=cluster+vertex", "optim.name=adam", "optim.lr=1e-3", "train.steps=2",
        "train.checkpoint_every=2"]
LOW, HIGH = 10.0, 300.0  # SparseSSNet's input mask (note 1091)


@pytest.fixture(scope="module")
def run(simulated_files, tmp_path_factory):
    """(config, run directory) of a 2-step SparseSSNet run on the MicroBooNE bomb file."""
    from larseg.train.config import load_config
    from larseg.train.trainer import TrainingConfig, train

    cfg = load_config(None, TrainingConfig, TINY + [f"data.train={simulated_files['microboone']}"])
    out = tmp_path_factory.mktemp("sparse_run")
    train(cfg, out)
    return cfg, out


@pytest.fixture(scope="module")
def evaluated(run, simulated_files, tmp_path_factory):
    """`larseg evaluate` on the run: (metrics, output directory, command output)."""
    _, out = run
    ev = tmp_path_factory.mktemp("sparse_eval")
    result = runner.invoke(app, ["evaluate", str(out / "config.yaml"), "--weights",
                                 str(out / "model.safetensors"), "--data",
                                 str(simulated_files["microboone"]), "-o", str(ev)])
    assert result.exit_code == 0, result.output
    return json.loads((ev / "metrics.json").read_text()), ev, result.output


def _masked_labels(path) -> list[list[np.ndarray]]:
    """Per event, per plane: the semantic label of every pixel inside the mask (-1: none)."""
    from larseg.io import EventFile

    return [[img.semantic[(img.values >= LOW) & (img.values <= HIGH)].astype(np.int64)
             for img in ev.planes] for ev in EventFile(path)]


def test_merge_classes_by_hand():
    assert TRACK_SHOWER_GROUPS == (0, 0, 1, 1, 1)  # HIP, MIP | shower, delta, Michel
    cm = np.arange(25).reshape(5, 5)
    # track rows 0-1, shower rows 2-4; the same for the columns
    expected = [[0 + 1 + 5 + 6, 2 + 3 + 4 + 7 + 8 + 9],
                [10 + 11 + 15 + 16 + 20 + 21, 12 + 13 + 14 + 17 + 18 + 19 + 22 + 23 + 24]]
    np.testing.assert_array_equal(merge_classes(cm, TRACK_SHOWER_GROUPS), expected)


def test_evaluate_counts_every_masked_labelled_pixel(evaluated, simulated_files):
    m, out, printed = evaluated
    labels = _masked_labels(simulated_files["microboone"])
    assert m["events"] == 3 and m["skipped_events"] == 0
    assert m["network_input"] == {"adc_min": LOW, "adc_max": HIGH, "downsample": 1,
                                  "pool": "mean"}
    assert m["classes"] == ["HIP", "MIP", "shower", "delta", "Michel"]
    for k, plane in enumerate("UVY"):
        five, two = m["active"][plane], m["track_shower"][plane]
        labelled = sum(int((ev[k] >= 0).sum()) for ev in labels)
        truth = np.bincount(np.concatenate([ev[k][ev[k] >= 0] for ev in labels]), minlength=5)
        cm = np.asarray(five["confusion"])
        assert labelled > 5000 and cm.sum() == five["pixels"] == labelled
        np.testing.assert_array_equal(cm.sum(axis=1), truth)  # every truth class, every pixel
        assert five["unlabelled_pixels"] == sum(int((ev[k] < 0).sum()) for ev in labels)
        # 2-class = the 5-class matrix summed over track (HIP, MIP) and shower (the rest)
        by_hand = [[cm[:2, :2].sum(), cm[:2, 2:].sum()], [cm[2:, :2].sum(), cm[2:, 2:].sum()]]
        np.testing.assert_array_equal(two["confusion"], by_hand)
        assert two["accuracy"] == pytest.approx(np.trace(by_hand) / labelled)
        assert five["accuracy"] == pytest.approx(np.trace(cm) / labelled)
        for i, c in enumerate(m["classes"]):
            assert five["class_accuracy"][c] == pytest.approx(cm[i, i] / truth[i])
        by_pred = np.asarray(five["normalised_by_prediction"], dtype=float)
        cols = cm.sum(axis=0) > 0
        np.testing.assert_allclose(by_pred[:, cols].sum(axis=0), 1.0)
        assert f"plane {plane}: active-pixel accuracy {five['accuracy']:.4f}" in printed
        assert f"track/shower accuracy {two['accuracy']:.4f}" in printed
    report = (out / "report.md").read_text()
    for title in ("5-class confusion, plane Y, normalised by truth",
                  "5-class confusion, plane U, normalised by prediction",
                  "2-class (track = HIP + MIP, shower = shower + delta + Michel) confusion, "
                  "plane V, normalised by truth"):
        assert f"### {title}" in report
    y = m["active"]["Y"]
    assert (f"| Y | {y['pixels']} | {y['unlabelled_pixels']} | {y['accuracy']:.4f} | "
            f"{m['track_shower']['Y']['accuracy']:.4f} |") in report
    for name in ("confusion_5class_by_truth", "confusion_5class_by_prediction",
                 "confusion_2class_by_truth", "confusion_2class_by_prediction",
                 "event_display"):
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert f"({name}.png)" in report


def test_predict_writes_every_input_voxel_and_agrees_with_evaluate(run, evaluated,
                                                                   simulated_files, tmp_path):
    from larseg.io import EventFile, Larcv3Reader
    from larseg.metrics.segmentation import confusion
    from larseg.train.predict import predict, read_prediction

    cfg, out = run
    pred = tmp_path / "pred.h5"
    assert predict(cfg, out / "model.safetensors", simulated_files["microboone"], pred) == 3
    names = ["HIP", "MIP", "shower", "delta", "Michel"]
    r = Larcv3Reader(pred)
    cms = [np.zeros((5, 5), np.int64) for _ in range(3)]
    for entry, ev in enumerate(EventFile(simulated_files["microboone"])):
        cls = r.read_sparse2d("pred_semantic", entry)
        adc = r.read_sparse2d("wire", entry)
        scores = [r.read_sparse2d(f"pred_semantic_score_{n}", entry) for n in names]
        for k in range(3):
            np.testing.assert_array_equal(cls[k].ids, adc[k].ids)  # exactly the input's voxels
            inside = (adc[k].values >= LOW) & (adc[k].values <= HIGH)
            s = np.stack([sc[k].values for sc in scores])
            # outside: only voxels above 300 ADC, if any (larseg's files keep nothing below
            # 10; a file that does is the next test's)
            assert inside.sum() > 1000 and (adc[k].values[~inside] > HIGH).all()
            np.testing.assert_array_equal(cls[k].values[~inside], -1)  # outside the mask
            np.testing.assert_array_equal(s[:, ~inside], 0.0)
            np.testing.assert_allclose(s[:, inside].sum(axis=0), 1.0, atol=1e-5)
            np.testing.assert_array_equal(cls[k].values[inside], s[:, inside].argmax(axis=0))
        for k, p in enumerate(read_prediction(pred, "pred_semantic", entry, ev)):
            keep = (ev.planes[k].values >= LOW) & (ev.planes[k].values <= HIGH)
            cms[k] += confusion(np.where(keep, ev.planes[k].semantic, -1), p.astype(int), 5)
    m, _, _ = evaluated
    for k, plane in enumerate("UVY"):  # the same network on the same pixels, whole images
        np.testing.assert_array_equal(cms[k], m["active"][plane]["confusion"])
    stamp = pred.stat().st_mtime_ns
    assert predict(cfg, out / "model.safetensors", simulated_files["microboone"], pred) == 3
    assert pred.stat().st_mtime_ns == stamp  # a finished job is left as it is
    info = runner.invoke(app, ["info", str(pred), "--json"])
    assert info.exit_code == 0, info.output
    products = {(p["type"], p["producer"]): p["n_planes"]
                for p in json.loads(info.stdout)["products"]}
    assert products[("sparse2d", "pred_semantic")] == 3
    assert all(products[("sparse2d", f"pred_semantic_score_{n}")] == 3 for n in names)


def test_figure6_display_of_a_sparse_prediction(run, simulated_files, tmp_path):
    """`larseg display --adc-mask 10:300 --loss-weights cluster+vertex --prediction` draws the
    network's input with the weights training computes for it (uncropped)."""
    import matplotlib.image as mpimg

    from larseg.data import AdcMask, SparseDataset, sparse_collate
    from larseg.data.weights import event_weights, sparse_batch_weights
    from larseg.io import EventFile
    from larseg.train.predict import predict, read_prediction
    from larseg.viz import event_figure, figure_size_px
    from larseg.viz.masking import adc_masked_event

    cfg, out = run
    pred = tmp_path / "p.h5"
    predict(cfg, out / "model.safetensors", simulated_files["microboone"], pred)
    ev = EventFile(pred)[1]
    masked = adc_masked_event(ev, LOW, HIGH)
    ds = SparseDataset(EventFile(simulated_files["microboone"]), target="semantic",
                       transform=[AdcMask(LOW, HIGH)])
    batch = sparse_collate([ds[1]])
    for shown, trained in zip(event_weights(masked, "cluster+vertex"),
                              sparse_batch_weights(batch, "cluster+vertex", 5)):
        assert (trained > 0).sum() > 100
        np.testing.assert_allclose(shown, trained)  # what training weighs, pixel by pixel
    classes = read_prediction(pred, "pred_semantic", 1, masked)
    assert all(np.all(c >= 0) for c in classes)  # every input pixel has a predicted class
    result = runner.invoke(app, ["display", str(pred), "-e", "1", "--planes", "Y", "--fields",
                                 "adc,semantic", "--adc-mask", "10:300", "--loss-weights",
                                 "cluster+vertex", "--prediction", "pred_semantic", "-o",
                                 str(tmp_path / "d"), "--no-html"])
    assert result.exit_code == 0, result.output
    png = mpimg.imread(tmp_path / "d" / "p_event1.png")
    # one plane (Y) × four panels: ADC, truth, prediction, loss weight
    expected = event_figure(masked, fields=("adc", "semantic"), prediction=classes,
                            prediction_field="semantic", weights=[np.ones(len(p))
                                                                  for p in masked.planes],
                            planes=["Y"])
    assert png.shape[:2] == figure_size_px(expected)[::-1]
    titles = [ax.get_title(loc="left") for ax in expected.axes]
    assert [t for t in titles if t.startswith("plane 2 (Y)")] == [
        "plane 2 (Y) · ADC", "plane 2 (Y) · truth: semantic",
        "plane 2 (Y) · prediction: semantic", "plane 2 (Y) · loss weight"]
    bad = runner.invoke(app, ["display", str(pred), "--adc-mask", "300:10", "-o",
                              str(tmp_path / "e")])
    assert bad.exit_code == 1
    assert "--adc-mask '300:10': LOW is above HIGH" in str(bad.exception)


def test_sparse_scores_at_half_resolution_follow_the_pooled_mask(run, simulated_files):
    """With data.downsample 2 a voxel takes its 2 × 2 pixel's prediction, and is outside the
    mask (class -1) exactly when that pixel's pooled (mean) ADC is."""
    import dataclasses

    from larseg.io import EventFile
    from larseg.models import build
    from larseg.train.evaluate import load_weights
    from larseg.train.predict import sparse_scores

    cfg, out = run
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, downsample=2))
    model = build(cfg.model)
    load_weights(model, out / "model.safetensors")
    model.eval()
    ev = EventFile(simulated_files["microboone"])[0]
    classes, scores = sparse_scores(model, cfg, {img.plane: img for img in ev.planes})
    for img in ev.planes:
        parent = img.coords // 2
        key = parent[:, 0] * img.meta.n_wires + parent[:, 1]
        uniq, inv = np.unique(key, return_inverse=True)
        mean = np.bincount(inv, weights=img.values) / 4  # data.pool "mean" over 2 × 2
        inside = ((mean >= LOW) & (mean <= HIGH))[inv]
        assert inside.sum() > 1000 and (~inside).sum() > 100
        np.testing.assert_array_equal(classes[img.plane] < 0, ~inside)
        first = np.unique(inv, return_index=True)[1][inv]  # one voxel of each 2 × 2 pixel
        np.testing.assert_array_equal(scores[img.plane], scores[img.plane][:, first])


def test_bf16_inference_is_recorded_and_close_to_fp32(run, evaluated, simulated_files, tmp_path):
    """eval.precision bf16 (--precision): the same pixels counted, the metrics say bf16, and
    nearly every pixel keeps its fp32 class (bfloat16 keeps 8 bits of mantissa)."""
    _, out = run
    m32, _, _ = evaluated
    ev = tmp_path / "bf16"
    result = runner.invoke(app, ["evaluate", str(out / "config.yaml"), "--weights",
                                 str(out / "model.safetensors"), "--data",
                                 str(simulated_files["microboone"]), "-o", str(ev),
                                 "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    m16 = json.loads((ev / "metrics.json").read_text())
    assert m32["precision"] == "fp32" and m16["precision"] == "bf16"
    for plane in "UVY":
        a = np.asarray(m32["active"][plane]["confusion"])
        b = np.asarray(m16["active"][plane]["confusion"])
        np.testing.assert_array_equal(a.sum(axis=1), b.sum(axis=1))  # same truth pixels
        moved = np.abs(a - b).sum() / 2 / a.sum()
        assert moved < 0.05, f"plane {plane}: {moved:.3f} of the pixels changed class"
    bad = runner.invoke(app, ["evaluate", str(out / "config.yaml"), "--weights",
                              str(out / "model.safetensors"), "--data",
                              str(simulated_files["microboone"]), "-o", str(ev),
                              "--precision", "fp8"])
    assert bad.exit_code != 0 and "eval.precision must be one of" in str(bad.exception)


def test_predict_leaves_voxels_below_10_adc_of_other_files_unclassified(run, tmp_path):
    """A file kept down to 0.5 ADC (less zero suppression than larseg's own, as a user's may
    be): its voxels below the mask get class -1 and no scores."""
    import dataclasses

    from larseg.detectors import get_detector
    from larseg.io import Larcv3Reader, write_events
    from larseg.sim.simulate import SimulationJob, simulate_event
    from larseg.train.predict import predict

    cfg, out = run
    det = get_detector("microboone")
    det = dataclasses.replace(det, readout=dataclasses.replace(det.readout,
                                                               storage_threshold_adc=0.5))
    src, pred = tmp_path / "unsuppressed.h5", tmp_path / "pred.h5"
    write_events(src, [simulate_event(SimulationJob("microboone", "bomb", seed=12), 0, det)])
    assert predict(cfg, out / "model.safetensors", src, pred) == 1
    r = Larcv3Reader(pred)
    cls, adc = r.read_sparse2d("pred_semantic", 0), r.read_sparse2d("wire", 0)
    score = r.read_sparse2d("pred_semantic_score_MIP", 0)
    for k in range(3):
        below = adc[k].values < LOW
        assert below.sum() > 100 and (~below).sum() > 100
        np.testing.assert_array_equal(cls[k].values[below], -1)
        np.testing.assert_array_equal(score[k].values[below], 0.0)
        assert (cls[k].values[~below & (adc[k].values <= HIGH)] >= 0).all()
