"""Assigning anchors (or proposals) to ground truth boxes, and sampling them for the loss.

``Matcher`` follows Faster R-CNN (Ren et al. 2015, section 3.1.2): a prediction whose best IoU
with a ground truth box is >= ``high_threshold`` is matched to that box, one below
``low_threshold`` is background, one in between is ignored; with ``allow_low_quality_matches``
each ground truth box also keeps the predictions of its highest IoU (ties included), so that no
box goes without an anchor. ``BalancedSampler`` draws up to ``batch_size_per_image`` of them,
at most ``positive_fraction`` positives and negatives for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...data._torch import torch

Tensor = torch.Tensor

BELOW_LOW_THRESHOLD = -1   # background
BETWEEN_THRESHOLDS = -2    # ignored by the loss


@dataclass(frozen=True)
class Matcher:
    high_threshold: float = 0.7   # Faster R-CNN's RPN: positive at IoU >= 0.7
    low_threshold: float = 0.3    # negative below 0.3
    allow_low_quality_matches: bool = True

    def __post_init__(self) -> None:
        if self.low_threshold > self.high_threshold:
            raise ValueError(f"low threshold {self.low_threshold} above the high one "
                             f"{self.high_threshold}")

    def __call__(self, quality: Tensor) -> Tensor:
        """(P,) index of the matched ground truth box of each prediction, or
        ``BELOW_LOW_THRESHOLD`` / ``BETWEEN_THRESHOLDS``, from a (G, P) IoU matrix. With no
        ground truth (G = 0) every prediction is background."""
        n_gt, n_pred = quality.shape
        if n_gt == 0:
            return torch.full((n_pred,), BELOW_LOW_THRESHOLD, dtype=torch.long,
                              device=quality.device)
        best, matches = quality.max(dim=0)
        argmax = matches.clone()
        matches[best < self.low_threshold] = BELOW_LOW_THRESHOLD
        matches[(best >= self.low_threshold) & (best < self.high_threshold)] = BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            best_per_gt = quality.max(dim=1).values
            # a ground truth box overlapping nothing (best IoU 0) claims no prediction
            hit = (quality == best_per_gt[:, None]) & (best_per_gt[:, None] > 0)
            pred = hit.any(dim=0)
            # restored to the prediction's own best box, as Faster R-CNN's implementations do
            matches[pred] = argmax[pred]
        return matches


@dataclass(frozen=True)
class BalancedSampler:
    batch_size_per_image: int = 256   # Faster R-CNN: 256 anchors per image ...
    positive_fraction: float = 0.5    # ... with up to 1:1 positives to negatives

    def __call__(self, labels: Tensor,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(positive indices, negative indices), each sorted, drawn without replacement from
        ``labels`` (P,): 1 positive, 0 negative, -1 ignored. ``generator`` (a CPU
        ``torch.Generator``) makes the draw reproducible; None uses torch's global RNG."""
        positive = torch.nonzero(labels == 1).flatten()
        negative = torch.nonzero(labels == 0).flatten()
        n_pos = min(int(self.batch_size_per_image * self.positive_fraction), len(positive))
        n_neg = min(self.batch_size_per_image - n_pos, len(negative))
        return self._draw(positive, n_pos, generator), self._draw(negative, n_neg, generator)

    @staticmethod
    def _draw(candidates: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        pick = torch.randperm(len(candidates), generator=generator)[:n]
        return torch.sort(candidates[pick.to(candidates.device)]).values
