"""The detection ops of sMask-RCNN (larseg.models.detection) against their definitions: box
geometry and coding by hand, NMS against a naive greedy loop, ROIAlign against a brute-force
loop and autograd's gradcheck, anchors in a conv head's layout, the matcher's thresholds and
the sampler's counts; and against torchvision's ops where those import."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from larseg.models.detection import nms as nms_module
from larseg.models.detection.anchors import AnchorConfig, AnchorGenerator
from larseg.models.detection.boxes import (BBOX_XFORM_CLIP, BoxCoder, box_area, box_iou,
                                           clip_boxes, remove_small_boxes)
from larseg.models.detection.matcher import (BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS,
                                             BalancedSampler, Matcher)
from larseg.models.detection.nms import batched_nms, nms
from larseg.models.detection.roi_align import (LAYOUTS, _axis_samples, _chunks, axis_layout,
                                               roi_align)


def random_boxes(n: int, seed: int, size=(100.0, 100.0), max_wh=(30.0, 30.0),
                 dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * torch.tensor(size, dtype=dtype)
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * torch.tensor(max_wh, dtype=dtype) + 1
    return torch.cat([xy, xy + wh], dim=1)


# --- boxes -------------------------------------------------------------------------------------
def test_iou_of_known_boxes():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[5.0, 5, 15, 15],    # 25 / (100 + 100 - 25)
                      [0.0, 0, 10, 10],    # identical
                      [2.0, 2, 4, 4],      # inside: 4 / 100
                      [10.0, 0, 20, 10],   # touching edge: 0
                      [30.0, 30, 40, 45]])
    iou = box_iou(a, b)
    assert iou.shape == (1, 5)
    torch.testing.assert_close(iou[0], torch.tensor([25 / 175, 1.0, 0.04, 0.0, 0.0]))
    torch.testing.assert_close(box_area(b), torch.tensor([100.0, 100, 4, 100, 150]))


def test_clip_and_remove_small_boxes():
    boxes = torch.tensor([[-5.0, -3, 12, 8], [3.0, 4, 3.5, 9], [2.0, 2, 30, 40]])
    clipped = clip_boxes(boxes, (20, 25))  # (height, width)
    torch.testing.assert_close(clipped, torch.tensor([[0.0, 0, 12, 8], [3.0, 4, 3.5, 9],
                                                      [2.0, 2, 25, 20]]))
    assert remove_small_boxes(clipped, 1.0).tolist() == [0, 2]
    assert remove_small_boxes(clipped, 0.5).tolist() == [0, 1, 2]


def test_box_coder_hand_values_and_weights():
    ref = torch.tensor([[0.0, 0, 10, 20]])        # centre (5, 10), size 10 × 20
    box = torch.tensor([[2.0, 4, 14, 24]])        # centre (8, 14), size 12 × 20
    torch.testing.assert_close(BoxCoder().encode(box, ref),
                               torch.tensor([[0.3, 0.2, math.log(1.2), 0.0]]))
    weighted = BoxCoder((10.0, 10.0, 5.0, 5.0)).encode(box, ref)
    torch.testing.assert_close(weighted, torch.tensor([[3.0, 2.0, 5 * math.log(1.2), 0.0]]))
    torch.testing.assert_close(BoxCoder((10.0, 10.0, 5.0, 5.0)).decode(weighted, ref), box)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_round_trip(weights):
    coder = BoxCoder(weights)
    ref, box = random_boxes(200, 1), random_boxes(200, 2)
    torch.testing.assert_close(coder.decode(coder.encode(box, ref), ref), box,
                               rtol=0, atol=1e-9)


def test_box_coder_clamps_the_log_scale():
    ref = torch.tensor([[0.0, 0, 4, 8]])
    out = BoxCoder().decode(torch.tensor([[0.0, 0, 10.0, -2.0]]), ref)
    width, height = out[0, 2] - out[0, 0], out[0, 3] - out[0, 1]
    assert BBOX_XFORM_CLIP == pytest.approx(math.log(1000 / 16))
    torch.testing.assert_close(width, torch.tensor(4 * 1000 / 16))  # exp clamped at 62.5
    torch.testing.assert_close(height, torch.tensor(8 * math.exp(-2.0)))  # no lower clamp


# --- NMS ---------------------------------------------------------------------------------------
def naive_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float,
              classes: torch.Tensor | None = None) -> list[int]:
    """The greedy definition, box by box in Python (float64)."""
    b = boxes.double().tolist()
    cls = [0] * len(b) if classes is None else classes.tolist()
    order = sorted(range(len(b)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            if cls[j] != cls[i]:
                continue
            iw = max(0.0, min(b[i][2], b[j][2]) - max(b[i][0], b[j][0]))
            ih = max(0.0, min(b[i][3], b[j][3]) - max(b[i][1], b[j][1]))
            inter = iw * ih
            area_i = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1])
            area_j = (b[j][2] - b[j][0]) * (b[j][3] - b[j][1])
            if inter / (area_i + area_j - inter) > threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def test_nms_three_boxes():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 0, 11, 10], [20.0, 20, 30, 30]])
    scores = torch.tensor([0.9, 0.8, 0.7])  # IoU(0, 1) = 90 / 110
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.85).tolist() == [0, 1, 2]
    assert nms(boxes, torch.tensor([0.8, 0.9, 0.95]), 0.5).tolist() == [2, 1]


def test_nms_suppresses_only_above_the_threshold():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 5]])  # IoU exactly 0.5
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,threshold", [
    ((100.0, 100.0, 30.0, 30.0), 0.5),    # compact, heavy overlap
    ((1000.0, 50.0, 20.0, 40.0), 0.3),    # spread along x: the index runs along x
    ((50.0, 1000.0, 40.0, 20.0), 0.7),    # spread along y: along y
    ((100.0, 100.0, 30.0, 30.0), 0.0),    # any overlap suppresses
    ((100.0, 100.0, 30.0, 30.0), -0.1),   # even disjoint boxes suppress
])
def test_nms_equals_the_naive_greedy_loop(dtype, shape, threshold):
    for seed in range(3):
        boxes = random_boxes(300, seed, shape[:2], shape[2:], dtype)
        scores = torch.rand(300, generator=torch.Generator().manual_seed(seed + 10),
                            dtype=dtype)
        kept = nms(boxes, scores, threshold)
        assert kept.dtype == torch.int64
        assert kept.tolist() == naive_nms(boxes, scores, threshold)
        assert torch.all(scores[kept][1:] <= scores[kept][:-1])


def test_nms_index_axis_follows_the_box_shapes():
    wide = random_boxes(50, 0, (1000.0, 50.0), (20.0, 40.0)).numpy()
    tall = random_boxes(50, 0, (50.0, 1000.0), (40.0, 20.0)).numpy()
    assert nms_module._sweep_along_y(tall) and not nms_module._sweep_along_y(wide)


def test_nms_zero_area_boxes_are_never_suppressed():
    # IoU of two zero-area boxes is 0 / 0 = NaN, not above any threshold (as torchvision's)
    boxes = torch.tensor([[5.0, 5, 5, 9], [5.0, 5, 5, 9], [0.0, 0, 10, 10], [0.0, 0, 0, 0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    for dtype in (torch.float32, torch.float64):
        assert nms(boxes.to(dtype), scores, 0.5).tolist() == [0, 1, 2, 3]


def test_nms_empty_and_single():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    assert nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.3]), 0.5).tolist() == [0]


def test_batched_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.5, 0, 10.5, 10], [0.0, 0.5, 10, 10.5],
                          [1.0, 1, 11, 11]])
    scores = torch.tensor([0.5, 0.9, 0.8, 0.7])
    classes = torch.tensor([0, 1, 0, 1])
    # class 1: box 1 beats box 3; class 0: box 2 beats box 0; sorted by score overall
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [1, 2]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 2, 3]), 0.5).tolist() == [1, 2, 3, 0]
    assert nms(boxes, scores, 0.5).tolist() == [1]


def test_batched_nms_equals_naive_per_class_loop():
    boxes = random_boxes(400, 3)
    g = torch.Generator().manual_seed(4)
    scores, classes = torch.rand(400, generator=g, dtype=torch.float64), torch.randint(
        0, 5, (400,), generator=g)
    kept = batched_nms(boxes, scores, classes, 0.4)
    assert kept.tolist() == naive_nms(boxes, scores, 0.4, classes)
    per_class = torch.cat([torch.nonzero(classes == c).flatten()[
        nms(boxes[classes == c], scores[classes == c], 0.4)] for c in range(5)])
    assert sorted(kept.tolist()) == sorted(per_class.tolist())


# --- ROIAlign ----------------------------------------------------------------------------------
def bilinear(f: np.ndarray, y: float, x: float) -> np.ndarray:
    """One sample of the standard ROIAlign definition (f: (C, H, W))."""
    _, h, w = f.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(f.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * f[:, y0, x0] + (1 - ly) * lx * f[:, y0, x1]
            + ly * (1 - lx) * f[:, y1, x0] + ly * lx * f[:, y1, x1])


def brute_roi_align(features, rois, out, scale, ratio, aligned) -> np.ndarray:
    f, r = features.double().numpy(), rois.double().numpy()
    oh, ow = out
    res = np.zeros((len(r), f.shape[1], oh, ow))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(r):
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / oh, rw / ow
        gh = ratio if ratio > 0 else math.ceil(rh / oh)
        gw = ratio if ratio > 0 else math.ceil(rw / ow)
        count = max(gh * gw, 1)
        for p in range(oh):
            for q in range(ow):
                acc = np.zeros(f.shape[1])
                for iy in range(gh):
                    y = sy + p * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        acc += bilinear(f[int(b)], y, sx + q * bw + (ix + 0.5) * bw / gw)
                res[k, :, p, q] = acc / count
    return res


ROIS = torch.tensor([
    [0, 1.0, 1.0, 9.0, 7.0],      # inside
    [1, -4.0, -3.0, 5.0, 4.0],    # over the top-left corner
    [0, 12.0, 6.0, 22.0, 16.5],   # over the bottom-right corner at scale 1 (map 8 × 10)
    [1, 3.3, 2.2, 3.6, 2.4],      # smaller than a pixel
    [0, -9.0, -9.0, -3.0, -2.5],  # outside: at most its edge samples in [-1, 0]
    [1, 0.0, 0.0, 20.0, 16.0],    # the whole map
    [0, 7.7, 0.4, 19.9, 3.1],     # wide
    [1, 2.0, -1.0, 4.5, 15.0],    # tall
])


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [0, 1, 2, 3])
@pytest.mark.parametrize("scale,out", [(1.0, (3, 2)), (0.5, (2, 2))])
def test_roi_align_equals_the_brute_force_definition(aligned, ratio, scale, out):
    features = torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(0))
    want = brute_roi_align(features, ROIS, out, scale, ratio, aligned)
    got64 = roi_align(features.double(), ROIS.double(), out, scale, ratio, aligned)
    np.testing.assert_allclose(got64.numpy(), want, rtol=0, atol=1e-12)
    got32 = roi_align(features, ROIS, out, scale, ratio, aligned)
    assert got32.dtype == torch.float32 and got32.shape == (len(ROIS), 3) + out
    np.testing.assert_allclose(got32.numpy(), want, rtol=0, atol=1e-5)
    # a tiny budget: every ROI in a chunk of its own, same numbers
    tiny = roi_align(features.double(), ROIS.double(), out, scale, ratio, aligned,
                     max_elements=1)
    np.testing.assert_allclose(tiny.numpy(), got64.numpy(), rtol=0, atol=1e-13)


def test_roi_align_layouts_are_one_linear_map():
    """The three gather layouts of an axis give the same (bin, feature index) weights."""
    g = torch.Generator().manual_seed(1)
    start = torch.rand(20, generator=g, dtype=torch.float64) * 30 - 5
    length = torch.rand(20, generator=g, dtype=torch.float64) * 25
    for grid in (torch.full((20,), 2), torch.ceil(length / 4).long()):
        index, weight = _axis_samples(start, length, grid, 4, 24)
        dense = []
        for kind in LAYOUTS:
            lay = axis_layout(index, weight, kind)
            idx = lay.index.expand(-1, 4, -1) if not lay.blocked else lay.index
            dense.append(torch.zeros(20, 4, 24, dtype=torch.float64).scatter_add_(
                2, idx, lay.weight))
            assert (lay.index.shape[1] == 4) == lay.blocked
        torch.testing.assert_close(dense[1], dense[0], rtol=0, atol=1e-14)
        torch.testing.assert_close(dense[2], dense[0], rtol=0, atol=1e-14)


def test_roi_align_chunks_respect_the_budget():
    rows = torch.tensor([3, 40, 5, 7, 100, 2, 9])
    cols = torch.tensor([4, 2, 50, 7, 100, 1, 3])
    chunks = _chunks(rows, cols, 8, 2000)
    assert sorted(torch.cat(chunks).tolist()) == list(range(7))
    for c in chunks:
        assert len(c) == 1 or len(c) * rows[c].max() * cols[c].max() * 8 <= 2000
    assert [len(c) for c in chunks if 4 in c.tolist()] == [1]  # 100 × 100 × 8 alone


@pytest.mark.parametrize("aligned,ratio", [(True, 2), (False, 0)])
def test_roi_align_gradient_matches_gradcheck(aligned, ratio):
    features = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True,
                           generator=torch.Generator().manual_seed(2))
    rois = torch.tensor([[0, 0.5, 0.5, 4.0, 3.5], [1, -1.0, 1.0, 7.0, 6.0],
                         [1, 2.2, 1.1, 2.9, 1.8]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda f: roi_align(f, rois, (2, 3), 1.0, ratio, aligned), (features,))


def test_roi_align_empty_rois():
    out = roi_align(torch.randn(1, 4, 6, 6), torch.zeros(0, 5), 7, 1.0, 2, True)
    assert out.shape == (0, 4, 7, 7)


# --- anchors -----------------------------------------------------------------------------------
def test_cell_anchors_sizes_and_ratios():
    gen = AnchorGenerator(AnchorConfig(sizes=((32.0, 64.0),), aspect_ratios=((0.5, 1.0, 2.0),)))
    cell = gen.cell_anchors(0, torch.float64)
    assert gen.num_anchors_per_location() == [6]
    w, h = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    # ratio-major, size-minor; ratio = height / width, area = size²
    s = math.sqrt(0.5)
    torch.testing.assert_close(w, torch.tensor([32 / s, 64 / s, 32, 64, 32 * s, 64 * s],
                                               dtype=torch.float64))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 0.5, 1, 1, 2, 2], dtype=torch.float64))
    torch.testing.assert_close(cell[:, :2] + cell[:, 2:], torch.zeros(6, 2, dtype=torch.float64))


def test_anchor_order_is_a_conv_heads_layout():
    cfg = AnchorConfig(sizes=((8.0,), (16.0, 24.0)), aspect_ratios=((1.0, 2.0),), offset=0.5)
    gen = AnchorGenerator(cfg)
    feature_sizes = [(4, 6), (2, 3)]
    anchors = gen((32, 48), feature_sizes, torch.float64)
    assert gen.strides((32, 48), feature_sizes) == [(8.0, 8.0), (16.0, 16.0)]
    assert anchors.shape == (4 * 6 * 2 + 2 * 3 * 4, 4)
    first = 4 * 6 * 2
    # a head's (N, A, H, W) output holding, at (a, y, x), the code a + 10 x + 100 y
    for level, ((fh, fw), start, stride) in enumerate(
            zip(feature_sizes, (0, first), (8.0, 16.0))):
        a_n = gen.num_anchors_per_location()[level]
        code = (torch.arange(a_n)[:, None, None] + 10 * torch.arange(fw)[None, None, :]
                + 100 * torch.arange(fh)[None, :, None]).double()[None]
        flat = code.permute(0, 2, 3, 1).reshape(1, -1)[0]
        cell = gen.cell_anchors(level, torch.float64)
        for i, v in enumerate(flat.long().tolist()):
            a, x, y = v % 10, (v // 10) % 10, v // 100
            centre = torch.tensor([(x + 0.5) * stride, (y + 0.5) * stride] * 2,
                                  dtype=torch.float64)
            torch.testing.assert_close(anchors[start + i], cell[a] + centre)


def test_anchor_strides_can_be_given():
    gen = AnchorGenerator(AnchorConfig(sizes=((16.0,),), aspect_ratios=((1.0,),), strides=(8,)))
    a = gen((1001, 63), [(126, 8)])  # a padded conv's map: stride stays 8
    assert a.shape == (126 * 8, 4)
    torch.testing.assert_close(a[1], torch.tensor([0.0, -8, 16, 8]))  # x = 8, y = 0
    with pytest.raises(ValueError):
        AnchorGenerator(AnchorConfig(sizes=((16.0,), (32.0,)), aspect_ratios=((1.0,),) * 3))


# --- matcher and sampler -----------------------------------------------------------------------
def test_matcher_thresholds():
    q = torch.tensor([[0.8, 0.5, 0.2, 0.1, 0.7, 0.3],
                      [0.1, 0.6, 0.25, 0.05, 0.0, 0.29]])
    m = Matcher(0.7, 0.3, allow_low_quality_matches=False)(q)
    # >= 0.7 matched (0.7 included), [0.3, 0.7) ignored (0.3 included), < 0.3 background
    assert m.tolist() == [0, BETWEEN_THRESHOLDS, BELOW_LOW_THRESHOLD, BELOW_LOW_THRESHOLD, 0,
                          BETWEEN_THRESHOLDS]


def test_matcher_low_quality_matches():
    q = torch.tensor([[0.8, 0.5, 0.2, 0.1],
                      [0.1, 0.6, 0.25, 0.05],
                      [0.0, 0.0, 0.25, 0.0]])   # box 2 is best for prediction 2 (0.25, a tie)
    m = Matcher(0.7, 0.3, allow_low_quality_matches=True)(q)
    # prediction 1 is box 1's best; prediction 2 is box 2's best, restored to its argmax (box 1,
    # the first of the tie): the matcher keeps a prediction's own best box
    assert m.tolist() == [0, 1, 1, BELOW_LOW_THRESHOLD]
    ties = torch.tensor([[0.4, 0.4, 0.1]])
    assert Matcher(0.7, 0.3)(ties).tolist() == [0, 0, BELOW_LOW_THRESHOLD]
    # a box overlapping nothing claims nothing
    assert Matcher(0.7, 0.3)(torch.tensor([[0.0, 0.0], [0.1, 0.8]])).tolist() == [
        BELOW_LOW_THRESHOLD, 1]


def test_matcher_without_ground_truth():
    assert Matcher()(torch.zeros(0, 5)).tolist() == [BELOW_LOW_THRESHOLD] * 5
    with pytest.raises(ValueError):
        Matcher(0.3, 0.7)


def test_sampler_counts():
    labels = torch.full((2000,), -1)
    labels[:10] = 1
    labels[100:1100] = 0
    pos, neg = BalancedSampler(256, 0.5)(labels, torch.Generator().manual_seed(0))
    assert len(pos) == 10 and len(neg) == 246  # few positives: negatives fill the batch
    assert torch.all(labels[pos] == 1) and torch.all(labels[neg] == 0)
    assert len(torch.unique(neg)) == 246
    labels[:500] = 1
    pos, neg = BalancedSampler(256, 0.25)(labels, torch.Generator().manual_seed(0))
    assert (len(pos), len(neg)) == (64, 192)
    few = torch.tensor([1, 0, 0, -1, 1])
    pos, neg = BalancedSampler(256, 0.5)(few)
    assert pos.tolist() == [0, 4] and neg.tolist() == [1, 2]


def test_sampler_is_deterministic_under_a_generator():
    labels = torch.zeros(5000, dtype=torch.long)
    labels[::7] = 1
    sampler = BalancedSampler(256, 0.5)
    a = sampler(labels, torch.Generator().manual_seed(3))
    b = sampler(labels, torch.Generator().manual_seed(3))
    c = sampler(labels, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


# --- torchvision, where it imports -------------------------------------------------------------
def _torchvision_ops():
    try:
        import torchvision.ops as ops
        ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)  # its compiled ops load, or raise
    except Exception as exc:  # the CUDA build beside a CPU torch raises at import or call
        pytest.skip(f"torchvision.ops unavailable: {exc}")
    return ops


def test_nms_and_batched_nms_agree_with_torchvision():
    ops = _torchvision_ops()
    for seed in range(3):
        boxes = random_boxes(2000, seed, (1000.0, 300.0), (60.0, 60.0), torch.float32)
        g = torch.Generator().manual_seed(seed)
        scores = torch.rand(2000, generator=g)
        classes = torch.randint(0, 4, (2000,), generator=g)
        for t in (0.3, 0.5, 0.7):
            assert torch.equal(nms(boxes, scores, t), ops.nms(boxes, scores, t))
            assert torch.equal(batched_nms(boxes, scores, classes, t),
                               ops.batched_nms(boxes, scores, classes, t))


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [-1, 2])
def test_roi_align_agrees_with_torchvision(aligned, ratio):
    ops = _torchvision_ops()
    g = torch.Generator().manual_seed(5)
    features = torch.randn(2, 16, 40, 30, generator=g)
    boxes = random_boxes(64, 6, (250.0, 330.0), (120.0, 160.0), torch.float32) - 10
    rois = torch.cat([torch.randint(0, 2, (64, 1), generator=g).float(), boxes], dim=1)
    for out in (7, (5, 3)):
        want = ops.roi_align(features, rois, out, 0.125, ratio, aligned)
        torch.testing.assert_close(roi_align(features, rois, out, 0.125, ratio, aligned), want,
                                   rtol=0, atol=1e-5)
    f = features.clone().requires_grad_(True)
    f2 = features.clone().requires_grad_(True)
    w = torch.randn(64, 16, 7, 7, generator=g)
    (roi_align(f, rois, 7, 0.125, ratio, aligned) * w).sum().backward()
    (ops.roi_align(f2, rois, 7, 0.125, ratio, aligned) * w).sum().backward()
    torch.testing.assert_close(f.grad, f2.grad, rtol=0, atol=1e-4)
