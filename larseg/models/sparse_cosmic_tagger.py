"""A sparse SBND cosmic tagger: the multi-plane UResNet of :mod:`larseg.models.cosmic_tagger`
(SBND paper, ``../shared/papers/`` 000 and 001, Table 1) on submanifold sparse convolutions.

No published system has it (larseg issue 11). Per plane, with weights shared between the planes
(the three planes of B events run as one sparse batch of 3·B images, image index b·P + p, as the
dense network's batch):

- stem: 7×7 submanifold convolution 1 → f, BatchNorm, LeakyReLU;
- down, per level k (c = f·2^k): ``blocks_per_level`` residual submanifold 3×3 blocks (their
  output is the skip), then a 2×2 stride-2 sparse convolution c → 2c, BatchNorm, LeakyReLU: the
  dense network's 2×2 max-pool and 1×1 bottleneck become one strided convolution, the usual
  sparse down step (a sparse max-pool is not in larseg's backend);
- deepest: each plane's sparse tensor is densified (10 × 16 at the paper's 50 % resolution,
  20 × 32 at full), the planes are concatenated and the dense network's own
  :class:`~larseg.models.cosmic_tagger.DeepestBlock` runs (1×1 to ``deep_filters``, residual
  ``deep_kernel`` blocks, 1×1 back, split); its output is read back on the deepest level's
  active sites only. This is the one place where the planes meet;
- up, per level: the inverse of that level's strided convolution (back onto exactly its input
  sites, in their order) 2c → c, BatchNorm, LeakyReLU — the dense network's ``"transposed"``
  upsampling variant restricted to the active sites — the additive skip, then
  ``blocks_per_level`` residual blocks;
- head (``"table1"``): the last up level's features concatenated with the stem's, 1×1 to the
  classes, BatchNorm (the dense network's reading of Table 1's 57-parameter row); ``"plain"``: a
  1×1 with bias from the f filters.

Convolutions followed by a BatchNorm carry no bias (BatchNorm's shift makes it redundant); the
dense network's convolutions have one, so the parameter counts differ from Table 1 by those
biases as well as by the down and up steps. The dense deepest block is used unchanged (with its
biases).

Submanifold convolutions keep the active set, so on the way down only sites within reach of an
input pixel exist, and the logits come back on the input pixels, in the input's order. On an
image whose every pixel is active the network equals a dense one with the same weights (the
dense cosmic tagger with transposed upsampling and strided-convolution down steps); the tests
check that.

The spatial bound is rounded up to a multiple of 2^depth (the coordinates are unchanged), so any
image size works; the planes may have different bounds (the largest is used for all).

``adc_min`` / ``adc_max`` are the trainer's input mask (applied when the sparse batch is built,
as for SparseSSNet, not inside ``forward``); None keeps every pixel, as the SBND paper's dense
network sees the whole image.

The saving is in the fine levels: a coarse level is as dense as the image is spread out. On
larseg's simulated SBND events at 50 % resolution (all three planes together) the active sites
fill 2 % of level 0's grid, 20 % of level 2's, 51 % of level 3's, 74 % of level 4's and 87 % of
level 5's, so the coarse levels cost what they cost in the dense network;
``benchmarks/bench_sparse_cosmic_tagger.py`` measures the time.

Inference (``inference="fused"``, the default, used in eval mode without autograd): the layers
run through :mod:`larseg.models.sparse.fused` instead of the backend's modules: each
convolution with its BatchNorm folded in; on the fine levels one gather of the neighbours'
features and one matrix product, with the reference backend's neighbour maps (lookup tables)
built once per level for all planes of all events and shared by the way down and up; from the
first level whose sites fill ``dense_fill`` of its grid, masked dense convolutions on the
channels-last grid (faster there; the same values on the active sites); in the dtype of an
enclosing autocast, so ``eval.precision: bf16`` runs the products in bfloat16 (the backend's
modules of spconv do not run under bfloat16 autocast at all). The logits equal the modules' to
float rounding in float32; in bfloat16 they move by its rounding, and how many pixels change
class depends on the weights (the benchmark measures it). ``inference="modules"`` runs the
backend's modules, as training does.

In training mode the sparse BatchNorms take their statistics over the active sites of all planes
of all events, and the dense deepest block's over every position of the deepest grid, active or
not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..data._torch import torch
from ..errors import LarsegError
from .cosmic_tagger import CosmicTaggerConfig, DeepestBlock
from .sparse import (BackendName, BatchNormAct, SparseBatchNorm, SparseLinear, SparseTensor,
                     cat_features, densify, get_backend)
from .sparse import fused
from .sparse.blocks import SparseResidualBlock
from .sparse.reference import strided_map, submanifold_rows

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

#: the down step: a 2×2 stride-2 sparse convolution (module docstring)
DOWN_KERNEL = DOWN_STRIDE = 2


@dataclass(frozen=True)
class SparseCosmicTaggerConfig:
    name: str = "sparse_cosmic_tagger"
    n_classes: int = 3              # background / cosmic / neutrino (SBND paper, section 5)
    planes: int = 3                 # U, V, Y (SBND paper, Figure 4)
    filters: int = 8                # initial filters (SBND paper, Table 1)
    depth: int = 6                  # down levels (SBND paper, Table 1: Down 0 ... Down 5)
    blocks_per_level: int = 2       # Res3x3, Res3x3 per level (SBND paper, Table 1)
    deep_filters: int = 256         # bottleneck at the deepest level (SBND paper, Table 1)
    deep_blocks: int = 5            # "Res5x5, 5 layers" (SBND paper, Table 1)
    deep_kernel: int = 5            # (SBND paper, Table 1)
    head: Literal["table1", "plain"] = "table1"     # as the dense network's (module docstring)
    backend: BackendName = "auto"
    adc_min: float | None = None    # input mask for the trainer; None: every pixel (the SBND
    adc_max: float | None = None    # paper's network sees the whole image)
    # the final layer starts at zero, as the dense network's (cosmic_tagger.py: a default
    # start's large logits cost hundreds of RMSProp steps to undo)
    zero_init_head: bool = True
    # eval mode without autograd: "fused" runs the layers through larseg.models.sparse.fused
    # (BatchNorm folded, one gather-matmul per convolution, the dtype of an enclosing autocast);
    # "modules" runs the backend's modules as in training. The same logits up to float rounding
    # (benchmarks/bench_sparse_cosmic_tagger.py measures both)
    inference: Literal["fused", "modules"] = "fused"
    # on the fused path, levels from the first whose active sites fill this share of its grid
    # run as masked dense convolutions (faster there: benchmarks/bench_sparse_cosmic_tagger.py);
    # above 1: never
    dense_fill: float = 0.5

    def dense(self) -> CosmicTaggerConfig:
        """The dense cosmic tagger with the same widths (for the deepest block, benchmarks)."""
        return CosmicTaggerConfig(n_classes=self.n_classes, planes=self.planes,
                                  filters=self.filters, depth=self.depth,
                                  blocks_per_level=self.blocks_per_level,
                                  deep_filters=self.deep_filters, deep_blocks=self.deep_blocks,
                                  deep_kernel=self.deep_kernel, head=self.head)


def _blocks(backend, c: int, n: int, key: str) -> nn.Sequential:
    return nn.Sequential(*(SparseResidualBlock(backend, c, c, 3, key=key) for _ in range(n)))


def _add(a: SparseTensor, b: SparseTensor) -> SparseTensor:
    """The additive skip: a + b on the same sites in the same order (``b``'s record kept)."""
    if a.coords is not b.coords and not torch.equal(a.coords, b.coords):
        raise ValueError("the additive skip needs the same sites in the same order")
    return b.with_features(a.features + b.features)


class SparseDownLevel(nn.Module):
    """Residual blocks at c filters on level k's sites (the skip), 2×2 stride-2 conv to 2c."""

    def __init__(self, backend, k: int, c: int, n_blocks: int) -> None:
        super().__init__()
        self.blocks = _blocks(backend, c, n_blocks, f"subm{k}")
        self.down = nn.Sequential(backend.down(c, 2 * c, DOWN_KERNEL, DOWN_STRIDE,
                                               key=f"down{k}"),
                                  BatchNormAct(2 * c))

    def forward(self, x: SparseTensor) -> tuple[SparseTensor, SparseTensor]:
        skip = self.blocks(x)
        return skip, self.down(skip)


class SparseUpLevel(nn.Module):
    """Inverse of level k's strided conv (2c → c), the additive skip, residual blocks at c."""

    def __init__(self, backend, k: int, c: int, n_blocks: int) -> None:
        super().__init__()
        self.upsample = nn.Sequential(backend.up(2 * c, c, DOWN_KERNEL, key=f"down{k}"),
                                      BatchNormAct(c))
        self.blocks = _blocks(backend, c, n_blocks, f"subm{k}")

    def forward(self, x: SparseTensor, skip: SparseTensor) -> SparseTensor:
        return self.blocks(_add(skip, self.upsample(x)))


def _through_dense(block: nn.Module, x: SparseTensor) -> SparseTensor:
    """``block`` on the dense (P·B, C, h, w) image of ``x`` (zeros off its sites), read back on
    ``x``'s sites: the way up continues on the deepest level's active sites only."""
    c = x.coords.long()
    out = block(densify(x))
    return x.with_features(out.permute(0, 2, 3, 1)[c[:, 0], c[:, 1], c[:, 2]])


class SparseCosmicTagger(nn.Module):
    """``forward(planes)``: one :class:`SparseTensor` per plane (``planes`` of them, all with the
    same batch size; features (N_p, 1), the pixel's ADC) -> one (N_p, n_classes) logits tensor
    per plane, on the input's sites in the input's order."""

    input_kind = "sparse"  # the trainer feeds it sparse batches (larseg.train.paths)

    def __init__(self, cfg: SparseCosmicTaggerConfig = SparseCosmicTaggerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        backend = get_backend(cfg.backend)
        self.backend = backend.name
        self.size_multiple = 2 ** cfg.depth  # the spatial bound is rounded up to it
        f, n = cfg.filters, cfg.blocks_per_level
        # "conv7x7, BN, LeakyReLU" (SBND paper, Table 1); its map is not shared with the 3×3s
        self.stem = nn.Sequential(backend.submanifold(1, f, 7, key="stem"), BatchNormAct(f))
        self.down = nn.ModuleList(SparseDownLevel(backend, k, f << k, n)
                                  for k in range(cfg.depth))
        self.deepest = DeepestBlock(f << cfg.depth, cfg.dense())
        self.up = nn.ModuleList(SparseUpLevel(backend, k, f << k, n)
                                for k in range(cfg.depth))  # up[k]: level k
        if cfg.head == "table1":
            self.head = nn.Sequential(SparseLinear(2 * f, cfg.n_classes, bias=False),
                                      SparseBatchNorm(cfg.n_classes))
        else:
            self.head = SparseLinear(f, cfg.n_classes)
        if cfg.zero_init_head:  # table1's head ends in a BatchNorm: start its scale at 0
            final = self.head[1] if cfg.head == "table1" else self.head
            nn.init.zeros_(final.weight)
            nn.init.zeros_(final.bias)
        self._folds = fused.FoldCache()  # the fused path's folded weights (not in state_dict)

    def join(self, planes: Sequence[SparseTensor]) -> SparseTensor:
        """The planes of B events as one record of P·B images, image b·P + p (the dense
        network's batch order, which its deepest block reshapes by)."""
        p_count = self.cfg.planes
        if len(planes) != p_count:
            raise LarsegError(f"sparse cosmic tagger joins {p_count} planes at the deepest "
                              f"level, got {len(planes)} inputs")
        sizes = {x.batch_size for x in planes}
        if len(sizes) != 1:
            raise LarsegError(f"the planes' batch sizes differ: {[x.batch_size for x in planes]}")
        b = sizes.pop()
        m = self.size_multiple
        h = max(x.spatial_shape[0] for x in planes)
        w = max(x.spatial_shape[1] for x in planes)
        coords = []
        for p, x in enumerate(planes):
            c = x.coords.clone()
            c[:, 0] = c[:, 0] * p_count + p
            coords.append(c)
        return SparseTensor(torch.cat(coords).to(torch.int32).contiguous(),
                            torch.cat([x.features for x in planes]),
                            (-(-h // m) * m, -(-w // m) * m), b * p_count)

    def train(self, mode: bool = True) -> SparseCosmicTagger:
        if hasattr(self, "_folds"):  # eval() / train(): fold afresh (larseg.models.sparse.fused)
            self._folds.clear()
        return super().train(mode)

    def uses_fused_path(self) -> bool:
        """Whether ``forward`` runs the fused inference path now: ``inference="fused"``, eval
        mode and no autograd (``torch.no_grad`` / ``torch.inference_mode``)."""
        return (self.cfg.inference == "fused" and not self.training
                and not torch.is_grad_enabled())

    def forward(self, planes: Sequence[SparseTensor]) -> list[Tensor]:
        x = self.join(planes)
        sizes = [p.n_sites for p in planes]
        if x.n_sites == 0:  # nothing to label (empty planes after a crop or a mask)
            return [x.features.new_zeros((0, self.cfg.n_classes)) for _ in planes]
        if self.uses_fused_path():
            return list(self.fused_forward(x).split(sizes))
        stem = self.stem(x)
        x, skips = stem, []
        for level in self.down:
            skip, x = level(x)
            skips.append(skip)
        x = _through_dense(self.deepest, x)
        for level, skip in zip(reversed(self.up), reversed(skips)):
            x = level(x, skip)
        if self.cfg.head == "table1":
            x = cat_features(x, stem)
        return list(self.head(x).features.split(sizes))

    # --- the fused inference path ---------------------------------------------------------------
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

    def _fold(self, name: str, conv: nn.Module, bn, dtype, *, dense: bool = False,
              inverse: bool = False) -> tuple[Tensor, Tensor]:
        bias = getattr(conv, "bias", None)
        if dense:
            return self._folds.get(f"{name}:dense", [conv.weight, bias, *fused.bn_sources(bn)],
                                   dtype, lambda: fused.fold_sparse_as_dense(conv.weight, bias,
                                                                             bn, inverse))
        return self._folds.get(name, [conv.weight, bias, *fused.bn_sources(bn)], dtype,
                               lambda: fused.fold_sparse(conv.weight, bias, bn))

    def _sparse_blocks(self, name: str, blocks: nn.Sequential, h: Tensor, rows: Tensor,
                       dtype, ws: fused.Workspace) -> Tensor:
        for i, block in enumerate(blocks):
            y = fused.gather_matmul(h, rows, *self._fold(f"{name}.{i}.conv1", block.conv1,
                                                         block.norm1.bn, dtype),
                                    block.norm1.act.negative_slope, ws)
            y = fused.gather_matmul(y, rows, *self._fold(f"{name}.{i}.conv2", block.conv2,
                                                         block.norm2, dtype), workspace=ws)
            h = F.leaky_relu_(y.add_(h), block.act.negative_slope)  # c_in = c_out: no shortcut
        return h

    def _dense_blocks(self, name: str, blocks: nn.Sequential, z: Tensor, mask: Tensor,
                      dtype) -> Tensor:
        for i, block in enumerate(blocks):
            pad = block.conv1.weight.shape[1] // 2
            y = fused.masked_conv(z, *self._fold(f"{name}.{i}.conv1", block.conv1,
                                                 block.norm1.bn, dtype, dense=True),
                                  mask, padding=pad, slope=block.norm1.act.negative_slope)
            y = fused.masked_conv(y, *self._fold(f"{name}.{i}.conv2", block.conv2, block.norm2,
                                                 dtype, dense=True), mask, padding=pad)
            z = F.leaky_relu_(y.add_(z), block.act.negative_slope)
        return z

    def _fused(self, x: SparseTensor, dtype) -> Tensor:
        ws = fused.Workspace()
        images = x.batch_size
        stem_conv, stem_norm = self.stem
        coords, shape = x.coords, x.spatial_shape
        h = fused.padded(x.features.to(dtype))
        h = fused.gather_matmul(h, submanifold_rows(coords, shape, stem_conv.weight.shape[1]),
                                *self._fold("stem", stem_conv, stem_norm.bn, dtype),
                                stem_norm.act.negative_slope, ws)
        stem = h
        # per level: ("sparse", skip, rows, map, coords) or ("dense", skip, mask, coords)
        levels: list[tuple] = []
        z = mask = None  # the dense grid and its site mask, once the levels turn dense
        for k, level in enumerate(self.down):
            conv, norm = level.down
            if z is None and len(coords) >= self.cfg.dense_fill * images * shape[0] * shape[1]:
                z = fused.to_grid(h, coords, shape, images)
                mask = fused.site_mask(coords, shape, images, dtype)
            if z is not None:  # coarser levels are at least as full: dense from here on
                z = self._dense_blocks(f"down{k}", level.blocks, z, mask, dtype)
                levels.append(("dense", z, mask, coords))
                mask = F.max_pool2d(mask, DOWN_KERNEL, DOWN_STRIDE)  # the strided conv's sites
                z = fused.masked_conv(z, *self._fold(f"down{k}.down", conv, norm.bn, dtype,
                                                     dense=True),
                                      mask, stride=DOWN_STRIDE, slope=norm.act.negative_slope)
                continue
            rows = submanifold_rows(coords, shape, 3)  # one map per level, down and up
            h = self._sparse_blocks(f"down{k}", level.blocks, h, rows, dtype, ws)
            m = strided_map(coords, shape, DOWN_KERNEL, DOWN_STRIDE)
            levels.append(("sparse", h, rows, m, coords))
            h = fused.gather_matmul(h, m.down, *self._fold(f"down{k}.down", conv, norm.bn, dtype),
                                    norm.act.negative_slope, ws)
            coords, shape = m.out_coords, m.out_shape
        if z is None:
            z = fused.to_grid(h, coords, shape, images)
            mask = fused.site_mask(coords, shape, images, dtype)
        z = self._fused_deepest(z, dtype).mul_(mask)  # read back on the active sites only
        for k in reversed(range(len(self.up))):
            level, state = self.up[k], levels[k]
            conv, norm = level.upsample
            if state[0] == "dense":
                _, skip, mask, _ = state
                z = fused.masked_conv(z, *self._fold(f"up{k}.upsample", conv, norm.bn, dtype,
                                                     dense=True, inverse=True),
                                      mask, stride=DOWN_STRIDE, inverse=True,
                                      slope=norm.act.negative_slope).add_(skip)
                z = self._dense_blocks(f"up{k}", level.blocks, z, mask, dtype)
                continue
            _, skip, rows, m, _ = state
            if z is not None:  # the first sparse level on the way up: the grid's sites
                h, z = fused.from_grid(z, m.out_coords), None
            h = fused.gather_matmul(h, m.up, *self._fold(f"up{k}.upsample", conv, norm.bn, dtype),
                                    norm.act.negative_slope, ws).add_(skip)
            h = self._sparse_blocks(f"up{k}", level.blocks, h, rows, dtype, ws)
        if z is not None:  # dense down to level 0
            h = fused.from_grid(z, x.coords)
        if self.cfg.head == "table1":
            h = torch.cat([h, stem], dim=1)
            linear, bn = self.head
        else:
            linear, bn = self.head, None
        return fused.linear(h, *self._fold("head", linear, bn, dtype))[:-1]

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
