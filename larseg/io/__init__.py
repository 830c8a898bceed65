"""larcv3 HDF5 I/O with h5py: a lossless product-level reader/writer and the Event mapping.

- :mod:`larseg.io.larcv3_schema`: larcv's dtypes, chunking, compression;
- :mod:`larseg.io.larcv3`: ``Larcv3Reader`` (lazy, fork-safe, bulk block reads) and
  ``Larcv3Writer`` (atomic, resumable);
- :mod:`larseg.io.events`: ``EventFile`` (``Sequence[Event]``); :mod:`larseg.io.event_writer`:
  ``EventWriter``, ``write_events``;
- :mod:`larseg.io.producers`: which producer holds which part of an Event (presets per detector);
- :mod:`larseg.io.root`: larcv1/larcv2 ROOT image2d files (MicroBooNE's formats) via uproot;
  ``open_events`` opens either kind.
"""

from .event_writer import EventWriter, PreparedEvent, event_products, prepare_event, write_events
from .events import EventFile, open_events
from .larcv3 import Larcv3Reader, Larcv3Writer, open_h5
from .identity import partial_path
from .producers import (MICROBOONE, PRESETS, SBND, ProducerNames, producers_for_detector,
                        resolve_producers)
from .products import Cluster2D, Image2D, ImageMeta2D, ProductInfo, Sparse2D

__all__ = [
    "EventFile", "open_events", "EventWriter", "write_events", "event_products", "PreparedEvent", "prepare_event",
    "Larcv3Reader", "Larcv3Writer", "open_h5", "partial_path",
    "ProducerNames", "MICROBOONE", "SBND", "PRESETS", "producers_for_detector",
    "resolve_producers", "Sparse2D", "Cluster2D", "Image2D", "ImageMeta2D", "ProductInfo",
]
