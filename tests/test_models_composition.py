"""Every segmentation network is a backbone and a head: ``features(x)`` gives what the head reads
(``feature_channels`` per pixel, or per site for the sparse ones), ``head`` maps it to the
classes, and ``forward`` is the one after the other. A head of another class count put in its
place is all it takes to retarget a trained backbone (the loss is a module of its own,
:mod:`larseg.models.losses`)."""

from __future__ import annotations

import pytest
import torch

from larseg.models import build
from larseg.models.cosmic_tagger import CosmicTaggerConfig
from larseg.models.pid_cnn import PIDConfig
from larseg.models.sparse import SparseTensor
from larseg.models.sparse.layers import SparseLinear
from larseg.models.sparse_cosmic_tagger import SparseCosmicTaggerConfig
from larseg.models.sparse_ssnet import SparseSSNetConfig
from larseg.models.ssnet import SSNetConfig
from larseg.models.uresnet import UResNetConfig

DENSE = {
    "uresnet": UResNetConfig(filters=2, depth=2),
    "cosmic_tagger": CosmicTaggerConfig(filters=2, deep_filters=4, zero_init_head=False),
    "cosmic_tagger_table1": CosmicTaggerConfig(filters=2, deep_filters=4, head="table1",
                                               zero_init_head=False),
    "ssnet": SSNetConfig(filters=2, depth=2, blocks_per_level=1),
}


def _dense_input() -> torch.Tensor:
    torch.manual_seed(3)
    return 100 * torch.rand(1, 3, 64, 128)


@pytest.mark.parametrize("name", list(DENSE))
def test_dense_forward_is_head_of_features(name):
    torch.manual_seed(0)
    model = build(DENSE[name]).eval()
    x = _dense_input()
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (3, model.feature_channels, 64, 128)
        torch.testing.assert_close(model(x), model.head(feats).reshape(1, 3, -1, 64, 128))


@pytest.mark.parametrize("name", ["uresnet", "cosmic_tagger", "ssnet"])
def test_dense_backbone_takes_a_new_head(name):
    torch.manual_seed(0)
    model = build(DENSE[name]).eval()
    x = _dense_input()
    with torch.no_grad():
        before = model.features(x)
        model.head = torch.nn.Conv2d(model.feature_channels, 7, 1)
        out = model(x)
        torch.testing.assert_close(model.features(x), before)  # the backbone is untouched
    assert out.shape == (1, 3, 7, 64, 128)


def test_pid_cnn_is_backbone_and_head():
    torch.manual_seed(0)
    model = build(PIDConfig(filters=2, depth=1, blocks_per_level=1)).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (2, model.feature_channels)
        torch.testing.assert_close(model(x), model.head(feats))


def _sparse_plane(seed: int, shape=(64, 128), n: int = 200) -> SparseTensor:
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(shape[0] * shape[1], generator=g)[:n]
    coords = torch.stack((flat // shape[1], flat % shape[1]), 1).to(torch.int32)
    return SparseTensor.from_pixels(coords, 10 + 90 * torch.rand(n, generator=g), shape, 1)


def test_sparse_ssnet_plane_network_is_backbone_and_head():
    torch.manual_seed(0)
    net = build(SparseSSNetConfig(filters=4, levels=3, backend="reference")).eval()
    plane_net = net.planes[0]
    x = _sparse_plane(0)
    with torch.no_grad():
        feats = plane_net.features(x)
        assert feats.features.shape == (x.n_sites, plane_net.feature_channels)
        torch.testing.assert_close(plane_net(x), plane_net.head(feats).features)
        plane_net.head = SparseLinear(plane_net.feature_channels, 2)
        assert plane_net(x).shape == (x.n_sites, 2)


@pytest.mark.parametrize("head", ["plain", "table1"])
def test_sparse_cosmic_tagger_is_backbone_and_head(head):
    torch.manual_seed(0)
    cfg = SparseCosmicTaggerConfig(filters=2, deep_filters=8, backend="reference", head=head,
                                   zero_init_head=False, inference="modules")
    model = build(cfg).eval()
    planes = [_sparse_plane(s) for s in range(3)]
    with torch.no_grad():
        feats = model.features(planes)
        assert feats.features.shape == (sum(p.n_sites for p in planes), model.feature_channels)
        joined = model.head(feats).features
        torch.testing.assert_close(torch.cat(model(planes)), joined)
