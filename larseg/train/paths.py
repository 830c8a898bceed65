"""What differs between dense and sparse networks in training and validation: the dataset, the
collation, the loss weights, the forward pass and the loss. The trainer asks the model's
``input_kind`` ("dense", the default, or "sparse") for its path and is otherwise the same.

Dense: :class:`~larseg.data.DenseDataset`, random crops with activity, weights by
``loss.scheme`` mild | image | full | none (the SBND paper), logits (B, P, C, H, W).
Sparse: :class:`~larseg.data.SparseDataset` with the model's ADC mask (note 1091: 10-300 ADC)
before the crops, weights by ``loss.scheme`` cluster+vertex | cluster | vertex | balanced | none
(note 1091), per-plane logits (N_p, C) on the input's pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..data.targets import SOURCE_FIELD
from ..data.weights import BATCH_SCHEMES, SPARSE_SCHEMES, batch_weights, sparse_batch_weights
from ..errors import LarsegError
from . import runtime


def input_kind(model) -> str:
    return getattr(model, "input_kind", "dense")


def _events(cfg, path: str, key: str):
    from ..io import open_events

    if not path or not Path(path).is_file():
        raise LarsegError(f"data.{key}: file {path or '(none given)'} does not exist")
    fields = [SOURCE_FIELD[cfg.data.target]]
    if "cluster" in cfg.loss.scheme:
        fields.append("instance")  # the clusters of note 1091's weights
    return open_events(Path(path), fields=fields)


class DensePath:
    schemes = BATCH_SCHEMES

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def dataset(self, path: str, key: str, training: bool):
        from ..data import DenseDataset, RandomCrop

        cfg = self.cfg
        crop = [RandomCrop(cfg.data.crop, min_pixels=1)] if training else None
        return DenseDataset(_events(cfg, path, key), planes=cfg.data.planes,
                            target=cfg.data.target, transform=crop,
                            downsample=cfg.data.downsample, pool=cfg.data.pool,
                            seed=cfg.data.seed, on_empty="skip",
                            cache=cfg.data.cache or not training)

    @staticmethod
    def collate(items):
        from ..data.collate import dense_collate

        return dense_collate(items)

    def weights(self, batch: dict, device):
        cfg = self.cfg
        return torch.from_numpy(batch_weights(batch["label"].numpy(), cfg.loss.scheme,
                                              cfg.model.n_classes,
                                              cfg.loss.class_weights)).float().to(device)

    def forward(self, net, batch: dict, device):
        cfg = self.cfg
        image = runtime.to_input(batch["image"], device, cfg.train.channels_last)
        with runtime.autocast(cfg.train.precision, device):
            return net(image).float()

    @staticmethod
    def loss(loss_fn, outputs, batch: dict, weight, device) -> dict:
        return loss_fn(outputs, batch["label"].to(device), weight)

    @staticmethod
    def predictions(outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth, prediction, active) flattened over every pixel with ADC > 0."""
        active = batch["image"].numpy() > 0
        pred = outputs.argmax(dim=2).cpu().numpy()
        return batch["label"].numpy()[active], pred[active], active[active]


class SparsePath(DensePath):
    schemes = SPARSE_SCHEMES

    def dataset(self, path: str, key: str, training: bool):
        from ..data import AdcMask, RandomCrop, SparseDataset

        cfg = self.cfg
        steps = [AdcMask(cfg.model.adc_min, cfg.model.adc_max)]
        if training:
            steps.append(RandomCrop(cfg.data.crop, min_pixels=1))
        return SparseDataset(_events(cfg, path, key), planes=cfg.data.planes,
                             target=cfg.data.target, transform=steps,
                             downsample=cfg.data.downsample, pool=cfg.data.pool,
                             seed=cfg.data.seed, on_empty="skip",
                             cache=cfg.data.cache or not training)

    @staticmethod
    def collate(items):
        from ..data.collate import sparse_collate

        return sparse_collate(items)

    def weights(self, batch: dict, device):
        w = sparse_batch_weights(batch, self.cfg.loss.scheme, self.cfg.model.n_classes)
        return [torch.from_numpy(x).float().to(device) for x in w]

    def forward(self, net, batch: dict, device):
        from ..models.sparse import SparseTensor

        cfg = self.cfg
        planes = [SparseTensor.from_pixels(c.to(device), f.to(device), shape, batch["batch_size"])
                  for c, f, shape in zip(batch["coords"], batch["features"],
                                         batch["spatial_shape"])]
        with runtime.autocast(cfg.train.precision, device):
            return [x.float() for x in net(planes)]

    @staticmethod
    def loss(loss_fn, outputs, batch: dict, weight, device) -> dict:
        return loss_fn(outputs, [x.to(device) for x in batch["label"]], weight,
                       batch["batch_size"])

    @staticmethod
    def predictions(outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        truth = np.concatenate([x.numpy() for x in batch["label"]])
        pred = np.concatenate([o.argmax(dim=1).cpu().numpy() for o in outputs])
        return truth, pred, np.ones(len(truth), bool)


def path_for(model, cfg) -> DensePath:
    path = SparsePath(cfg) if input_kind(model) == "sparse" else DensePath(cfg)
    if cfg.loss.scheme not in path.schemes:
        raise LarsegError(f"loss.scheme '{cfg.loss.scheme}' is not one of a "
                          f"{input_kind(model)} network's: {', '.join(path.schemes)}")
    return path


def loss_function(cfg, model):
    """The loss of a ``loss`` section for the model (:mod:`larseg.models.losses`)."""
    from ..models.losses import PixelCrossEntropy, PixelFocalLoss, SparseCrossEntropy

    if input_kind(model) == "sparse":
        if cfg.name != "cross_entropy":
            raise LarsegError(f"loss.name '{cfg.name}': sparse networks train with "
                              "cross_entropy")
        return SparseCrossEntropy()
    if cfg.name == "focal":
        return PixelFocalLoss(cfg.class_weights, cfg.focal_gamma)
    return PixelCrossEntropy(cfg.class_weights)
