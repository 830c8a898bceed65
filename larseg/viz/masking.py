"""A sparse network's view of an event, for displays: only the pixels inside its ADC input mask.

SparseSSNet (note 1091, Sec. 2) never sees pixels below 10 or above 300 ADC, and its training
weights (cluster sizes, neighbours of another label) are computed without them. Drawing the
masked event shows the input, its truth, its loss weights and its prediction on the same pixels,
as the note's Fig. 6 does.
"""

from __future__ import annotations

from ..data.sample import PlaneArrays, event_with_planes
from ..data.transforms import AdcMask
from ..event import Event


def adc_masked_event(event: Event, low: float | None, high: float | None) -> Event:
    """Copy of ``event`` keeping, on every plane, the pixels with ``low`` ≤ ADC ≤ ``high``
    (either bound None: open) with their labels and particle charge; the planes' metas (and so
    the larcv voxel ids of the kept pixels) are unchanged."""
    mask = AdcMask(low, high)
    return event_with_planes(event, [mask.apply_plane(PlaneArrays.from_plane(img))
                                     for img in event.planes])
