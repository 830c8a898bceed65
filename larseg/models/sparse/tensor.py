"""The sparse tensor record every larseg sparse layer takes and returns, and its dense views."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ...data._torch import torch

Tensor = torch.Tensor


@dataclass(frozen=True, eq=False)
class SparseTensor:
    """Active sites of a batch of 2D images and their features.

    ``coords`` (N, 3) int32 rows ``(batch, row, column)``; ``features`` (N, C) in the same order;
    ``spatial_shape`` (H, W) bounds the rows and columns; ``batch_size`` B bounds the batch index.
    ``cache`` holds the neighbour maps a backend built for this tensor's ancestors (keyed by the
    layers' ``key``): an inverse convolution finds its strided convolution's map there, and
    submanifold convolutions on the same sites reuse one map. Its contents are private to the
    backend that made them; a new record (``from_pixels`` / ``from_dense``) starts empty.
    """

    coords: Tensor
    features: Tensor
    spatial_shape: tuple[int, int]
    batch_size: int
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.coords.ndim != 2 or self.coords.shape[1] != 3:
            raise ValueError(f"coords must be (N, 3) (batch, row, column), got "
                             f"{tuple(self.coords.shape)}")
        if self.features.ndim != 2 or self.features.shape[0] != self.coords.shape[0]:
            raise ValueError(f"features must be (N, C) with N = {self.coords.shape[0]}, got "
                             f"{tuple(self.features.shape)}")

    @property
    def n_sites(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.features.shape[1])

    def with_features(self, features: Tensor) -> SparseTensor:
        """The same sites (and cache) with new features, e.g. after BatchNorm."""
        return dataclasses.replace(self, features=features)

    @classmethod
    def from_pixels(cls, coords: Tensor, features: Tensor, spatial_shape: tuple[int, int],
                    batch_size: int = 1) -> SparseTensor:
        """A record from pixel coordinates: (N, 2) (row, column) for one image (batch 0), or
        (N, 3) with the batch index first. ``features`` (N,) or (N, C)."""
        coords = torch.as_tensor(coords)
        if coords.ndim == 2 and coords.shape[1] == 2:
            coords = torch.cat([coords.new_zeros(len(coords), 1), coords], dim=1)
        features = torch.as_tensor(features)
        if features.ndim == 1:
            features = features[:, None]
        return cls(coords.to(torch.int32).contiguous(),
                   features.to(torch.get_default_dtype()).contiguous(),
                   (int(spatial_shape[0]), int(spatial_shape[1])), int(batch_size))

    @classmethod
    def from_dense(cls, image: Tensor) -> SparseTensor:
        """The non-zero sites of a dense (B, C, H, W) tensor (a site is active when any of its
        channels is non-zero), in row-major order."""
        b, _, h, w = image.shape
        active = (image != 0).any(dim=1)
        coords = active.nonzero().to(torch.int32)
        features = image.permute(0, 2, 3, 1)[active]
        return cls(coords.contiguous(), features.contiguous(), (h, w), b)


def densify(x: SparseTensor) -> Tensor:
    """The dense (B, C, H, W) tensor of a record (zeros off the active sites)."""
    h, w = x.spatial_shape
    out = x.features.new_zeros(x.batch_size, h, w, x.n_channels)
    c = x.coords.long()
    out = out.index_put((c[:, 0], c[:, 1], c[:, 2]), x.features)
    return out.permute(0, 3, 1, 2).contiguous()


def cat_features(a: SparseTensor, b: SparseTensor) -> SparseTensor:
    """Channel concatenation [a, b] of two records on the same sites in the same order (a U-Net
    skip): the coordinates must be equal row by row, which the inverse convolution guarantees.
    The result carries both caches (a shared key names the same map in both)."""
    if a.coords is not b.coords and not torch.equal(a.coords, b.coords):
        raise ValueError("cat_features needs the same sites in the same order")
    return dataclasses.replace(b, features=torch.cat([a.features, b.features], dim=1),
                               cache={**a.cache, **b.cache})
