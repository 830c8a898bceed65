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

Inference (``inference="fused"``, the default, used in eval mode without autograd;
:mod:`larseg.models.sparse.fused_tagger`): the layers
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
from .sparse import (BackendName, BatchNormAct, PlaneSparseBatchNorm, SparseBatchNorm,
                     SparseLinear, SparseTensor, cat_features, densify, get_backend)
from .sparse.layers import SparseNormFactory
from .sparse import fused
from .sparse.blocks import SparseResidualBlock
from .sparse.fused_tagger import DOWN_KERNEL, DOWN_STRIDE, FusedTaggerInference

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

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
    # normalisation as the dense network's ``norm`` (cosmic_tagger.py): the paper's "batch" (one
    # set of statistics over the sites of all planes) or "plane" (statistics and scale per plane;
    # the deepest block, where the planes are side by side in channels, keeps plain BatchNorm).
    # The fused path folds "batch" into each convolution and applies "plane" after it (one
    # weight for every plane, each site's output by its plane's scale and shift)
    norm: Literal["batch", "plane"] = "batch"

    def dense(self) -> CosmicTaggerConfig:
        """The dense cosmic tagger with the same widths (for the deepest block, benchmarks)."""
        return CosmicTaggerConfig(n_classes=self.n_classes, planes=self.planes,
                                  filters=self.filters, depth=self.depth,
                                  blocks_per_level=self.blocks_per_level,
                                  deep_filters=self.deep_filters, deep_blocks=self.deep_blocks,
                                  deep_kernel=self.deep_kernel, head=self.head,
                                  norm=self.norm)

    def norm_factory(self) -> SparseNormFactory:
        """The normalisation layer of c channels on the per-plane levels."""
        if self.norm == "plane":
            return lambda c: PlaneSparseBatchNorm(c, self.planes)
        return SparseBatchNorm


def _blocks(backend, c: int, n: int, key: str, norm: SparseNormFactory) -> nn.Sequential:
    return nn.Sequential(*(SparseResidualBlock(backend, c, c, 3, key=key, norm=norm)
                           for _ in range(n)))


def _add(a: SparseTensor, b: SparseTensor) -> SparseTensor:
    """The additive skip: a + b on the same sites in the same order (``b``'s record kept)."""
    if a.coords is not b.coords and not torch.equal(a.coords, b.coords):
        raise ValueError("the additive skip needs the same sites in the same order")
    return b.with_features(a.features + b.features)


class SparseDownLevel(nn.Module):
    """Residual blocks at c filters on level k's sites (the skip), 2×2 stride-2 conv to 2c."""

    def __init__(self, backend, k: int, c: int, n_blocks: int,
                 norm: SparseNormFactory = SparseBatchNorm) -> None:
        super().__init__()
        self.blocks = _blocks(backend, c, n_blocks, f"subm{k}", norm)
        self.down = nn.Sequential(backend.down(c, 2 * c, DOWN_KERNEL, DOWN_STRIDE,
                                               key=f"down{k}"),
                                  BatchNormAct(2 * c, norm))

    def forward(self, x: SparseTensor) -> tuple[SparseTensor, SparseTensor]:
        skip = self.blocks(x)
        return skip, self.down(skip)


class SparseUpLevel(nn.Module):
    """Inverse of level k's strided conv (2c → c), the additive skip, residual blocks at c."""

    def __init__(self, backend, k: int, c: int, n_blocks: int,
                 norm: SparseNormFactory = SparseBatchNorm) -> None:
        super().__init__()
        self.upsample = nn.Sequential(backend.up(2 * c, c, DOWN_KERNEL, key=f"down{k}"),
                                      BatchNormAct(c, norm))
        self.blocks = _blocks(backend, c, n_blocks, f"subm{k}", norm)

    def forward(self, x: SparseTensor, skip: SparseTensor) -> SparseTensor:
        return self.blocks(_add(skip, self.upsample(x)))


def _through_dense(block: nn.Module, x: SparseTensor) -> SparseTensor:
    """``block`` on the dense (P·B, C, h, w) image of ``x`` (zeros off its sites), read back on
    ``x``'s sites: the way up continues on the deepest level's active sites only."""
    c = x.coords.long()
    out = block(densify(x))
    return x.with_features(out.permute(0, 2, 3, 1)[c[:, 0], c[:, 1], c[:, 2]])


class SparseCosmicTagger(FusedTaggerInference, nn.Module):
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
        f, n, norm = cfg.filters, cfg.blocks_per_level, cfg.norm_factory()
        # "conv7x7, BN, LeakyReLU" (SBND paper, Table 1); its map is not shared with the 3×3s
        self.stem = nn.Sequential(backend.submanifold(1, f, 7, key="stem"), BatchNormAct(f, norm))
        self.down = nn.ModuleList(SparseDownLevel(backend, k, f << k, n, norm)
                                  for k in range(cfg.depth))
        self.deepest = DeepestBlock(f << cfg.depth, cfg.dense())
        self.up = nn.ModuleList(SparseUpLevel(backend, k, f << k, n, norm)
                                for k in range(cfg.depth))  # up[k]: level k
        self.feature_channels = 2 * f if cfg.head == "table1" else f
        if cfg.head == "table1":
            self.head = nn.Sequential(SparseLinear(2 * f, cfg.n_classes, bias=False),
                                      norm(cfg.n_classes))
        else:
            self.head = SparseLinear(f, cfg.n_classes)
        if cfg.zero_init_head:  # table1's head ends in a BatchNorm: start its scale at 0
            final = self.head if cfg.head == "plain" else self.head[1]
            final = getattr(final, "bn", final)  # the per-plane BatchNorm's parameters
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
        return list(self.head(self._features(x)).features.split(sizes))

    def features(self, planes: Sequence[SparseTensor]) -> SparseTensor:
        """The backbone (module path): the planes' sites, joined as :meth:`join` does, with
        ``feature_channels`` features each (for ``head="table1"`` beside the stem's)."""
        return self._features(self.join(planes))

    def _features(self, x: SparseTensor) -> SparseTensor:
        stem = self.stem(x)
        x, skips = stem, []
        for level in self.down:
            skip, x = level(x)
            skips.append(skip)
        x = _through_dense(self.deepest, x)
        for level, skip in zip(reversed(self.up), reversed(skips)):
            x = level(x, skip)
        return cat_features(x, stem) if self.cfg.head == "table1" else x
