"""Sparse building blocks shared by the sparse networks: the residual submanifold block (the dense
:class:`~larseg.models.blocks.ResidualBlock`'s conv-BN-LeakyReLU-conv-BN, sum, LeakyReLU, on the
active sites only)."""

from __future__ import annotations

from ...data._torch import torch
from .layers import (BatchNormAct, SparseBatchNorm, SparseLeakyReLU, SparseLinear,
                     SparseNormFactory)
from .tensor import SparseTensor

nn = torch.nn


class SparseResidualBlock(nn.Module):
    """x + F(x) with two submanifold convolutions; a 1×1 projection on the shortcut when the
    width changes (after a U-Net concatenation). ``key`` names the level's neighbour map, built
    once and shared by every block on the same sites; ``norm`` builds the normalisation layers."""

    def __init__(self, backend, c_in: int, c_out: int, kernel: int = 3,
                 key: str | None = None, norm: SparseNormFactory = SparseBatchNorm) -> None:
        super().__init__()
        self.conv1 = backend.submanifold(c_in, c_out, kernel, key=key)
        self.norm1 = BatchNormAct(c_out, norm)
        self.conv2 = backend.submanifold(c_out, c_out, kernel, key=key)
        self.norm2 = norm(c_out)
        self.shortcut = SparseLinear(c_in, c_out, bias=False) if c_in != c_out else None
        self.act = SparseLeakyReLU()

    def forward(self, x: SparseTensor) -> SparseTensor:
        y = self.norm2(self.conv2(self.norm1(self.conv1(x))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.act(y.with_features(y.features + skip.features))
