"""Tiled full-image inference (larseg.train.tiling): the tile layout by hand, exact
reproduction of a per-pixel network, and a real SSNet equal to its full-image run once the
margin covers its receptive field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from larseg.errors import LarsegError
from larseg.models.ssnet import SSNet, SSNetConfig
from larseg.train.evaluate import _padded_forward
from larseg.train.tiling import (Tiling, kept_bounds, ssnet_field_radius, tile_origins,
                                 tile_plan, tiled_forward)


class PerPixel(torch.nn.Module):
    """1×1 convolutions and a nonlinearity: each logit a function of its own input pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 1), torch.nn.Tanh(),
                                        torch.nn.Conv2d(4, 3, 1))

    def forward(self, image):
        b, p, h, w = image.shape
        return self.body(image.reshape(b * p, 1, h, w)).reshape(b, p, 3, h, w)


class Recording(torch.nn.Module):
    """Wraps a model and keeps the shape of every batch of tiles it is given."""

    def __init__(self, model, multiple: int) -> None:
        super().__init__()
        self.model, self.size_multiple, self.shapes = model, multiple, []

    def forward(self, image):
        self.shapes.append(tuple(image.shape))
        return self.model(image)


def small_ssnet() -> SSNet:
    """SSNet with 2 levels, in eval mode, its BatchNorm statistics and affine parameters drawn
    away from the identity so that eval mode is not trivial."""
    torch.manual_seed(0)
    net = SSNet(SSNetConfig(filters=2, depth=2, blocks_per_level=1))
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.6 - 0.3)
    return net.eval()


def sparse_image(shape, seed: int = 0) -> torch.Tensor:
    """Uniform ADC on about 20 % of the pixels, zero elsewhere (like a wire-plane image)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 50 * (torch.rand(shape, generator=g) > 0.8)


def test_origins_by_hand():
    # a MicroBooNE plane, SSNet's 512 tiles, margin 64, 2**5: rows padded to 1024
    assert tile_origins(1008, 512, 64, 32) == [0, 384, 512]
    assert tile_origins(3456, 512, 64, 32) == [0, 384, 768, 1152, 1536, 1920, 2304, 2688, 2944]
    assert len(tile_plan((1008, 3456), Tiling((512, 512), 64), 32)) == 27
    # step 128 - 2·20 = 88 rounded down to a multiple of 16: 80; the last tile flush with 304
    assert tile_origins(300, 128, 20, 16) == [0, 80, 160, 176]
    assert tile_origins(100, 128, 16, 4) == [0]          # shorter than a tile: one tile
    assert tile_origins(128, 128, 16, 4) == [0]
    assert kept_bounds([0, 80, 160, 176], 128, 300) == [(0, 104), (104, 184), (184, 232),
                                                         (232, 300)]
    with pytest.raises(LarsegError, match="multiple of 32"):
        tile_origins(1008, 500, 64, 32)
    with pytest.raises(LarsegError, match="at most 48"):
        tile_origins(1008, 128, 49, 32)


@given(h=st.integers(1, 300), w=st.integers(1, 300), multiple=st.sampled_from([1, 2, 4, 8]),
       units=st.tuples(st.integers(1, 12), st.integers(1, 12)), margin=st.integers(0, 40))
@settings(max_examples=60, deadline=None)
def test_kept_regions_partition_any_image(h, w, multiple, units, margin):
    tile = (units[0] * multiple, units[1] * multiple)
    assume(all(t - 2 * margin >= multiple for t in tile))
    test_kept_regions_partition_the_image_away_from_cut_edges((h, w), tile, margin, multiple)


@pytest.mark.parametrize("shape, tile, margin, multiple",
                         [((1008, 3456), (512, 512), 64, 32), ((150, 250), (128, 128), 32, 4),
                          ((37, 101), (16, 24), 3, 1), ((20, 30), (64, 64), 8, 4)])
def test_kept_regions_partition_the_image_away_from_cut_edges(shape, tile, margin, multiple):
    h, w = shape
    count = np.zeros(shape, dtype=int)
    for r0, c0, th, tw, (a, z), (l, r) in tile_plan(shape, Tiling(tile, margin), multiple):
        assert r0 % multiple == 0 and c0 % multiple == 0
        assert th % multiple == 0 and tw % multiple == 0 and th <= tile[0] and tw <= tile[1]
        # inside the padded image, never beyond it
        assert r0 + th <= -(-h // multiple) * multiple and c0 + tw <= -(-w // multiple) * multiple
        count[a:z, l:r] += 1
        # a kept pixel is ≥ margin from each cut edge (the image's own borders excepted)
        assert a == 0 or a - r0 >= margin
        assert z == h or r0 + th - z >= margin
        assert l == 0 or l - c0 >= margin
        assert r == w or c0 + tw - r >= margin
    assert np.all(count == 1)


@pytest.mark.parametrize("margin, multiple", [(0, 1), (3, 1), (2, 4)])
def test_per_pixel_network_is_reproduced_exactly(margin, multiple):
    torch.manual_seed(0)
    model = Recording(PerPixel().eval(), multiple)
    image = sparse_image((2, 2, 37, 101))  # 2 events, 2 planes, sides not multiples of 4
    tiled = tiled_forward(model, image, Tiling((16, 24), margin, batch=5))
    with torch.no_grad():
        full = model.model(image)
    assert tiled.shape == full.shape == (2, 2, 3, 37, 101)
    assert torch.equal(tiled, full)
    n_tiles = len(tile_plan((37, 101), Tiling((16, 24), margin), multiple))
    assert sum(s[0] for s in model.shapes) == 2 * n_tiles  # every tile of both events once
    assert all(s[0] <= 5 and s[1:] == (2, 16, 24) for s in model.shapes)


def test_image_smaller_than_a_tile_is_one_padded_pass():
    net = small_ssnet()
    model = Recording(net, 4)
    image = sparse_image((1, 1, 30, 45))
    tiled = tiled_forward(model, image, Tiling((64, 64), 8))
    assert model.shapes == [(1, 1, 32, 48)]  # padded to multiples of 4, not to the tile
    with torch.no_grad():
        full = _padded_forward(net, image, 4)
    assert tiled.shape == (1, 1, 3, 30, 45)
    assert torch.equal(tiled, full)


def test_ssnet_field_radius_bounds_the_influence_of_a_pixel():
    net = small_ssnet()
    x = sparse_image((1, 1, 96, 96), seed=3)
    with torch.no_grad():
        y0 = net(x)
        x1 = x.clone()
        x1[0, 0, 48, 48] += 40.0
        changed = (net(x1) - y0).abs().amax(dim=(0, 1, 2)) > 0
    rows, cols = np.nonzero(changed.numpy())
    reach = max(np.abs(rows - 48).max(), np.abs(cols - 48).max())
    bound = ssnet_field_radius(depth=2, blocks_per_level=1, stem_kernel=7)
    assert bound == 3 + (3 + 6) + 8 + (4 + 8)  # stem, encoder, bottom, decoder
    assert 16 < reach <= bound


def test_ssnet_tiled_equals_the_full_image_run():
    net = small_ssnet()
    image = sparse_image((1, 2, 150, 250), seed=2)
    with torch.no_grad():
        full = _padded_forward(net, image, net.size_multiple)
    margin = ssnet_field_radius(depth=2, blocks_per_level=1)
    plan = tile_plan((150, 250), Tiling((128, 128), margin), 4)
    assert len(plan) == 2 * 3  # rows 0, 24; columns 0, 64, 124
    tiled = tiled_forward(net, image, Tiling((128, 128), margin, batch=4))
    assert tiled.shape == full.shape == (1, 2, 3, 150, 250)
    assert float((tiled - full).abs().max()) <= 1e-4
    # without a margin the tiles' cut edges show: the comparison above can fail
    cut = tiled_forward(net, image, Tiling((128, 128), 0, batch=4))
    assert float((cut - full).abs().max()) > 1e-3
