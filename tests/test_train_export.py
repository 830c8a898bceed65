"""`larseg export`: weights trained by `larseg train` exported to ONNX and TorchScript, run by
onnxruntime / torch.jit.load on real simulated events at other sizes than the traced one, and
compared with torch to 1e-4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from larseg.errors import LarsegError
from larseg.train.export import check_dense, export, max_difference, run_exported
from larseg.weights.loading import build_from_weights, sha256_of

LARSEG = str(Path(sys.executable).with_name("larseg"))


@pytest.fixture(scope="module")
def run(simulated_files, tmp_path_factory):
    from tests.test_train_engine import CONFIG

    tmp = tmp_path_factory.mktemp("export")
    cfg = tmp / "c.yaml"
    cfg.write_text(CONFIG.replace("steps: 10", "steps: 2") % simulated_files["sbnd"])
    done = subprocess.run([LARSEG, "train", str(cfg), "-o", str(tmp / "run")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return tmp / "run"


def _real_images(run: Path, data: Path):
    """Two events cropped to 96 × 128 (batch 2; the export traced 1 × 64 × 96), and the whole
    plane 2 of one event (1 plane, 640 × 1024), at the run's resolution."""
    from larseg.data import DenseDataset, RandomCrop
    from larseg.data.collate import dense_collate
    from larseg.io import open_events

    _, cfg, _ = build_from_weights(run / "model.safetensors")
    kw = dict(planes=cfg.data.planes, target=cfg.data.target, downsample=cfg.data.downsample,
              pool=cfg.data.pool, seed=1)
    crops = DenseDataset(open_events(data), transform=[RandomCrop((96, 128), min_pixels=50)],
                         **kw)
    whole = DenseDataset(open_events(data), **kw)
    batch = dense_collate([crops[0], crops[1]])["image"]
    plane = whole[2]["image"][2:3][None]
    assert batch.shape == (2, 3, 96, 128) and plane.shape == (1, 1, 640, 1024)
    assert (batch > 0).sum() > 100 and (plane > 0).sum() > 1000   # real activity
    return [batch, plane]


def _check_agreement(run: Path, out: Path, fmt: str, images) -> None:
    model, _, _ = build_from_weights(run / "model.safetensors")
    for x in images:
        with torch.no_grad():
            ref = model(x).numpy()
        got = run_exported(out, fmt, x)
        assert got.shape == ref.shape == (*x.shape[:2], 3, *x.shape[2:])
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
        assert np.abs(ref).max() > 0.1                  # not a trivially small output


def test_onnx_export_agrees_with_torch_on_real_events(run, simulated_files):
    pytest.importorskip("onnxruntime", reason="pip install 'larseg[export]'")
    onnx = pytest.importorskip("onnx", reason="pip install 'larseg[export]'")

    out = export(run / "model.safetensors", "onnx", run / "exported" / "m.onnx")
    assert out == run / "exported" / "m.onnx" and not out.with_name("m.onnx.tmp").exists()
    _check_agreement(run, out, "onnx", _real_images(run, simulated_files["sbnd"]))
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["larseg.weights_sha256"] == sha256_of(run / "model.safetensors")
    assert json.loads(props["larseg.config"])["model"]["filters"] == 4
    assert props["larseg.size_multiple"] == "4"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_export_agrees_with_torch_on_real_events(run, simulated_files):
    out = export(run / "model.safetensors", "torchscript")   # default: beside the weights
    assert out == run / "model.pt"
    _check_agreement(run, out, "torchscript", _real_images(run, simulated_files["sbnd"]))
    extra = {"larseg.json": ""}
    torch.jit.load(str(out), _extra_files=extra)
    meta = json.loads(extra["larseg.json"])
    assert meta["larseg.weights_sha256"] == sha256_of(run / "model.safetensors")
    assert max_difference(run / "model.safetensors", out, "torchscript") < 1e-4


def test_export_command_and_its_one_line_errors(run, tmp_path):
    done = subprocess.run([LARSEG, "export", "--weights", str(run / "model.safetensors"),
                           "--format", "torchscript", "-o", str(tmp_path / "m.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'm.pt'} (torchscript)" in done.stderr
    checked = [ln for ln in done.stderr.splitlines() if ln.startswith("checked:")]
    assert len(checked) == 1 and float(checked[0].split()[-1]) < 1e-4
    bare = tmp_path / "bare.safetensors"                   # weights without their JSON
    bare.write_bytes((run / "model.safetensors").read_bytes())
    done = subprocess.run([LARSEG, "export", "--weights", str(bare), "--format", "torchscript",
                           "-o", str(tmp_path / "x.pt")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "have no bare.json beside them" in lines[0], done.stderr
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(LarsegError, match="export format 'tflite': choose onnx or torchscript"):
        export(run / "model.safetensors", "tflite")


def test_the_cosmic_tagger_exports_too(tmp_path):
    """The SBND paper's multi-plane network (a small width), batch and image size other than
    traced."""
    from larseg.models import build
    from larseg.models.cosmic_tagger import CosmicTaggerConfig
    from larseg.train.trainer import DataConfig, TrainingConfig
    from larseg.weights.loading import save_weights

    cfg = TrainingConfig(model=CosmicTaggerConfig(filters=2, depth=3, deep_filters=8,
                                                  deep_blocks=1), data=DataConfig(crop=(64, 64)))
    torch.manual_seed(0)
    model = build(cfg.model).eval()
    w = save_weights(tmp_path / "ct.safetensors", model, cfg)
    x = torch.rand((2, 3, 128, 96), generator=torch.Generator().manual_seed(1)) * 50
    with torch.no_grad():
        ref = model(x).numpy()
    formats = ["torchscript"]
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        formats.append("onnx")
    except ImportError:  # the optional extra is not installed: TorchScript only
        pass
    for fmt in formats:
        out = export(w, fmt)
        np.testing.assert_allclose(run_exported(out, fmt, x), ref, rtol=0, atol=1e-4)


def test_a_sparse_network_is_refused():
    from larseg.models import build
    from larseg.models.sparse_ssnet import SparseSSNetConfig

    net = build(SparseSSNetConfig(filters=4, levels=2, n_planes=1))
    with pytest.raises(LarsegError, match=r"export: 'sparse_ssnet' is a sparse network \(it uses "
                                          r"SparseSSNet of larseg\.models\.sparse_ssnet\); only "
                                          r"dense networks export to onnx / torchscript"):
        check_dense(net, "sparse_ssnet")
    check_dense(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)), "dense")   # no error
