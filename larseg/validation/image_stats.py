"""Per-plane statistics of wire-plane images: what a network sees of a file's charge scale, noise
and occupancy. The same numbers describe larseg's simulation and a user's files, so that the two
can be compared (the validation page, and a domain-gap report).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from ..event import Event
from ..labels import CosmicLabel


@dataclass(frozen=True)
class PlaneStats:
    """One plane of one event, pixels selected by value (``value >= threshold``, or ``>``)."""

    plane: int
    n_pixels: int            # of the image (rows × wires)
    n_selected: int          # pixels passing the threshold
    min_stored: float        # smallest stored value (any value, before the threshold)
    median: float
    p90: float
    maximum: float
    fraction_above_300: float  # of the image's pixels
    n_background: int        # selected pixels with cosmic label BACKGROUND (needs labels)
    n_cosmic: int
    n_neutrino: int
    median_background: float
    median_cosmic: float

    def as_dict(self) -> dict:
        return asdict(self)


def _median(v: np.ndarray) -> float:
    return float(np.median(v)) if v.size else float("nan")


def plane_stats(event: Event, threshold: float, *, inclusive: bool = True) -> list[PlaneStats]:
    """Statistics of every plane of ``event`` over pixels ≥ ``threshold`` (``> threshold`` when
    ``inclusive`` is False: the MicroBooNE convention of "pixels > 10 ADC")."""
    out = []
    for img in event.planes:
        v = img.values
        sel = v >= threshold if inclusive else v > threshold
        s = v[sel]
        labels = img.cosmic
        if labels is not None:
            lab = labels[sel]
            bkg, cos, nu = (lab == CosmicLabel.BACKGROUND, lab == CosmicLabel.COSMIC,
                            lab == CosmicLabel.NEUTRINO)
            counts = int(bkg.sum()), int(cos.sum()), int(nu.sum())
            medians = _median(s[bkg]), _median(s[cos])
        else:
            counts, medians = (-1, -1, -1), (float("nan"), float("nan"))
        n_pix = img.meta.n_ticks * img.meta.n_wires
        out.append(PlaneStats(
            plane=img.plane, n_pixels=n_pix, n_selected=int(sel.sum()),
            min_stored=float(v.min()) if v.size else float("nan"), median=_median(s),
            p90=float(np.percentile(s, 90)) if s.size else float("nan"),
            maximum=float(s.max()) if s.size else float("nan"),
            fraction_above_300=float((v > 300).sum() / n_pix),
            n_background=counts[0], n_cosmic=counts[1], n_neutrino=counts[2],
            median_background=medians[0], median_cosmic=medians[1]))
    return out


def sample_stats(events: Iterable[Event], threshold: float, *,
                 inclusive: bool = True) -> dict[int, dict[str, np.ndarray]]:
    """plane -> statistic -> values over the events."""
    per: dict[int, dict[str, list]] = {}
    for ev in events:
        for ps in plane_stats(ev, threshold, inclusive=inclusive):
            d = per.setdefault(ps.plane, {})
            for k, v in ps.as_dict().items():
                if k != "plane":
                    d.setdefault(k, []).append(v)
    return {p: {k: np.asarray(v, dtype=float) for k, v in d.items()} for p, d in per.items()}
