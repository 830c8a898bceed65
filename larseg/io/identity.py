"""Where a job's file lives while it is written, and which job it belongs to.

``FILE.partial`` holds a job's events until they are all in (:func:`partial_path`). A writer given
an identity (the job's settings: detector, generator, seed, larseg version; for predictions the
weights' hash and the input) stores it as the root attribute ``larseg_job``; resuming or extending
a file whose stored identity differs, or that has none (a file no larseg job wrote), is refused
with one line naming the setting that differs (:func:`check_identity`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import h5py

from ..errors import FileFormatError, JobMismatchError
from . import larcv3_schema as S

PARTIAL_SUFFIX = ".partial"
#: Root attribute holding the JSON identity of the job that writes the file.
IDENTITY_ATTR = "larseg_job"


def partial_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def check_identity(path: Path, identity: Mapping[str, object]) -> int:
    """Refuse a file made by another job, or by no larseg job; returns its complete events."""
    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get(IDENTITY_ATTR)
            ev = h5.get(f"{S.EVENTS_GROUP}/{S.EVENT_ID_DATASET}")
            n = int(ev.shape[0]) if isinstance(ev, h5py.Dataset) else 0
    except OSError as e:
        raise FileFormatError(f"file {path} cannot be opened ({e}); start afresh "
                              "(--overwrite) or remove it") from None
    if raw is None:
        raise JobMismatchError(f"file {path} was not written by a larseg job of this kind "
                               "(it has no job record): refusing to add events to it "
                               "(--overwrite replaces it)")
    stored = json.loads(raw)
    for key in sorted(set(stored) | set(identity)):
        if stored.get(key) != identity.get(key):
            raise JobMismatchError(
                f"file {path} holds events of another job: {key} is "
                f"{stored.get(key)!r} there, {identity.get(key)!r} here; run the same "
                "job to resume it, or --overwrite to start afresh")
    return n


def finished_job_events(path: str | Path, identity: Mapping[str, object]) -> int | None:
    """Events in a finished file of this job (no .partial beside it), else None."""
    path = Path(path)
    if partial_path(path).exists() or not path.is_file():
        return None
    if not h5py.is_hdf5(path):
        raise FileFormatError(f"file {path} exists and is not an HDF5 file: refusing to append "
                              "to it or replace it")
    return check_identity(path, identity)
