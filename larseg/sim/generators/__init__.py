"""Event generators of larseg's simulator: primaries (and interaction records) for transport.

``get_generator(name, **options)`` for the names in :data:`GENERATOR_NAMES`:

- ``bomb``: MicroBooNE note 1091's particle bomb (option ``mix=True``: the low-E sample 15 % of
  the time, the paper's composition); ``bomb-lowe``: the low-energy sample only;
- ``cosmics``: one readout window of sea-level cosmic rays (options ``admixture``,
  ``vertical_intensity``);
- ``neutrino``: one BNB-like interaction (options ``mix`` = "balanced" | "bnb", ``fsi``, and the
  selections ``category``, ``min_energy`` / ``max_energy``, ``topology``: see
  :class:`NeutrinoGenerator`);
- ``cosmics+neutrino``: one interaction and the cosmic window (options of both).

Every generator has a ``name`` and ``generate(detector, rng) -> GeneratedEvent``; all randomness
comes from ``rng``, so the same seed gives the same event.

The options are the generator dataclasses' fields (:func:`generator_options`: name, type,
default); :func:`parse_generator_options` reads them from ``KEY=VALUE`` text (``larseg simulate
-O``) and :func:`canonical_options` gives the form a simulation job stores (typed, sorted, the
defaults left out, so that a job with defaults spelled out is the job without options).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
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


#: the classes whose fields are each generator's options
_CLASSES: dict[str, tuple[type, ...]] = {
    "bomb": (BombGenerator,), "bomb-lowe": (BombGenerator,), "cosmics": (CosmicGenerator,),
    "neutrino": (NeutrinoGenerator,), "cosmics+neutrino": (NeutrinoGenerator, CosmicGenerator)}
#: fields that the generator's name sets (bomb-lowe is the bomb with low_energy=True)
_FIXED: dict[str, frozenset[str]] = {"bomb-lowe": frozenset({"low_energy"})}
_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class GeneratorOption:
    """One option of a generator: a field of its dataclass."""

    name: str
    type: type            # bool, int, float or str
    default: object
    optional: bool = False  # None is a value too ("none" on the command line)

    def describe(self) -> str:
        kind = self.type.__name__ + (" or none" if self.optional else "")
        return f"{self.name} ({kind}, default {self.default!r})"


def _option(cls: type, f, hints: dict) -> GeneratorOption:
    hint = hints[f.name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or \
        typing.get_origin(hint) is typing.Union else (hint,)
    base = [a for a in args if a is not type(None)]
    if len(base) != 1 or base[0] not in _TYPES:
        raise TypeError(f"{cls.__name__}.{f.name}: option type {hint} is not one of "
                        "bool, int, float, str (or one of them | None)")
    default = f.default if f.default is not MISSING else None
    return GeneratorOption(f.name, base[0], default, optional=len(args) > 1)


def _check_name(name: str) -> None:
    if name not in _CLASSES:
        raise LarsegError(f"unknown generator '{name}'; choose one of {', '.join(GENERATOR_NAMES)}")


def generator_options(name: str) -> dict[str, GeneratorOption]:
    """The options of generator ``name``, by option name, in field order."""
    _check_name(name)
    out: dict[str, GeneratorOption] = {}
    for cls in _CLASSES[name]:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name != "name" and f.name not in _FIXED.get(name, ()):
                out.setdefault(f.name, _option(cls, f, hints))
    return out


def _unknown(name: str, keys: Sequence[str]) -> LarsegError:
    known = ", ".join(o.describe() for o in generator_options(name).values())
    return LarsegError(f"generator '{name}' has no option(s) {', '.join(keys)}; "
                       f"its options: {known}")


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _wrong_type(name: str, option: GeneratorOption, value: object) -> LarsegError:
    kind = {bool: "true or false", int: "an integer", float: "a number",
            str: "text"}[option.type] + (" (or none)" if option.optional else "")
    return LarsegError(f"generator '{name}': option {option.name} takes {kind}, not {value!r}")


def _parse_value(name: str, option: GeneratorOption, text: str) -> object:
    raw = text.strip()
    if option.optional and raw.lower() == "none":
        return None
    try:
        if option.type is bool:
            if raw.lower() in _TRUE + _FALSE:
                return raw.lower() in _TRUE
            raise ValueError(raw)
        if option.type is float:
            value = float(raw)
            if value != value:  # nan: no limit or setting means "not a number"
                raise ValueError(raw)
            return value
        return option.type(raw)
    except ValueError:
        raise _wrong_type(name, option, text) from None


def _coerce(name: str, option: GeneratorOption, value: object) -> object:
    """A Python value as the option's type (an int for a float option becomes a float, so that
    500 and 500.0 are one job); a value of another type is an error."""
    if value is None and option.optional:
        return None
    if option.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is option.type:
        return value
    raise _wrong_type(name, option, value)


def parse_generator_options(name: str, texts: Sequence[str]) -> dict[str, object]:
    """``["KEY=VALUE", ...]`` -> typed options of generator ``name`` (an unknown key or a value
    of the wrong type is an error naming it; a key given twice: the last wins)."""
    known = generator_options(name)
    out: dict[str, object] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LarsegError(f"generator option {text!r}: expected KEY=VALUE, e.g. mix=bnb")
        if key not in known:
            raise _unknown(name, [key])
        out[key] = _parse_value(name, known[key], raw)
    return out


def canonical_options(name: str, options: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    """The options as a job stores them: checked (by building the generator), sorted by key,
    those equal to their default left out."""
    known = generator_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise _unknown(name, unknown)
    typed = {k: _coerce(name, known[k], v) for k, v in options.items()}
    get_generator(name, **typed)
    return tuple(sorted((k, v) for k, v in typed.items() if v != known[k].default))


def _options_for(cls: type, options: dict, used: set[str]) -> dict:
    names = {f.name for f in fields(cls)} - {"name"}
    picked = {k: v for k, v in options.items() if k in names}
    used.update(picked)
    return picked


def get_generator(name: str, **options) -> Generator:
    """The generator called ``name``, configured with keyword ``options`` (see module doc)."""
    _check_name(name)
    fixed = sorted(set(options) & _FIXED.get(name, frozenset()))
    if fixed:
        raise LarsegError(f"generator '{name}' sets {', '.join(fixed)} itself; "
                          f"use another generator to change it")
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
    else:  # cosmics+neutrino
        nu = NeutrinoGenerator(**_options_for(NeutrinoGenerator, options, used))
        cos = CosmicGenerator(**_options_for(CosmicGenerator, options, used))
        gen = OverlayGenerator(parts=(nu, cos), name=name)
    unknown = sorted(set(options) - used)
    if unknown:
        raise _unknown(name, unknown)
    return gen


__all__ = ["GENERATOR_NAMES", "Generator", "GeneratorOption", "get_generator", "generator_options",
           "parse_generator_options", "canonical_options", "BombGenerator", "CosmicGenerator",
           "NeutrinoGenerator", "OverlayGenerator", "expected_crossings"]
