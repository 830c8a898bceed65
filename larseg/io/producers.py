"""Which larcv3 producer holds which part of an :class:`larseg.event.Event`.

The SBND names are CosmicTagger's (``sbndwire``, ``sbnd_cosmicseg``, ``sbndsegmerged``,
``sbndneutrino``); the MicroBooNE ones follow the same pattern on SparseSSNet-style files
(``wire``, ...). Mapping of each field:

- ``adc``: sparse2d, one projection per plane (an image2d of that name is converted when no
  sparse2d exists);
- ``cosmic`` / ``semantic``: sparse2d on the ADC voxel ids, value = label (semantic NO_LABEL = -1);
- ``instance``: cluster2d, cluster index = particle id, voxel value = that particle's charge;
- ``particles``: particle product, one row per particle;
- ``interactions``: particle product, one row per neutrino interaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import ProductNotFoundError
from . import larcv3_schema as S
from .products import ProductInfo


@dataclass(frozen=True)
class ProducerNames:
    adc: str
    cosmic: str | None = None
    semantic: str | None = None
    instance: str | None = None
    particles: str | None = None
    interactions: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


MICROBOONE = ProducerNames("wire", "cosmicseg", "semantic", "instance", "mctruth", "neutrino")
SBND = ProducerNames("sbndwire", "sbnd_cosmicseg", "sbnd_semantic", "sbndsegmerged", "mctruth",
                     "sbndneutrino")
PRESETS: dict[str, ProducerNames] = {"microboone": MICROBOONE, "sbnd": SBND}

#: product type of each field (adc/labels may also come from an image2d of the same name)
FIELD_TYPES = {"adc": S.SPARSE2D, "cosmic": S.SPARSE2D, "semantic": S.SPARSE2D,
               "instance": S.CLUSTER2D, "particles": S.PARTICLE, "interactions": S.PARTICLE}


def producers_for_detector(name: str) -> ProducerNames:
    """The preset written for a detector (MicroBooNE's names for any other detector)."""
    return PRESETS.get(name.lower(), MICROBOONE)


def _available(products: list[ProductInfo]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {t: set() for t in S.PRODUCT_TYPES}
    for p in products:
        out[p.type].add(p.producer)
    return out


def field_type(field: str, producer: str, have: dict[str, set[str]]) -> str | None:
    """The product type a field is read from, or None if the file lacks it."""
    t = FIELD_TYPES[field]
    if producer in have[t]:
        return t
    if t == S.SPARSE2D and producer in have[S.IMAGE2D]:
        return S.IMAGE2D
    return None


def _listing(products: list[ProductInfo]) -> str:
    return ", ".join(f"{p.type} '{p.producer}'" for p in products) or "no products"


def resolve_producers(products: list[ProductInfo],
                      producers: ProducerNames | str | dict | None = None,
                      path: str | Path = "?") -> ProducerNames:
    """Producer names to read from a file holding ``products``.

    ``producers``: None (auto-detect from the presets), a preset name, a ProducerNames, or a
    dict overriding some fields of the detected names. Fields that the user named explicitly
    must exist; fields taken from a preset are dropped (None) when the file lacks them.
    """
    have = _available(products)
    explicit: set[str] = set()
    if isinstance(producers, ProducerNames):
        names = producers
        explicit = {k for k, v in names.as_dict().items() if v is not None}
    elif isinstance(producers, str):
        if producers.lower() not in PRESETS:
            raise ProductNotFoundError(f"unknown producer preset '{producers}'; presets: "
                                       f"{', '.join(PRESETS)}")
        names = PRESETS[producers.lower()]
    else:
        try:
            names = _detect(products, have, path)
        except ProductNotFoundError:
            if not (isinstance(producers, dict) and producers.get("adc")):
                raise
            names = ProducerNames(producers["adc"])
        if isinstance(producers, dict):
            unknown = set(producers) - set(names.as_dict())
            if unknown:
                raise ValueError(f"unknown producer field(s) {sorted(unknown)}; fields: "
                                 f"{', '.join(names.as_dict())}")
            names = replace(names, **producers)
            explicit = {k for k, v in producers.items() if v is not None}
    resolved = {}
    for field, producer in names.as_dict().items():
        if producer is None:
            resolved[field] = None
            continue
        if field_type(field, producer, have) is None:
            if field in explicit or field == "adc":
                raise ProductNotFoundError(
                    f"file {path}: no {FIELD_TYPES[field]} product '{producer}' for {field}; "
                    f"it holds: {_listing(products)}")
            resolved[field] = None
        else:
            resolved[field] = producer
    return ProducerNames(**resolved)


def _detect(products: list[ProductInfo], have: dict[str, set[str]],
            path: str | Path) -> ProducerNames:
    best, best_score = None, 0
    for preset in PRESETS.values():
        if field_type("adc", preset.adc, have) is None:
            continue
        score = sum(field_type(f, p, have) is not None
                    for f, p in preset.as_dict().items() if p is not None)
        if score > best_score:
            best, best_score = preset, score
    if best is not None:
        return best
    sparse = sorted(have[S.SPARSE2D]) or sorted(have[S.IMAGE2D])
    if len(sparse) == 1:  # one image product: it must be the ADC
        return ProducerNames(sparse[0])
    raise ProductNotFoundError(
        f"file {path}: cannot tell which product holds the ADC image (none of the presets' "
        f"{', '.join(p.adc for p in PRESETS.values())}); it holds: {_listing(products)}. "
        "Pass producers=ProducerNames(adc=...) or a dict such as {'adc': ...}")
