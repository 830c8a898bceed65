"""The SBND cosmic tagger: the multi-plane UResNet of Acciarri et al. 2021 (``../shared/papers/``
000 and 001; section 6 and Table 1).

Each plane goes through the same (weight-shared) UResNet: an initial 7×7 convolution; per down
level two residual 3×3 blocks, a 2×2 max-pool and a 1×1 bottleneck doubling the filters; at the
deepest level the planes' filters are concatenated (3 × 512 = 1,536 with 8 initial filters),
bottlenecked to 256, passed through five residual 5×5 blocks, bottlenecked back to 1,536 and split
into the planes again; per up level ×2 interpolation, a 1×1 bottleneck halving the filters, the
sum with the matching down level and two residual blocks; a final 1×1 to the 3 classes. Every
"bottleneck" is conv-BN-LeakyReLU: Table 1's parameter counts include the BatchNorm of each.

Input ``(B, P, H, W)`` float (H = rows / time ticks, W = wires, as in :mod:`larseg.data`; the
paper's 50 % images are H × W = 640 × 1024, full resolution 1280 × 2048); H and W must divide by
2**depth. Output logits ``(B, P, C, H, W)``, the contract of :mod:`larseg.models.uresnet`.

The final row of Table 1 has 57 parameters, which a 1×1 convolution from the 8 filters of the
last up level cannot have (8·3 + 3 = 27, 33 with a BatchNorm); 57 is a 1×1 convolution from 16
filters plus a BatchNorm of the 3 outputs, and the row above it lists 16 filters at full
resolution. ``head="table1"`` (default) reads the table that way: the last up level's output is
concatenated with the initial convolution's output (2 × 8 = 16) before the final conv-BN. This is
our reconstruction, not something the paper's text states; ``head="plain"`` is the text's
"single 1×1 convolution" from the 8 filters, with bias (27 parameters).

Note on ``connect_planes=False``: the planes then meet nowhere in the convolutions, but in training
mode BatchNorm's batch statistics still mix every image of the batch (all planes of all events);
``norm="plane"`` keeps them apart too.

``norm`` is larseg's option, not the paper's (which uses BatchNorm throughout): ``"plane"`` gives
each plane its own BatchNorm statistics and scale (one ``BatchNorm2d`` of P × c channels over the
planes laid side by side in channels), ``"group"`` uses GroupNorm, which has no running statistics,
so training and evaluation normalise alike. Why: the shipped BatchNorm network is fragile in its
running statistics, plane Y most, which has few noise voxels and shares every statistic with U and
V (``benchmarks/cosmic_tagger_bn_stats.py``, ``docs/results.md``). At the deepest level the planes
are already side by side in channels, so ``"plane"`` keeps the plain BatchNorm there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..data._torch import torch
from ..errors import LarsegError
from .blocks import NormFactory, ResidualBlock

nn = torch.nn


@dataclass(frozen=True)
class CosmicTaggerConfig:
    name: str = "cosmic_tagger"
    n_classes: int = 3              # background / cosmic / neutrino (SBND paper, section 5)
    planes: int = 3                 # U, V, Y (SBND paper, Figure 4)
    filters: int = 8                # initial filters (SBND paper, Table 1; the text's reference
                                    # models use 16, "Num. Filters/2" is 8)
    depth: int = 6                  # down levels (SBND paper, Table 1: Down 0 ... Down 5)
    blocks_per_level: int = 2       # Res3x3, Res3x3 per level (SBND paper, Table 1)
    deep_filters: int = 256         # bottleneck at the deepest level (SBND paper, Table 1)
    deep_blocks: int = 5            # "Res5x5, 5 layers" (SBND paper, Table 1)
    deep_kernel: int = 5            # (SBND paper, Table 1)
    skip: Literal["add", "concat"] = "add"          # "Concatenated Connections" variant: concat
                                                    # + 1×1 merge (SBND paper, section 7)
    connect_planes: bool = True     # False: "Cross-plane Blocked" (SBND paper, section 7)
    upsample: Literal["interpolate", "transposed"] = "interpolate"  # "Convolutional Upsample"
    residual: bool = True           # False: "Non Residual" (SBND paper, section 7)
    head: Literal["table1", "plain"] = "table1"     # see the module docstring
    # The final convolution starts at zero (all logits 0, the loss ln 3): the paper states no
    # initialisation, and with PyTorch's default one the first logits reach ±2 and training
    # at RMSProp's 3e-4 spent hundreds of steps undoing them (1.99 -> 1.15 in 40 steps on the
    # same batches where a zero start went 1.11 -> 0.74)
    zero_init_head: bool = True
    # larseg's choice, not the paper's: a pixel without charge (ADC 0) is background by the
    # label rule (labels only where there is charge; at 50 % resolution a pooled pixel has
    # charge if one of its four has), so its logits are fixed to background (INACTIVE_LOGIT,
    # loss ~0, no gradient) and the network spends itself on the pixels with charge: with the
    # mild weights over all pixels, the empty 98 % otherwise pull it into the all-background
    # solution (docs/results.md)
    inactive_background: bool = False
    # fine-tuning: start from these weights of the same network (a run's model.safetensors or
    # shipped weights' name) instead of a fresh initialisation; empty: from scratch
    init_from: str = ""
    # normalisation layers (see the module docstring): the paper's "batch", or "plane" / "group"
    norm: Literal["batch", "plane", "group"] = "batch"
    norm_groups: int = 8            # GroupNorm groups (fewer where the filters do not divide)


#: the background logit of a pixel without charge (the others 0): softmax 1 - 4e-9
INACTIVE_LOGIT = 20.0


class PlaneBatchNorm2d(nn.Module):
    """BatchNorm with statistics and scale of its own per plane, for ``(B × P, c, H, W)`` input
    whose planes of one event are adjacent: the planes go side by side in channels."""

    def __init__(self, channels: int, planes: int) -> None:
        super().__init__()
        self.planes = planes
        self.bn = nn.BatchNorm2d(planes * channels)

    def forward(self, x):
        n, c, h, w = x.shape
        return self.bn(x.reshape(n // self.planes, self.planes * c, h, w)).reshape(n, c, h, w)


def norm_factory(cfg: CosmicTaggerConfig, *, joined: bool = False) -> NormFactory:
    """The normalisation layer of ``cfg.norm``; ``joined``: for images of all planes side by
    side in channels (the deepest block), where per-plane BatchNorm is the plain one."""
    if cfg.norm == "group":
        from math import gcd
        return lambda c: nn.GroupNorm(gcd(c, cfg.norm_groups), c)
    if cfg.norm == "plane" and not (joined and cfg.connect_planes):
        return lambda c: PlaneBatchNorm2d(c, cfg.planes)
    return nn.BatchNorm2d


def conv_bn(c_in: int, c_out: int, kernel: int = 1,
            norm: NormFactory = nn.BatchNorm2d) -> nn.Sequential:
    """Convolution, BatchNorm, LeakyReLU: Table 1's bottleneck (kernel 1) and initial layer."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
                         norm(c_out), nn.LeakyReLU())


def block_series(channels: int, n: int, kernel: int, residual: bool,
                 norm: NormFactory = nn.BatchNorm2d) -> nn.Sequential:
    """``n`` residual blocks, or for the "Non Residual" variant ``n`` conv-BN-LeakyReLU layers
    (one convolution each, as in the paper's public implementation's non-residual series)."""
    make = (lambda: ResidualBlock(channels, kernel, norm)) if residual else \
        (lambda: conv_bn(channels, channels, kernel, norm))
    return nn.Sequential(*(make() for _ in range(n)))


class DownLevel(nn.Module):
    """Blocks at ``c`` filters (their output is the skip), 2×2 max-pool, 1×1 bottleneck to 2c."""

    def __init__(self, c: int, cfg: CosmicTaggerConfig) -> None:
        super().__init__()
        norm = norm_factory(cfg)
        self.blocks = block_series(c, cfg.blocks_per_level, 3, cfg.residual, norm)
        self.pool = nn.MaxPool2d(2)
        self.widen = conv_bn(c, 2 * c, norm=norm)

    def forward(self, x):
        skip = self.blocks(x)
        return skip, self.widen(self.pool(skip))


class UpLevel(nn.Module):
    """×2 upsampling from 2c to c filters, merge with the skip, blocks at ``c`` filters."""

    def __init__(self, c: int, cfg: CosmicTaggerConfig) -> None:
        super().__init__()
        norm = norm_factory(cfg)
        if cfg.upsample == "interpolate":
            # bilinear, as the paper's public implementation; then the 1×1 bottleneck
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                conv_bn(2 * c, c, norm=norm))
        else:
            self.upsample = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 2, stride=2),
                                          norm(c), nn.LeakyReLU())
        self.merge = conv_bn(2 * c, c, norm=norm) if cfg.skip == "concat" else None
        self.blocks = block_series(c, cfg.blocks_per_level, 3, cfg.residual, norm)

    def forward(self, x, skip):
        x = self.upsample(x)
        x = x + skip if self.merge is None else self.merge(torch.cat((x, skip), dim=1))
        return self.blocks(x)


class DeepestBlock(nn.Module):
    """Concatenate the planes' filters, bottleneck, residual k×k blocks, bottleneck back, split.

    With ``connect_planes=False`` each plane goes through the same layers alone."""

    def __init__(self, c: int, cfg: CosmicTaggerConfig) -> None:
        super().__init__()
        self.planes = cfg.planes if cfg.connect_planes else 1
        joined = self.planes * c
        norm = norm_factory(cfg, joined=True)
        self.squeeze = conv_bn(joined, cfg.deep_filters, norm=norm)
        # the paper's "Non Residual" variant drops the residuals of the down and up passes only
        self.blocks = block_series(cfg.deep_filters, cfg.deep_blocks, cfg.deep_kernel, True, norm)
        self.expand = conv_bn(cfg.deep_filters, joined, norm=norm)

    def forward(self, x):
        n, c, h, w = x.shape  # n = B × P images, planes of one event adjacent
        x = x.reshape(n // self.planes, self.planes * c, h, w)
        x = self.expand(self.blocks(self.squeeze(x)))
        return x.reshape(n, c, h, w)


class CosmicTagger(nn.Module):
    def __init__(self, cfg: CosmicTaggerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.size_multiple = 2 ** cfg.depth  # image sides must divide by it
        f = cfg.filters
        norm = norm_factory(cfg)
        self.stem = conv_bn(1, f, 7, norm)  # "conv7x7, BN, LeakyReLU" (SBND paper, Table 1)
        self.down = nn.ModuleList(DownLevel(f << k, cfg) for k in range(cfg.depth))
        self.deepest = DeepestBlock(f << cfg.depth, cfg)
        self.up = nn.ModuleList(UpLevel(f << k, cfg) for k in range(cfg.depth))  # up[k]: level k
        self.feature_channels = 2 * f if cfg.head == "table1" else f
        if cfg.head == "table1":
            self.head = nn.Sequential(nn.Conv2d(2 * f, cfg.n_classes, 1), norm(cfg.n_classes))
        else:
            self.head = nn.Conv2d(f, cfg.n_classes, 1)
        if cfg.zero_init_head:  # table1's head ends in a BatchNorm: start its scale at 0
            final = self.head[1] if cfg.head == "table1" else self.head
            final = getattr(final, "bn", final)  # PlaneBatchNorm2d
            nn.init.zeros_(final.weight)
            nn.init.zeros_(final.bias)

    def check_input(self, image) -> None:
        cfg = self.cfg
        if image.dim() != 4:
            raise LarsegError(f"cosmic tagger input must be (batch, planes, H, W), got shape "
                              f"{tuple(image.shape)}")
        b, p, h, w = image.shape
        unit = 2 ** cfg.depth
        if h % unit or w % unit:
            raise LarsegError(f"cosmic tagger image shape {h} × {w} (H × W) is not divisible by "
                              f"2**depth = {unit} (depth {cfg.depth}); pad or crop it")
        if cfg.connect_planes and p != cfg.planes:
            raise LarsegError(f"cosmic tagger joins {cfg.planes} planes at the deepest level, "
                              f"got {p} in input shape {tuple(image.shape)}")
        if cfg.norm == "plane" and p != cfg.planes:
            raise LarsegError(f"cosmic tagger with norm 'plane' normalises each of its "
                              f"{cfg.planes} planes, got {p} in input shape {tuple(image.shape)}")

    def features(self, image):
        """The backbone: ``(B, P, H, W)`` -> ``(B × P, feature_channels, H, W)``, what the head
        reads (for ``head="table1"`` the last up level beside the initial convolution)."""
        self.check_input(image)
        b, p, h, w = image.shape
        stem = self.stem(image.reshape(b * p, 1, h, w))  # planes share weights: one batch
        x, skips = stem, []
        for level in self.down:
            skip, x = level(x)
            skips.append(skip)
        x = self.deepest(x)
        for level, skip in zip(reversed(self.up), reversed(skips)):
            x = level(x, skip)
        return torch.cat((x, stem), dim=1) if self.cfg.head == "table1" else x

    def forward(self, image):
        features = self.features(image)  # checks the input's shape first
        b, p, h, w = image.shape
        logits = self.head(features).reshape(b, p, -1, h, w)
        if self.cfg.inactive_background:
            fixed = torch.zeros_like(logits)
            fixed[:, :, 0] = INACTIVE_LOGIT
            logits = torch.where((image == 0).unsqueeze(2), fixed, logits)
        return logits
