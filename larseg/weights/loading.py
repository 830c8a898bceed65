"""Save and load weights with checks, build a network from its weights alone, ship a run's.

:func:`load_checked` is what every command that takes ``--weights`` uses (through
:func:`larseg.train.evaluate.load_weights`). Before touching the model it checks, each failure
being one line that names the file:

1. the sha256 of the file against the JSON beside it, when there is one (a run's
   ``model.json``, a shipped ``<name>.json``): "sha256 mismatch: file modified or truncated";
2. the architecture: every state-dict key and shape of the file against the model the config
   builds; the first key that differs, in the model's order, is named with both shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from ..errors import LarsegError
from . import RUN_KEYS, WEIGHTS_DIR, _NAME, SUFFIX, read_sidecar, sidecar


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (shipped weights can be tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: str | Path, meta: Mapping) -> None:
    """Raise if the file's sha256 is not the one its JSON records."""
    want = meta.get("sha256")
    if not isinstance(want, str) or len(want) != 64:
        raise LarsegError(f"weights {path}: its metadata {sidecar(path).name} has no sha256")
    got = sha256_of(path)
    if got != want:
        raise LarsegError(f"weights {path}: sha256 mismatch: file modified or truncated "
                          f"({sidecar(path).name} says {want[:12]}…, the file is {got[:12]}…)")


def _shape(t) -> tuple[int, ...]:
    return tuple(int(n) for n in t.shape)


def architecture_mismatch(model_state: Mapping, file_state: Mapping) -> str | None:
    """What first differs between two state dicts (keys, shapes), in the model's key order,
    as a phrase; None when every key and shape agrees."""
    diffs = []
    for k, v in model_state.items():
        if k not in file_state:
            diffs.append(f"'{k}' {_shape(v)} of the model is not in the file")
        elif _shape(file_state[k]) != _shape(v):
            diffs.append(f"'{k}' is {_shape(file_state[k])} in the file, {_shape(v)} in the model")
    diffs += [f"the file has '{k}' {_shape(v)}, which the model lacks"
              for k, v in file_state.items() if k not in model_state]
    if not diffs:
        return None
    more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
    return diffs[0] + more


def load_checked(model, path: str | Path) -> dict | None:
    """Load safetensors ``path`` into ``model`` after the sha256 and architecture checks;
    returns the JSON beside the file (None when there is none, and then no hash is checked)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise LarsegError(f"weights {path} do not exist")
    meta = read_sidecar(path)
    if meta is not None:
        check_sha256(path, meta)
    try:
        state = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for bad headers
        raise LarsegError(f"weights {path} cannot be read as safetensors ({e})") from None
    what = architecture_mismatch(model.state_dict(), state)
    if what:
        raise LarsegError(f"weights {path} are for another architecture: {what}; check the "
                          "config's model section")
    model.load_state_dict(state)
    return meta


def save_weights(path: str | Path, model, cfg, extra: Mapping | None = None) -> Path:
    """Write ``model``'s state dict to safetensors ``path`` and the JSON beside it (config,
    larseg version, parameter count, sha256, and ``extra`` keys), each atomically: the format a
    run's ``model.safetensors`` + ``model.json`` have (the trainer writes them through this)."""
    from safetensors.torch import save_file

    from .. import __version__
    from ..train.config import config_to_dict

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(tmp))
    os.replace(tmp, path)
    meta = {"config": config_to_dict(cfg), "larseg_version": __version__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "sha256": sha256_of(path), **(extra or {})}
    side = sidecar(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, side)
    return path


def config_of(path: str | Path, meta: Mapping | None = None):
    """The training config stored in the JSON beside weights ``path``."""
    from ..train.config import ConfigError, _build
    from ..train.trainer import TrainingConfig

    meta = read_sidecar(path) if meta is None else meta
    if meta is None:
        raise LarsegError(f"weights {path} have no {sidecar(path).name} beside them: the config "
                          "that builds the network is stored there by `larseg train`")
    if not isinstance(meta.get("config"), Mapping):
        raise LarsegError(f"weights {path}: {sidecar(path).name} holds no config")
    try:
        return _build(TrainingConfig, meta["config"], "")
    except ConfigError as e:
        raise LarsegError(f"weights {path}: the config in {sidecar(path).name} does not fit "
                          f"this larseg ({e})") from None


def build_from_weights(path: str | Path):
    """(model in eval mode with the weights loaded, its training config, its JSON): the network
    rebuilt from the config its JSON stores, checked as :func:`load_checked` does."""
    from ..models import build

    path = Path(path)
    if not path.is_file():
        raise LarsegError(f"weights {path} do not exist")
    cfg = config_of(path)
    model = build(cfg.model)
    meta = load_checked(model, path)
    model.eval()
    return model, cfg, meta


def ship(weights: str | Path, name: str, *, metrics: Mapping, train_command: str,
         measure_command: str, folder: str | Path = WEIGHTS_DIR, half: bool = False) -> Path:
    """Copy a run's ``model.safetensors`` (+ its JSON) to ``<folder>/<name>.safetensors`` and
    ``<name>.json``, adding the metrics reached and the commands that train and measure it.
    The run's file is checked first (hash, and the architecture its config builds).

    ``half``: store the floating-point tensors in float16 (half the size in the package; a
    network loads them back into its float32 parameters, a relative rounding of 5e-4). The
    JSON then records ``stored_dtype`` and the run file's sha256 as ``source_sha256``."""
    src = Path(weights)
    if not _NAME.match(name):
        raise LarsegError(f"'{name}' is not a weights name (letters, digits, _ . -)")
    build_from_weights(src)  # the hash and the architecture
    meta = read_sidecar(src) or {}
    missing = [k for k in RUN_KEYS if k not in meta]
    if missing:
        raise LarsegError(f"weights {src}: {sidecar(src).name} lacks {', '.join(missing)}")
    if not (train_command.strip() and measure_command.strip()):
        raise LarsegError("shipped weights need the command that trained them and the one "
                          "that measures them")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}{SUFFIX}"
    tmp = dst.with_name(dst.name + ".tmp")
    extra = {}
    if half:
        _write_half(src, tmp)
        extra = {"stored_dtype": "float16", "source_sha256": meta["sha256"],
                 "sha256": sha256_of(tmp)}
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    out = {**meta, **extra, "metrics": dict(metrics), "train_command": train_command,
           "measure_command": measure_command}
    side = sidecar(dst)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, side)
    return dst


#: float16's largest finite value: a tensor beyond it cannot be stored in half precision
_HALF_MAX = 65504.0


def _write_half(src: Path, dst: Path) -> None:
    """``src``'s tensors with every float32 one as float16 (integers untouched) to ``dst``."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(src))
    for k, v in state.items():
        if v.is_floating_point():
            if v.numel() and float(v.abs().max()) > _HALF_MAX:
                raise LarsegError(f"weights {src}: tensor '{k}' holds values beyond float16's "
                                  "range; ship it without half")
            state[k] = v.to(torch.float16)
    save_file(state, str(dst))


__all__ = ["architecture_mismatch", "build_from_weights", "check_sha256", "config_of",
           "load_checked", "save_weights", "sha256_of", "ship"]
