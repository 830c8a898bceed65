"""sMask-RCNN's training data: one plane's ADC image with a mask, a box and a class per ancestor
interaction, as whole images or as random crops (the sMask-RCNN paper, section II.A).

Per item:

- ``image`` (1, H, W) float32: the plane's ADC with pixels below ``min_adc`` (10) set to 0;
- ``target``: ``boxes`` (K, 4) float32 [x1, y1, x2, y2] = [wire0, row0, wire1, row1] in the
  item's pixels, the end exclusive (a box holds pixels x1 <= x < x2, y1 <= y < y2; the convention
  of :class:`larseg.data.targets.InstanceTargets`); ``labels`` (K,) int64
  :class:`larseg.labels.InstanceClass` (0 = cosmic: there is no background class here, a
  detection head that wants one shifts them); ``masks`` (K, H, W) bool; ``group`` (K,) int64 the
  interaction group of ``Event.interaction_groups()``;
- ``tag``, ``index`` (the item), ``entry`` (the event's position in the source), ``offset``
  (1, 2) int64 source pixel (row, wire) of the item's pixel (0, 0) and ``scale`` (1,) int64
  (always 1), the frame keys of :mod:`larseg.data.datasets`; ``category`` of the event
  (:func:`larseg.metrics.cosmic.category`: "nue_cc", "numu_cc", "nc" or "cosmic_only").

Instances are cut to the crop: an instance with no pixel left in the crop is dropped and the box
of the others is recomputed from the cut mask. A crop is placed on a random pixel of an
instance, anywhere in the window (``RandomCrop(jitter=1)``), so each holds part of an
interaction without being centred on it, as the paper asks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidEventError
from ..event import Event
from ._torch import torch
from .datasets import ON_EMPTY, EmptyEventError
from .sample import PlaneArrays
from .seeding import rng_for
from .targets import instance_targets
from .transforms import RandomCrop

#: what an instance dataset reads of a larcv3 file besides the ADC
FIELDS = ("instance", "particles", "interactions")
#: keeps the split's stream apart from other users of SeedSequence([.., seed])
_SPLIT_STREAM = 0x73706C74  # "splt"


@dataclass(frozen=True)
class InstanceDataConfig:
    plane: int = 2                          # MicroBooNE's collection plane Y (paper II.A)
    min_adc: float = 10.0                   # paper II.A: pixels with ADC < 10 set to 0
    crop: tuple[int, int] | None = (512, 832)  # rows × wires, paper II.A; None: whole images
    crops_per_event: int = 10               # paper II.A: "on the order of 10" crops per image
    jitter: float = 1.0                     # paper II.A: crop positions random, not centred
    min_pixels: int = 1                     # paper II.A: a crop holds part of an interaction
    max_tries: int = 20                     # crop draws before the fullest one is taken
    seed: int = 0
    on_empty: str = "raise"                 # a crop asked of an event without instances

    def __post_init__(self) -> None:
        if self.crop is not None and (len(self.crop) != 2 or min(self.crop) < 1):
            raise ValueError(f"crop must be (rows, wires) of positive sizes or None, "
                             f"got {self.crop}")
        if self.crops_per_event < 1:
            raise ValueError(f"crops_per_event must be >= 1, got {self.crops_per_event}")
        if self.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty must be one of {ON_EMPTY}, got '{self.on_empty}'")


@dataclass(frozen=True)
class PlaneInstances:
    """One event's plane, ready to cut: thresholded pixels and each pixel's instance."""

    tag: str
    category: str
    shape: tuple[int, int]
    coords: np.ndarray      # (N, 2) int64 (row, wire) of the pixels with ADC >= min_adc
    values: np.ndarray      # (N,) float32
    instance: np.ndarray    # (N,) int64 index into classes / group, -1: no instance
    classes: np.ndarray     # (K,) int64 InstanceClass
    group: np.ndarray       # (K,) int64


def split_events(n_events: int, train_fraction: float = 0.8, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) event indices, sorted, disjoint, together ``range(n_events)``.

    A permutation drawn from ``seed`` alone puts round(``train_fraction`` × n) events in the
    training set (paper II.A: 80 % / 20 %); the same (n, fraction, seed) always gives the same
    split (a different n gives another one).
    """
    if n_events < 0 or not 0.0 <= train_fraction <= 1.0:
        raise ValueError(f"bad split: {n_events} events, train fraction {train_fraction}")
    order = np.random.default_rng(np.random.SeedSequence([_SPLIT_STREAM, int(seed)])
                                  ).permutation(n_events)
    n_train = int(round(train_fraction * n_events))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _category(event: Event) -> str:
    from ..metrics.cosmic import category

    return category(event.interactions)


class InstanceDataset(torch.utils.data.Dataset):
    """Items of sMask-RCNN (see the module doc) from a ``Sequence[Event]`` or a larcv3 file.

    ``events``: the event indices to use (e.g. one side of :func:`split_events`; default all).
    With ``crop`` set there are ``crops_per_event`` items per event, each an independent random
    crop; item ``i`` is crop ``i % crops_per_event`` of event ``events[i // crops_per_event]``,
    drawn from (seed, epoch, i). Without ``crop`` an item is the whole plane. ``cache=True``
    keeps every event's prepared plane in memory (the last one is always kept: the crops of an
    event are consecutive items). Keyword ``overrides`` replace fields of ``config``.
    """

    def __init__(self, source: Sequence[Event] | str | Path,
                 config: InstanceDataConfig | None = None, *,
                 events: Sequence[int] | None = None, cache: bool = False,
                 **overrides: Any) -> None:
        if isinstance(source, (str, Path)):
            from ..io import EventFile

            source = EventFile(source, fields=FIELDS)
        self.source = source
        self.config = replace(config or InstanceDataConfig(), **overrides)
        n = len(source)
        self.events = np.arange(n) if events is None else np.asarray(events, np.int64)
        bad = self.events[(self.events < 0) | (self.events >= n)]
        if bad.size:
            raise IndexError(f"event index {int(bad[0])} out of range for a source of {n} "
                             f"events{self._where()}")
        self.cache = bool(cache)
        self._cache: dict[int, PlaneInstances] = {}
        self.epoch = 0

    @property
    def items_per_event(self) -> int:
        return self.config.crops_per_event if self.config.crop is not None else 1

    def __len__(self) -> int:
        return len(self.events) * self.items_per_event

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (crops differ between epochs, not between runs)."""
        self.epoch = int(epoch)

    def _file(self) -> str | None:
        path = getattr(self.source, "path", None)
        return None if path is None else str(path)

    def _where(self) -> str:
        return f" (file {self._file()})" if self._file() else ""

    # ------------------------------------------------------------------ events
    def plane_instances(self, entry: int) -> PlaneInstances:
        """The prepared plane of source event ``entry`` (cached as described above)."""
        got = self._cache.get(entry)
        if got is not None:
            return got
        try:
            got = self._prepare(self.source[entry])
        except InvalidEventError as exc:
            raise exc.with_file(self._file()) if self._file() else exc
        if not self.cache:
            self._cache.clear()
        self._cache[entry] = got
        return got

    def _prepare(self, event: Event) -> PlaneInstances:
        cfg = self.config
        n = len(event.planes)
        if not 0 <= cfg.plane < n:
            raise InvalidEventError(f"plane {cfg.plane} requested, the event has planes "
                                    f"0..{n - 1}", event=event.tag, field="planes")
        img = event.planes[cfg.plane]
        if img.instance is None:
            raise InvalidEventError("instance targets need the per-pixel instance labels, which "
                                    "this event does not have", event=event.tag,
                                    field=f"plane{cfg.plane}.instance")
        if not event.particles and bool((img.instance >= 0).any()):
            # without the particle table every pixel would silently lose its ancestor
            raise InvalidEventError("instance targets need the particle table (ancestors and "
                                    "interactions), which this event does not have",
                                    event=event.tag, field="particles")
        t = instance_targets(event, cfg.plane, min_adc=cfg.min_adc)
        keep = img.values >= cfg.min_adc
        pixel_instance = np.full(len(img), -1, np.int64)
        for k, idx in enumerate(t.pixels):
            pixel_instance[idx] = k
        return PlaneInstances(
            tag=event.tag, category=_category(event), shape=img.meta.shape,
            coords=img.coords[keep].astype(np.int64), values=img.values[keep],
            instance=pixel_instance[keep], classes=t.classes, group=t.group)

    # ------------------------------------------------------------------- items
    def _window(self, pi: PlaneInstances, index: int, rng: np.random.Generator
                ) -> tuple[int, int] | None:
        """Top-left (row, wire) of a crop on a random instance pixel; None: skipped."""
        cfg = self.config
        on = pi.instance >= 0
        if not on.any():
            if cfg.on_empty == "skip":
                return None
            raise EmptyEventError(
                f"no instance pixel (ADC >= {cfg.min_adc}) in plane {cfg.plane} to place a crop "
                f"on (dataset index {index}); pass on_empty='skip' to skip such events",
                event=pi.tag, field=f"plane{cfg.plane}.instance", file=self._file())
        # RandomCrop's draw on the instance pixels only: every window holds part of one
        crop = RandomCrop(cfg.crop, min_pixels=cfg.min_pixels, max_tries=cfg.max_tries,
                          jitter=cfg.jitter, labelled=False)
        only = PlaneArrays(cfg.plane, pi.shape, pi.coords[on], pi.values[on])
        return crop(only, rng).offset

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} items")
        index %= n
        entry = int(self.events[index // self.items_per_event])
        pi = self.plane_instances(entry)
        if self.config.crop is None:
            origin, shape = (0, 0), pi.shape
        else:
            origin = self._window(pi, index, rng_for(index, self.epoch, self.config.seed))
            if origin is None:
                return None
            shape = (int(self.config.crop[0]), int(self.config.crop[1]))
        image, target = cut(pi, origin, shape)
        return {"image": image, "target": target, "tag": pi.tag, "index": index,
                "entry": entry, "category": pi.category,
                "offset": torch.tensor([origin], dtype=torch.int64),
                "scale": torch.ones(1, dtype=torch.int64)}


def cut(pi: PlaneInstances, origin: tuple[int, int], shape: tuple[int, int]
        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Image and targets of the window of ``shape`` whose pixel (0, 0) is source ``origin``.

    Parts of the window beyond the plane stay 0 (an image smaller than the crop is padded).
    """
    h, w = shape
    r = pi.coords[:, 0] - origin[0]
    c = pi.coords[:, 1] - origin[1]
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    r, c, inst = r[inside], c[inside], pi.instance[inside]
    image = np.zeros((1, h, w), np.float32)
    image[0, r, c] = pi.values[inside]
    on = inst >= 0
    r, c, inst = r[on], c[on], inst[on]
    present = np.unique(inst)                  # instances with a pixel left, in source order
    k = np.searchsorted(present, inst)
    masks = np.zeros((present.size, h, w), bool)
    masks[k, r, c] = True
    boxes = np.zeros((present.size, 4), np.float32)
    if present.size:
        lo_r = np.full(present.size, h, np.int64)
        lo_c = np.full(present.size, w, np.int64)
        hi_r = np.full(present.size, -1, np.int64)
        hi_c = np.full(present.size, -1, np.int64)
        np.minimum.at(lo_r, k, r)
        np.minimum.at(lo_c, k, c)
        np.maximum.at(hi_r, k, r)
        np.maximum.at(hi_c, k, c)
        boxes[:] = np.stack([lo_c, lo_r, hi_c + 1, hi_r + 1], axis=1)
    target = {"boxes": torch.from_numpy(boxes),
              "labels": torch.from_numpy(pi.classes[present].astype(np.int64)),
              "masks": torch.from_numpy(masks),
              "group": torch.from_numpy(pi.group[present].astype(np.int64))}
    return torch.from_numpy(image), target


def instance_collate(batch: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Batch instance items: ``image`` (B, 1, H, W) zero-padded at the bottom and right to the
    largest item, ``targets`` the items' target dicts as a list (their masks keep the item's own
    size; ``image_sizes`` (H, W) says which part of each padded image is real), and the frame
    keys of :mod:`larseg.data.collate`. Skipped items (None) are dropped and counted in
    ``n_skipped``; a batch of skipped items only is None."""
    items = [b for b in batch if b is not None]
    if not items:
        return None
    sizes = [tuple(int(s) for s in b["image"].shape[-2:]) for b in items]
    hmax, wmax = max(s[0] for s in sizes), max(s[1] for s in sizes)
    image = torch.zeros((len(items), 1, hmax, wmax), dtype=torch.float32)
    for i, (b, (h, w)) in enumerate(zip(items, sizes)):
        image[i, :, :h, :w] = b["image"]
    return {"image": image, "targets": [b["target"] for b in items], "image_sizes": sizes,
            "offset": torch.stack([b["offset"] for b in items]),
            "scale": torch.stack([b["scale"] for b in items]),
            "tags": [b["tag"] for b in items],
            "indices": torch.tensor([b["index"] for b in items], dtype=torch.int64),
            "entries": torch.tensor([b["entry"] for b in items], dtype=torch.int64),
            "categories": [b["category"] for b in items],
            "n_skipped": len(batch) - len(items)}


__all__ = ["InstanceDataConfig", "InstanceDataset", "PlaneInstances", "split_events", "cut",
           "instance_collate", "FIELDS"]
