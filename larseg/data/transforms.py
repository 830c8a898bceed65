"""Composable transforms on sparse plane images: ADC masks and thresholds, crops, pooling.

Each transform is a callable ``t(x, rng=None)`` where ``x`` is an :class:`~larseg.event.Event`
(a transformed copy comes back), a :class:`~larseg.data.sample.Sample`, a list of
:class:`~larseg.data.sample.PlaneArrays` or a single one (the same type comes back). Labels and
per-particle charge stay aligned with the pixels. Random transforms draw only from the
``numpy.random.Generator`` they are given, so a result depends on that generator alone; the
datasets derive it from (seed, epoch, index) (see :mod:`larseg.data.seeding`).

The papers' settings:
- SparseSSNet (MicroBooNE note 1091): ``AdcMask(10, 300)`` drops pixels < 10 or > 300 ADC from
  the sparse image, then ``RandomCrop((512, 512))``;
- sMask-RCNN: ``AdcThreshold(10)`` sets pixels < 10 ADC to 0, then crops of 512 rows × 832
  columns that hold part of an interaction, at random rather than centred positions:
  ``RandomCrop((512, 832), jitter=1.0)``;
- CosmicTagger (SBND): ``Downsample(2, "max")`` or the DenseDataset's ``downsample=2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..event import Event
from ..labels import CosmicLabel
from .pooling import POOLS, downsample_plane
from .sample import PlaneArrays, Sample, event_with_planes


class Transform:
    """Base class: override :meth:`apply_plane` (per plane) or :meth:`apply` (whole sample)."""

    random: bool = False

    def apply_plane(self, pa: PlaneArrays, rng: np.random.Generator | None) -> PlaneArrays:
        raise NotImplementedError

    def apply(self, sample: Sample, rng: np.random.Generator | None) -> Sample:
        return Sample(sample.tag, [self.apply_plane(p, rng) for p in sample.planes])

    def __call__(self, x, rng: np.random.Generator | None = None):
        if self.random and rng is None:
            raise ValueError(f"{type(self).__name__} is random: pass rng=np.random.Generator "
                             "(datasets derive one from seed, epoch and index)")
        if isinstance(x, Event):
            out = self.apply(Sample.from_event(x), rng)
            return event_with_planes(x, out.planes)
        if isinstance(x, Sample):
            return self.apply(x, rng)
        if isinstance(x, PlaneArrays):
            return self.apply(Sample("?", [x]), rng).planes[0]
        if isinstance(x, (list, tuple)):
            return self.apply(Sample("?", list(x)), rng).planes
        raise TypeError(f"cannot transform a {type(x).__name__}: give an Event, a Sample or "
                        "PlaneArrays")


class Compose(Transform):
    """Apply transforms in order, all drawing from the one generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)
        self.random = any(t.random for t in self.transforms)

    def apply(self, sample: Sample, rng: np.random.Generator | None) -> Sample:
        for t in self.transforms:
            sample = t.apply(sample, rng)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


@dataclass
class AdcMask(Transform):
    """Drop pixels with ADC < ``low`` or > ``high`` (SparseSSNet: 10 and 300, note 1091).

    Either bound may be None. Dropped pixels leave the sparse image with their labels.
    """

    low: float | None = 10.0
    high: float | None = 300.0

    def apply_plane(self, pa, rng=None):
        keep = np.ones(len(pa), dtype=bool)
        if self.low is not None:
            keep &= pa.values >= self.low
        if self.high is not None:
            keep &= pa.values <= self.high
        return pa.take(keep)


@dataclass
class AdcThreshold(Transform):
    """Set pixels with ADC < ``threshold`` to 0 (sMask-RCNN: 10 ADC).

    With ``drop=False`` (default, like the paper's dense image) the zeroed pixels keep their
    place and labels but no longer count as active; ``drop=True`` removes them.
    """

    threshold: float = 10.0
    drop: bool = False

    def apply_plane(self, pa, rng=None):
        low = pa.values < self.threshold
        if self.drop:
            return pa.take(~low)
        return pa.with_values(np.where(low, np.float32(0), pa.values))


@dataclass
class AdcClip(Transform):
    """Clip ADC values into [``low``, ``high``] (saturate bright pixels; ``low`` optional)."""

    high: float
    low: float | None = None

    def apply_plane(self, pa, rng=None):
        return pa.with_values(np.clip(pa.values, self.low, self.high).astype(np.float32))


@dataclass
class Downsample(Transform):
    """Pool by ``factor`` along both axes (see :mod:`larseg.data.pooling` for the label rule)."""

    factor: int = 2
    pool: str = "max"

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool '{self.pool}'; choose one of {', '.join(POOLS)}")

    def apply_plane(self, pa, rng=None):
        return downsample_plane(pa, self.factor, self.pool)


def _is_labelled(pa: PlaneArrays) -> np.ndarray | None:
    """Pixels carrying a physics label (cosmic > 0 or semantic >= 0); None without labels."""
    masks = []
    if pa.cosmic is not None:
        masks.append(pa.cosmic > 0)
    if pa.semantic is not None:
        masks.append(pa.semantic >= 0)
    if not masks:
        return None
    return np.logical_or.reduce(masks)


def crop_plane(pa: PlaneArrays, r0: int, c0: int, size: tuple[int, int]) -> PlaneArrays:
    """Pixels inside rows [r0, r0 + size[0]) and columns [c0, c0 + size[1]), re-based."""
    rows, cols = pa.coords[:, 0], pa.coords[:, 1]
    keep = (rows >= r0) & (rows < r0 + size[0]) & (cols >= c0) & (cols < c0 + size[1])
    coords = pa.coords[keep] - np.array([r0, c0], dtype=np.int64)
    offset = (pa.offset[0] + r0 * pa.scale, pa.offset[1] + c0 * pa.scale)
    return pa.take(keep, coords=coords, shape=(int(size[0]), int(size[1])), offset=offset)


@dataclass
class RandomCrop(Transform):
    """Crop windows of ``size`` = (rows, columns) that contain activity.

    A centre is drawn on a random active pixel (ADC > 0), preferring labelled ones
    (``labelled=True``: cosmic > 0 or semantic >= 0) when there are any; with ``jitter`` > 0
    the pixel sits up to ``jitter`` × half a window away from the centre (sMask-RCNN wants crops
    at random positions, not centred on the interaction: ``jitter=1``). The window is clamped
    inside the image; an image smaller than the window is padded (the window starts at 0 and
    the output shape is always ``size``). Draws repeat, up to ``max_tries``, until the window
    holds at least ``min_pixels`` active pixels; otherwise the fullest window drawn is used.

    ``shared=True`` cuts the same window from every plane (and counts pixels over all planes);
    ``shared=False`` draws one window per plane.

    ``focus_fraction`` > 0: that fraction of the windows is centred on a pixel whose cosmic label
    is ``focus_label`` (default NEUTRINO), where an image has one: neutrino pixels are ~2 % of
    an SBND image's active pixels (the SBND paper, section 7), so a crop centred on a random
    labelled pixel seldom holds the interaction the network is trained to find.
    """

    size: tuple[int, int] = (512, 512)
    min_pixels: int = 1
    max_tries: int = 20
    jitter: float = 0.0
    labelled: bool = True
    shared: bool = True
    focus_fraction: float = 0.0
    focus_label: int = int(CosmicLabel.NEUTRINO)
    random = True

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        if (min(self.size) < 1 or self.max_tries < 1 or not 0 <= self.jitter <= 1
                or not 0 <= self.focus_fraction <= 1):
            raise ValueError(f"bad crop settings: size {self.size}, max_tries {self.max_tries}, "
                             f"jitter {self.jitter}, focus_fraction {self.focus_fraction} "
                             "(both must be in [0, 1])")

    # --------------------------------------------------------------- helpers
    def _focused(self, planes: list[PlaneArrays]) -> list[tuple[int, np.ndarray]]:
        """(plane position, pixel indices) of the active pixels labelled ``focus_label``."""
        return [(i, np.flatnonzero((p.values > 0) & (p.cosmic == self.focus_label)))
                for i, p in enumerate(planes) if p.cosmic is not None]

    def _candidates(self, planes: list[PlaneArrays], rng: np.random.Generator
                    ) -> list[tuple[int, np.ndarray]]:
        """(plane position, pixel indices) to draw centres from: the focus label's pixels for
        ``focus_fraction`` of the draws (when there are any), else labelled if any, else
        active. The extra random number is drawn only when focusing (other crops unchanged)."""
        if self.focus_fraction > 0 and rng.uniform() < self.focus_fraction:
            focused = self._focused(planes)
            if sum(c.size for _, c in focused):
                return focused
        active = [p.values > 0 for p in planes]
        if self.labelled:
            lab = [_is_labelled(p) for p in planes]
            chosen = [(i, np.flatnonzero(a & m)) for i, (a, m) in enumerate(zip(active, lab))
                      if m is not None]
            if sum(c.size for _, c in chosen):
                return chosen
        return [(i, np.flatnonzero(a)) for i, a in enumerate(active)]

    def _window(self, pa: PlaneArrays, rc: np.ndarray | None, rng: np.random.Generator
                ) -> tuple[int, int]:
        starts = []
        for axis in (0, 1):
            size, extent = self.size[axis], pa.shape[axis]
            hi = max(extent - size, 0)
            if rc is None:
                starts.append(int(rng.integers(0, hi + 1)))
                continue
            half = size / 2.0
            off = int(np.clip(np.floor(half + self.jitter * half * rng.uniform(-1.0, 1.0)),
                              0, size - 1))
            starts.append(int(np.clip(int(rc[axis]) - off, 0, hi)))
        return starts[0], starts[1]

    @staticmethod
    def _count(pa: PlaneArrays, r0: int, c0: int, size: tuple[int, int]) -> int:
        rows, cols = pa.coords[:, 0], pa.coords[:, 1]
        return int(np.count_nonzero((rows >= r0) & (rows < r0 + size[0]) & (cols >= c0)
                                    & (cols < c0 + size[1]) & (pa.values > 0)))

    def _draw(self, planes: list[PlaneArrays], rng: np.random.Generator
              ) -> list[tuple[int, int]]:
        """One window per plane (all equal when shared) with the most active pixels."""
        cands = self._candidates(planes, rng)
        sizes = np.array([c.size for _, c in cands])
        best, best_n = None, -1
        for _ in range(self.max_tries):
            if sizes.sum() == 0:
                # nothing to aim at: a uniformly placed window (the dataset decides about empties)
                windows = [self._window(planes[0], None, rng)] * len(planes)
            else:
                k = int(rng.integers(0, sizes.sum()))
                j = int(np.searchsorted(np.cumsum(sizes), k, side="right"))
                pos, idx = cands[j]
                pix = planes[pos].coords[idx[k - (sizes[:j].sum())]]
                windows = [self._window(planes[pos], pix, rng)] * len(planes)
            n = sum(self._count(p, *w, self.size) for p, w in zip(planes, windows))
            if n > best_n:
                best, best_n = windows, n
            if n >= self.min_pixels:
                break
        return best

    def apply(self, sample: Sample, rng: np.random.Generator | None) -> Sample:
        if rng is None:
            raise ValueError("RandomCrop needs rng")
        planes = sample.planes
        if self.shared:
            windows = self._draw(planes, rng) if planes else []
        else:
            windows = [self._draw([p], rng)[0] for p in planes]
        return Sample(sample.tag, [crop_plane(p, r0, c0, self.size)
                                   for p, (r0, c0) in zip(planes, windows)])


def as_transform(t: Transform | Sequence[Transform] | None) -> Transform | None:
    """None, one transform, or a list of them (composed in order)."""
    if t is None or isinstance(t, Transform):
        return t
    return Compose(list(t))


__all__ = ["Transform", "Compose", "AdcMask", "AdcThreshold", "AdcClip", "Downsample",
           "RandomCrop", "crop_plane", "as_transform"]
