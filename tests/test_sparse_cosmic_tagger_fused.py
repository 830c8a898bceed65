"""The sparse cosmic tagger's fused inference path (``inference="fused"``: BatchNorm folded into
each convolution, one gather-matmul each, bfloat16 under autocast) against its modules, and the
lookup-table neighbour maps it uses against the binary-search ones they replace."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from larseg.models.sparse import SparseTensor, spconv_available
from larseg.models.sparse.reference import TABLE_CELLS, strided_map, submanifold_map
from larseg.models.sparse_cosmic_tagger import SparseCosmicTagger, SparseCosmicTaggerConfig

nn = torch.nn

# tiny widths, the paper's depth (6) and deepest block (five 5×5 blocks); 64 × 128 images give a
# 1 × 2 deepest grid (zero_init_head off: the logits must depend on the input)
SMALL = SparseCosmicTaggerConfig(filters=2, deep_filters=8, backend="reference",
                                 zero_init_head=False)
MODULES_ATOL = 5e-5  # fused against the modules (assert_close_to_scale)
BACKENDS = ["reference", pytest.param("spconv", marks=pytest.mark.skipif(
    not spconv_available(), reason="spconv is not installed"))]


def random_planes(batch: int = 1, shape=(64, 128), density: float = 0.08, seed: int = 0,
                  planes: int = 3) -> list[SparseTensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(planes):
        coords = (torch.rand(batch, *shape, generator=g) < density).nonzero().to(torch.int32)
        adc = 1 + 99 * torch.rand(len(coords), generator=g)
        out.append(SparseTensor.from_pixels(coords, adc, shape, batch))
    return out


def calibrated(cfg: SparseCosmicTaggerConfig, planes: list[SparseTensor],
               seed: int = 0) -> SparseCosmicTagger:
    """A network in eval mode whose BatchNorms hold the statistics of ``planes`` (one
    training-mode pass with cumulative averages), so that folding them is not the identity."""
    torch.manual_seed(seed)
    net = SparseCosmicTagger(cfg)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    with torch.no_grad():
        net(planes)
    return net.eval()


def logits(net: SparseCosmicTagger, planes, inference: str, bf16: bool = False) -> torch.Tensor:
    net.cfg = replace(net.cfg, inference=inference)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        return torch.cat(net(planes))


def assert_close_to_scale(got: torch.Tensor, want: torch.Tensor, atol: float = 1e-5) -> None:
    """|got - want| within ``atol`` of want's largest |value| (float rounding: the fused path
    and the modules sum in other orders, and oneDNN's dense 3×3 convolutions may use Winograd's
    transform: up to ~1.3e-5 seen against spconv, so fused-vs-modules checks allow 5e-5)."""
    scale = want.abs().max()
    assert scale > 0.1
    torch.testing.assert_close(got / scale, want / scale, rtol=0, atol=atol)


def level_fills(net: SparseCosmicTagger, planes: list[SparseTensor]) -> list[float]:
    """Share of each level's grid (all images) that its active sites fill."""
    x = net.join(planes)
    coords, shape, fills = x.coords, x.spatial_shape, []
    for _ in range(net.cfg.depth):
        fills.append(len(coords) / (x.batch_size * shape[0] * shape[1]))
        m = strided_map(coords, shape, 2, 2)
        coords, shape = m.out_coords, m.out_shape
    return fills


# --------------------------------------------------------------- fused = modules
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("head", ["table1", "plain"])
@pytest.mark.parametrize("dense_fill", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("norm", ["batch", "plane"])
def test_fused_path_gives_the_modules_logits(backend, head, dense_fill, norm):
    """Same weights, eval mode: the fused path (BatchNorm folded, or per plane applied after each
    convolution; the reference backend's maps,
    the deepest block as folded dense convolutions) and the backend's modules agree to float
    rounding, on two events of three planes with different sites each; with every level on
    the masked dense grid (dense_fill 0), none (2) and the fine levels sparse, the coarse ones
    dense (0.5: the first levels fill less than half their grid, a later one more)."""
    xs = random_planes(batch=2, seed=1)
    for x, scale in zip(xs, (1.0, 0.5, 4.0)):  # unlike statistics per plane
        x.features.mul_(scale)
    net = calibrated(replace(SMALL, backend=backend, head=head, dense_fill=dense_fill,
                             norm=norm), xs)
    fills = level_fills(net, xs)
    assert fills[0] < 0.5 <= max(fills) and fills == sorted(fills)
    bn = net.down[3].blocks[0].norm1.bn
    bn = getattr(bn, "bn", bn)  # a per-plane BatchNorm's
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))  # calibrated
    want = logits(net, xs, "modules")
    got = logits(net, xs, "fused")
    assert got.shape == want.shape == (sum(x.n_sites for x in xs), 3)
    assert got.dtype == torch.float32
    assert_close_to_scale(got, want, atol=MODULES_ATOL)


def test_which_path_forward_takes():
    """Fused only in eval mode without autograd and with inference="fused"; the fused path
    fills the folded-weight cache, the modules do not."""
    xs = random_planes(seed=2)
    net = calibrated(SMALL, xs)
    assert net._folds._entries == {}  # the training-mode pass used the modules
    with torch.no_grad():
        assert net.uses_fused_path()
        net(xs)
    # stem, 6 × (4 + 4 block convs, down, upsample), deepest (squeeze, 5 × 2, expand), head
    assert len(net._folds._entries) == 1 + 6 * 10 + 12 + 1
    assert not net.uses_fused_path()  # autograd on
    out = net(xs)
    assert out[0].requires_grad
    net.train()
    with torch.no_grad():
        assert not net.uses_fused_path()
    net.eval()
    net.cfg = replace(SMALL, inference="modules")
    with torch.no_grad():
        assert not net.uses_fused_path()


def test_batched_events_equal_each_event_alone():
    """Two events in one record (3 × 2 images, one map per level for all six) give each event
    the logits it gets alone."""
    both = random_planes(batch=2, seed=3)
    net = calibrated(SMALL, both)
    joined = logits(net, both, "fused")
    per_event = []
    for e in range(2):
        one = []
        for x in both:
            keep = x.coords[:, 0] == e
            c = x.coords[keep].clone()
            c[:, 0] = 0
            one.append(SparseTensor(c, x.features[keep], x.spatial_shape, 1))
        per_event.append(logits(net, one, "fused"))
    # the batched record lists plane by plane, events inside: reorder the single-event outputs
    sizes = [[int((x.coords[:, 0] == e).sum()) for x in both] for e in range(2)]
    parts = [out.split(s) for out, s in zip(per_event, sizes)]
    want = torch.cat([torch.cat([parts[0][p], parts[1][p]]) for p in range(3)])
    assert_close_to_scale(joined, want)


def test_planes_stay_apart_outside_the_deepest_block_on_the_fused_path():
    """With the deepest block (the only place where planes meet) replaced, plane 0's logits do
    not depend on what the other planes hold: the three planes run as one batch, not mixed."""
    a, b, c = random_planes(seed=4)
    net = calibrated(SMALL, [a, b, c])
    net.deepest = nn.Identity()
    first = logits(net, [a, b, c], "fused")[:a.n_sites]
    again = logits(net, [a, c, a], "fused")[:a.n_sites]
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert_close_to_scale(first, logits(net, [a, b, c], "modules")[:a.n_sites],
                          atol=MODULES_ATOL)


def test_folded_weights_follow_a_new_state_dict_and_new_statistics():
    """The cache refolds when a source tensor changes: after load_state_dict, and after a
    training-mode pass moves the BatchNorm statistics, fused = modules again."""
    xs = random_planes(seed=5)
    net = calibrated(SMALL, xs, seed=0)
    before = logits(net, xs, "fused")
    other = calibrated(SMALL, random_planes(seed=6), seed=1)
    net.load_state_dict(other.state_dict())
    after = logits(net, xs, "fused")
    assert (after - before).abs().max() > 1e-2
    assert_close_to_scale(after, logits(net, xs, "modules"), atol=MODULES_ATOL)
    net.train()
    with torch.no_grad():
        net(random_planes(seed=7))
    net.eval()
    assert_close_to_scale(logits(net, xs, "fused"), logits(net, xs, "modules"), atol=MODULES_ATOL)


def test_bf16_autocast_runs_the_fused_path_in_bfloat16_and_keeps_the_classes():
    """Under CPU autocast the matrix products run in bfloat16: the logits (returned as float32)
    move by bfloat16 rounding, and the predicted class agrees with float32 on at least 99 % of
    the sites. The BatchNorm statistics come from a batch of four larger images: statistics
    of the few sites of one small image's deepest levels (a 1 × 2 grid here) are degenerate,
    and folding their large scales into bfloat16 weights costs agreement (85-99.5 % in trials
    at widths 2-8)."""
    net = calibrated(SMALL, random_planes(batch=4, shape=(128, 256), seed=50, density=0.15))
    xs = random_planes(batch=2, seed=8, density=0.15)
    fp32 = logits(net, xs, "fused")
    bf16 = logits(net, xs, "fused", bf16=True)
    assert bf16.dtype == torch.float32
    err = (bf16 - fp32).abs() / fp32.abs().max()
    assert err.max() > 1e-4  # really bfloat16 (8 bits of mantissa) ...
    assert err.mean() < 5e-3  # ... and no more than its rounding
    agree = (bf16.argmax(1) == fp32.argmax(1)).double().mean().item()
    assert agree >= 0.99


def test_fused_path_on_a_simulated_sbnd_event(simulated_files):
    """At the paper's 50 % resolution (3 × 640 × 1024) the maps come from the lookup table:
    fused = modules on a real simulated event."""
    from larseg.data import SparseDataset
    from larseg.io import open_events

    item = SparseDataset(open_events(simulated_files["sbnd"]), downsample=2, pool="mean")[0]
    xs = [SparseTensor.from_pixels(c, f, s, 1)
          for c, f, s in zip(item["coords"], item["features"], item["shape"])]
    assert [x.spatial_shape for x in xs] == [(640, 1024)] * 3
    assert 3 * 640 * 1024 + 6 * (640 + 1024) < TABLE_CELLS
    net = calibrated(replace(SMALL, deep_blocks=2), xs)
    assert_close_to_scale(logits(net, xs, "fused"), logits(net, xs, "modules"), atol=MODULES_ATOL)


# --------------------------------------------------------------- lookup-table maps
def random_sites(seed: int, batch: int, h: int, w: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c = torch.stack([torch.randint(0, batch, (n,), generator=g),
                     torch.randint(0, h, (n,), generator=g),
                     torch.randint(0, w, (n,), generator=g)], dim=1)
    c = torch.unique(c, dim=0)
    return c[torch.randperm(len(c), generator=g)].to(torch.int32)


@pytest.mark.parametrize("seed", range(6))
def test_table_maps_equal_the_binary_search_maps(seed):
    """The lookup table (the default on these grids) and the sorted-keys search
    (``table_cells=0``) give the same submanifold rows and the same strided map (output sites
    in key order, down and up rows), on shuffled sites, odd sizes and edges."""
    g = torch.Generator().manual_seed(100 + seed)
    batch, h, w = (int(torch.randint(1, 4, (1,), generator=g)),
                   int(torch.randint(3, 19, (1,), generator=g)),
                   int(torch.randint(3, 19, (1,), generator=g)))
    coords = random_sites(seed, batch, h, w, n=int(torch.randint(1, 150, (1,), generator=g)))
    for kernel in (1, 3, 5, 7):
        table = submanifold_map(coords, (h, w), kernel)
        assert table.dtype == torch.long and table.shape == (len(coords), kernel ** 2)
        assert torch.equal(table, submanifold_map(coords, (h, w), kernel, table_cells=0))
    for kernel, stride in ((2, 2), (3, 2), (3, 3), (2, 1)):
        a = strided_map(coords, (h, w), kernel, stride)
        b = strided_map(coords, (h, w), kernel, stride, table_cells=0)
        assert a.out_shape == b.out_shape
        for name in ("out_coords", "down", "up"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (kernel, stride, name)


def test_table_map_by_hand():
    """Three sites in a row: each one's 3×3 neighbours, row N (= 3) where none is active."""
    coords = torch.tensor([[0, 1, 1], [0, 1, 2], [0, 2, 2]], dtype=torch.int32)
    rows = submanifold_map(coords, (4, 4), 3)
    n = 3
    assert rows.tolist() == [[n, n, n, n, 0, 1, n, n, 2],
                             [n, n, n, 0, 1, n, n, 2, n],
                             [0, 1, n, n, 2, n, n, n, n]]
    m = strided_map(coords, (4, 4), 2, 2)
    assert m.out_coords.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 1]]
    # output (0, 1) reads input (1, 2) at window position (1, 0); (1, 1) reads (2, 2) at (0, 0)
    assert m.down.tolist() == [[n, n, n, 0], [n, n, 1, n], [2, n, n, n]]
    assert m.up.tolist() == [[3, 3, 3, 0], [3, 3, 1, 3], [2, 3, 3, 3]]
