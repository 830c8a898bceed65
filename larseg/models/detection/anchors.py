"""Anchors of the region proposal network over one or more feature levels.

At every position of a level's feature map sit ``len(ratios) × len(sizes)`` anchors: for a size
s and an aspect ratio r = height / width, a box of width s / sqrt(r) and height s sqrt(r) (area
s², Ren et al. 2015, section 3.1.1), centred at ``((x + offset) stride_x, (y + offset) stride_y)``
in image pixels for the feature column x and row y.

Order (what a conv head's outputs must be reshaped to, see ``rpn.py``): levels one after the
other; within a level position-major, row by row (y, then x), and anchor-minor; within a
position, anchor ``a = i_ratio × len(sizes) + i_size``. A head whose 1×1 conv gives (N, A, H, W)
objectness matches it after ``permute(0, 2, 3, 1).reshape(N, -1)``, and its (N, 4 A, H, W)
deltas after ``view(N, A, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ...data._torch import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class AnchorConfig:
    # FPN (Lin et al. 2017, section 4.1): one size per level P2..P6, three ratios at each
    sizes: tuple[tuple[float, ...], ...] = ((32.0,), (64.0,), (128.0,), (256.0,), (512.0,))
    # height / width; a single entry applies to every level
    aspect_ratios: tuple[tuple[float, ...], ...] = ((0.5, 1.0, 2.0),)
    # 0: anchors centred on the top-left corner of their cell (torchvision and detectron2)
    offset: float = 0.0
    # pixels per feature pixel per level; None: round(image size / feature size) per axis
    strides: tuple[int, ...] | None = None


class AnchorGenerator:
    """Anchors for an image size and the feature sizes of its levels (see the module docstring
    for their order)."""

    def __init__(self, cfg: AnchorConfig = AnchorConfig()) -> None:
        ratios = cfg.aspect_ratios
        if len(ratios) == 1:
            ratios = ratios * len(cfg.sizes)
        if len(ratios) != len(cfg.sizes):
            raise ValueError(f"{len(cfg.sizes)} levels of sizes but {len(ratios)} of ratios")
        if cfg.strides is not None and len(cfg.strides) != len(cfg.sizes):
            raise ValueError(f"{len(cfg.sizes)} levels of sizes but {len(cfg.strides)} strides")
        self.cfg = cfg
        self.sizes = cfg.sizes
        self.ratios = ratios

    @property
    def n_levels(self) -> int:
        return len(self.sizes)

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(r) for s, r in zip(self.sizes, self.ratios)]

    def cell_anchors(self, level: int, dtype=torch.float32, device=None) -> Tensor:
        """(A, 4) anchors of one level centred at (0, 0), ratio-major, size-minor."""
        out = []
        for r in self.ratios[level]:
            for s in self.sizes[level]:
                w, h = s / math.sqrt(r), s * math.sqrt(r)
                out.append([-w / 2, -h / 2, w / 2, h / 2])
        return torch.tensor(out, dtype=dtype, device=device)

    def strides(self, image_size: tuple[int, int],
                feature_sizes: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
        """(stride_y, stride_x) per level."""
        if len(feature_sizes) != self.n_levels:
            raise ValueError(f"{len(feature_sizes)} feature maps for {self.n_levels} levels")
        if self.cfg.strides is not None:
            return [(float(s), float(s)) for s in self.cfg.strides]
        return [(float(round(image_size[0] / fh)), float(round(image_size[1] / fw)))
                for fh, fw in feature_sizes]

    def level_anchors(self, image_size: tuple[int, int],
                      feature_sizes: Sequence[tuple[int, int]], dtype=torch.float32,
                      device=None) -> list[Tensor]:
        """(H_l W_l A_l, 4) anchors per level."""
        out = []
        for level, ((fh, fw), (sy, sx)) in enumerate(
                zip(feature_sizes, self.strides(image_size, feature_sizes))):
            ys = (torch.arange(fh, dtype=dtype, device=device) + self.cfg.offset) * sy
            xs = (torch.arange(fw, dtype=dtype, device=device) + self.cfg.offset) * sx
            cy, cx = torch.meshgrid(ys, xs, indexing="ij")
            shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
            cell = self.cell_anchors(level, dtype, device)
            out.append((shifts + cell[None]).reshape(-1, 4))
        return out

    def __call__(self, image_size: tuple[int, int], feature_sizes: Sequence[tuple[int, int]],
                 dtype=torch.float32, device=None) -> Tensor:
        """(A, 4) anchors of one image, every level (the same for each image of a batch: the
        batch's images share the padded size)."""
        return torch.cat(self.level_anchors(image_size, feature_sizes, dtype, device))
