"""Batching of dataset items, and a DataLoader factory that wires seeding and collation.

The batch vocabulary, the same for every network:

| key | dense batch | sparse batch (one entry per plane) |
|---|---|---|
| ``image`` | (B, P, H, W) float32 ADC | – |
| ``coords`` | – | (N, 3) int32 [batch, row, column] (spconv's ``indices``) |
| ``features`` | – | (N, 1) float32 ADC |
| ``label`` | (B, P, H, W) int64, -1 ignored | (N,) int64, -1 ignored |
| ``cluster`` | – | (N,) int64 instance id, -1 none (cluster weights) |
| ``weight`` | (B, P, H, W) float32 (added by the trainer) | (N,) float32 (added by the trainer) |
| meta | ``offset``, ``scale``, ``tags``, ``indices``, ``n_skipped`` | ``spatial_shape``, ``batch_size``, ``tags``, ``n_skipped`` |

Per-pixel loss weights (``weight``, same shapes as ``label``) come from :mod:`larseg.data.weights`:
the trainer adds them to each batch with its loss scheme (dense: ``batch_weights``; sparse:
``sparse_batch_weights``), and ``larseg display --loss-weights`` draws the same arrays.
Items that a dataset skipped (None) are dropped and counted in ``n_skipped``; a batch of skipped
items only is None.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._torch import torch
from .datasets import DenseDataset, EventDataset, SparseDataset
from .seeding import worker_init_fn


def _kept(batch: Sequence[dict[str, Any] | None]) -> tuple[list[dict[str, Any]], int]:
    kept = [b for b in batch if b is not None]
    return kept, len(batch) - len(kept)


def dense_collate(batch: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Stack dense items: ``image`` (B, P, H, W) float32, ``label`` (B, P, H, W) int64."""
    items, skipped = _kept(batch)
    if not items:
        return None
    return {"image": torch.stack([b["image"] for b in items]),
            "label": torch.stack([b["label"] for b in items]),
            "offset": torch.stack([b["offset"] for b in items]),
            "scale": torch.stack([b["scale"] for b in items]),
            "tags": [b["tag"] for b in items],
            "indices": torch.tensor([b["index"] for b in items], dtype=torch.int64),
            "n_skipped": skipped}


def sparse_collate(batch: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Concatenate sparse items per plane, prefixing each pixel's coords with its batch index."""
    items, skipped = _kept(batch)
    if not items:
        return None
    n_planes = len(items[0]["coords"])
    coords, feats, labels, clusters, shapes = [], [], [], [], []
    for p in range(n_planes):
        plane_shapes = {tuple(b["shape"][p]) for b in items}
        if len(plane_shapes) != 1:
            raise ValueError(f"plane position {p} has different image shapes in one batch "
                             f"({sorted(plane_shapes)}): crop to a fixed size to batch them")
        parts = []
        for i, b in enumerate(items):
            c = b["coords"][p]
            col = torch.full((c.shape[0], 1), i, dtype=torch.int32)
            parts.append(torch.cat([col, c.to(torch.int32)], dim=1))
        coords.append(torch.cat(parts) if parts else torch.zeros((0, 3), dtype=torch.int32))
        feats.append(torch.cat([b["features"][p] for b in items]).to(torch.float32))
        labels.append(torch.cat([b["label"][p] for b in items]).to(torch.int64))
        if "cluster" in items[0]:
            clusters.append(torch.cat([b["cluster"][p] for b in items]).to(torch.int64))
        shapes.append(plane_shapes.pop())
    extra = {"cluster": clusters} if clusters else {}
    return {"coords": coords, "features": feats, "label": labels, **extra,
            "spatial_shape": shapes,
            "batch_size": len(items), "offset": torch.stack([b["offset"] for b in items]),
            "scale": torch.stack([b["scale"] for b in items]),
            "tags": [b["tag"] for b in items],
            "indices": torch.tensor([b["index"] for b in items], dtype=torch.int64),
            "n_skipped": skipped}


def collate_for(dataset: EventDataset):
    if isinstance(dataset, SparseDataset):
        return sparse_collate
    if isinstance(dataset, DenseDataset):
        return dense_collate
    raise TypeError(f"no collate function for {type(dataset).__name__}")


def make_loader(dataset: EventDataset, batch_size: int = 1, *, shuffle: bool = False,
                num_workers: int = 0, seed: int | None = None, drop_last: bool = False,
                **kwargs: Any) -> torch.utils.data.DataLoader:
    """A DataLoader with the dataset's collate function and :func:`worker_init_fn`.

    The shuffle order comes from a torch generator seeded by (``seed`` or the dataset's seed) +
    the dataset's epoch, so it too is reproducible; call ``dataset.set_epoch(e)`` and build the
    loader (or re-iterate it, without persistent workers) each epoch.
    """
    gen = torch.Generator()
    gen.manual_seed((dataset.seed if seed is None else int(seed)) * 1_000_003 + dataset.epoch)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
        collate_fn=collate_for(dataset), worker_init_fn=worker_init_fn if num_workers else None,
        generator=gen, drop_last=drop_last, **kwargs)
