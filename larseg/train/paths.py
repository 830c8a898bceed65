"""What differs between the networks in training and validation: the dataset, the collation,
the loss weights, the forward pass, the loss and the predictions. The trainer asks the model for
its path (:func:`path_kind`: the model's ``training_path`` attribute, else its ``input_kind``,
"dense" by default) and is otherwise the same for all.

Dense (:class:`DensePath`): :class:`~larseg.data.DenseDataset`, random crops with activity,
weights by ``loss.scheme`` mild | image | full | none (the SBND paper), logits (B, P, C, H, W).

Sparse (:class:`SparsePath`): :class:`~larseg.data.SparseDataset` with the model's ADC mask
(note 1091: 10-300 ADC) before the crops, weights by ``loss.scheme`` cluster+vertex | cluster |
vertex | balanced | none (note 1091), per-plane logits (N_p, C) on the input's pixels.

SSNet (:class:`SSNetPath`, the talk on PRD 99, 092001): the dense path on the ``"ssnet"``
target, whose labels are 4 training categories (background, 2-pixel edge band, track, shower);
the network has 3 outputs, so the loss maps the categories to classes with
:data:`~larseg.models.ssnet.CATEGORY_TO_CLASS` and weights each pixel by ``loss.scheme``
inverse_frequency (inverse to its category's pixel count in its plane image, the talk's U-Net
weights: :func:`~larseg.models.ssnet.ssnet_training_targets`), inverse_frequency_active (the
same with the charged background pixels as a fifth category) or none; with
``model.adc_threshold`` the features below it carry no loss (the network's input mask hides
them). Crops are drawn per plane
(each plane's window centred on one of its own labelled pixels: the planes are separate images
with shared weights, and a wire window of one plane is not the same region in another);
validation uses one such crop per plane and held-out event, the same at every pass (the stream
of epoch 0), instead of whole 3456-wire planes.

Classification (:class:`ClassificationPath`, the PID CNN of SSNet's transfer learning): the data
are simulated single particles, not a file: ``data.train: single_particle:N`` (N particles,
simulated with ``data.seed``) and ``data.validation: single_particle:M`` (seed ``data.seed`` + 1)
or ``single_particle:M@SEED``, the target ``species`` (e, γ, μ, π, p), one plane
(``data.planes: [2]``), square crops (``data.crop: [S, S]``) at full resolution
(``data.downsample: 1``): :class:`~larseg.data.single_particle.SingleParticleDataset` with its
other settings at their defaults (noise on, note 1091's kinetic-energy ranges). Batches are
``image`` (B, 1, S, S) and ``label`` (B,); the loss is the cross entropy of the (B, 5) logits,
unweighted (the classes are exactly balanced: item i is species i mod 5), so ``loss.scheme``
is none.

Input scaling: none on any path; the networks see the ADC as the files hold it (MicroBooNE
single particles: median ≈ 10-20 ADC per active pixel, 90 % quantile ≈ 50-80). The PID CNN and
SSNet see the same scale, so the transferred encoder's filters meet the inputs they were trained
on. The BatchNorm of the residual blocks sets the scale inside: the initial logits of both are of
the same size at ×1 and ×0.01 input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data._torch import torch
from ..data.targets import SOURCE_FIELD, n_classes
from ..data.weights import (BATCH_SCHEMES, SPARSE_SCHEMES, batch_weights, class_weights,
                            sparse_batch_weights)
from ..errors import LarsegError
from ..models.ssnet import SSNET_SCHEMES
from . import runtime

#: the ``data.train`` / ``data.validation`` prefix of simulated single particles
SINGLE_PARTICLE = "single_particle"
#: target of the PID CNN: the particle species of :mod:`larseg.data.single_particle`
SPECIES_TARGET = "species"


def input_kind(model) -> str:
    return getattr(model, "input_kind", "dense")


def path_kind(model) -> str:
    """The training path of a model: its ``training_path`` attribute, else its input kind."""
    return getattr(model, "training_path", input_kind(model))


def target_classes(target: str) -> int:
    """The outputs a network needs for ``target``: the target's class count, except for
    ``"ssnet"`` (4 training categories, 3 classes: the edge band is background) and
    ``"species"`` (the 5 particle species)."""
    if target == SPECIES_TARGET:
        from ..data.single_particle import SPECIES

        return len(SPECIES)
    if target == "ssnet":
        from ..models.ssnet import CATEGORY_TO_CLASS

        return max(CATEGORY_TO_CLASS) + 1
    if target == "instances":  # sMask-RCNN's instance classes (no background slot)
        from ..labels import InstanceClass

        return len(InstanceClass)
    return n_classes(target)


def _events(cfg, path: str, key: str):
    from ..io import open_events

    if path.startswith(f"{SINGLE_PARTICLE}:"):
        raise LarsegError(f"data.{key}: '{path}' (simulated single particles) is the PID CNN's "
                          "data (model.name pid_cnn); this network reads files")
    fields = [SOURCE_FIELD[cfg.data.target]]
    if "cluster" in cfg.loss.scheme:
        fields.append("instance")  # the clusters of note 1091's weights
    files = [p.strip() for p in path.split(",") if p.strip()]  # "a.h5,b.h5": one sample
    for f in files or [""]:
        if not f or not Path(f).is_file():
            raise LarsegError(f"data.{key}: file {f or '(none given)'} does not exist")
    if len(files) == 1:
        return open_events(Path(files[0]), fields=fields)
    from ..io.events import ConcatEvents

    return ConcatEvents([open_events(Path(f), fields=fields) for f in files])


def _image_forward(cfg, net, batch: dict, device):
    """The network on the batch's dense ``image``, with the runtime options, logits in fp32."""
    image = runtime.to_input(batch["image"], device, cfg.train.channels_last)
    with runtime.autocast(cfg.train.precision, device):
        return net(image).float()


class DensePath:
    schemes = BATCH_SCHEMES
    targets = ("cosmic", "semantic", "track_shower")
    whose = "a dense network's"

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def crop(self):
        from ..data import RandomCrop

        return RandomCrop(self.cfg.data.crop, min_pixels=1,
                          focus_fraction=self.cfg.data.crop_focus,
                          shared=not self.cfg.data.crop_per_plane)

    def dataset(self, path: str, key: str, training: bool):
        from ..data import DenseDataset

        return self._dataset(DenseDataset, path, key, training,
                             [self.crop()] if training else None)

    def _dataset(self, cls, path: str, key: str, training: bool, transform):
        """A ``cls`` dataset of the files ``path`` with the config's planes, target and
        pooling; held-out sets (training=False) are always kept in memory."""
        cfg = self.cfg
        return cls(_events(cfg, path, key), planes=cfg.data.planes, target=cfg.data.target,
                   transform=transform, downsample=cfg.data.downsample, pool=cfg.data.pool,
                   seed=cfg.data.seed, on_empty="skip", cache=cfg.data.cache or not training)

    @staticmethod
    def collate(items):
        from ..data.collate import dense_collate

        return dense_collate(items)

    @staticmethod
    def pad(batch: dict, multiple: int) -> dict:
        """A whole-image batch zero-padded to multiples of ``multiple`` (labels with -1)."""
        h, w = batch["image"].shape[-2:]
        pad = (0, -w % multiple, 0, -h % multiple)
        batch["image"] = torch.nn.functional.pad(batch["image"], pad)
        batch["label"] = torch.nn.functional.pad(batch["label"], pad, value=-1)
        return batch

    def weights(self, batch: dict, device, step: int | None = None):
        cfg = self.cfg
        return torch.from_numpy(batch_weights(batch["label"].numpy(), cfg.loss.scheme_at(step),
                                              cfg.model.n_classes,
                                              cfg.loss.class_weights)).float().to(device)

    def forward(self, net, batch: dict, device):
        return _image_forward(self.cfg, net, batch, device)

    @staticmethod
    def loss(loss_fn, outputs, batch: dict, weight, device) -> dict:
        return loss_fn(outputs, batch["label"].to(device), weight)

    @staticmethod
    def predictions(outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth, prediction, active) flattened over every pixel with ADC > 0."""
        active = batch["image"].numpy() > 0
        pred = outputs.argmax(dim=2).cpu().numpy()
        return batch["label"].numpy()[active], pred[active], active[active]


class SSNetPath(DensePath):
    schemes = SSNET_SCHEMES
    targets = ("ssnet",)
    whose = "SSNet's"

    def crop(self):
        from ..data import RandomCrop

        return RandomCrop(self.cfg.data.crop, min_pixels=1, shared=False)

    def dataset(self, path: str, key: str, training: bool):
        from ..data import DenseDataset

        # validation too: the same crops at every pass (the held-out set stays at epoch 0)
        return self._dataset(DenseDataset, path, key, training, [self.crop()])

    def _targets(self, batch: dict, scheme: str):
        from ..models.ssnet import ssnet_training_targets

        return ssnet_training_targets(batch["label"], scheme, batch["image"],
                                      float(getattr(self.cfg.model, "adc_threshold", 0.0)))

    def weights(self, batch: dict, device, step: int | None = None):
        return self._targets(batch, self.cfg.loss.scheme_at(step))[1].to(device)

    def classes(self, batch: dict):
        """SSNet's classes (background 0, track 1, shower 2) of a batch's categories; -1 where
        ignored (no truth, or a feature below ``model.adc_threshold``)."""
        return self._targets(batch, "none")[0]

    def loss(self, loss_fn, outputs, batch: dict, weight, device) -> dict:
        return loss_fn(outputs, self.classes(batch).to(device), weight)

    def predictions(self, outputs, batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth class, prediction, active) over every pixel the network sees charge on (ADC
        > 0 after its input mask) and that has a truth."""
        from ..models.ssnet import ssnet_input

        thr = float(getattr(self.cfg.model, "adc_threshold", 0.0))
        truth = self.classes(batch).numpy()
        active = (ssnet_input(batch["image"], thr).numpy() > 0) & (truth >= 0)
        pred = outputs.argmax(dim=2).cpu().numpy()
        return truth[active], pred[active], active[active]


class SparsePath(DensePath):
    # note 1091's schemes, and the SBND paper's mild class weights for the sparse cosmic tagger
    schemes = (*SPARSE_SCHEMES, "mild")
    whose = "a sparse network's"

    def dataset(self, path: str, key: str, training: bool):
        from ..data import AdcMask, RandomCrop, SparseDataset

        cfg = self.cfg
        steps = [AdcMask(cfg.model.adc_min, cfg.model.adc_max)]
        if training:
            steps.append(RandomCrop(cfg.data.crop, min_pixels=1,
                                    focus_fraction=cfg.data.crop_focus,
                                    shared=not cfg.data.crop_per_plane))
        return self._dataset(SparseDataset, path, key, training, steps)

    @staticmethod
    def collate(items):
        from ..data.collate import sparse_collate

        return sparse_collate(items)

    @staticmethod
    def pad(batch: dict, multiple: int) -> dict:
        return batch  # sparse networks take any spatial size

    def weights(self, batch: dict, device, step: int | None = None):
        cfg = self.cfg
        scheme = cfg.loss.scheme_at(step)
        if scheme == "mild":
            w = [class_weights(np.asarray(lab), cfg.loss.class_weights) for lab in batch["label"]]
        else:
            w = sparse_batch_weights(batch, scheme, cfg.model.n_classes)
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


from .classification_path import ClassificationPath  # noqa: E402 - the PID CNN's, its own module
from .detection_path import DetectionPath  # noqa: E402 - sMask-RCNN's path, in its own module

PATHS = {"dense": DensePath, "sparse": SparsePath, "ssnet": SSNetPath,
         "classification": ClassificationPath, "detection": DetectionPath}


def path_for(model, cfg):
    """The path of ``model``, after checking that the config's target and loss scheme are ones
    it trains with."""
    kind = path_kind(model)
    if kind not in PATHS:
        raise LarsegError(f"model '{cfg.model.name}' asks for training path '{kind}'; larseg "
                          f"has {', '.join(PATHS)}")
    cls = PATHS[kind]
    if cfg.data.target not in cls.targets:
        raise LarsegError(f"data.target '{cfg.data.target}' is not one of {cls.whose}: "
                          f"{', '.join(cls.targets)}")
    for key in ("scheme", "warmup_scheme"):
        value = getattr(cfg.loss, key)
        if value and value not in cls.schemes:
            raise LarsegError(f"loss.{key} '{value}' is not one of {cls.whose}: "
                              f"{', '.join(cls.schemes)}")
    if cfg.data.crop is None and kind != "detection":
        raise LarsegError(f"data.crop is null (whole images): {cls.whose} train on crops; give "
                          "data.crop as [rows, wires]")
    if not 0.0 <= cfg.data.crop_focus <= 1.0:
        raise LarsegError(f"data.crop_focus is {cfg.data.crop_focus}: a fraction of the crops, "
                          "in [0, 1]")
    if bool(cfg.loss.warmup_scheme) != (cfg.loss.warmup_steps > 0):
        raise LarsegError("loss.warmup_scheme and loss.warmup_steps go together: give both "
                          f"(now '{cfg.loss.warmup_scheme}' for {cfg.loss.warmup_steps} steps)")
    if kind == "sparse" and "mild" in (cfg.loss.scheme, cfg.loss.warmup_scheme) \
            and cfg.loss.warmup_scheme:
        raise LarsegError("loss.warmup_scheme: a sparse network's loss is a mean with the mild "
                          "weights and a sum otherwise, so it cannot switch between them")
    n = getattr(cfg.model, "n_classes", None)
    if cfg.loss.scheme == "mild" and n is not None and len(cfg.loss.class_weights) != n:
        raise LarsegError(f"loss.class_weights has {len(cfg.loss.class_weights)} weights, the "
                          f"model {n} classes: give one weight per class with loss.scheme mild")
    multiple = int(getattr(model, "size_multiple", 1))
    if cls is ClassificationPath and cfg.data.crop[0] % multiple:
        raise LarsegError(f"data.crop: the image side {cfg.data.crop[0]} must be a multiple of "
                          f"{multiple} (2**model.depth)")
    return cls(cfg)


def loss_function(cfg, model):
    """The loss of a ``loss`` section for the model (:mod:`larseg.models.losses`)."""
    from ..models.losses import PixelCrossEntropy, PixelFocalLoss, SparseCrossEntropy

    kind = path_kind(model)
    if kind in ("sparse", "classification") and cfg.name != "cross_entropy":
        raise LarsegError(f"loss.name '{cfg.name}': {kind} networks train with cross_entropy")
    if kind == "sparse":  # the SBND paper averages over pixels, note 1091 sums
        return SparseCrossEntropy(reduction="mean" if cfg.scheme == "mild" else "sum")
    if kind == "classification":
        return torch.nn.CrossEntropyLoss()  # mean over the batch's images
    if cfg.name == "focal":
        return PixelFocalLoss(cfg.class_weights, cfg.focal_gamma)
    return PixelCrossEntropy(cfg.class_weights)
