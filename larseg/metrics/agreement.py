"""Pixel agreement of two track/shower segmentations of the same plane images.

The use: larseg's prediction against another network's output stored in a file (MicroBooNE's
SSNet / SparseSSNet products), on the pixels that carry charge. Each source is first turned
into a per-pixel *decision* image of the plane — track (0), shower (1) or undecided (-1, the
source says nothing about the pixel) — by one of three conventions:

- class labels (:func:`decisions_from_labels`): an image of class codes in one of
  :data:`LABEL_ENCODINGS` (larseg's 5 SparseSSNet classes, track/shower, SSNet's classes, ...);
- per-class scores (:func:`decisions_from_scores`): one score image per class, the decision is
  the group (track, shower, or none for a background class) of the class with the highest
  score, as note 1091 re-classifies its 5 classes into track = HIP + MIP and
  shower = shower + delta + Michel (``../shared/papers/002``, Sec. 3.2);
- one shower-score image (:func:`decisions_from_shower_score`): shower above 0.5, else track.

Score images are zero where a network did not score a pixel (its input mask, an image region
it was not run on): a pixel whose scores are all exactly 0, or NaN, is undecided.

:func:`plane_agreement` compares two decision images on the pixels whose ADC is at least the
threshold (default 10 ADC, note 1091's input mask, so that a pixel SparseSSNet sees is counted):
the 2 × 2 table ``table[prediction, reference]`` of the pixels both sources decide, the pixels
either leaves undecided, and the (row, column) of every pixel they decide differently.
:class:`AgreementAccumulator` sums the tables over events, per plane and over all planes.

Which images make a source's decisions is a :class:`SourceSpec` (:func:`source_spec` parses
``PRODUCT[,PRODUCT...]`` or a preset of :data:`SOURCE_PRESETS`; :func:`decide` applies it);
:class:`EventArrays` holds one event's ADC and both decision images per plane,
:func:`event_agreement` compares them plane by plane and :func:`disagreement_rows` lists the
pixels decided differently (the rows of ``larseg agree``'s CSV).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..labels import NO_LABEL, TRACK_SHOWER_NAMES, TrackShowerLabel
from .segmentation import PLANE_NAMES

TRACK = int(TrackShowerLabel.TRACK)
SHOWER = int(TrackShowerLabel.SHOWER)
UNDECIDED = NO_LABEL

#: Pixels below this ADC are not compared: note 1091's input mask drops them (Sec. 2).
DEFAULT_ADC_THRESHOLD = 10.0
#: A single shower-score image: shower above this score, track at or below it.
DEFAULT_SHOWER_THRESHOLD = 0.5

#: Class code -> decision of each label encoding; codes not listed (and NaN) are undecided.
LABEL_ENCODINGS: dict[str, dict[int, int]] = {
    # larseg / note 1091: HIP 0, MIP 1, shower 2, delta 3, Michel 4 (larseg.labels)
    "semantic": {0: TRACK, 1: TRACK, 2: SHOWER, 3: SHOWER, 4: SHOWER},
    "track_shower": {0: TRACK, 1: SHOWER},
    # SSNet's classes: background 0, track 1, shower 2 (larseg.metrics.ssnet)
    "ssnet_classes": {1: TRACK, 2: SHOWER},
    # larseg's "ssnet" target: background 0, edge band 1, track 2, shower 3 (pred_ssnet)
    "ssnet_categories": {2: TRACK, 3: SHOWER},
    # MicroBooNE's DL reconstruction, image2d sparseuresnet_prediction: 0 not scored, 1 HIP,
    # 2 MIP (track), 3 shower (HIP and MIP are both tracks)
    "ubdl": {1: TRACK, 2: TRACK, 3: SHOWER},
    # larcv's ShapeType_t: shower 0, track 1, unknown 2 (larseg.labels)
    "larcv_shape": {0: SHOWER, 1: TRACK},
}

#: Decision of each class of the score images, by the number of images given.
SCORE_GROUPS: dict[int, tuple[int, ...]] = {
    2: (TRACK, SHOWER),                          # track score, shower score
    3: (UNDECIDED, TRACK, SHOWER),               # SSNet: background, track, shower
    5: (TRACK, TRACK, SHOWER, SHOWER, SHOWER),   # HIP, MIP, shower, delta, Michel
}


def decisions_from_labels(labels: np.ndarray, encoding: str = "semantic") -> np.ndarray:
    """Decision image (int8) of a class-label image in ``encoding`` (:data:`LABEL_ENCODINGS`)."""
    if encoding not in LABEL_ENCODINGS:
        raise ValueError(f"unknown label encoding '{encoding}'; choose one of "
                         f"{', '.join(LABEL_ENCODINGS)}")
    labels = np.asarray(labels)
    out = np.full(labels.shape, UNDECIDED, dtype=np.int8)
    for code, decision in LABEL_ENCODINGS[encoding].items():
        out[labels == code] = decision
    return out


def decisions_from_scores(scores: Sequence[np.ndarray],
                          groups: Sequence[int] | None = None) -> np.ndarray:
    """Decision image (int8) from one score image per class: ``groups[k]`` (default
    :data:`SCORE_GROUPS` by the number of images) is the decision of class k, the pixel takes
    that of its highest-scoring class (a tie goes to the first class). Undecided where the
    scores are all 0 or any is NaN (a pixel the network did not score)."""
    s = np.stack([np.asarray(x, dtype=np.float32) for x in scores])
    if groups is None:
        if len(s) not in SCORE_GROUPS:
            raise ValueError(f"{len(s)} score images: give 2 (track, shower), 3 (background, "
                             "track, shower) or 5 (HIP, MIP, shower, delta, Michel), or groups")
        groups = SCORE_GROUPS[len(s)]
    groups = np.asarray(groups, dtype=np.int8)
    if groups.shape != (len(s),):
        raise ValueError(f"{len(groups)} groups for {len(s)} score images")
    unscored = np.isnan(s).any(axis=0) | (s == 0).all(axis=0)
    out = groups[np.nan_to_num(s, nan=-np.inf).argmax(axis=0)]
    out[unscored] = UNDECIDED
    return out


def decisions_from_shower_score(score: np.ndarray,
                                threshold: float = DEFAULT_SHOWER_THRESHOLD) -> np.ndarray:
    """Decision image (int8) of a shower-score image: shower where score > ``threshold``, else
    track; undecided where the score is exactly 0 or NaN (not scored)."""
    score = np.asarray(score, dtype=np.float32)
    out = np.where(score > threshold, SHOWER, TRACK).astype(np.int8)
    out[np.isnan(score) | (score == 0)] = UNDECIDED
    return out


@dataclass(frozen=True)
class PlaneAgreement:
    """Two sources' decisions compared on one plane image.

    ``table[i, j]``: pixels the prediction calls i and the reference j (0 track, 1 shower), over
    the pixels at or above the ADC threshold that both decide. ``disagreeing``: (K, 2) (row,
    column) of the pixels of the table off its diagonal, row-major order."""

    plane: int
    table: np.ndarray
    n_counted: int                 # pixels at or above the ADC threshold
    prediction_undecided: int      # of those, left undecided by the prediction
    reference_undecided: int       # ... by the reference
    disagreeing: np.ndarray = field(repr=False)

    @property
    def n_compared(self) -> int:
        return int(self.table.sum())

    @property
    def n_agreeing(self) -> int:
        return int(np.trace(self.table))

    @property
    def agreement(self) -> float:
        """Fraction of the compared pixels the two sources decide alike (NaN if none)."""
        return self.n_agreeing / self.n_compared if self.n_compared else float("nan")


def plane_agreement(adc: np.ndarray, prediction: np.ndarray, reference: np.ndarray,
                    adc_threshold: float = DEFAULT_ADC_THRESHOLD, plane: int = 0
                    ) -> PlaneAgreement:
    """Compare two decision images (see the module) of one plane on the pixels with
    ADC ≥ ``adc_threshold``; all three images have the plane's (rows, columns) shape."""
    adc, prediction, reference = (np.asarray(a) for a in (adc, prediction, reference))
    if not adc.shape == prediction.shape == reference.shape:
        raise ValueError(f"plane {plane}: ADC image {adc.shape}, prediction {prediction.shape}, "
                         f"reference {reference.shape}: the shapes differ")
    for name, d in (("prediction", prediction), ("reference", reference)):
        if d.size and (d.min() < UNDECIDED or d.max() > SHOWER):
            raise ValueError(f"plane {plane}: {name} holds values outside -1, 0, 1: not a "
                             "decision image (see decisions_from_labels / _scores)")
    counted = adc >= adc_threshold
    p, r = prediction[counted], reference[counted]
    both = (p >= 0) & (r >= 0)
    table = np.bincount(p[both].astype(np.int64) * 2 + r[both],
                        minlength=4).reshape(2, 2).astype(np.int64)
    differ = counted & (prediction >= 0) & (reference >= 0) & (prediction != reference)
    return PlaneAgreement(plane=int(plane), table=table, n_counted=int(counted.sum()),
                          prediction_undecided=int((p < 0).sum()),
                          reference_undecided=int((r < 0).sum()),
                          disagreeing=np.argwhere(differ).astype(np.int64))


def plane_name(plane: int) -> str:
    return PLANE_NAMES[plane] if 0 <= plane < len(PLANE_NAMES) else str(plane)


def _fraction(a: float, b: float) -> float | None:
    return float(a / b) if b else None  # None: JSON has no NaN


def summary(table: np.ndarray, n_counted: int, prediction_undecided: int,
            reference_undecided: int) -> dict:
    """JSON-ready numbers of a 2 × 2 table (rows: prediction, columns: reference): pixels
    counted and compared, agreement, the table and the table normalised by the reference (each
    column sums to 1: the share of the reference's track / shower pixels the prediction
    calls track / shower). Undefined fractions are None."""
    t = np.asarray(table, dtype=np.int64)
    n, ref = int(t.sum()), t.sum(axis=0)
    return {"pixels_above_threshold": int(n_counted), "compared": n,
            "agreeing": int(np.trace(t)), "agreement": _fraction(np.trace(t), n),
            "table": t.tolist(),
            "normalised_by_reference": [[_fraction(t[i, j], ref[j]) for j in range(2)]
                                        for i in range(2)],
            "prediction_undecided": int(prediction_undecided),
            "reference_undecided": int(reference_undecided)}


class AgreementAccumulator:
    """Sums :class:`PlaneAgreement` tables over events, per plane and over all planes.

    ``add(planes, info)``: one event's planes, ``info`` (e.g. entry, run, subrun, event) kept
    with the event's own numbers. ``report()``: ``planes`` (by plane name), ``all_planes`` and
    ``events`` (per event and plane: agreement, compared, disagreeing pixels)."""

    TABLE_AXES = {"rows": "prediction " + " / ".join(TRACK_SHOWER_NAMES),
                  "columns": "reference " + " / ".join(TRACK_SHOWER_NAMES)}

    def __init__(self, adc_threshold: float = DEFAULT_ADC_THRESHOLD) -> None:
        self.adc_threshold = float(adc_threshold)
        self.tables: dict[int, np.ndarray] = {}
        self.counts: dict[int, np.ndarray] = {}  # counted, prediction / reference undecided
        self.events: list[dict] = []

    def add(self, planes: Sequence[PlaneAgreement], info: Mapping | None = None) -> None:
        row = dict(info or {})
        row["planes"] = {}
        for pa in planes:
            self.tables[pa.plane] = self.tables.get(pa.plane, np.zeros((2, 2), np.int64)) \
                + pa.table
            self.counts[pa.plane] = self.counts.get(pa.plane, np.zeros(3, np.int64)) + np.array(
                [pa.n_counted, pa.prediction_undecided, pa.reference_undecided])
            row["planes"][plane_name(pa.plane)] = {
                "agreement": _fraction(pa.n_agreeing, pa.n_compared),
                "compared": pa.n_compared, "disagreeing": int(len(pa.disagreeing))}
        self.events.append(row)

    def report(self) -> dict:
        planes = {plane_name(p): summary(self.tables[p], *self.counts[p])
                  for p in sorted(self.tables)}
        total = sum(self.tables.values(), np.zeros((2, 2), np.int64))
        counts = sum(self.counts.values(), np.zeros(3, np.int64))
        return {"adc_threshold": self.adc_threshold, "n_events": len(self.events),
                "table_axes": self.TABLE_AXES, "planes": planes,
                "all_planes": summary(total, *counts), "events": self.events}


# ------------------------------------------------------------------------ sources
#: How a source's images become decisions ("auto": chosen by :func:`source_spec`).
SOURCE_KINDS = ("auto", "labels", "scores", "shower-score")
#: Label encoding of larseg's own prediction products, pred_<target>.
TARGET_ENCODINGS = {"semantic": "semantic", "track_shower": "track_shower",
                    "ssnet": "ssnet_categories"}


@dataclass(frozen=True)
class SourceSpec:
    """Which products make one side's decisions, and how: ``kind`` "labels" (one image in
    ``encoding``, a key of :data:`LABEL_ENCODINGS`), "scores" (one image per class, in
    :data:`SCORE_GROUPS` order) or "shower-score" (one image)."""

    products: tuple[str, ...]
    kind: str
    encoding: str | None = None  # labels only

    def describe(self) -> dict:
        return asdict(self) | {"products": list(self.products)}


#: MicroBooNE's stored networks, as read in its public DL reconstruction code (the layouts are
#: not checked on a file of theirs): ssnettrack / ssnetshower one score image per plane;
#: uburn_plane<p> the shower score image, then the track one; sparseuresnet_prediction labels.
SOURCE_PRESETS = {
    "ssnet": SourceSpec(("ssnettrack", "ssnetshower"), "scores"),
    "uburn": SourceSpec(("uburn_plane{plane}#1", "uburn_plane{plane}#0"), "scores"),
    "sparseuresnet": SourceSpec(("sparseuresnet_prediction",), "labels", "ubdl"),
}


def source_spec(text: str, kind: str = "auto", encoding: str | None = None) -> SourceSpec:
    """A :class:`SourceSpec` from ``PRODUCT[,PRODUCT...]`` or a preset name (a preset only
    with ``kind`` "auto" and no ``encoding``). "auto" takes labels for larseg's
    ``pred_<target>`` (or with an ``encoding``), a shower score for any other single product,
    scores for several. Raises ValueError for a list that fits no convention."""
    if kind not in SOURCE_KINDS:
        raise ValueError(f"kind '{kind}': choose one of {', '.join(SOURCE_KINDS)}")
    if encoding is not None and encoding not in LABEL_ENCODINGS:
        raise ValueError(f"label encoding '{encoding}': choose one of "
                         f"{', '.join(LABEL_ENCODINGS)}")
    if text in SOURCE_PRESETS and kind == "auto" and encoding is None:
        return SOURCE_PRESETS[text]
    products = tuple(p.strip() for p in text.split(",") if p.strip())
    if not products:
        raise ValueError("no product given")
    n = len(products)
    target = re.fullmatch(r"pred_(\w+)", products[0])
    own = TARGET_ENCODINGS.get(target.group(1)) if target else None  # larseg's pred_<target>
    if kind == "auto":
        if target and own is None and not encoding and "_score_" not in products[0]:
            raise ValueError(f"'{products[0]}': larseg's classes of target "
                             f"'{target.group(1)}' are not track / shower")
        kind = "scores" if n > 1 else "labels" if (own or encoding) else "shower-score"
    if kind in ("labels", "shower-score") and n != 1:
        raise ValueError(f"{kind}: give one product, got {n} ({text})")
    if kind == "scores" and n not in SCORE_GROUPS:
        raise ValueError(f"scores: give 2 (track, shower), 3 (background, track, "
                         f"shower) or 5 (HIP … Michel) products, got {n} ({text})")
    return SourceSpec(products, kind,
                      (encoding or own or "semantic") if kind == "labels" else None)


def decide(spec: SourceSpec, images: Sequence[np.ndarray],
           shower_threshold: float = DEFAULT_SHOWER_THRESHOLD) -> np.ndarray:
    """Decision image of a plane from the images of ``spec.products`` (same order)."""
    if spec.kind == "labels":
        return decisions_from_labels(images[0], spec.encoding)
    if spec.kind == "shower-score":
        return decisions_from_shower_score(images[0], shower_threshold)
    return decisions_from_scores(images)


# ------------------------------------------------------------------------- events
@dataclass(frozen=True)
class EventArrays:
    """One event: the ADC, prediction and reference decision images of each plane."""

    entry: int
    run: int
    subrun: int
    event: int
    planes: tuple[int, ...]
    adc: dict[int, np.ndarray]
    prediction: dict[int, np.ndarray]
    reference: dict[int, np.ndarray]

    @property
    def tag(self) -> str:
        return f"{self.run}/{self.subrun}/{self.event}"


def event_agreement(ev: EventArrays, adc_threshold: float = DEFAULT_ADC_THRESHOLD
                    ) -> list[PlaneAgreement]:
    """:func:`plane_agreement` of each plane of ``ev``, in ``ev.planes`` order."""
    return [plane_agreement(ev.adc[p], ev.prediction[p], ev.reference[p], adc_threshold, p)
            for p in ev.planes]


#: The fields of a row of :func:`disagreement_rows`.
DISAGREEMENT_COLUMNS = ("entry", "run", "subrun", "event", "plane", "row", "wire", "adc",
                        "prediction", "reference")


def disagreement_rows(ev: EventArrays, results: Sequence[PlaneAgreement]) -> Iterator[tuple]:
    """One row (:data:`DISAGREEMENT_COLUMNS`) per pixel decided differently, plane by plane;
    the ADC as text with 6 significant digits."""
    for pa in results:
        for r, c in pa.disagreeing.tolist():
            yield (ev.entry, ev.run, ev.subrun, ev.event, plane_name(pa.plane), r, c,
                   f"{float(ev.adc[pa.plane][r, c]):.6g}",
                   int(ev.prediction[pa.plane][r, c]), int(ev.reference[pa.plane][r, c]))
