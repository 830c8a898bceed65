"""Inference-only sparse convolutions with the BatchNorm after them folded in, in a chosen dtype.

A network in eval mode can run its layers here instead of through its backend's modules: the
same convolution weights ((C_out, kh, kw, C_in), either backend's), the reference backend's
neighbour maps (:mod:`.reference`), and per convolution one gather of the neighbours' features
and one matrix product with the BatchNorm folded into the weight (W·s, shift β - μ·s from the
running statistics, s = γ / sqrt(var + eps)). The result is conv-BN of the modules up to float
rounding; there is no autograd through it and no training-mode BatchNorm.

Features are carried as (N + 1, C) tensors whose last row is zero (:func:`padded`): the row a
gather reads for an inactive neighbour, so that no convolution has to append one. Every
operation here keeps that row zero (matrix products write rows 0..N-1 only; LeakyReLU and sums
of zero rows stay zero).

Where a level's active sites fill most of its grid (a coarse level of a busy image), the same
convolutions run faster as dense ones (oneDNN, channels-last) on the grid, masked: features
zero off the active sites before every convolution and the output multiplied by the level's
site mask after it (:func:`masked_conv`), so that the values on the active sites are the
submanifold convolution's (BatchNorm's shift never leaks onto an empty site, a kernel never
reaches an inactive neighbour's non-zero value). :func:`to_grid` / :func:`from_grid` move
features between the two layouts.

``dtype`` is the dtype of the features and of the folded weights: float32, or bfloat16 for CPU
inference (the matrix products then run in bfloat16 with float32 accumulation inside oneDNN).
Folded weights are cached per module and refolded when a source tensor changes (its version
counter or storage), so a loaded state dict, an optimizer step, a training-mode pass or a move
to another device shows at the next call. A change that bypasses the version counters (writing
through ``tensor.data``) does not: the network that owns the cache clears it in ``train()`` /
``eval()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...data._torch import torch
from .dense_twin import dense_conv_weight, dense_inverse_weight, fold_batch_norm

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor


def bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """An inference-mode BatchNorm as y = x·scale + shift (per channel)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def fold_sparse(weight: Tensor, bias: Tensor | None,
                bn: nn.modules.batchnorm._BatchNorm | None) -> tuple[Tensor, Tensor]:
    """A sparse convolution's (C_out, kh, kw, C_in) (or a linear layer's (C_out, C_in)) weight
    and optional bias, with the BatchNorm after it if any, as (K·C_in, C_out) and (C_out,): the
    right operand and bias of :func:`gather_matmul`. The columns follow the neighbour map's
    window order (row-major (i, j)), channels innermost."""
    w = weight.reshape(weight.shape[0], -1)
    b = bias if bias is not None else w.new_zeros(w.shape[0])
    if bn is not None:
        scale, shift = bn_scale_shift(bn)
        w, b = w * scale[:, None], b * scale + shift
    return w.t().contiguous(), b


def padded(features: Tensor) -> Tensor:
    """(N, C) features as (N + 1, C) with a zero last row."""
    return torch.cat([features, features.new_zeros(1, features.shape[1])])


class Workspace:
    """One scratch buffer for the gathered neighbour features, reused by every convolution of
    a forward pass. Why: a fresh (M, K·C) tensor per convolution is a large allocation that
    the C allocator maps anew each time, and its page faults cost as much as the gather itself
    (a 15,578 × 576 float32 gather, one thread: 19.7 ms freshly allocated, 1.8 ms into a
    reused buffer, ``resource`` counting ~8,800 minor faults a call)."""

    def __init__(self) -> None:
        self._buffer: Tensor | None = None

    def take(self, rows: int, cols: int, like: Tensor) -> Tensor:
        """A (rows, cols) view of the buffer, in ``like``'s dtype and device."""
        n, buf = rows * cols, self._buffer
        if buf is None or buf.numel() < n or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._buffer = like.new_empty(n)
        return buf[:n].view(rows, cols)


def gather_matmul(x: Tensor, rows: Tensor, w: Tensor, b: Tensor,
                  slope: float | None = None, workspace: Workspace | None = None) -> Tensor:
    """out[p] = Σ_d x[rows[p, d]] · W_d + b on (M, K) ``rows`` into the padded (N + 1, C_in)
    ``x`` (row N: inactive); (M + 1, C_out) padded result, LeakyReLU(``slope``) if given."""
    m, k = rows.shape
    flat = rows.reshape(-1)
    if workspace is None:
        cols = x.index_select(0, flat)
    else:
        cols = torch.index_select(x, 0, flat, out=workspace.take(m * k, x.shape[1], x))
    cols = cols.view(m, k * x.shape[1])
    out = x.new_empty(m + 1, w.shape[1])
    torch.addmm(b, cols, w, out=out[:m])
    out[m].zero_()
    return out if slope is None else F.leaky_relu_(out, slope)


def plane_affine_(out: Tensor, plane: Tensor, scale: Tensor, shift: Tensor,
                  slope: float | None = None) -> Tensor:
    """A per-plane BatchNorm on padded (M + 1, C) convolution output, in place: row i times
    ``scale[plane[i]]`` plus ``shift[plane[i]]`` ((P, C) each; the zero row kept zero), then
    LeakyReLU(``slope``) if given."""
    m = len(plane)
    out[:m].mul_(scale.index_select(0, plane)).add_(shift.index_select(0, plane))
    return out if slope is None else F.leaky_relu_(out, slope)


def plane_scale_shift(norm) -> tuple[Tensor, Tensor]:
    """A per-plane BatchNorm (:class:`~larseg.models.sparse.layers.PlaneSparseBatchNorm`) in
    inference mode as (P, C) scale and shift."""
    scale, shift = bn_scale_shift(norm.bn)
    return scale.reshape(norm.planes, -1), shift.reshape(norm.planes, -1)


def linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """A folded 1×1 layer on padded features (the zero row kept zero)."""
    out = torch.addmm(b, x, w)
    out[-1].zero_()
    return out


class FoldCache:
    """Folded weights by name, refolded when one of their source tensors changed."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, tuple[Tensor, ...]]] = {}

    @staticmethod
    def _stamp(sources: Sequence[Tensor | None], dtype: torch.dtype) -> tuple:
        return (dtype,) + tuple((t.device, t.data_ptr(), t._version) if t is not None else None
                                for t in sources)

    def get(self, name: str, sources: Sequence[Tensor | None], dtype: torch.dtype,
            fold) -> tuple[Tensor, ...]:
        """``fold()``'s tensors cast to ``dtype``, from the cache while ``sources`` (every
        tensor ``fold`` reads) are unchanged."""
        stamp = self._stamp(sources, dtype)
        hit = self._entries.get(name)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with torch.no_grad():
            value = tuple(t.to(dtype) for t in fold())
        self._entries[name] = (stamp, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


def bn_sources(bn: nn.modules.batchnorm._BatchNorm | None) -> list[Tensor | None]:
    """The tensors a folded BatchNorm reads, for :meth:`FoldCache.get`. A training-mode pass
    updates the running statistics without bumping their version counters; it does bump
    ``num_batches_tracked``'s, which is why that counter is among them."""
    if bn is None:
        return []
    return [bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.num_batches_tracked]


def fold_dense(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """A dense Conv2d followed by an inference-mode BatchNorm as one conv2d weight
    (channels-last) and bias."""
    return fold_batch_norm(conv.weight, conv.bias, bn)


def fold_sparse_as_dense(weight: Tensor, bias: Tensor | None,
                         bn: nn.modules.batchnorm._BatchNorm | None,
                         inverse: bool = False) -> tuple[Tensor, Tensor]:
    """A sparse convolution's (C_out, kh, kw, C_in) weight with its BatchNorm (if any) as a
    channels-last conv2d weight (C_out, C_in, kh, kw), or for an inverse convolution a
    conv_transpose2d weight (C_in, C_out, kh, kw), and the bias."""
    w = dense_inverse_weight(weight) if inverse else dense_conv_weight(weight)
    if bn is None:
        b = bias if bias is not None else w.new_zeros(w.shape[1 if inverse else 0])
        return w.contiguous(memory_format=torch.channels_last), b
    return fold_batch_norm(w, bias, bn, out_dim=1 if inverse else 0)


def _flat_sites(coords: Tensor, shape: tuple[int, int]) -> Tensor:
    c = coords.long()
    return (c[:, 0] * shape[0] + c[:, 1]) * shape[1] + c[:, 2]


def to_grid(x: Tensor, coords: Tensor, shape: tuple[int, int], images: int) -> Tensor:
    """Padded (N + 1, C) site features as a channels-last (images, C, H, W) grid, zeros off the
    sites."""
    channels = x.shape[1]
    grid = x.new_zeros(images * shape[0] * shape[1], channels)
    grid.index_copy_(0, _flat_sites(coords, shape), x[:-1])
    return grid.view(images, shape[0], shape[1], channels).permute(0, 3, 1, 2)


def from_grid(z: Tensor, coords: Tensor) -> Tensor:
    """A (images, C, H, W) grid read back on ``coords`` as padded (N + 1, C) features."""
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # a view when z is channels-last
    return padded(flat.index_select(0, _flat_sites(coords, tuple(z.shape[2:]))))


def site_mask(coords: Tensor, shape: tuple[int, int], images: int, dtype) -> Tensor:
    """(images, 1, H, W): 1 on the sites, 0 elsewhere."""
    mask = torch.zeros(images * shape[0] * shape[1], dtype=dtype, device=coords.device)
    mask[_flat_sites(coords, shape)] = 1
    return mask.view(images, 1, shape[0], shape[1])


def masked_conv(z: Tensor, w: Tensor, b: Tensor, mask: Tensor, *, stride: int = 1,
                padding: int = 0, inverse: bool = False, slope: float | None = None,
                affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """A folded dense convolution (conv_transpose2d if ``inverse``), then ``affine`` if given
    (per-image (images, C, 1, 1) scale and shift: a per-plane BatchNorm), times the output
    level's site mask, then LeakyReLU(``slope``) if given (it keeps zeros zero)."""
    if inverse:
        y = F.conv_transpose2d(z, w, b, stride=stride)
    else:
        y = F.conv2d(z, w, b, stride=stride, padding=padding)
    if affine is not None:
        y = y.mul_(affine[0]).add_(affine[1])
    y = y.mul_(mask)
    return y if slope is None else F.leaky_relu_(y, slope)
