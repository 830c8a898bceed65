"""Image statistics (the numbers compared with public detector files), on a hand-made plane."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.detectors import meta_for
from larseg.event import Event, PlaneImage
from larseg.validation.image_stats import plane_stats, sample_stats


def _event(values, cosmic) -> Event:
    meta = meta_for("sbnd")
    n = len(values)
    coords = np.stack([np.arange(n), np.zeros(n, int)], axis=1)
    planes = [PlaneImage(pm, coords, np.asarray(values, np.float32), cosmic=np.asarray(cosmic),
                         semantic=np.full(n, -1), instance=np.full(n, -1)) for pm in meta.planes]
    return Event(run=1, subrun=0, event=0, detector=meta, planes=planes, particles=[],
                 interactions=[])


def test_plane_stats_by_hand():
    # values 4 (below 5), 5, 6, 7 background; 40, 50, 60 cosmic; 400 neutrino
    ev = _event([4, 5, 6, 7, 40, 50, 60, 400], [0, 0, 0, 0, 1, 1, 1, 2])
    s = plane_stats(ev, 5.0)[2]
    assert s.plane == 2 and s.n_pixels == 2048 * 1280
    assert (s.n_selected, s.n_background, s.n_cosmic, s.n_neutrino) == (7, 3, 3, 1)
    assert s.min_stored == 4.0 and s.maximum == 400.0
    assert s.median == 40.0            # of 5, 6, 7, 40, 50, 60, 400
    assert s.median_background == 6.0 and s.median_cosmic == 50.0
    assert s.p90 == pytest.approx(60 + 0.4 * (400 - 60))  # numpy's linear interpolation
    assert s.fraction_above_300 == pytest.approx(1 / (2048 * 1280))
    # "pixels > 10 ADC" (MicroBooNE's convention) is exclusive
    assert plane_stats(ev, 40.0, inclusive=False)[0].n_selected == 3


def test_sample_stats_collects_per_plane():
    evs = [_event([5, 6], [0, 1]), _event([5, 6, 7, 8], [0, 0, 1, 1])]
    st = sample_stats(evs, 5.0)
    assert set(st) == {0, 1, 2}
    np.testing.assert_array_equal(st[1]["n_selected"], [2, 4])
    np.testing.assert_array_equal(st[1]["n_cosmic"], [1, 2])
