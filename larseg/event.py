"""The one data model of larseg: events of sparse wire-plane images with aligned truth labels.

Conventions (see docs/architecture.md):
- a plane image is sparse: ``coords`` (N, 2) int32 with column 0 = row = time pixel and
  column 1 = column = wire; ``values`` (N,) float32 ADC of the processed (deconvolved) image;
- label arrays are aligned with ``coords``: ``cosmic`` (0/1/2), ``semantic`` (HIP..Michel or -1),
  ``instance`` (particle id or -1);
- ``particle_charge`` holds the true charge (ADC) each particle put in each pixel, as
  (pixel index into coords, particle id, charge) triplets: a pixel may hold several particles;
- dense views are made on demand, never stored;
- units: cm, MeV, µs, ADC counts. Particle positions are detector coordinates (x drift, y up,
  z along the beam), times in µs relative to the trigger (the beam spill).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidEventError
from .labels import NO_LABEL, N_COSMIC_CLASSES, N_SEMANTIC_CLASSES, Origin, SemanticLabel


@dataclass(frozen=True)
class PlaneMeta:
    """Geometry of one plane image: what larcv3 calls ImageMeta2D.

    ``n_wires`` × ``n_ticks`` pixels; a pixel spans ``wire_pitch`` cm along the wire axis and
    ``tick_pitch`` cm of drift distance along the time axis (larcv's image_sizes are these
    products). ``origin`` is larcv's (axis-0, axis-1) origin in cm.
    """

    plane: int
    n_wires: int
    n_ticks: int
    wire_pitch: float
    tick_pitch: float
    name: str = ""
    origin: tuple[float, float] = (0.0, 0.0)

    @property
    def shape(self) -> tuple[int, int]:
        """Dense image shape (rows = time pixels, columns = wires)."""
        return (self.n_ticks, self.n_wires)

    @property
    def n_pixels(self) -> int:
        return self.n_ticks * self.n_wires


@dataclass(frozen=True)
class DetectorMeta:
    """Detector-level metadata carried by every event."""

    name: str
    planes: tuple[PlaneMeta, ...]

    @property
    def n_planes(self) -> int:
        return len(self.planes)


@dataclass
class ParticleCharge:
    """True charge (ADC) per pixel per particle: the content of a larcv cluster2d product."""

    pixel: np.ndarray     # (M,) int64 index into the plane's coords
    particle: np.ndarray  # (M,) int64 particle id
    charge: np.ndarray    # (M,) float32

    def __post_init__(self) -> None:
        self.pixel = np.asarray(self.pixel, dtype=np.int64)
        self.particle = np.asarray(self.particle, dtype=np.int64)
        self.charge = np.asarray(self.charge, dtype=np.float32)

    def __len__(self) -> int:
        return int(self.pixel.shape[0])

    @classmethod
    def empty(cls) -> "ParticleCharge":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


@dataclass
class PlaneImage:
    meta: PlaneMeta
    coords: np.ndarray                    # (N, 2) int32: (time pixel, wire)
    values: np.ndarray                    # (N,) float32 ADC
    cosmic: np.ndarray | None = None      # (N,) int8: CosmicLabel
    semantic: np.ndarray | None = None    # (N,) int8: SemanticLabel or NO_LABEL
    instance: np.ndarray | None = None    # (N,) int32: particle id or NO_LABEL
    particle_charge: ParticleCharge | None = None

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.int32).reshape(-1, 2)
        self.values = np.asarray(self.values, dtype=np.float32).reshape(-1)
        if self.cosmic is not None:
            self.cosmic = np.asarray(self.cosmic, dtype=np.int8).reshape(-1)
        if self.semantic is not None:
            self.semantic = np.asarray(self.semantic, dtype=np.int8).reshape(-1)
        if self.instance is not None:
            self.instance = np.asarray(self.instance, dtype=np.int32).reshape(-1)

    def __repr__(self) -> str:
        """One line: the plane, its size, the pixel count and ADC range, the labels present."""
        m = self.meta
        adc = (f", ADC {float(self.values.min()):.1f}–{float(self.values.max()):.1f}"
               if len(self) else "")
        labels = [n for n in ("cosmic", "semantic", "instance") if getattr(self, n) is not None]
        return (f"PlaneImage(plane {m.plane}{' ' + m.name if m.name else ''}, "
                f"{m.n_ticks} × {m.n_wires}, {len(self):,} pixels{adc}"
                f"{', labels: ' + ', '.join(labels) if labels else ''})")

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def plane(self) -> int:
        return self.meta.plane

    @property
    def flat_index(self) -> np.ndarray:
        """Row-major flat index of each pixel in the dense (n_ticks, n_wires) image."""
        return self.coords[:, 0].astype(np.int64) * self.meta.n_wires + self.coords[:, 1]

    def dense(self, field: str = "values", fill: float | int | None = None,
              dtype: np.dtype | type | None = None) -> np.ndarray:
        """Dense (n_ticks, n_wires) view of ``values`` or of a label field.

        Empty pixels get ``fill``: 0 for values and cosmic labels, NO_LABEL for semantic/instance.
        """
        data = getattr(self, field)
        if data is None:
            raise InvalidEventError(f"plane {self.plane} has no '{field}' array", field=field)
        if fill is None:
            fill = NO_LABEL if field in ("semantic", "instance") else 0
        if dtype is None:
            dtype = np.float32 if field == "values" else np.int64
        out = np.full(self.meta.shape, fill, dtype=dtype)
        out[self.coords[:, 0], self.coords[:, 1]] = data
        return out

    # ------------------------------------------------------------- validation
    def validate(self, event: str = "?") -> None:
        """Raise InvalidEventError (naming event and field) if anything is inconsistent."""
        n = len(self)
        tag = f"plane{self.plane}"
        if self.coords.ndim != 2 or self.coords.shape[1] != 2:
            raise InvalidEventError(f"coords must be (N, 2), got {self.coords.shape}",
                                    event=event, field=f"{tag}.coords")
        if self.values.shape != (n,):
            raise InvalidEventError(f"values has shape {self.values.shape}, coords has {n} pixels",
                                    event=event, field=f"{tag}.values")
        if n:
            rows, cols = self.coords[:, 0], self.coords[:, 1]
            if rows.min() < 0 or rows.max() >= self.meta.n_ticks:
                raise InvalidEventError(
                    f"time coordinate out of range [0, {self.meta.n_ticks}): "
                    f"min {rows.min()}, max {rows.max()}", event=event, field=f"{tag}.coords")
            if cols.min() < 0 or cols.max() >= self.meta.n_wires:
                raise InvalidEventError(
                    f"wire coordinate out of range [0, {self.meta.n_wires}): "
                    f"min {cols.min()}, max {cols.max()}", event=event, field=f"{tag}.coords")
            bad = ~np.isfinite(self.values)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InvalidEventError(
                    f"{int(bad.sum())} non-finite ADC value(s), first at pixel "
                    f"(tick {rows[i]}, wire {cols[i]}) = {self.values[i]}",
                    event=event, field=f"{tag}.values")
            flat = self.flat_index
            # row-major sorted (what the readout and the readers give) has no duplicate when it
            # strictly increases: one pass; the sort only for the other orders
            if n > 1 and not bool((flat[1:] > flat[:-1]).all()):
                flat = np.sort(flat)
            if n > 1 and bool((flat[1:] == flat[:-1]).any()):
                raise InvalidEventError("duplicate pixel coordinates", event=event,
                                        field=f"{tag}.coords")
        for name, lo, hi in (("cosmic", 0, N_COSMIC_CLASSES - 1),
                             ("semantic", NO_LABEL, N_SEMANTIC_CLASSES - 1),
                             ("instance", NO_LABEL, None)):
            arr = getattr(self, name)
            if arr is None:
                continue
            if arr.shape != (n,):
                raise InvalidEventError(f"{name} has shape {arr.shape}, coords has {n} pixels",
                                        event=event, field=f"{tag}.{name}")
            if n and (arr.min() < lo or (hi is not None and arr.max() > hi)):
                bad_val = arr.min() if arr.min() < lo else arr.max()
                rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                raise InvalidEventError(f"label {int(bad_val)} out of range {rng}",
                                        event=event, field=f"{tag}.{name}")
        pc = self.particle_charge
        if pc is not None and len(pc):
            if pc.pixel.min() < 0 or pc.pixel.max() >= n:
                raise InvalidEventError("particle_charge pixel index out of range",
                                        event=event, field=f"{tag}.particle_charge")
            if not np.all(np.isfinite(pc.charge)):
                raise InvalidEventError("non-finite particle charge",
                                        event=event, field=f"{tag}.particle_charge")


@dataclass
class Particle:
    """A GEANT4-like particle record (one row of a larcv3 particle product).

    ``id`` is the particle's index in its event's table (larcv's ``id``); cluster2d clusters
    are indexed by it. ``parent_id``/``ancestor_id`` are ids in the same table (-1 / own id for a
    primary). Positions in cm, times in µs, energies in MeV, momenta in MeV/c.
    """

    id: int
    pdg: int
    origin: Origin = Origin.COSMIC
    parent_id: int = -1
    ancestor_id: int = -1
    energy_init: float = 0.0
    energy_deposit: float = 0.0
    momentum: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    end: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    process: str = "primary"
    semantic: int = NO_LABEL
    interaction_id: int = -1

    @property
    def track_id(self) -> int:
        """GEANT4-style track id written to larcv (``trackid``): id + 1, so that 0 means none."""
        return self.id + 1

    @property
    def is_primary(self) -> bool:
        return self.parent_id < 0


@dataclass
class Interaction:
    """A neutrino(-like) interaction: what larcv stores as one particle of the neutrino product.

    ``current``: 0 = CC, 1 = NC (larcv/LArSoft ``current_type``). ``mode``: LArSoft
    simb::int_type_ code (1001 CCQE, 1002 NCQE, 1003.. RES, 1091 CC DIS, 1092 NC DIS, ...).
    ``energy`` is the neutrino energy in MeV; ``vertex`` (x, y, z, t) in cm, µs.
    """

    id: int
    nu_pdg: int
    current: int
    mode: int
    energy: float
    vertex: tuple[float, float, float, float]
    lepton_pdg: int = 0

    @property
    def is_cc(self) -> bool:
        return self.current == 0


@dataclass
class Event:
    run: int
    subrun: int
    event: int
    detector: DetectorMeta
    planes: list[PlaneImage]
    particles: list[Particle] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"{self.run}/{self.subrun}/{self.event}"

    def __repr__(self) -> str:
        """A one-screen summary (the arrays themselves are not printed)."""
        lines = [f"Event {self.tag} ({self.detector.name}): {len(self.particles)} particles, "
                 f"{len(self.interactions)} interaction(s)"]
        lines += [f"  {p!r}" for p in self.planes]
        for it in self.interactions[:3]:
            from .labels import interaction_mode_name

            what = ("particle bomb" if it.nu_pdg == 0 else
                    f"ν pdg {it.nu_pdg} {'CC' if it.current == 0 else 'NC'}, "
                    f"{interaction_mode_name(it.mode)}, {it.energy:.0f} MeV")
            lines.append(f"  interaction {it.id}: {what} at "
                         f"({it.vertex[0]:.1f}, {it.vertex[1]:.1f}, {it.vertex[2]:.1f}) cm")
        return "\n".join(lines)

    def plane(self, index: int) -> PlaneImage:
        return self.planes[index]

    def n_pixels(self) -> list[int]:
        return [len(p) for p in self.planes]

    def interaction_groups(self) -> tuple[np.ndarray, list[int]]:
        """Ancestor interactions, as sMask-RCNN sees instances (its Table I).

        Returns (group of each particle, InstanceClass of each group): every particle of one
        neutrino (or particle-bomb) interaction is one group; otherwise a particle belongs to its
        ancestor's group (a cosmic muon with its δ-rays and Michel electron is one instance).
        """
        from .labels import instance_class_for

        n = len(self.particles)
        key_of: dict[tuple[str, int], int] = {}
        groups = np.full(n, -1, np.int64)
        classes: list[int] = []
        for i, p in enumerate(self.particles):
            if p.origin != Origin.COSMIC and p.interaction_id >= 0:
                key, anc_pdg = ("interaction", p.interaction_id), 0
            else:
                a = p.ancestor_id if 0 <= p.ancestor_id < n else i
                key, anc_pdg = ("ancestor", a), self.particles[a].pdg
            if key not in key_of:
                key_of[key] = len(classes)
                classes.append(int(instance_class_for(p.origin, anc_pdg)))
            groups[i] = key_of[key]
        return groups, classes

    def interaction_instance(self, plane: int) -> np.ndarray:
        """Per-pixel ancestor-interaction id of a plane (-1 where no particle deposited)."""
        groups, _ = self.interaction_groups()
        inst = self.planes[plane].instance
        if inst is None:
            raise InvalidEventError(f"plane {plane} has no instance labels", event=self.tag,
                                    field=f"plane{plane}.instance")
        out = np.full(inst.shape, NO_LABEL, np.int64)
        ok = (inst >= 0) & (inst < len(groups))
        out[ok] = groups[inst[ok]]
        return out

    def validate(self) -> "Event":
        """Check shapes, ranges, finiteness and references; return self (for chaining)."""
        if len(self.planes) != self.detector.n_planes:
            raise InvalidEventError(
                f"{len(self.planes)} plane images for a detector with {self.detector.n_planes}",
                event=self.tag, field="planes")
        for i, (img, meta) in enumerate(zip(self.planes, self.detector.planes)):
            if img.meta != meta:
                raise InvalidEventError(f"plane {i} meta {img.meta} differs from detector {meta}",
                                        event=self.tag, field=f"plane{i}.meta")
            img.validate(self.tag)
        n_part = len(self.particles)
        for i, p in enumerate(self.particles):
            if p.id != i:
                raise InvalidEventError(f"particle at index {i} has id {p.id}",
                                        event=self.tag, field="particles.id")
            if p.parent_id >= n_part or p.ancestor_id >= n_part:
                raise InvalidEventError(f"particle {i} refers to a particle beyond the table",
                                        event=self.tag, field="particles.parent_id")
            for name in ("energy_init", "energy_deposit"):
                if not np.isfinite(getattr(p, name)):
                    raise InvalidEventError(f"particle {i} has non-finite {name}",
                                            event=self.tag, field=f"particles.{name}")
        # Instance / cluster ids may exceed the particle table: larcv keeps charge that no
        # particle claims in one extra cluster after the last particle's.
        for img in self.planes:
            pc = img.particle_charge
            if pc is not None and len(pc) and pc.particle.min() < 0:
                raise InvalidEventError("particle_charge has a negative particle id",
                                        event=self.tag, field=f"plane{img.plane}.particle_charge")
        return self


def semantic_of(pdg: int, process: str, parent_pdg: int | None = None) -> int:
    """Default SparseSSNet class of the charge a particle deposits: :func:`labels.semantic_class`
    (the one rule)."""
    from .labels import semantic_class

    return semantic_class(pdg, process, parent_pdg)
