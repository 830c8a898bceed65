"""Single-particle images for the PID CNN of SSNet's transfer learning (talk on PRD 99, 092001,
slide "Transfer learning": a CNN trained on particle ID "using single particle images").

larseg's generators (:mod:`larseg.sim.generators`) have no single-particle mode, so
:func:`simulate_single_particle` builds one from their primitives: one primary made by
:func:`larseg.sim.generators.kinematics.to_primaries` (origin BOMB, isotropic direction from
``isotropic_directions``, vertex uniform in the active volume ``margin_cm`` from the walls, time
0), then the simulator's own :func:`larseg.sim.transport.transport` and
:func:`larseg.sim.readout.readout` (noise included unless ``noise=False``, which uses
:func:`larseg.sim.readout.noiseless`). No cosmic muons are added. The species are the particle
bomb's five (:data:`larseg.sim.generators.bomb.BOMB_SPECIES`, π± drawn with equal chance) and so
are the default kinetic-energy ranges (MicroBooNE note 1091, Table 1): a borrowed choice, the
talk gives no ranges.

:class:`SingleParticleDataset` item ``i`` is species ``i mod 5`` (classes exactly balanced),
simulated with the stream of :func:`larseg.data.seeding.rng_for` (i, 0, seed): deterministic,
independent of workers and order. The image is a ``size`` × ``size`` crop of one plane (default
the collection plane Y, MicroBooNE full resolution: 0.3 cm wires × 3 µs rows) placed by
:func:`crop_origin`: centred on the particle's charge-weighted centroid, moved so that the
particle's first pixel (its labelled pixel nearest the projected vertex) stays ``margin`` pixels
inside. A draw whose crop holds fewer than ``min_pixels`` labelled pixels (a photon escaping, a
particle leaving through a wall) is redrawn from the same stream, at most ``max_tries`` times.
:func:`collate_particles` batches items for the trainer (``larseg.train.paths``' classification
path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LarsegError
from ..event import Event, Interaction
from ..labels import Origin
from ._torch import torch
from .seeding import rng_for

#: class index -> species (the same order as :data:`larseg.models.pid_cnn.PID_CLASSES`)
SPECIES = ("e", "gamma", "mu", "pi", "p")


@dataclass(frozen=True)
class SingleParticleConfig:
    detector: str = "microboone"
    plane: int = 2                  # collection plane (Y), the talk's CNN-paper images
    size: int = 128                 # crop side in pixels (rows = wires: full resolution)
    margin: int = 8                 # the particle's first pixel stays this far inside the crop
    min_pixels: int = 20            # labelled pixels the crop must hold, else redraw
    max_tries: int = 20
    noise: bool = True
    margin_cm: float = 10.0         # vertex distance from the walls (as the particle bomb)
    # kinetic-energy range (MeV) for every species; None: note 1091 Table 1's per species
    kinetic_energy_mev: tuple[float, float] | None = None


def simulate_single_particle(species: str, rng: np.random.Generator,
                             detector: str = "microboone", *, noise: bool = True,
                             margin_cm: float = 10.0,
                             kinetic_energy_mev: tuple[float, float] | None = None) -> Event:
    """One particle of ``species`` (one of :data:`SPECIES`) through larseg's transport and
    readout; the Event's one Interaction (``nu_pdg`` 0) holds the vertex, ``energy`` the kinetic
    energy."""
    from ..detectors import get_detector
    from ..sim.generators.bomb import BOMB_SPECIES
    from ..sim.generators.kinematics import isotropic_directions, to_primaries
    from ..sim.readout import noiseless, readout
    from ..sim.transport import transport

    if species not in SPECIES:
        raise LarsegError(f"unknown species '{species}'; choose one of {', '.join(SPECIES)}")
    det = get_detector(detector)
    if not noise:
        det = noiseless(det)
    pdgs, _, ke_range, _ = BOMB_SPECIES[species]  # same names as SPECIES
    pdg = pdgs[int(rng.integers(len(pdgs)))]
    ke = float(rng.uniform(*(kinetic_energy_mev or ke_range)))
    vertex = _vertex(det, rng, margin_cm)
    primaries = to_primaries([pdg], vertex, isotropic_directions(rng, 1), np.array([ke]), 0.0,
                             Origin.BOMB, interaction_id=0)
    particles, deposits = transport(primaries, det, rng)
    planes = readout(deposits, particles, det, rng)
    it = Interaction(id=0, nu_pdg=0, current=0, mode=0, energy=ke,
                     vertex=(float(vertex[0]), float(vertex[1]), float(vertex[2]), 0.0))
    return Event(run=1, subrun=0, event=0, detector=det.meta(), planes=planes,
                 particles=particles, interactions=[it])


def _vertex(det, rng: np.random.Generator, margin_cm: float) -> np.ndarray:
    b = np.array(det.bounds, dtype=np.float64)
    lo, hi = b[:, 0] + margin_cm, b[:, 1] - margin_cm
    while True:
        v = rng.uniform(lo, hi)
        if det.contains(v[0:1], v[1:2], v[2:3])[0]:
            return v


def crop_origin(coords: np.ndarray, values: np.ndarray, vertex_rc: tuple[float, float],
                size: int, margin: int, shape: tuple[int, int]) -> tuple[int, int] | None:
    """Top-left (row, column) of the ``size`` crop of a particle's labelled pixels ``coords``
    (N, 2) with charges ``values``: centred on the charge centroid, shifted so that the pixel
    nearest ``vertex_rc`` is at least ``margin`` inside, then kept within the image ``shape``.
    None when there is no pixel."""
    if len(coords) == 0:
        return None
    c = coords.astype(np.float64)
    w = np.clip(values.astype(np.float64), 0.0, None)
    centre = (c * w[:, None]).sum(0) / w.sum() if w.sum() > 0 else c.mean(0)
    first = c[np.argmin(((c - np.asarray(vertex_rc)) ** 2).sum(1))]
    reach = size / 2 - margin  # how far the centre may sit from the first pixel
    centre = np.clip(centre, first - reach, first + reach)
    origin = np.floor(centre - size / 2 + 0.5).astype(np.int64)
    origin = np.clip(origin, 0, np.maximum(np.asarray(shape) - size, 0))
    return int(origin[0]), int(origin[1])


def particle_crop(event: Event, plane: int, size: int, margin: int
                  ) -> tuple[np.ndarray, int, tuple[int, int]] | None:
    """(size, size) float32 ADC crop of one plane, its labelled pixel count, its origin."""
    from ..detectors import get_detector

    img = event.planes[plane]
    labelled = img.semantic >= 0
    x, y, z, t = event.interactions[0].vertex
    _, rows, cols, _ = get_detector(event.detector.name).project([x], [y], [z], [t])
    origin = crop_origin(img.coords[labelled], img.values[labelled],
                         (float(rows[0]), float(cols[plane, 0])), size, margin,
                         (img.meta.n_ticks, img.meta.n_wires))
    if origin is None:
        return None
    r = img.coords[:, 0] - origin[0]
    c = img.coords[:, 1] - origin[1]
    inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
    crop = np.zeros((size, size), dtype=np.float32)
    crop[r[inside], c[inside]] = img.values[inside]
    return crop, int((inside & labelled).sum()), origin


class SingleParticleDataset(torch.utils.data.Dataset):
    """``n`` single-particle crops: ``image`` (1, size, size) float32, ``label`` () int64 (index
    into :data:`SPECIES`), ``pdg``, ``kinetic_energy`` (MeV), ``offset`` (row, column) of the crop
    in the plane, ``index``. ``cache=True`` keeps simulated items in memory."""

    def __init__(self, n: int, cfg: SingleParticleConfig = SingleParticleConfig(), seed: int = 0,
                 cache: bool = True) -> None:
        self.n, self.cfg, self.seed, self.cache = int(n), cfg, int(seed), bool(cache)
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        """Accepted for the trainer's dataset protocol; the items do not depend on the epoch
        (no augmentation: every epoch sees the same particles)."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} particles")
        item = self._items.get(index)
        if item is None:
            item = self._simulate(index)
            if self.cache:
                self._items[index] = item
        return item

    def _simulate(self, index: int) -> dict[str, Any]:
        cfg = self.cfg
        label = index % len(SPECIES)
        rng = rng_for(index, 0, self.seed)
        for _ in range(cfg.max_tries):
            event = simulate_single_particle(SPECIES[label], rng, cfg.detector, noise=cfg.noise,
                                             margin_cm=cfg.margin_cm,
                                             kinetic_energy_mev=cfg.kinetic_energy_mev)
            got = particle_crop(event, cfg.plane, cfg.size, cfg.margin)
            if got is not None and got[1] >= cfg.min_pixels:
                crop, _, origin = got
                return {"image": torch.from_numpy(crop[None]),
                        "label": torch.tensor(label, dtype=torch.int64),
                        "pdg": event.particles[0].pdg,
                        "kinetic_energy": event.interactions[0].energy,
                        "offset": torch.tensor(origin, dtype=torch.int64), "index": index}
        raise LarsegError(f"single particle {index} ({SPECIES[label]}): no draw in "
                          f"{cfg.max_tries} left {cfg.min_pixels} labelled pixels in the crop")


def collate_particles(items) -> dict[str, Any] | None:
    """Stack single-particle items: ``image`` (B, 1, S, S) float32, ``label`` (B,) int64,
    ``pdg`` (B,), ``indices`` (B,), ``tags`` ("particle i"); None items (none are made here) are
    dropped and counted in ``n_skipped``, as the other collate functions do."""
    kept = [it for it in items if it is not None]
    if not kept:
        return None
    return {"image": torch.stack([it["image"] for it in kept]),
            "label": torch.stack([it["label"] for it in kept]),
            "pdg": torch.tensor([it["pdg"] for it in kept], dtype=torch.int64),
            "indices": torch.tensor([it["index"] for it in kept], dtype=torch.int64),
            "tags": [f"particle {it['index']}" for it in kept],
            "n_skipped": len(items) - len(kept)}
