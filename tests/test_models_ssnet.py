"""SSNet (larseg.models.ssnet), the PID CNN and the encoder transfer (larseg.models.pid_cnn), and
the simulated single-particle images it trains on (larseg.data.single_particle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.data.single_particle import (SPECIES, SingleParticleConfig, SingleParticleDataset,
                                         crop_origin)
from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.pid_cnn import PID_CLASSES, PIDCNN, PIDConfig, transfer_encoder
from larseg.models.ssnet import (CATEGORY_TO_CLASS, SSNet, SSNetConfig, SSNetEncoder,
                                 ssnet_input, ssnet_training_targets)

TINY = SSNetConfig(filters=2, depth=1, blocks_per_level=1)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out  # weights and bias


def residual(c: int) -> int:
    return 2 * conv(c, c, 3) + 2 * 2 * c  # two 3×3 convolutions, two BatchNorms (γ, β)


def test_output_shape_and_size_multiple():
    model = SSNet(SSNetConfig(filters=2, depth=2, blocks_per_level=1))
    assert model.size_multiple == 4
    out = model(torch.rand(2, 3, 16, 24))
    assert out.shape == (2, 3, 3, 16, 24)


def test_planes_share_weights():
    """A plane's logits do not depend on which position of the batch it holds."""
    model = SSNet(TINY).eval()
    x = torch.rand(1, 2, 8, 8)
    swapped = model(x.flip(1))
    assert torch.allclose(model(x)[0, 0], swapped[0, 1], atol=1e-6)


def test_concatenation_skip_channels():
    model = SSNet(SSNetConfig(filters=4, depth=2, blocks_per_level=1))
    # deepest decoder level first: up from 2c to c, concatenated with the skip (c) to 2c, merge to c
    assert [lvl.up.in_channels for lvl in model.decoder] == [16, 8]
    assert [lvl.up.out_channels for lvl in model.decoder] == [8, 4]
    assert [lvl.merge[0].in_channels for lvl in model.decoder] == [16, 8]
    assert [lvl.merge[0].out_channels for lvl in model.decoder] == [8, 4]
    bottom, skips = model.encoder(torch.rand(1, 1, 8, 12))
    assert [tuple(s.shape) for s in skips] == [(1, 4, 8, 12), (1, 8, 4, 6)]
    assert tuple(bottom.shape) == (1, 16, 2, 3)


def test_parameter_count_by_hand():
    stem = conv(1, 2, 7)                              # 100
    level0 = residual(2)                              # 84
    widen = conv(2, 4, 1)                             # 12
    bottom = residual(4)                              # 312
    up = 4 * 2 * 2 * 2 + 2                            # transposed 2×2, 4 -> 2: 34
    merge = conv(4, 2, 3) + 2 * 2                     # concatenated 4 -> 2, BatchNorm: 78
    decoder_block = residual(2)                       # 84
    head = conv(2, 3, 1)                              # 9
    assert stem + level0 + widen + bottom == 508
    assert up + merge + decoder_block == 196
    model = SSNet(TINY)
    assert n_params(model.encoder) == 508
    assert n_params(model) == 508 + 196 + head == 713
    assert n_params(PIDCNN(PIDConfig(filters=2, depth=1, blocks_per_level=1))) == 508 + 4 * 5 + 5


def test_registry_builds_both():
    assert isinstance(build(TINY), SSNet)
    pid = build(PIDConfig(filters=2, depth=1, blocks_per_level=1))
    assert isinstance(pid, PIDCNN) and isinstance(pid.encoder, SSNetEncoder)
    assert pid(torch.rand(3, 1, 8, 8)).shape == (3, len(PID_CLASSES))


def test_transfer_copies_exactly_the_encoder():
    torch.manual_seed(0)
    pid = PIDCNN(PIDConfig(filters=2, depth=1, blocks_per_level=1))
    pid.train()
    pid(torch.rand(4, 1, 8, 8))  # move the BatchNorm running statistics off their defaults
    ssnet = SSNet(TINY)
    decoder_before = {k: v.clone() for k, v in ssnet.decoder.state_dict().items()}
    head_before = {k: v.clone() for k, v in ssnet.head.state_dict().items()}
    # stem 2 + level-0 block 14 (2 convs × 2, 2 BatchNorms × 5) + widen 2 + bottom block 14
    assert transfer_encoder(pid, ssnet) == 32
    src, dst = pid.encoder.state_dict(), ssnet.encoder.state_dict()
    assert src.keys() == dst.keys() and len(dst) == 32
    assert all(torch.equal(src[k], dst[k]) for k in src)
    assert all(torch.equal(v, ssnet.decoder.state_dict()[k]) for k, v in decoder_before.items())
    assert all(torch.equal(v, ssnet.head.state_dict()[k]) for k, v in head_before.items())


def test_transfer_refuses_other_shapes():
    pid = PIDCNN(PIDConfig(filters=4, depth=1, blocks_per_level=1))
    with pytest.raises(LarsegError, match="stem.weight"):
        transfer_encoder(pid, SSNet(TINY))
    deeper = PIDCNN(PIDConfig(filters=2, depth=2, blocks_per_level=1))
    with pytest.raises(LarsegError, match="different layers"):
        transfer_encoder(deeper, SSNet(TINY))


def test_training_targets_map_edge_to_background():
    assert CATEGORY_TO_CLASS == (0, 0, 1, 2)
    cat = torch.tensor([[[[0, 1, 2], [3, 3, -1]]]])
    classes, weights = ssnet_training_targets(cat)
    assert classes.tolist() == [[[[0, 0, 1], [2, 2, -1]]]]
    # 5 labelled pixels, 4 categories present: w_c = 5 / (4 N_c)
    assert np.allclose(weights.numpy(), [[[[1.25, 1.25, 1.25], [0.625, 0.625, 0.0]]]])
    _, flat = ssnet_training_targets(cat, "none")
    assert flat.tolist() == [[[[1, 1, 1], [1, 1, 0]]]]
    with pytest.raises(ValueError, match="choose one of inverse_frequency, "
                                         "inverse_frequency_active, inverse_frequency_features, "
                                         "none"):
        ssnet_training_targets(cat, "mild")


def test_training_targets_threshold_and_active_background():
    # background, edge, track, shower; the ADC: one noise pixel (12) and one faint track pixel (4)
    cat = torch.tensor([[[[0, 0, 1, 2, 2, 3]]]])
    adc = torch.tensor([[[[0.0, 12.0, 0.0, 4.0, 30.0, 50.0]]]])
    classes, weights = ssnet_training_targets(cat, "inverse_frequency_active", adc, 10.0)
    # the track pixel below 10 ADC is ignored; the charged background pixel is category 4
    assert classes.tolist() == [[[[0, 0, 0, -1, 1, 2]]]]
    # 5 labelled pixels, 5 categories with one pixel each: every weight 5 / (5 * 1) = 1
    assert weights.tolist() == [[[[1.0, 1.0, 1.0, 0.0, 1.0, 1.0]]]]
    # the talk's four categories: the noise pixel shares the background's weight
    _, four = ssnet_training_targets(cat, "inverse_frequency", adc, 10.0)
    assert np.allclose(four.numpy(), [[[[0.625, 0.625, 1.25, 0.0, 1.25, 1.25]]]])
    # no threshold: the faint track pixel counts and is seen (ADC 4 > 0)
    classes0, w0 = ssnet_training_targets(cat, "inverse_frequency_active", adc)
    assert classes0.tolist() == [[[[0, 0, 0, 1, 1, 2]]]]
    assert np.allclose(w0.numpy(), [[[[1.2, 1.2, 1.2, 0.6, 0.6, 1.2]]]])
    # track and shower as one category: 5 labelled pixels, 4 categories, features 2 pixels
    _, feat = ssnet_training_targets(cat, "inverse_frequency_features", adc, 10.0)
    assert np.allclose(feat.numpy(), [[[[1.25, 1.25, 1.25, 0.0, 0.625, 0.625]]]])
    with pytest.raises(ValueError, match="needs the batch's image"):
        ssnet_training_targets(cat, "inverse_frequency", None, 10.0)


def test_input_mask_hides_the_noise_floor():
    torch.manual_seed(0)
    net = SSNet(SSNetConfig(**{**TINY.__dict__, "adc_threshold": 10.0})).eval()
    image = torch.zeros(1, 1, 32, 32)
    image[0, 0, 10, 5:25] = 40.0
    noisy = image.clone()
    noisy[0, 0, 20, 3] = 9.5  # below the threshold: the network must not see it
    with torch.no_grad():
        assert torch.equal(net(image), net(noisy))
        noisy[0, 0, 20, 3] = 10.5
        assert not torch.equal(net(image), net(noisy))
    assert ssnet_input(image, 0.0) is image


# ------------------------------------------------------------------ single particles, PID CNN
def test_crop_origin_keeps_the_first_pixel_inside():
    # a track from (50, 50) to (50, 150): centroid (50, 100), 64 wide, margin 8
    coords = np.stack([np.full(101, 50), np.arange(50, 151)], axis=1)
    values = np.ones(101)
    assert crop_origin(coords, values, (50.0, 49.0), 64, 8, (200, 300)) == (18, 42)
    # near the image's top-left corner: clipped to the image
    assert crop_origin(coords - 45, values, (5.0, 4.0), 64, 8, (200, 300)) == (0, 0)
    assert crop_origin(coords[:0], values[:0], (0.0, 0.0), 64, 8, (200, 300)) is None


SMALL_CROP = SingleParticleConfig(size=64, noise=False, kinetic_energy_mev=(100.0, 400.0))


@pytest.fixture(scope="module")
def particles():
    ds = SingleParticleDataset(10, SMALL_CROP, seed=3)
    return [ds[i] for i in range(len(ds))]


def test_single_particle_items(particles):
    assert [int(p["label"]) for p in particles] == [0, 1, 2, 3, 4] * 2
    pdgs = {SPECIES[int(p["label"])]: set() for p in particles}
    for p in particles:
        pdgs[SPECIES[int(p["label"])]].add(abs(p["pdg"]))
        assert p["image"].shape == (1, 64, 64) and p["image"].dtype == torch.float32
        assert 100.0 <= p["kinetic_energy"] <= 400.0
        assert int((p["image"] > 0).sum()) >= SMALL_CROP.min_pixels  # noiseless: charge only
    assert pdgs == {"e": {11}, "gamma": {22}, "mu": {13}, "pi": {211}, "p": {2212}}
    again = SingleParticleDataset(10, SMALL_CROP, seed=3)[7]
    assert torch.equal(again["image"], particles[7]["image"])


def test_pid_cnn_learns_single_particles(particles):
    torch.manual_seed(0)
    model = PIDCNN(PIDConfig(filters=4, depth=3, blocks_per_level=1))
    x = torch.stack([p["image"] for p in particles]) / 100.0  # ADC of a MIP ~ 100
    y = torch.stack([p["label"] for p in particles])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 1.4          # about ln 5 = 1.61 at the start
    assert losses[-1] < 0.5 * losses[0]
