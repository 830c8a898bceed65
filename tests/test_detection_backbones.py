"""sMask-RCNN's backbones (larseg.models.detection.backbones): config checks, parameter count,
output shapes and strides on odd image sizes, equality of the sparse backbone with the dense one
after the weight transfer on fully active images, the transfer's report, what sub-threshold
pixels contribute (nothing), and gradients, on both sparse backends."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from larseg.errors import LarsegError
from larseg.models.detection.backbones import (ResNetBackbone, ResNetBackboneConfig,
                                               SparseResNetBackbone, build_backbone,
                                               padded_shape, sparse_input, threshold_adc)
from larseg.models.detection.transfer import transfer_dense_weights
from larseg.models.sparse import SparseTensor, spconv_available

nn = torch.nn

BACKENDS = ["reference", pytest.param("spconv", marks=pytest.mark.skipif(
    not spconv_available(), reason="spconv is not installed"))]
DEFAULT = ResNetBackboneConfig()
# small widths, uneven depth, a three-level FPN: exercises every kind of layer cheaply
SMALL_FPN = ResNetBackboneConfig(stem_filters=4, stem_kernel=5, widths=(6, 8, 10, 12),
                                 blocks=(1, 2, 0, 1), return_strides=(4, 8, 16), fpn_channels=5)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def dense_with_statistics(cfg: ResNetBackboneConfig, seed: int = 0) -> ResNetBackbone:
    """A dense backbone whose BatchNorms are far from their defaults: random affine parameters,
    running statistics averaged over two training-mode passes on random images ≥ 10 ADC."""
    torch.manual_seed(seed)
    net = ResNetBackbone(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average: the true statistics of the two passes
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
        net.train()
        for _ in range(2):
            net(10 + 90 * torch.rand(2, cfg.in_channels, 32, 48, generator=g))
    return net.eval()


def fully_active(image: torch.Tensor) -> SparseTensor:
    """Every pixel of a dense (B, 1, H, W) image as an active site (zero values included)."""
    b, _, h, w = image.shape
    coords = torch.cartesian_prod(torch.arange(b), torch.arange(h), torch.arange(w))
    return SparseTensor(coords.to(torch.int32), image.reshape(-1, 1), (h, w), b)


def tracks(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, 1, h, w) image of three straight tracks (20-80 ADC) and sub-threshold noise
    (0-10 ADC) on a third of the other pixels; and the (h, w) mask of the tracks."""
    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(h, w)
    for r0, c0, dr, dc in ((2, 1, 1, 3), (h - 3, 0, -1, 2), (0, w - 9, 2, 1)):
        for s in range(max(h, w)):
            r, c = r0 + (s * dr) // 2, c0 + (s * dc) // 2
            if 0 <= r < h and 0 <= c < w:
                image[r, c] = 20 + 60 * torch.rand((), generator=g)
    on_track = image > 0
    noise = (torch.rand(h, w, generator=g) < 1 / 3) & ~on_track
    image[noise] = 10 * torch.rand(int(noise.sum()), generator=g).clamp(max=0.999)
    return image[None, None], on_track


# ---------------------------------------------------------------------------------- config
def test_config_rejects_layouts_without_one_meaning():
    with pytest.raises(LarsegError, match="one entry per stage"):
        ResNetBackboneConfig(blocks=(1, 1, 1))
    with pytest.raises(LarsegError, match="must be returned"):
        ResNetBackboneConfig(return_strides=(8,))
    with pytest.raises(LarsegError, match="increasing"):
        ResNetBackboneConfig(return_strides=(16, 8), fpn_channels=8)
    with pytest.raises(LarsegError, match="increasing"):
        ResNetBackboneConfig(return_strides=(6, 16), fpn_channels=8)
    with pytest.raises(LarsegError, match="need an FPN"):
        ResNetBackboneConfig(return_strides=(8, 16))
    with pytest.raises(LarsegError, match="odd"):
        ResNetBackboneConfig(stem_kernel=4)
    assert (DEFAULT.size_multiple, DEFAULT.out_channels) == (16, 256)
    assert (SMALL_FPN.size_multiple, SMALL_FPN.out_channels) == (16, 5)


def test_parameter_count_follows_the_layers_and_is_the_same_dense_and_sparse():
    """stem k²·1·f + 2f; per stage: 2×2 down 4·c_in·c + 2c, per block 2·(9c² + 2c);
    FPN per level: 1×1 (c + 1)·F, 3×3 (9F + 1)·F."""
    def count(cfg: ResNetBackboneConfig) -> int:
        f = cfg.stem_filters
        total = cfg.stem_kernel ** 2 * cfg.in_channels * f + 2 * f
        for c_in, c, n in zip((f, *cfg.widths[:-1]), cfg.widths, cfg.blocks):
            total += 4 * c_in * c + 2 * c + n * 2 * (9 * c * c + 2 * c)
        F = cfg.fpn_channels
        for s in cfg.return_strides if F else ():
            c = cfg.widths[s.bit_length() - 2]
            total += (c + 1) * F + (9 * F + 1) * F
        return total

    assert count(DEFAULT) == 1_744_496
    for cfg in (DEFAULT, SMALL_FPN):
        assert n_params(ResNetBackbone(cfg)) == count(cfg)
        assert n_params(SparseResNetBackbone(replace(cfg, backend="reference"))) == count(cfg)
    assert isinstance(build_backbone(replace(DEFAULT, sparse=True, backend="reference")),
                      SparseResNetBackbone)
    assert isinstance(build_backbone(DEFAULT), ResNetBackbone)


# ------------------------------------------------------------------------- shapes and strides
@pytest.mark.parametrize("kind", ["dense", *BACKENDS])
@pytest.mark.parametrize("h,w", [(37, 53), (17, 16), (16, 33)])
def test_output_shapes_and_strides_on_odd_sizes(kind, h, w):
    """Sides are padded up to a multiple of 16: each map is ceil(H/16)·16/stride high."""
    torch.manual_seed(0)
    image = 10 + 90 * torch.rand(2, 1, h, w)
    ph, pw = padded_shape(h, w, 16)
    assert (ph, pw) == (-(-h // 16) * 16, -(-w // 16) * 16)
    for cfg in (DEFAULT, SMALL_FPN):
        net = (ResNetBackbone(cfg) if kind == "dense"
               else SparseResNetBackbone(replace(cfg, backend=kind))).eval()
        with torch.no_grad():
            out = net(image)
        assert net.strides == {str(i): s for i, s in enumerate(cfg.return_strides)}
        assert list(out) == list(net.strides)
        for name, s in net.strides.items():
            assert out[name].shape == (2, net.out_channels, ph // s, pw // s)


# ------------------------------------------------------------ equality after the transfer
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg", [DEFAULT, SMALL_FPN], ids=["default", "small_fpn"])
def test_fully_active_image_equals_the_dense_backbone_with_transferred_weights(backend, cfg):
    """Every pixel ≥ the ADC threshold and the sides multiples of 16: every site is active, a
    submanifold k×k convolution is then the zero-padded dense one, the strided 2×2 the dense
    stride-2 one, and the sparse BatchNorms see every pixel, so the sparse backbone equals the
    dense one at every returned level (eval mode: the transferred running statistics; training
    mode: batch statistics over the same pixels)."""
    dense = dense_with_statistics(cfg)
    sparse = SparseResNetBackbone.from_dense(dense, backend=backend).eval()
    assert sparse.backend == backend
    image = 10 + 90 * torch.rand(2, 1, 32, 48, generator=torch.Generator().manual_seed(7))
    for train in (False, True):
        dense.train(train), sparse.train(train)
        with torch.no_grad():
            want, got = dense(image), sparse(image)
        for name in want:
            scale = want[name].abs().max()
            assert scale > 0.1
            torch.testing.assert_close(got[name] / scale, want[name] / scale, rtol=0, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_sizes_match_when_the_padding_is_active(backend):
    """On a 37 × 53 image the dense backbone pads with zero pixels that its convolutions see
    (BatchNorm makes their features non-zero); the sparse backbone's padding has no sites. Make
    the padding's sites active with zero ADC and the two agree exactly; from the image alone
    (padding inactive) they do not."""
    dense = dense_with_statistics(SMALL_FPN, seed=3)
    sparse = SparseResNetBackbone.from_dense(dense, backend=backend).eval()
    image = 10 + 90 * torch.rand(1, 1, 37, 53, generator=torch.Generator().manual_seed(8))
    padded = nn.functional.pad(image, (0, 64 - 53, 0, 48 - 37))
    with torch.no_grad():
        want, got, alone = dense(image), sparse(fully_active(padded)), sparse(image)
    for name in want:
        scale = want[name].abs().max()
        torch.testing.assert_close(got[name] / scale, want[name] / scale, rtol=0, atol=1e-4)
    assert (alone["2"] - want["2"]).abs().max() > 1e-2 * want["2"].abs().max()


# --------------------------------------------------------------------------- the transfer
def test_transfer_fills_every_sparse_tensor_from_its_dense_counterpart():
    dense = dense_with_statistics(SMALL_FPN, seed=5)
    torch.manual_seed(9)
    sparse = SparseResNetBackbone(replace(SMALL_FPN, backend="reference"))
    report = transfer_dense_weights(sparse, dense)
    d_state, s_state = dense.state_dict(), sparse.state_dict()
    assert report.complete and set(report.copied) == set(d_state) == set(s_state)
    # the ResNet's convolutions change layout; the FPN's (dense in both) do not
    convs = {f"{n}.weight" for n, m in dense.named_modules()
             if isinstance(m, nn.Conv2d) and not n.startswith("fpn.")}
    assert set(report.reshaped) == convs
    assert len(convs) == 1 + 4 + 2 * sum(SMALL_FPN.blocks)
    for key, t in d_state.items():
        want = t.permute(0, 2, 3, 1) if key in convs else t
        assert torch.equal(s_state[key], want), key
    assert int(s_state["stem.bn.num_batches_tracked"]) == 2


def test_transfer_of_another_shape_is_refused_or_partial():
    dense = ResNetBackbone(replace(DEFAULT, widths=(32, 64, 128, 128)))
    torch.manual_seed(1)
    sparse = SparseResNetBackbone(replace(DEFAULT, backend="reference"))
    before = {k: v.clone() for k, v in sparse.state_dict().items()}
    with pytest.raises(LarsegError, match="of other shape"):
        transfer_dense_weights(sparse, dense)
    assert all(torch.equal(v, before[k]) for k, v in sparse.state_dict().items())
    report = transfer_dense_weights(sparse, dense.state_dict(), strict=False)
    # stage 4 is 128 wide instead of 256: its down step and block, BN statistics included
    assert set(report.mismatched) == {k for k in before if k.startswith("stages.3.")
                                      and not k.endswith("num_batches_tracked")}
    assert report.missing == () and report.unexpected == ()
    state = sparse.state_dict()
    assert torch.equal(state["stages.3.blocks.0.conv1.weight"],
                       before["stages.3.blocks.0.conv1.weight"])
    assert torch.equal(state["stages.2.blocks.0.conv1.weight"],
                       dense.state_dict()["stages.2.blocks.0.conv1.weight"].permute(0, 2, 3, 1))


# ------------------------------------------------------------------ zero pixels contribute nothing
def test_threshold_keeps_pixels_at_or_above_it():
    x = torch.tensor([[0.0, 9.99, 10.0, 250.0, -3.0]])
    assert torch.equal(threshold_adc(x, 10.0), torch.tensor([[0.0, 0.0, 10.0, 250.0, 0.0]]))
    assert torch.equal(threshold_adc(x, None), x)
    assert sparse_input(x[None, None], 10.0).coords.tolist() == [[0, 0, 2], [0, 0, 3]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sub_threshold_pixels_contribute_nothing(backend):
    """Pixels below 10 ADC are not sites: changing them leaves the sparse backbone's output
    bit for bit (the dense one's too, which zeroes them first). Each 16 × 16 block without a
    pixel ≥ 10 ADC is exactly zero in the stride-16 map; every block with one is not. An image
    with no pixel ≥ 10 ADC gives zero maps."""
    dense = dense_with_statistics(DEFAULT, seed=2)
    sparse = SparseResNetBackbone.from_dense(dense, backend=backend).eval()
    image, on_track = tracks(64, 96, seed=4)
    quieter = torch.where(image < 10, 0.5 * image, image)
    with torch.no_grad():
        got, again = sparse(image)["0"], sparse(quieter)["0"]
        assert torch.equal(got, again)
        assert torch.equal(dense(image)["0"], dense(quieter)["0"])
        empty = sparse(torch.where(image < 10, image, 0.0))["0"]
    touched = on_track.reshape(4, 16, 6, 16).any(dim=3).any(dim=1)
    assert 0 < int(touched.sum()) < touched.numel()
    assert torch.equal(got[0].abs().amax(dim=0) > 0, touched)
    assert empty.shape == got.shape and not empty.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_backbone_trains(backend):
    """A backward pass through the sparse convolutions reaches every parameter."""
    torch.manual_seed(0)
    net = SparseResNetBackbone(replace(SMALL_FPN, backend=backend)).train()
    image, _ = tracks(48, 64, seed=6)
    out = net(image)
    # a weighted sum, so that no gradient cancels by symmetry
    loss = sum((v * torch.linspace(-1, 1, v.numel()).reshape(v.shape)).sum() for v in out.values())
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
