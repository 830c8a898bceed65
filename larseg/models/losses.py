"""Losses that return named, already-weighted terms (the trainer sums and logs each)."""

from __future__ import annotations

from ..data._torch import torch


class PixelCrossEntropy(torch.nn.Module):
    """Cross entropy per pixel, weighted and averaged over every labelled pixel of every plane
    (the SBND paper's scheme); pixels labelled -1 are ignored. The weights are the batch's
    ``weight`` (made by :mod:`larseg.data.weights`, what the display shows) when given, else the
    class weights."""

    def __init__(self, class_weights: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32))

    def forward(self, logits, label, weight=None) -> dict:
        b, p, c, h, w = logits.shape
        flat = logits.permute(0, 1, 3, 4, 2).reshape(-1, c)
        target = label.reshape(-1)
        per_pixel = torch.nn.functional.cross_entropy(flat, target.clamp(min=0), reduction="none")
        keep = target >= 0
        if weight is None:
            weight = torch.where(keep, self.class_weights[target.clamp(min=0)], 0.0)
        else:
            weight = torch.where(keep, weight.reshape(-1).to(per_pixel.dtype), 0.0)
        return {"cross_entropy": (per_pixel * weight).sum() / keep.sum().clamp(min=1)}
