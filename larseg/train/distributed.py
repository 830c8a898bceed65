"""Data-parallel plumbing: joining the process group that ``torchrun`` sets up, and agreeing on
a flag across ranks (so that every rank stops at the same step)."""

from __future__ import annotations

import os

from ..data._torch import torch


def join(device: torch.device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun (gloo on CPU,
    nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return int(os.environ.get("RANK", "0")), world


def leave(world: int) -> None:
    if world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank if it is true on any."""
    if world == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def mean_terms(terms: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """The loss terms averaged over the world's micro-batches."""
    if world == 1:
        return terms
    vec = torch.tensor(list(terms.values()), dtype=torch.float64, device=device)
    torch.distributed.all_reduce(vec)
    return dict(zip(terms, (vec / world).tolist()))
