"""SparseSSNet (MicroBooNE note 1091): a submanifold sparse UResNet that labels every active
pixel of a wire-plane image as HIP, MIP, shower, delta or Michel.

Per plane (note, Sec. 2: "a designated set of network weights is derived for each plane and no
data is shared between the different planes"): the module holds one independent sub-network per
plane, ``planes[p]``, each with its own weights; nothing couples them, so one can be trained or
run alone, and one checkpoint holds all three.

One plane's network, with widths w_k (k = 0 … levels-1):

- stem: 3×3 submanifold convolution 1 → w_0, BatchNorm, LeakyReLU;
- down, per level: ``reps`` residual submanifold blocks, then (except at the bottom) a 2×2
  stride-2 sparse convolution w_k → w_{k+1}, BatchNorm, LeakyReLU;
- up, per level: the inverse convolution of that level's strided one (back onto exactly its
  sites), w_{k+1} → w_k, BatchNorm, LeakyReLU; concatenation with the down path's features (the
  U-Net skip: the note calls the network "a hybrid of U-Net and Res-Net", and U-Net
  concatenates); ``reps`` residual blocks, the first 2·w_k → w_k;
- head: 1×1 to the classes.

The note gives the filters (32), the depth (5) and the U-Net/ResNet hybrid, not the rest: the
widths per level (linear by default, see the config), the 2×2 stride-2 down/up steps (as in the
DeepLearnPhysics sparse UResNet family) and the blocks' form (larseg's dense residual block:
conv-BN-LeakyReLU-conv-BN, sum, LeakyReLU) are larseg's choices.

Submanifold convolutions keep the active set fixed, so no pixel outside the input's appears in a
hidden layer (the note's Fig. 1, "no dilation"), and the logits come back on the input's pixels
in the input's order.

The input mask (pixels < 10 or > 300 ADC are dropped, note Sec. 2) is applied when a plane's
sparse input is built, by :func:`plane_input` (which also returns the kept pixels so that labels
and weights can be masked alike), not inside ``forward``: forward's output rows always match its
input rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..data._torch import torch
from .sparse import (BackendName, BatchNormAct, SparseLinear, SparseTensor, cat_features,
                     get_backend)
from .sparse.blocks import SparseResidualBlock

nn = torch.nn
Tensor = torch.Tensor


@dataclass(frozen=True)
class SparseSSNetConfig:
    name: str = "sparse_ssnet"
    n_classes: int = 5        # HIP, MIP, shower, delta, Michel (note 1091, Sec. 3.2)
    filters: int = 32         # note 1091, Sec. 2: "32 filters in the initial layer"
    levels: int = 5           # note 1091, Sec. 2: "has 5 layers" (4 strided steps)
    reps: int = 2             # residual submanifold blocks per level (larseg issue 12)
    # The note does not give the widths per level; "linear" (w_k = filters·(k+1)) follows the
    # DeepLearnPhysics sparse UResNet family; "double" gives filters·2^k.
    growth: Literal["linear", "double"] = "linear"
    kernel: int = 3           # submanifold kernel
    n_planes: int = 3         # U, V, Y: one network each (note 1091, Sec. 2)
    in_channels: int = 1      # the pixel's ADC
    backend: BackendName = "auto"
    adc_min: float = 10.0     # note 1091, Sec. 2: pixels < 10 ADC are not in the input
    adc_max: float = 300.0    # note 1091, Sec. 2: nor pixels > 300 ADC

    def widths(self) -> list[int]:
        if self.growth == "double":
            return [self.filters << k for k in range(self.levels)]
        return [self.filters * (k + 1) for k in range(self.levels)]


def adc_mask(adc: Tensor, cfg: SparseSSNetConfig = SparseSSNetConfig()) -> Tensor:
    """Pixels kept in the sparse input: adc_min <= ADC <= adc_max."""
    return (adc >= cfg.adc_min) & (adc <= cfg.adc_max)


def plane_input(coords: Tensor, adc: Tensor, spatial_shape: tuple[int, int],
                cfg: SparseSSNetConfig = SparseSSNetConfig(),
                batch_size: int = 1) -> tuple[SparseTensor, Tensor]:
    """One plane's network input from its pixels — ``coords`` (N, 2) (row, column) or (N, 3)
    with the batch index first, ``adc`` (N,) — after the ADC mask; and the (N,) kept mask."""
    adc = torch.as_tensor(adc)
    keep = adc_mask(adc, cfg)
    x = SparseTensor.from_pixels(torch.as_tensor(coords)[keep], adc[keep], spatial_shape,
                                 batch_size)
    return x, keep


class SparseUResNet(nn.Module):
    """One plane's network: (N, in_channels) features on N sites -> (N, n_classes) logits."""

    def __init__(self, cfg: SparseSSNetConfig, backend) -> None:
        super().__init__()
        w, k = cfg.widths(), cfg.kernel
        self.levels = cfg.levels
        self.stem = backend.submanifold(cfg.in_channels, w[0], k, key="subm0")
        self.stem_norm = BatchNormAct(w[0])
        self.encoder = nn.ModuleList(
            nn.Sequential(*[SparseResidualBlock(backend, w[i], w[i], k, key=f"subm{i}")
                            for _ in range(cfg.reps)]) for i in range(cfg.levels))
        self.down = nn.ModuleList(
            nn.Sequential(backend.down(w[i], w[i + 1], 2, 2, key=f"down{i}"),
                          BatchNormAct(w[i + 1])) for i in range(cfg.levels - 1))
        self.up = nn.ModuleList(
            nn.Sequential(backend.up(w[i + 1], w[i], 2, key=f"down{i}"), BatchNormAct(w[i]))
            for i in range(cfg.levels - 1))
        self.decoder = nn.ModuleList(
            nn.Sequential(*[SparseResidualBlock(backend, 2 * w[i] if r == 0 else w[i], w[i], k,
                                                key=f"subm{i}") for r in range(cfg.reps)])
            for i in range(cfg.levels - 1))
        self.feature_channels = w[0]
        self.head = SparseLinear(w[0], cfg.n_classes)

    def features(self, x: SparseTensor) -> SparseTensor:
        """The backbone: the input's sites with ``feature_channels`` features each."""
        # Round the spatial bound up to a multiple of 2^(levels-1) so that the strided
        # convolutions drop no site at an odd edge; the coordinates are unchanged.
        m = 1 << (self.levels - 1)
        h, w = x.spatial_shape
        x = dataclasses.replace(x, spatial_shape=(-(-h // m) * m, -(-w // m) * m), cache={})
        x = self.stem_norm(self.stem(x))
        skips = []
        for i, blocks in enumerate(self.encoder):
            x = blocks(x)
            if i < self.levels - 1:
                skips.append(x)
                x = self.down[i](x)
        for i in reversed(range(self.levels - 1)):
            x = self.decoder[i](cat_features(skips[i], self.up[i](x)))
        return x

    def forward(self, x: SparseTensor) -> Tensor:
        return self.head(self.features(x)).features


class SparseSSNet(nn.Module):
    """The three plane networks (``planes[p]``), each with its own weights.

    ``forward(planes)``: one :class:`SparseTensor` per plane (any batch size; features = ADC after
    :func:`plane_input`'s mask) -> one (N_p, n_classes) logits tensor per plane, on the input's
    sites in the input's order."""

    input_kind = "sparse"  # the trainer feeds it sparse batches (larseg.train.paths)

    def __init__(self, cfg: SparseSSNetConfig = SparseSSNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        backend = get_backend(cfg.backend)
        self.backend = backend.name
        self.planes = nn.ModuleList(SparseUResNet(cfg, backend) for _ in range(cfg.n_planes))

    def forward(self, planes: Sequence[SparseTensor]) -> list[Tensor]:
        if len(planes) != len(self.planes):
            raise ValueError(f"SparseSSNet has {len(self.planes)} plane networks, got "
                             f"{len(planes)} inputs")
        # a plane left without pixels (a crop, the ADC mask) gets no logits and no gradient
        return [net(x) if x.n_sites else x.features.new_zeros((0, self.cfg.n_classes))
                for net, x in zip(self.planes, planes)]
