"""Losses that return named, already-weighted terms (the trainer sums and logs each).

Both pixel losses weight and average over every labelled pixel of every plane (the SBND paper's
scheme); pixels labelled -1 are ignored. The weights are the batch's ``weight`` (made by
:mod:`larseg.data.weights`, what the display shows) when given, else the class weights.
"""

from __future__ import annotations

from ..data._torch import torch


class _PixelLoss(torch.nn.Module):
    def __init__(self, class_weights: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32))

    def _flat(self, logits, label):
        """(N, C) logits, (N,) targets with -1 clamped to 0, (N,) labelled mask."""
        c = logits.shape[2]
        target = label.reshape(-1)
        return logits.permute(0, 1, 3, 4, 2).reshape(-1, c), target.clamp(min=0), target >= 0

    def _mean(self, per_pixel, target, keep, weight):
        if weight is None:
            weight = torch.where(keep, self.class_weights[target], 0.0)
        else:
            weight = torch.where(keep, weight.reshape(-1).to(per_pixel.dtype), 0.0)
        return (per_pixel * weight).sum() / keep.sum().clamp(min=1)


class PixelCrossEntropy(_PixelLoss):
    """Cross entropy per pixel (the SBND paper's loss)."""

    def forward(self, logits, label, weight=None) -> dict:
        flat, target, keep = self._flat(logits, label)
        per_pixel = torch.nn.functional.cross_entropy(flat, target, reduction="none")
        return {"cross_entropy": self._mean(per_pixel, target, keep, weight)}


class PixelFocalLoss(_PixelLoss):
    """Focal loss per pixel, -w (1 - p_t)^gamma log p_t (Lin et al. 2017, "Focal Loss for Dense
    Object Detection"; the SBND paper's proposed future work, section 7); the class weights play
    the role of Lin et al.'s alpha. gamma = 0 is cross entropy."""

    def __init__(self, class_weights: tuple[float, ...], gamma: float = 2.0) -> None:
        # gamma = 2: the value Lin et al. 2017 found to work best in their experiments
        super().__init__(class_weights)
        self.gamma = float(gamma)

    def forward(self, logits, label, weight=None) -> dict:
        flat, target, keep = self._flat(logits, label)
        log_pt = torch.log_softmax(flat, dim=1).gather(1, target[:, None])[:, 0]
        if self.gamma == 0.0:
            per_pixel = -log_pt  # no 0 ** 0 term, whose gradient is NaN at p_t = 1
        else:
            # p_t <= 1 up to rounding: clamp so that a fractional gamma never sees a negative base
            per_pixel = -(1.0 - log_pt.exp()).clamp(min=0.0) ** self.gamma * log_pt
        return {"focal": self._mean(per_pixel, target, keep, weight)}


class SparseCrossEntropy(torch.nn.Module):
    """Cross entropy on sparse per-plane logits ((N_p, C) each), weighted per pixel and *summed*
    over the non-zero pixels of every plane, as MicroBooNE note 1091's loss (its cluster weights
    ∝ 1 / cluster size make each cluster count alike), divided by the events of the batch; or
    with ``reduction="mean"`` averaged over the labelled pixels (the SBND paper's). Pixels
    labelled -1 are ignored."""

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: list, label: list, weight: list, batch_size: int = 1) -> dict:
        # 0 × the logits: the graph stays connected when no pixel of the batch is labelled
        total = sum(lg.sum() * 0.0 for lg in logits)
        for lg, lab, w in zip(logits, label, weight):
            keep = lab >= 0
            if keep.any():
                ce = torch.nn.functional.cross_entropy(lg[keep], lab[keep], reduction="none")
                total = total + (ce * w[keep].to(ce.dtype)).sum()
        if self.reduction == "mean":
            n = sum(int((lab >= 0).sum()) for lab in label)
            return {"cross_entropy": total / max(n, 1)}
        return {"cross_entropy": total / max(int(batch_size), 1)}
