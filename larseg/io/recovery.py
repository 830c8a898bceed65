"""Resuming an interrupted write: a .partial cut back to its last complete event.

An event is complete once its row of ``Events/event_id`` is on disk (the writer commits it
last). Rows of any product table beyond the committed events belong to an event the
interrupted job did not finish; they are cut off, following each product type's chain of
tables (extents -> voxels, ...), so that the file then holds exactly the committed events.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from ..errors import FileFormatError
from . import larcv3_schema as S


def cut_back_to_committed(h5: h5py.File, name: str | Path) -> tuple[int, int, list[tuple[str, str]]]:
    """Cut every product of the open file ``h5`` (called ``name`` in messages) back to the
    events whose event_id row exists. Returns (committed events, rows dropped, the product
    groups (type, producer) found); a file whose tables cannot hold its events is a
    :class:`~larseg.errors.FileFormatError`."""
    ev = f"{S.EVENTS_GROUP}/{S.EVENT_ID_DATASET}"
    if ev not in h5:
        raise FileFormatError(f"file {name}: no {ev} dataset; cannot resume")
    n = h5[ev].shape[0]
    data = h5.require_group(S.DATA_GROUP)
    dropped = 0
    groups: list[tuple[str, str]] = []
    for group_name in list(data.keys()):
        parsed = S.parse_group_name(group_name)
        if parsed is None:
            continue
        ptype, producer = parsed
        g = data[group_name]
        missing = [d for d in S.DATASETS[ptype] if d not in g and d != "images"]
        if missing:
            raise FileFormatError(f"file {name}: group {group_name} lacks {missing}")
        if g["extents"].shape[0] < n:
            raise FileFormatError(f"file {name}, {ptype} '{producer}': "
                                  f"{g['extents'].shape[0]} entries for {n} events; "
                                  "cannot resume")
        keep = {"extents": n}
        for table, target in S.CHAINS[ptype]:
            k = keep[table]
            if target not in g:
                continue
            if k == 0:
                keep[target] = 0
            else:
                last = g[table][k - 1]
                keep[target] = int(last["first"]) + int(last["N"])
        for table, parent in S.PARALLEL[ptype]:
            keep[table] = keep[parent]
        for table, k in keep.items():
            d = g[table]
            if d.shape[0] < k:
                raise FileFormatError(f"file {name}, {ptype} '{producer}': {table} "
                                      f"has {d.shape[0]} rows, events need {k}")
            if d.shape[0] > k:
                dropped += d.shape[0] - k
                d.resize((k,))
        groups.append((ptype, producer))
    h5.flush()
    return n, dropped, groups
