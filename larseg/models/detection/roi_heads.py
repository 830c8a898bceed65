"""sMask-RCNN's ROI heads: the classifier and the "Maskifier" on the RPN's proposals
(``../shared/papers/`` 003, Sec. II.A; He et al. 2017, "Mask R-CNN", Sec. 3).

- Box head: ROIAlign 7×7 of each proposal, two fully connected layers, then class logits over
  background + the instance classes and class-specific box deltas (Fast R-CNN).
- Training: the ground truth boxes join the proposals, each proposal is matched to the box of
  its highest IoU (foreground at IoU >= 0.5, background below), and 512 per image are drawn with
  at most 25 % foreground. Loss: cross entropy with per-class weights and smooth L1 on the
  foreground's deltas of their class.
- Mask head: ROIAlign 14×14, four 3×3 convolutions, a 2×2 stride-2 transposed convolution and a
  1×1 convolution to one 28×28 mask logit map per class; loss: binary cross entropy of the
  matched class's map against the ground truth mask brought to the proposal's 28×28 grid.
- Inference: softmax, boxes decoded per class and clipped to the image, scores above 0.4 (the
  paper's threshold, Sec. III.A), NMS at IoU 0.5 within each class, the best 100 per image; each
  detection's mask of its class is pasted back at full resolution (:func:`paste_masks`).

The targets and losses live in :mod:`~larseg.models.detection.roi_training`, the
post-processing in :mod:`~larseg.models.detection.roi_inference`.

Class indices: the head's class 0 is background and class ``c + 1`` is
:class:`larseg.labels.InstanceClass` ``c`` (the data's labels have no background slot, see
:mod:`larseg.data.instances`); mask maps and box deltas exist for the instance classes only.
Detections carry ``InstanceClass`` labels again.

Class weights (paper, Sec. II.B): the loss of a sampled proposal is scaled by the weight of its
target class, ``background_weight`` for background. A weight of 0 removes that class from
training, as the paper does for neutron, proton, electron and other. Each term is a weighted
mean, sum(w l) / sum(w) — over the sampled proposals for the class term (torch's weighted cross
entropy), the foreground's smooth L1 over the sampled proposals' weights for the box term, over
the foreground for the mask term — so a proposal of weight 0 adds to neither the sum nor the
normalisation, and the loss is the one the other proposals give alone. The paper up-weights
the neutrino "loss" relative to the cosmic one; larseg applies the weight to all three terms of
a neutrino proposal (the paper does not say which).

Mask targets (larseg's choice, ``mask_target``): LArTPC tracks are one or two pixels wide,
boxes hundreds long; averaging the mask into a 28×28 cell of such a box (bilinear resizing, as
torchvision does) leaves values of a few per cent and a thresholded prediction then marks
nothing. With ``"overlap"`` (default) a cell is 1 where any ground-truth pixel overlaps it, so
a track stays connected at the grid's resolution, and a prediction equal to its target pastes
back as the track with a margin of less than one cell (the "buffers on either side of the
tracks" the paper notes in Sec. III.A; its purity ignores blank pixels, so a margin costs purity
only where it reaches another interaction's charge). ``"bilinear"`` is ROIAlign of the mask,
torchvision's soft targets. ``mask_dilation`` > 0 grows the "overlap" targets by that many
cells on every side: a mask then tolerates that much error in the track's position, at the
price of a wider margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ...data._torch import torch
from .boxes import BoxCoder
from .matcher import BalancedSampler, Matcher
from .roi_align import roi_align
from .roi_inference import mask_cell, paste_masks, postprocess_detections  # noqa: F401
from .roi_training import (BACKGROUND, Sampled, bilinear_mask_targets, box_losses, dilate,
                           mask_loss, overlap_mask_targets, sample_proposals)

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

@dataclass(frozen=True)
class RoIHeadsConfig:
    n_classes: int = 6                    # InstanceClass: cosmic, neutrino, proton, electron,
    #                                       neutron, other (paper, Table I)
    # box head (Detectron's defaults, which the paper takes, Sec. II.A)
    box_roi_size: int = 7                 # FAST_RCNN.ROI_XFORM_RESOLUTION
    sampling_ratio: int = 2               # ROI_XFORM_SAMPLING_RATIO
    representation: int = 1024            # FAST_RCNN.MLP_HEAD_DIM: two FC layers of 1024
    # mask head (He et al. 2017, Fig. 4 right; Detectron's MRCNN defaults)
    mask_roi_size: int = 14               # MRCNN.ROI_XFORM_RESOLUTION; the logits are 2× that
    mask_channels: int = 256              # MRCNN.DIM_REDUCED
    mask_convs: int = 4                   # four 3×3 convolutions before the upsampling
    mask_target: Literal["overlap", "bilinear"] = "overlap"   # larseg's choice, module doc
    mask_dilation: int = 0                # "overlap" targets grown by this many cells (larseg)
    # proposal matching and sampling (Fast R-CNN, as Detectron's TRAIN defaults)
    fg_iou: float = 0.5                   # TRAIN.FG_THRESH
    bg_iou: float = 0.5                   # TRAIN.BG_THRESH_HI: background below 0.5
    batch_size_per_image: int = 512       # TRAIN.BATCH_SIZE_PER_IM
    positive_fraction: float = 0.25       # TRAIN.FG_FRACTION
    # Detectron MODEL.BBOX_REG_WEIGHTS
    box_coder_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    smooth_l1_beta: float = 1.0           # Detectron.pytorch's smooth_l1_loss (sigma 1)
    # loss weight per InstanceClass (paper, Sec. II.B): cosmic 1; neutrino up-weighted by the
    # training set's cosmic / neutrino ratio, "on the order of 20"; neutron, proton, electron
    # and other 0 ("we eliminated training on the labels ... by setting their loss weights to
    # zero")
    class_weights: tuple[float, ...] = (1.0, 20.0, 0.0, 0.0, 0.0, 0.0)
    background_weight: float = 1.0        # the paper gives none: unweighted
    # scale of each named term: He et al. 2017, Sec. 3: L = L_cls + L_box + L_mask
    class_loss_weight: float = 1.0
    box_loss_weight: float = 1.0
    mask_loss_weight: float = 1.0
    # inference
    score_threshold: float = 0.4          # paper, Sec. III.A: scores above 0.4
    nms_threshold: float = 0.5            # Detectron TEST.NMS
    detections_per_image: int = 100       # Detectron TEST.DETECTIONS_PER_IM
    mask_threshold: float = 0.5           # Detectron MRCNN.THRESH_BINARIZE
    min_box_size: float = 1e-2            # drop degenerate boxes before NMS (torchvision's)

    def __post_init__(self) -> None:
        if len(self.class_weights) != self.n_classes:
            raise ValueError(f"class_weights has {len(self.class_weights)} entries for "
                             f"{self.n_classes} classes")
        if min(self.class_weights) < 0 or self.background_weight < 0:
            raise ValueError("class weights must be >= 0")
        if not 0.0 < self.positive_fraction <= 1.0 or self.batch_size_per_image < 1:
            raise ValueError(f"bad sampling: {self.batch_size_per_image} proposals per image, "
                             f"positive fraction {self.positive_fraction}")


# ----------------------------------------------------------------------------- pooling
def assign_levels(boxes: Tensor, strides: Sequence[int], canonical_size: float = 224.0,
                  canonical_level: int = 4) -> Tensor:
    """(K,) index into ``strides`` of the feature level each box is pooled from: FPN's
    k = floor(k0 + log2(sqrt(w h) / 224)) (Lin et al. 2017, eq. 1), level k having stride 2^k,
    clamped to the levels present. One level: all 0."""
    if len(strides) == 1:
        return torch.zeros(len(boxes), dtype=torch.long, device=boxes.device)
    levels = torch.tensor([math.log2(s) for s in strides], device=boxes.device)
    scale = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-6).sqrt()
    k = torch.floor(canonical_level + torch.log2(scale / canonical_size + 1e-8))
    k = k.clamp(float(levels.min()), float(levels.max()))
    return (k[:, None] - levels[None]).abs().argmin(dim=1)


def pool_rois(features: Sequence[Tensor], strides: Sequence[int], boxes: Sequence[Tensor],
              output_size: int, sampling_ratio: int) -> Tensor:
    """(sum K_i, C, S, S) ROIAlign (aligned) of every image's boxes (K_i, 4) in image pixels,
    each from its level's map (:func:`assign_levels`), in the order of the boxes."""
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i), dtype=b.dtype,
                                            device=b.device), b], dim=1)
                      for i, b in enumerate(boxes)])
    c = features[0].shape[1]
    if len(features) == 1:
        return roi_align(features[0], rois, output_size, 1.0 / strides[0], sampling_ratio, True)
    level = assign_levels(rois[:, 1:], strides)
    out = features[0].new_zeros(len(rois), c, output_size, output_size)
    for i, (f, s) in enumerate(zip(features, strides)):
        idx = torch.nonzero(level == i).flatten()
        if len(idx):
            out[idx] = roi_align(f, rois[idx], output_size, 1.0 / s, sampling_ratio, True)
    return out


# ------------------------------------------------------------------------------- heads
class BoxHead(nn.Module):
    """Flattened ROI features -> two FC layers (ReLU) -> (K, n_classes + 1) class logits and
    (K, 4 n_classes) deltas, four per instance class."""

    def __init__(self, in_features: int, representation: int, n_classes: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_features, representation)
        self.fc7 = nn.Linear(representation, representation)
        self.cls_score = nn.Linear(representation, n_classes + 1)
        self.bbox_pred = nn.Linear(representation, 4 * n_classes)
        for fc in (self.fc6, self.fc7):  # Detectron: Xavier fill, zero bias
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        # Detectron: small Gaussians, so that the first scores are uniform and the boxes the
        # proposals
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Module):
    """(K, C, S, S) ROI features -> (K, n_classes, 2S, 2S) mask logits: ``n_convs`` 3×3
    convolutions (ReLU), a 2×2 stride-2 transposed convolution (ReLU), a 1×1 convolution."""

    def __init__(self, in_channels: int, channels: int, n_convs: int, n_classes: int) -> None:
        super().__init__()
        convs, c = [], in_channels
        for _ in range(n_convs):
            convs += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU()]
            c = channels
        self.convs = nn.Sequential(*convs)
        self.upsample = nn.ConvTranspose2d(c, channels, 2, stride=2)
        self.logits = nn.Conv2d(channels, n_classes, 1)
        for m in self.modules():  # Detectron: MSRA fill for the mask head
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.logits.weight, std=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(F.relu(self.upsample(self.convs(x))))


# -------------------------------------------------------------------------- module
class RoIHeads(nn.Module):
    """Box and mask heads on one or more feature maps of strides ``strides`` (image pixels per
    map cell, in the order of the backbone's outputs).

    ``forward(features, proposals, image_sizes, targets=None)``: in training mode the named
    losses ``roi_class``, ``roi_box``, ``roi_mask`` (:meth:`losses`); in eval mode the
    detections (:meth:`detect`). ``proposals``: per image (P_i, 4) boxes; ``image_sizes``: per
    image the (H, W) of its real pixels; ``targets``: per image ``boxes`` (K, 4), ``labels``
    (K,) InstanceClass, ``masks`` (K, H, W) bool (:mod:`larseg.data.instances`)."""

    def __init__(self, cfg: RoIHeadsConfig, in_channels: int, strides: Sequence[int]) -> None:
        super().__init__()
        self.cfg = cfg
        self.strides = tuple(int(s) for s in strides)
        self.box_head = BoxHead(in_channels * cfg.box_roi_size ** 2, cfg.representation,
                                cfg.n_classes)
        self.mask_head = MaskHead(in_channels, cfg.mask_channels, cfg.mask_convs,
                                  cfg.n_classes)
        self.coder = BoxCoder(cfg.box_coder_weights)
        self.matcher = Matcher(cfg.fg_iou, cfg.bg_iou, allow_low_quality_matches=False)
        self.sampler = BalancedSampler(cfg.batch_size_per_image, cfg.positive_fraction)
        weights = torch.tensor((cfg.background_weight, *cfg.class_weights), dtype=torch.float32)
        self.register_buffer("class_weights", weights, persistent=False)

    def _maps(self, features: Mapping[str, Tensor] | Sequence[Tensor]) -> list[Tensor]:
        maps = list(features.values()) if isinstance(features, Mapping) else list(features)
        if len(maps) != len(self.strides):
            raise ValueError(f"{len(maps)} feature maps for {len(self.strides)} strides")
        return maps

    def forward(self, features, proposals: Sequence[Tensor],
                image_sizes: Sequence[tuple[int, int]],
                targets: Sequence[Mapping[str, Tensor]] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("the ROI heads need targets in training mode")
            return self.losses(features, proposals, image_sizes, targets)
        return self.detect(features, proposals, image_sizes)

    # ---- training
    def losses(self, features, proposals: Sequence[Tensor],
               image_sizes: Sequence[tuple[int, int]],
               targets: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """``roi_class``, ``roi_box``, ``roi_mask`` (module doc) of a batch; with no ground
        truth only the background term is non-zero, and every term stays connected to the
        heads' parameters."""
        maps = self._maps(features)
        cfg = self.cfg
        sampled = [sample_proposals(p, t["boxes"].to(p.device), t["labels"].to(p.device),
                                    self.matcher, self.sampler)
                   for p, t in zip(proposals, targets)]
        boxes = [s.boxes for s in sampled]
        labels = torch.cat([s.labels for s in sampled])
        reg = torch.cat([self._regression_targets(s, t["boxes"])
                         for s, t in zip(sampled, targets)])
        weight = self.class_weights[labels]
        feats = pool_rois(maps, self.strides, boxes, cfg.box_roi_size, cfg.sampling_ratio)
        class_logits, box_deltas = self.box_head(feats)
        roi_class, roi_box = box_losses(class_logits, box_deltas, labels, reg, weight,
                                        cfg.smooth_l1_beta)
        # masks of the foreground proposals, each against its matched ground truth
        fg = [torch.nonzero(s.labels > BACKGROUND).flatten() for s in sampled]
        fg_boxes = [s.boxes[i] for s, i in zip(sampled, fg)]
        fg_labels = torch.cat([s.labels[i] for s, i in zip(sampled, fg)])
        targets_m = torch.cat([
            self._mask_targets(t["masks"].to(s.boxes.device), s.matched[i], s.boxes[i])
            for s, t, i in zip(sampled, targets, fg)])
        mask_feats = pool_rois(maps, self.strides, fg_boxes, cfg.mask_roi_size,
                               cfg.sampling_ratio)
        mask_logits = self.mask_head(mask_feats)
        roi_mask = mask_loss(mask_logits, fg_labels, targets_m, self.class_weights[fg_labels])
        return {"roi_class": cfg.class_loss_weight * roi_class,
                "roi_box": cfg.box_loss_weight * roi_box,
                "roi_mask": cfg.mask_loss_weight * roi_mask}

    def _regression_targets(self, s: Sampled, gt_boxes: Tensor) -> Tensor:
        """(n, 4) deltas from the foreground proposals to their boxes; 0 for background."""
        reg = torch.zeros_like(s.boxes)
        fg = s.labels > BACKGROUND
        if fg.any():
            reg[fg] = self.coder.encode(gt_boxes.to(s.boxes)[s.matched[fg]], s.boxes[fg])
        return reg

    def _mask_targets(self, masks: Tensor, matched: Tensor, boxes: Tensor) -> Tensor:
        size = 2 * self.cfg.mask_roi_size
        if self.cfg.mask_target == "bilinear":
            return bilinear_mask_targets(masks, matched, boxes, size)
        return dilate(overlap_mask_targets(masks, matched, boxes, size), self.cfg.mask_dilation)

    # ---- inference
    @torch.no_grad()
    def detect(self, features, proposals: Sequence[Tensor],
               image_sizes: Sequence[tuple[int, int]]) -> list[dict[str, Tensor]]:
        """Per image ``boxes`` (D, 4), ``labels`` (D,) InstanceClass, ``scores`` (D,),
        ``masks`` (D, H, W) bool at the image's size (module doc, inference), and
        ``mask_probs`` (D, S, S): the mask head's probabilities of each detection's class, the
        maps :func:`paste_masks` pasted (a pixel's cell: :func:`mask_cell`)."""
        maps = self._maps(features)
        cfg = self.cfg
        feats = pool_rois(maps, self.strides, list(proposals), cfg.box_roi_size,
                          cfg.sampling_ratio)
        class_logits, box_deltas = self.box_head(feats)
        found = postprocess_detections(class_logits, box_deltas, proposals, image_sizes,
                                       self.coder, cfg.score_threshold, cfg.nms_threshold,
                                       cfg.detections_per_image, cfg.min_box_size)
        boxes = [b for b, _, _ in found]
        mask_feats = pool_rois(maps, self.strides, boxes, cfg.mask_roi_size, cfg.sampling_ratio)
        probs = torch.sigmoid(self.mask_head(mask_feats))
        out, start = [], 0
        for (b, s, lab), size in zip(found, image_sizes):
            m = probs[start:start + len(b)]
            start += len(b)
            m = m[torch.arange(len(b), device=m.device), lab]
            out.append({"boxes": b, "labels": lab, "scores": s,
                        "masks": paste_masks(m, b, size, cfg.mask_threshold), "mask_probs": m})
        return out


__all__ = ["BACKGROUND", "BoxHead", "MaskHead", "RoIHeads", "RoIHeadsConfig", "Sampled",
           "assign_levels", "bilinear_mask_targets", "box_losses", "dilate", "mask_cell", "mask_loss",
           "overlap_mask_targets", "paste_masks", "pool_rois", "postprocess_detections",
           "sample_proposals"]
