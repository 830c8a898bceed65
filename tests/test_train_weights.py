"""Weights files and their JSON: the sha256 and architecture checks on loading, shipping a run's
weights into a weights folder, and the package's own folder (larseg/weights/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.uresnet import UResNetConfig
from larseg.train.evaluate import load_weights
from larseg.train.trainer import TrainingConfig
from larseg.weights import (SHIPPED_KEYS, WEIGHTS_DIR, available, read_sidecar, resolve_weights,
                            shipped, sidecar)
from larseg.weights.loading import build_from_weights, save_weights, sha256_of, ship

TINY = UResNetConfig(filters=4, depth=2)


def _model(cfg: UResNetConfig = TINY, seed: int = 0):
    torch.manual_seed(seed)
    m = build(cfg)
    with torch.no_grad():  # BatchNorm statistics that are not the defaults
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    return m.eval()


@pytest.fixture
def saved(tmp_path):
    """A freshly built network saved with its JSON, and the network."""
    model = _model()
    path = save_weights(tmp_path / "model.safetensors", model, TrainingConfig(model=TINY))
    return path, model


def _image():
    g = torch.Generator().manual_seed(3)
    return torch.rand((1, 3, 32, 48), generator=g) * 100


def test_saved_json_describes_the_file(saved):
    path, model = saved
    meta = json.loads(sidecar(path).read_text())
    assert sidecar(path).name == "model.json"
    assert meta["sha256"] == sha256_of(path) and len(meta["sha256"]) == 64
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())
    assert meta["config"]["model"] == {"name": "uresnet", "n_classes": 3, "filters": 4,
                                       "depth": 2}


def test_correct_file_loads_and_gives_identical_outputs(saved):
    path, model = saved
    other = _model(seed=1)
    x = _image()
    with torch.no_grad():
        assert not torch.equal(other(x), model(x))
        meta = load_weights(other, path)
        assert torch.equal(other(x), model(x))
    assert meta == read_sidecar(path)
    rebuilt, cfg, _ = build_from_weights(path)       # the network from the file alone
    assert cfg.model == TINY and not rebuilt.training
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_a_corrupted_byte_is_a_hash_error(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01                                  # one bit of the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(LarsegError) as e:
        load_weights(_model(), path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    assert "sha256 mismatch: file modified or truncated" in msg


def test_a_truncated_file_is_a_hash_error(saved):
    path, _ = saved
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(LarsegError, match="sha256 mismatch: file modified or truncated"):
        load_weights(_model(), path)


def test_weights_of_another_architecture_name_the_first_key(saved):
    path, _ = saved
    wider = build(UResNetConfig(filters=8, depth=2))
    with pytest.raises(LarsegError) as e:
        load_weights(wider, path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "another architecture" in msg
    # the model's first key, both shapes, and how many more differ (all but the scalars and
    # the head's bias, 3 classes in both)
    assert "'stem.weight' is (4, 1, 7, 7) in the file, (8, 1, 7, 7) in the model" in msg
    narrow = _model().state_dict()
    n_diff = sum(1 for k, v in wider.state_dict().items() if v.shape != narrow[k].shape)
    assert n_diff == 71 and f"(and {n_diff - 1} more)" in msg

    deeper = build(UResNetConfig(filters=4, depth=3))
    with pytest.raises(LarsegError) as e:
        load_weights(deeper, path)
    # down.2 exists only in the deeper model; before it, down.0/down.1 and widen.0/1 agree
    assert "'down.2.conv1.weight' (16, 16, 3, 3) of the model is not in the file" in str(e.value)

    shallower = build(UResNetConfig(filters=4, depth=1))
    with pytest.raises(LarsegError) as e:
        load_weights(shallower, path)
    assert "'bottom.conv1.weight' is (16, 16, 3, 3) in the file, (8, 8, 3, 3) in the model" \
        in str(e.value)


def test_weights_without_json_load_with_the_architecture_check_only(saved):
    path, model = saved
    sidecar(path).unlink()
    other = _model(seed=2)
    assert load_weights(other, path) is None
    with torch.no_grad():
        assert torch.equal(other(_image()), model(_image()))


def test_unreadable_json_and_missing_file_are_one_line(saved, tmp_path):
    path, _ = saved
    sidecar(path).write_text("{not json")
    with pytest.raises(LarsegError, match=r"its metadata model\.json cannot be read"):
        load_weights(_model(), path)
    with pytest.raises(LarsegError, match=r"weights nowhere\.safetensors do not exist .*none "
                                          r"is shipped yet"):
        resolve_weights("nowhere.safetensors", folder=tmp_path / "empty")


def test_ship_a_run_into_a_weights_folder(saved, tmp_path):
    path, model = saved
    folder = tmp_path / "weights"
    out = ship(path, "tiny-cosmic", metrics={"mean_iou": 0.5},
               train_command="larseg train tiny.yaml -o runs/tiny",
               measure_command="larseg evaluate runs/tiny/config.yaml --weights "
                               "runs/tiny/model.safetensors --data heldout.h5",
               folder=folder)
    assert out == folder / "tiny-cosmic.safetensors"
    assert out.read_bytes() == path.read_bytes()
    meta = json.loads((folder / "tiny-cosmic.json").read_text())
    assert set(SHIPPED_KEYS) <= set(meta)
    assert meta["sha256"] == sha256_of(out) and meta["metrics"] == {"mean_iou": 0.5}
    assert available(folder) == ["tiny-cosmic"]
    assert shipped("tiny-cosmic", folder) == out
    assert resolve_weights("tiny-cosmic", folder) == out      # a --weights value by name
    with pytest.raises(LarsegError, match=r"no shipped weights 'other' \(shipped: tiny-cosmic\)"):
        shipped("other", folder)
    rebuilt, _, _ = build_from_weights(out)
    with torch.no_grad():
        assert torch.equal(rebuilt(_image()), model(_image()))
    # a run whose file no longer matches its JSON is not shipped
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(LarsegError, match="sha256 mismatch"):
        ship(path, "broken", metrics={}, train_command="a", measure_command="b", folder=folder)
    assert available(folder) == ["tiny-cosmic"]


def test_ship_half_stores_float16_and_loads_back_close(saved, tmp_path):
    from safetensors.torch import load_file

    path, model = saved
    folder = tmp_path / "weights"
    out = ship(path, "tiny-half", metrics={}, train_command="larseg train t.yaml",
               measure_command="larseg evaluate t.yaml", folder=folder, half=True)
    meta = json.loads((folder / "tiny-half.json").read_text())
    assert meta["stored_dtype"] == "float16" and meta["sha256"] == sha256_of(out)
    assert meta["source_sha256"] == sha256_of(path) != meta["sha256"]
    stored = load_file(str(out))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert stored["stem.weight"].dtype == torch.float16
    assert out.stat().st_size < 0.6 * path.stat().st_size
    rebuilt, _, _ = build_from_weights(out)                # float32 parameters again
    assert all(p.dtype == torch.float32 for p in rebuilt.parameters())
    with torch.no_grad():
        a, b = model(_image()), rebuilt(_image())
    assert not torch.equal(a, b)
    torch.testing.assert_close(b, a, rtol=5e-3, atol=5e-3 * float(a.abs().max()))
    with torch.no_grad():  # beyond float16's range: refused, nothing written
        model.stem.weight[0, 0, 0, 0] = 1e6
    big = save_weights(tmp_path / "big.safetensors", model, TrainingConfig(model=TINY))
    with pytest.raises(LarsegError, match="beyond float16's range"):
        ship(big, "big", metrics={}, train_command="a", measure_command="b", folder=folder,
             half=True)
    assert available(folder) == ["tiny-half"]


def test_package_weights_folder_is_package_data_and_complete():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["larseg"]
    assert {"weights/*.safetensors", "weights/*.json"} <= set(patterns)
    assert WEIGHTS_DIR == Path(__file__).parents[1] / "larseg" / "weights"
    for name in available():  # every shipped file: complete JSON, hash and architecture agree
        meta = read_sidecar(shipped(name))
        assert set(SHIPPED_KEYS) <= set(meta), name
        build_from_weights(shipped(name))
