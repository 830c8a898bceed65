"""`larseg demo` runs every shipped network on its sample: tested with a tiny cosmic tagger run
shipped into a temporary weights folder."""

from __future__ import annotations

import json

from larseg.cli.demo import _markdown, run_shipped_networks
from larseg.train.config import load_config
from larseg.train.trainer import TrainingConfig, train
from larseg.weights.loading import ship


def _ship(weights, name: str, tmp_path):
    """Ship ``weights`` as ``name`` into a temporary weights folder; returns the folder."""
    folder = tmp_path / "weights"
    ship(weights, name, metrics={"note": "test"}, train_command="larseg train (test)",
         measure_command="larseg evaluate (test)", folder=folder)
    return folder


def _demo_of_a_trained_network(overrides: list[str], name: str, data, sample: str, tmp_path):
    """Train a tiny network on ``data`` for 2 steps, ship it as ``name``, and run the demo's
    networks on a copy of ``data`` named as the demo's ``sample``: (networks, demo folder)."""
    import shutil

    cfg = load_config(None, TrainingConfig, [f"data.train={data}", *overrides, "train.steps=2",
                                             "train.checkpoint_every=2"])
    train(cfg, tmp_path / "run")
    folder = _ship(tmp_path / "run" / "model.safetensors", name, tmp_path)
    out = tmp_path / "demo"
    out.mkdir()
    shutil.copyfile(data, out / sample)
    return run_shipped_networks(out, folder), out


def test_demo_runs_a_shipped_network_on_its_sample(simulated_files, tmp_path):
    nets, out = _demo_of_a_trained_network(
        ["model.name=cosmic_tagger", "model.filters=2", "model.deep_filters=8",
         "model.head=plain", "data.crop=[64, 128]"], "tiny_tagger", simulated_files["sbnd"],
        "sbnd_cosmics_neutrino.h5", tmp_path)
    assert [n["network"] for n in nets] == ["tiny_tagger"]
    n = nets[0]
    assert set(n["active"]) == {"U", "V", "Y"} and 0.0 <= n["table2"]["mean_iou"] <= 1.0
    metrics = json.loads((out / "tiny_tagger_evaluation" / "metrics.json").read_text())
    assert metrics["events"] == 3 and "cosmic_tagger" in metrics
    assert (out / n["display"]).stat().st_size > 10_000
    assert (out / "sbnd_cosmics_neutrino_tiny_tagger.h5").is_file()
    text = _markdown({"seed": 1, "samples": [], "networks": nets})
    assert "## tiny_tagger on `sbnd_cosmics_neutrino.h5`" in text and "cosmic IoU" in text
    # a demo folder of an earlier install: its predictions are of another network (another
    # job) and are replaced, not refused by the resume guard
    import h5py

    def read_job(path):
        with h5py.File(path, "r") as f:
            return f.attrs["larseg_job"]

    pred = out / "sbnd_cosmics_neutrino_tiny_tagger.h5"
    before = read_job(pred)
    cfg = load_config(None, TrainingConfig, [
        f"data.train={simulated_files['sbnd']}", "model.name=cosmic_tagger", "model.filters=2",
        "model.deep_filters=8", "model.head=plain", "data.crop=[64, 128]", "data.seed=2",
        "train.steps=2", "train.checkpoint_every=2"])
    train(cfg, tmp_path / "run2")
    _ship(tmp_path / "run2" / "model.safetensors", "tiny_tagger", tmp_path)
    assert [n["network"] for n in run_shipped_networks(out, tmp_path / "weights")] == \
        ["tiny_tagger"]
    assert read_job(pred) != before


def test_demo_runs_a_shipped_ssnet_on_the_bomb_sample(simulated_files, tmp_path):
    """SSNet (target ssnet) goes through the demo too: whole planes by tiles, its ICPF report,
    predictions and their display."""
    nets, out = _demo_of_a_trained_network(
        ["model.name=ssnet", "model.filters=2", "model.depth=2", "model.blocks_per_level=1",
         "data.target=ssnet", "data.crop=[64, 64]", "loss.scheme=inverse_frequency"],
        "tiny_ssnet", simulated_files["microboone"], "microboone_bomb.h5", tmp_path)
    assert [n["network"] for n in nets] == ["tiny_ssnet"]
    metrics = json.loads((out / "tiny_ssnet_evaluation" / "metrics.json").read_text())
    assert metrics["events"] == 3 and "icpf" in metrics
    assert set(nets[0]["active"]) == {"U", "V", "Y"}
    assert (out / nets[0]["display"]).stat().st_size > 10_000
    assert "## tiny_ssnet on `microboone_bomb.h5`" in _markdown(
        {"seed": 1, "samples": [], "networks": nets})


def test_demo_runs_a_shipped_mask_rcnn_on_the_cosmic_windows(tmp_path):
    """sMask-RCNN (target instances) in the demo: the paper's instance metrics in the summary
    and the predicted instances drawn over the collection plane."""
    import torch

    from larseg.io import write_events
    from larseg.models import build
    from larseg.sim.simulate import SimulationJob, simulate_event
    from larseg.weights.loading import save_weights
    from tests.test_predict_detection import TINY

    out = tmp_path / "demo"
    out.mkdir()
    data = out / "microboone_cosmics_neutrino.h5"
    job = SimulationJob("microboone", "cosmics+neutrino", seed=6)
    write_events(data, [simulate_event(job, i) for i in range(2)])
    # random weights score ~0.15: a lowered threshold so that there are instances to draw
    cfg = load_config(None, TrainingConfig, TINY + [f"data.train={data}",
                                                    "model.score_threshold=0.05"])
    torch.manual_seed(0)
    (tmp_path / "run").mkdir()
    weights = save_weights(tmp_path / "run" / "model.safetensors", build(cfg.model), cfg)
    folder = _ship(weights, "tiny_mask_rcnn", tmp_path)
    nets = run_shipped_networks(out, folder)
    assert [n["network"] for n in nets] == ["tiny_mask_rcnn"]
    metrics = json.loads((out / "tiny_mask_rcnn_evaluation" / "metrics.json").read_text())
    assert metrics["events"] == 2 and metrics["predictions"] > 0
    assert nets[0]["instances"] == {k: metrics[k] for k in ("efficiency", "purity", "coverage")}
    assert (out / nets[0]["display"]).stat().st_size > 10_000
    text = _markdown({"seed": 1, "samples": [], "networks": nets})
    assert "| average efficiency | average purity | interaction coverage |" in text
