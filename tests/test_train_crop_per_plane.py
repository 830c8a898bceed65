"""data.crop_per_plane: SparseSSNet's planes each get a window centred on their own activity; the
default, one shared window, keeps the planes at the same place (the cosmic tagger's)."""

from __future__ import annotations

import numpy as np

from larseg.train.config import load_config
from larseg.train.paths import SparsePath
from larseg.train.sections import TrainingConfig

CONFIG = "larseg/configs/sparse_ssnet.yaml"


def _items(simulated_files, per_plane: bool):
    cfg = load_config(CONFIG, TrainingConfig, [
        f"data.train={simulated_files['microboone']}", "data.validation=",
        "data.crop=[128, 128]", f"data.crop_per_plane={str(per_plane).lower()}"])
    ds = SparsePath(cfg).dataset(cfg.data.train, "train", training=True)
    return [ds[i] for i in range(len(ds))]


def test_per_plane_windows_hold_each_planes_activity(simulated_files):
    for item in _items(simulated_files, per_plane=True):
        # every plane's crop is centred on one of its own labelled pixels
        assert all(len(c) > 0 for c in item["coords"])
        assert all(np.any(np.asarray(lab) >= 0) for lab in item["label"])


def test_shared_windows_cut_the_same_place_from_every_plane(simulated_files):
    shared = _items(simulated_files, per_plane=False)
    own = _items(simulated_files, per_plane=True)
    for item in shared:
        assert len({tuple(o.tolist()) for o in item["offset"]}) == 1
    # per plane: the windows sit where each plane's activity is, not all at one place
    assert any(len({tuple(o.tolist()) for o in item["offset"]}) > 1 for item in own)
