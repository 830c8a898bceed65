"""Greedy non-maximum suppression, plain and per class, as a numba kernel.

The sMask-RCNN paper found NMS of the RPN's proposals to take the lion's share of its time
(section II.B). The greedy rule: take the best-scoring box left, drop every remaining box of its
class whose IoU with it exceeds the threshold, repeat. The kernel runs that loop over the boxes
sorted by score; to find the boxes a kept box may suppress it looks only at those of its class
whose x1 lies in ``[x1 - widest box, x2)`` (a binary search in the boxes sorted by class and x1):
a box outside that range cannot overlap it, hence has IoU 0 and is never suppressed (for a
threshold >= 0). The index is built along x or y, whichever axis that range covers the smaller
fraction of (x and y swapped then, which leaves every IoU bit for bit the same). The cost is
O(N log N + kept × neighbours) instead of O(N × kept), and there is no N × N matrix.
``benchmarks/bench_nms.py`` (one thread, random boxes over a MicroBooNE image, two runs on the
shared 2-core machine): 1.5-2.4 ms for 2,000 boxes and 13-40 ms for 10,000, 4.6-17 times
faster than torchvision's CPU ``nms`` and 27-300 times faster than a vectorised torch version
(IoU matrix + greedy pass).

The IoU arithmetic is done in the boxes' dtype, with the same operations as torchvision's CPU
kernel (area = w h, IoU = inter / (area_i + area_j - inter), suppressed if IoU > threshold; two
zero-area boxes give NaN, never suppressed), so that the two agree box for box (tested against
torchvision 0.29.1). Ties in score keep the input order (a stable sort). Runs on the
CPU; the indices come back on the boxes' device.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...data._torch import torch

Tensor = torch.Tensor


@njit(cache=True)
def _first_at_least(values: np.ndarray, lo: int, hi: int, x: float) -> int:
    """The first position in ``values[lo:hi]`` (ascending) whose value is >= x, or hi."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# error_model="numpy": 0 / 0 (two zero-area boxes) is NaN, never above the threshold, as in
# torchvision's kernel, instead of Python's ZeroDivisionError
@njit(cache=True, error_model="numpy")
def _greedy(boxes: np.ndarray, areas: np.ndarray, by_x: np.ndarray, x1_sorted: np.ndarray,
            block_lo: np.ndarray, block_hi: np.ndarray, widest: float,
            iou_threshold: float) -> np.ndarray:
    """Positions kept among ``boxes`` (N, 4), sorted best first. ``by_x``: the positions sorted
    by (class, x1), ``x1_sorted`` their x1; ``block_lo/hi[p]``: the range of p's class in it."""
    n = boxes.shape[0]
    zero = areas[0] * 0  # a zero of the boxes' dtype: float32 arithmetic stays float32
    suppressed = np.zeros(n, dtype=np.bool_)
    keep = np.empty(n, dtype=np.int64)
    n_keep = 0
    for p in range(n):
        if suppressed[p]:
            continue
        keep[n_keep] = p
        n_keep += 1
        x1, y1, x2, y2, area = boxes[p, 0], boxes[p, 1], boxes[p, 2], boxes[p, 3], areas[p]
        lo, hi = block_lo[p], block_hi[p]
        if iou_threshold >= 0:  # else disjoint boxes suppress too: scan the whole class
            # a box overlapping this one in x has x1 > this x1 - its width >= x1 - widest; the
            # margin covers the rounding of the widths
            reach = x1 - widest - 1e-6 * (abs(x1) + widest + 1.0)
            hi = _first_at_least(x1_sorted, lo, hi, float(x2))
            lo = _first_at_least(x1_sorted, lo, hi, reach)
        for a in range(lo, hi):
            q = by_x[a]
            if q <= p or suppressed[q]:
                continue
            w = max(zero, min(x2, boxes[q, 2]) - max(x1, boxes[q, 0]))
            h = max(zero, min(y2, boxes[q, 3]) - max(y1, boxes[q, 1]))
            inter = w * h
            if inter / (area + areas[q] - inter) > iou_threshold:
                suppressed[q] = True
    return keep[:n_keep]


def _sweep_along_y(boxes: np.ndarray) -> bool:
    """Whether the index along y prunes more: the fraction of the boxes' spread that one box's
    search range covers (widest box + mean box size) is smaller along y."""
    def fraction(lo: np.ndarray, hi: np.ndarray) -> float:
        size = hi - lo
        spread = float(hi.max() - lo.min())
        return (float(size.max()) + float(size.mean())) / spread if spread > 0 else np.inf
    return fraction(boxes[:, 1], boxes[:, 3]) < fraction(boxes[:, 0], boxes[:, 2])


def _kept(boxes: Tensor, scores: Tensor, groups: Tensor | None, iou_threshold: float) -> Tensor:
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    b = boxes.detach()[order]
    if b.dtype not in (torch.float32, torch.float64):
        b = b.float()  # half / bfloat16 / integer boxes: the kernel is compiled for float32, 64
    g = (np.zeros(len(order), dtype=np.int64) if groups is None
         else np.ascontiguousarray(groups[order].cpu().numpy().astype(np.int64)))
    b = b.cpu().numpy()
    if _sweep_along_y(b):
        b = b[:, [1, 0, 3, 2]]  # IoU is the same with x and y swapped, bit for bit
    b = np.ascontiguousarray(b)
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    # the spatial index: positions sorted by (class, x1), and each class's range in it
    by_x = np.lexsort((b[:, 0], g))
    g_sorted = g[by_x]
    kept = _greedy(b, areas, by_x, b[by_x, 0].astype(np.float64),
                   np.searchsorted(g_sorted, g, side="left"),
                   np.searchsorted(g_sorted, g, side="right"),
                   max(0.0, float((b[:, 2] - b[:, 0]).max())), float(iou_threshold))
    return order[torch.from_numpy(kept).to(order.device)]


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Indices of the (K, 4) ``boxes`` kept by greedy NMS, sorted by decreasing score."""
    return _kept(boxes, scores, None, iou_threshold)


def batched_nms(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each class (``classes``: (K,) integer ids): boxes of different classes never
    suppress each other. Indices sorted by decreasing score over all classes."""
    return _kept(boxes, scores, classes, iou_threshold)
