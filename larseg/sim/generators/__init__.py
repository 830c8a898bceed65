"""Event generators of larseg's simulator: primaries (and interaction records) for transport.

``get_generator(name, **options)`` for the names in :data:`GENERATOR_NAMES`:

- ``bomb``: MicroBooNE note 1091's particle bomb (option ``mix=True``: the low-E sample 15 % of
  the time, the paper's composition); ``bomb-lowe``: the low-energy sample only;
- ``cosmics``: one readout window of sea-level cosmic rays (options ``admixture``,
  ``vertical_intensity``);
- ``neutrino``: one BNB-like interaction (options ``mix`` = "balanced" | "bnb", ``fsi``);
- ``cosmics+neutrino``: one interaction and the cosmic window (options of both).

Every generator has a ``name`` and ``generate(detector, rng) -> GeneratedEvent``; all randomness
comes from ``rng``, so the same seed gives the same event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from ...detectors import Detector
from ...errors import LarsegError
from ..records import GeneratedEvent
from .bomb import BombGenerator
from .cosmics import CosmicGenerator, expected_crossings
from .neutrino import NeutrinoGenerator


class Generator(Protocol):
    name: str

    def generate(self, detector: Detector, rng: np.random.Generator) -> GeneratedEvent: ...


@dataclass(frozen=True)
class OverlayGenerator:
    """Several generators in one event (e.g. a neutrino interaction over the cosmic window)."""

    parts: tuple[Generator, ...]
    name: str = "overlay"

    def generate(self, detector: Detector, rng: np.random.Generator) -> GeneratedEvent:
        out = GeneratedEvent()
        for part in self.parts:
            ev = part.generate(detector, rng)
            out.primaries += ev.primaries
            out.interactions += ev.interactions
        return out


GENERATOR_NAMES = ("bomb", "bomb-lowe", "cosmics", "neutrino", "cosmics+neutrino")


def _options_for(cls: type, options: dict, used: set[str]) -> dict:
    names = {f.name for f in fields(cls)} - {"name"}
    picked = {k: v for k, v in options.items() if k in names}
    used.update(picked)
    return picked


def get_generator(name: str, **options) -> Generator:
    """The generator called ``name``, configured with keyword ``options`` (see module doc)."""
    used: set[str] = set()
    if name == "bomb":
        gen: Generator = BombGenerator(**_options_for(BombGenerator, options, used), name=name)
    elif name == "bomb-lowe":
        opts = _options_for(BombGenerator, options, used)
        opts["low_energy"] = True
        gen = BombGenerator(**opts, name=name)
    elif name == "cosmics":
        gen = CosmicGenerator(**_options_for(CosmicGenerator, options, used), name=name)
    elif name == "neutrino":
        gen = NeutrinoGenerator(**_options_for(NeutrinoGenerator, options, used), name=name)
    elif name == "cosmics+neutrino":
        nu = NeutrinoGenerator(**_options_for(NeutrinoGenerator, options, used))
        cos = CosmicGenerator(**_options_for(CosmicGenerator, options, used))
        gen = OverlayGenerator(parts=(nu, cos), name=name)
    else:
        raise LarsegError(f"unknown generator '{name}'; choose one of {', '.join(GENERATOR_NAMES)}")
    unknown = sorted(set(options) - used)
    if unknown:
        raise LarsegError(f"generator '{name}' has no option(s) {', '.join(unknown)}")
    return gen


__all__ = ["GENERATOR_NAMES", "Generator", "get_generator", "BombGenerator", "CosmicGenerator",
           "NeutrinoGenerator", "OverlayGenerator", "expected_crossings"]
