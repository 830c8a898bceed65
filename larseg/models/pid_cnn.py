"""The particle-identification CNN of SSNet's transfer learning (talk on PRD 99, 092001, slide
"Transfer learning": a CNN "trained on particle ID (no semantic segmentation) using single
particle images", whose weights are transferred to SSNet, which then fine-tunes).

Its body is :class:`larseg.models.ssnet.SSNetEncoder`, the very class of SSNet's encoder, so
:func:`transfer_encoder` copies its state dict onto SSNet's one tensor for one tensor. On the
bottom features: global average pooling per plane image, the mean over the planes (one plane,
the collection plane, in :mod:`larseg.data.single_particle`), a linear layer to the 5 classes
e, γ, μ, π, p (:data:`PID_CLASSES`, the species of the talk's earlier CNN paper and of the
particle bomb). The pooling and head are our construction; the talk does not describe the CNN
beyond its task. Input ``(B, P, H, W)``, H and W divisible by ``size_multiple``; output logits
``(B, 5)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data._torch import torch
from ..errors import LarsegError
from .ssnet import encoder_from

nn = torch.nn

#: class index -> particle (the single-particle dataset's labels)
PID_CLASSES = ("e", "gamma", "mu", "pi", "p")


@dataclass(frozen=True)
class PIDConfig:
    name: str = "pid_cnn"
    n_classes: int = 5          # e, γ, μ, π, p (talk, slide "Transfer learning": particle ID)
    # the encoder's shape: must equal SSNet's (SSNetConfig) for the transfer
    filters: int = 16
    depth: int = 5
    blocks_per_level: int = 2
    stem_kernel: int = 7


class PIDCNN(nn.Module):
    # the trainer's classification path: simulated single particles, cross entropy on (B, 5)
    # (larseg.train.classification_path.ClassificationPath)
    training_path = "classification"

    def __init__(self, cfg: PIDConfig) -> None:
        super().__init__()
        self.encoder = encoder_from(cfg)
        self.feature_channels = self.encoder.out_channels
        self.head = nn.Linear(self.feature_channels, cfg.n_classes)
        self.size_multiple = 2 ** cfg.depth

    def features(self, image):
        """The backbone: the encoder's bottom features averaged over the image and the planes,
        ``(B, P, H, W)`` -> ``(B, feature_channels)``."""
        b, p, h, w = image.shape
        x, _ = self.encoder(image.reshape(b * p, 1, h, w))
        return x.mean(dim=(2, 3)).reshape(b, p, -1).mean(dim=1)

    def forward(self, image):
        return self.head(self.features(image))


def transfer_encoder(pid_model: nn.Module, ssnet_model: nn.Module) -> int:
    """Copy the PID CNN's encoder (parameters and BatchNorm statistics) into SSNet's encoder;
    returns the number of tensors copied. Raises :class:`LarsegError` naming the first tensor
    whose name or shape differs (the two configs' encoder fields must match)."""
    src = pid_model.encoder.state_dict()
    dst = ssnet_model.encoder.state_dict()
    if src.keys() != dst.keys():
        missing = sorted(set(dst) ^ set(src))
        raise LarsegError(f"transfer: the encoders have different layers (e.g. "
                          f"'{missing[0]}'): give the PID CNN and SSNet the same filters, depth, "
                          f"blocks_per_level and stem_kernel")
    for key, value in src.items():
        if value.shape != dst[key].shape:
            raise LarsegError(f"transfer: encoder tensor '{key}' is {tuple(value.shape)} in the "
                              f"PID CNN and {tuple(dst[key].shape)} in SSNet: give both the "
                              "same filters, depth, blocks_per_level and stem_kernel")
    ssnet_model.encoder.load_state_dict(src)
    return len(src)
