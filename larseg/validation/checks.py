"""The record every validation check returns, and small helpers shared by the checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detectors import get_detector
from ..labels import Origin
from ..sim.records import Deposits, Primary
from ..sim.transport import TransportConfig, transport


@dataclass
class Check:
    """One line of the validation table."""

    name: str
    measured: str
    reference: str
    source: str
    passed: bool
    figure: str | None = None
    notes: list[str] = field(default_factory=list)


def shoot(pdg: int, kinetic_energy: float, rng: np.random.Generator, *, n: int = 1,
          detector: str = "microboone", config: TransportConfig | None = None,
          direction=(0.0, 0.0, 1.0), start=None):
    """Transport ``n`` identical primaries one at a time along ``direction``.

    They start near the upstream end of the detector's longest axis, so that stopping particles
    of up to ~1 GeV are contained. Yields (particles, deposits) per primary.
    """
    det = get_detector(detector)
    (x0, x1), (y0, y1), (z0, z1) = det.bounds
    if start is None:
        start = (0.5 * (x0 + x1), 0.5 * (y0 + y1), z0 + 5.0)
    for _ in range(n):
        p = Primary(pdg=pdg, position=tuple(start), direction=tuple(direction),
                    kinetic_energy=kinetic_energy, origin=Origin.BOMB)
        yield transport([p], det, rng, config)


def path_of(deposits: Deposits, particle: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered deposits of one particle: (cumulative path length at each deposit, positions,
    energies). Deposits of a particle come out of transport in stepping order."""
    sel = deposits.particle == particle
    pos = np.stack([deposits.x[sel], deposits.y[sel], deposits.z[sel]], axis=1)
    if len(pos) == 0:
        return np.zeros(0), pos, np.zeros(0)
    seg = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return s, pos, deposits.energy[sel]


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"
