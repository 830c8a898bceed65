"""The simulator's linear-time product conversion gives exactly the generic conversion's arrays."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from larseg.errors import InvalidEventError
from larseg.event import ParticleCharge
from larseg.io import prepare_event, producers_for_detector
from larseg.io.convert import plane_products
from larseg.sim.products import fast_plane_products, prepare_simulated
from larseg.sim.simulate import SimulationJob, simulate_event
from tests.factories import toy_event


def _arrays(products) -> list:
    """Every array and meta of a plane_products() result, in order."""
    out = []
    for p in products[:4]:
        if p is None:
            out.append(None)
            continue
        out.append(p.meta)
        out += [getattr(p, f) for f in ("cluster_ids", "offsets", "ids", "values") if hasattr(p, f)]
    return out + [products[4]]


def _assert_same(a, b) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert len(xa) == len(xb)
    for u, v in zip(xa, xb):
        if isinstance(u, np.ndarray):
            assert u.dtype == v.dtype and u.shape == v.shape
            assert u.tobytes() == v.tobytes()
        else:
            assert u == v


@pytest.mark.parametrize("detector,generator", [("microboone", "bomb"),
                                                ("sbnd", "cosmics+neutrino")])
def test_simulated_planes_give_the_generic_products(detector, generator):
    ev = simulate_event(SimulationJob(detector, generator, seed=4), 1)
    assert sum(len(img.particle_charge) for img in ev.planes) > 1000
    for img in ev.planes:
        _assert_same(fast_plane_products(img, ev.tag), plane_products(img, ev.tag))
    names = producers_for_detector(detector)
    fast, generic = prepare_simulated(ev, names), prepare_event(ev, names)
    assert fast.tag == generic.tag and fast.instance_mismatch == generic.instance_mismatch
    assert list(fast.sparse2d) == list(generic.sparse2d)
    assert fast.particles.keys() == generic.particles.keys()
    for key in fast.particles:
        assert fast.particles[key].tobytes() == generic.particles[key].tobytes()
    # the three sparse products of a plane share one id array: pickled once
    adc, cos = fast.sparse2d[names.adc][0], fast.sparse2d[names.cosmic][0]
    assert adc.ids is cos.ids
    assert len(pickle.dumps(fast, protocol=5)) < 0.8 * len(pickle.dumps(generic, protocol=5))


def test_toy_planes_and_an_empty_plane():
    ev = toy_event("sbnd", seed=3, empty_plane=1)
    for img in ev.planes:
        _assert_same(fast_plane_products(img), plane_products(img))


def test_planes_outside_the_fast_path_take_the_generic_one():
    ev = toy_event("microboone", seed=5)
    img = ev.planes[0]
    # not row-major: reversed pixel order (with labels and charge permuted alike)
    n = len(img)
    rev = np.arange(n)[::-1]
    pc = img.particle_charge
    img.coords, img.values = img.coords[rev], img.values[rev]
    img.cosmic, img.semantic, img.instance = img.cosmic[rev], img.semantic[rev], img.instance[rev]
    img.particle_charge = ParticleCharge(n - 1 - pc.pixel, pc.particle, pc.charge)
    _assert_same(fast_plane_products(img), plane_products(img))
    # a repeated (pixel, particle) pair: the generic path's error
    img.particle_charge = ParticleCharge(np.r_[pc.pixel, pc.pixel[:1]],
                                         np.r_[pc.particle, pc.particle[:1]],
                                         np.r_[pc.charge, pc.charge[:1]])
    with pytest.raises(InvalidEventError, match="repeated"):
        fast_plane_products(img, "e")
