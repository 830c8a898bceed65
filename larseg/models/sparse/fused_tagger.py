"""The sparse cosmic tagger's fused inference path (``inference="fused"``, the default in eval mode
without autograd; :mod:`larseg.models.sparse_cosmic_tagger`'s docstring says what it computes).

A mixin of :class:`~larseg.models.sparse_cosmic_tagger.SparseCosmicTagger`: methods only, on the
modules the network defines (``stem``, ``down``, ``deepest``, ``up``, ``head``, ``cfg``) and its
``_folds`` cache, so the state dict is the network's own. The layers run through
:mod:`larseg.models.sparse.fused`: each convolution with its BatchNorm folded in (with
``norm="plane"`` its plane's scale and shift applied to each site after it), gather-matmuls
on the fine levels and masked dense convolutions from the first level that fills ``dense_fill``
of its grid.
"""

from __future__ import annotations

from ...data._torch import torch
from ..cosmic_tagger import DeepestBlock
from . import fused
from .layers import PlaneSparseBatchNorm, plane_of_sites
from .reference import strided_map, submanifold_rows
from .tensor import SparseTensor

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

#: the network's down step: a 2×2 stride-2 sparse convolution (sparse_cosmic_tagger's docstring)
DOWN_KERNEL = DOWN_STRIDE = 2


class FusedTaggerInference:
    """The fused inference methods of the sparse cosmic tagger (see the module docstring)."""

    def fused_forward(self, x: SparseTensor) -> Tensor:
        """Logits (N, n_classes) of a joined record (:meth:`join`) in the record's dtype,
        computed in the dtype of an enclosing autocast (bfloat16 under CPU autocast), else in
        the record's, through :mod:`larseg.models.sparse.fused`: every convolution with its
        BatchNorm folded in; on the fine levels one gather-matmul per convolution, with the
        reference backend's neighbour maps built once per level for all planes of all events
        (whichever backend built the modules); from the first level whose active sites fill
        ``dense_fill`` of its grid on, masked dense convolutions on the channels-last grid; the
        deepest block as folded dense convolutions. The same network as the modules'
        eval-mode forward up to float rounding. No autograd (the folded weights are cached)."""
        dev = x.features.device.type
        dtype = (torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev)
                 else x.features.dtype)
        with torch.no_grad(), torch.autocast(dev, enabled=False):
            return self._fused(x, dtype).to(x.features.dtype)

    def _fold(self, name: str, conv: nn.Module, norm, dtype, *, dense: bool = False,
              inverse: bool = False) -> tuple[Tensor, Tensor]:
        """The convolution's weight and bias with ``norm`` folded in; a per-plane BatchNorm is
        not folded (one weight serves every plane): :meth:`_affine` applies it after."""
        bias = getattr(conv, "bias", None)
        bn = None if isinstance(norm, PlaneSparseBatchNorm) else norm
        if dense:
            return self._folds.get(f"{name}:dense", [conv.weight, bias, *fused.bn_sources(bn)],
                                   dtype, lambda: fused.fold_sparse_as_dense(conv.weight, bias,
                                                                             bn, inverse))
        return self._folds.get(name, [conv.weight, bias, *fused.bn_sources(bn)], dtype,
                               lambda: fused.fold_sparse(conv.weight, bias, bn))

    def _affine(self, name: str, norm, dtype) -> tuple[Tensor, Tensor] | None:
        """A per-plane BatchNorm's (P, C) scale and shift; None for any other norm."""
        if not isinstance(norm, PlaneSparseBatchNorm):
            return None
        return self._folds.get(f"{name}:plane", fused.bn_sources(norm.bn), dtype,
                               lambda: fused.plane_scale_shift(norm))

    def _planes(self, coords: Tensor) -> Tensor | None:
        """Each site's plane, where the norm needs it (``norm="plane"``)."""
        return plane_of_sites(coords, self.cfg.planes) if self.cfg.norm == "plane" else None

    def _sparse_conv(self, h: Tensor, rows: Tensor, name: str, conv: nn.Module, norm, dtype,
                     plane: Tensor | None, slope: float | None = None,
                     ws: fused.Workspace | None = None) -> Tensor:
        """conv-norm(-LeakyReLU) by one gather-matmul onto the sites of ``plane``."""
        w, b = self._fold(name, conv, norm, dtype)
        affine = self._affine(name, norm, dtype)
        if affine is None:
            return fused.gather_matmul(h, rows, w, b, slope, ws)
        return fused.plane_affine_(fused.gather_matmul(h, rows, w, b, workspace=ws), plane,
                                   *affine, slope)

    def _dense_conv(self, z: Tensor, name: str, conv: nn.Module, norm, dtype, mask: Tensor,
                    *, inverse: bool = False, **kwargs) -> Tensor:
        """conv-norm(-LeakyReLU) as a masked dense convolution on the (P·B, C, h, w) grid."""
        w, b = self._fold(name, conv, norm, dtype, dense=True, inverse=inverse)
        affine = self._affine(name, norm, dtype)
        if affine is not None:  # image i is plane i mod P
            plane = torch.arange(z.shape[0], device=z.device) % self.cfg.planes
            affine = tuple(t.index_select(0, plane)[:, :, None, None] for t in affine)
        return fused.masked_conv(z, w, b, mask, inverse=inverse, affine=affine, **kwargs)

    def _sparse_blocks(self, name: str, blocks: nn.Sequential, h: Tensor, rows: Tensor,
                       dtype, ws: fused.Workspace, plane: Tensor | None) -> Tensor:
        for i, block in enumerate(blocks):
            y = self._sparse_conv(h, rows, f"{name}.{i}.conv1", block.conv1, block.norm1.bn,
                                  dtype, plane, block.norm1.act.negative_slope, ws)
            y = self._sparse_conv(y, rows, f"{name}.{i}.conv2", block.conv2, block.norm2,
                                  dtype, plane, ws=ws)
            h = F.leaky_relu_(y.add_(h), block.act.negative_slope)  # c_in = c_out: no shortcut
        return h

    def _dense_blocks(self, name: str, blocks: nn.Sequential, z: Tensor, mask: Tensor,
                      dtype) -> Tensor:
        for i, block in enumerate(blocks):
            pad = block.conv1.weight.shape[1] // 2
            y = self._dense_conv(z, f"{name}.{i}.conv1", block.conv1, block.norm1.bn, dtype,
                                 mask, padding=pad, slope=block.norm1.act.negative_slope)
            y = self._dense_conv(y, f"{name}.{i}.conv2", block.conv2, block.norm2, dtype, mask,
                                 padding=pad)
            z = F.leaky_relu_(y.add_(z), block.act.negative_slope)
        return z

    def _fused(self, x: SparseTensor, dtype) -> Tensor:
        ws = fused.Workspace()
        images = x.batch_size
        stem_conv, stem_norm = self.stem
        coords, shape = x.coords, x.spatial_shape
        plane = self._planes(coords)
        h = fused.padded(x.features.to(dtype))
        h = self._sparse_conv(h, submanifold_rows(coords, shape, stem_conv.weight.shape[1]),
                              "stem", stem_conv, stem_norm.bn, dtype, plane,
                              stem_norm.act.negative_slope, ws)
        stem = h
        # per level: ("sparse", skip, rows, map, plane) or ("dense", skip, mask)
        levels: list[tuple] = []
        z = mask = None  # the dense grid and its site mask, once the levels turn dense
        for k, level in enumerate(self.down):
            conv, norm = level.down
            if z is None and len(coords) >= self.cfg.dense_fill * images * shape[0] * shape[1]:
                z = fused.to_grid(h, coords, shape, images)
                mask = fused.site_mask(coords, shape, images, dtype)
            if z is not None:  # coarser levels are at least as full: dense from here on
                z = self._dense_blocks(f"down{k}", level.blocks, z, mask, dtype)
                levels.append(("dense", z, mask))
                mask = F.max_pool2d(mask, DOWN_KERNEL, DOWN_STRIDE)  # the strided conv's sites
                z = self._dense_conv(z, f"down{k}.down", conv, norm.bn, dtype, mask,
                                     stride=DOWN_STRIDE, slope=norm.act.negative_slope)
                continue
            rows = submanifold_rows(coords, shape, 3)  # one map per level, down and up
            h = self._sparse_blocks(f"down{k}", level.blocks, h, rows, dtype, ws, plane)
            m = strided_map(coords, shape, DOWN_KERNEL, DOWN_STRIDE)
            levels.append(("sparse", h, rows, m, plane))
            coords, shape = m.out_coords, m.out_shape
            plane = self._planes(coords)  # the strided convolution's output sites
            h = self._sparse_conv(h, m.down, f"down{k}.down", conv, norm.bn, dtype, plane,
                                  norm.act.negative_slope, ws)
        if z is None:
            z = fused.to_grid(h, coords, shape, images)
            mask = fused.site_mask(coords, shape, images, dtype)
        z = self._fused_deepest(z, dtype).mul_(mask)  # read back on the active sites only
        for k in reversed(range(len(self.up))):
            level, state = self.up[k], levels[k]
            conv, norm = level.upsample
            if state[0] == "dense":
                _, skip, mask = state
                z = self._dense_conv(z, f"up{k}.upsample", conv, norm.bn, dtype, mask,
                                     inverse=True, stride=DOWN_STRIDE,
                                     slope=norm.act.negative_slope).add_(skip)
                z = self._dense_blocks(f"up{k}", level.blocks, z, mask, dtype)
                continue
            _, skip, rows, m, plane = state
            if z is not None:  # the first sparse level on the way up: the grid's sites
                h, z = fused.from_grid(z, m.out_coords), None
            h = self._sparse_conv(h, m.up, f"up{k}.upsample", conv, norm.bn, dtype, plane,
                                  norm.act.negative_slope, ws).add_(skip)
            h = self._sparse_blocks(f"up{k}", level.blocks, h, rows, dtype, ws, plane)
        if z is not None:  # dense down to level 0
            h = fused.from_grid(z, x.coords)
        if self.cfg.head == "table1":
            h = torch.cat([h, stem], dim=1)
            linear, bn = self.head
        else:
            linear, bn = self.head, None
        out = fused.linear(h, *self._fold("head", linear, bn, dtype))
        affine = self._affine("head", bn, dtype)
        if affine is not None:
            out = fused.plane_affine_(out, self._planes(x.coords), *affine)
        return out[:-1]

    def _fused_deepest(self, z: Tensor, dtype) -> Tensor:
        """The deepest block on the (P·B, C, h, w) channels-last grid (zeros off the sites)."""
        block = self.deepest
        if not isinstance(block, DeepestBlock):  # a replaced block (tests): run it as it is
            return block(z.contiguous()).to(dtype).contiguous(memory_format=torch.channels_last)
        p = block.planes  # planes joined per grid (1 with connect_planes off)
        images, channels, hh, ww = z.shape
        e = images // p
        # memory (E, P, h, w, C) -> (E, h, w, P·C): the channels-last (E, P·C, h, w) grid
        joined = z.permute(0, 2, 3, 1).reshape(e, p, hh, ww, channels).permute(0, 2, 3, 1, 4)
        y = self._fused_dense_block(block, joined.reshape(e, hh, ww, p * channels)
                                    .permute(0, 3, 1, 2), dtype)
        split = y.permute(0, 2, 3, 1).reshape(e, hh, ww, p, channels).permute(0, 3, 1, 2, 4)
        return split.reshape(images, hh, ww, channels).permute(0, 3, 1, 2)

    def _dense_fold(self, name: str, conv: nn.Conv2d, bn, dtype) -> tuple[Tensor, Tensor]:
        return self._folds.get(name, [conv.weight, conv.bias, *fused.bn_sources(bn)], dtype,
                               lambda: fused.fold_dense(conv, bn))

    def _fused_dense_block(self, block: DeepestBlock, z: Tensor, dtype) -> Tensor:
        def conv_bn_act(name: str, seq: nn.Sequential, z: Tensor) -> Tensor:
            conv, bn, act = seq
            return F.leaky_relu_(F.conv2d(z, *self._dense_fold(name, conv, bn, dtype)),
                                 act.negative_slope)

        z = conv_bn_act("deepest.squeeze", block.squeeze, z)
        for i, res in enumerate(block.blocks):
            pad = res.conv1.padding
            y = F.leaky_relu_(F.conv2d(z, *self._dense_fold(f"deepest.{i}.conv1", res.conv1,
                                                             res.bn1, dtype), padding=pad),
                              res.act.negative_slope)
            y = F.conv2d(y, *self._dense_fold(f"deepest.{i}.conv2", res.conv2, res.bn2, dtype),
                         padding=res.conv2.padding)
            z = F.leaky_relu_(y.add_(z), res.act.negative_slope)
        return conv_bn_act("deepest.expand", block.expand, z)
