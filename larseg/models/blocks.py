"""Dense building blocks shared by the networks: the SBND paper's residual block (Table 1:
conv, BN, LeakyReLU, conv, BN, sum, LeakyReLU) and its 1×1 bottleneck."""

from __future__ import annotations

from typing import Callable

from ..data._torch import torch

nn = torch.nn

#: makes the normalisation layer of ``c`` filters (BatchNorm2d unless a network chooses another)
NormFactory = Callable[[int], "nn.Module"]


class ResidualBlock(nn.Module):
    """x + F(x), F = conv-BN-LeakyReLU-conv-BN, then LeakyReLU (channels unchanged)."""

    def __init__(self, channels: int, kernel: int = 3,
                 norm: NormFactory = nn.BatchNorm2d) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv2d(channels, channels, kernel, padding=pad)
        self.bn1 = norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel, padding=pad)
        self.bn2 = norm(channels)
        self.act = nn.LeakyReLU()

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(x + self.bn2(self.conv2(y)))


def bottleneck(c_in: int, c_out: int) -> nn.Module:
    """1×1 convolution changing the number of filters (SBND paper, Table 1)."""
    return nn.Conv2d(c_in, c_out, 1)
