"""sMask-RCNN (``../shared/papers/`` 003): a Mask R-CNN made of a ResNet backbone (dense, or
sparse submanifold as the paper's sMask-RCNN), the region proposal network and the ROI heads
(classifier and "Maskifier"), composed as ``MaskRCNN(backbone, rpn, roi_heads)``.

``forward(images, targets=None, image_sizes=None)``, ``images`` (B, 1, H, W) ADC (the backbone
zeroes the pixels below ``adc_threshold``, 10, paper Sec. II.A):

- training mode: the dict of named losses ``rpn_objectness``, ``rpn_box`` (:mod:`.rpn`) and
  ``roi_class``, ``roi_box``, ``roi_mask`` (:mod:`.roi_heads`), each already scaled by its
  ``loss_weights`` entry; ``targets`` per image ``boxes`` (K, 4), ``labels`` (K,)
  :class:`~larseg.labels.InstanceClass`, ``masks`` (K, H, W) bool, the items of
  :mod:`larseg.data.instances`;
- eval mode: per image ``{boxes, labels, scores, masks, mask_probs}``: (D, 4) boxes,
  InstanceClass labels, scores above ``score_threshold`` (0.4, paper Sec. III.A), (D, H, W) bool
  masks pasted at the image's full resolution and the (D, S, S) mask-head probabilities they were
  pasted from.

``image_sizes`` gives each image's real (H, W) when a batch is zero-padded
(:func:`~larseg.data.instances.instance_collate`); detections are clipped to it.

:class:`MaskRCNNConfig` (model name ``mask_rcnn``) holds the three parts' settings in one flat
section. Its defaults are the paper's where the paper (or the Detectron configuration it takes,
Sec. II.A: "we take the configuration from Facebook's Mask-RCNN") fixes them, except for sizes
chosen for this CPU (the backbone's widths, :mod:`.backbones`), the anchors, fitted to LArTPC
tracks (see ``anchor_sizes``), and the mask targets' one-cell dilation (``mask_dilation``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ...data._torch import torch
from ...errors import LarsegError
from ..sparse import BackendName
from .anchors import AnchorConfig
from .backbones import ResNetBackboneConfig, build_backbone
from .roi_heads import RoIHeads, RoIHeadsConfig
from .rpn import RPN, RPNConfig

nn = torch.nn
Tensor = torch.Tensor

_RPN = RPNConfig()
_ROI = RoIHeadsConfig()
_BACKBONE = ResNetBackboneConfig()
#: the named loss terms, in the order of ``MaskRCNNConfig.loss_weights``
LOSS_TERMS = ("rpn_objectness", "rpn_box", "roi_class", "roi_box", "roi_mask")


@dataclass(frozen=True)
class MaskRCNNConfig:
    name: str = "mask_rcnn"
    n_classes: int = 6                     # InstanceClass (paper, Table I)
    # backbone (.backbones): the paper's sMask-RCNN has the sparse one (Sec. II.B)
    backbone: Literal["dense", "sparse"] = "sparse"
    backend: BackendName = "auto"          # sparse backend: spconv where it imports
    stem_filters: int = _BACKBONE.stem_filters
    stem_kernel: int = _BACKBONE.stem_kernel        # Detectron's 7×7 stem
    widths: tuple[int, ...] = _BACKBONE.widths      # larseg's CPU-sized ResNet (.backbones)
    blocks: tuple[int, ...] = _BACKBONE.blocks
    return_strides: tuple[int, ...] = _BACKBONE.return_strides  # one stride-16 map
    fpn_channels: int = _BACKBONE.fpn_channels
    adc_threshold: float = 10.0            # paper, Sec. II.A: ADC below 10 set to 0
    # the paper's transfer (Sec. II.B: a dense ResNet's pretrained weights initialise the sparse
    # one; ImageNet there, larseg's own trained dense backbone here): a dense mask_rcnn run's
    # weights (its model.safetensors, with the JSON beside it) whose backbone the trainer copies
    # into this sparse one before training ("" = random initialisation). The network ignores it.
    init_from: str = ""
    # anchors, per returned map one tuple of sizes (sqrt of the area, pixels); the aspect
    # ratios (height / width) apply to every map. larseg's choice for long thin tracks (the
    # paper keeps Detectron's 5 sizes × 3 ratios): half-octave sizes 16-512 and ratios 1/16-16.
    # On 60 simulated 512 × 832 crops (MicroBooNE cosmics+neutrino, 237 instances) the ground
    # truth boxes with an anchor at IoU >= 0.7 are 67 % (Detectron's anchors: 26 %), at >= 0.5
    # 91 % (71 %).
    anchor_sizes: tuple[tuple[float, ...], ...] = (
        (16.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0, 384.0, 512.0),)
    aspect_ratios: tuple[float, ...] = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    anchor_offset: float = 0.5             # anchors centred in their cell (larseg's choice)
    # region proposal network (.rpn: Faster R-CNN's and Detectron's values)
    rpn_fg_iou: float = _RPN.fg_iou_threshold
    rpn_bg_iou: float = _RPN.bg_iou_threshold
    rpn_batch_size_per_image: int = _RPN.batch_size_per_image
    rpn_positive_fraction: float = _RPN.positive_fraction
    rpn_pre_nms_top_n_train: int = _RPN.pre_nms_top_n_train
    rpn_post_nms_top_n_train: int = _RPN.post_nms_top_n_train
    rpn_pre_nms_top_n_test: int = _RPN.pre_nms_top_n_test
    rpn_post_nms_top_n_test: int = _RPN.post_nms_top_n_test
    rpn_nms_threshold: float = _RPN.nms_threshold
    # ROI heads (.roi_heads: Detectron's heads, the paper's weights and threshold)
    representation: int = _ROI.representation      # two FC layers of 1024
    mask_channels: int = _ROI.mask_channels        # four 3×3 convolutions of 256
    mask_convs: int = _ROI.mask_convs
    mask_target: Literal["overlap", "bilinear"] = _ROI.mask_target
    # "overlap" mask targets grown by one cell (larseg's choice; .roi_heads): after 600 steps of
    # larseg/configs/mask_rcnn.yaml, on one crop of each of 20 held-out events, efficiency /
    # purity / coverage 16.0 / 96.8 / 0.0 % without, 58.0 / 93.8 / 36.6 % with 1, 51.9 / 93.6 /
    # 36.6 % with 2
    mask_dilation: int = 1
    roi_batch_size_per_image: int = _ROI.batch_size_per_image   # 512 proposals per image ...
    roi_positive_fraction: float = _ROI.positive_fraction       # ... up to 25 % foreground
    roi_fg_iou: float = _ROI.fg_iou                 # foreground at IoU >= 0.5
    # per InstanceClass (paper, Sec. II.B): cosmic 1, neutrino ~20 (the cosmic / neutrino ratio
    # of the training set), proton, electron, neutron, other 0
    class_weights: tuple[float, ...] = _ROI.class_weights
    background_weight: float = _ROI.background_weight
    score_threshold: float = _ROI.score_threshold  # paper, Sec. III.A: 0.4
    nms_threshold: float = _ROI.nms_threshold
    detections_per_image: int = _ROI.detections_per_image
    # scale of each term of LOSS_TERMS (Mask R-CNN: L = L_rpn + L_cls + L_box + L_mask)
    loss_weights: tuple[float, float, float, float, float] = (1.0, 1.0, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if len(self.class_weights) != self.n_classes:
            raise LarsegError(f"model.class_weights has {len(self.class_weights)} weights for "
                              f"{self.n_classes} classes (one per InstanceClass)")
        if len(self.anchor_sizes) != len(self.return_strides):
            raise LarsegError(f"model.anchor_sizes has {len(self.anchor_sizes)} levels for the "
                              f"{len(self.return_strides)} maps of return_strides "
                              f"{list(self.return_strides)}")


# ------------------------------------------------------------------------------ parts
def backbone_config(cfg: MaskRCNNConfig) -> ResNetBackboneConfig:
    return ResNetBackboneConfig(
        stem_filters=cfg.stem_filters, stem_kernel=cfg.stem_kernel, widths=tuple(cfg.widths),
        blocks=tuple(cfg.blocks), return_strides=tuple(cfg.return_strides),
        fpn_channels=cfg.fpn_channels, adc_threshold=cfg.adc_threshold,
        sparse=cfg.backbone == "sparse", backend=cfg.backend)


def rpn_config(cfg: MaskRCNNConfig, in_channels: int) -> RPNConfig:
    anchors = AnchorConfig(sizes=tuple(tuple(s) for s in cfg.anchor_sizes),
                           aspect_ratios=(tuple(cfg.aspect_ratios),), offset=cfg.anchor_offset,
                           strides=tuple(cfg.return_strides))
    w = cfg.loss_weights
    return RPNConfig(
        in_channels=in_channels, anchors=anchors, fg_iou_threshold=cfg.rpn_fg_iou,
        bg_iou_threshold=cfg.rpn_bg_iou, batch_size_per_image=cfg.rpn_batch_size_per_image,
        positive_fraction=cfg.rpn_positive_fraction,
        pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
        post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
        pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test,
        post_nms_top_n_test=cfg.rpn_post_nms_top_n_test, nms_threshold=cfg.rpn_nms_threshold,
        objectness_weight=w[0], box_weight=w[1])


def roi_heads_config(cfg: MaskRCNNConfig) -> RoIHeadsConfig:
    w = cfg.loss_weights
    return RoIHeadsConfig(
        n_classes=cfg.n_classes, representation=cfg.representation,
        mask_channels=cfg.mask_channels, mask_convs=cfg.mask_convs, mask_target=cfg.mask_target,
        mask_dilation=cfg.mask_dilation,
        fg_iou=cfg.roi_fg_iou, bg_iou=cfg.roi_fg_iou,
        batch_size_per_image=cfg.roi_batch_size_per_image,
        positive_fraction=cfg.roi_positive_fraction, class_weights=tuple(cfg.class_weights),
        background_weight=cfg.background_weight, score_threshold=cfg.score_threshold,
        nms_threshold=cfg.nms_threshold, detections_per_image=cfg.detections_per_image,
        class_loss_weight=w[2], box_loss_weight=w[3], mask_loss_weight=w[4])


# ----------------------------------------------------------------------------- model
class MaskRCNN(nn.Module):
    """Backbone -> RPN -> ROI heads; see the module docstring for ``forward``."""

    training_path = "detection"   # larseg.train.detection_path.DetectionPath
    input_kind = "instances"      # batches of larseg.data.instances, not pixel labels

    def __init__(self, backbone: nn.Module, rpn: RPN, roi_heads: RoIHeads) -> None:
        super().__init__()
        self.backbone, self.rpn, self.roi_heads = backbone, rpn, roi_heads
        self.size_multiple = int(getattr(backbone, "size_multiple", 1))

    @staticmethod
    def _sizes(images: Tensor, image_sizes: Sequence[tuple[int, int]] | None
               ) -> list[tuple[int, int]]:
        if image_sizes is None:
            return [tuple(images.shape[-2:])] * images.shape[0]
        if len(image_sizes) != images.shape[0]:
            raise ValueError(f"{len(image_sizes)} image sizes for {images.shape[0]} images")
        return [(int(h), int(w)) for h, w in image_sizes]

    def _proposals(self, images: Tensor):
        features = self.backbone(images)
        maps = list(features.values()) if isinstance(features, Mapping) else list(features)
        return features, self.rpn(maps, tuple(images.shape[-2:]))

    def _losses(self, features, out, sizes, targets) -> dict[str, Tensor]:
        if targets is None or len(targets) != len(sizes):
            raise ValueError("training needs one target dict per image")
        losses = self.rpn.loss(out, [t["boxes"].to(out.anchors.device) for t in targets])
        losses.update(self.roi_heads.losses(features, out.proposals, sizes, targets))
        return losses

    def forward(self, images: Tensor, targets: Sequence[Mapping[str, Tensor]] | None = None,
                image_sizes: Sequence[tuple[int, int]] | None = None):
        sizes = self._sizes(images, image_sizes)
        features, out = self._proposals(images)
        if self.training:
            return self._losses(features, out, sizes, targets)
        return self.roi_heads.detect(features, out.proposals, sizes)

    @torch.no_grad()
    def validation_forward(self, images: Tensor, targets: Sequence[Mapping[str, Tensor]],
                           image_sizes: Sequence[tuple[int, int]] | None = None
                           ) -> tuple[dict[str, Tensor], list[dict[str, Tensor]]]:
        """(losses, detections) of a held-out batch in one backbone pass, the backbone as it
        is (eval mode: BatchNorm's running statistics). The losses use the training-time
        proposal counts, as a training step would; the proposal sampling draws from a forked
        RNG, so a validation pass leaves the training's random stream as it was."""
        sizes = self._sizes(images, image_sizes)
        was_training = self.rpn.training
        with torch.random.fork_rng(devices=[]):
            features = self.backbone(images)
            maps = list(features.values()) if isinstance(features, Mapping) else list(features)
            try:
                self.rpn.train()
                losses = self._losses(features, self.rpn(maps, tuple(images.shape[-2:])),
                                      sizes, targets)
                self.rpn.eval()
                out = self.rpn(maps, tuple(images.shape[-2:]))
            finally:
                self.rpn.train(was_training)
            detections = self.roi_heads.detect(features, out.proposals, sizes)
        return losses, detections


def build_mask_rcnn(cfg: MaskRCNNConfig) -> MaskRCNN:
    """The network of a ``mask_rcnn`` model config (what ``larseg.models.build`` calls)."""
    backbone = build_backbone(backbone_config(cfg))
    strides = [backbone.strides[k] for k in backbone.strides]
    rpn = RPN(rpn_config(cfg, backbone.out_channels))
    roi_heads = RoIHeads(roi_heads_config(cfg), backbone.out_channels, strides)
    model = MaskRCNN(backbone, rpn, roi_heads)
    model.cfg = cfg
    return model


__all__ = ["LOSS_TERMS", "MaskRCNN", "MaskRCNNConfig", "backbone_config", "build_mask_rcnn",
           "roi_heads_config", "rpn_config"]
