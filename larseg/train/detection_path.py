"""sMask-RCNN's training path (the trainer's ``path`` for models whose ``training_path`` is
"detection", :mod:`larseg.train.paths`): the data, the forward pass, the loss and what the
validation pass counts.

Data: :class:`~larseg.data.instances.InstanceDataset` on one plane (``data.planes``: one entry,
MicroBooNE's collection plane 2 in the paper), at full resolution (``data.downsample`` 1), the
ADC below the model's ``adc_threshold`` (10) set to 0, with the target ``instances``. Training
items are ``data.crop`` windows (the paper's 512 × 832), ten per event each holding part of an
interaction (paper, Sec. II.A); held-out items are one such window per event, the same at every
pass (the stream of epoch 0). The 80 / 20 split of the paper (Sec. II.A): when ``data.validation``
is the same file(s) as ``data.train``, :func:`~larseg.data.instances.split_events` (seeded by
``data.seed``) gives the training set 80 % of its events and the held-out set the other 20 %;
with another file each side reads its whole file.

Batches are :func:`~larseg.data.instances.instance_collate`'s. The forward pass returns
``{"losses": ...}`` in training mode (the model's named terms: ``rpn_objectness``, ``rpn_box``,
``roi_class``, ``roi_box``, ``roi_mask``), and in eval mode the same losses of the held-out batch
with its detections (:meth:`MaskRCNN.validation_forward`). The class weights live in the model
config (``model.class_weights``), since the ROI heads compute their own loss: the ``loss``
section's scheme is ``none`` and the trainer's loss function is not used.

Validation accuracy (the trainer's ``val_accuracy``): per ground-truth instance, whether the
prediction scoring above the score threshold whose mask covers most of its active pixels has its
class (a missed instance counts as wrong); the paper's metrics are ``larseg evaluate``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LarsegError
from . import runtime

#: the ``data.target`` of sMask-RCNN's items
INSTANCES_TARGET = "instances"


def open_instance_events(spec: str, key: str):
    """The events of the file(s) ``spec`` ("a.h5" or "a.h5,b.h5") with the fields instance
    targets need."""
    from ..data.instances import FIELDS
    from ..io import open_events
    from ..io.events import ConcatEvents

    files = [p.strip() for p in spec.split(",") if p.strip()]
    for f in files or [""]:
        if not f or not Path(f).is_file():
            raise LarsegError(f"data.{key}: file {f or '(none given)'} does not exist")
    opened = [open_events(Path(f), fields=FIELDS) for f in files]
    return opened[0] if len(opened) == 1 else ConcatEvents(opened)


def detections_to_predictions(detection: dict[str, Any]) -> list[dict[str, Any]]:
    """One image's detections (``boxes``, ``labels``, ``scores``, ``masks``) as the list of
    ``{mask, label, score}`` that :class:`larseg.metrics.instances.InstanceEvaluator` reads."""
    masks = detection["masks"].cpu()
    return [{"mask": masks[k].numpy(), "label": int(detection["labels"][k]),
             "score": float(detection["scores"][k])} for k in range(len(masks))]


class DetectionPath:
    schemes = ("none",)
    targets = (INSTANCES_TARGET,)
    whose = "sMask-RCNN's"

    def __init__(self, cfg) -> None:
        data = cfg.data
        if len(data.planes) != 1:
            raise LarsegError(f"data.planes: sMask-RCNN is trained on one plane, got "
                              f"{list(data.planes)} (the paper's: [2], the collection plane)")
        if data.downsample != 1:
            raise LarsegError(f"data.downsample: sMask-RCNN reads full-resolution images; set 1, "
                              f"not {data.downsample}")
        self.cfg = cfg

    def _split(self, path: str, training: bool, n_events: int) -> np.ndarray | None:
        """The events of one side of the 80 / 20 split, when train and validation are one
        sample; None (all events) otherwise."""
        data = self.cfg.data
        if not data.validation or data.validation.strip() != data.train.strip():
            return None
        from ..data.instances import split_events

        train, held_out = split_events(n_events, 0.8, data.seed)
        return train if training else held_out

    def dataset(self, path: str, key: str, training: bool):
        from ..data.instances import InstanceDataConfig, InstanceDataset

        cfg = self.cfg
        source = open_instance_events(path, key)
        config = InstanceDataConfig(
            plane=cfg.data.planes[0], min_adc=float(getattr(cfg.model, "adc_threshold", 10.0)),
            crop=tuple(cfg.data.crop) if cfg.data.crop else None,
            crops_per_event=10 if training else 1,
            seed=cfg.data.seed, on_empty="skip")
        return InstanceDataset(source, config, events=self._split(path, training, len(source)),
                               cache=cfg.data.cache or not training)

    @staticmethod
    def collate(items):
        from ..data.instances import instance_collate

        return instance_collate(items)

    @staticmethod
    def pad(batch: dict, multiple: int) -> dict:
        return batch  # the backbone pads its input to its multiple itself

    def weights(self, batch: dict, device, step: int | None = None):
        return None  # the ROI heads weight by class (model.class_weights)

    def forward(self, net, batch: dict, device) -> dict:
        image = batch["image"].to(device)
        targets = [{k: t[k].to(device) for k in ("boxes", "labels", "masks")}
                   for t in batch["targets"]]
        sizes = [tuple(s) for s in batch["image_sizes"]]
        with runtime.autocast(self.cfg.train.precision, device):
            if net.training:
                return {"losses": {k: v.float() for k, v in net(image, targets, sizes).items()}}
            model = getattr(net, "module", net)  # the model inside a DDP wrapper
            losses, detections = model.validation_forward(image, targets, sizes)
        return {"losses": {k: v.float() for k, v in losses.items()}, "detections": detections}

    @staticmethod
    def loss(loss_fn, outputs, batch: dict, weight, device) -> dict:
        return outputs["losses"]

    def predictions(self, outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth class, class of its best-covering prediction or -1, all True) per
        ground-truth instance with active pixels (module doc)."""
        from ..metrics.instances import efficiencies, match

        threshold = float(getattr(self.cfg.model, "score_threshold", 0.4))
        min_adc = float(getattr(self.cfg.model, "adc_threshold", 10.0))
        truth, pred = [], []
        for i, (det, target, (h, w)) in enumerate(zip(outputs["detections"], batch["targets"],
                                                       batch["image_sizes"])):
            m = match(detections_to_predictions(det), target, batch["image"][i, 0, :h, :w],
                      min_adc)
            eff, _ = efficiencies(m, threshold)
            use = m.pred_score > threshold
            overlap = np.where(use[None], m.overlap, -1)
            for k in np.flatnonzero(np.isfinite(eff)):
                best = int(overlap[k].argmax()) if use.any() else -1
                found = best >= 0 and overlap[k, best] > 0
                truth.append(int(m.truth_label[k]))
                pred.append(int(m.pred_label[best]) if found else -1)
        truth_a, pred_a = np.asarray(truth, np.int64), np.asarray(pred, np.int64)
        return truth_a, pred_a, np.ones(len(truth_a), bool)


def class_counts(dataset, items: int | None = None) -> np.ndarray:
    """Instances per :class:`~larseg.labels.InstanceClass` in the first ``items`` items of an
    instance dataset (all by default): the cosmic / neutrino ratio the paper sets the neutrino
    weight to (Sec. II.B)."""
    from ..labels import InstanceClass

    counts = np.zeros(len(InstanceClass), np.int64)
    for i in range(len(dataset) if items is None else min(items, len(dataset))):
        item = dataset[i]
        if item is not None:
            counts += np.bincount(item["target"]["labels"].numpy(), minlength=len(counts))
    return counts


def source_backbone(spec: str) -> str:
    """The backbone ("dense" / "sparse") of the sMask-RCNN weights ``spec`` names (a run's
    ``model.safetensors`` or shipped weights' name), from the config stored beside them."""
    from ..weights import resolve_weights
    from ..weights.loading import config_of

    try:
        source = config_of(resolve_weights(spec)).model
    except LarsegError as e:
        raise LarsegError(f"model.init_from: {e}") from None
    if getattr(source, "name", "") != "mask_rcnn":
        raise LarsegError(f"model.init_from '{spec}': not mask_rcnn weights (model "
                          f"'{getattr(source, 'name', '?')}')")
    return source.backbone


def init_backbone_from(model, cfg) -> dict:
    """The paper's transfer (Sec. II.B): the backbone of the dense sMask-RCNN run whose weights
    ``cfg.model.init_from`` names (its ``model.safetensors``, or shipped weights' name) copied
    into ``model``'s sparse backbone (:func:`~larseg.models.detection.transfer.
    transfer_dense_weights`: every tensor, convolutions permuted to the sparse layout). The
    dense network is built from the config stored beside its weights and loaded with the sha256
    and architecture checks; the RPN and ROI heads keep their initialisation, as in the paper,
    where only the backbone was pretrained. The global torch RNG is left as it was, so runs with
    and without the transfer start from the same heads. Returns the run's record (file, sha256,
    tensors copied)."""
    from ..data._torch import torch
    from ..models import build
    from ..models.detection.transfer import transfer_dense_weights
    from ..weights import resolve_weights
    from ..weights.loading import config_of, load_checked, sha256_of

    spec = cfg.model.init_from
    if cfg.model.backbone != "sparse":
        raise LarsegError(f"model.init_from '{spec}': the transfer initialises a sparse "
                          "backbone; this model's is dense")
    try:
        path = resolve_weights(spec)
        source = config_of(path).model
        if getattr(source, "name", "") != "mask_rcnn" or source.backbone != "dense":
            raise LarsegError(f"weights {path} are not a dense mask_rcnn's (model "
                              f"'{getattr(source, 'name', '?')}', backbone "
                              f"'{getattr(source, 'backbone', '?')}')")
        with torch.random.fork_rng(devices=[]):
            dense = build(source)
        load_checked(dense, path)
        report = transfer_dense_weights(model.backbone, dense.backbone)
    except LarsegError as e:
        raise LarsegError(f"model.init_from: {e} (it must be a dense sMask-RCNN run's weights "
                          "with this model's backbone widths, blocks and strides)") from None
    return {"path": str(spec), "file": str(path), "sha256": sha256_of(path),
            "tensors": len(report.copied)}


__all__ = ["DetectionPath", "INSTANCES_TARGET", "class_counts", "detections_to_predictions",
           "init_backbone_from", "open_instance_events", "source_backbone"]
