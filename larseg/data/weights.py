"""Per-pixel loss weights of the four papers, computed from the labels of a batch (numpy).

Every function takes labels (and, where needed, coordinates or cluster ids) and returns one weight
per pixel; ignored pixels (label -1) get 0. The same arrays go to the loss and to the display's
weight panel, so that what a person looks at is what the network is trained with.

- :func:`class_weights` — a weight per class (the SBND paper's "mild" scheme: background 1,
  cosmic 1.5, neutrino 10, section 7).
- :func:`balance_weights` — the SBND paper's balancing: ``"image"``, w_c × N_c equal for every
  class present in each image; ``"full"``, the same over the whole batch; ``"none"``, all 1.
- :func:`cluster_weights` — SparseSSNet (note 1091, section 4): ∝ 1 / cluster size, within
  [2e-4, 2e-2].
- :func:`vertex_weights` — SparseSSNet: 0.02 for pixels within 3 pixels of a pixel of another
  label, 0 elsewhere.
- :func:`inverse_frequency_weights` — SSNet (PRD 99, 092001): each category weighted ∝ 1 / its
  pixel count (the categories of :func:`ssnet_categories`: background far from features, the
  2-pixel edge band around them, track, shower).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: SBND paper, section 7: cosmic pixels ×1.5, neutrino pixels ×10, background 1.
SBND_MILD_WEIGHTS = (1.0, 1.5, 10.0)
#: Note 1091, section 4: cluster weights span (0.02 – 2) × 10⁻²; the vertex weight is 0.02 within
#: three pixels of a pixel of a different label.
CLUSTER_WEIGHT_RANGE = (2e-4, 2e-2)
VERTEX_WEIGHT = 0.02
VERTEX_DISTANCE_PX = 3
#: SSNet (talk on PRD 99 092001): the background within 2 pixels of a feature is its own class.
SSNET_EDGE_PX = 2
SSNET_CATEGORIES = ("background", "edge", "track", "shower")


def class_weights(labels: np.ndarray, per_class: Sequence[float]) -> np.ndarray:
    """``per_class[label]`` for every pixel; 0 for ignored pixels (label < 0)."""
    labels = np.asarray(labels)
    table = np.asarray(per_class, dtype=np.float64)
    if labels.size and labels.max() >= table.size:
        raise ValueError(f"label {int(labels.max())} has no weight ({table.size} classes given)")
    out = np.zeros(labels.shape, dtype=np.float64)
    ok = labels >= 0
    out[ok] = table[labels[ok]]
    return out


def _balanced(labels: np.ndarray, n_classes: int) -> np.ndarray:
    ok = labels >= 0
    counts = np.bincount(labels[ok], minlength=n_classes).astype(np.float64)
    present = counts > 0
    if not present.any():
        return np.zeros(labels.shape)
    # w_c N_c equal for every class present, and the weights sum to the number of pixels
    w_c = np.where(present, ok.sum() / (present.sum() * np.maximum(counts, 1.0)), 0.0)
    out = np.zeros(labels.shape, dtype=np.float64)
    out[ok] = w_c[labels[ok]]
    return out


def balance_weights(labels: Sequence[np.ndarray], n_classes: int,
                    scheme: str = "image") -> list[np.ndarray]:
    """SBND paper's balance schemes over a batch of images (one label array per image/plane)."""
    if scheme == "none":
        return [np.where(np.asarray(lab) >= 0, 1.0, 0.0) for lab in labels]
    if scheme == "image":
        return [_balanced(np.asarray(lab), n_classes) for lab in labels]
    if scheme == "full":
        flat = np.concatenate([np.asarray(lab).reshape(-1) for lab in labels])
        w = _balanced(flat, n_classes)
        out, k = [], 0
        for lab in labels:
            n = np.asarray(lab).size
            out.append(w[k:k + n].reshape(np.shape(lab)))
            k += n
        return out
    raise ValueError(f"unknown balance scheme '{scheme}'; choose none, image or full")


def cluster_weights(cluster: np.ndarray, weight_range: tuple[float, float] = CLUSTER_WEIGHT_RANGE
                    ) -> np.ndarray:
    """1 / (pixels of the pixel's cluster), clipped to ``weight_range``; 0 where cluster < 0."""
    cluster = np.asarray(cluster)
    out = np.zeros(cluster.shape, dtype=np.float64)
    ok = cluster >= 0
    if not ok.any():
        return out
    ids, inverse, counts = np.unique(cluster[ok], return_inverse=True, return_counts=True)
    out[ok] = np.clip(1.0 / counts[inverse], *weight_range)
    return out


def vertex_weights(coords: np.ndarray, labels: np.ndarray, weight: float = VERTEX_WEIGHT,
                   distance: int = VERTEX_DISTANCE_PX) -> np.ndarray:
    """``weight`` for pixels with a labelled pixel of another label within ``distance`` pixels
    (Chebyshev distance, on the given sparse pixels), else 0. ``coords``: (N, 2) (row, col)."""
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    labels = np.asarray(labels)
    out = np.zeros(len(labels), dtype=np.float64)
    ok = labels >= 0
    if ok.sum() < 2:
        return out
    lo = coords.min(axis=0) - distance
    shape = coords.max(axis=0) - lo + distance + 1
    dense = np.full(tuple(shape), -1, dtype=np.int64)
    r, c = (coords - lo).T
    dense[r[ok], c[ok]] = labels[ok]
    near = np.zeros(len(labels), dtype=bool)
    for dr in range(-distance, distance + 1):
        for dc in range(-distance, distance + 1):
            if dr == 0 and dc == 0:
                continue
            other = dense[r + dr, c + dc]
            near |= (other >= 0) & (other != labels)
    out[near & ok] = weight
    return out


def ssnet_categories(track_shower: np.ndarray, edge: int = SSNET_EDGE_PX) -> np.ndarray:
    """SSNet's training categories of a dense (H, W) track(0)/shower(1)/empty(-1) image:
    0 background, 1 edge band (background within ``edge`` pixels of a feature), 2 track,
    3 shower."""
    ts = np.asarray(track_shower)
    feature = ts >= 0
    band = np.zeros_like(feature)
    h, w = feature.shape
    for dr in range(-edge, edge + 1):
        for dc in range(-edge, edge + 1):
            src = feature[max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)]
            band[max(0, dr):h - max(0, -dr), max(0, dc):w - max(0, -dc)] |= src
    out = np.where(band & ~feature, 1, 0)
    out[ts == 0] = 2
    out[ts == 1] = 3
    return out.astype(np.int64)


def inverse_frequency_weights(categories: np.ndarray, n_categories: int = 4) -> np.ndarray:
    """Each pixel weighted ∝ 1 / its category's pixel count (the weights sum to the number of
    pixels, every present category carrying an equal share)."""
    return _balanced(np.asarray(categories), n_categories)


#: Schemes :func:`event_weights` knows (the display's ``--loss-weights``).
EVENT_SCHEMES = ("mild", "image", "full", "cluster", "vertex", "cluster+vertex")


def event_weights(event, scheme: str) -> list[np.ndarray]:
    """Per-plane weights (aligned with each plane's pixels) of a scheme, from the event's labels:
    ``mild`` / ``image`` / ``full`` on the cosmic labels (SBND paper), ``cluster``, ``vertex``,
    ``cluster+vertex`` on the semantic labels with the instances as clusters (note 1091)."""
    if scheme not in EVENT_SCHEMES:
        raise ValueError(f"unknown weight scheme '{scheme}'; choose one of "
                         f"{', '.join(EVENT_SCHEMES)}")
    planes = event.planes
    if scheme in ("mild", "image", "full"):
        if any(img.cosmic is None for img in planes):
            raise ValueError(f"event {event.tag}: the '{scheme}' weights need cosmic labels")
        labels = [img.cosmic.astype(np.int64) for img in planes]
        if scheme == "mild":
            return [class_weights(lab, SBND_MILD_WEIGHTS) for lab in labels]
        return balance_weights(labels, 3, scheme)
    if any(img.semantic is None or img.instance is None for img in planes):
        raise ValueError(f"event {event.tag}: the '{scheme}' weights need semantic labels and "
                         "instances")
    out = []
    for img in planes:
        sem = img.semantic.astype(np.int64)
        w = np.zeros(len(img))
        if "cluster" in scheme:
            w += cluster_weights(np.where(sem >= 0, img.instance, -1))
        if "vertex" in scheme:
            w += vertex_weights(img.coords, sem)
        out.append(w)
    return out


#: The SBND paper's loss schemes (section 7): mild class weights, per-image or full balance, none.
BATCH_SCHEMES = ("mild", "image", "full", "none")


def batch_weights(label: np.ndarray, scheme: str, n_classes: int,
                  per_class: Sequence[float] = SBND_MILD_WEIGHTS) -> np.ndarray:
    """Weights (same shape) for a dense label batch (B, P, H, W): ``mild`` = ``per_class``,
    ``image`` = balanced within each plane image of each event, ``full`` = balanced over the whole
    batch, ``none`` = 1; 0 for ignored pixels."""
    label = np.asarray(label)
    if scheme == "mild":
        return class_weights(label, per_class)
    if scheme not in BATCH_SCHEMES:
        raise ValueError(f"unknown loss scheme '{scheme}'; choose one of {', '.join(BATCH_SCHEMES)}")
    images = [label[b, p] for b in range(label.shape[0]) for p in range(label.shape[1])]
    out = balance_weights(images, n_classes, scheme)
    return np.stack(out).reshape(label.shape)


#: Note 1091's schemes for sparse batches: cluster and/or vertex weights, plain (1), or
#: balanced over the batch's pixels per class.
SPARSE_SCHEMES = ("cluster+vertex", "cluster", "vertex", "none", "balanced")


def sparse_batch_weights(batch: dict, scheme: str, n_classes: int) -> list[np.ndarray]:
    """Per-plane weights (aligned with ``batch["label"][p]``) of a sparse batch, computed per
    event (the batch index is ``coords[:, 0]``); 0 for ignored pixels. ``cluster`` needs the
    batch's ``cluster`` ids."""
    if scheme not in SPARSE_SCHEMES:
        raise ValueError(f"unknown sparse loss scheme '{scheme}'; choose one of "
                         f"{', '.join(SPARSE_SCHEMES)}")
    out = []
    for p, label in enumerate(batch["label"]):
        label = np.asarray(label)
        coords = np.asarray(batch["coords"][p])
        w = np.zeros(len(label))
        if scheme == "none":
            w[:] = 1.0
        elif scheme == "balanced":
            w = _balanced(label, n_classes)
        else:
            cluster = np.asarray(batch["cluster"][p]) if "cluster" in scheme else None
            for b in np.unique(coords[:, 0]) if len(coords) else []:
                m = coords[:, 0] == b
                if cluster is not None:
                    w[m] += cluster_weights(np.where(label[m] >= 0, cluster[m], -1))
                if "vertex" in scheme:
                    w[m] += vertex_weights(coords[m, 1:], label[m])
        out.append(np.where(label >= 0, w, 0.0))
    return out
