"""sMask-RCNN's detections from the ROI heads' outputs: scores above the threshold, boxes decoded
and clipped, NMS per class, and each detection's mask pasted back at full resolution."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...data._torch import torch
from .boxes import BoxCoder, clip_boxes, remove_small_boxes
from .nms import batched_nms

F = torch.nn.functional
Tensor = torch.Tensor


# ----------------------------------------------------------------------- inference
def postprocess_detections(class_logits: Tensor, box_deltas: Tensor,
                           proposals: Sequence[Tensor], image_sizes: Sequence[tuple[int, int]],
                           coder: BoxCoder, score_threshold: float, nms_threshold: float,
                           detections_per_image: int, min_box_size: float = 1e-2
                           ) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per image (boxes (D, 4), scores (D,), labels (D,) InstanceClass): softmax over the
    classes, each proposal's box decoded for every instance class and clipped to the image,
    the (box, class) pairs scoring above ``score_threshold`` kept, NMS within each class, the
    ``detections_per_image`` best (sorted by decreasing score)."""
    probs = F.softmax(class_logits, dim=1)
    n_cls = probs.shape[1] - 1
    out = []
    start = 0
    for props, size in zip(proposals, image_sizes):
        k = len(props)
        p = probs[start:start + k, 1:]
        d = box_deltas[start:start + k].reshape(k * n_cls, 4)
        start += k
        ref = props.repeat_interleave(n_cls, dim=0)
        boxes = clip_boxes(coder.decode(d, ref), size).reshape(-1, 4)
        scores = p.reshape(-1)
        labels = torch.arange(n_cls, device=props.device).repeat(k)
        keep = torch.nonzero(scores > score_threshold).flatten()
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = remove_small_boxes(boxes, min_box_size)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores, labels, nms_threshold)[:detections_per_image]
        out.append((boxes[keep], scores[keep], labels[keep]))
    return out


def paste_masks(masks: Tensor, boxes: Tensor, image_size: tuple[int, int],
                threshold: float = 0.5) -> Tensor:
    """(D, H, W) bool full-resolution masks from (D, S, S) mask probabilities in their boxes
    (D, 4): a pixel whose centre lies in the box takes the value of the map cell that holds
    that centre (cell (i, j) spans the box's i-th S-th in y and j-th in x) and is on above
    ``threshold``; pixels outside the box are off. So a box of k S × l S pixels at integer
    corners gives each cell's k × l pixels back exactly. (torchvision interpolates the map
    bilinearly instead; at the threshold that moves the edges of a binary map by up to half a
    cell, while here the pasted mask is the map, cell for cell.)"""
    h, w = image_size
    out = torch.zeros(len(boxes), h, w, dtype=torch.bool, device=masks.device)
    s = masks.shape[-1]
    for d, (box, m) in enumerate(zip(boxes.tolist(), masks)):
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            continue
        # the pixels whose centre c + 0.5 lies in [x1, x2) (likewise rows)
        c0, c1 = max(math.ceil(x1 - 0.5), 0), min(math.ceil(x2 - 0.5), w)
        r0, r1 = max(math.ceil(y1 - 0.5), 0), min(math.ceil(y2 - 0.5), h)
        if c1 <= c0 or r1 <= r0:
            continue
        j = mask_cell(torch.arange(c0, c1, dtype=torch.float64), x1, x2, s).to(m.device)
        i = mask_cell(torch.arange(r0, r1, dtype=torch.float64), y1, y2, s).to(m.device)
        out[d, r0:r1, c0:c1] = m[i][:, j] > threshold
    return out


def mask_cell(pixels: Tensor, lo: float, hi: float, s: int) -> Tensor:
    """Index of the cell of [lo, hi) cut in ``s`` that holds each pixel's centre."""
    return torch.floor((pixels + 0.5 - lo) * s / (hi - lo)).clamp(0, s - 1).long()
