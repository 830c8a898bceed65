"""Weights shipped inside the package, and the metadata file beside every weights file.

A weights file ``<name>.safetensors`` travels with ``<name>.json`` beside it (a training run
writes ``RUN/model.safetensors`` + ``RUN/model.json``). The JSON holds:

- written by the trainer: ``config`` (the resolved training config: sections model, data,
  loss, optim, train), ``parameters`` (the model's parameter count), ``sha256`` (hex digest of
  the ``.safetensors`` file), ``larseg_version``;
- added when the weights are shipped (:func:`larseg.weights.loading.ship`): ``metrics`` (what
  they reach on the held-out set), ``train_command`` (the exact command that trained them) and
  ``measure_command`` (the one that measures ``metrics``).

This folder is package data (``pyproject.toml``: ``weights/*.safetensors``, ``weights/*.json``).
Shipped weights are the pairs in it (tests/test_train_weights.py checks that each JSON has every
key above and that hash and architecture agree); none is shipped yet (the networks arrive with
their issues).
:func:`shipped` gives the path of one, :func:`available` lists them, and
:func:`resolve_weights` turns a ``--weights`` value (a file, or the name of shipped weights) into
a path. Loading with checks (sha256, architecture) is in :mod:`larseg.weights.loading`; this
module does not import torch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import LarsegError

WEIGHTS_DIR = Path(__file__).resolve().parent
SUFFIX = ".safetensors"
#: keys every run's JSON has (the trainer writes them)
RUN_KEYS = ("config", "parameters", "sha256")
#: keys shipped weights carry as well
SHIPPED_KEYS = (*RUN_KEYS, "metrics", "train_command", "measure_command")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def sidecar(weights: str | Path) -> Path:
    """The metadata file beside a weights file: ``x.safetensors`` -> ``x.json``."""
    return Path(weights).with_suffix(".json")


def read_sidecar(weights: str | Path) -> dict | None:
    """The JSON beside ``weights`` (None when there is none); a one-line error if unreadable."""
    path = sidecar(weights)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LarsegError(f"weights {weights}: its metadata {path.name} cannot be read "
                          f"({e})") from None
    if not isinstance(meta, dict):
        raise LarsegError(f"weights {weights}: its metadata {path.name} is not a JSON object")
    return meta


def available(folder: str | Path = WEIGHTS_DIR) -> list[str]:
    """Names of the weights in ``folder`` that have a ``.safetensors`` and a ``.json``."""
    folder = Path(folder)
    return sorted(p.name[:-len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}")
                  if sidecar(p).is_file())


def _listing(folder: Path) -> str:
    names = available(folder)
    return f"shipped: {', '.join(names)}" if names else "none is shipped yet"


def shipped(name: str, folder: str | Path = WEIGHTS_DIR) -> Path:
    """Path of the shipped weights ``name`` (``<folder>/<name>.safetensors``)."""
    folder = Path(folder)
    if not _NAME.match(name):
        raise LarsegError(f"'{name}' is not a weights name (letters, digits, _ . -)")
    path = folder / f"{name}{SUFFIX}"
    if not (path.is_file() and sidecar(path).is_file()):
        raise LarsegError(f"no shipped weights '{name}' ({_listing(folder)})")
    return path


def resolve_weights(spec: str | Path, folder: str | Path = WEIGHTS_DIR) -> Path:
    """A ``--weights`` value as a path: an existing file, else the shipped weights of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        raise LarsegError(f"weights {path} is a directory; give its model.safetensors")
    if _NAME.match(str(spec)) and str(spec) in available(folder):
        return shipped(str(spec), folder)
    raise LarsegError(f"weights {spec} do not exist (a .safetensors file, or the name of "
                      f"shipped weights: {_listing(Path(folder))})")


__all__ = ["WEIGHTS_DIR", "RUN_KEYS", "SHIPPED_KEYS", "available", "read_sidecar",
           "resolve_weights", "shipped", "sidecar"]
