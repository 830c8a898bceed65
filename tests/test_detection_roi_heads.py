"""sMask-RCNN's ROI heads (larseg.models.detection.roi_heads): head shapes, proposal sampling,
the FPN level rule, mask targets against their definition, the losses (finite and zero-safe
without ground truth, class weights of 0 removing a class), post-processing (score threshold,
per-class NMS, the cap per image, clipping) and mask pasting at full resolution."""

from __future__ import annotations

import math

import pytest
import torch

from larseg.models.detection.boxes import BoxCoder
from larseg.models.detection.matcher import BalancedSampler, Matcher
from larseg.models.detection.roi_heads import (BoxHead, MaskHead, RoIHeads, RoIHeadsConfig,
                                               assign_levels, bilinear_mask_targets, box_losses,
                                               dilate, mask_loss, overlap_mask_targets,
                                               paste_masks, postprocess_detections,
                                               sample_proposals)

SMALL = RoIHeadsConfig(representation=32, mask_channels=8, mask_convs=2)
SIZE = (64, 96)


def heads(cfg: RoIHeadsConfig = SMALL, channels: int = 4, seed: int = 0) -> RoIHeads:
    torch.manual_seed(seed)
    return RoIHeads(cfg, channels, [8])


def features(channels: int = 4, batch: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"0": torch.randn(batch, channels, SIZE[0] // 8, SIZE[1] // 8, generator=g)}


def target(boxes: list[list[int]], labels: list[int]) -> dict[str, torch.Tensor]:
    """Boxes (end exclusive) whose masks are a one-pixel diagonal-ish track inside each box."""
    masks = torch.zeros(len(boxes), *SIZE, dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        for c in range(x1, x2):  # a line from the top-left to the bottom-right corner
            r = y1 + (c - x1) * (y2 - 1 - y1) // max(x2 - 1 - x1, 1)
            masks[k, r, c] = True
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.long), "masks": masks}


def no_target() -> dict[str, torch.Tensor]:
    return {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
            "masks": torch.zeros(0, *SIZE, dtype=torch.bool)}


def jittered(box: list[int], n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(box, dtype=torch.float32) + torch.randn(n, 4, generator=g)


# ---------------------------------------------------------------------------- shapes
def test_head_shapes():
    box = BoxHead(4 * 7 * 7, 32, 6)
    logits, deltas = box(torch.randn(5, 4, 7, 7))
    assert logits.shape == (5, 7) and deltas.shape == (5, 24)
    mask = MaskHead(4, 8, 4, 6)
    assert mask(torch.randn(3, 4, 14, 14)).shape == (3, 6, 28, 28)
    assert mask(torch.randn(0, 4, 14, 14)).shape == (0, 6, 28, 28)
    # the paper's (Detectron's) head: two FC layers of 1024 on 7 × 7 ROIs
    cfg = RoIHeadsConfig()
    assert (cfg.box_roi_size, cfg.representation, cfg.mask_roi_size) == (7, 1024, 14)
    assert (cfg.batch_size_per_image, cfg.positive_fraction, cfg.fg_iou) == (512, 0.25, 0.5)
    assert cfg.class_weights == (1.0, 20.0, 0.0, 0.0, 0.0, 0.0) and cfg.score_threshold == 0.4


def test_forward_modes_and_output_shapes():
    h = heads()
    props = [jittered([8, 8, 40, 24], 20, 0), jittered([50, 30, 90, 60], 10, 1)]
    targets = [target([[8, 8, 40, 24]], [0]), target([[50, 30, 90, 60]], [1])]
    h.train()
    losses = h(features(), props, [SIZE, SIZE], targets)
    assert set(losses) == {"roi_class", "roi_box", "roi_mask"}
    assert all(v.ndim == 0 and torch.isfinite(v) and v > 0 for v in losses.values())
    h.eval()
    out = h(features(), props, [SIZE, SIZE])
    assert len(out) == 2
    for d in out:
        n = len(d["boxes"])
        assert d["boxes"].shape == (n, 4) and d["scores"].shape == (n,)
        assert d["labels"].shape == (n,) and d["masks"].shape == (n, *SIZE)
        assert d["masks"].dtype == torch.bool


# -------------------------------------------------------------------------- sampling
def test_sampling_adds_ground_truth_and_caps_positives():
    gt = torch.tensor([[10.0, 10, 50, 30]])
    props = torch.cat([jittered([10, 10, 50, 30], 300, 2),           # IoU well above 0.5
                       torch.tensor([[60.0, 40, 90, 60]]).repeat(400, 1)])  # background
    torch.manual_seed(0)
    s = sample_proposals(props, gt, torch.tensor([2]), Matcher(0.5, 0.5, False),
                         BalancedSampler(512, 0.25))
    fg = s.labels > 0
    assert len(s.labels) == 512 and int(fg.sum()) == 128  # 25 % of 512
    assert set(s.labels[fg].tolist()) == {3}              # InstanceClass 2 -> head class 3
    assert bool((s.labels[:128] > 0).all())               # foreground first
    # with few candidates, the ground truth box itself is a foreground proposal
    s = sample_proposals(torch.tensor([[60.0, 40, 90, 60]]), gt, torch.tensor([0]),
                         Matcher(0.5, 0.5, False), BalancedSampler(512, 0.25))
    assert s.labels.tolist() == [1, 0] and s.boxes[0].tolist() == gt[0].tolist()


def test_fpn_level_rule():
    strides = (4, 8, 16, 32)
    boxes = torch.tensor([[0.0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 448, 448],
                          [0, 0, 8, 8], [0, 0, 4000, 4000], [0, 0, 2000, 25]])
    # k = floor(4 + log2(sqrt(wh) / 224)); level k has stride 2^k, clamped to 2..5
    want = [4, 3, 5, 2, 5, math.floor(4 + math.log2(math.sqrt(2000 * 25) / 224))]
    assert [strides[i] for i in assign_levels(boxes, strides).tolist()] == [2 ** k for k in want]
    assert assign_levels(boxes, (16,)).tolist() == [0] * 6


# ---------------------------------------------------------------------- mask targets
def brute_overlap(mask: torch.Tensor, box: list[float], size: int) -> torch.Tensor:
    """The definition, cell by cell and pixel by pixel."""
    x1, y1, x2, y2 = box
    bw, bh = (x2 - x1) / size, (y2 - y1) / size
    out = torch.zeros(size, size)
    for r, c in torch.nonzero(mask).tolist():
        for i in range(size):
            for j in range(size):
                ox = min(c + 1, x1 + (j + 1) * bw) - max(c, x1 + j * bw)
                oy = min(r + 1, y1 + (i + 1) * bh) - max(r, y1 + i * bh)
                if ox > 1e-9 and oy > 1e-9:
                    out[i, j] = 1.0
    return out


@pytest.mark.parametrize("box", [[3.0, 2.0, 17.0, 12.0], [4.3, 1.7, 9.9, 13.2],
                                 [0.0, 0.0, 5.0, 3.0], [6.5, 5.5, 30.0, 8.0]])
def test_overlap_mask_targets_match_their_definition(box):
    g = torch.Generator().manual_seed(3)
    masks = torch.rand(2, 16, 24, generator=g) > 0.8
    want = brute_overlap(masks[1], box, 6)
    got = overlap_mask_targets(masks, torch.tensor([1]), torch.tensor([box]), 6)
    assert got.shape == (1, 6, 6)
    assert torch.equal(got[0], want)


def test_thin_track_survives_overlap_target_not_bilinear():
    """A one-pixel diagonal track across a 280 × 280 box (10 × 10 pixels per cell): every cell
    it crosses is on with "overlap"; the bilinear average leaves it below one half everywhere
    (the module doc's reason)."""
    masks = torch.zeros(1, 300, 300, dtype=torch.bool)
    d = torch.arange(10, 290)
    masks[0, d, d] = True
    box = torch.tensor([[10.0, 10.0, 290.0, 290.0]])
    over = overlap_mask_targets(masks, torch.tensor([0]), box, 28)
    soft = bilinear_mask_targets(masks, torch.tensor([0]), box, 28)
    assert torch.equal(over[0], torch.eye(28))
    assert float(soft.max()) < 0.5
    assert float(bilinear_mask_targets(torch.ones(1, 10, 10, dtype=torch.bool),
                                       torch.tensor([0]),
                                       torch.tensor([[2.0, 2, 8, 8]]), 4).min()) == 1.0


@pytest.mark.parametrize("n", [0, 1, 2])
def test_dilation_grows_targets_by_whole_cells(n):
    g = torch.Generator().manual_seed(6)
    cells = (torch.rand(2, 9, 9, generator=g) > 0.9).float()
    got = dilate(cells, n)
    on = torch.nonzero(cells).tolist()
    want = torch.zeros_like(cells)
    for p, i, j in on:
        want[p, max(i - n, 0):i + n + 1, max(j - n, 0):j + n + 1] = 1.0
    assert torch.equal(got, want)
    # the heads apply it to their "overlap" targets
    h = heads(RoIHeadsConfig(representation=32, mask_channels=8, mask_dilation=n))
    masks = torch.zeros(1, 40, 40, dtype=torch.bool)
    masks[0, torch.arange(28), torch.arange(28)] = True
    t = h._mask_targets(masks, torch.tensor([0]), torch.tensor([[0.0, 0, 28, 28]]))
    assert torch.equal(t[0], dilate(torch.eye(28)[None], n)[0])


# ---------------------------------------------------------------------------- losses
def test_losses_zero_safe_without_ground_truth():
    h = heads()
    h.train()
    props = [jittered([8, 8, 40, 24], 20, 0), torch.zeros(0, 4)]
    losses = h(features(), props, [SIZE, SIZE], [no_target(), no_target()])
    assert float(losses["roi_box"].detach()) == 0.0
    assert float(losses["roi_mask"].detach()) == 0.0
    assert torch.isfinite(losses["roi_class"]) and float(losses["roi_class"].detach()) > 0
    sum(losses.values()).backward()
    for name, p in h.named_parameters():
        assert p.grad is not None, name  # every head stays in the graph (DDP needs it)
        assert bool(torch.isfinite(p.grad).all()), name
    assert float(h.mask_head.logits.weight.grad.abs().sum()) == 0.0


def test_zero_class_weight_removes_the_class():
    """A proposal of a class of weight 0 changes nothing: the loss equals the loss of the
    other proposals alone, and its logits get no gradient."""
    g = torch.Generator().manual_seed(4)
    k = 10
    logits = torch.randn(k, 7, generator=g, requires_grad=True)
    deltas = torch.randn(k, 24, generator=g, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 2, 5, 5, 0, 1, 2, 5])  # head classes; 5 = neutron
    reg = torch.randn(k, 4, generator=g)
    table = torch.tensor((1.0, *RoIHeadsConfig().class_weights))
    weight = table[labels]
    cls, box = box_losses(logits, deltas, labels, reg, weight, 1.0)
    keep = labels != 5
    cls2, box2 = box_losses(logits[keep], deltas[keep], labels[keep], reg[keep], weight[keep],
                            1.0)
    assert torch.allclose(cls, cls2, rtol=1e-6) and torch.allclose(box, box2, rtol=1e-6)
    (cls + box).backward()
    assert float(logits.grad[~keep].abs().sum()) == 0.0
    assert float(deltas.grad[~keep].abs().sum()) == 0.0
    assert float(logits.grad[keep].abs().sum()) > 0
    # the neutrino's weight 20: its cross entropy counts 20 times a cosmic one's
    ce = torch.nn.functional.cross_entropy(logits.detach(), labels, reduction="none")
    want = (ce[keep] * weight[keep]).sum() / weight[keep].sum()
    assert torch.allclose(cls, want, rtol=1e-6)
    # the mask term likewise
    mlog = torch.randn(4, 6, 5, 5, generator=g, requires_grad=True)
    mlab = torch.tensor([1, 5, 2, 5])
    mt = (torch.rand(4, 5, 5, generator=g) > 0.5).float()
    m = mask_loss(mlog, mlab, mt, table[mlab])
    sel = mlab != 5
    assert torch.allclose(m, mask_loss(mlog[sel], mlab[sel], mt[sel], table[mlab][sel]))
    m.backward()
    assert float(mlog.grad[~sel].abs().sum()) == 0.0


def test_zero_weight_class_in_the_heads_gives_no_box_or_mask_loss():
    h = heads()
    h.train()
    props = [jittered([8, 8, 40, 24], 20, 0)]
    # InstanceClass 4 (neutron) has weight 0: only the background proposals train
    losses = h(features(batch=1), props, [SIZE], [target([[8, 8, 40, 24]], [4])])
    assert float(losses["roi_box"].detach()) == 0.0
    assert float(losses["roi_mask"].detach()) == 0.0
    cosmic = h(features(batch=1), props, [SIZE], [target([[8, 8, 40, 24]], [0])])
    assert float(cosmic["roi_box"].detach()) > 0 and float(cosmic["roi_mask"].detach()) > 0


def test_box_loss_vanishes_on_exact_deltas():
    k = 3
    labels = torch.tensor([1, 2, 0])
    reg = torch.tensor([[0.1, -0.2, 0.3, 0.0], [0.5, 0.5, -0.5, 0.2], [9.0, 9.0, 9.0, 9.0]])
    deltas = torch.zeros(k, 24)
    deltas[0, 0:4] = reg[0]
    deltas[1, 4:8] = reg[1]
    _, box = box_losses(torch.zeros(k, 7), deltas, labels, reg, torch.ones(k), 1.0)
    assert float(box) == 0.0
    deltas[1, 4] += 0.5  # smooth L1 with beta 1 at 0.5: 0.5 * 0.5² = 0.125, over 3 proposals
    _, box = box_losses(torch.zeros(k, 7), deltas, labels, reg, torch.ones(k), 1.0)
    assert math.isclose(float(box), 0.125 / 3, rel_tol=1e-6)


# -------------------------------------------------------------------- post-processing
def logits_for(probs: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is ``probs`` (rows over background + 6 classes)."""
    return torch.tensor(probs, dtype=torch.float64).log().float()


def row(label: int, p: float) -> list[float]:
    out = [(1.0 - p) / 6] * 7
    out[label + 1] = p
    return out


def test_postprocess_threshold_nms_and_cap():
    props = torch.tensor([[10.0, 10, 50, 30],    # 0: cosmic 0.9
                          [11.0, 10, 51, 30],    # 1: cosmic 0.8, IoU 0.95 with 0: suppressed
                          [11.0, 10, 51, 30],    # 2: neutrino 0.7 on the same box: kept
                          [60.0, 40, 90, 60],    # 3: cosmic 0.41: kept (above 0.4)
                          [70.0, 5, 90, 20],     # 4: cosmic 0.39: dropped
                          [-20.0, -5, 30, 200]])  # 5: cosmic 0.6, clipped to the image
    probs = [row(0, 0.9), row(0, 0.8), row(1, 0.7), row(0, 0.41), row(0, 0.39), row(0, 0.6)]
    deltas = torch.zeros(6, 24)
    (boxes, scores, labels), = postprocess_detections(
        logits_for(probs), deltas, [props], [SIZE], BoxCoder((10, 10, 5, 5)), 0.4, 0.5, 100)
    assert torch.allclose(scores, torch.tensor([0.9, 0.7, 0.6, 0.41]), atol=1e-6)
    assert labels.tolist() == [0, 1, 0, 0]
    assert boxes.tolist() == [[10, 10, 50, 30], [11, 10, 51, 30], [0, 0, 30, 64],
                              [60, 40, 90, 60]]
    (boxes, scores, labels), = postprocess_detections(
        logits_for(probs), deltas, [props], [SIZE], BoxCoder((10, 10, 5, 5)), 0.4, 0.5, 2)
    assert torch.allclose(scores, torch.tensor([0.9, 0.7]), atol=1e-6)
    # a lower NMS threshold: box 2's neutrino is of another class, never suppressed
    (boxes, scores, labels), = postprocess_detections(
        logits_for(probs), deltas, [props], [SIZE], BoxCoder((10, 10, 5, 5)), 0.4, 0.99, 100)
    assert len(scores) == 5  # IoU 0.95 < 0.99: box 1 stays


def test_postprocess_decodes_class_specific_deltas():
    props = torch.tensor([[10.0, 10, 50, 30]])
    coder = BoxCoder((10, 10, 5, 5))
    target_box = torch.tensor([[14.0, 12, 46, 34]])
    deltas = torch.zeros(1, 24)
    deltas[0, 4:8] = coder.encode(target_box, props)[0]  # the neutrino's deltas
    (boxes, _, labels), = postprocess_detections(logits_for([row(1, 0.95)]), deltas, [props],
                                                 [SIZE], coder, 0.4, 0.5, 100)
    assert labels.tolist() == [1]
    assert torch.allclose(boxes, target_box, atol=1e-4)


# ---------------------------------------------------------------------------- pasting
def test_paste_axis_aligned_is_exact():
    g = torch.Generator().manual_seed(5)
    m = (torch.rand(28, 28, generator=g) > 0.5).float()
    box = torch.tensor([[10.0, 20.0, 66.0, 48.0]])  # 56 × 28 pixels: 2 × 1 pixels per cell
    out = paste_masks(m[None], box, (64, 100))
    assert out.shape == (1, 64, 100) and out.dtype == torch.bool
    want = torch.zeros(64, 100, dtype=torch.bool)
    want[20:48, 10:66] = m.repeat_interleave(2, dim=1).bool()
    assert torch.equal(out[0], want)
    # 84 × 56 pixels: 3 × 2 per cell
    out = paste_masks(m[None], torch.tensor([[0.0, 4.0, 84.0, 60.0]]), (64, 100))
    want = torch.zeros(64, 100, dtype=torch.bool)
    want[4:60, 0:84] = m.repeat_interleave(2, dim=0).repeat_interleave(3, dim=1).bool()
    assert torch.equal(out[0], want)


def test_paste_clips_to_the_image_and_skips_empty_boxes():
    m = torch.ones(2, 28, 28)
    boxes = torch.tensor([[80.0, 50.0, 120.0, 90.0], [5.0, 5.0, 5.0, 9.0]])
    out = paste_masks(m, boxes, (64, 100))
    assert int(out[0].sum()) == 20 * 14 and bool(out[0, 50:, 80:].all())
    assert int(out[1].sum()) == 0
