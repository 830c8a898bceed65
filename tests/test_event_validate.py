"""Event validation: the checks that name the event and field of bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from larseg.errors import InvalidEventError
from tests.factories import toy_event


def test_validate_finds_a_repeated_pixel_in_any_order():
    """The duplicate check takes one pass over row-major sorted pixels and sorts the others:
    both orders must still find a pixel given twice."""
    ev = toy_event()
    img = ev.planes[0]
    order = np.lexsort((img.coords[:, 1], img.coords[:, 0]))
    sorted_img = dataclasses.replace(img, coords=img.coords[order], values=img.values[order],
                                     cosmic=None, semantic=None, instance=None,
                                     particle_charge=None)
    sorted_img.validate()  # sorted, unique: fine
    for coords in (np.concatenate([sorted_img.coords[:1], sorted_img.coords]),   # sorted
                   np.concatenate([sorted_img.coords[::-1], sorted_img.coords[:1]])):  # not
        dup = dataclasses.replace(sorted_img, coords=coords,
                                  values=np.ones(len(coords), np.float32))
        with pytest.raises(InvalidEventError, match="duplicate"):
            dup.validate()
