"""torch datasets over any ``Sequence[Event]`` (an ``larseg.io.EventFile`` or a plain list).

Per item: event -> selected planes as sparse arrays -> optional downsampling (label-consistent,
see :mod:`larseg.data.pooling`) -> the user's transforms (numpy, with a generator derived from
(seed, epoch, index)) -> check for activity -> torch tensors of the chosen target.

- :class:`DenseDataset` yields ``image`` (P, H, W) float32 and ``label`` (P, H, W) int64
  (multi-plane UResNet of the SBND cosmic tagger; SSNet);
- :class:`SparseDataset` yields per plane ``coords`` (N, 2) int64 (row, column), ``features``
  (N, 1) float32 and ``label`` (N,) int64 (SparseSSNet, sparse backbones); batch them with
  :func:`larseg.data.collate.sparse_collate`.

Events with no active pixel (ADC > 0) in any selected plane after the transforms raise
:class:`EmptyEventError` naming the event (``on_empty="raise"``, default) or are skipped
(``on_empty="skip"``): the item is None, collate functions drop it and report ``n_skipped`` in
the batch, and the dataset counts skips made in its own process (``n_skipped``,
``skipped_tags``; DataLoader workers count in their copies, so use the batches' counts there).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InvalidEventError
from ..event import Event
from ._torch import torch
from .pooling import POOLS, downsample_plane
from .sample import Sample
from .seeding import rng_for
from .targets import check_target, fill_value, target_labels
from .weights import ssnet_categories
from .transforms import Transform, as_transform

ON_EMPTY = ("raise", "skip")


class EmptyEventError(InvalidEventError):
    """An event with no active pixel in any selected plane after masking / cropping."""


class EventDataset(torch.utils.data.Dataset):
    """Shared machinery of the dense and sparse datasets (not used directly)."""

    def __init__(self, source: Sequence[Event], planes: Sequence[int] = (0, 1, 2),
                 target: str = "cosmic", transform: Transform | Sequence[Transform] | None = None,
                 downsample: int = 1, pool: str = "sum", seed: int = 0,
                 on_empty: str = "raise", cache: bool = False) -> None:
        self.source = source
        # events read and pooled once, kept in memory (transforms make new arrays, so the
        # cached copy never changes): a training run reads each event once, not every epoch
        self.cache = bool(cache)
        self._cache: dict[int, Sample] = {}
        self.planes = tuple(int(p) for p in planes)
        if not self.planes:
            raise ValueError("select at least one plane")
        self.target = check_target(target)
        self.transform = as_transform(transform)
        if int(downsample) < 1:
            raise ValueError(f"downsample must be a positive integer, got {downsample}")
        self.downsample = int(downsample)
        if pool not in POOLS:
            raise ValueError(f"unknown pool '{pool}'; choose one of {', '.join(POOLS)}")
        self.pool = pool
        if on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty must be one of {ON_EMPTY}, got '{on_empty}'")
        self.on_empty = on_empty
        self.seed = int(seed)
        self.epoch = 0
        self.n_skipped = 0
        self.skipped_tags: list[str] = []

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (crops differ between epochs, not between runs).

        Call it before iterating a DataLoader; with ``persistent_workers=True`` the workers keep
        the copy of the dataset they started with, so do not combine the two.
        """
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return rng_for(index, self.epoch, self.seed)

    def _file(self) -> str | None:
        path = getattr(self.source, "path", None)
        return None if path is None else str(path)

    def sample(self, index: int) -> Sample | None:
        """The transformed sparse planes of item ``index``, or None for a skipped empty event."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} events")
        index = index % n
        sample = self._cache.get(index)
        if sample is None:
            sample = self._pooled(index)
            if self.cache:
                self._cache[index] = sample
        if self.transform is not None:
            sample = self.transform(sample, self.rng(index))
        if not any(sample.n_active):
            if self.on_empty == "skip":
                self.n_skipped += 1
                self.skipped_tags.append(sample.tag)
                return None
            raise EmptyEventError(
                f"no active pixel (ADC > 0) in planes {self.planes} after the transforms "
                f"(dataset index {index}); pass on_empty='skip' to skip such events",
                event=sample.tag, field="planes", file=self._file())
        return sample

    def _pooled(self, index: int) -> Sample:
        """Item ``index`` read from the source and downsampled, before the transforms."""
        event = self.source[index]
        try:
            sample = Sample.from_event(event, self.planes)
        except InvalidEventError as exc:
            raise exc.with_file(self._file()) if self._file() else exc
        if self.downsample > 1:
            sample = Sample(sample.tag, [downsample_plane(p, self.downsample, self.pool)
                                         for p in sample.planes])
        return sample

    def _common_shape(self, sample: Sample) -> tuple[int, int]:
        shapes = {p.shape for p in sample.planes}
        if len(shapes) != 1:
            raise InvalidEventError(f"planes {self.planes} have different image shapes "
                                    f"{sorted(shapes)}: crop or pad them to one size",
                                    event=sample.tag, field="planes", file=self._file())
        return shapes.pop()

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        sample = self.sample(index)
        if sample is None:
            return None
        return self.to_tensors(sample, index % len(self))

    def to_tensors(self, sample: Sample, index: int) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _frame(sample: Sample) -> dict[str, Any]:
        """Where the item's pixels sit in the source image: source = offset + pixel × scale."""
        return {"offset": torch.tensor([p.offset for p in sample.planes], dtype=torch.int64),
                "scale": torch.tensor([p.scale for p in sample.planes], dtype=torch.int64)}


class DenseDataset(EventDataset):
    """Multi-plane dense images: ``image`` (P, H, W) float32, ``label`` (P, H, W) int64.

    ``downsample`` (1, 2, 4, ...) pools both axes before the transforms, on the sparse pixels
    (2048 × 1280 -> 1024 × 640 at 2, as CosmicTagger); ``pool`` = "sum" | "max" | "mean" for
    ADC, labels by the rule of :mod:`larseg.data.pooling` (neutrino > cosmic > background;
    semantic of the highest-charge labelled child). Empty pixels get label 0 for the cosmic
    target and -1 (ignored) for semantic and track/shower.
    """

    def to_tensors(self, sample: Sample, index: int) -> dict[str, Any]:
        h, w = self._common_shape(sample)
        n_planes = len(sample.planes)
        image = np.zeros((n_planes, h, w), dtype=np.float32)
        label = np.full((n_planes, h, w), fill_value(self.target), dtype=np.int64)
        for k, p in enumerate(sample.planes):
            r, c = p.coords[:, 0], p.coords[:, 1]
            image[k, r, c] = p.values
            label[k, r, c] = target_labels(p, self.target, sample.tag)
            if self.target == "ssnet":
                label[k] = ssnet_categories(label[k])
        return {"image": torch.from_numpy(image), "label": torch.from_numpy(label),
                "tag": sample.tag, "index": index, **self._frame(sample)}


class SparseDataset(EventDataset):
    """Sparse planes: lists (one entry per plane) of ``coords`` (N, 2) int64 (row, column),
    ``features`` (N, 1) float32 ADC, ``label`` (N,) int64 and ``cluster`` (N,) int64 (the
    pixel's instance, -1 without one), plus ``shape`` per plane."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.target == "ssnet":
            raise ValueError("the 'ssnet' target (its edge band is a dense notion) needs "
                             "DenseDataset")

    def to_tensors(self, sample: Sample, index: int) -> dict[str, Any]:
        coords, feats, labels, clusters = [], [], [], []
        for p in sample.planes:
            coords.append(torch.from_numpy(np.ascontiguousarray(p.coords, dtype=np.int64)))
            feats.append(torch.from_numpy(p.values.astype(np.float32).reshape(-1, 1)))
            labels.append(torch.from_numpy(target_labels(p, self.target, sample.tag)))
            # the pixel's cluster (instance) id, -1 without one: note 1091's cluster weights
            inst = p.instance if p.instance is not None else np.full(len(p.values), -1)
            clusters.append(torch.from_numpy(np.asarray(inst, dtype=np.int64)))
        return {"coords": coords, "features": feats, "label": labels, "cluster": clusters,
                "shape": [p.shape for p in sample.planes], "tag": sample.tag, "index": index,
                **self._frame(sample)}
