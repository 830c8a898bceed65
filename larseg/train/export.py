"""Export a dense network's trained weights to ONNX or TorchScript.

The network is rebuilt from the config in the JSON beside the weights (a run's ``model.json``,
or a shipped ``<name>.json``), loaded with the usual checks (:mod:`larseg.weights.loading`),
put in eval mode (BatchNorm uses its running statistics) and traced on an example image of the
config's crop size. The exported graph takes

- ``image``: (batch, planes, height, width) float32, the ADC at the config's resolution
  (``data.downsample``, pooled as ``data.pool``); height and width multiples of the network's
  ``size_multiple`` (2^depth), as for the torch network;

and returns ``logits`` (batch, planes, classes, height, width). Batch, planes, height and width
are dynamic axes in both formats (tests/test_train_export.py runs other sizes than the traced
one); a network built for a fixed number of planes (the cosmic tagger's cross-plane block) still
needs that number.

- **onnx**: torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), opset
  17. It needs only the ``onnx`` package; torch 2.13's default dynamo exporter also needs
  ``onnxscript`` (+10 MB) and took ~11 s instead of ~1.5 s on the engine's UResNet (4 filters)
  here. The larseg config and the weights' sha256 go into the model's ``metadata_props``.
- **torchscript**: ``torch.jit.trace``; the same metadata as ``larseg.json`` in the archive's
  extra files (``torch.jit.load(path, _extra_files={"larseg.json": ""})``).

Sparse networks (modules of :mod:`larseg.models.sparse` or ``larseg.models.sparse_*``, or spconv)
are refused: their input is a set of active pixels whose number changes from event to event.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import LarsegError
from .config import config_to_dict

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_OPSET = 17            # fixed, so the file does not change with torch's default
INPUT, OUTPUT = "image", "logits"
_SPARSE_MODULES = ("larseg.models.sparse", "spconv")
_EXTRA = "pip install 'larseg[export]'"


def sparse_modules(model) -> list[str]:
    """``Class of module`` for each submodule from the sparse backend or a sparse network
    (``larseg.models.sparse``, ``larseg.models.sparse_*``, spconv); empty for a dense network."""
    return [f"{type(m).__name__} of {type(m).__module__}" for m in model.modules()
            if type(m).__module__.startswith(_SPARSE_MODULES)]


def check_dense(model, name: str) -> None:
    sparse = sparse_modules(model)
    if sparse:
        raise LarsegError(f"export: '{name}' is a sparse network (it uses {sparse[0]}); only "
                          f"dense networks export to {' / '.join(FORMATS)}")


def example_input(cfg, multiple: int, seed: int = 0):
    """A (1, planes, H, W) ADC-like image (non-negative, mostly empty, as wire images are) of
    the config's crop size rounded up to ``multiple``."""
    h, w = (-(-int(s) // multiple) * multiple for s in cfg.data.crop)
    rng = np.random.default_rng(seed)
    x = rng.exponential(40.0, (1, len(cfg.data.planes), h, w)) * (rng.random((1, 1, h, w)) < 0.1)
    return torch.from_numpy(x.astype(np.float32))


def _metadata(cfg, meta: dict, multiple: int) -> dict[str, str]:
    return {"larseg.config": json.dumps(config_to_dict(cfg), sort_keys=True),
            "larseg.weights_sha256": str(meta.get("sha256", "")),
            "larseg.size_multiple": str(multiple),
            "larseg.input": f"{INPUT}: (batch, planes, height, width) float32 ADC",
            "larseg.output": f"{OUTPUT}: (batch, planes, classes, height, width)"}


def _export_onnx(model, x, tmp: Path, metadata: dict[str, str]) -> None:
    try:
        import onnx
    except ImportError:
        raise LarsegError(f"ONNX export needs the optional dependencies: {_EXTRA}") from None
    axes = {INPUT: {0: "batch", 1: "planes", 2: "height", 3: "width"},
            OUTPUT: {0: "batch", 1: "planes", 3: "height", 4: "width"}}
    with warnings.catch_warnings():  # the TorchScript-based exporter announces its deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes=axes, opset_version=ONNX_OPSET)
    graph = onnx.load(str(tmp))
    for k, v in metadata.items():
        graph.metadata_props.add(key=k, value=v)
    onnx.save(graph, str(tmp))


def _export_torchscript(model, x, tmp: Path, metadata: dict[str, str]) -> None:
    with warnings.catch_warnings():  # torch.jit.trace announces its deprecation
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (x,))
        torch.jit.save(traced, str(tmp), _extra_files={"larseg.json": json.dumps(metadata)})


def export(weights: str | Path, fmt: str, output: str | Path | None = None) -> Path:
    """Export the dense network of ``weights`` (+ the JSON beside it) as ``fmt``; returns the
    output path (default: the weights' path with ``.onnx`` / ``.pt``). Written atomically."""
    from ..weights import resolve_weights
    from ..weights.loading import build_from_weights

    if fmt not in FORMATS:
        raise LarsegError(f"export format '{fmt}': choose {' or '.join(FORMATS)}")
    weights = resolve_weights(weights)
    model, cfg, meta = build_from_weights(weights)
    check_dense(model, cfg.model.name)
    multiple = int(getattr(model, "size_multiple", 1))
    x = example_input(cfg, multiple)
    with torch.no_grad():
        y = model(x)
    if not isinstance(y, torch.Tensor):
        raise LarsegError(f"export: '{cfg.model.name}' returns {type(y).__name__}, not one "
                          "logits tensor")
    out = Path(output) if output is not None else weights.with_suffix(SUFFIXES[fmt])
    if out.is_dir():
        raise LarsegError(f"{out} is a directory; give -o a file name, e.g. "
                          f"{out / ('model' + SUFFIXES[fmt])}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        (_export_onnx if fmt == "onnx" else _export_torchscript)(
            model, x, tmp, _metadata(cfg, meta or {}, multiple))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def run_exported(path: str | Path, fmt: str, image) -> np.ndarray:
    """Logits of an exported model on ``image`` (a (B, P, H, W) tensor or array): onnxruntime on
    CPU for onnx, ``torch.jit.load`` for torchscript."""
    x = np.ascontiguousarray(np.asarray(image, dtype=np.float32))
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise LarsegError(f"running an ONNX model needs onnxruntime: {_EXTRA}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return session.run([OUTPUT], {INPUT: x})[0]
    if fmt == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore")
            return torch.jit.load(str(path)).eval()(torch.from_numpy(x)).numpy()
    raise LarsegError(f"export format '{fmt}': choose {' or '.join(FORMATS)}")


def max_difference(weights: str | Path, path: str | Path, fmt: str, image=None) -> float:
    """Largest |exported − torch| logit on ``image`` (default: the example input)."""
    from ..weights import resolve_weights
    from ..weights.loading import build_from_weights

    model, cfg, _ = build_from_weights(resolve_weights(weights))
    if image is None:
        image = example_input(cfg, int(getattr(model, "size_multiple", 1)), seed=1)
    image = torch.as_tensor(np.asarray(image, dtype=np.float32))
    with torch.no_grad():
        ref = model(image).numpy()
    return float(np.abs(run_exported(path, fmt, image) - ref).max())
