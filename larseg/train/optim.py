"""Optimisers and learning-rate schedules of the trainer's ``optim`` section.

The SBND paper trains with RMSProp at a constant 3e-4; Adam / AdamW and a schedule (linear
warm-up, then constant, cosine decay to ``min_lr_ratio`` × lr, or a step decay) are options. A
schedule is a ``LambdaLR`` of the optimiser step, so its state is the step count alone and a
resumed run continues it exactly (the checkpoint saves it).
"""

from __future__ import annotations

import math

from ..data._torch import torch


def optimizer(cfg, params):
    """The optimiser of ``cfg`` (an ``OptimConfig``)."""
    cls = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam,
           "adamw": torch.optim.AdamW}[cfg.name]
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg, steps: int, step: int) -> float:
    """The learning rate at optimiser ``step`` (0-based) of ``steps``, as a fraction of lr."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.step_gamma ** (step // cfg.step_every)
    span = max(steps - cfg.warmup_steps, 1)  # cosine
    t = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def scheduler(cfg, optim, steps: int):
    """A ``LambdaLR`` following :func:`lr_factor` over a run of ``steps`` optimiser steps."""
    return torch.optim.lr_scheduler.LambdaLR(optim, lambda s: lr_factor(cfg, steps, s))
