"""`larseg predict --ray`: shards predicted on a local Ray instance (2 CPUs) equal the
single-machine prediction event by event."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.uresnet import UResNetConfig
from larseg.shards import manifest_files
from larseg.train.predict import predict, predict_sharded, prediction_producers
from larseg.train.trainer import DataConfig, TrainingConfig
from larseg.weights.loading import save_weights, sha256_of

ray = pytest.importorskip("ray")

PRODUCERS = [prediction_producers("cosmic", ["background", "cosmic", "neutrino"])[0],
             *prediction_producers("cosmic", ["background", "cosmic", "neutrino"])[1]]


@pytest.fixture(scope="module")
def weights(simulated_files, tmp_path_factory):
    cfg = TrainingConfig(model=UResNetConfig(filters=4, depth=2),
                         data=DataConfig(train=str(simulated_files["sbnd"])))
    torch.manual_seed(4)
    path = save_weights(tmp_path_factory.mktemp("w") / "model.safetensors",
                        build(cfg.model).eval(), cfg)
    return cfg, path


def _products(path, entry: int) -> dict:
    from larseg.io import Larcv3Reader

    r = Larcv3Reader(path)
    try:
        return {p: [(x.ids, x.values) for x in r.read_sparse2d(p, entry)] for p in PRODUCERS}
    finally:
        r.close()


def test_ray_shards_equal_the_single_machine_prediction(weights, simulated_files, tmp_path):
    from larseg.io import EventFile

    cfg, w = weights
    data = simulated_files["sbnd"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each Ray task: the same float sums
    try:
        single = tmp_path / "single.h5"
        assert predict(cfg, w, data, single) == 3
    finally:
        torch.set_num_threads(threads)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        manifest = predict_sharded(cfg, w, data, tmp_path / "shards", shard_size=2)
    finally:
        ray.shutdown()
    m = json.loads(manifest.read_text())
    assert [(s["first_event"], s["n_events"]) for s in m["shards"]] == [(0, 2), (2, 1)]
    assert m["n_events"] == 3 and m["weights_sha256"] == sha256_of(w)
    files = manifest_files(manifest)
    shard_of = [(f, k) for f in files for k in range(len(EventFile(f)))]
    assert len(shard_of) == len(EventFile(single)) == 3
    for entry, (f, k) in enumerate(shard_of):               # event by event
        assert EventFile(f)[k].tag == EventFile(single)[entry].tag
        got, want = _products(f, k), _products(single, entry)
        for prod in PRODUCERS:
            for (ids_a, v_a), (ids_b, v_b) in zip(got[prod], want[prod]):
                np.testing.assert_array_equal(ids_a, ids_b)
                np.testing.assert_array_equal(v_a, v_b)
        assert len(got[PRODUCERS[0]]) == 3 and len(got[PRODUCERS[0]][0][0]) > 100


def test_a_range_outside_the_file_is_one_line(weights, simulated_files, tmp_path):
    cfg, w = weights
    with pytest.raises(LarsegError, match=r"has 3 events: no events 2 … 4"):
        predict(cfg, w, simulated_files["sbnd"], tmp_path / "x.h5", events_range=(2, 3))
