"""The training loop: deterministic, checkpointed atomically, resumable exactly.

One optimiser step = ``optim.accumulate`` micro-batches of ``data.batch_size`` events (gradient
accumulation: the SBND paper trains with minibatch 8–16 built from batches of 1). The order of the
events comes from a generator seeded by (data seed, epoch), the crops from (seed, epoch, index)
(:mod:`larseg.data.seeding`): where a run stands is (step, epoch, micro-batch within the epoch),
and that, with the model, the optimiser and the RNG states, is all a checkpoint needs to continue
exactly as an uninterrupted run would (tests/test_train_engine.py kills a run with SIGKILL and
compares).

Data-parallel: launched by ``torchrun --nproc_per_node N -m larseg train ...`` (gloo on CPU), each
optimiser step takes ``accumulate × N`` micro-batches, rank r the r-th of every N; DDP averages
the gradients, so N processes with ``accumulate`` = a equal one process with a × N (the same
micro-batches, the same BatchNorm statistics per micro-batch). Rank 0 alone writes.

A checkpoint (``RUN/checkpoint.pt``, written to a temporary file and renamed, signals held back)
is written every ``train.checkpoint_every`` steps and at the end; ``RUN/log.csv`` has one row per
step with every loss term; the final weights go to ``RUN/model.safetensors`` with
``RUN/model.json`` (config, parameter count, sha256). SIGINT/SIGTERM stop the run after the step
in progress, with a checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .. import __version__
from ..data._torch import torch
from ..data.weights import SBND_MILD_WEIGHTS, batch_weights
from ..errors import JobInterrupted, LarsegError
from ..interrupt import deferred_signals, graceful_stop
from ..models.uresnet import UResNetConfig
from .config import config_to_dict

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class DataConfig:
    train: str = ""                        # larcv3 file (or larcv1 ROOT) with ADC and labels
    planes: tuple[int, ...] = (0, 1, 2)
    target: Literal["cosmic", "semantic", "track_shower"] = "cosmic"
    downsample: int = 2                    # SBND paper: 50 % resolution (ADC summed)
    crop: tuple[int, int] = (256, 256)     # rows, wires after downsampling
    batch_size: int = 1
    seed: int = 0
    validation: str = ""                   # held-out file, simulated with other seeds
    validation_events: int = 4             # its first events, at full (downsampled) size


@dataclass(frozen=True)
class LossConfig:
    # SBND paper, section 7: "mild" class weights 1 / 1.5 / 10 (its baseline), per-image
    # balance, full (batch) balance, or none
    scheme: Literal["mild", "image", "full", "none"] = "mild"
    class_weights: tuple[float, ...] = SBND_MILD_WEIGHTS


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["rmsprop", "adam", "adamw"] = "rmsprop"  # SBND paper: RMSProp, lr 3e-4
    lr: float = 3e-4
    accumulate: int = 1
    clip_norm: float | None = None


@dataclass(frozen=True)
class RunConfig:
    steps: int = 100
    checkpoint_every: int = 20
    validate_every: int = 0                # steps between validation passes (0: none)
    threads: int = 1
    device: str = "cpu"


@dataclass(frozen=True)
class TrainingConfig:
    model: UResNetConfig = field(default_factory=UResNetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)


@dataclass
class Position:
    step: int = 0      # optimiser steps done
    epoch: int = 0
    batch: int = 0     # micro-batches of this epoch consumed


def _dataset(cfg: TrainingConfig):
    from ..data import DenseDataset, RandomCrop
    from ..io import open_events

    path = Path(cfg.data.train)
    if not cfg.data.train or not path.is_file():
        raise LarsegError(f"data.train: file {cfg.data.train or '(none given)'} does not exist")
    return DenseDataset(open_events(path), planes=cfg.data.planes, target=cfg.data.target,
                        transform=[RandomCrop(cfg.data.crop, min_pixels=1)],
                        downsample=cfg.data.downsample, pool="sum", seed=cfg.data.seed)


def _optimizer(cfg: OptimConfig, params):
    cls = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam,
           "adamw": torch.optim.AdamW}[cfg.name]
    return cls(params, lr=cfg.lr)


def _order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _save_checkpoint(path: Path, model, optim, pos: Position, cfg: TrainingConfig) -> None:
    state = {"format": CHECKPOINT_FORMAT, "larseg_version": __version__,
             "config": config_to_dict(cfg), "model": model.state_dict(),
             "optimizer": optim.state_dict(), "position": vars(pos).copy(),
             "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                     "python": random.getstate()}}
    tmp = path.with_name(path.name + ".tmp")
    with deferred_signals():
        torch.save(state, tmp)
        os.replace(tmp, path)
        (path.parent / "checkpoint.json").write_text(
            json.dumps({"step": pos.step}))


def _load_checkpoint(path: Path, model, optim, cfg: TrainingConfig) -> Position:
    try:
        state = torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise LarsegError(f"checkpoint {path} cannot be read ({e})") from None
    if state.get("config") != config_to_dict(cfg):
        raise LarsegError(f"checkpoint {path} was written with another config: resume with the "
                          "same config and overrides, or start a new run directory")
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return Position(**state["position"])


def _validation_set(cfg: TrainingConfig):
    if not (cfg.train.validate_every and cfg.data.validation):
        return None
    from ..data import DenseDataset
    from ..io import open_events

    path = Path(cfg.data.validation)
    if not path.is_file():
        raise LarsegError(f"data.validation: file {path} does not exist")
    return DenseDataset(open_events(path), planes=cfg.data.planes, target=cfg.data.target,
                        downsample=cfg.data.downsample, pool="sum", seed=cfg.data.seed,
                        on_empty="skip")


def _weights(batch: dict, cfg: TrainingConfig):
    """The batch's per-pixel loss weights under the config's scheme (:mod:`larseg.data.weights`)."""
    return torch.from_numpy(batch_weights(batch["label"].numpy(), cfg.loss.scheme,
                                          cfg.model.n_classes, cfg.loss.class_weights)).float()


def _validate(model, loss_fn, ds, cfg: TrainingConfig) -> dict[str, float]:
    """Loss and active-pixel accuracy (all planes pooled) on the first events of the held-out
    file, in eval mode."""
    from ..metrics.segmentation import ConfusionEvaluator
    from .evaluate import full_image_batches

    model.eval()
    losses = []
    ev = ConfusionEvaluator(range(cfg.model.n_classes), cfg.data.planes)
    for batch, logits in full_image_batches(model, ds, cfg.model.depth,
                                            cfg.data.validation_events):
        losses.append(float(sum(loss_fn(logits, batch["label"], _weights(batch, cfg)).values())))
        ev.process(batch, logits)
    model.train()
    cm = sum(ev.cm["active"].values()) if ev.cm["active"] else np.zeros((1, 1))
    return {"val_loss": float(np.mean(losses)) if losses else float("nan"),
            "val_accuracy": float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")}


def _write_weights(run: Path, model, cfg: TrainingConfig) -> Path:
    from safetensors.torch import save_file

    path = run / "model.safetensors"
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)
    meta = {"config": config_to_dict(cfg), "larseg_version": __version__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (run / "model.json").write_text(json.dumps(meta, indent=1))
    return path


def _log(run: Path, upto: int, rows: list[dict]) -> None:
    """Append rows to log.csv, first cutting it back to the steps ≤ ``upto`` (a resumed run
    repeats the steps after its checkpoint)."""
    path = run / "log.csv"
    old = []
    if path.exists():
        with path.open() as f:
            old = [r for r in csv.DictReader(f) if int(r["step"]) <= upto]
    keys = list((rows or old or [{"step": 0}])[0].keys())
    tmp = path.with_name("log.csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(old + rows)
    os.replace(tmp, path)


def _agree(flag: bool, world: int) -> bool:
    """True on every rank if it is true on any (a stop signal seen by one rank)."""
    if world == 1:
        return flag
    t = torch.tensor([int(flag)])
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
    return int(os.environ.get("RANK", "0")), world


def train(cfg: TrainingConfig, run: str | Path, *, resume: bool = False,
          on_step=None) -> dict:
    """Train, checkpointing into ``run``; returns {"step", "loss"} of the last step."""
    from ..data.collate import dense_collate
    from ..models import build
    from ..models.losses import PixelCrossEntropy

    rank, world = _distributed()
    try:
        return _train(cfg, Path(run), resume, on_step, dense_collate, build, PixelCrossEntropy,
                      rank, world)
    finally:
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(cfg, run, resume, on_step, dense_collate, build, PixelCrossEntropy, rank, world):
    lead = rank == 0
    run.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.train.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(cfg.data.seed)
    np.random.seed(cfg.data.seed)
    random.seed(cfg.data.seed)
    device = torch.device(cfg.train.device)
    dataset = _dataset(cfg)
    model = build(cfg.model).to(device)
    loss_fn = PixelCrossEntropy(cfg.loss.class_weights).to(device)
    optim = _optimizer(cfg.optim, model.parameters())
    ckpt = run / "checkpoint.pt"
    pos = Position()
    if resume and ckpt.exists():
        pos = _load_checkpoint(ckpt, model, optim, cfg)
    elif (run / "log.csv").exists() and not resume:
        raise LarsegError(f"run directory {run} holds a run already: --resume to continue it, "
                          "or give another directory")
    if world > 1:
        torch.distributed.barrier()  # every rank has looked at the run directory
    if lead:
        (run / "config.yaml").write_text(__import__("yaml").safe_dump(config_to_dict(cfg),
                                                                       sort_keys=False))
    net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(model)
    held_out = _validation_set(cfg) if lead else None
    per_epoch = len(dataset) // cfg.data.batch_size
    if per_epoch == 0:
        raise LarsegError(f"data.train: {cfg.data.train} holds {len(dataset)} events, fewer "
                          f"than a batch of {cfg.data.batch_size}")
    rows, last = [], {}
    logged_upto = pos.step
    model.train()
    stopped = False
    with graceful_stop() as stop:
        while pos.step < cfg.train.steps:
            if _agree(bool(stop), world):  # every rank stops at the same step
                stopped = True
                break
            terms: dict[str, float] = {}
            for _ in range(cfg.optim.accumulate):
                group = []  # the world's micro-batches of this round: rank r takes the r-th
                for _ in range(world):
                    if pos.batch >= per_epoch:
                        pos.epoch, pos.batch = pos.epoch + 1, 0
                    group.append((pos.epoch, pos.batch))
                    pos.batch += 1
                epoch, b = group[rank]
                dataset.set_epoch(epoch)
                order = _order(len(dataset), cfg.data.seed, epoch)
                k = b * cfg.data.batch_size
                batch = dense_collate([dataset[i] for i in order[k:k + cfg.data.batch_size]])
                batch["weight"] = _weights(batch, cfg)
                logits = net(batch["image"].to(device))
                named = loss_fn(logits, batch["label"].to(device), batch["weight"].to(device))
                total = sum(named.values()) / cfg.optim.accumulate
                total.backward()
                for n, v in named.items():
                    terms[n] = terms.get(n, 0.0) + float(v.detach()) / cfg.optim.accumulate
            if world > 1:  # the logged terms are the average over the world's micro-batches
                vec = torch.tensor(list(terms.values()), dtype=torch.float64)
                torch.distributed.all_reduce(vec)
                terms = dict(zip(terms, (vec / world).tolist()))
            if cfg.optim.clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_norm)
            optim.step()
            optim.zero_grad(set_to_none=True)
            pos.step += 1
            last = {"step": pos.step, "loss": sum(terms.values()), **terms}
            if held_out is not None:
                every = cfg.train.validate_every
                due = pos.step % every == 0 or pos.step == cfg.train.steps
                last |= (_validate(model, loss_fn, held_out, cfg) if due
                         else {"val_loss": "", "val_accuracy": ""})
            rows.append(last)
            if on_step is not None:
                on_step(last)
            if pos.step % cfg.train.checkpoint_every == 0 or pos.step == cfg.train.steps:
                if lead:
                    _log(run, logged_upto, rows)
                    _save_checkpoint(ckpt, model, optim, pos, cfg)
                logged_upto, rows = pos.step, []
        if stopped:
            if lead:
                _log(run, logged_upto, rows)
                _save_checkpoint(ckpt, model, optim, pos, cfg)
            raise JobInterrupted(f"interrupted ({stop.name}) after step {pos.step}; checkpoint "
                                 f"in {ckpt}: run the same command with --resume to continue",
                                 exit_code=stop.exit_code)
    if lead:
        _write_weights(run, model, cfg)
    return last
