"""What sMask-RCNN's ROI heads train against, and their losses: proposals sampled and matched
to the ground truth, mask targets on each proposal's grid ("overlap" or "bilinear"), the class,
box and mask terms as weighted means (the class weights and the choices behind them:
:mod:`larseg.models.detection.roi_heads`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...data._torch import torch
from .boxes import box_iou
from .matcher import BalancedSampler, Matcher
from .roi_align import roi_align

F = torch.nn.functional
Tensor = torch.Tensor

#: index of the background class in the head's logits
BACKGROUND = 0


# ------------------------------------------------------------------- training targets
@dataclass(frozen=True)
class Sampled:
    """The sampled proposals of one image and their targets."""

    boxes: Tensor       # (n, 4) proposals
    labels: Tensor      # (n,) head class: 0 background, InstanceClass + 1
    matched: Tensor     # (n,) index of the matched ground truth box (meaningless for background)


def sample_proposals(proposals: Tensor, gt_boxes: Tensor, gt_labels: Tensor, matcher: Matcher,
                     sampler: BalancedSampler) -> Sampled:
    """Add the ground truth boxes to ``proposals``, match each to a box (IoU >= fg: its class;
    below bg: background; in between: ignored) and draw the balanced sample, foreground first."""
    proposals = torch.cat([proposals.detach(), gt_boxes.to(proposals.dtype)])
    if len(gt_boxes) == 0:
        matched = torch.full((len(proposals),), -1, dtype=torch.long, device=proposals.device)
    else:
        matched = matcher(box_iou(gt_boxes.to(proposals.dtype), proposals))
    state = torch.where(matched >= 0, 1, torch.where(matched == -1, 0, -1))
    pos, neg = sampler(state)
    idx = torch.cat([pos, neg])
    m = matched[idx]
    labels = torch.zeros(len(idx), dtype=torch.long, device=proposals.device)
    labels[:len(pos)] = gt_labels[m[:len(pos)]].long() + 1
    return Sampled(proposals[idx], labels, m.clamp(min=0))


def overlap_mask_targets(masks: Tensor, matched: Tensor, boxes: Tensor, size: int) -> Tensor:
    """(P, size, size) float targets: cell (i, j) of box p's size × size grid is 1 where a pixel
    of ground truth mask ``matched[p]`` (of ``masks`` (K, H, W) bool, pixel (r, c) covering
    [c, c + 1) × [r, r + 1)) overlaps the cell with a positive area, else 0."""
    p_n = len(boxes)
    out = torch.zeros(p_n, size + 1, size + 1, dtype=torch.float32, device=boxes.device)
    if p_n == 0 or masks.numel() == 0:
        return out[:, :size, :size].contiguous()
    nz = torch.nonzero(masks)                       # (n, 3) k, r, c; sorted by k
    counts = torch.bincount(nz[:, 0], minlength=masks.shape[0])
    starts = torch.cumsum(counts, 0) - counts
    per_roi = counts[matched]
    roi = torch.repeat_interleave(torch.arange(p_n, device=boxes.device), per_roi)
    first = torch.cumsum(per_roi, 0) - per_roi
    pix = starts[matched][roi] + torch.arange(len(roi), device=boxes.device) - first[roi]
    r, c = nz[pix, 1].to(boxes.dtype), nz[pix, 2].to(boxes.dtype)
    b = boxes[roi].double()
    eps = 1e-9  # a pixel edge on a cell edge touches it with zero area: no overlap

    def cells(lo_px, lo_box, hi_box):
        width = (hi_box - lo_box) / size
        lo = torch.floor((lo_px.double() - lo_box) / width + eps)
        hi = torch.ceil((lo_px.double() + 1 - lo_box) / width - eps) - 1
        return lo, hi

    j_lo, j_hi = cells(c, b[:, 0], b[:, 2])
    i_lo, i_hi = cells(r, b[:, 1], b[:, 3])
    ok = (j_hi >= 0) & (j_lo <= size - 1) & (i_hi >= 0) & (i_lo <= size - 1) \
        & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    roi = roi[ok]
    j_lo, i_lo = j_lo[ok].clamp(0, size - 1).long(), i_lo[ok].clamp(0, size - 1).long()
    j_hi, i_hi = j_hi[ok].clamp(0, size - 1).long(), i_hi[ok].clamp(0, size - 1).long()
    # each pixel marks the rectangle of cells it overlaps: a 2D difference array, summed after
    flat = out.view(p_n, -1)
    n = size + 1
    ones = torch.ones(len(roi), dtype=out.dtype, device=out.device)
    for di, dj, sign in ((i_lo, j_lo, 1.0), (i_lo, j_hi + 1, -1.0), (i_hi + 1, j_lo, -1.0),
                         (i_hi + 1, j_hi + 1, 1.0)):
        flat.index_put_((roi, di * n + dj), sign * ones, accumulate=True)
    out = out.cumsum(1).cumsum(2)
    return (out[:, :size, :size] > 0.5).float()


def dilate(cells: Tensor, n: int) -> Tensor:
    """(P, S, S) 0 / 1 grids with every cell within ``n`` cells (Chebyshev distance) of a 1 set
    to 1; ``n`` = 0: unchanged."""
    if n <= 0 or len(cells) == 0:
        return cells
    k = 2 * n + 1
    return F.max_pool2d(cells[:, None], k, stride=1, padding=n)[:, 0]


def bilinear_mask_targets(masks: Tensor, matched: Tensor, boxes: Tensor, size: int) -> Tensor:
    """(P, size, size) soft targets: ROIAlign (aligned, adaptive sampling: about one sample
    per pixel, so a cell holds its mean) of the matched masks in the boxes (torchvision's mask
    targets)."""
    if len(boxes) == 0:
        return boxes.new_zeros(0, size, size)
    rois = torch.cat([matched[:, None].to(boxes.dtype), boxes], dim=1)
    return roi_align(masks[:, None].to(boxes.dtype), rois, size, 1.0, -1, True)[:, 0]


# --------------------------------------------------------------------------- losses
def _weighted_mean(per_roi: Tensor, weight: Tensor, norm: Tensor) -> Tensor:
    """sum(w l) / ``norm`` (a sum of weights); 0, connected to the graph, when ``norm`` is 0."""
    return (per_roi * weight).sum() / norm.clamp(min=1e-12)


def box_losses(class_logits: Tensor, box_deltas: Tensor, labels: Tensor,
               regression_targets: Tensor, weight: Tensor, beta: float
               ) -> tuple[Tensor, Tensor]:
    """(class, box) terms of the sampled proposals (head ``labels``, per-proposal ``weight``):
    the weighted mean of the cross entropy, sum(w CE) / sum(w) (torch's weighted cross
    entropy), and the smooth L1 of the foreground's deltas of their class, summed over the 4
    coordinates, sum_fg(w L1) / sum(w) (torchvision divides by the sampled proposals)."""
    ce = F.cross_entropy(class_logits, labels, reduction="none")
    fg = labels > BACKGROUND
    k = class_logits.shape[0]
    deltas = box_deltas.reshape(k, -1, 4)
    picked = deltas[torch.arange(k, device=labels.device), (labels - 1).clamp(min=0)]
    l1 = F.smooth_l1_loss(picked, regression_targets, beta=beta, reduction="none").sum(1)
    # where, not a product: a background's targets are not used, whatever they hold
    l1 = torch.where(fg, l1, torch.zeros_like(l1))
    norm = weight.sum()
    return _weighted_mean(ce, weight, norm), _weighted_mean(l1, weight, norm)


def mask_loss(mask_logits: Tensor, labels: Tensor, targets: Tensor, weight: Tensor) -> Tensor:
    """Binary cross entropy of each foreground proposal's map of its class (``labels``: head
    classes >= 1) against its (P, S, S) target, averaged over the cells; the weighted mean
    over the proposals, sum(w BCE) / sum(w)."""
    p = mask_logits.shape[0]
    if p == 0:
        return mask_logits.sum() * 0.0
    logits = mask_logits[torch.arange(p, device=labels.device), labels - 1]
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean((1, 2))
    return _weighted_mean(bce, weight, weight.sum())
