"""Box geometry and the Faster R-CNN box coding.

Boxes are (K, 4) float tensors ``(x1, y1, x2, y2)`` in pixels with continuous coordinates: a box
covering pixel columns 0..9 is ``x1 = 0, x2 = 10`` and its width is ``x2 - x1`` (no "+1", the
convention of torchvision and detectron2, not of the original Detectron).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...data._torch import torch

Tensor = torch.Tensor

# Faster R-CNN's cap on the predicted log-scale (Ren et al. 2015, as Detectron implements it):
# exp(dw) never exceeds 1000 / 16, so that an untrained head cannot overflow the box size.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def box_area(boxes: Tensor) -> Tensor:
    """(K,) areas, (x2 - x1)(y2 - y1); meaningless for an inverted box (x2 < x1 or y2 < y1),
    which ``remove_small_boxes`` drops."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) intersection over union of every box of ``a`` with every box of ``b``.

    Two zero-area boxes give 0 / 0 = NaN, as torchvision's ``box_iou``."""
    area_a, area_b = box_area(a), box_area(b)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def clip_boxes(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Boxes clipped to an image of ``(height, width)``: x in [0, width], y in [0, height]."""
    h, w = image_size
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes whose width and height are both >= ``min_size``."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return torch.nonzero((w >= min_size) & (h >= min_size)).flatten()


@dataclass(frozen=True)
class BoxCoder:
    """Encodes a box relative to a reference box (an anchor or a proposal) as

        dx = wx (x - xa) / wa,  dy = wy (y - ya) / ha,  dw = ww log(w / wa),  dh = wh log(h / ha)

    with (x, y) the centre and (w, h) the size (Ren et al. 2015, eq. 2, with Fast R-CNN's
    per-coordinate weights), and decodes it back; ``dw``, ``dh`` are clamped at
    ``log(1000 / 16)`` before the exponential."""

    # (1, 1, 1, 1) for the RPN; Detectron uses (10, 10, 5, 5) for the box head
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    clip: float = BBOX_XFORM_CLIP

    def encode(self, boxes: Tensor, reference: Tensor) -> Tensor:
        """(K, 4) deltas that take ``reference`` boxes to ``boxes``."""
        wx, wy, ww, wh = self.weights
        rw = reference[:, 2] - reference[:, 0]
        rh = reference[:, 3] - reference[:, 1]
        rx = reference[:, 0] + 0.5 * rw
        ry = reference[:, 1] + 0.5 * rh
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        bx = boxes[:, 0] + 0.5 * bw
        by = boxes[:, 1] + 0.5 * bh
        return torch.stack([wx * (bx - rx) / rw, wy * (by - ry) / rh,
                            ww * torch.log(bw / rw), wh * torch.log(bh / rh)], dim=1)

    def decode(self, deltas: Tensor, reference: Tensor) -> Tensor:
        """(K, 4) boxes from (K, 4) deltas applied to (K, 4) ``reference`` boxes."""
        wx, wy, ww, wh = self.weights
        reference = reference.to(deltas.dtype)
        rw = reference[:, 2] - reference[:, 0]
        rh = reference[:, 3] - reference[:, 1]
        rx = reference[:, 0] + 0.5 * rw
        ry = reference[:, 1] + 0.5 * rh
        dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
        dw = (deltas[:, 2] / ww).clamp(max=self.clip)
        dh = (deltas[:, 3] / wh).clamp(max=self.clip)
        cx, cy = dx * rw + rx, dy * rh + ry
        w, h = torch.exp(dw) * rw, torch.exp(dh) * rh
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)
