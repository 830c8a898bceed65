"""Datasets over real larcv3 files written by the simulator (EventFile as the source)."""

from __future__ import annotations

import numpy as np
import torch

from larseg.data import AdcMask, DenseDataset, RandomCrop, SparseDataset, make_loader
from larseg.io import EventFile


def test_sbnd_cosmic_tagger_tensors(simulated_files):
    ds = DenseDataset(EventFile(simulated_files["sbnd"]), target="cosmic", downsample=2, pool="sum")
    item = ds[0]
    assert item["image"].shape == (3, 640, 1024) and item["image"].dtype == torch.float32
    assert item["label"].shape == (3, 640, 1024)
    assert set(torch.unique(item["label"]).tolist()) <= {0, 1, 2}
    # sum pooling keeps the charge of the full-resolution event
    ev = EventFile(simulated_files["sbnd"])[0]
    assert np.isclose(item["image"].sum().item(), sum(p.values.sum() for p in ev.planes), rtol=1e-4)


def test_sparsessnet_crops_from_a_file_are_worker_independent(simulated_files):
    ds = SparseDataset(EventFile(simulated_files["microboone"]), planes=(2,), target="semantic",
                       transform=[AdcMask(10, 300), RandomCrop((512, 512), min_pixels=20)], seed=3)
    batches = []
    for workers in (0, 2):
        loader = make_loader(ds, batch_size=2, shuffle=False, num_workers=workers)
        batches.append([b for b in loader])
    # 3 events in batches of 2: two batches (column 0 of coords is the event in the batch)
    for run in batches:
        assert [len(torch.unique(b["coords"][0][:, 0])) for b in run] == [2, 1]
    for a, b in zip(*batches):
        for key in ("coords", "features", "label"):
            assert len(a[key]) == len(b[key])
            for xa, xb in zip(a[key], b[key]):
                assert len(xa) > 0 and torch.equal(xa, xb)
    first = batches[0][0]
    assert first["features"][0].min() >= 10 and first["features"][0].max() <= 300
    assert first["coords"][0][:, 1:].max() < 512
