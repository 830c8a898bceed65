"""What a larcv3 file holds: products, events, planes, pixel counts, label fractions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, LarsegError
from ..labels import COSMIC_NAMES, SEMANTIC_NAMES, interaction_mode_name
from .events import EventFile
from .larcv3 import Larcv3Reader


def summarise_file(path: str | Path, max_events: int = 200) -> dict:
    """A JSON-able summary; ``max_events`` events are scanned for pixel statistics."""
    from .root import RootImageFile, is_root_file

    path = Path(path)
    if is_root_file(path):
        return _summarise_root(RootImageFile(path), max_events)
    reader = Larcv3Reader(path)
    out: dict = {"file": str(path), "n_events": reader.n_events, "detector": "unknown",
                 "products": [{"type": p.type, "producer": p.producer, "n_planes": p.n_planes}
                              for p in reader.products()],
                 "planes": [], "events_scanned": 0, "warnings": []}
    reader.close()
    if out["n_events"] == 0:
        out["warnings"].append("the file holds no events")
        return out
    try:
        ef = EventFile(path, on_error="skip")
    except LarsegError as e:
        out["warnings"].append(str(e))
        return out
    out["producers"] = ef.producers.as_dict()
    stats: dict[int, dict] = {}
    n = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        modes: dict[str, int] = {}
        for block in ef.iter_blocks(stop=min(len(ef), max_events)):
            for ev in block:
                out["detector"] = ev.detector.name
                for it in ev.interactions:
                    if it.nu_pdg:  # 0: a particle-bomb vertex
                        name = interaction_mode_name(it.mode)
                        modes[name] = modes.get(name, 0) + 1
            n += _scan(block, stats)
        out["interaction_modes"] = dict(sorted(modes.items(), key=lambda kv: -kv[1]))
    out["warnings"] += sorted({str(w.message) for w in caught})[:20]
    if max_events and ef.skipped:
        out["warnings"].append(f"{ef.skipped} unreadable event(s) skipped")
    ef.close()
    return _finish(out, stats, n)


def _scan(events, stats: dict) -> int:
    n = 0
    for ev in events:
        n += 1
        for img in ev.planes:
            s = stats.setdefault(img.plane, {"meta": img.meta, "pixels": 0,
                                             "cosmic": np.zeros(len(COSMIC_NAMES)),
                                             "semantic": np.zeros(len(SEMANTIC_NAMES) + 1),
                                             "has": set()})
            s["pixels"] += len(img)
            if img.cosmic is not None:
                s["has"].add("cosmic")
                s["cosmic"] += np.bincount(img.cosmic, minlength=len(COSMIC_NAMES))
            if img.semantic is not None:
                s["has"].add("semantic")
                s["semantic"] += np.bincount(img.semantic.astype(np.int64) + 1,
                                             minlength=len(SEMANTIC_NAMES) + 1)
    return n


def _summarise_root(f, max_events: int) -> dict:
    out: dict = {"file": str(f.path), "n_events": len(f), "detector": "unknown",
                 "format": f.layout, "producers": {"adc": f.producer},
                 "products": [{"type": "image2d", "producer": p, "n_planes": 0}
                              for p in f.products],
                 "planes": [], "events_scanned": 0, "warnings": []}
    stats: dict[int, dict] = {}
    events, empty = [], 0
    for i in range(min(len(f), max_events)):
        try:
            events.append(f[i])
        except FileFormatError:  # an entry without images
            empty += 1
    if empty:
        out["warnings"].append(f"{empty} of {min(len(f), max_events)} scanned entries hold no "
                               f"'{f.producer}' images")
    if events:
        out["detector"] = events[0].detector.name
        for p in out["products"]:
            if p["producer"] == f.producer:
                p["n_planes"] = len(events[0].planes)
    n = _scan(events, stats)
    out["warnings"].append("larcv ROOT file: ADC images only (labels and other products are "
                           "not read)")
    return _finish(out, stats, n)


def _finish(out: dict, stats: dict, n: int) -> dict:
    out["events_scanned"] = n
    for plane, s in sorted(stats.items()):
        m = s["meta"]
        fractions = {}
        total = max(s["pixels"], 1)
        if "cosmic" in s["has"]:
            fractions.update({name: float(v / total) for name, v in zip(COSMIC_NAMES, s["cosmic"])})
        if "semantic" in s["has"]:
            fractions.update({name: float(v / total)
                              for name, v in zip(SEMANTIC_NAMES, s["semantic"][1:])})
            fractions["no label"] = float(s["semantic"][0] / total)
        out["planes"].append({"plane": plane, "name": m.name, "n_ticks": m.n_ticks,
                              "n_wires": m.n_wires, "mean_active_pixels": s["pixels"] / max(n, 1),
                              "label_fractions": fractions})
    return out
