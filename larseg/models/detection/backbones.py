"""sMask-RCNN's backbones: a ResNet for one-channel wire-plane images, dense and sparse, and (in
:mod:`~larseg.models.detection.transfer`) the transfer of a trained dense backbone's weights
into the sparse one (``../shared/papers/`` 003,
Sec. II.B: "We maintain the same ResNet structure ... and change out the convolutions with sparse
and submanifold convolutions", then "loaded them into the Sparse version of ResNet").

The architecture (both backbones, layer for layer, with the same parameter names):

- stem: ``stem_kernel`` × ``stem_kernel`` convolution ``in_channels`` → ``stem_filters`` at full
  resolution, BatchNorm, LeakyReLU;
- stage k (k = 1 … len(widths), output stride 2^k): a 2×2 stride-2 convolution to
  ``widths[k-1]``, BatchNorm, LeakyReLU, then ``blocks[k-1]`` residual blocks (3×3 conv, BN,
  LeakyReLU, 3×3 conv, BN, sum with the input, LeakyReLU; the width is unchanged, so no
  projection shortcut);
- outputs: the stages named in ``return_strides`` (by default only the last, stride 16), as they
  are (one level) or through :class:`LightFPN` (several levels, ``fpn_channels`` > 0).

Convolutions carry no bias (each is followed by a BatchNorm). The dense backbone uses
``nn.Conv2d`` (k×k with zero padding k//2); the sparse one takes its convolutions from larseg's
sparse backend (:func:`larseg.models.sparse.get_backend`): submanifold for the stem and the
blocks, the backend's strided ``down`` for the 2×2 steps. Its input is the image's non-zero
pixels after the ADC threshold; each returned stage is densified
(:func:`~larseg.models.sparse.densify`, zeros off the active sites) for the dense RPN, and the
FPN, when present, runs on those dense maps.

How this differs from the paper's network: the paper uses Detectron's ImageNet ResNet (it names
no depth; Detectron's ResNets have bottleneck blocks, a 7×7 stride-2 stem, a max-pool and
strided convolutions in the blocks). Here the blocks are basic (two 3×3) and the default
widths small, so that the dense backbone trains on a 2-core CPU; and every down step is a 2×2 stride-2 convolution, because that operation has one definition for
both backbones: its windows tile the image, so a sparse active set never grows on the way down
(a padded 3×3 strided convolution would spread each site to its neighbours, and a sparse
max-pool is not in larseg's backend). With these choices, on an image whose every pixel is
active, each sparse layer computes what its dense twin computes (a submanifold convolution on a
full grid is the zero-padded dense one), so the sparse backbone with transferred weights equals
the dense one; on a real image they differ wherever the dense network's features spread into
empty pixels — the "smearing" the paper says submanifold convolutions avoid.

Image sides need not divide by the deepest stride 2^n: the dense backbone pads the image with
zero pixels at the bottom and right up to a multiple of it, and the sparse one rounds its
spatial bound up the same way (the padding has no active sites). Every output map is then
ceil(H / 2^n)·2^n / stride high (likewise wide); at stride s, cell (i, j) is the image block of
rows s·i … s·i + s − 1 and columns s·j … s·j + s − 1 that the down steps pooled (its receptive
field is wider). On a fully active image of odd size the two backbones therefore differ near the
padded edge, as anywhere the dense one sees zero pixels: the tests compare them there with the
padding's sites made active (zero ADC) in the sparse input.

The FPN is optional and off by default: on a full 3456 × 1008 image its dense convolutions
(strides 4, 8, 16 at 64 channels: 0.38 s CPU on one thread, measured here) cost several times
the whole sparse ResNet, and the paper's Table II speed-up is the ResNet's. The default is one
stride-16 map (``out_channels`` = ``widths[-1]``).

Speed: ``benchmarks/bench_detection_backbone.py`` times both on a simulated 1008 × 3456
collection-plane image (results in ``benchmarks/results/detection_backbone_threads<N>.txt``).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ...data._torch import torch
from ...errors import LarsegError
from ..sparse import (BackendName, SparseBatchNorm, SparseLeakyReLU, SparseTensor, densify,
                      get_backend)

nn = torch.nn
Tensor = torch.Tensor


@dataclass(frozen=True)
class ResNetBackboneConfig:
    name: str = "resnet_backbone"
    in_channels: int = 1                  # one wire plane's ADC image (paper: the collection plane)
    # Sized for training on a 2-core CPU (larseg's choice; the paper takes Detectron's ImageNet
    # ResNet and gives no sizes): 1,744,496 parameters, stem 16 filters, 4 stages to stride 16.
    stem_filters: int = 16
    stem_kernel: int = 7                  # as Detectron's ResNet stem (the paper's, Sec. II.A)
    widths: tuple[int, ...] = (32, 64, 128, 256)   # per stage; stage k has output stride 2^k
    blocks: tuple[int, ...] = (1, 1, 1, 1)          # residual blocks per stage
    return_strides: tuple[int, ...] = (16,)         # the maps returned; the last must be 2^n
    fpn_channels: int = 0                 # > 0: a LightFPN over return_strides; 0: no FPN
    adc_threshold: float | None = 10.0    # paper, Sec. II.A: pixels below 10 ADC set to zero
    sparse: bool = False                  # build_backbone: the sparse backbone
    backend: BackendName = "auto"         # sparse backend (sparse backbone only)

    def __post_init__(self) -> None:
        n = len(self.widths)
        if n == 0 or len(self.blocks) != n:
            raise LarsegError(f"backbone: widths {self.widths} and blocks {self.blocks} must "
                              f"give one entry per stage")
        if self.stem_kernel % 2 != 1:
            raise LarsegError(f"backbone: stem_kernel must be odd, got {self.stem_kernel}")
        strides = [1 << (k + 1) for k in range(n)]
        r = list(self.return_strides)
        if not r or r != sorted(set(r)) or any(s not in strides for s in r):
            raise LarsegError(f"backbone: return_strides {self.return_strides} must be "
                              f"increasing, from the stages' strides {strides}")
        if r[-1] != strides[-1]:
            raise LarsegError(f"backbone: the last stage (stride {strides[-1]}) must be returned, "
                              f"got return_strides {self.return_strides}")
        if len(r) > 1 and self.fpn_channels <= 0:
            raise LarsegError("backbone: several return_strides need an FPN (fpn_channels > 0), "
                              "so that every map has the same width")

    @property
    def size_multiple(self) -> int:
        """The deepest stride: image sides are padded up to a multiple of it."""
        return 1 << len(self.widths)

    @property
    def out_channels(self) -> int:
        return self.fpn_channels if self.fpn_channels > 0 else self.widths[-1]


def threshold_adc(image: Tensor, threshold: float | None) -> Tensor:
    """``image`` with the pixels below ``threshold`` set to zero (None: unchanged)."""
    if threshold is None:
        return image
    return torch.where(image >= threshold, image, image.new_zeros(()))


def padded_shape(h: int, w: int, multiple: int) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


# --- layers: one builder per kind, so that both backbones have the same module tree -----------
class _Layers(Protocol):
    def conv(self, c_in: int, c_out: int, kernel: int, key: str) -> nn.Module: ...
    def down(self, c_in: int, c_out: int, key: str) -> nn.Module: ...
    def norm(self, c: int) -> nn.Module: ...
    def act(self) -> nn.Module: ...


class _DenseLayers:
    def conv(self, c_in: int, c_out: int, kernel: int, key: str) -> nn.Module:
        return nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)

    def down(self, c_in: int, c_out: int, key: str) -> nn.Module:
        return nn.Conv2d(c_in, c_out, 2, stride=2, bias=False)

    def norm(self, c: int) -> nn.Module:
        return nn.BatchNorm2d(c)

    def act(self) -> nn.Module:
        return nn.LeakyReLU()


class _SparseLayers:
    def __init__(self, backend) -> None:
        self.backend = backend

    def conv(self, c_in: int, c_out: int, kernel: int, key: str) -> nn.Module:
        return self.backend.submanifold(c_in, c_out, kernel, key=key)

    def down(self, c_in: int, c_out: int, key: str) -> nn.Module:
        return self.backend.down(c_in, c_out, 2, 2, key=key)

    def norm(self, c: int) -> nn.Module:
        return SparseBatchNorm(c)

    def act(self) -> nn.Module:
        return SparseLeakyReLU()


def _add(x, y):
    """x + y, for dense maps or sparse records on the same sites (a submanifold convolution
    keeps its input's sites and their order)."""
    if isinstance(x, SparseTensor):
        return y.with_features(x.features + y.features)
    return x + y


class ConvNormAct(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """x + F(x), F = conv-BN-LeakyReLU-conv-BN, then LeakyReLU (ResNet's basic block)."""

    def __init__(self, layers: _Layers, c: int, key: str) -> None:
        super().__init__()
        self.conv1, self.bn1 = layers.conv(c, c, 3, key), layers.norm(c)
        self.conv2, self.bn2 = layers.conv(c, c, 3, key), layers.norm(c)
        self.act = layers.act()

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(_add(x, self.bn2(self.conv2(y))))


class Stage(nn.Module):
    """2×2 stride-2 convolution to the stage's width, then its residual blocks."""

    def __init__(self, layers: _Layers, level: int, c_in: int, c: int, n_blocks: int) -> None:
        super().__init__()
        self.down = ConvNormAct(layers.down(c_in, c, f"down{level}"), layers.norm(c),
                                layers.act())
        # the blocks of one level share its submanifold neighbour map
        self.blocks = nn.Sequential(*(BasicBlock(layers, c, f"subm{level}")
                                      for _ in range(n_blocks)))

    def forward(self, x):
        return self.blocks(self.down(x))


class LightFPN(nn.Module):
    """Feature pyramid on dense maps (finest first): a 1×1 lateral per level to ``channels``,
    top-down sum with the coarser level upsampled (nearest), a 3×3 output convolution per level."""

    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1)
                                    for _ in in_channels)

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        inner = self.lateral[-1](maps[-1])
        outs = [self.output[-1](inner)]
        for i in range(len(maps) - 2, -1, -1):
            lateral = self.lateral[i](maps[i])
            inner = lateral + nn.functional.interpolate(inner, size=lateral.shape[-2:],
                                                        mode="nearest")
            outs.insert(0, self.output[i](inner))
        return outs


class _ResNet(nn.Module):
    """The module tree both backbones share (stem, stages, fpn) and their output contract."""

    def __init__(self, cfg: ResNetBackboneConfig, layers: _Layers) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = ConvNormAct(layers.conv(cfg.in_channels, cfg.stem_filters, cfg.stem_kernel,
                                            "stem"), layers.norm(cfg.stem_filters), layers.act())
        c_in = [cfg.stem_filters, *cfg.widths[:-1]]
        self.stages = nn.ModuleList(Stage(layers, k + 1, c_in[k], c, n)
                                    for k, (c, n) in enumerate(zip(cfg.widths, cfg.blocks)))
        self._returned = [(1 << (k + 1)) in cfg.return_strides for k in range(len(cfg.widths))]
        self.fpn = (LightFPN([c for c, r in zip(cfg.widths, self._returned) if r],
                             cfg.fpn_channels) if cfg.fpn_channels > 0 else None)
        self.out_channels = cfg.out_channels  # what torchvision-style detectors read
        # output name -> stride, finest first ("0", "1", ... as torchvision's FPN names them)
        self.strides: dict[str, int] = {str(i): s for i, s in enumerate(cfg.return_strides)}
        self.size_multiple = cfg.size_multiple

    def _outputs(self, maps: list[Tensor]) -> OrderedDict[str, Tensor]:
        if self.fpn is not None:
            maps = self.fpn(maps)
        return OrderedDict(zip(self.strides, maps))


class ResNetBackbone(_ResNet):
    """The dense backbone: ``forward(image)`` with ``image`` (B, in_channels, H, W) ADC ->
    ordered dict of the returned maps (``strides`` gives each one's stride), each
    (B, out_channels, ceil(H / 2^n)·2^n / stride, ...). Pixels below ``adc_threshold`` are zeroed
    first, and the image is zero-padded at the bottom and right to a multiple of 2^n."""

    def __init__(self, cfg: ResNetBackboneConfig = ResNetBackboneConfig()) -> None:
        super().__init__(cfg, _DenseLayers())

    def forward(self, image: Tensor) -> OrderedDict[str, Tensor]:
        h, w = image.shape[-2:]
        ph, pw = padded_shape(h, w, self.size_multiple)
        x = nn.functional.pad(threshold_adc(image, self.cfg.adc_threshold), (0, pw - w, 0, ph - h))
        x = self.stem(x)
        maps = []
        for stage, returned in zip(self.stages, self._returned):
            x = stage(x)
            if returned:
                maps.append(x)
        return self._outputs(maps)


def sparse_input(image: Tensor, threshold: float | None) -> SparseTensor:
    """The sparse backbone's input from a dense (B, C, H, W) image: the sites where any channel
    is non-zero after the ADC threshold (the paper's "sparsify the input image")."""
    return SparseTensor.from_dense(threshold_adc(image, threshold))


class SparseResNetBackbone(_ResNet):
    """The same network on submanifold sparse convolutions (sMask-RCNN's sparse ResNet).

    ``forward(image)``: a dense (B, in_channels, H, W) image (thresholded and sparsified by
    :func:`sparse_input`), or a :class:`SparseTensor` taken as it is (its sites are the active
    set, no threshold applied) -> the same ordered dict of dense maps as
    :class:`ResNetBackbone`, zero at every cell whose image block has no active site (before
    the FPN, which is dense). Parameter names and shapes equal the dense backbone's, except the
    convolution weights' layout, (C_out, kh, kw, C_in) here:
    :func:`~larseg.models.detection.transfer.transfer_dense_weights`."""

    def __init__(self, cfg: ResNetBackboneConfig = ResNetBackboneConfig()) -> None:
        backend = get_backend(cfg.backend)
        super().__init__(cfg, _SparseLayers(backend))
        self.backend = backend.name

    @classmethod
    def from_dense(cls, dense: ResNetBackbone, backend: BackendName | None = None
                   ) -> SparseResNetBackbone:
        """A sparse backbone with ``dense``'s config (and ``backend`` if given) and weights."""
        cfg = dense.cfg if backend is None else dataclasses.replace(dense.cfg, backend=backend)
        from .transfer import transfer_dense_weights  # it builds on this module

        sparse = cls(dataclasses.replace(cfg, sparse=True))
        transfer_dense_weights(sparse, dense)
        return sparse

    def forward(self, image: Tensor | SparseTensor) -> OrderedDict[str, Tensor]:
        x = image if isinstance(image, SparseTensor) else sparse_input(image,
                                                                       self.cfg.adc_threshold)
        h, w = x.spatial_shape
        bound = padded_shape(h, w, self.size_multiple)
        if x.n_sites == 0:  # nothing active: every map is zero (no convolution has sites)
            return self._outputs([x.features.new_zeros(x.batch_size, c, bound[0] // s,
                                                       bound[1] // s)
                                  for c, s in zip(self._returned_widths(), self.strides.values())])
        # the padding only widens the bound; a fresh cache, so no neighbour map is carried over
        x = dataclasses.replace(x, spatial_shape=bound, cache={})
        x = self.stem(x)
        maps = []
        for stage, returned in zip(self.stages, self._returned):
            x = stage(x)
            if returned:
                maps.append(densify(x))
        return self._outputs(maps)

    def _returned_widths(self) -> list[int]:
        return [c for c, r in zip(self.cfg.widths, self._returned) if r]


def build_backbone(cfg: ResNetBackboneConfig = ResNetBackboneConfig()) -> _ResNet:
    """The dense or (``cfg.sparse``) sparse backbone of a config."""
    return SparseResNetBackbone(cfg) if cfg.sparse else ResNetBackbone(cfg)


__all__ = ["BasicBlock", "ConvNormAct", "LightFPN", "ResNetBackbone", "ResNetBackboneConfig",
           "SparseResNetBackbone", "Stage", "build_backbone", "padded_shape", "sparse_input",
           "threshold_adc"]
