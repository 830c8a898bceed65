"""Which label a dataset yields: the cosmic tagger's, SparseSSNet's 5 classes, or track/shower.

- ``"cosmic"``: background 0 / cosmic 1 / neutrino 2 (SBND paper); every pixel of the image is
  labelled (empty pixels are background);
- ``"semantic"``: HIP 0, MIP 1, shower 2, delta 3, Michel 4 (MicroBooNE note 1091); pixels
  without a label (noise, empty pixels) are -1 and ignored by the loss;
- ``"track_shower"``: the semantic classes re-classified (note 1091, section 3.2) with
  :func:`larseg.labels.semantic_to_track_shower`; -1 stays -1.
- ``"ssnet"`` (dense only): SSNet's training categories, background 0, the 2-pixel edge band
  around features 1, track 2, shower 3 (:func:`larseg.data.weights.ssnet_categories`; every
  pixel labelled). Its network predicts background / track / shower: the edge band is background
  with its own loss weight.
- instances (Mask R-CNN, sMask-RCNN): :func:`instance_targets`, one mask, box and class per
  ancestor interaction of a plane (``Event.interaction_groups()``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidEventError
from ..labels import (COSMIC_NAMES, NO_LABEL, SEMANTIC_NAMES, TRACK_SHOWER_NAMES, CosmicLabel,
                      semantic_to_track_shower)
from .sample import PlaneArrays

TARGETS = ("cosmic", "semantic", "track_shower", "ssnet")

#: label field of the event each target is read from
SOURCE_FIELD = {"cosmic": "cosmic", "semantic": "semantic", "track_shower": "semantic",
                "ssnet": "semantic"}

#: class names per target (index = class id)
CLASS_NAMES = {"cosmic": COSMIC_NAMES, "semantic": SEMANTIC_NAMES,
               "track_shower": TRACK_SHOWER_NAMES,
               "ssnet": ("background", "edge", "track", "shower")}


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; choose one of {', '.join(TARGETS)}")
    return target


def fill_value(target: str) -> int:
    """Label of a pixel that holds no sparse entry (empty, or padding outside the image)."""
    return int(CosmicLabel.BACKGROUND) if check_target(target) == "cosmic" else NO_LABEL


def n_classes(target: str) -> int:
    return len(CLASS_NAMES[check_target(target)])


def target_labels(pa: PlaneArrays, target: str, event: str = "?") -> np.ndarray:
    """(N,) int64 labels of the chosen target for the pixels of ``pa``."""
    name = SOURCE_FIELD[check_target(target)]
    lab = pa.labels(name)
    if lab is None:
        raise InvalidEventError(f"target '{target}' needs '{name}' labels, which this event "
                                f"does not have", event=event, field=f"plane{pa.plane}.{name}")
    lab = lab.astype(np.int64)
    if target in ("track_shower", "ssnet"):  # ssnet: the dense dataset adds the edge band
        lab = semantic_to_track_shower(lab)
    return lab


@dataclass(frozen=True)
class InstanceTargets:
    """Mask R-CNN targets of one plane: one instance per ancestor interaction (sMask-RCNN).

    ``pixels[k]``: indices (into the plane's pixels) of instance k's mask; ``boxes`` (K, 4)
    float32 [column0, row0, column1, row1] in pixels, the end exclusive (torchvision's x1 y1 x2 y2
    with x = wire, y = time row); ``classes`` (K,) InstanceClass; ``group`` (K,) the interaction
    group of ``Event.interaction_groups()`` each instance is."""

    pixels: list
    boxes: np.ndarray
    classes: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)


def instance_targets(event, plane: int, *, min_adc: float = 10.0,
                     min_pixels: int = 1) -> InstanceTargets:
    """Instances of plane ``plane`` (an index into ``event.planes``): pixels with ADC ≥
    ``min_adc`` (sMask-RCNN zeroes ADC < 10) grouped by ancestor interaction; instances with
    fewer than ``min_pixels`` pixels are left out."""
    img = event.planes[plane]
    _, classes = event.interaction_groups()
    inst = event.interaction_instance(plane)
    keep = (img.values >= min_adc) & (inst >= 0)
    pixels, boxes, cls, groups = [], [], [], []
    for g in np.unique(inst[keep]):
        idx = np.flatnonzero(keep & (inst == g))
        if len(idx) < min_pixels:
            continue
        r, c = img.coords[idx, 0], img.coords[idx, 1]
        pixels.append(idx)
        boxes.append([c.min(), r.min(), c.max() + 1, r.max() + 1])
        cls.append(classes[int(g)])
        groups.append(int(g))
    return InstanceTargets(pixels=pixels, boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                           classes=np.asarray(cls, np.int64), group=np.asarray(groups, np.int64))
