"""The sections of a training config (``larseg train CONFIG``): model, data, loss, optim, train,
eval, each a frozen dataclass whose defaults cite the paper they come from
(:func:`larseg.train.config.load_config` fills them from YAML). :mod:`larseg.train.trainer`
re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..data.weights import SBND_MILD_WEIGHTS
from ..models.cosmic_tagger import CosmicTaggerConfig
from ..models.detection.mask_rcnn import MaskRCNNConfig
from ..models.pid_cnn import PIDConfig
from ..models.sparse_cosmic_tagger import SparseCosmicTaggerConfig
from ..models.sparse_ssnet import SparseSSNetConfig
from ..models.ssnet import SSNetConfig
from ..models.uresnet import UResNetConfig

# the model section: one config dataclass per network, chosen by its ``name``
ModelConfig = (UResNetConfig | CosmicTaggerConfig | SparseCosmicTaggerConfig | SparseSSNetConfig
               | SSNetConfig | PIDConfig | MaskRCNNConfig)


@dataclass(frozen=True)
class DataConfig:
    # larcv3 file (or larcv1 ROOT) with ADC and labels, or several as one sample ("a.h5,b.h5":
    # note 1091's bomb + bomb-lowe mix); for the PID CNN "single_particle:N", N simulated
    # single particles (larseg.train.classification_path.ClassificationPath)
    train: str = ""
    planes: tuple[int, ...] = (0, 1, 2)
    # what the labels are (larseg.data.targets): "ssnet" is SSNet's 4 training categories,
    # "species" the PID CNN's e / γ / μ / π / p of single particles
    # "instances": sMask-RCNN's per-interaction masks, boxes and classes (larseg.data.instances)
    target: Literal["cosmic", "semantic", "track_shower", "ssnet", "species",
                    "instances"] = "cosmic"
    downsample: int = 2                    # SBND paper: 50 % resolution
    pool: Literal["mean", "sum", "max"] = "mean"  # CosmicTagger averages the ADC of 2×2
    # rows, wires after downsampling; null: whole images (sMask-RCNN only, paper Sec. II.A)
    crop: tuple[int, int] | None = (256, 256)
    # fraction of the training crops centred on a neutrino pixel (target cosmic): larseg's
    # choice, not the paper's (it trained on whole images, where every image holds the neutrino)
    crop_focus: float = 0.0
    # one crop window for every plane (the planes of one event meet at the cosmic tagger's
    # deepest level, at the same drift time), or one per plane, each centred on that plane's own
    # activity (SparseSSNet: one network per plane, no data shared, note 1091; SSNet's path
    # always cuts per plane). A shared window is centred on one plane's pixel, and the same wire
    # numbers on the other planes look elsewhere: 22 % of MicroBooNE bomb plane crops then hold
    # fewer than 50 pixels (measured: benchmarks/crop_occupancy.py)
    crop_per_plane: bool = False
    batch_size: int = 1
    seed: int = 0
    cache: bool = True                     # keep the pooled events in memory after one read
    # held-out file, simulated with other seeds; for the PID CNN "single_particle:M" (seed
    # data.seed + 1) or "single_particle:M@SEED"
    validation: str = ""
    # its first events: whole (downsampled) images; SSNet: one crop per plane; PID: particles
    validation_events: int = 4


@dataclass(frozen=True)
class LossConfig:
    # dense networks, the SBND paper (section 7): "mild" class weights 1 / 1.5 / 10 (its
    # baseline), per-image balance, full (batch) balance, or none; sparse networks, note 1091:
    # cluster (1 / cluster size, clipped) + vertex weights, either, balanced, or none; SSNet
    # (talk on PRD 99, 092001, slide "Pixel-wise loss"): inverse_frequency (1 / the pixel count
    # of the pixel's category in its plane image), inverse_frequency_active (larseg's: the charged
    # background pixels a fifth category), inverse_frequency_features (larseg's: that, with track
    # and shower one category) or none; the PID CNN: none
    scheme: Literal["mild", "image", "full", "none", "cluster+vertex", "cluster", "vertex",
                    "balanced", "inverse_frequency", "inverse_frequency_active",
                    "inverse_frequency_features"] = "mild"
    class_weights: tuple[float, ...] = SBND_MILD_WEIGHTS
    # the SBND paper's cross entropy, or its proposed future work, the focal loss
    name: Literal["cross_entropy", "focal"] = "cross_entropy"
    focal_gamma: float = 2.0               # Lin et al. 2017
    # a curriculum: the first ``warmup_steps`` optimiser steps weight the pixels by
    # ``warmup_scheme`` (empty: none), the rest by ``scheme``. larseg's finding (docs/results.md):
    # with the mild weights from the first step the cosmic tagger sits in the all-background
    # solution, with per-image balance it finds the cosmic pixels within 60 steps
    warmup_scheme: Literal["", "mild", "image", "full", "none", "cluster+vertex", "cluster",
                           "vertex", "balanced", "inverse_frequency",
                           "inverse_frequency_active", "inverse_frequency_features"] = ""
    warmup_steps: int = 0

    def scheme_at(self, step: int | None) -> str:
        """The weighting of optimiser step ``step`` (1-based); None: the final one."""
        if self.warmup_scheme and step is not None and step <= self.warmup_steps:
            return self.warmup_scheme
        return self.scheme


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["rmsprop", "adam", "adamw"] = "rmsprop"  # SBND paper: RMSProp, lr 3e-4
    lr: float = 3e-4
    weight_decay: float = 0.0
    accumulate: int = 1
    clip_norm: float | None = None
    schedule: Literal["constant", "cosine", "step"] = "constant"  # SBND paper: constant
    warmup_steps: int = 0                  # linear warm-up before the schedule
    min_lr_ratio: float = 0.0              # cosine: the final lr as a fraction of lr
    step_every: int = 1000                 # step: multiply the lr by step_gamma every N steps
    step_gamma: float = 0.5


@dataclass(frozen=True)
class RunConfig:
    steps: int = 100
    checkpoint_every: int = 20
    validate_every: int = 0                # steps between validation passes (0: none)
    # keep the weights of every N-th step as RUN/snapshots/step_NNNNNN.safetensors (+ .json), to
    # choose a step on a validation file afterwards (0: none). With a constant schedule, the same
    # config with train.steps = N makes exactly snapshot N's weights
    snapshot_every: int = 0
    threads: int = 1
    device: str = "cpu"                    # cpu | cuda | cuda:N | auto
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    tensorboard: bool = False


@dataclass(frozen=True)
class EvalConfig:
    # the held-out files `larseg evaluate` reads when no --data is given ("a.h5,b.h5"),
    # simulated with seeds apart from the training data's
    data: str = ""
    max_events: int = 0                    # per file (0: every event)
    # the forward pass of evaluate and predict: bf16 runs it under autocast (on this machine's
    # CPU SparseSSNet's reference backend takes 0.41x the fp32 time: bench sparse-ssnet)
    precision: Literal["fp32", "bf16"] = "fp32"


@dataclass(frozen=True)
class TrainingConfig:
    model: ModelConfig = field(default_factory=UResNetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
