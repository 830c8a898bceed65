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

A checkpoint (``RUN/checkpoint.pt``, :mod:`larseg.train.checkpoint`) is written every
``train.checkpoint_every`` steps and at the end (and with ``train.snapshot_every`` the weights of
every N-th step stay in ``RUN/snapshots/``, to choose a step afterwards); ``RUN/log.csv`` has one
row per step with every loss term (and TensorBoard files with ``train.tensorboard``,
:mod:`larseg.train.logs`); the final weights go to ``RUN/model.safetensors`` with
``RUN/model.json`` (config, parameter count, sha256). SIGINT/SIGTERM stop the run after the step
in progress, with a checkpoint.

Bad data does not end a run: an event that is empty after cropping is skipped and counted (the
``skipped`` column); a loss that is not finite stops the run with one line naming the step, the
file and the events of the micro-batch, the last checkpoint left intact.

The runtime options (:mod:`larseg.train.runtime`): ``train.device`` cpu | cuda | auto,
``train.precision`` fp32 | bf16 | fp16 (autocast), ``train.channels_last``, ``train.compile``.

What differs between networks (data, weights, loss) is the model's path in
:mod:`larseg.train.paths`: dense, sparse, SSNet (target ``ssnet``: 4 categories, 3 classes) and
classification (the PID CNN on simulated single particles). SSNet's ``model.init_from`` names a
PID CNN's weights whose encoder is copied into SSNet's before the first step of a fresh run
(:func:`init_from`; recorded in ``RUN/init_from.json`` and in ``model.json``); a resumed run
takes its weights from the checkpoint, whose config holds the same ``init_from``.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..errors import JobInterrupted, LarsegError
from ..interrupt import graceful_stop
from . import checkpoint, distributed, optim as optim_lib, paths, runtime
from .checkpoint import Position
from .config import config_to_dict
from .logs import RunLog
from .sections import (DataConfig, EvalConfig, LossConfig, ModelConfig,  # noqa: F401 (re-exported)
                       OptimConfig, RunConfig, TrainingConfig)

_log = logging.getLogger(__name__)

def size_multiple(model) -> int:
    """What the dense network needs image sides to be multiples of (2^levels)."""
    return int(getattr(model, "size_multiple", 1))


def _order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _validate(model, loss_fn, ds, path, cfg: TrainingConfig, device) -> dict[str, float]:
    """Loss and accuracy on active pixels (all planes pooled) on the first events of the
    held-out file, whole images, in eval mode."""
    model.eval()
    losses, right, total = [], 0, 0
    multiple = size_multiple(model)
    with torch.no_grad():
        for i in range(min(len(ds), cfg.data.validation_events)):
            batch = path.collate([ds[i]])
            if batch is None:
                continue
            batch = path.pad(batch, multiple)  # dense images: to the network's multiple
            out = path.forward(model, batch, device)
            named = path.loss(loss_fn, out, batch, path.weights(batch, device), device)
            losses.append(float(sum(named.values())))
            truth, pred, _ = path.predictions(out, batch)
            keep = truth >= 0
            right += int((truth[keep] == pred[keep]).sum())
            total += int(keep.sum())
    model.train()
    return {"val_loss": float(np.mean(losses)) if losses else float("nan"),
            "val_accuracy": right / total if total else float("nan")}


def _write_weights(run: Path, model, cfg: TrainingConfig, step: int,
                   name: str = "model.safetensors") -> Path:
    """RUN/model.safetensors + model.json (:func:`larseg.weights.loading.save_weights`), with the
    step they are of and whether the run was complete: an interrupted run leaves usable weights
    too. ``name``: another file under RUN (a snapshot)."""
    from ..weights.loading import save_weights

    extra = {"step": step, "complete": step >= cfg.train.steps}
    if (run / INIT_RECORD).is_file():  # where the encoder came from (model.init_from)
        extra["init_from"] = json.loads((run / INIT_RECORD).read_text())
    path = run / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_weights(path, model, cfg, extra)


def snapshot_name(step: int) -> str:
    """Where ``train.snapshot_every`` keeps the weights of ``step``, under the run directory."""
    return f"snapshots/step_{step:06d}.safetensors"


#: the run's record of a transfer (model.init_from): file, sha256, tensors copied
INIT_RECORD = "init_from.json"


def init_from(model, cfg: TrainingConfig) -> dict | None:
    """Transfer learning (talk on PRD 99, 092001, slide "Transfer learning"): copy the encoder
    of the PID CNN in ``cfg.model.init_from`` into ``model``'s (SSNet); for sMask-RCNN, a dense
    run's backbone into the sparse one (:func:`larseg.train.detection_path.init_backbone_from`);
    otherwise (sMask-RCNN weights of the model's own backbone, any other network) the whole
    network (fine-tuning, :func:`_init_whole`). The PID CNN is built
    with SSNet's encoder fields and the file loaded into it with the sha256 (when a JSON is
    beside it) and architecture checks of :func:`larseg.weights.loading.load_checked`, so a
    file of another shape is one line naming the first tensor that differs. The global torch
    RNG is left as it was (building the PID CNN draws initial weights), so a run with and one
    without the transfer start from the same decoder. Returns the record (file, sha256,
    tensors copied), None when ``init_from`` is empty."""
    from ..models.pid_cnn import PIDCNN, PIDConfig, transfer_encoder
    from ..weights import resolve_weights
    from ..weights.loading import load_checked, sha256_of

    spec = getattr(cfg.model, "init_from", "")
    if not spec:
        return None
    if paths.path_kind(model) == "detection":
        from .detection_path import init_backbone_from, source_backbone

        if source_backbone(spec) != cfg.model.backbone:  # a dense run's backbone into the sparse
            return init_backbone_from(model, cfg)
        return _init_whole(model, spec)  # the same network: fine-tuning
    if paths.path_kind(model) != "ssnet":  # fine-tuning: the whole network
        return _init_whole(model, spec)
    m = cfg.model
    try:
        path = resolve_weights(spec)
        with torch.random.fork_rng(devices=[]):
            pid = PIDCNN(PIDConfig(filters=m.filters, depth=m.depth,
                                   blocks_per_level=m.blocks_per_level,
                                   stem_kernel=m.stem_kernel))
        load_checked(pid, path)
        n = transfer_encoder(pid, model)
    except LarsegError as e:
        raise LarsegError(f"model.init_from: {e} (it must be a PID CNN run's weights with "
                          "SSNet's filters, depth, blocks_per_level and stem_kernel)") from None
    return {"path": str(spec), "file": str(path), "sha256": sha256_of(path), "tensors": n}


def _init_whole(model, spec: str) -> dict:
    """Fine-tuning: every tensor of ``model`` from weights of the same architecture (a run's
    ``model.safetensors`` or shipped weights' name), e.g. a network trained on an earlier
    calibration of the simulator, trained on from there."""
    from ..weights import resolve_weights
    from ..weights.loading import load_checked, sha256_of

    try:
        path = resolve_weights(spec)
        load_checked(model, path)
    except LarsegError as e:
        raise LarsegError(f"model.init_from: {e} (it must be weights of this same "
                          "network: the config's model section)") from None
    return {"path": str(spec), "file": str(path), "sha256": sha256_of(path),
            "tensors": len(model.state_dict())}


def train(cfg: TrainingConfig, run: str | Path, *, resume: bool = False,
          on_step=None) -> dict:
    """Train, checkpointing into ``run``; returns the last step's row (step, loss, terms)."""
    device = runtime.resolve_device(cfg.train.device)
    rank, world = distributed.join(device)
    try:
        return _Trainer(cfg, Path(run), device, rank, world).run(resume, on_step)
    finally:
        distributed.leave(world)


def _lock_run(run: Path):
    """An exclusive lock on ``RUN/run.lock`` for the whole run: two trainings writing one run
    directory would interleave their checkpoints and logs."""
    import fcntl

    f = open(run / "run.lock", "a+")  # noqa: SIM115 - kept open: the lock lives with it
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise LarsegError(f"run directory {run} is in use by another training (it holds "
                          f"{run / 'run.lock'}): wait for it to end, or give another "
                          "directory") from None
    return f


class _Trainer:
    def __init__(self, cfg: TrainingConfig, run: Path, device, rank: int, world: int) -> None:
        from ..models import build

        self.cfg, self.run_dir, self.device = cfg, run, device
        self.rank, self.world, self.lead = rank, world, rank == 0
        run.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.train.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(cfg.data.seed)
        np.random.seed(cfg.data.seed)
        random.seed(cfg.data.seed)
        if device.type == "cuda" and device.index is None and world > 1:
            device = self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        want = paths.target_classes(cfg.data.target)
        if want != cfg.model.n_classes:
            what = " (4 training categories: the edge band is background)" \
                if cfg.data.target == "ssnet" else ""
            raise LarsegError(f"data.target '{cfg.data.target}' has {want} classes{what}, "
                              f"model.n_classes is {cfg.model.n_classes}")
        model = build(cfg.model).to(device)
        self.path = paths.path_for(model, cfg)
        self.dataset = self.path.dataset(cfg.data.train, "train", training=True)
        self.model, forward = runtime.prepare(model, channels_last=cfg.train.channels_last,
                                              compile=cfg.train.compile)
        self.loss_fn = paths.loss_function(cfg.loss, model).to(device)
        self.optim = optim_lib.optimizer(cfg.optim, self.model.parameters())
        self.sched = optim_lib.scheduler(cfg.optim, self.optim, cfg.train.steps)
        self.scaler = runtime.grad_scaler(cfg.train.precision, device)
        self.net = forward if world == 1 else torch.nn.parallel.DistributedDataParallel(forward)
        self.per_epoch = len(self.dataset) // cfg.data.batch_size
        if self.per_epoch == 0:
            raise LarsegError(f"data.train: {cfg.data.train} holds {len(self.dataset)} events, "
                              f"fewer than a batch of {cfg.data.batch_size}")

    def run(self, resume: bool, on_step) -> dict:
        cfg, run = self.cfg, self.run_dir
        lock = _lock_run(run) if self.lead else None  # held until this object goes
        self._lock = lock
        ckpt = run / "checkpoint.pt"
        pos = Position()
        if resume and ckpt.exists():
            pos = checkpoint.load(ckpt, cfg, self.model, self.optim, self.sched, self.scaler)
        elif (run / "log.csv").exists() and not resume:
            raise LarsegError(f"run directory {run} holds a run already: --resume to continue "
                              "it, or give another directory")
        else:  # a fresh start: the transfer (a checkpoint holds the transferred weights)
            record = init_from(self.model, cfg)
            if record is not None:
                _log.info("model.init_from: %d encoder tensors from %s (sha256 %s…)",
                          record["tensors"], record["file"], record["sha256"][:12])
                if self.lead:
                    (run / INIT_RECORD).write_text(json.dumps(record, indent=1))
        if self.world > 1:
            torch.distributed.barrier()  # every rank has looked at the run directory
        log = RunLog(run, cfg.train.tensorboard) if self.lead else None
        if self.lead:
            (run / "config.yaml").write_text(
                __import__("yaml").safe_dump(config_to_dict(cfg), sort_keys=False))
        held_out = (self.path.dataset(cfg.data.validation, "validation", training=False)
                    if self.lead and cfg.train.validate_every and cfg.data.validation else None)
        rows, last, logged_upto = [], {}, pos.step

        def keep() -> None:
            nonlocal rows, logged_upto
            if self.lead:
                log.write(logged_upto, rows)
                checkpoint.save(ckpt, cfg, pos, self.model, self.optim, self.sched,
                                self.scaler)
            logged_upto, rows = pos.step, []

        self.model.train()
        try:
            with graceful_stop() as stop:
                while pos.step < cfg.train.steps:
                    if distributed.any_rank(bool(stop), self.world, self.device):
                        keep()
                        if self.lead:
                            _write_weights(run, self.model, cfg, pos.step)
                        raise JobInterrupted(
                            f"interrupted ({stop.name}) after step {pos.step}; checkpoint in "
                            f"{ckpt} and the weights of step {pos.step} in "
                            f"{run / 'model.safetensors'}: run the same command with --resume "
                            "to continue", exit_code=stop.exit_code)
                    last = self._step(pos)
                    if held_out is not None:
                        every = cfg.train.validate_every
                        due = pos.step % every == 0 or pos.step == cfg.train.steps
                        last |= (_validate(self.model, self.loss_fn, held_out, self.path, cfg,
                                           self.device)
                                 if due else {"val_loss": "", "val_accuracy": ""})
                    rows.append(last)
                    if on_step is not None:
                        on_step(last)
                    if pos.step % cfg.train.checkpoint_every == 0 or pos.step == cfg.train.steps:
                        keep()
                    snap = cfg.train.snapshot_every
                    if self.lead and snap and pos.step % snap == 0:
                        _write_weights(run, self.model, cfg, pos.step, snapshot_name(pos.step))
        finally:
            if log is not None:
                log.close()
        if self.lead:
            _write_weights(run, self.model, cfg, pos.step)
        return last

    def _micro_batch(self, pos: Position):
        """The next micro-batch of this rank (None when all its events were skipped); every
        rank advances the position by the world's micro-batches of the round."""
        group = []
        for _ in range(self.world):
            if pos.batch >= self.per_epoch:
                pos.epoch, pos.batch = pos.epoch + 1, 0
            group.append((pos.epoch, pos.batch))
            pos.batch += 1
        epoch, b = group[self.rank]
        self.dataset.set_epoch(epoch)
        order = _order(len(self.dataset), self.cfg.data.seed, epoch)
        k = b * self.cfg.data.batch_size
        items = [self.dataset[i] for i in order[k:k + self.cfg.data.batch_size]]
        pos.skipped += sum(item is None for item in items)
        return self.path.collate(items)

    def _null_pass(self) -> None:
        """A backward pass with zero gradients, for a rank whose micro-batch was all skipped:
        DDP's gradient all-reduce needs every rank to run one."""
        cfg = self.cfg
        shape = (cfg.data.batch_size, len(cfg.data.planes), *cfg.data.crop)
        image = runtime.to_input(torch.zeros(shape), self.device, cfg.train.channels_last)
        with runtime.autocast(cfg.train.precision, self.device):
            (self.net(image).float().sum() * 0.0).backward()

    def _step(self, pos: Position) -> dict:
        """One optimiser step of ``optim.accumulate`` micro-batches; returns the logged row."""
        cfg, device = self.cfg, self.device
        terms: dict[str, float] = {}
        for _ in range(cfg.optim.accumulate):
            batch = self._micro_batch(pos)
            if batch is None:
                if self.world > 1 and paths.input_kind(self.model) == "dense":
                    self._null_pass()  # (a sparse network's rank would wait: not handled)
                continue
            weight = self.path.weights(batch, device, step=pos.step + 1)
            outputs = self.path.forward(self.net, batch, device)
            named = self.path.loss(self.loss_fn, outputs, batch, weight, device)
            total = sum(named.values())
            if not torch.isfinite(total):
                raise LarsegError(
                    f"step {pos.step + 1}: the loss is {float(total.detach())} on events "
                    f"{batch['indices'].tolist()} of {cfg.data.train}; lower optim.lr, set "
                    "optim.clip_norm, or check those events (larseg display)")
            self.scaler.scale(total / cfg.optim.accumulate).backward()
            for n, v in named.items():
                terms[n] = terms.get(n, 0.0) + float(v.detach()) / cfg.optim.accumulate
        terms = distributed.mean_terms(terms, self.world, device)
        if cfg.optim.clip_norm:
            self.scaler.unscale_(self.optim)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.clip_norm)
        self.scaler.step(self.optim)
        self.scaler.update()
        self.optim.zero_grad(set_to_none=True)
        lr = self.sched.get_last_lr()[0]
        self.sched.step()
        pos.step += 1
        return {"step": pos.step, "loss": sum(terms.values()), **terms, "lr": lr,
                "skipped": pos.skipped}
