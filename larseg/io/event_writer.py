"""Events written to larcv3 files: ``EventWriter`` (atomic, resumable; see
:mod:`larseg.io.larcv3_writer`), ``write_events``, and an event's larcv3 products
(``event_products``, ``prepare_event``: what the simulation's workers send the writing process).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidEventError
from ..event import Event
from .convert import plane_products
from .larcv3_writer import Larcv3Writer
from .particles import interactions_to_rows, particles_to_rows
from .producers import ProducerNames, producers_for_detector


def event_products(event: Event, names: ProducerNames,
                   per_plane=plane_products) -> tuple[dict, dict, dict, int]:
    """(sparse2d, cluster2d, particle) products of an event, and its instance mismatches;
    ``per_plane`` converts one plane (:func:`larseg.io.convert.plane_products`, or a faster
    function that gives the same products)."""
    tag = event.tag
    adc, cos, sem, cl = [], [], [], []
    mismatch = 0
    for img in event.planes:
        a, c, s, k, m = per_plane(img, tag)
        adc.append(a)
        mismatch += m
        for lst, item in ((cos, c), (sem, s), (cl, k)):
            if item is not None:
                lst.append(item)
    sparse = {names.adc: adc}
    if names.cosmic and cos:
        sparse[names.cosmic] = cos
    if names.semantic and sem:
        sparse[names.semantic] = sem
    clusters = {names.instance: cl} if names.instance and cl else {}
    particles = {}
    if names.particles:
        particles[names.particles] = particles_to_rows(event.particles, tag)
    if names.interactions:
        particles[names.interactions] = interactions_to_rows(event.interactions, tag)
    return sparse, clusters, particles, mismatch


@dataclass
class PreparedEvent:
    """An event already turned into larcv3 products (what a worker process hands the writer)."""

    run: int
    subrun: int
    event: int
    tag: str
    sparse2d: dict
    cluster2d: dict
    particles: dict
    instance_mismatch: int


def prepare_event(event: Event, producers: ProducerNames,
                  per_plane=plane_products) -> PreparedEvent:
    """Validate an event and convert it to products (the CPU-heavy half of writing it);
    ``per_plane`` as in :func:`event_products`."""
    event.validate()
    sparse, clusters, particles, mismatch = event_products(event, producers, per_plane)
    return PreparedEvent(event.run, event.subrun, event.event, event.tag, sparse, clusters,
                         particles, mismatch)


class EventWriter:
    """Write Events to a larcv3 file: atomic (``.partial`` renamed on close) and resumable.

    ``append=True`` continues an interrupted job's ``.partial`` (or appends to a finished
    file); ``n_events`` is what the file already holds, so a caller can skip those.
    ``producers``: ProducerNames or preset name; None = the preset of the first event's detector.
    ``identity``: the settings of the job writing the file (see :class:`Larcv3Writer`).
    """

    def __init__(self, path: str | Path, producers: ProducerNames | str | None = None,
                 append: bool = False, *, buffer_events: int = 1,
                 identity: dict | None = None) -> None:
        self.path = Path(path)
        if isinstance(producers, str):
            producers = producers_for_detector(producers)
        self.producers = producers
        if producers is not None:
            self._check_names(producers)
        self.instance_mismatch = 0
        self._warned = False
        self._writer = Larcv3Writer(self.path, "a" if append else "w",
                                    buffer_events=buffer_events, identity=identity)

    @staticmethod
    def _check_names(names: ProducerNames) -> None:
        sparse = [p for p in (names.adc, names.cosmic, names.semantic) if p]
        parts = [p for p in (names.particles, names.interactions) if p]
        if len(set(sparse)) != len(sparse) or len(set(parts)) != len(parts):
            raise ValueError(f"producer names must differ within a product type: {names}")

    @property
    def n_events(self) -> int:
        return self._writer.n_events

    @property
    def resumed_partial(self) -> bool:
        """Whether an interrupted job's ``.partial`` was continued."""
        return self._writer.resumed_partial

    @property
    def partial(self) -> Path:
        return self._writer.partial

    def write(self, event: Event | PreparedEvent) -> None:
        """Append an Event (or one already converted by :func:`prepare_event`)."""
        try:
            if isinstance(event, Event):
                if self.producers is None:
                    self.producers = producers_for_detector(event.detector.name)
                event = prepare_event(event, self.producers)
        except InvalidEventError as e:
            raise e.with_file(str(self.path)) from None
        if event.instance_mismatch:
            self.instance_mismatch += event.instance_mismatch
            if not self._warned:
                self._warned = True
                warnings.warn(f"file {self.path}, event {event.tag}: {event.instance_mismatch} "
                              "pixel(s) whose instance is not the particle with most charge there;"
                              " the file stores particle_charge, from which instance is re-derived",
                              stacklevel=2)
        self._writer.write_event(event.run, event.subrun, event.event, sparse2d=event.sparse2d,
                                 cluster2d=event.cluster2d, particles=event.particles)

    def close(self) -> Path:
        return self._writer.close()

    def abort(self) -> None:
        self._writer.abort()

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.__exit__(exc_type, exc, tb)


def write_events(path: str | Path, events: Iterable[Event],
                 producers: ProducerNames | str | None = None, append: bool = False, *,
                 buffer_events: int = 64) -> int:
    """Write events to ``path`` (atomically); returns the number written."""
    n = 0
    with EventWriter(path, producers, append, buffer_events=buffer_events) as w:
        for ev in events:
            w.write(ev)
            n += 1
    return n
