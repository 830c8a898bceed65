"""The crop rules of the particle-bomb occupancy check, on a plane whose pixels are known."""

from __future__ import annotations

import numpy as np

from larseg.data.sample import PlaneArrays
from larseg.validation import bomb_crops


def _plane() -> PlaneArrays:
    # a 10 x 10 block of pixels at rows 600-609, columns 2000-2009 of a 1008 x 3456 plane
    rr, cc = np.meshgrid(np.arange(600, 610), np.arange(2000, 2010), indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    return PlaneArrays(plane=2, shape=(1008, 3456), coords=coords,
                       values=np.full(len(coords), 50.0, np.float32))


def test_a_window_centred_on_the_block_holds_all_of_it_and_one_far_away_none():
    pa = _plane()
    assert bomb_crops._centred(pa, 605.0, 2005.0) == 100
    assert bomb_crops._centred(pa, 100.0, 300.0) == 0
    # clamped inside the image: centred on the last row, the window still starts at row 496
    assert bomb_crops._centred(pa, 1007.0, 2005.0) == 100


def test_a_uniform_window_is_redrawn_until_it_holds_activity():
    rng = np.random.default_rng(0)
    counts = [bomb_crops._uniform(_plane(), rng) for _ in range(20)]
    assert all(0 < n <= 100 for n in counts)
    empty = PlaneArrays(plane=2, shape=(1008, 3456), coords=np.zeros((0, 2), np.int64),
                        values=np.zeros(0, np.float32))
    assert bomb_crops._uniform(empty, rng, tries=5) == 0
