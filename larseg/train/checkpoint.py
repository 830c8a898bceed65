"""Checkpoints: everything a run needs to continue exactly as if it had not stopped.

A checkpoint holds its format version, larseg's version, the resolved config, the model, the
optimiser, the LR scheduler and the gradient scaler, the run's position (step, epoch, micro-batch
within the epoch, events skipped) and the RNG states (python, numpy, torch). It is written to a
temporary file and renamed, with SIGINT/SIGTERM held back, so a kill at any moment leaves the
previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..data._torch import torch
from ..errors import LarsegError
from ..interrupt import deferred_signals
from .config import config_to_dict

CHECKPOINT_FORMAT = 2


@dataclass
class Position:
    step: int = 0      # optimiser steps done
    epoch: int = 0
    batch: int = 0     # micro-batches of this epoch consumed
    skipped: int = 0   # events skipped (empty after cropping, unreadable) so far


def save(path: Path, cfg, pos: Position, model, optim, sched, scaler) -> None:
    state = {"format": CHECKPOINT_FORMAT, "larseg_version": __version__,
             "config": config_to_dict(cfg), "model": model.state_dict(),
             "optimizer": optim.state_dict(), "scheduler": sched.state_dict(),
             "scaler": scaler.state_dict(), "position": vars(pos).copy(),
             "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                     "python": random.getstate()}}
    tmp = path.with_name(path.name + ".tmp")
    with deferred_signals():
        torch.save(state, tmp)
        os.replace(tmp, path)
        (path.parent / "checkpoint.json").write_text(json.dumps({"step": pos.step}))


def load(path: Path, cfg, model, optim, sched, scaler) -> Position:
    """Restore a checkpoint into the given objects; the run's position is returned."""
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise LarsegError(f"checkpoint {path} cannot be read ({e})") from None
    if state.get("format") != CHECKPOINT_FORMAT:
        raise LarsegError(f"checkpoint {path} has format {state.get('format')}, this larseg "
                          f"writes {CHECKPOINT_FORMAT}: start a new run directory")
    if state.get("config") != config_to_dict(cfg):
        raise LarsegError(f"checkpoint {path} was written with another config: resume with the "
                          "same config and overrides, or start a new run directory")
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return Position(**state["position"])
