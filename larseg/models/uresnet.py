"""A small dense UResNet per plane: the engine's proving network (larseg issue 10).

Per level down: a residual block, 2×2 max-pool, a 1×1 bottleneck doubling the filters; at the
bottom a residual block; per level up: ×2 nearest-neighbour upsampling, a 1×1 bottleneck halving
the filters, the sum with the matching down level (the SBND paper's additive skip), a residual
block; a 1×1 head to the classes. The planes share the weights (each plane is an image of the
batch). Input (B, P, H, W) with H, W divisible by 2^depth; output logits (B, P, C, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data._torch import torch
from .blocks import ResidualBlock, bottleneck

nn = torch.nn


@dataclass(frozen=True)
class UResNetConfig:
    name: str = "uresnet"
    n_classes: int = 3        # background / cosmic / neutrino (SBND paper)
    filters: int = 8          # SBND paper: 8 initial filters
    depth: int = 2


class UResNet(nn.Module):
    def __init__(self, cfg: UResNetConfig) -> None:
        super().__init__()
        f = cfg.filters
        self.stem = nn.Conv2d(1, f, 7, padding=3)  # SBND paper: an initial 7×7 convolution
        self.down = nn.ModuleList()
        self.widen = nn.ModuleList()
        for k in range(cfg.depth):
            self.down.append(ResidualBlock(f << k))
            self.widen.append(bottleneck(f << k, f << (k + 1)))
        self.bottom = ResidualBlock(f << cfg.depth)
        self.narrow = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in reversed(range(cfg.depth)):
            self.narrow.append(bottleneck(f << (k + 1), f << k))
            self.up.append(ResidualBlock(f << k))
        self.feature_channels = f
        self.head = nn.Conv2d(f, cfg.n_classes, 1)
        self.pool = nn.MaxPool2d(2)
        self.size_multiple = 2 ** cfg.depth  # image sides must divide by it

    def features(self, image):
        """The backbone: ``(B, P, H, W)`` -> ``(B × P, f, H, W)``."""
        b, p, h, w = image.shape
        x = self.stem(image.reshape(b * p, 1, h, w))
        skips = []
        for block, widen in zip(self.down, self.widen):
            x = block(x)
            skips.append(x)
            x = widen(self.pool(x))
        x = self.bottom(x)
        for narrow, block, skip in zip(self.narrow, self.up, reversed(skips)):
            x = narrow(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
            x = block(x + skip)
        return x

    def forward(self, image):
        b, p, h, w = image.shape
        return self.head(self.features(image)).reshape(b, p, -1, h, w)
