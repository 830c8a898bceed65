"""The sparse cosmic tagger through the shared trainer and `larseg evaluate`: its config matches
the shipped dense tagger's (the comparison is like for like), a tiny one trains with the SBND
paper's mild weights and evaluates on a simulated SBND file (the event display draws the mild
weights the loss uses)."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from larseg.train.config import load_config
from larseg.train.trainer import TrainingConfig, train

CONFIGS = resources.files("larseg") / "configs"


def test_config_matches_the_dense_taggers():
    sparse = load_config(CONFIGS / "sparse_cosmic_tagger.yaml", TrainingConfig)
    dense = load_config(CONFIGS / "cosmic_tagger.yaml", TrainingConfig)
    assert type(sparse.model).__name__ == "SparseCosmicTaggerConfig"
    for f in ("filters", "deep_filters", "depth", "blocks_per_level", "deep_blocks", "head"):
        assert getattr(sparse.model, f) == getattr(dense.model, f), f
    assert sparse.data == dense.data and sparse.loss == dense.loss
    # the steps and the per-plane statistics were chosen for the sparse network on the
    # validation file (the config's header); everything it learns from is the dense one's
    assert sparse.optim == dense.optim and sparse.data.validation == dense.data.validation
    assert sparse.eval.data == dense.eval.data


def test_tiny_sparse_tagger_trains_with_mild_weights_and_evaluates(simulated_files, tmp_path):
    from larseg.train.evaluate import evaluate

    sbnd = str(simulated_files["sbnd"])
    cfg = load_config(None, TrainingConfig, [
        "model.name=sparse_cosmic_tagger", "model.filters=2", "model.depth=2",
        "model.deep_filters=8", "model.deep_blocks=1", "model.head=plain",
        "model.backend=reference", "data.target=cosmic", "data.downsample=2",
        "data.crop=[64, 64]", f"data.train={sbnd}", "loss.scheme=mild", "train.steps=2",
        "train.checkpoint_every=2"])
    last = train(cfg, tmp_path / "run")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    m = evaluate(cfg, tmp_path / "run" / "model.safetensors", sbnd, tmp_path / "eval",
                 max_events=1)
    assert m["events"] == 1 and m["classes"] == ["background", "cosmic", "neutrino"]
    from larseg.data import SparseDataset
    from larseg.io import open_events

    ds = SparseDataset(open_events(sbnd, fields=["cosmic"]), planes=[0, 1, 2], target="cosmic",
                       downsample=2)
    sample = ds.sample(0)
    for k, plane in enumerate(("U", "V", "Y")):  # every input pixel of the event counted once
        assert np.asarray(m["active"][plane]["confusion"]).sum() == len(sample.planes[k].values)
    assert (tmp_path / "eval" / "event_display.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["events"] == 1
