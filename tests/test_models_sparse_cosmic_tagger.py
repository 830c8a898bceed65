"""The sparse SBND cosmic tagger (larseg.models.sparse_cosmic_tagger): the forward contract (per
plane, on the input's pixels in their order), shared weights, the cross-plane link at the
deepest level only, equality with a dense network on a fully active image, the parameter count,
and one state dict on both backends."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.cosmic_tagger import CosmicTagger, CosmicTaggerConfig, norm_factory
from larseg.models.sparse import SparseTensor, spconv_available
from larseg.models.sparse_cosmic_tagger import SparseCosmicTagger, SparseCosmicTaggerConfig

nn = torch.nn

# Tiny widths, the paper's depth (6) and deepest block (five 5×5 blocks): 64 × 128 images give a
# 1 × 2 deepest grid.
# (zero_init_head off: the tests look at how the logits depend on the input)
SMALL = SparseCosmicTaggerConfig(filters=2, deep_filters=8, backend="reference",
                                 zero_init_head=False)
H, W = 64, 128


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def random_planes(batch: int = 1, shape=(H, W), density: float = 0.05, seed: int = 0,
                  planes: int = 3) -> list[SparseTensor]:
    """``planes`` sparse images of ``batch`` events, a different set of sites each, ADC 1-100."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(planes):
        active = torch.rand(batch, *shape, generator=g) < density
        coords = active.nonzero().to(torch.int32)
        adc = 1 + 99 * torch.rand(len(coords), generator=g)
        out.append(SparseTensor.from_pixels(coords, adc, shape, batch))
    return out


def _small(**kw) -> SparseCosmicTagger:
    torch.manual_seed(0)
    return SparseCosmicTagger(replace(SMALL, **kw))


def test_defaults_follow_the_dense_network_and_registry_builds_it():
    cfg = SparseCosmicTaggerConfig()
    dense = CosmicTaggerConfig()
    fields = ("n_classes", "planes", "filters", "depth", "blocks_per_level", "deep_filters",
              "deep_blocks", "deep_kernel", "head")
    assert [getattr(cfg, f) for f in fields] == [getattr(dense, f) for f in fields]
    assert (cfg.name, cfg.backend, cfg.adc_min, cfg.adc_max) == \
        ("sparse_cosmic_tagger", "auto", None, None)
    assert cfg.dense() == dense
    net = build(SMALL)
    assert isinstance(net, SparseCosmicTagger) and net.backend == "reference"
    assert net.input_kind == "sparse"


def test_logits_per_plane_on_the_input_pixels_in_their_order():
    net = _small().eval()
    xs = random_planes(batch=2, seed=1)
    assert len({x.n_sites for x in xs}) == 3
    with torch.no_grad():
        out = net(xs)
        assert [tuple(o.shape) for o in out] == [(x.n_sites, 3) for x in xs]
        assert all(torch.isfinite(o).all() for o in out)
        # shuffling one plane's rows shuffles its logits alike and changes nothing else
        perm = torch.randperm(xs[1].n_sites, generator=torch.Generator().manual_seed(0))
        shuffled = SparseTensor(xs[1].coords[perm], xs[1].features[perm], xs[1].spatial_shape, 2)
        again = net([xs[0], shuffled, xs[2]])
    torch.testing.assert_close(again[1], out[1][perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again[0], out[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again[2], out[2], rtol=1e-5, atol=1e-5)


def test_any_image_size_and_empty_planes():
    """The bound is rounded up to 2^depth (no site lost at an odd edge); an empty plane gets an
    empty logits tensor, an empty batch gives empty logits on every plane."""
    net = _small().eval()
    xs = random_planes(shape=(37, 50), density=0.2, seed=2)
    empty = SparseTensor(torch.zeros((0, 3), dtype=torch.int32), torch.zeros((0, 1)), (37, 50), 1)
    with torch.no_grad():
        out = net([xs[0], empty, xs[2]])
        assert [tuple(o.shape) for o in out] == [(xs[0].n_sites, 3), (0, 3), (xs[2].n_sites, 3)]
        assert [tuple(o.shape) for o in net([empty] * 3)] == [(0, 3)] * 3


def test_bad_inputs_raise_larseg_error():
    net = _small()
    xs = random_planes()
    with pytest.raises(LarsegError, match="3 planes at the deepest level, got 2"):
        net(xs[:2])
    with pytest.raises(LarsegError, match=r"batch sizes differ: \[1, 2, 1\]"):
        net([xs[0], random_planes(batch=2)[1], xs[2]])


def test_planes_share_one_set_of_weights():
    """No module per plane: outside the deepest block the parameters do not depend on the
    number of planes, and with the deepest block (where the planes meet) replaced by the
    identity, permuting the input planes permutes the outputs — one network for all planes."""
    per_plane = {p: n_params(_small(planes=p)) - n_params(_small(planes=p).deepest)
                 for p in (1, 2, 3)}
    assert per_plane[1] == per_plane[2] == per_plane[3]
    c, d = 2 << 6, 8  # deepest: C = f·2^6 filters per plane, squeeze/expand P·C <-> d
    assert n_params(_small(planes=3).deepest) - n_params(_small(planes=1).deepest) == \
        2 * c * (2 * d + 3)
    net = _small().eval()
    net.deepest = nn.Identity()
    a, b, c3 = random_planes(seed=3)
    with torch.no_grad():
        out = net([a, b, c3])
        rolled = net([c3, a, b])
    for got, want in zip(rolled, [out[2], out[0], out[1]]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def _plane0_grad(net: SparseCosmicTagger, batch: int = 1) -> list[torch.Tensor]:
    """|d(sum of plane 0's logits of event 0) / d(input ADC)| per plane and site."""
    net.eval()  # BatchNorm batch statistics would couple every image of the batch
    xs = [x.with_features(x.features.clone().requires_grad_(True))
          for x in random_planes(batch=batch, seed=4, density=0.08)]
    out = net(xs)
    out[0][xs[0].coords[:, 0] == 0].sum().backward()
    return [x.features.grad.abs()[:, 0] for x in xs]


def test_plane_0_sees_the_other_planes_through_the_deepest_level_only():
    g = _plane0_grad(_small())
    assert all(gp.sum() > 0 for gp in g)
    blocked = _small()
    blocked.deepest = nn.Identity()  # the deepest block is the only place where planes meet
    g = _plane0_grad(blocked)
    assert g[0].sum() > 0
    assert torch.all(g[1] == 0) and torch.all(g[2] == 0)


def test_events_of_a_batch_stay_apart():
    """The deepest block joins the planes of one event, never of two events."""
    xs = random_planes(batch=2, seed=5, density=0.08)
    net = _small()
    net.eval()
    xs = [x.with_features(x.features.clone().requires_grad_(True)) for x in xs]
    out = net(xs)
    out[0][xs[0].coords[:, 0] == 0].sum().backward()
    for x in xs:
        event = x.coords[:, 0]
        assert x.features.grad[event == 0].abs().sum() > 0
        assert torch.all(x.features.grad[event == 1] == 0)


# --------------------------------------------------------------- equality with a dense network
EQ = SparseCosmicTaggerConfig(filters=2, depth=3, deep_filters=4, deep_blocks=2,
                              zero_init_head=False)
EQ_H, EQ_W = 16, 24   # divisible by 2^3; not square, so that a transposed layout shows


def dense_twin(cfg: SparseCosmicTaggerConfig) -> CosmicTagger:
    """The dense cosmic tagger whose layers correspond one to one with the sparse network's:
    transposed 2×2 upsampling (the inverse convolution on a full grid) and, in place of each
    down level's max-pool and 1×1 bottleneck, a 2×2 stride-2 conv-BN-LeakyReLU (the strided
    sparse convolution on a full grid). Everything else is the dense network unchanged."""
    dense_cfg = replace(cfg.dense(), upsample="transposed", zero_init_head=False)
    net = CosmicTagger(dense_cfg)
    norm = norm_factory(dense_cfg)
    for k, level in enumerate(net.down):
        c = cfg.filters << k
        level.pool = nn.Identity()
        level.widen = nn.Sequential(nn.Conv2d(c, 2 * c, 2, stride=2), norm(2 * c),
                                    nn.LeakyReLU())
    return net


@torch.no_grad()
def load_dense(sparse: SparseCosmicTagger, dense: CosmicTagger) -> None:
    """Copy the dense twin's weights into the sparse network. Convolution weights go from
    torch's (C_out, C_in, kh, kw) (transposed: (C_in, C_out, kh, kw)) to the backends'
    (C_out, kh, kw, C_in). The sparse convolutions before a BatchNorm have no bias: the dense
    bias b is folded into the BatchNorm's running mean (mean - b), exact in eval mode; in
    training mode the batch mean absorbs it anyway. A per-plane BatchNorm (``norm="plane"``)
    has one BatchNorm of P × c channels on both sides, in the same layout."""

    def pair(s_conv, s_bn, d_conv, d_bn, transposed=False):
        s_bn, d_bn = getattr(s_bn, "bn", s_bn), getattr(d_bn, "bn", d_bn)
        w = d_conv.weight
        if isinstance(s_conv, nn.Linear):
            s_conv.weight.copy_(w.reshape(w.shape[0], w.shape[1]))
        else:
            s_conv.weight.copy_(w.permute(1, 2, 3, 0) if transposed else w.permute(0, 2, 3, 1))
        assert getattr(s_conv, "bias", None) is None
        for name in ("weight", "bias", "running_var", "num_batches_tracked"):
            getattr(s_bn, name).copy_(getattr(d_bn, name))
        planes = d_bn.running_mean.numel() // d_conv.bias.numel()  # per-plane: P × c
        s_bn.running_mean.copy_(d_bn.running_mean - d_conv.bias.repeat(planes))

    def blocks(s_blocks, d_blocks):
        assert len(s_blocks) == len(d_blocks)
        for s, d in zip(s_blocks, d_blocks):
            pair(s.conv1, s.norm1.bn, d.conv1, d.bn1)
            pair(s.conv2, s.norm2, d.conv2, d.bn2)

    pair(sparse.stem[0], sparse.stem[1].bn, dense.stem[0], dense.stem[1])
    for s, d in zip(sparse.down, dense.down):
        blocks(s.blocks, d.blocks)
        pair(s.down[0], s.down[1].bn, d.widen[0], d.widen[1])
    sparse.deepest.load_state_dict(dense.deepest.state_dict())
    for s, d in zip(sparse.up, dense.up):
        pair(s.upsample[0], s.upsample[1].bn, d.upsample[0], d.upsample[1], transposed=True)
        blocks(s.blocks, d.blocks)
    pair(sparse.head[0], sparse.head[1], dense.head[0], dense.head[1])


def full_grid(image: torch.Tensor) -> list[SparseTensor]:
    """Every pixel of a dense (B, P, H, W) image active (zero ADC included), row-major."""
    b, p, h, w = image.shape
    coords = torch.cartesian_prod(torch.arange(b), torch.arange(h), torch.arange(w))
    return [SparseTensor(coords.to(torch.int32), image[:, k].reshape(-1, 1), (h, w), b)
            for k in range(p)]


# planes of different ADC scales (Y's is the largest, as in SBND), so that statistics per plane
# differ from shared ones
PLANE_SCALE = torch.tensor([100.0, 60.0, 400.0])[:, None, None]

BACKENDS = ["reference", pytest.param("spconv", marks=pytest.mark.skipif(
    not spconv_available(), reason="spconv is not installed"))]


@pytest.mark.parametrize("norm", ["batch", "plane"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fully_active_image_equals_the_dense_twin(backend, norm):
    """On an image whose every pixel is active, each submanifold convolution is a dense
    convolution with zero padding, the strided and inverse convolutions are Conv2d and
    ConvTranspose2d with stride 2, and the sparse BatchNorms see every pixel: the whole sparse
    network equals its dense twin (:func:`dense_twin`: the dense cosmic tagger whose down steps
    are strided convolutions) with the same weights, through the stem, every level, the dense
    deepest block, the additive skips and the head. The dense network's max-pool + 1×1 down
    step has no sparse counterpart, which is why the twin replaces it; all other layers are the
    dense network's own. Checked in eval mode (BatchNorm running statistics made non-default
    first) and in training mode (batch statistics); with the paper's BatchNorm and with
    statistics per plane (``norm="plane"``, the dense network's PlaneBatchNorm2d)."""
    cfg = replace(EQ, norm=norm)
    torch.manual_seed(0)
    dense = dense_twin(cfg)
    dense.train()
    with torch.no_grad():
        for seed in (1, 2):  # running statistics away from (0, 1)
            dense(PLANE_SCALE * torch.rand(2, 3, EQ_H, EQ_W,
                                           generator=torch.Generator().manual_seed(seed)))
    torch.manual_seed(3)
    sparse = SparseCosmicTagger(replace(cfg, backend=backend))
    load_dense(sparse, dense)
    image = PLANE_SCALE * torch.rand(2, 3, EQ_H, EQ_W, generator=torch.Generator().manual_seed(4))
    image[0, 1, :4] = 0.0  # a zero-ADC site is still an active site

    def compare():
        with torch.no_grad():
            want = dense(image)
            got = sparse(full_grid(image))
        scale = want.abs().max()
        assert scale > 0.1
        for p in range(3):
            ref = want[:, p].permute(0, 2, 3, 1).reshape(-1, EQ.n_classes)
            torch.testing.assert_close(got[p] / scale, ref / scale, rtol=0, atol=2e-5)

    dense.eval(), sparse.eval()
    compare()
    dense.train(), sparse.train()
    compare()


def test_plane_batch_norm_is_one_batch_norm_per_plane():
    """PlaneSparseBatchNorm on a record of P = 3 planes (image b·P + p) normalises each plane's
    sites by their own batch statistics and updates plane p's slice of the running statistics
    only as a BatchNorm1d of that plane would; a plane with one site uses its running ones."""
    from larseg.models.sparse import PlaneSparseBatchNorm

    g = torch.Generator().manual_seed(0)
    images = torch.tensor([0, 1, 2, 3, 4, 0, 1, 4, 3])  # 2 events × 3 planes; plane 2: one site
    feats = torch.randn(len(images), 4, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0])
    coords = torch.stack([images, torch.arange(len(images)), torch.zeros_like(images)], 1)
    x = SparseTensor(coords.to(torch.int32), feats, (16, 1), 6)
    norm = PlaneSparseBatchNorm(4, 3)
    with torch.no_grad():
        norm.bn.weight.copy_(torch.rand(12, generator=g) + 0.5)
        norm.bn.bias.copy_(torch.randn(12, generator=g))
    refs = [nn.BatchNorm1d(4) for _ in range(3)]
    for p, ref in enumerate(refs):
        ref.load_state_dict({k: (v[p * 4:(p + 1) * 4] if v.dim() else v)
                             for k, v in norm.bn.state_dict().items()})
    out = norm(x).features
    plane = images % 3
    for p in (0, 1):
        torch.testing.assert_close(out[plane == p], refs[p](feats[plane == p]))
        torch.testing.assert_close(norm.bn.running_mean[p * 4:(p + 1) * 4], refs[p].running_mean)
        torch.testing.assert_close(norm.bn.running_var[p * 4:(p + 1) * 4], refs[p].running_var)
    refs[2].eval()
    torch.testing.assert_close(out[plane == 2], refs[2](feats[plane == 2]))
    assert torch.equal(norm.bn.running_mean[8:], torch.zeros(4))  # one site: not updated
    assert int(norm.bn.num_batches_tracked) == 1
    norm.eval()
    torch.testing.assert_close(norm(x).features[plane == 0], refs[0].eval()(feats[plane == 0]))


# --------------------------------------------------------------- parameter count
def test_parameter_count_by_hand():
    # filters 2, depth 1, one block per level, deepest: 4 filters, one 3×3 block, 3 planes.
    # Convolutions before a BatchNorm have no bias; BatchNorm: 2 per channel.
    stem = 7 * 7 * 1 * 2 + 2 * 2                      # 102
    block2 = 2 * (3 * 3 * 2 * 2 + 2 * 2)              # 80: two 3×3 convs 2 -> 2, two BN
    down = 2 * 2 * 2 * 4 + 2 * 4                      # 40: 2×2 stride-2 conv 2 -> 4, BN
    up = 2 * 2 * 4 * 2 + 2 * 2                        # 36: inverse conv 4 -> 2, BN
    # dense deepest block (its convolutions have biases): 3 planes × 4 = 12 filters joined
    squeeze = 12 * 4 + 4 + 2 * 4                      # 60
    deep = 2 * (3 * 3 * 4 * 4 + 4 + 2 * 4)            # 312
    expand = 4 * 12 + 12 + 2 * 12                     # 84
    head = 4 * 3 + 2 * 3                              # 18: 1×1 from 2 + 2 filters, BN
    net = SparseCosmicTagger(SparseCosmicTaggerConfig(
        filters=2, depth=1, blocks_per_level=1, deep_filters=4, deep_blocks=1, deep_kernel=3,
        backend="reference"))
    assert n_params(net.stem) == stem
    assert n_params(net.down[0]) == block2 + down
    assert n_params(net.deepest) == squeeze + deep + expand
    assert n_params(net.up[0]) == up + block2
    assert n_params(net.head) == head
    assert n_params(net) == 812 == stem + 2 * block2 + down + up + squeeze + deep + expand + head
    # the plain head: 1×1 from the 2 filters, with bias
    assert n_params(SparseCosmicTagger(replace(net.cfg, head="plain"))) == 812 - 18 + 2 * 3 + 3


def test_paper_width_count_against_table_1():
    """At 8 filters, relative to the dense network's 23,839,953 (Table 1), per level k
    (c = 8·2^k): the strided 2×2 conv (8c² + 4c) replaces max-pool + 1×1 conv-BN (2c² + 6c),
    the inverse 2×2 conv (8c² + 2c) the 1×1 conv-BN after the interpolation (2c² + 3c), and the
    8 convolutions of the level's four residual blocks lose their biases (8c); the stem and
    the head lose theirs (8 and 3)."""
    extra = sum(12 * c * c - 11 * c for c in (8 << k for k in range(6))) - 8 - 3
    assert extra == 1_042_765
    assert n_params(SparseCosmicTagger(SparseCosmicTaggerConfig(backend="reference"))) == \
        23_839_953 + extra == 24_882_718


# --------------------------------------------------------------- training and backends
def test_one_training_step_reaches_every_parameter():
    net = _small()
    xs = random_planes(batch=2, seed=6, density=0.08)
    g = torch.Generator().manual_seed(7)
    labels = [torch.randint(0, 3, (x.n_sites,), generator=g) for x in xs]
    out = net(xs)
    # SBND paper, section 7: mild weights, averaged over the pixels of all planes
    loss = nn.functional.cross_entropy(torch.cat(out), torch.cat(labels),
                                       weight=torch.tensor([1.0, 1.5, 10.0]))
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert all(gr.abs().sum() > 0 for gr in grads)


@pytest.fixture(scope="module")
def sbnd_planes(simulated_files):
    """The three planes of a simulated SBND cosmics+neutrino event at the paper's 50 %
    resolution (640 × 1024, ADC averaged, labels max-pooled)."""
    from larseg.data import SparseDataset
    from larseg.io import open_events

    item = SparseDataset(open_events(simulated_files["sbnd"]), downsample=2, pool="mean")[0]
    return [SparseTensor.from_pixels(c, f, s, 1)
            for c, f, s in zip(item["coords"], item["features"], item["shape"])]


def test_one_state_dict_gives_the_same_logits_on_both_backends(sbnd_planes):
    pytest.importorskip("spconv")
    assert [x.spatial_shape for x in sbnd_planes] == [(640, 1024)] * 3
    assert all(x.n_sites > 1000 for x in sbnd_planes)
    cfg = replace(SMALL, deep_blocks=2, inference="modules")  # each backend's own modules
    torch.manual_seed(1)
    sp = SparseCosmicTagger(replace(cfg, backend="spconv"))
    torch.manual_seed(2)  # another initialisation: the state dict must overwrite all of it
    ref = SparseCosmicTagger(cfg)
    assert (sp.backend, ref.backend) == ("spconv", "reference")
    with torch.no_grad():
        sp(sbnd_planes)  # a training-mode pass: BatchNorm running statistics not the defaults
    ref.load_state_dict(sp.state_dict())  # strict: the same keys and shapes
    sp.eval(), ref.eval()
    with torch.no_grad():
        a, b = sp(sbnd_planes), ref(sbnd_planes)
    for p, q, x in zip(a, b, sbnd_planes):
        assert p.shape == (x.n_sites, 3)
        scale = p.abs().max()
        assert scale > 0.1
        torch.testing.assert_close(p / scale, q / scale, rtol=0, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_on_the_reference_backend():
    net = _small().eval()
    xs = random_planes(batch=2, seed=8, density=0.08)
    with torch.no_grad():
        cpu = net(xs)
        gpu = net.cuda()([SparseTensor(x.coords.cuda(), x.features.cuda(), x.spatial_shape, 2)
                          for x in xs])
    for a, b in zip(gpu, cpu):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("head", ["plain", "table1"])
def test_zero_initialised_head_starts_at_zero_logits_and_learns(head):
    net = SparseCosmicTagger(replace(SMALL, head=head, zero_init_head=True))
    out = net(random_planes())
    assert all(torch.count_nonzero(o) == 0 for o in out) and sum(len(o) for o in out) > 0
    sum((o * torch.randn_like(o)).sum() for o in out).backward()
    final = net.head[1] if head == "table1" else net.head
    assert final.weight.grad.abs().sum() > 0  # the head learns from the first step
