"""Note 1091's pixel metrics for sparse networks: per-plane confusion of the network's input pixels.

A sparse network sees only the pixels its input mask keeps (SparseSSNet: 10-300 ADC), all of them
non-zero, so its "non-zero pixel" metrics (note 1091, Sec. 5) are counted over exactly those
pixels that carry a label (unlabelled input pixels, label -1, are counted apart and left out).

:class:`SparseConfusionEvaluator` accumulates one confusion matrix per plane (rows: truth,
columns: prediction) over sparse batches, and for the 5 semantic classes also the 2-class
matrix of note 1091's Fig. 5, obtained by summing the 5-class matrix over the groups
track = HIP + MIP and shower = shower + delta + Michel (:func:`merge_classes`: a pixel is right
in the 2-class matrix when its predicted class falls in its truth class's group, as the note's
re-classification "does not require new inferring").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..labels import SEMANTIC_NAMES, TRACK_SHOWER_NAMES, semantic_to_track_shower
from .segmentation import PLANE_NAMES, confusion, summarise


def merge_classes(cm: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """The confusion matrix of coarser classes: ``groups[c]`` is the coarse class of class c;
    entry (a, b) sums every (i, j) with groups[i] = a and groups[j] = b."""
    cm = np.asarray(cm)
    groups = np.asarray(groups, dtype=np.int64)
    onehot = np.zeros((len(groups), int(groups.max()) + 1), dtype=cm.dtype)
    onehot[np.arange(len(groups)), groups] = 1
    return onehot.T @ cm @ onehot


#: Coarse class of each semantic class: track (HIP, MIP) 0, shower (shower, delta, Michel) 1.
TRACK_SHOWER_GROUPS = tuple(int(g) for g in
                            semantic_to_track_shower(np.arange(len(SEMANTIC_NAMES))))


def plane_summary(cm: np.ndarray, names: Sequence[str]) -> dict:
    """:func:`summarise` plus the accuracy of each class (its pixels predicted as it: the
    diagonal of the matrix normalised by truth) and its purity (diagonal normalised by
    prediction)."""
    s = summarise(cm, names)
    s["class_accuracy"] = {n: s["normalised_by_truth"][i][i] for i, n in enumerate(names)}
    s["class_purity"] = {n: s["normalised_by_prediction"][i][i] for i, n in enumerate(names)}
    return s


def plane_name(plane: int) -> str:
    return PLANE_NAMES[plane] if plane < len(PLANE_NAMES) else str(plane)


class SparseConfusionEvaluator:
    """Per-plane confusion of sparse batches: ``batch["label"]`` a list (one (N_p,) array per
    plane position), ``outputs`` the network's per-plane (N_p, C) logits or (N_p,) classes.

    ``groups`` (optional): the coarse class of each class, with ``group_names``; given for the
    semantic target (track/shower), their matrix is reported under ``"track_shower"``."""

    def __init__(self, class_names: Sequence[str], planes: Sequence[int] = (0, 1, 2),
                 groups: Sequence[int] | None = None,
                 group_names: Sequence[str] = TRACK_SHOWER_NAMES) -> None:
        self.names = list(class_names)
        self.planes = [int(p) for p in planes]
        self.groups = None if groups is None else [int(g) for g in groups]
        self.group_names = list(group_names)
        self.reset()

    @classmethod
    def for_target(cls, target: str, class_names: Sequence[str],
                   planes: Sequence[int]) -> "SparseConfusionEvaluator":
        """The semantic target gets the 2-class matrix too; other targets their own only."""
        groups = TRACK_SHOWER_GROUPS if target == "semantic" else None
        return cls(class_names, planes, groups)

    def reset(self) -> None:
        n = len(self.names)
        self.cm = {k: np.zeros((n, n), dtype=np.int64) for k in range(len(self.planes))}
        self.unlabelled = {k: 0 for k in range(len(self.planes))}

    def process(self, batch: dict, outputs) -> None:
        n = len(self.names)
        for k, (label, out) in enumerate(zip(batch["label"], outputs)):
            out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
            pred = out.argmax(axis=1) if out.ndim == 2 else out
            truth = np.asarray(label)
            self.cm[k] += confusion(truth, pred, n)
            self.unlabelled[k] += int((truth < 0).sum())

    def evaluate(self) -> dict:
        """``{"active": {plane: summary}, "track_shower": {plane: summary}}`` (the second only
        with ``groups``); each summary also has ``unlabelled_pixels``."""
        out: dict[str, dict] = {"active": {}}
        if self.groups is not None:
            out["track_shower"] = {}
        for k, cm in self.cm.items():
            name = plane_name(self.planes[k])
            out["active"][name] = {**plane_summary(cm, self.names),
                                   "unlabelled_pixels": self.unlabelled[k]}
            if self.groups is not None:
                out["track_shower"][name] = plane_summary(merge_classes(cm, self.groups),
                                                          self.group_names)
        return out
