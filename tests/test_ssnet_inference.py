"""SSNet on whole planes: `larseg evaluate` (the talk's ICPF table per file), `larseg predict`
(tiled predictions on every voxel of the input) and `larseg occlusion` (pictures), with an
untrained but real SSNet on the simulator's MicroBooNE particle-bomb file. Whole planes at a
quarter of the resolution (252 × 864) and tiles of 64, to stay fast; the numbers are checked
against the tiled logits recomputed here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from larseg.cli.app import register_all
from larseg.data import DenseDataset
from larseg.data._torch import torch
from larseg.errors import LarsegError
from larseg.metrics.ssnet import icpf
from larseg.models import build
from larseg.models.ssnet import CATEGORY_TO_CLASS
from larseg.train.config import dump_config, load_config
from larseg.train.tiling import tiled_forward, tiling_for
from larseg.train.trainer import TrainingConfig
from larseg.weights.loading import save_weights

runner = CliRunner()
app = register_all()

TINY = ["model.name=ssnet", "model.filters=2", "model.depth=2", "model.blocks_per_level=1",
        "data.target=ssnet", "data.planes=[0, 2]", "data.downsample=4", "data.crop=[64, 64]"]
SHAPE = (1008 // 4, 3456 // 4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(config, its YAML, weights) of an SSNet as initialised (seed 0), saved as a run is."""
    cfg = load_config(None, TrainingConfig, TINY)
    out = tmp_path_factory.mktemp("ssnet_run")
    torch.manual_seed(0)
    model = build(cfg.model)
    save_weights(out / "model.safetensors", model, cfg)
    return cfg, dump_config(cfg, out / "config.yaml"), out / "model.safetensors"


def _model(run):
    from larseg.train.evaluate import load_weights

    cfg, _, weights = run
    model = build(cfg.model)
    load_weights(model, weights)
    return model.eval()


def _first_event(cfg, path):
    """Event 0 as the dense dataset gives it: image and "ssnet" categories, (2, 252, 864)."""
    from larseg.io import open_events

    ds = DenseDataset(open_events(path, fields=["semantic"]), planes=cfg.data.planes,
                      target="ssnet", downsample=4, pool=cfg.data.pool)
    return ds[0]


@pytest.fixture(scope="module")
def evaluated(run, simulated_files, tmp_path_factory):
    """`larseg evaluate` on the first event of the bomb file: (metrics, output directory)."""
    _, config, weights = run
    out = tmp_path_factory.mktemp("ssnet_eval")
    result = runner.invoke(app, ["evaluate", str(config), "--weights", str(weights), "--data",
                                 str(simulated_files["microboone"]), "-n", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), out


def test_evaluate_reports_the_icpf_of_the_tiled_logits(evaluated, run, simulated_files):
    m, out = evaluated
    cfg = run[0]
    assert m["events"] == 1 and m["classes"] == ["background", "track", "shower"]
    assert m["tiling"] == {"tile": [64, 64], "margin": 8}
    table = m["icpf"]["microboone.h5"]
    assert list(table) == ["all planes", "U", "Y"]
    # the same numbers from the tiled logits and the file's labels, by hand
    item = _first_event(cfg, simulated_files["microboone"])
    logits = tiled_forward(_model(run), item["image"][None], tiling_for(cfg))
    assert logits.shape == (1, 2, 3, *SHAPE)
    pred = logits.argmax(dim=2)[0].numpy()
    truth = np.asarray(CATEGORY_TO_CLASS)[item["label"].numpy()]
    seen = item["image"].numpy() > 0  # only pixels with charge count
    by_plane = [icpf(truth[k], pred[k], seen[k]) for k in range(2)]
    for k, plane in enumerate(("U", "Y")):
        t = table[plane]
        assert t["icpf"]["n"] == 1 and t["icpf"]["undefined"] == 0
        assert t["icpf"]["mean"] == pytest.approx(by_plane[k]["icpf"], abs=1e-12)
        assert t["icpf"]["q90"] == pytest.approx(by_plane[k]["icpf"], abs=1e-12)
        assert t["shower"] == pytest.approx(by_plane[k]["shower"], abs=1e-12)
        assert t["track"] == pytest.approx(by_plane[k]["track"], abs=1e-12)
        for v in (t["icpf"]["mean"], t["shower"], t["track"]):
            assert 0.0 <= v <= 1.0
        # every pixel of the plane counted once in the 3-class confusion
        assert np.asarray(m["all"][plane]["confusion"]).sum() == SHAPE[0] * SHAPE[1]
    pooled = table["all planes"]
    assert pooled["icpf"]["n"] == 2
    assert pooled["icpf"]["mean"] == pytest.approx(np.mean([b["icpf"] for b in by_plane]))
    assert pooled["icpf"]["q90"] == pytest.approx(
        np.quantile([b["icpf"] for b in by_plane], 0.9))
    report = (out / "report.md").read_text()
    u = table["U"]
    assert (f"| microboone.h5 | U | 1 | {100 * u['icpf']['mean']:.1f} | "
            f"{100 * u['icpf']['q90']:.1f} | {100 * u['shower']:.1f} | "
            f"{100 * u['track']:.1f} | 0 |") in report
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_track_shower_target_gives_the_same_icpf(evaluated, run, simulated_files, tmp_path):
    from larseg.train.evaluate import evaluate

    cfg = load_config(None, TrainingConfig, [*TINY, "data.target=track_shower"])
    m = evaluate(cfg, run[2], simulated_files["microboone"], tmp_path, max_events=1)
    # the edge band is background for the metric, as the unlabelled pixels of track_shower
    for key in ("icpf", "all", "active"):  # as JSON: NaN (an empty column) equals NaN there
        assert json.dumps(m[key], sort_keys=True) == json.dumps(evaluated[0][key],
                                                                sort_keys=True)


def test_predict_writes_tiled_predictions_on_every_voxel(run, simulated_files, tmp_path):
    from larseg.io import Larcv3Reader, open_events
    from larseg.train.predict import SSNET_PREDICTION_CODES, predict, read_prediction

    cfg, _, weights = run
    out = tmp_path / "pred.h5"
    assert predict(cfg, weights, simulated_files["microboone"], out, events_range=(0, 1)) == 1
    ev = open_events(simulated_files["microboone"])[0]
    item = _first_event(cfg, simulated_files["microboone"])
    prob = torch.softmax(tiled_forward(_model(run), item["image"][None], tiling_for(cfg)),
                         dim=2)[0].numpy()
    classes = read_prediction(out, "pred_ssnet", 0, ev)
    scores = [read_prediction(out, f"pred_ssnet_score_{c}", 0, ev)
              for c in ("background", "track", "shower")]
    metas = {}
    for path, producer in ((out, "pred_ssnet"), (simulated_files["microboone"], "wire")):
        reader = Larcv3Reader(path)
        try:
            metas[producer] = {p.meta.projection_id: p.meta
                               for p in reader.read_sparse2d(producer, 0)}
        finally:
            reader.close()
    codes = np.asarray(SSNET_PREDICTION_CODES["ssnet"])
    for k, plane in enumerate(cfg.data.planes):
        img = ev.planes[plane]
        # the product has the input plane's meta (3456 wires × 1008 ticks), a value per voxel
        assert metas["pred_ssnet"][plane] == metas["wire"][plane]
        assert sorted(metas["pred_ssnet"][plane].number_of_voxels) == [1008, 3456]
        assert classes[plane].shape == (len(img),) and not np.isnan(classes[plane]).any()
        at = (img.coords[:, 0] // 4, img.coords[:, 1] // 4)
        want = np.stack([prob[k, c][at] for c in range(3)])
        got = np.stack([s[plane] for s in scores])
        np.testing.assert_allclose(got, want, atol=1e-6)
        np.testing.assert_array_equal(classes[plane], codes[want.argmax(axis=0)])
        assert set(np.unique(classes[plane])) <= {0, 2, 3}  # never the edge band


def test_input_mask_in_evaluate_and_predict(run, simulated_files, tmp_path):
    """With model.adc_threshold, ICPF counts only the pixels at or above it, and predict
    writes no class (-1) where the network saw no charge."""
    from larseg.io import open_events
    from larseg.train.evaluate import evaluate
    from larseg.train.predict import predict, read_prediction

    cfg = load_config(None, TrainingConfig, [*TINY, "model.adc_threshold=10"])
    bomb = simulated_files["microboone"]
    m = evaluate(cfg, run[2], bomb, tmp_path / "eval", max_events=1)
    assert m["adc_threshold"] == 10.0
    item = _first_event(cfg, bomb)
    logits = tiled_forward(_model(run), item["image"][None].masked_fill(item["image"][None] < 10,
                                                                        0), tiling_for(cfg))
    pred = logits.argmax(dim=2)[0].numpy()
    truth = np.asarray(CATEGORY_TO_CLASS)[item["label"].numpy()]
    seen = item["image"].numpy() >= 10
    assert 0 < seen.sum() < (item["image"].numpy() > 0).sum()
    for k, plane in enumerate(("U", "Y")):
        want = icpf(truth[k], pred[k], seen[k])["icpf"]
        assert m["icpf"]["microboone.h5"][plane]["icpf"]["mean"] == pytest.approx(want,
                                                                                 abs=1e-12)
    out = tmp_path / "pred.h5"
    assert predict(cfg, run[2], bomb, out, events_range=(0, 1)) == 1
    ev = open_events(bomb)[0]
    classes = read_prediction(out, "pred_ssnet", 0, ev)
    for k, plane in enumerate(cfg.data.planes):
        img = ev.planes[plane]
        hidden = ~seen[k][img.coords[:, 0] // 4, img.coords[:, 1] // 4]
        assert hidden.any() and (~hidden).any()
        assert np.all(classes[plane][hidden] == -1)
        assert set(np.unique(classes[plane][~hidden])) <= {0, 2, 3}


def _busiest_pixel(cfg, path) -> tuple[int, int]:
    """The Y-plane pixel (downsampled) with the most ADC in event 0."""
    image = _first_event(cfg, path)["image"][1].numpy()
    r, c = np.unravel_index(int(image.argmax()), image.shape)
    return int(r), int(c)


def test_occlusion_writes_pictures_of_the_map(run, simulated_files, tmp_path):
    from larseg.cli.occlusion import window_origin
    from larseg.io import open_events
    from larseg.train.predict import pooled_image
    from larseg.viz.occlusion import occlusion_map

    cfg, config, weights = run
    r, c = _busiest_pixel(cfg, simulated_files["microboone"])
    result = runner.invoke(app, ["occlusion", str(config), "-w", str(weights), "-d",
                                 str(simulated_files["microboone"]), "-e", "0", "--pixel",
                                 f"{r},{c}", "--plane", "2", "--window", "32", "--size", "4",
                                 "--stride", "4", "--class", "track", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    png = tmp_path / "occlusion_e0_Y.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(tmp_path / "occlusion_e0_Y.npz")
    r0, c0 = window_origin(r, 32, SHAPE[0]), window_origin(c, 32, SHAPE[1])
    assert saved["origin"].tolist() == [r0, c0] and int(saved["target_class"]) == 1
    plane = open_events(simulated_files["microboone"])[0].planes[2]
    crop = pooled_image(plane, 4, cfg.data.pool)[None, r0:r0 + 32, c0:c0 + 32]  # as predict
    want = occlusion_map(_model(run), crop, target_class=1, pixel=(r - r0, c - c0), size=4,
                         stride=4)
    assert saved["map"].shape == (8, 8)
    np.testing.assert_array_equal(saved["map"], want)
    assert np.abs(want).max() > 0  # masking the busiest pixel moves its probability

    # a region, the predicted class by default; and the two are exclusive
    region = f"{r - 3}:{r + 3},{c - 3}:{c + 3}"
    result = runner.invoke(app, ["occlusion", str(config), "-w", str(weights), "-d",
                                 str(simulated_files["microboone"]), "-e", "0", "--region",
                                 region, "--window", "32", "--size", "8", "--stride", "8",
                                 "-o", str(tmp_path / "region")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "region" / "occlusion_e0_Y.png").is_file()
    assert np.load(tmp_path / "region" / "occlusion_e0_Y.npz")["map"].shape == (4, 4)
    both = runner.invoke(app, ["occlusion", str(config), "-w", str(weights), "-d",
                               str(simulated_files["microboone"]), "-e", "0", "--pixel", "1,1",
                               "--region", region, "-o", str(tmp_path)])
    assert isinstance(both.exception, LarsegError)  # larseg's main() prints it as one line
    assert "either --pixel" in str(both.exception)


def test_display_labels_draw_ssnet_categories_as_track_shower():
    from larseg.train.predict import display_labels

    pred = [np.array([0.0, 1.0, 2.0, 3.0, np.nan])]
    field, (out,) = display_labels("ssnet", pred)
    assert field == "track_shower" and out.tolist() == [-1, -1, 0, 1, -1]
    field, (out,) = display_labels("semantic", [np.array([4.0, np.nan, 0.0])])
    assert field == "semantic" and out.tolist() == [4, -1, 0]
