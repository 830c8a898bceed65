"""SparseSSNet's plane network run densely: the yardstick for what sparsity buys (issue 12,
"the identical network run densely").

:class:`DenseTwin` wraps one :class:`~larseg.models.sparse_ssnet.SparseUResNet` and runs its layers
with ``torch.nn.functional.conv2d`` / ``conv_transpose2d`` on a dense (B, C, H, W) image, each
inference-mode BatchNorm (a per-channel affine map) folded into the convolution before it.
The parameters are SHARED, not copied: the twin holds the sparse network as its submodule
``net`` and reads its tensors at every call, so a state dict loaded into either shows in both,
and ``twin.state_dict()`` has the sparse network's keys under ``net.``.

Two modes:

- ``masked=True``: the sparse definitions of :mod:`.reference`, evaluated densely. An active-site
  mask is carried level by level: the input's active pixels (by default its non-zero ones);
  after a strided convolution the 2×2 max-pool of the finer mask (a site whose window holds an
  active input); after an inverse convolution the finer level's mask again. Every
  convolution-plus-BatchNorm is followed by a multiplication by its level's mask, so features
  are zero off the active sites before each convolution (no dilation, and BatchNorm's shift does
  not leak onto empty pixels). The logits on the active pixels then equal the sparse network's
  up to float rounding; elsewhere they are meaningless (the head's bias).
- ``masked=False``: the same weights as a plain dense U-Net that convolves the zeros too — what a
  dense implementation of this network computes and costs. Its outputs differ from the sparse
  network's (activity dilates level by level); that is expected.

BatchNorm always uses the running statistics (inference). In training mode a dense BatchNorm
would average over the zeros as well and no longer match the sparse one, so the twin refuses to
run while the wrapped network is in training mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...data._torch import torch
from .tensor import SparseTensor, densify

if TYPE_CHECKING:
    from ..sparse_ssnet import SparseUResNet

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor


def dense_conv_weight(weight: Tensor) -> Tensor:
    """larseg's (C_out, kh, kw, C_in) convolution weight as conv2d's (C_out, C_in, kh, kw)."""
    return weight.permute(0, 3, 1, 2)


def dense_inverse_weight(weight: Tensor) -> Tensor:
    """An inverse convolution's (C_out, kh, kw, C_in) weight as conv_transpose2d's
    (C_in, C_out, kh, kw): out[s·q + d] += W[:, d] · x[q], the reference's definition."""
    return weight.permute(3, 0, 1, 2)


def fold_batch_norm(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm1d,
                    out_dim: int = 0) -> tuple[Tensor, Tensor]:
    """A dense convolution followed by an inference-mode BatchNorm, as one convolution:
    W·s and b·s + (β - μ·s), s = γ / sqrt(var + eps), with the output channels on ``out_dim``
    of ``weight`` (0 for conv2d, 1 for conv_transpose2d)."""
    from .fused import bn_scale_shift

    scale, shift = bn_scale_shift(bn)
    if bias is not None:
        shift = shift + bias * scale
    shape = [1] * weight.ndim
    shape[out_dim] = -1
    w = (weight * scale.reshape(shape)).contiguous(memory_format=torch.channels_last)
    return w, shift


class DenseTwin(nn.Module):
    """``forward(image)``: (B, C_in, H, W) dense input (zeros off the active pixels) ->
    (B, n_classes, H, W) logits. H and W may be anything: the image is zero-padded at the bottom
    and right to a multiple of 2^(levels-1), as the sparse network rounds its spatial bound, and
    the logits are cropped back. ``mask`` (B, H, W) bool gives the active pixels; by default a
    pixel is active when any channel is non-zero (as :meth:`SparseTensor.from_dense`).

    It runs as a careful dense inference implementation would, so that the comparison with the
    sparse network is not flattered by a slow dense one: channels-last memory (a 32 -> 32 3×3
    conv2d on 512 × 512, 2 threads: 0.17 s contiguous, 0.08 s channels-last here); each
    BatchNorm folded into the convolution before it (:func:`fold_batch_norm`, recomputed at
    every call from the shared parameters); activations and masks applied in place. The
    results are those of conv-BN-LeakyReLU up to float rounding."""

    def __init__(self, plane_net: SparseUResNet, masked: bool = True) -> None:
        super().__init__()
        self.net = plane_net  # shared: the sparse network's own parameters and buffers
        self.masked = masked

    def extra_repr(self) -> str:
        return f"masked={self.masked}"

    # --- layers ---------------------------------------------------------------------------------
    def _conv_bn(self, x: Tensor, conv: nn.Module, bn: nn.BatchNorm1d, m: Tensor | None, *,
                 stride: int = 1, inverse: bool = False, slope: float | None = None) -> Tensor:
        """conv, BatchNorm, the level's mask (so that BN's shift and the kernel's reach leave
        nothing on inactive sites), then LeakyReLU with ``slope`` if given (it keeps zeros
        zero)."""
        if inverse:
            w, b = fold_batch_norm(dense_inverse_weight(conv.weight), conv.bias, bn, out_dim=1)
            y = F.conv_transpose2d(x, w, b, stride=stride)
        else:
            w, b = fold_batch_norm(dense_conv_weight(conv.weight), conv.bias, bn)
            pad = 0 if stride > 1 else conv.weight.shape[1] // 2
            y = F.conv2d(x, w, b, stride=stride, padding=pad)
        y = y.contiguous(memory_format=torch.channels_last)
        if m is not None:
            y.mul_(m)
        return y if slope is None else F.leaky_relu_(y, slope)

    def _block(self, block: nn.Module, x: Tensor, m: Tensor | None) -> Tensor:
        slope = block.act.negative_slope
        y = self._conv_bn(x, block.conv1, block.norm1.bn, m, slope=block.norm1.act.negative_slope)
        y = self._conv_bn(y, block.conv2, block.norm2, m)
        if block.shortcut is None:
            y.add_(x)
        else:
            y.add_(F.conv2d(x, block.shortcut.weight[:, :, None, None], block.shortcut.bias))
        return F.leaky_relu_(y, slope)

    def _blocks(self, seq: nn.Sequential, x: Tensor, m: Tensor | None) -> Tensor:
        for block in seq:
            x = self._block(block, x, m)
        return x

    # --- network --------------------------------------------------------------------------------
    def level_masks(self, mask: Tensor) -> list[Tensor]:
        """(B, 1, H_k, W_k) float masks of the active sites per level, from a padded (B, H, W)
        bool mask: each level's is the 2×2 max-pool of the one above."""
        masks = [mask[:, None].to(torch.get_default_dtype())]
        for _ in range(self.net.levels - 1):
            masks.append(F.max_pool2d(masks[-1], 2, 2))
        return masks

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        net = self.net
        if any(m.training for m in net.modules() if isinstance(m, nn.BatchNorm1d)):
            raise RuntimeError("DenseTwin runs BatchNorm on its running statistics only: "
                               "call .eval() first")
        if mask is None:
            mask = (image != 0).any(dim=1)
        h, w = image.shape[-2:]
        mult = 1 << (net.levels - 1)
        ph, pw = -(-h // mult) * mult - h, -(-w // mult) * mult - w
        x = F.pad(image, (0, pw, 0, ph)).contiguous(memory_format=torch.channels_last)
        ms: list[Tensor | None] = (self.level_masks(F.pad(mask, (0, pw, 0, ph)))
                                   if self.masked else [None] * net.levels)
        if ms[0] is not None:
            x = x * ms[0]  # the sparse input holds the mask's pixels only
        norm = net.stem_norm
        x = self._conv_bn(x, net.stem, norm.bn, ms[0], slope=norm.act.negative_slope)
        skips: list[Tensor | None] = []
        for i, blocks in enumerate(net.encoder):
            x = self._blocks(blocks, x, ms[i])
            if i < net.levels - 1:
                skips.append(x)
                conv, norm = net.down[i]
                x = self._conv_bn(x, conv, norm.bn, ms[i + 1], stride=2,
                                  slope=norm.act.negative_slope)
        for i in reversed(range(net.levels - 1)):
            conv, norm = net.up[i]
            up = self._conv_bn(x, conv, norm.bn, ms[i], stride=2, inverse=True,
                               slope=norm.act.negative_slope)
            x = self._blocks(net.decoder[i], torch.cat([skips[i], up], dim=1), ms[i])
            skips[i] = None  # free the skip as soon as it is used
        logits = F.conv2d(x, net.head.weight[:, :, None, None], net.head.bias)
        return logits[:, :, :h, :w]


def dense_logits_on_sites(twin: DenseTwin, x: SparseTensor) -> Tensor:
    """The twin's logits for a sparse record, on its sites in its order: (N, n_classes), like
    the sparse network's output (the record densified, run, and read back at its sites)."""
    out = twin(densify(x), _site_mask(x))
    c = x.coords.long()
    return out.permute(0, 2, 3, 1)[c[:, 0], c[:, 1], c[:, 2]]


def _site_mask(x: SparseTensor) -> Tensor:
    """The record's sites as a (B, H, W) bool mask (a site whose features are all zero is still
    active in the sparse network)."""
    h, w = x.spatial_shape
    m = torch.zeros(x.batch_size, h, w, dtype=torch.bool, device=x.features.device)
    c = x.coords.long()
    m[c[:, 0], c[:, 1], c[:, 2]] = True
    return m
