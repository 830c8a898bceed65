"""Where and how the network runs: the device (``cpu``, ``cuda``, ``cuda:N`` or ``auto``), mixed
precision, the channels-last memory format and ``torch.compile``.

Mixed precision is an autocast region around the forward pass: bf16 on CPU or CUDA, fp16 on CUDA
only (with a gradient scaler, since fp16 gradients underflow); the loss is computed in fp32. What
each option gains is measured, not assumed: ``benchmarks/bench_precision.py`` (docs/results.md).
"""

from __future__ import annotations

import contextlib

from ..data._torch import torch
from ..errors import LarsegError


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; a CUDA device that is absent is one clear line."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LarsegError(f"train.device: '{name}' is not a device (cpu, cuda, cuda:N or "
                          "auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LarsegError(f"train.device: '{name}' asked for, but this torch has no CUDA device "
                          "(use cpu or auto)")
    return device


def autocast(precision: str, device: torch.device):
    """The forward pass's autocast context for ``precision`` (fp32: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise LarsegError("train.precision: fp16 autocast is for CUDA; use bf16 on a CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device):
    """A gradient scaler for fp16 on CUDA; a disabled one otherwise (its calls pass through)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def prepare(model, *, channels_last: bool, compile: bool):
    """(model, forward): the model moved to channels-last if asked (its convolutions then keep
    that format throughout), and the callable to run it, compiled if asked. The state dict is
    always the uncompiled ``model``'s."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile else model
    return model, forward


def to_input(image, device: torch.device, channels_last: bool):
    """A dense (B, P, H, W) batch image on ``device``, channels-last when asked."""
    image = image.to(device, non_blocking=True)
    return image.contiguous(memory_format=torch.channels_last) if channels_last else image
