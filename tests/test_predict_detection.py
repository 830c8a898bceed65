"""`larseg predict` for sMask-RCNN (larseg.train.predict_detection) and its instance display: a
tiny network with random weights on 2 simulated MicroBooNE cosmics+neutrino events; the
cluster2d / particle products must be the detections the model gives when called directly,
read back exactly, resumable like every predict, and drawn as PNG and HTML."""

from __future__ import annotations

import json
import os
import signal

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from larseg.cli.app import register_all

runner = CliRunner()
app = register_all()

SCORE = 0.05  # random weights score ~0.15 (7-way softmax): below the paper's 0.4
LOW = [f"model.score_threshold={SCORE}"]
TINY = ["model.name=mask_rcnn", "model.backbone=dense", "model.backend=reference",
        "model.stem_filters=4", "model.stem_kernel=3", "model.widths=[8, 16, 16]",
        "model.blocks=[1, 1, 1]", "model.return_strides=[8]",
        "model.anchor_sizes=[[16.0, 64.0, 256.0]]", "model.aspect_ratios=[0.25, 1.0, 4.0]",
        "model.rpn_pre_nms_top_n_test=300", "model.rpn_post_nms_top_n_test=50",
        "model.representation=32", "model.mask_channels=8", "model.mask_convs=2",
        "model.score_threshold=0.4", "model.detections_per_image=8",
        "data.target=instances", "data.planes=[2]", "data.downsample=1",
        "data.crop=[128, 192]", "loss.scheme=none"]
PRED = "Data/cluster2d_pred_instances_group"
PART = "Data/particle_pred_instances_group"


@pytest.fixture(scope="module")
def nu_file(tmp_path_factory):
    from larseg.io import write_events
    from larseg.sim.simulate import SimulationJob, simulate_event

    job = SimulationJob("microboone", "cosmics+neutrino", seed=6)
    path = tmp_path_factory.mktemp("pred_det") / "cosmics_nu.h5"
    write_events(path, [simulate_event(job, i) for i in range(2)])
    return path


@pytest.fixture(scope="module")
def run(nu_file, tmp_path_factory):
    """(config path with the paper's threshold, weights, the config with the lowered one, the
    network of that config with the weights)."""
    from larseg.models import build
    from larseg.train.config import dump_config, load_config
    from larseg.train.evaluate import load_weights
    from larseg.train.trainer import TrainingConfig
    from larseg.weights.loading import save_weights

    out = tmp_path_factory.mktemp("pred_det_run")
    cfg = load_config(None, TrainingConfig, TINY + [f"data.train={nu_file}"])
    torch.manual_seed(0)
    net = build(cfg.model).eval()
    weights = save_weights(out / "model.safetensors", net, cfg)
    config = dump_config(cfg, out / "config.yaml")
    low = load_config(config, TrainingConfig, LOW)
    net = build(low.model)
    load_weights(net, weights)
    return config, weights, low, net.eval()


def _predict_cli(run, nu_file, out, *extra):
    config, weights, _, _ = run
    return runner.invoke(app, ["predict", str(config), str(nu_file), "--weights", str(weights),
                               "-o", str(out), "-q", *extra])


@pytest.fixture(scope="module")
def predicted(run, nu_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred_det_out") / "pred.h5"
    result = _predict_cli(run, nu_file, out, "--set", LOW[0])
    assert result.exit_code == 0, result.output
    assert "2 events with predictions" in result.output
    return out


@pytest.fixture(scope="module")
def direct(run, nu_file):
    """Per event (image, detections) of the network called directly on the evaluator's input."""
    from larseg.train.evaluate_detection import whole_image_dataset

    _, _, cfg, net = run
    assert net.roi_heads.cfg.score_threshold == SCORE
    ds = whole_image_dataset(cfg, nu_file)
    out = []
    for i in range(len(ds)):
        image = ds[i]["image"]
        with torch.no_grad():
            det, = net(image[None])
        out.append((image, det))
    return out


def _sorted_rc(rc: np.ndarray) -> np.ndarray:
    rc = np.asarray(rc, np.int64).reshape(-1, 2)
    return rc[np.lexsort((rc[:, 0], rc[:, 1]))]  # larcv's voxel order: wire-major


def _cells(p: np.ndarray, lo: float, hi: float, s: int) -> np.ndarray:
    """The 28 × 28 cell holding each pixel centre p + 0.5 of [lo, hi) (the pasting rule)."""
    return np.clip(np.floor((p + 0.5 - lo) * s / (hi - lo)), 0, s - 1).astype(np.int64)


def test_clusters_are_the_models_detections(run, predicted, direct):
    from larseg.models.detection.roi_heads import pool_rois
    from larseg.metrics.instances import INSTANCE_NAMES
    from larseg.train.predict_detection import read_instances

    _, _, cfg, net = run
    heads = net.roi_heads
    voxels = 0
    for entry, (image, det) in enumerate(direct):
        records = read_instances(predicted, entry)
        assert len(records) == len(det["scores"]) > 0
        np.testing.assert_allclose([r.score for r in records], det["scores"].numpy(), atol=1e-6)
        assert [r.label for r in records] == det["labels"].tolist()
        assert [r.name for r in records] == [INSTANCE_NAMES[c] for c in det["labels"].tolist()]
        np.testing.assert_array_equal(np.array([r.box for r in records]), det["boxes"].numpy())
        # the mask probabilities of the detections' boxes, from the model's own mask head
        with torch.no_grad():
            features, _ = net._proposals(image[None])
            maps = list(features.values()) if isinstance(features, dict) else list(features)
            logits = heads.mask_head(pool_rois(maps, heads.strides, [det["boxes"]],
                                               heads.cfg.mask_roi_size,
                                               heads.cfg.sampling_ratio))
        probs = torch.sigmoid(logits).numpy()
        for k, rec in enumerate(records):
            assert rec.plane == 2
            want = np.argwhere(det["masks"][k].numpy() & (image[0].numpy() >= 10.0))
            np.testing.assert_array_equal(rec.coords, _sorted_rc(want))
            x1, y1, x2, y2 = rec.box
            cell = probs[k, rec.label][_cells(rec.coords[:, 0], y1, y2, probs.shape[-1]),
                                       _cells(rec.coords[:, 1], x1, x2, probs.shape[-1])]
            np.testing.assert_allclose(rec.probability, cell, atol=1e-6)
            assert np.all(rec.probability > 0.5)  # the binarisation threshold
            voxels += len(rec.coords)
    assert voxels > 0  # the comparison is not one of empty masks


def test_records_round_trip_exactly(run, predicted, nu_file):
    """What the job computes in memory is what read_instances gives back, to the bit; and the
    network's input is the evaluator's dataset item."""
    from larseg.io import EventFile
    from larseg.train.evaluate_detection import whole_image_dataset
    from larseg.train.evaluate_detection import detect
    from larseg.train.predict_detection import instance_records, network_input, read_instances

    _, _, cfg, net = run
    events = EventFile(nu_file)
    ds = whole_image_dataset(cfg, nu_file)
    for entry in range(2):
        img = events[entry].planes[2]
        image = network_input(img, 10.0)
        assert torch.equal(image, ds[entry]["image"])
        made = instance_records(detect(net, image), img, 10.0)
        got = read_instances(predicted, entry)
        assert len(made) == len(got) > 0
        for a, b in zip(made, got):
            assert (a.label, a.name, a.score, a.box, a.plane) == (b.label, b.name, b.score,
                                                                  b.box, b.plane)
            assert a.coords.dtype == b.coords.dtype == np.int64
            np.testing.assert_array_equal(a.coords, b.coords)
            np.testing.assert_array_equal(a.probability, b.probability)


def test_products_line_up_with_the_input(predicted, nu_file, direct):
    """Read with h5py: the input's event ids, one cluster2d projection per input plane with the
    ADC's meta, clusters only on the collection plane, and the particle fields of the doc."""
    with h5py.File(nu_file) as src, h5py.File(predicted) as out:
        np.testing.assert_array_equal(out["Events/event_id"][:], src["Events/event_id"][:])
        g, p = out[PRED], out[PART]
        adc_meta = out["Data/sparse2d_wire_group/image_meta"][:]
        np.testing.assert_array_equal(g["image_meta"][:], adc_meta)
        np.testing.assert_array_equal(adc_meta, src["Data/sparse2d_wire_group/image_meta"][:])
        ext, proj, clus = g["extents"][:], g["projection_extents"][:], g["cluster_extents"][:]
        vox, rows, pext = g["voxels"][:], p["particles"][:], p["extents"][:]
        for entry, (image, det) in enumerate(direct):
            n = len(det["scores"])
            assert ext[entry]["N"] == 3                               # planes U, V, Y
            projs = proj[ext[entry]["first"]:ext[entry]["first"] + 3]
            assert projs["ID"].tolist() == [0, 1, 2] and projs["N"].tolist() == [n, n, n]
            for plane, pr in enumerate(projs):
                counts = clus[pr["first"]:pr["first"] + n]
                assert counts["ID"].tolist() == list(range(n))
                want = [int((det["masks"][k] & (image[0] >= 10)).sum()) for k in range(n)]
                assert counts["N"].tolist() == (want if plane == 2 else [0] * n)
            part = rows[pext[entry]["first"]:pext[entry]["first"] + pext[entry]["N"]]
            assert part["id"].tolist() == list(range(n))
            assert part["interaction_type"].tolist() == det["labels"].tolist()
            np.testing.assert_array_equal(part["energy_init"], det["scores"].numpy())
            np.testing.assert_array_equal(
                np.stack([part["first_step"]["x"], part["first_step"]["y"],
                          part["last_step"]["x"], part["last_step"]["y"]], axis=1),
                det["boxes"].numpy())
            assert part["first_step"]["z"].tolist() == [2.0] * n
        assert len(vox) == int(clus["N"].sum()) > 0


def test_the_papers_threshold_keeps_no_detection_of_random_weights(run, nu_file, direct,
                                                                   tmp_path):
    from matplotlib.image import imread

    from larseg.train.config import load_config
    from larseg.train.predict import predict
    from larseg.train.predict_detection import read_instances
    from larseg.train.trainer import TrainingConfig

    config, weights, _, _ = run
    assert max(float(d["scores"].max()) for _, d in direct) < 0.4
    cfg = load_config(config, TrainingConfig)
    assert cfg.model.score_threshold == 0.4
    out = tmp_path / "paper.h5"
    assert predict(cfg, weights, nu_file, out, events_range=(0, 1)) == 1
    assert read_instances(out, 0) == []
    with h5py.File(out) as f:
        assert f[PRED]["projection_extents"]["N"].tolist() == [0, 0, 0]
        assert f[PART]["extents"]["N"].tolist() == [0]
    # the display of an event without instances: its collection plane, no HTML asked
    shown = runner.invoke(app, ["display", str(out), "--prediction", "pred_instances",
                                "--no-html", "-o", str(tmp_path / "d")])
    assert shown.exit_code == 0, shown.output
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["paper_event0.png"]
    assert float(np.std(imread(tmp_path / "d" / "paper_event0.png")[..., :3])) > 0.01


def test_an_interrupted_predict_resumes_and_a_finished_one_is_left_alone(run, nu_file,
                                                                          predicted, tmp_path):
    from larseg.errors import JobInterrupted
    from larseg.io import partial_path
    from larseg.train.predict import predict

    _, weights, cfg, _ = run
    out = tmp_path / "resumed.h5"
    seen: list[int] = []

    def interrupt_after_one(n: int) -> None:
        seen.append(n)
        if n == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: stop after the event in progress

    with pytest.raises(JobInterrupted, match="1 event kept"):
        predict(cfg, weights, nu_file, out, on_event=interrupt_after_one)
    assert seen == [0, 1] and not out.exists()
    with h5py.File(partial_path(out)) as f:
        assert f["Events/event_id"].shape == (1,)
    seen.clear()
    assert predict(cfg, weights, nu_file, out, on_event=seen.append) == 2
    assert seen == [1, 2] and not partial_path(out).exists()   # resumed at event 1
    with h5py.File(out) as a, h5py.File(predicted) as b:       # the uninterrupted file
        for group in (PRED, PART):
            for name in a[group]:
                np.testing.assert_array_equal(a[group][name][:], b[group][name][:])
    # a finished output of the same job: left untouched; another config is refused
    before = (predicted.stat().st_mtime_ns, predicted.read_bytes())
    again = _predict_cli(run, nu_file, predicted, "--set", LOW[0])
    assert again.exit_code == 0, again.output
    assert (predicted.stat().st_mtime_ns, predicted.read_bytes()) == before
    other = _predict_cli(run, nu_file, predicted, "--set", "model.score_threshold=0.1")
    assert other.exit_code == 1 and "holds events of another job" in str(other.exception)
    assert (predicted.stat().st_mtime_ns, predicted.read_bytes()) == before


def test_overwrite_replaces_an_output_of_another_job(run, nu_file, predicted, tmp_path):
    import shutil

    from larseg.train.predict_detection import read_instances

    out = tmp_path / "pred.h5"
    shutil.copyfile(predicted, out)
    before = [read_instances(out, e) for e in range(2)]
    refused = _predict_cli(run, nu_file, out, "--set", "model.score_threshold=0.1")
    assert refused.exit_code == 1 and "--overwrite" in str(refused.exception)
    done = _predict_cli(run, nu_file, out, "--set", "model.score_threshold=0.1", "--overwrite")
    assert done.exit_code == 0, done.output
    after = [read_instances(out, e) for e in range(2)]
    # the new job's threshold: only the detections of the old output that score above 0.1
    assert [[r.score for r in ev] for ev in after] == \
        [[r.score for r in ev if r.score > 0.1] for ev in before]


def _plotly_data(html: str) -> tuple[list, dict]:
    """The traces and layout of the figure embedded in a plotly page."""
    dec = json.JSONDecoder()
    start = html.index("[", html.index("Plotly.newPlot("))
    data, end = dec.raw_decode(html, start)
    layout, _ = dec.raw_decode(html[end:].lstrip()[1:].lstrip())
    return data, layout


def test_display_draws_the_instances_as_png_and_html(predicted, tmp_path):
    from matplotlib.image import imread
    from matplotlib.patches import Rectangle

    from larseg.io import EventFile
    from larseg.train.predict_detection import read_instances
    from larseg.viz.instances import instance_color, instance_figure

    records = read_instances(predicted, 1)
    result = runner.invoke(app, ["display", str(predicted), "-e", "1", "--prediction",
                                 "pred_instances", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    png, page = tmp_path / "pred_event1.png", tmp_path / "pred_event1.html"
    said = "".join(result.output.split())  # the console wraps long paths
    assert f"wrote{png}" in said and f"wrote{page}" in said
    image = imread(png)
    assert min(image.shape[:2]) > 300 and float(np.std(image[..., :3])) > 0.01
    data, layout = _plotly_data(page.read_text(encoding="utf-8"))
    assert data[0]["name"] == "ADC"
    instances = data[1:]
    assert len(instances) == len(records) > 0                   # one trace per instance
    shapes = layout["shapes"]
    assert len(shapes) == len(records)
    for i, (trace, shape, rec) in enumerate(zip(instances, shapes, records)):
        text = f"{rec.name} {rec.score:.2f}"
        assert trace["name"] == f"{i}: {text}"
        assert f"<b>{rec.name}</b> score {rec.score:.3f}" in trace["hovertemplate"]
        assert trace["marker"]["color"] == instance_color(i)
        assert shape["legendgroup"] == trace["legendgroup"]    # the box toggles with it
        assert shape["label"]["text"] == text
        assert [shape["x0"], shape["y0"], shape["x1"], shape["y1"]] == [v - 0.5 for v in rec.box]
    # the PNG's figure: one box and one "class score" per instance, in the same colours
    ev = EventFile(predicted)[1]
    fig = instance_figure(ev.planes[2], records)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == len(records)
    assert [t.get_text() for t in ax.texts] == [f"{r.name} {r.score:.2f}" for r in records]
    for i, (b, r) in enumerate(zip(boxes, records)):
        assert b.get_xy() == (r.box[0] - 0.5, r.box[1] - 0.5)
        np.testing.assert_allclose(b.get_edgecolor()[:3],
                                   tuple(int(instance_color(i)[k:k + 2], 16) / 255
                                         for k in (1, 3, 5)))
