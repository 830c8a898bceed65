"""Records passed between the simulator's stages: generator -> transport -> readout.

- a generator returns a :class:`GeneratedEvent` (primaries + interaction records);
- transport steps the primaries through liquid argon and returns the particle table
  (:class:`larseg.event.Particle`, with parents/ancestors) and :class:`Deposits`;
- readout turns deposits into plane images with labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..event import Interaction
from ..labels import Origin


@dataclass
class Primary:
    """A particle handed to transport: starting point, direction and kinetic energy."""

    pdg: int
    position: tuple[float, float, float]       # cm
    direction: tuple[float, float, float]      # unit vector
    kinetic_energy: float                      # MeV
    time: float = 0.0                          # µs relative to the trigger
    origin: Origin = Origin.COSMIC
    interaction_id: int = -1
    process: str = "primary"


@dataclass
class GeneratedEvent:
    primaries: list[Primary] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)


@dataclass
class Deposits:
    """Energy deposits (one per transport step), as a struct of arrays.

    Positions are the step midpoints (cm), ``t`` the time there (µs), ``energy`` the energy
    deposited (MeV), ``dedx`` the local stopping power (MeV/cm) used for recombination, and
    ``particle`` the id of the particle (row of the particle table) that deposited it.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    t: np.ndarray
    energy: np.ndarray
    dedx: np.ndarray
    particle: np.ndarray

    def __post_init__(self) -> None:
        for name in ("x", "y", "z", "t"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64).reshape(-1))
        self.energy = np.asarray(self.energy, dtype=np.float64).reshape(-1)
        self.dedx = np.asarray(self.dedx, dtype=np.float64).reshape(-1)
        self.particle = np.asarray(self.particle, dtype=np.int64).reshape(-1)
        n = self.x.shape[0]
        for name in ("y", "z", "t", "energy", "dedx", "particle"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"Deposits.{name} has {getattr(self, name).shape[0]} rows, x has {n}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @classmethod
    def empty(cls) -> "Deposits":
        z = np.zeros(0)
        return cls(z, z, z, z, z, z, np.zeros(0, np.int64))

    @classmethod
    def concatenate(cls, parts: list["Deposits"]) -> "Deposits":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("x", "y", "z", "t", "energy", "dedx", "particle")))

    def select(self, mask: np.ndarray) -> "Deposits":
        return Deposits(*(getattr(self, f)[mask]
                          for f in ("x", "y", "z", "t", "energy", "dedx", "particle")))
