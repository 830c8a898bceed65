"""`larseg evaluate` for sMask-RCNN (larseg.train.evaluate_detection): a tiny network trained 2
steps through the shared trainer on the simulated MicroBooNE file, evaluated by the CLI on whole
collection-plane images; its metrics.json must equal InstanceEvaluator run directly on the same
detections, and the report and pictures must be written."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from larseg.cli.app import register_all

runner = CliRunner()
app = register_all()

SCORE = 0.05  # far below the paper's 0.4: a 2-step network's detections take part
TINY = ["model.name=mask_rcnn", "model.backbone=dense", "model.backend=reference",
        "model.stem_filters=4", "model.stem_kernel=3", "model.widths=[8, 16, 16]",
        "model.blocks=[1, 1, 1]", "model.return_strides=[8]",
        "model.anchor_sizes=[[16.0, 64.0, 256.0]]", "model.aspect_ratios=[0.25, 1.0, 4.0]",
        "model.rpn_pre_nms_top_n_train=300", "model.rpn_post_nms_top_n_train=100",
        "model.rpn_pre_nms_top_n_test=300", "model.rpn_post_nms_top_n_test=50",
        "model.rpn_batch_size_per_image=64", "model.roi_batch_size_per_image=64",
        "model.representation=32", "model.mask_channels=8", "model.mask_convs=2",
        f"model.score_threshold={SCORE}", "model.detections_per_image=20",
        "data.target=instances", "data.planes=[2]", "data.downsample=1",
        "data.crop=[128, 192]", "data.seed=3", "loss.scheme=none", "optim.name=adam",
        "optim.lr=1e-3", "train.steps=2", "train.checkpoint_every=2", "train.threads=1"]


@pytest.fixture(scope="module")
def run(simulated_files, tmp_path_factory):
    """(config, run directory) of a 2-step tiny sMask-RCNN run on the MicroBooNE file."""
    from larseg.train.config import load_config
    from larseg.train.trainer import TrainingConfig, train

    cfg = load_config(None, TrainingConfig,
                      TINY + [f"data.train={simulated_files['microboone']}"])
    out = tmp_path_factory.mktemp("mask_rcnn_run")
    torch.manual_seed(0)
    train(cfg, out)
    return cfg, out


@pytest.fixture(scope="module")
def evaluated(run, simulated_files, tmp_path_factory):
    """`larseg evaluate` on the run: (metrics, output directory, command output)."""
    _, out = run
    ev = tmp_path_factory.mktemp("mask_rcnn_eval")
    result = runner.invoke(app, ["evaluate", str(out / "config.yaml"), "--weights",
                                 str(out / "model.safetensors"), "--data",
                                 str(simulated_files["microboone"]), "-o", str(ev)])
    assert result.exit_code == 0, result.output
    return json.loads((ev / "metrics.json").read_text()), ev, result.output


def _same(a, b, where="") -> None:
    """Exact equality of JSON-like values, nan equal to nan."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a} != {b}"


def test_metrics_equal_a_direct_evaluation(run, evaluated, simulated_files):
    from larseg.data.instances import InstanceDataConfig, InstanceDataset
    from larseg.metrics.instances import InstanceEvaluator, InstanceMetricsConfig
    from larseg.models import build
    from larseg.train.detection_path import detections_to_predictions
    from larseg.train.evaluate import load_weights

    cfg, out = run
    metrics, _, output = evaluated
    net = build(cfg.model)
    load_weights(net, out / "model.safetensors")
    net.eval()
    ds = InstanceDataset(simulated_files["microboone"],
                         InstanceDataConfig(plane=2, min_adc=10.0, crop=None))
    ev = InstanceEvaluator(InstanceMetricsConfig(score_threshold=SCORE))
    n_pred = 0
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (1, 1008, 3456)  # whole collection-plane images
        assert float(item["image"][(item["image"] > 0)].min()) >= 10.0  # ADC < 10 zeroed
        with torch.no_grad():
            det, = net(item["image"][None])
        n_pred += len(det["scores"])
        ev.process(detections_to_predictions(det), item["target"], item["image"][0],
                   item["category"])
    direct = ev.evaluate()
    expected_keys = set(direct) | {"weights", "data", "seconds_per_event"}
    assert set(metrics) == expected_keys
    _same({k: metrics[k] for k in direct}, json.loads(json.dumps(direct)))
    assert metrics["events"] == len(ds) == 3
    assert metrics["data"] == [str(simulated_files["microboone"])]
    assert metrics["weights"] == str(out / "model.safetensors")
    assert 0 < metrics["seconds_per_event"] < 60
    assert metrics["config"]["score_threshold"] == SCORE
    # the comparison is not an empty one: detections above the threshold overlap the truths
    assert metrics["truths"] > 0 and n_pred >= metrics["predictions"] > 0
    assert metrics["efficiency"] > 0 and np.isfinite(metrics["purity"])
    # the CLI's summary line prints the same numbers
    assert (f"efficiency {metrics['efficiency']:.4f}, purity {metrics['purity']:.4f}, "
            f"coverage {metrics['coverage']:.4f}") in " ".join(output.split())


def test_report_and_pictures_are_written(evaluated):
    import matplotlib.image as mpimg

    from larseg.metrics.instances import table

    metrics, ev, _ = evaluated
    report = (ev / "report.md").read_text()
    assert table(metrics, "model.safetensors") in report  # beside the paper's numbers
    assert "| average efficiency (per truth) |" in report and "89.1 %" in report
    pictures = ["efficiency_purity.png", "efficiency_by_class.png", "coverage.png",
                "rejection_curve.png", "event_display.png"]
    for name in pictures:
        assert f"]({name})" in report, name
        image = mpimg.imread(ev / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 100, name
        assert float(np.std(image[..., :3])) > 0, name  # not a blank canvas
