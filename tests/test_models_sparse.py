"""The sparse backend: the reference convolutions against dense torch convolutions, spconv against
the reference (forward and backward), and spconv's CPU fixes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from larseg.models.sparse import SparseTensor, cat_features, densify, get_backend
from larseg.models.sparse.reference import BACKEND as REF

H, W = 13, 17


def random_sites(n: int = 120, batch: int = 2, channels: int = 4, seed: int = 0,
                 dtype=torch.float32, shape=(H, W)) -> SparseTensor:
    g = torch.Generator().manual_seed(seed)
    c = torch.stack([torch.randint(0, batch, (n,), generator=g),
                     torch.randint(0, shape[0], (n,), generator=g),
                     torch.randint(0, shape[1], (n,), generator=g)], dim=1)
    c = torch.unique(c, dim=0)
    # shuffled: nothing may rely on the rows being sorted
    c = c[torch.randperm(len(c), generator=g)].to(torch.int32)
    f = torch.randn(len(c), channels, generator=g, dtype=dtype)
    return SparseTensor(c, f, shape, batch)


def site_keys(x: SparseTensor) -> torch.Tensor:
    c = x.coords.long()
    return (c[:, 0] * 1000 + c[:, 1]) * 1000 + c[:, 2]


def sorted_by_site(x: SparseTensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.argsort(site_keys(x))
    return x.coords[order], x.features[order]


def probe(x: SparseTensor) -> torch.Tensor:
    """A fixed function of (site, channel), so that a loss is the same whatever the row order."""
    ch = torch.arange(x.n_channels, dtype=x.features.dtype)
    return torch.sin(0.37 * site_keys(x)[:, None].to(x.features.dtype) + ch)


def active_mask(x: SparseTensor) -> torch.Tensor:
    return densify(x.with_features(torch.ones(x.n_sites, 1, dtype=x.features.dtype))) > 0


# --- the reference against dense torch --------------------------------------------------------
@pytest.mark.parametrize("kernel", [3, 5])
def test_reference_submanifold_is_dense_conv2d_on_the_active_sites(kernel):
    torch.manual_seed(0)
    x = random_sites(dtype=torch.float64)
    conv = REF.submanifold(4, 6, kernel, bias=True).double()
    y = conv(x)
    assert torch.equal(y.coords, x.coords)  # output on the input's sites, in its order
    dense = densify(x)
    expected = F.conv2d(dense, conv.weight.permute(0, 3, 1, 2), conv.bias, padding=kernel // 2)
    mask = active_mask(x)
    torch.testing.assert_close(densify(y), expected * mask, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2)])
def test_reference_strided_is_dense_strided_conv2d(kernel, stride):
    torch.manual_seed(0)
    x = random_sites(dtype=torch.float64)
    conv = REF.down(4, 6, kernel, stride, bias=False, key="d").double()
    y = conv(x)
    assert y.spatial_shape == ((H - kernel) // stride + 1, (W - kernel) // stride + 1)
    dense = densify(x)
    expected = F.conv2d(dense, conv.weight.permute(0, 3, 1, 2), stride=stride)
    # the output sites: exactly the windows holding an active input
    ones = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
    windows = F.conv2d(active_mask(x).double(), ones, stride=stride)
    assert torch.equal(active_mask(y), windows > 0)
    torch.testing.assert_close(densify(y), expected * (windows > 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2)])
def test_reference_inverse_is_transposed_conv_back_on_the_strided_inputs(kernel, stride):
    torch.manual_seed(0)
    x = random_sites(dtype=torch.float64)
    down = REF.down(4, 6, kernel, stride, key="d").double()
    up = REF.up(6, 3, kernel, key="d").double()
    z = down(x)
    y = up(z)
    assert torch.equal(y.coords, x.coords) and y.spatial_shape == x.spatial_shape
    full = F.conv_transpose2d(densify(z), up.weight.permute(3, 0, 1, 2), stride=stride)
    # a site past the last whole window (odd edge) gets nothing back
    full = F.pad(full, (0, W - full.shape[-1], 0, H - full.shape[-2]))
    expected = full * active_mask(x)
    torch.testing.assert_close(densify(y), expected, rtol=1e-12, atol=1e-12)


def test_inverse_without_its_strided_conv_is_refused():
    x = random_sites()
    with pytest.raises(KeyError, match="no strided convolution 'nope'"):
        REF.up(4, 4, 2, key="nope")(x)


def test_dense_round_trip_and_skip_concatenation():
    x = random_sites(dtype=torch.float64)
    back = SparseTensor.from_dense(densify(x))
    assert torch.equal(sorted_by_site(back)[0], sorted_by_site(x)[0])
    torch.testing.assert_close(sorted_by_site(back)[1], sorted_by_site(x)[1])
    joined = cat_features(x, x.with_features(2 * x.features))
    assert torch.equal(joined.features, torch.cat([x.features, 2 * x.features], 1))
    other = random_sites(seed=1)
    with pytest.raises(ValueError, match="same sites"):
        cat_features(x, other)


def test_backend_selection(monkeypatch):
    assert get_backend("reference").name == "reference"
    expected = "spconv" if importlib.util.find_spec("spconv") else "reference"
    assert get_backend("auto").name == expected
    import larseg.models.sparse as sparse

    monkeypatch.setattr(sparse, "spconv_available", lambda: False)  # where it does not install
    assert get_backend("auto").name == "reference"
    with pytest.raises(ValueError, match="unknown sparse backend 'minkowski'"):
        get_backend("minkowski")


# --- spconv against the reference --------------------------------------------------------------
def _pair(kind: str, backend, seed: int = 3):
    torch.manual_seed(seed)
    if kind == "subm3":
        return [backend.submanifold(4, 6, 3, bias=True, key="s")]
    if kind == "subm1":
        return [backend.submanifold(4, 6, 1, bias=True)]
    if kind == "down":
        return [backend.down(4, 6, 2, 2, bias=True, key="d")]
    return [backend.down(4, 6, 2, 2, key="d"), backend.up(6, 5, 2, bias=True, key="d")]


def _run(modules, x: SparseTensor):
    x = x.with_features(x.features.clone().requires_grad_(True))
    y = x
    for m in modules:
        y = m(y)
    (y.features * probe(y)).sum().backward()
    return x, y


@pytest.mark.parametrize("kind", ["subm3", "subm1", "down", "down+inverse"])
def test_spconv_equals_reference_forward_and_backward(kind):
    pytest.importorskip("spconv")
    sp = get_backend("spconv")
    x = random_sites(n=300, channels=4, seed=5)
    ours, theirs = _pair(kind, REF), _pair(kind, sp)
    for a, b in zip(ours, theirs):  # one seed, one initialisation, one layout
        assert torch.equal(a.weight, b.weight)
    xa, ya = _run(ours, x)
    xb, yb = _run(theirs, x)
    ca, fa = sorted_by_site(ya)
    cb, fb = sorted_by_site(yb)
    assert torch.equal(ca, cb) and ya.spatial_shape == yb.spatial_shape
    torch.testing.assert_close(fa, fb, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xa.features.grad, xb.features.grad, rtol=1e-5, atol=1e-5)
    assert xa.features.grad.abs().sum() > 0
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.weight.grad, b.weight.grad, rtol=1e-5, atol=1e-5)
        if a.bias is not None:
            torch.testing.assert_close(a.bias.grad, b.bias.grad, rtol=1e-5, atol=1e-5)
    if kind == "down+inverse":  # back on the input's sites, in the input's order
        assert torch.equal(ya.coords, x.coords) and torch.equal(yb.coords, x.coords)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the shim is for a CPU-only torch")
def test_spconv_backward_on_cpu_torch_needs_the_stream_shim():
    pytest.importorskip("spconv")
    from larseg.models.sparse import spconv_backend as sb

    assert sb.cpu_stream_shim_enabled()  # installed at import on a CPU-only torch
    x = random_sites()
    conv = sb.BACKEND.submanifold(4, 4, 3)
    try:
        sb.set_cpu_stream_shim(False)
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            _run([conv], x)
    finally:
        sb.set_cpu_stream_shim(True)
    xg, _ = _run([conv], x)
    assert xg.features.grad.abs().sum() > 0


def test_spconv_scatter_add_is_right_with_two_threads():
    """spconv 2.3.8's own CPU scatter-add races with > 1 OpenMP threads (see spconv_backend);
    the one its convolutions use must give index_add_'s sums exactly, call after call."""
    pytest.importorskip("spconv")
    from spconv.pytorch import ops
    from spconv.pytorch.cppcore import torch_tensor_to_tv

    from larseg.models.sparse import spconv_backend as sb

    assert sb.serial_scatter_enabled()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        for _ in range(1000):  # the race shows in a few % of calls
            rows = torch.randperm(300, generator=g)[:100].to(torch.int32)
            src = torch.randn(120, 5, generator=g)  # a buffer longer than the rows, as spconv's
            out = torch.zeros(300, 5)
            ops.SpconvOps.scatter_add_cpu(torch_tensor_to_tv(out), torch_tensor_to_tv(src),
                                          torch_tensor_to_tv(rows))
            assert torch.equal(out, torch.zeros(300, 5).index_add_(0, rows.long(), src[:100]))
    finally:
        torch.set_num_threads(threads)


def test_spconv_backend_sets_a_passive_omp_wait_policy_unless_set():
    pytest.importorskip("spconv")
    code = ("import os, larseg.models.sparse.spconv_backend; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-1] == "PASSIVE"
