"""The SBND multi-plane UResNet (larseg.models.cosmic_tagger) against the paper's Table 1, its
variants, the cross-plane link, and the focal loss (larseg.models.losses.PixelFocalLoss)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from larseg.errors import LarsegError
from larseg.models import build
from larseg.models.cosmic_tagger import CosmicTagger, CosmicTaggerConfig
from larseg.models.losses import PixelCrossEntropy, PixelFocalLoss

# Small enough for fast forwards: depth 6 needs H, W divisible by 64.
# a random (not zero) head: the gradient properties below need every path live
SMALL = CosmicTaggerConfig(filters=2, deep_filters=8, zero_init_head=False)
H, W = 64, 128

# SBND paper, Table 1 (8 initial filters): row, the module(s) it describes, parameters.
TABLE_1 = [
    ("Initial", ["stem"], 416),
    ("Down 0", ["down.0"], 2_576),
    ("Down 1", ["down.1"], 10_016),
    ("Down 2", ["down.2"], 39_488),
    ("Down 3", ["down.3"], 156_800),
    ("Down 4", ["down.4"], 624_896),
    ("Down 5", ["down.5"], 2_494_976),
    ("Bottleneck 1,536-256", ["deepest.squeeze"], 393_984),
    ("Deepest", ["deepest.blocks"], 16_391_680),
    ("Bottleneck 256-1,536", ["deepest.expand"], 397_824),
    ("Up 5", ["up.5"], 2_494_208),
    ("Up 4", ["up.4"], 624_512),
    ("Up 3", ["up.3"], 156_608),
    ("Up 2", ["up.2"], 39_392),
    ("Up 1", ["up.1"], 9_968),
    ("Bottleneck 640x1,024 (up level 0)", ["up.0"], 2_552),
    ("Final", ["head"], 57),
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def paper_model() -> CosmicTagger:
    return CosmicTagger(CosmicTaggerConfig())  # built only: no forward at 8 filters


@pytest.mark.parametrize("row, paths, expected", TABLE_1, ids=[r[0] for r in TABLE_1])
def test_table1_row_parameter_count(paper_model, row, paths, expected):
    assert sum(n_params(paper_model.get_submodule(p)) for p in paths) == expected


def test_table1_rows_cover_the_whole_model(paper_model):
    assert n_params(paper_model) == sum(r[2] for r in TABLE_1) == 23_839_953
    covered = {p for _, paths, _ in TABLE_1 for p in paths}
    top = {name.split(".")[0] for name, _ in paper_model.named_children()}
    assert top == {p.split(".")[0] for p in covered}


def _small(**kw) -> CosmicTagger:
    torch.manual_seed(0)
    return CosmicTagger(replace(SMALL, **kw))


def test_forward_shape_and_registry():
    model = build(SMALL)
    assert isinstance(model, CosmicTagger)
    torch.manual_seed(1)
    out = model(torch.rand(2, 3, H, W))
    assert out.shape == (2, 3, 3, H, W)
    assert torch.isfinite(out).all()


def test_events_of_a_batch_stay_apart():
    """The deepest block joins the planes of one event, never of two events."""
    model = _small().eval()
    x = torch.rand(2, 3, H, W)
    with torch.no_grad():
        both = model(x)
        first = model(x[:1])
    torch.testing.assert_close(both[:1], first, rtol=1e-5, atol=1e-5)


def test_bad_shapes_raise_larseg_error():
    model = _small()
    with pytest.raises(LarsegError, match=r"96 × 128.*2\*\*depth = 64"):
        model(torch.rand(1, 3, 96, 128))
    with pytest.raises(LarsegError, match=r"3 planes.*\(1, 2, 64, 128\)"):
        model(torch.rand(1, 2, H, W))
    with pytest.raises(LarsegError, match=r"\(3, 64, 128\)"):
        model(torch.rand(3, H, W))


VARIANTS = [dict(skip="concat"), dict(connect_planes=False), dict(upsample="transposed"),
            dict(residual=False), dict(head="plain"), dict(norm="plane"), dict(norm="group")]


@pytest.mark.parametrize("variant", VARIANTS,
                         ids=[",".join(f"{k}={v}" for k, v in v.items()) for v in VARIANTS])
def test_variant_trains_one_step(variant):
    model = _small(**variant)
    x = torch.rand(1, 3, H, W)
    label = torch.randint(0, 3, (1, 3, H, W))
    out = model(x)
    assert out.shape == (1, 3, 3, H, W)
    loss = PixelCrossEntropy((1.0, 1.5, 10.0))(out, label)["cross_entropy"]
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().sum() > 0) for g in grads) == len(grads)


def _plane0_grad_wrt_planes(model: CosmicTagger) -> torch.Tensor:
    model.eval()  # BatchNorm batch statistics would couple every image of the batch
    x = torch.rand(1, 3, H, W, requires_grad=True)
    model(x)[:, 0].sum().backward()
    return x.grad[0].abs().flatten(1).sum(1)


def test_blocked_planes_do_not_see_each_other():
    g = _plane0_grad_wrt_planes(_small(connect_planes=False))
    assert g[0] > 0
    assert g[1] == 0 and g[2] == 0


def test_connected_planes_see_each_other():
    g = _plane0_grad_wrt_planes(_small())
    assert g[0] > 0 and g[1] > 0 and g[2] > 0


def test_blocked_planes_are_one_shared_network():
    """Cross-plane blocked: each plane's output is that plane run alone (shared weights)."""
    model = _small(connect_planes=False).eval()
    x = torch.rand(1, 3, H, W)
    with torch.no_grad():
        together = model(x)
        for p in range(3):
            torch.testing.assert_close(together[:, p:p + 1], model(x[:, p:p + 1]),
                                       rtol=1e-5, atol=1e-5)


# Parameter-count changes of the variants, by hand, with f_k = f·2^k filters at level k < d.
def _sums(f: int, d: int) -> tuple[int, int]:
    return sum((f << k) ** 2 for k in range(d)), sum(f << k for k in range(d))


@pytest.mark.parametrize("f, d", [(8, 6), (4, 3)])
def test_variant_parameter_formulas(f, d):
    base_cfg = CosmicTaggerConfig(filters=f, depth=d, deep_filters=32)
    base = n_params(CosmicTagger(base_cfg))
    sq, lin = _sums(f, d)
    # transposed 2×2 up-convolution (2f_k -> f_k, bias, BN) instead of the 1×1 bottleneck:
    # 4× the weights, so 3 · 2f_k² more per level
    assert n_params(CosmicTagger(replace(base_cfg, upsample="transposed"))) - base == 6 * sq
    assert 6 * sq == 2 * f * f * (4 ** d - 1)
    # concat: a 1×1 merge 2f_k -> f_k with bias and BN per level
    assert n_params(CosmicTagger(replace(base_cfg, skip="concat"))) - base == 2 * sq + 3 * lin
    # non residual: each of the 2 + 2 blocks per level loses one 3×3 conv (bias) + BN
    assert base - n_params(CosmicTagger(replace(base_cfg, residual=False))) == \
        4 * (9 * sq + 3 * lin)
    # cross-plane blocked: squeeze and expand see C = f·2^d filters instead of 3C
    c, dd = f << d, 32
    assert base - n_params(CosmicTagger(replace(base_cfg, connect_planes=False))) == \
        2 * c * (2 * dd + 3)
    # plain head: 1×1 from f filters with bias, no BN
    assert base - n_params(CosmicTagger(replace(base_cfg, head="plain"))) == \
        (2 * f * 3 + 3 + 6) - (f * 3 + 3)


def test_paper_variant_counts_at_8_filters(paper_model):
    base = n_params(paper_model)
    assert base - n_params(CosmicTagger(CosmicTaggerConfig(residual=False))) == 3_151_008
    assert n_params(CosmicTagger(CosmicTaggerConfig(upsample="transposed"))) - base == 524_160


def test_full_resolution_forward():
    """Full SBND resolution, 1280 ticks × 2048 wires (H × W): one plane at width 1 keeps it near
    2 s here (the benchmark runs the paper's width at 640 × 1024)."""
    model = _small(filters=1, deep_filters=4, connect_planes=False).eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 1, 1280, 2048))
    assert out.shape == (1, 1, 3, 1280, 2048)
    assert torch.isfinite(out).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = _small().eval()
    x = torch.rand(1, 3, 640, 1024)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)
    model.train()
    out = model(x.cuda())
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ------------------------------------------------------------------ focal loss
WEIGHTS = (1.0, 1.5, 10.0)


def test_focal_gamma_0_is_cross_entropy():
    torch.manual_seed(3)
    logits = torch.randn(2, 3, 3, 8, 16) * 3
    label = torch.randint(-1, 3, (2, 3, 8, 16))
    weight = torch.rand(2, 3, 8, 16)
    for w in (None, weight):
        focal = PixelFocalLoss(WEIGHTS, gamma=0.0)(logits, label, w)["focal"]
        ce = PixelCrossEntropy(WEIGHTS)(logits, label, w)["cross_entropy"]
        assert abs(focal.item() - ce.item()) < 1e-6


def _two_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    # pixel 0: p = (1/2, 1/4, 1/4), label 0 -> p_t = 1/2; pixel 1: same p, label 2 -> p_t = 1/4
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.25], [0.25, 0.25]])
    return probs.log().reshape(1, 1, 3, 1, 2), torch.tensor([0, 2]).reshape(1, 1, 1, 2)


def test_focal_gamma_2_hand_computed():
    logits, label = _two_pixels()
    got = PixelFocalLoss(WEIGHTS)(logits, label)["focal"].item()
    # (1 · (1/2)² · ln 2 + 10 · (3/4)² · ln 4) / 2 = 5.75 ln 2
    assert got == pytest.approx(5.75 * math.log(2), abs=1e-6)
    assert PixelFocalLoss(WEIGHTS).gamma == 2.0


def test_focal_ignores_label_minus_1():
    logits, label = _two_pixels()
    extra = torch.cat([logits, torch.tensor([5.0, -3.0, 1.0]).reshape(1, 1, 3, 1, 1)], dim=-1)
    extra.requires_grad_(True)
    label3 = torch.cat([label, torch.tensor([-1]).reshape(1, 1, 1, 1)], dim=-1)
    loss = PixelFocalLoss(WEIGHTS)(extra, label3)["focal"]
    assert loss.item() == pytest.approx(5.75 * math.log(2), abs=1e-6)
    loss.backward()
    assert torch.all(extra.grad[..., 2] == 0) and extra.grad[..., :2].abs().sum() > 0


def test_focal_uses_the_batch_weight():
    logits, label = _two_pixels()
    got = PixelFocalLoss(WEIGHTS)(logits, label, torch.tensor([[[[2.0, 0.0]]]]))["focal"].item()
    assert got == pytest.approx(2 * 0.25 * math.log(2) / 2, abs=1e-6)


@pytest.mark.parametrize("head", ["plain", "table1"])
def test_zero_initialised_head_starts_at_ln3_and_learns(head):
    import math

    model = CosmicTagger(CosmicTaggerConfig(filters=2, deep_filters=8, head=head))
    x = torch.rand(1, 3, H, W)
    label = torch.randint(0, 3, (1, 3, H, W))
    out = model(x)
    assert torch.count_nonzero(out) == 0
    loss = PixelCrossEntropy((1.0, 1.0, 1.0))(out, label)["cross_entropy"]
    assert float(loss) == pytest.approx(math.log(3), rel=1e-6)
    loss.backward()
    final = model.head[1] if head == "table1" else model.head
    assert final.weight.grad.abs().sum() > 0  # the head learns from the first step


def test_inactive_background_fixes_the_logits_of_pixels_without_charge():
    from larseg.models.cosmic_tagger import INACTIVE_LOGIT

    torch.manual_seed(0)
    cfg = CosmicTaggerConfig(filters=2, deep_filters=8, zero_init_head=False)
    free = CosmicTagger(cfg).eval()
    masked = CosmicTagger(replace(cfg, inactive_background=True)).eval()
    masked.load_state_dict(free.state_dict())
    x = torch.rand(1, 3, H, W) * (torch.rand(1, 3, H, W) < 0.05)  # 5 % of the pixels lit
    a, b = free(x), masked(x)
    lit = (x > 0).unsqueeze(2).expand_as(a)
    torch.testing.assert_close(b[lit], a[lit])                        # the network's own
    dark = b.permute(0, 1, 3, 4, 2)[x == 0]                           # (pixels, classes)
    assert dark.shape[0] > 0.9 * x.numel()
    assert torch.all(dark[:, 0] == INACTIVE_LOGIT) and torch.all(dark[:, 1:] == 0)
    # training: the dark pixels add ~nothing to the loss and pass no gradient
    masked.train()
    out = masked(x)
    label = torch.zeros(1, 3, H, W, dtype=torch.long)
    ce = torch.nn.functional.cross_entropy(out.permute(0, 2, 1, 3, 4), label, reduction="none")
    assert float(ce[x == 0].max()) < 1e-7
    ce[x == 0].sum().backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in masked.parameters())


def test_init_from_fine_tunes_from_the_whole_network(tmp_path):
    """``model.init_from`` for the cosmic tagger: every tensor from weights of the same network
    (e.g. trained on an earlier calibration), checked by hash; another shape is one error."""
    from larseg.train import trainer
    from larseg.train.config import load_config
    from larseg.weights.loading import save_weights, sha256_of

    torch.manual_seed(3)
    source = CosmicTagger(SMALL)
    path = save_weights(tmp_path / "a.safetensors", source, SMALL)
    cfg = load_config(None, trainer.TrainingConfig,
                      ["model.name=cosmic_tagger", "model.filters=2", "model.deep_filters=8",
                       f"model.init_from={path}"])
    torch.manual_seed(4)
    model = CosmicTagger(replace(SMALL, init_from=str(path)))
    assert not all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     source.state_dict().values()))
    record = trainer.init_from(model, cfg)
    assert record["sha256"] == sha256_of(path) and record["tensors"] == len(source.state_dict())
    for (k, a), b in zip(model.state_dict().items(), source.state_dict().values()):
        assert torch.equal(a, b), k
    wider = replace(cfg, model=replace(cfg.model, filters=4))
    with pytest.raises(LarsegError, match="model.init_from: .*another architecture"):
        trainer.init_from(CosmicTagger(replace(SMALL, filters=4)), wider)


def test_plane_norm_keeps_each_planes_statistics_apart():
    """norm "plane": in training mode a plane's output does not depend on the other planes'
    images through the normalisation (the cross-plane block is off, so nothing else joins them),
    whereas the paper's BatchNorm mixes them; the running statistics differ per plane."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, H, W)
    y = x.clone()
    y[:, 1:] *= 5.0  # planes U and V changed, Y kept
    for norm, coupled in (("batch", True), ("plane", False)):
        model = _small(norm=norm, connect_planes=False).train()
        with torch.no_grad():
            diff = (model(x)[:, 0] - model(y)[:, 0]).abs().max()
        assert (diff > 1e-3) == coupled, (norm, float(diff))
    model = _small(norm="plane").train()
    with torch.no_grad():
        model(y)
    stem_mean = model.stem[1].bn.running_mean.reshape(3, -1)  # (planes, filters)
    assert not torch.allclose(stem_mean[0], stem_mean[1])


def test_group_norm_normalises_alike_in_training_and_evaluation():
    """GroupNorm has no running statistics: train and eval modes give the same logits."""
    model = _small(norm="group", zero_init_head=False)
    x = torch.rand(2, 3, H, W)
    with torch.no_grad():
        train_out = model.train()(x)
        eval_out = model.eval()(x)
    torch.testing.assert_close(train_out, eval_out)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_plane_norm_needs_every_plane():
    model = _small(norm="plane", connect_planes=False)
    with pytest.raises(LarsegError, match="norm 'plane'.*3 planes"):
        model(torch.rand(1, 1, H, W))
