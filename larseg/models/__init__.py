"""Networks and their losses, built from configs through a small registry.

``build(cfg)`` returns the ``nn.Module`` the config's ``name`` registers. So far: ``uresnet``, the
engine's small dense UResNet (:mod:`larseg.models.uresnet`); ``cosmic_tagger``, the SBND paper's
multi-plane UResNet (:mod:`larseg.models.cosmic_tagger`); ``sparse_ssnet``, MicroBooNE note 1091's
submanifold sparse UResNet, one network per plane (:mod:`larseg.models.sparse_ssnet`); ``ssnet``,
MicroBooNE's dense track/shower U-Net (:mod:`larseg.models.ssnet`) and ``pid_cnn``, the particle-ID
CNN whose encoder initialises it (:mod:`larseg.models.pid_cnn`); the other papers' networks arrive
with their issues.

Each segmentation network is a backbone and a head, each replaceable: ``features(x)`` is the
backbone (``feature_channels`` per pixel, or per site for the sparse networks), ``head`` the module
that maps them to the classes, and ``forward`` the one after the other (plus the network's own
output layout); a head of another class count in its place retargets a trained backbone
(``tests/test_models_composition.py``). The losses are modules of their own
(:mod:`larseg.models.losses`), and Mask R-CNN is built from a backbone that promises
``out_channels``, an RPN and ROI heads (:mod:`larseg.models.detection`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import LarsegError

_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    def deco(builder: Callable) -> Callable:
        _REGISTRY[name] = builder
        return builder
    return deco


def build(cfg):
    """The network of a model config (its ``name`` selects the builder)."""
    _load()
    try:
        builder = _REGISTRY[cfg.name]
    except KeyError:
        raise LarsegError(f"unknown model '{cfg.name}'; available: "
                          f"{', '.join(sorted(_REGISTRY))}") from None
    return builder(cfg)


def _load() -> None:
    if not _REGISTRY:
        from .cosmic_tagger import CosmicTagger
        from .detection.mask_rcnn import build_mask_rcnn
        from .pid_cnn import PIDCNN
        from .sparse_cosmic_tagger import SparseCosmicTagger
        from .sparse_ssnet import SparseSSNet
        from .ssnet import SSNet
        from .uresnet import UResNet

        register("uresnet")(UResNet)
        register("cosmic_tagger")(CosmicTagger)
        register("sparse_ssnet")(SparseSSNet)
        register("sparse_cosmic_tagger")(SparseCosmicTagger)
        register("ssnet")(SSNet)
        register("pid_cnn")(PIDCNN)
        register("mask_rcnn")(build_mask_rcnn)
