"""Occlusion maps (larseg.viz.occlusion): zero outside the receptive field, non-zero inside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.models.ssnet import SSNet, SSNetConfig
from larseg.viz.occlusion import mask_origins, occlusion_figure, occlusion_map


class TwoConvs(torch.nn.Module):
    """Two 3×3 convolutions and a 1×1 head: a pixel sees the 5×5 input square around it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(),
                                        torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.Tanh(),
                                        torch.nn.Conv2d(4, 3, 1))

    def forward(self, image):
        b, p, h, w = image.shape
        return self.body(image.reshape(b * p, 1, h, w)).reshape(b, p, 3, h, w)


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0.5, 1.5, (1, 11, 11)).astype(np.float32)


def test_mask_origins():
    assert mask_origins(11, 3, 2).tolist() == [0, 2, 4, 6, 8]
    assert mask_origins(10, 4, 4).tolist() == [0, 4]   # rows 8, 9 never masked
    with pytest.raises(ValueError):
        mask_origins(4, 5, 1)


def test_zero_exactly_outside_the_receptive_field(image):
    torch.manual_seed(0)
    m = occlusion_map(TwoConvs(), image, target_class=1, pixel=(5, 5), size=1, stride=1)
    assert m.shape == (11, 11)
    d = np.abs(np.arange(11) - 5)
    inside = (d[:, None] <= 2) & (d[None, :] <= 2)
    assert np.all(m[~inside] == 0.0)
    assert np.all(m[inside] != 0.0)


def test_strided_square_mask(image):
    torch.manual_seed(0)
    m = occlusion_map(TwoConvs(), image, target_class=0, pixel=(5, 5), size=3, stride=2,
                      batch=4)
    # origins 0, 2, 4, 6, 8; a square [o, o+2] reaches the field [3, 7] for o = 2, 4, 6
    reach = np.array([False, True, True, True, False])
    assert m.shape == (5, 5)
    assert np.all((m != 0.0) == (reach[:, None] & reach[None, :]))


def test_region_is_the_mean_of_its_pixels(image):
    torch.manual_seed(0)
    model = TwoConvs()
    region = np.zeros((11, 11), dtype=bool)
    region[5, 5] = region[2, 8] = True
    a = occlusion_map(model, image, target_class=2, pixel=(5, 5), size=2, stride=3)
    b = occlusion_map(model, image, target_class=2, pixel=(2, 8), size=2, stride=3)
    r = occlusion_map(model, image, target_class=2, region=region, size=2, stride=3)
    assert np.allclose(r, (a + b) / 2, atol=1e-7)


def test_ssnet_map_vanishes_far_away_and_keeps_train_mode():
    torch.manual_seed(0)
    model = SSNet(SSNetConfig(filters=2, depth=1, blocks_per_level=1)).train()
    x = np.random.default_rng(1).uniform(0.0, 1.0, (1, 40, 40)).astype(np.float32)
    m = occlusion_map(model, x, pixel=(20, 20), size=1, stride=1, batch=400)
    assert model.training  # restored after the eval-mode passes
    # a bound on SSNet's field (filters 2, depth 1): stem 3 + block 2 at full resolution, two
    # 3×3 at half resolution behind the 2×2 pool, merge and decoder block 1 + 2: within 13
    d = np.abs(np.arange(40) - 20)
    far = (d[:, None] > 13) | (d[None, :] > 13)
    assert np.all(m[far] == 0.0)
    assert m[20, 20] != 0.0


def test_figure(tmp_path, image):
    torch.manual_seed(0)
    m = occlusion_map(TwoConvs(), image, pixel=(5, 5), size=3, stride=2)
    out = occlusion_figure(image[0], m, tmp_path / "occ.png", pixel=(5, 5), size=3, stride=2,
                           title="tiny")
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="does not match"):
        occlusion_figure(image[0], m, tmp_path / "bad.png", size=3, stride=1)
