"""The plane images the network benchmarks run on: one simulated MicroBooNE event's busiest
plane after SparseSSNet's input mask (SSNet / SparseSSNet), or its collection plane as a dense
image (sMask-RCNN); and the resident memory a worker process reads."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from larseg.event import PlaneImage


@dataclass(frozen=True)
class MaskedPlane:
    """A plane of a simulated event and its pixels inside the ADC mask."""

    index: int            # the plane's number in the event
    plane: PlaneImage
    keep: np.ndarray      # (N,) bool, the plane's pixels with adc_min <= ADC <= adc_max
    adc_min: float
    adc_max: float


def add_plane_options(ap: argparse.ArgumentParser) -> None:
    """--generator, --seed and --plane: the arguments of :func:`busiest_plane`."""
    ap.add_argument("--generator", default="cosmics")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--plane", type=int, default=None, help="default: the busiest plane")


def busiest_plane(generator: str = "cosmics", seed: int = 5,
                  plane: int | None = None) -> MaskedPlane:
    """Simulates event 0 of a MicroBooNE ``generator`` job and takes ``plane``, by default the
    plane with the most pixels inside SparseSSNet's default mask (note 1091: 10–300 ADC)."""
    # imported here, not at the top: the benchmarks' worker processes import this module too,
    # and the simulator's imports would count in the peak RSS they measure
    from larseg.models.sparse_ssnet import SparseSSNetConfig
    from larseg.sim.simulate import SimulationJob, simulate_event

    cfg = SparseSSNetConfig()
    event = simulate_event(SimulationJob("microboone", generator, seed=seed), 0)
    masks = [(p.values >= cfg.adc_min) & (p.values <= cfg.adc_max) for p in event.planes]
    index = int(np.argmax([int(m.sum()) for m in masks])) if plane is None else plane
    return MaskedPlane(index, event.planes[index], masks[index], cfg.adc_min, cfg.adc_max)


def collection_image(seed: int) -> np.ndarray:
    """The collection plane (Y) of event 0 of a MicroBooNE ``cosmics+neutrino`` job as a dense
    (ticks, wires) float32 ADC image, 1008 × 3456."""
    from larseg.sim.simulate import SimulationJob, simulate_event

    event = simulate_event(SimulationJob("microboone", "cosmics+neutrino", seed=seed), 0)
    plane = next(p for p in event.planes if p.meta.name == "Y")
    image = np.zeros((plane.meta.n_ticks, plane.meta.n_wires), np.float32)
    image[plane.coords[:, 0], plane.coords[:, 1]] = plane.values
    return image


def rss_mb() -> float:
    """This process's resident memory now (MB, from /proc; nan where there is none)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
