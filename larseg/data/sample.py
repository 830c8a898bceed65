"""Per-plane sparse arrays that dataset transforms work on, and their round trip to ``Event``.

A :class:`PlaneArrays` is one plane image cut loose from its event: coordinates, ADC values,
the label arrays aligned with them and the per-particle charge, plus where it sits in the source
image (``offset`` in source pixels, ``scale`` = downsampling factor) so that crops and pooled
images can be mapped back. A :class:`Sample` is the planes of one event with the event's tag.

Every transform that keeps a subset of the pixels goes through :meth:`PlaneArrays.take`, which
keeps labels and ``particle_charge`` aligned; pooling goes through :meth:`PlaneArrays.merge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InvalidEventError
from ..event import DetectorMeta, Event, ParticleCharge, PlaneImage, PlaneMeta

#: label fields a plane may carry, in the order they are handled
LABEL_FIELDS = ("cosmic", "semantic", "instance")


@dataclass
class PlaneArrays:
    """Sparse pixels of one plane: ``coords`` (N, 2) int64 (row, column) inside ``shape``."""

    plane: int
    shape: tuple[int, int]                 # (rows, columns) of the image these coords live in
    coords: np.ndarray                     # (N, 2) int64
    values: np.ndarray                     # (N,) float32 ADC
    cosmic: np.ndarray | None = None       # (N,) int8
    semantic: np.ndarray | None = None     # (N,) int8
    instance: np.ndarray | None = None     # (N,) int32
    particle_charge: ParticleCharge | None = None
    meta: PlaneMeta | None = None          # meta of the source plane (before crop / pooling)
    offset: tuple[int, int] = (0, 0)       # source pixel (row, col) of this image's pixel (0, 0)
    scale: int = 1                         # source pixels per pixel along each axis

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.int64).reshape(-1, 2)
        self.values = np.asarray(self.values, dtype=np.float32).reshape(-1)
        self.shape = (int(self.shape[0]), int(self.shape[1]))

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_active(self) -> int:
        """Pixels holding charge (ADC > 0): zeroed pixels (AdcThreshold) do not count."""
        return int(np.count_nonzero(self.values > 0))

    def labels(self, name: str) -> np.ndarray | None:
        if name not in LABEL_FIELDS:
            raise KeyError(f"unknown label field '{name}'; choose one of {LABEL_FIELDS}")
        return getattr(self, name)

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_plane(cls, img: PlaneImage) -> "PlaneArrays":
        return cls(plane=img.plane, shape=img.meta.shape, coords=img.coords, values=img.values,
                   cosmic=img.cosmic, semantic=img.semantic, instance=img.instance,
                   particle_charge=img.particle_charge, meta=img.meta)

    def plane_meta(self) -> PlaneMeta:
        """Meta of this (possibly cropped / pooled) image.

        larcv's ImageMeta2D axis 0 runs along the wires (columns) and axis 1 along time (rows),
        so a crop starting at source pixel (r0, c0) moves the origin by (c0 × wire pitch,
        r0 × tick pitch); pooling by ``scale`` multiplies both pitches.
        """
        if self.meta is None:
            raise InvalidEventError("plane arrays without a source meta cannot become a plane "
                                    "image", field=f"plane{self.plane}.meta")
        m = self.meta
        r0, c0 = self.offset
        return replace(m, n_ticks=self.shape[0], n_wires=self.shape[1],
                       wire_pitch=m.wire_pitch * self.scale, tick_pitch=m.tick_pitch * self.scale,
                       origin=(m.origin[0] + c0 * m.wire_pitch, m.origin[1] + r0 * m.tick_pitch))

    def to_plane(self) -> PlaneImage:
        """Back to a :class:`PlaneImage`; pixels outside the image (crop padding) cannot exist."""
        return PlaneImage(self.plane_meta(), self.coords.astype(np.int32), self.values,
                          cosmic=self.cosmic, semantic=self.semantic, instance=self.instance,
                          particle_charge=self.particle_charge)

    # -------------------------------------------------------------- subsets
    def take(self, keep: np.ndarray, *, coords: np.ndarray | None = None,
             shape: tuple[int, int] | None = None, offset: tuple[int, int] | None = None
             ) -> "PlaneArrays":
        """New arrays with the pixels ``keep`` (bool mask or sorted int index) selected.

        ``coords``/``shape``/``offset`` replace the selected coordinates and the frame (crops).
        """
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        pc = self.particle_charge
        if pc is not None:
            new_index = np.full(len(self), -1, dtype=np.int64)
            new_index[idx] = np.arange(idx.size)
            sel = new_index[pc.pixel] >= 0
            pc = ParticleCharge(new_index[pc.pixel[sel]], pc.particle[sel], pc.charge[sel])
        return replace(
            self,
            coords=self.coords[idx] if coords is None else coords,
            values=self.values[idx],
            cosmic=None if self.cosmic is None else self.cosmic[idx],
            semantic=None if self.semantic is None else self.semantic[idx],
            instance=None if self.instance is None else self.instance[idx],
            particle_charge=pc,
            shape=self.shape if shape is None else shape,
            offset=self.offset if offset is None else offset,
        )

    def with_values(self, values: np.ndarray) -> "PlaneArrays":
        return replace(self, values=values)


@dataclass
class Sample:
    """The selected planes of one event, on their way through the transforms."""

    tag: str
    planes: list[PlaneArrays] = field(default_factory=list)

    @property
    def n_active(self) -> list[int]:
        return [p.n_active for p in self.planes]

    @classmethod
    def from_event(cls, event: Event, planes: tuple[int, ...] | None = None) -> "Sample":
        n = len(event.planes)
        planes = tuple(range(n)) if planes is None else tuple(planes)
        for p in planes:
            if not 0 <= p < n:
                raise InvalidEventError(f"plane {p} requested, the event has planes 0..{n - 1}",
                                        event=event.tag, field="planes")
        return cls(event.tag, [PlaneArrays.from_plane(event.planes[p]) for p in planes])


def event_with_planes(event: Event, planes: list[PlaneArrays]) -> Event:
    """Copy of ``event`` whose plane images are ``planes`` (all of the event's planes, in order).

    The detector meta is rebuilt from the planes' metas so that the new event validates.
    """
    images = [p.to_plane() for p in planes]
    det = DetectorMeta(name=event.detector.name, planes=tuple(img.meta for img in images))
    return replace(event, detector=det, planes=images)
