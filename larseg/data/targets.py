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
"""

from __future__ import annotations

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
