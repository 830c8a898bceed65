"""Training datasets: dense / sparse torch datasets over any ``Sequence[Event]``, label-consistent
downsampling, crops with activity, ADC masks and thresholds, worker-independent seeding.

Typical use::

    from larseg.data import DenseDataset, SparseDataset, AdcMask, RandomCrop, make_loader
    ds = SparseDataset(EventFile("train.h5"), planes=(2,), target="semantic",
                       transform=[AdcMask(10, 300), RandomCrop((512, 512))], seed=1)
    for epoch in range(n):
        ds.set_epoch(epoch)
        for batch in make_loader(ds, batch_size=8, shuffle=True, num_workers=2):
            ...
"""

from .collate import collate_for, dense_collate, make_loader, sparse_collate
from .datasets import DenseDataset, EmptyEventError, EventDataset, SparseDataset
from .pooling import POOLS, downsample_plane
from .sample import LABEL_FIELDS, PlaneArrays, Sample, event_with_planes
from .seeding import rng_for, seed_for, worker_init_fn
from .targets import CLASS_NAMES, TARGETS, fill_value, n_classes, target_labels
from .transforms import (AdcClip, AdcMask, AdcThreshold, Compose, Downsample, RandomCrop,
                         Transform, as_transform, crop_plane)

__all__ = [
    "DenseDataset", "SparseDataset", "EventDataset", "EmptyEventError",
    "dense_collate", "sparse_collate", "collate_for", "make_loader",
    "PlaneArrays", "Sample", "event_with_planes", "LABEL_FIELDS",
    "downsample_plane", "POOLS",
    "seed_for", "rng_for", "worker_init_fn",
    "TARGETS", "CLASS_NAMES", "fill_value", "n_classes", "target_labels",
    "Transform", "Compose", "AdcMask", "AdcThreshold", "AdcClip", "Downsample", "RandomCrop",
    "as_transform", "crop_plane",
]
