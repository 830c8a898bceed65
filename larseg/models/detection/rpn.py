"""The region proposal network (Ren et al. 2015, "Faster R-CNN", section 3.1) of sMask-RCNN, over
one or more feature levels: its head, the selection of proposals, and its loss.

- Head (shared by the levels): a 3×3 convolution and ReLU, then two 1×1 convolutions giving per
  anchor an objectness logit and four box deltas (weights drawn from N(0, 0.01²), biases 0, as
  Detectron initialises them). Every level must have the same number of anchors per position.
- Proposals (per image, gradients stopped): per level the ``pre_nms_top_n`` anchors of highest
  objectness, their deltas decoded onto the anchors (``BoxCoder``), clipped to the image; boxes
  smaller than ``min_size`` or scoring (sigmoid) below ``score_threshold`` dropped; NMS at
  ``nms_threshold`` within each level; the best ``post_nms_top_n`` over all levels, by score.
  Separate numbers in training and in evaluation (``self.training``).
- Loss: anchors matched to the ground truth boxes by IoU (``Matcher``: positive >= 0.7,
  negative < 0.3, each box keeps its best anchors), ``batch_size_per_image`` of them sampled per
  image (``BalancedSampler``); binary cross entropy of the objectness of the sampled anchors and
  smooth L1 (beta 1/9) of the positives' deltas against their encoded boxes, each summed and
  divided by the number of sampled anchors of the batch. Named terms ``rpn_objectness`` and
  ``rpn_box``, scaled by ``objectness_weight`` and ``box_weight``.

The paper takes its configuration from Facebook's Mask R-CNN ("This parameter was not optimized
by us", section II.A); the defaults are Detectron's for a single-level (stride-16) RPN, the
layout of larseg's default backbone (:mod:`.backbones`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...data._torch import torch
from .anchors import AnchorConfig, AnchorGenerator
from .boxes import BoxCoder, box_iou, clip_boxes, remove_small_boxes
from .matcher import BETWEEN_THRESHOLDS, BalancedSampler, Matcher
from .nms import batched_nms

nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

# anchors compared with the ground truth at a time: bounds the (G, chunk, 2) IoU temporaries
_IOU_CHUNK = 1 << 18


def _single_level_anchors() -> AnchorConfig:
    # Detectron's RPN on a stride-16 map: 5 sizes × 3 aspect ratios per position
    return AnchorConfig(sizes=((32.0, 64.0, 128.0, 256.0, 512.0),),
                        aspect_ratios=((0.5, 1.0, 2.0),))


@dataclass(frozen=True)
class RPNConfig:
    in_channels: int = 256            # the default backbone's stride-16 width (.backbones)
    anchors: AnchorConfig = field(default_factory=_single_level_anchors)
    fg_iou_threshold: float = 0.7     # Faster R-CNN, section 3.1.2
    bg_iou_threshold: float = 0.3
    batch_size_per_image: int = 256   # Faster R-CNN: 256 anchors per image, up to 1:1
    positive_fraction: float = 0.5
    # Detectron's single-level RPN: 12000 / 2000 in training, 6000 / 1000 in evaluation
    pre_nms_top_n_train: int = 12000  # per level and image
    post_nms_top_n_train: int = 2000  # per image
    pre_nms_top_n_test: int = 6000
    post_nms_top_n_test: int = 1000
    nms_threshold: float = 0.7
    # torchvision's 1e-3: drops the boxes that clipping flattened onto the image's edge
    min_size: float = 1e-3
    score_threshold: float = 0.0
    box_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    smooth_l1_beta: float = 1.0 / 9   # Detectron's RPN
    objectness_weight: float = 1.0
    box_weight: float = 1.0


@dataclass
class RPNOutput:
    """What ``RPN.forward`` gives: raw head outputs in the anchors' order (for the loss) and the
    selected proposals (detached)."""
    objectness: Tensor        # (N, A) logits
    deltas: Tensor            # (N, A, 4)
    anchors: Tensor           # (A, 4), the same for every image
    level_counts: list[int]   # anchors per level, in order
    proposals: list[Tensor]   # per image (P_i, 4), best first
    scores: list[Tensor]      # per image (P_i,), sigmoid of the objectness


class RPNHead(nn.Module):
    """3×3 conv + ReLU, then 1×1 convs to ``num_anchors`` logits and ``4 num_anchors`` deltas."""

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.objectness = nn.Conv2d(in_channels, num_anchors, 1)
        self.deltas = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for conv in (self.conv, self.objectness, self.deltas):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, features: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per level, (N, A, H, W) logits and (N, 4 A, H, W) deltas."""
        logits, deltas = [], []
        for f in features:
            t = F.relu(self.conv(f))
            logits.append(self.objectness(t))
            deltas.append(self.deltas(t))
        return logits, deltas


def _flatten(logits: list[Tensor], deltas: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Head outputs in the anchors' order (position-major, anchor-minor, level after level)."""
    obj, dlt = [], []
    for lg, d in zip(logits, deltas):
        n, a, h, w = lg.shape
        obj.append(lg.permute(0, 2, 3, 1).reshape(n, -1))
        dlt.append(d.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4))
    return torch.cat(obj, dim=1), torch.cat(dlt, dim=1)


class RPN(nn.Module):
    """The region proposal network; see the module docstring."""

    def __init__(self, cfg: RPNConfig = RPNConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.anchor_generator = AnchorGenerator(cfg.anchors)
        per_location = set(self.anchor_generator.num_anchors_per_location())
        if len(per_location) != 1:
            raise ValueError("the shared RPN head needs the same number of anchors at every "
                             f"level, got {self.anchor_generator.num_anchors_per_location()}")
        self.head = RPNHead(cfg.in_channels, per_location.pop())
        self.coder = BoxCoder(cfg.box_weights)
        self.matcher = Matcher(cfg.fg_iou_threshold, cfg.bg_iou_threshold,
                               allow_low_quality_matches=True)
        self.sampler = BalancedSampler(cfg.batch_size_per_image, cfg.positive_fraction)

    def forward(self, features: Sequence[Tensor], image_size: tuple[int, int]) -> RPNOutput:
        """Head outputs and proposals for the (N, C, H_l, W_l) maps of an (N, ·) batch of images
        of ``image_size`` (height, width) pixels (the padded size shared by the batch)."""
        logits, deltas = self.head(features)
        objectness, box_deltas = _flatten(logits, deltas)
        level_anchors = self.anchor_generator(
            image_size, [tuple(f.shape[-2:]) for f in features], box_deltas.dtype,
            box_deltas.device)
        counts = [int(f.shape[-2] * f.shape[-1]) * lg.shape[1]
                  for f, lg in zip(features, logits)]
        proposals, scores = self.select(objectness.detach(), box_deltas.detach(), level_anchors,
                                        counts, image_size)
        return RPNOutput(objectness, box_deltas, level_anchors, counts, proposals, scores)

    def select(self, objectness: Tensor, deltas: Tensor, anchors: Tensor, counts: list[int],
               image_size: tuple[int, int]) -> tuple[list[Tensor], list[Tensor]]:
        """Per image, the proposals (best first) and their scores; see the module docstring."""
        cfg = self.cfg
        pre_n = cfg.pre_nms_top_n_train if self.training else cfg.pre_nms_top_n_test
        post_n = cfg.post_nms_top_n_train if self.training else cfg.post_nms_top_n_test
        picked, levels, start = [], [], 0
        for level, count in enumerate(counts):
            k = min(pre_n, count)
            picked.append(objectness[:, start:start + count].topk(k, dim=1).indices + start)
            levels.append(torch.full((k,), level, dtype=torch.long, device=objectness.device))
            start += count
        index = torch.cat(picked, dim=1)  # (N, k over the levels)
        level = torch.cat(levels)
        proposals, scores = [], []
        for i in range(objectness.shape[0]):
            boxes = clip_boxes(self.coder.decode(deltas[i, index[i]], anchors[index[i]]),
                               image_size)
            score = torch.sigmoid(objectness[i, index[i]])
            keep = remove_small_boxes(boxes, cfg.min_size)
            keep = keep[score[keep] >= cfg.score_threshold]
            kept = keep[batched_nms(boxes[keep], score[keep], level[keep],
                                    cfg.nms_threshold)][:post_n]
            proposals.append(boxes[kept])
            scores.append(score[kept])
        return proposals, scores

    def match(self, anchors: Tensor, gt_boxes: Tensor) -> Tensor:
        """(A,) matched ground truth index per anchor, or the matcher's negative codes."""
        if len(gt_boxes) == 0:
            return self.matcher(anchors.new_zeros(0, len(anchors)))
        gt = gt_boxes.to(anchors.dtype)
        quality = torch.cat([box_iou(gt, anchors[s:s + _IOU_CHUNK])
                             for s in range(0, len(anchors), _IOU_CHUNK)], dim=1)
        return self.matcher(quality)

    def loss(self, out: RPNOutput, gt_boxes: Sequence[Tensor],
             generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``rpn_objectness`` and ``rpn_box`` for the batch's ground truth boxes (one (G_i, 4)
        tensor per image, G_i may be 0). ``generator`` seeds the anchor sampling."""
        n, a = out.objectness.shape
        if len(gt_boxes) != n:
            raise ValueError(f"{len(gt_boxes)} ground-truth tensors for {n} images")
        positives, negatives, targets = [], [], []
        for i, gt in enumerate(gt_boxes):
            matches = self.match(out.anchors, gt)
            labels = (matches >= 0).to(torch.long)
            labels[matches == BETWEEN_THRESHOLDS] = -1
            pos, neg = self.sampler(labels, generator)
            positives.append(pos + i * a)
            negatives.append(neg + i * a)
            targets.append(self.coder.encode(gt.to(out.anchors.dtype)[matches[pos]],
                                             out.anchors[pos]))
        pos, neg = torch.cat(positives), torch.cat(negatives)
        sampled = torch.cat([pos, neg])
        n_sampled = max(len(sampled), 1)
        logits = out.objectness.reshape(-1)[sampled]
        truth = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(logits)
        objectness = F.binary_cross_entropy_with_logits(logits, truth, reduction="sum")
        # an empty positive set gives a sum of 0 that still reaches the deltas (zero gradient)
        box = F.smooth_l1_loss(out.deltas.reshape(-1, 4)[pos], torch.cat(targets).to(logits),
                               beta=self.cfg.smooth_l1_beta, reduction="sum")
        return {"rpn_objectness": self.cfg.objectness_weight * objectness / n_sampled,
                "rpn_box": self.cfg.box_weight * box / n_sampled}
