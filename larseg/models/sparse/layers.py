"""Layers that act on a sparse tensor's features only (BatchNorm, activation, 1×1 linear), and
the one weight layout and initialisation that every backend's convolutions share.

Convolution weights are (C_out, kh, kw, C_in) ("KRSC", spconv 2.x's layout), with an optional
bias (C_out): a state dict saved on one backend loads into the other unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ...data._torch import torch
from .tensor import SparseTensor

nn = torch.nn


def conv_weight_shape(c_in: int, c_out: int, kernel: int) -> tuple[int, int, int, int]:
    return (c_out, kernel, kernel, c_in)


@torch.no_grad()
def init_conv_(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """torch's Conv2d default (uniform in ±1/sqrt(fan_in)), fan_in = kh·kw·C_in, so that one seed
    gives the same network on every backend."""
    bound = 1.0 / math.sqrt(weight[0].numel())
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.uniform_(-bound, bound)


class SparseBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the active sites of the whole batch (the inactive ones do not exist)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.with_features(super().forward(x.features))


def plane_of_sites(coords: torch.Tensor, planes: int) -> torch.Tensor:
    """Each site's plane in a record of P = ``planes`` planes joined as image b·P + p."""
    return coords[:, 0].long() % planes


class PlaneSparseBatchNorm(nn.Module):
    """BatchNorm with statistics and scale of its own per plane, for a record whose image index
    is b·P + p (the sparse cosmic tagger's joined planes): the layout of the dense
    :class:`~larseg.models.cosmic_tagger.PlaneBatchNorm2d`, one ``BatchNorm1d`` of P × c
    channels, plane p's being channels p·c … (p + 1)·c − 1. A plane with fewer than two sites in
    a training batch has no batch statistics: it is normalised by its running ones."""

    def __init__(self, channels: int, planes: int) -> None:
        super().__init__()
        self.channels, self.planes = channels, planes
        self.bn = nn.BatchNorm1d(planes * channels)

    def forward(self, x: SparseTensor) -> SparseTensor:
        bn, c = self.bn, self.channels
        momentum = bn.momentum
        if self.training:
            bn.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average, as BatchNorm1d's
                momentum = 1.0 / float(bn.num_batches_tracked)
        plane = plane_of_sites(x.coords, self.planes)
        out = torch.empty_like(x.features)
        for p in range(self.planes):
            rows = (plane == p).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            part = slice(p * c, (p + 1) * c)
            out[rows] = torch.nn.functional.batch_norm(
                x.features[rows], bn.running_mean[part], bn.running_var[part],
                bn.weight[part], bn.bias[part], self.training and rows.numel() > 1,
                momentum or 0.0, bn.eps)
        return x.with_features(out)


#: builds the normalisation layer of c channels (SparseBatchNorm, or a per-plane one)
SparseNormFactory = Callable[[int], nn.Module]


class SparseLeakyReLU(nn.LeakyReLU):
    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.with_features(super().forward(x.features))


class SparseLinear(nn.Linear):
    """A 1×1 convolution: the same map on every active site (heads, shortcut projections). It
    needs no neighbours, so it is the same module on every backend."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.with_features(super().forward(x.features))


class BatchNormAct(nn.Module):
    """BatchNorm then LeakyReLU, as after every convolution of the dense blocks."""

    def __init__(self, channels: int, norm: SparseNormFactory = SparseBatchNorm) -> None:
        super().__init__()
        self.bn = norm(channels)
        self.act = SparseLeakyReLU()

    def forward(self, x: SparseTensor) -> SparseTensor:
        return self.act(self.bn(x))
