"""DenseTwin: SparseSSNet's plane network run densely. Masked, its logits on the active pixels are
the sparse network's (both backends, random and shipped weights, a real simulated MicroBooNE
crop); it shares the sparse network's parameters; any image size works; unmasked, it is a plain
dense U-Net whose outputs dilate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larseg.models.sparse import SparseTensor, densify, spconv_available
from larseg.models.sparse.dense_twin import DenseTwin, dense_logits_on_sites, fold_batch_norm
from larseg.models.sparse_ssnet import SparseSSNet, SparseSSNetConfig, plane_input

BACKENDS = ["reference", pytest.param("spconv", marks=pytest.mark.skipif(
    not spconv_available(), reason="spconv not installed"))]
SMALL = dict(filters=8, levels=4, n_planes=1)


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the largest logit (the benchmark's measure)."""
    return float((a - b).abs().max() / a.abs().max())


def random_record(shape: tuple[int, int], fraction: float, seed: int,
                  batch: int = 1) -> SparseTensor:
    """A (batch, 1, H, W) image with ~``fraction`` of its pixels lit at 10–300 ADC."""
    g = torch.Generator().manual_seed(seed)
    lit = torch.rand(batch, 1, *shape, generator=g) < fraction
    return SparseTensor.from_dense(lit * (10 + 290 * torch.rand(batch, 1, *shape, generator=g)))


def trained_stats_net(backend: str, x: SparseTensor, seed: int = 0, **cfg) -> SparseSSNet:
    """A small network whose BatchNorm running statistics are not the defaults (a few
    training-mode passes), in eval mode."""
    torch.manual_seed(seed)
    net = SparseSSNet(SparseSSNetConfig(backend=backend, **{**SMALL, **cfg}))
    with torch.no_grad():
        for _ in range(3):
            net([x])
    return net.eval()


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_twin_equals_the_sparse_network_on_a_random_image(backend):
    x = random_record((37, 53), 0.15, seed=1)  # odd sides: the twin pads as the sparse net does
    assert 250 < x.n_sites < 340
    net = trained_stats_net(backend, x)
    with torch.no_grad():
        sparse = net.planes[0](x)
        dense = dense_logits_on_sites(DenseTwin(net.planes[0]), x)
    assert sparse.abs().max() > 0.1
    assert rel_diff(sparse, dense) < 1e-4


@pytest.fixture(scope="module")
def microboone_crop() -> tuple[int, SparseTensor]:
    """The busiest 128 × 128 window of the busiest plane of a simulated MicroBooNE particle-bomb
    event (the training sample of note 1091), after the 10–300 ADC mask; and the plane's index."""
    from larseg.sim.simulate import SimulationJob, simulate_event

    event = simulate_event(SimulationJob("microboone", "bomb", seed=3), 0)
    index = int(np.argmax([len(q.values) for q in event.planes]))
    p = event.planes[index]
    x, _ = plane_input(torch.from_numpy(p.coords), torch.from_numpy(p.values),
                       (p.meta.n_ticks, p.meta.n_wires))
    rc = x.coords[:, 1:].numpy()
    counts = np.zeros((p.meta.n_ticks // 64 + 1, p.meta.n_wires // 64 + 1), int)
    np.add.at(counts, (rc[:, 0] // 64, rc[:, 1] // 64), 1)
    windows = counts[:-1, :-1] + counts[1:, :-1] + counts[:-1, 1:] + counts[1:, 1:]
    r0, c0 = (64 * int(v) for v in np.unravel_index(np.argmax(windows), windows.shape))
    inside = ((rc[:, 0] >= r0) & (rc[:, 0] < r0 + 128)
              & (rc[:, 1] >= c0) & (rc[:, 1] < c0 + 128))
    local = torch.from_numpy(rc[inside] - np.array([r0, c0]))
    return index, SparseTensor.from_pixels(local, x.features[inside], (128, 128))


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_twin_equals_the_shipped_network_on_a_simulated_microboone_crop(
        backend, microboone_crop):
    from safetensors.torch import load_file

    from larseg.weights import resolve_weights

    plane, x = microboone_crop
    assert x.n_sites > 500  # real activity, not a near-empty window
    net = SparseSSNet(SparseSSNetConfig(n_planes=1, backend=backend)).eval()
    prefix = f"planes.{plane}."  # that plane's own shipped network
    state = {"planes.0." + k[len(prefix):]: v
             for k, v in load_file(str(resolve_weights("sparse_ssnet"))).items()
             if k.startswith(prefix)}
    net.load_state_dict(state)
    with torch.inference_mode():
        sparse = net.planes[0](x)
        dense = dense_logits_on_sites(DenseTwin(net.planes[0]), x)
    assert rel_diff(sparse, dense) < 1e-4
    assert torch.equal(sparse.argmax(1), dense.argmax(1))


def test_a_batch_and_a_zero_valued_site_match_too():
    """Two images at once, and an active site whose ADC is 0 (the mask, not the values, says
    what is active): still the sparse network's logits."""
    x = random_record((24, 40), 0.2, seed=2, batch=2)
    x = x.with_features(x.features.index_fill(0, torch.tensor([0, 7]), 0.0))
    net = trained_stats_net("reference", x, levels=3)
    with torch.no_grad():
        sparse = net.planes[0](x)
        dense = dense_logits_on_sites(DenseTwin(net.planes[0]), x)
    assert int(x.coords[:, 0].max()) == 1
    assert rel_diff(sparse, dense) < 1e-4


def test_the_parameters_are_shared_not_copied():
    x = random_record((16, 16), 0.3, seed=3)
    net = trained_stats_net("reference", x)
    twin = DenseTwin(net.planes[0])
    mine = list(twin.parameters())
    assert len(mine) == len(list(net.planes[0].parameters())) > 0
    assert all(a is b for a, b in zip(mine, net.planes[0].parameters()))
    assert list(twin.state_dict()) == ["net." + k for k in net.planes[0].state_dict()]
    # a change made through the sparse network shows in the twin's next call
    with torch.no_grad():
        before = dense_logits_on_sites(twin, x)
        net.planes[0].head.bias += 1.0
        after = dense_logits_on_sites(twin, x)
    torch.testing.assert_close(after, before + 1.0)


@pytest.mark.parametrize("shape", [(1, 1), (13, 17), (31, 8), (16, 48)])
def test_any_image_size_gives_logits_of_its_size(shape):
    torch.manual_seed(0)
    net = SparseSSNet(SparseSSNetConfig(backend="reference", **SMALL)).eval()
    x = SparseTensor.from_pixels(torch.tensor([[shape[0] - 1, shape[1] - 1]]),
                                 torch.tensor([50.0]), shape)
    for masked in (True, False):
        with torch.no_grad():
            out = DenseTwin(net.planes[0], masked)(densify(x))
        assert out.shape == (1, 5, *shape)
    with torch.no_grad():  # the corner pixel on an odd edge: the sparse result too
        assert rel_diff(net.planes[0](x), dense_logits_on_sites(DenseTwin(net.planes[0]), x)) \
            < 1e-4


def test_unmasked_is_a_plain_dense_network_that_dilates():
    """On an image with every pixel active (sides a multiple of 8) no mask removes anything, so
    the unmasked twin gives the sparse logits; on a sparse image it differs, because it
    convolves the zeros that BatchNorm's shift makes non-zero."""
    torch.manual_seed(0)
    full = SparseTensor.from_dense(10 + 290 * torch.rand(1, 1, 16, 24))
    sparse_img = random_record((16, 24), 0.1, seed=4)
    net = trained_stats_net("reference", sparse_img, levels=4)
    plain = DenseTwin(net.planes[0], masked=False)
    with torch.no_grad():
        assert full.n_sites == 16 * 24
        assert rel_diff(net.planes[0](full), dense_logits_on_sites(plain, full)) < 1e-4
        s = net.planes[0](sparse_img)
        assert rel_diff(s, dense_logits_on_sites(plain, sparse_img)) > 0.05
        # off the active pixels the masked twin has nothing but the head's bias; the plain one
        # has features there (activity dilated) almost everywhere
        img, off = densify(sparse_img), densify(sparse_img)[0, 0] == 0
        bias = net.planes[0].head.bias[:, None]
        masked_off = DenseTwin(net.planes[0])(img)[0][:, off]
        plain_off = plain(img)[0][:, off]
        torch.testing.assert_close(masked_off, bias.expand_as(masked_off))
        assert ((plain_off - bias).abs().max(dim=0).values > 1e-3).float().mean() > 0.95


def test_train_mode_is_refused():
    net = SparseSSNet(SparseSSNetConfig(backend="reference", **SMALL))
    x = random_record((16, 16), 0.3, seed=5)
    with pytest.raises(RuntimeError, match="call .eval"):
        DenseTwin(net.planes[0])(densify(x))


@pytest.mark.parametrize("transpose", [False, True])
def test_folded_batch_norm_equals_conv_then_batch_norm(transpose):
    g = torch.Generator().manual_seed(6)
    bn = torch.nn.BatchNorm1d(4).eval()
    with torch.no_grad():
        for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias):
            t.copy_(torch.rand(4, generator=g) + 0.5)
    x = torch.randn(1, 3, 6, 6, generator=g)
    bias = torch.randn(4, generator=g)
    if transpose:
        w = torch.randn(3, 4, 2, 2, generator=g)
        ref = torch.nn.functional.conv_transpose2d(x, w, bias, stride=2)
        fw, fb = fold_batch_norm(w, bias, bn, out_dim=1)
        got = torch.nn.functional.conv_transpose2d(x, fw, fb, stride=2)
    else:
        w = torch.randn(4, 3, 3, 3, generator=g)
        ref = torch.nn.functional.conv2d(x, w, bias, padding=1)
        fw, fb = fold_batch_norm(w, bias, bn)
        got = torch.nn.functional.conv2d(x, fw, fb, padding=1)
    ref = torch.nn.functional.batch_norm(ref, bn.running_mean, bn.running_var, bn.weight,
                                         bn.bias, False, 0.0, bn.eps)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
