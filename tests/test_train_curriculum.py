"""The loss curriculum (loss.warmup_scheme for the first loss.warmup_steps steps) and
neutrino-focused crops (data.crop_focus), as the training paths apply them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.data.weights import batch_weights
from larseg.errors import LarsegError
from larseg.models import build
from larseg.train import paths
from larseg.train.config import load_config
from larseg.train.trainer import TrainingConfig

BASE = ["model.name=uresnet", "model.n_classes=3", "model.filters=4", "model.depth=2",
        "data.target=cosmic"]


def _cfg(*extra: str) -> TrainingConfig:
    return load_config(None, TrainingConfig, [*BASE, *extra])


def _batch() -> dict:
    rng = np.random.default_rng(0)
    label = rng.choice([0, 1, 2], size=(1, 3, 16, 16), p=[0.9, 0.08, 0.02]).astype(np.int64)
    return {"label": torch.from_numpy(label)}


def test_warmup_scheme_weights_the_first_steps_then_the_scheme():
    cfg = _cfg("loss.scheme=mild", "loss.warmup_scheme=image", "loss.warmup_steps=3")
    path = paths.path_for(build(cfg.model), cfg)
    batch = _batch()
    lab = batch["label"].numpy()
    image = batch_weights(lab, "image", 3, cfg.loss.class_weights)
    mild = batch_weights(lab, "mild", 3, cfg.loss.class_weights)
    assert not np.allclose(image, mild)
    for step, want in ((1, image), (3, image), (4, mild), (None, mild)):
        np.testing.assert_allclose(path.weights(batch, "cpu", step=step).numpy(), want)
    assert [cfg.loss.scheme_at(s) for s in (1, 3, 4)] == ["image", "image", "mild"]


@pytest.mark.parametrize("extra, says", [
    (["loss.warmup_scheme=image"], "go together"),
    (["loss.warmup_steps=10"], "go together"),
    (["loss.warmup_scheme=cluster", "loss.warmup_steps=5"], "loss.warmup_scheme 'cluster'"),
    (["data.crop_focus=1.5"], "data.crop_focus"),
])
def test_bad_curriculum_or_focus_is_one_error_naming_the_key(extra, says):
    cfg = _cfg(*extra)
    with pytest.raises(LarsegError, match=says):
        paths.path_for(build(cfg.model), cfg)


def test_crop_focus_reaches_the_training_crop():
    cfg = _cfg("data.crop_focus=0.5")
    crop = paths.path_for(build(cfg.model), cfg).crop()
    assert crop.focus_fraction == 0.5 and crop.focus_label == 2
