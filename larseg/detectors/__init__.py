"""Detector presets: ``get_detector("microboone" | "sbnd")``."""

from __future__ import annotations

from functools import lru_cache

from ..errors import LarsegError
from ..event import DetectorMeta
from .base import TPC, Detector, ReadoutModel, WirePlane
from .microboone import microboone
from .sbnd import sbnd

_PRESETS = {"microboone": microboone, "sbnd": sbnd}
DETECTOR_NAMES = tuple(_PRESETS)


@lru_cache(maxsize=None)
def get_detector(name: str) -> Detector:
    try:
        return _PRESETS[name.lower()]()
    except KeyError:
        raise LarsegError(f"unknown detector '{name}'; choose one of {', '.join(_PRESETS)}") from None


def guess_detector_name(n_wires: int, n_ticks: int) -> str:
    """Name of the preset whose images have this shape, or 'unknown' (e.g. a user's own files)."""
    for name in _PRESETS:
        d = get_detector(name)
        if (d.image_wires, d.image_rows) == (n_wires, n_ticks):
            return name
    return "unknown"


def meta_for(name: str) -> DetectorMeta:
    return get_detector(name).meta()


__all__ = ["Detector", "TPC", "WirePlane", "ReadoutModel", "get_detector", "guess_detector_name",
           "meta_for", "DETECTOR_NAMES"]
