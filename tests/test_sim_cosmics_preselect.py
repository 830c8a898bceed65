"""The cosmic generator's cheap pre-selection of rays keeps every ray the exact test keeps."""

from __future__ import annotations

import numpy as np
import pytest

from larseg.detectors import get_detector
from larseg.sim.generators import cosmics as C


def _throw_exact(rng, n, plane, bounds):
    """The rays of :func:`cosmics._throw` by the slab test on every ray (the former code)."""
    x = rng.uniform(*plane.x_range, n)
    z = rng.uniform(*plane.z_range, n)
    c4 = plane.cos_min ** 4
    cos_t = (c4 + rng.uniform(0.0, 1.0, n) * (1.0 - c4)) ** 0.25
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    d = np.stack([sin_t * np.cos(phi), -cos_t, sin_t * np.sin(phi)], axis=1)
    p = np.stack([x, np.full(n, plane.y), z], axis=1)
    t_in, t_out = C.box_intersections(p, d, bounds)
    hit = t_out > t_in + 1e-9
    t_in = np.maximum(t_in[hit], 0.0) + C.ENTRY_NUDGE_CM
    entry = p[hit] + t_in[:, None] * d[hit]
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    return np.clip(entry, lo, hi - C.ENTRY_NUDGE_CM), d[hit], cos_t[hit]


@pytest.mark.parametrize("detector", ["microboone", "sbnd"])
def test_preselected_rays_equal_the_exact_test(detector):
    det = get_detector(detector)
    plane = C._plane(det, C.THETA_MAX_DEG)
    got = C._throw(np.random.default_rng(7), 400_000, plane, det.bounds)
    ref = _throw_exact(np.random.default_rng(7), 400_000, plane, det.bounds)
    assert len(ref[0]) > 200
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.tobytes() == b.tobytes()


def test_rays_grazing_the_volume_are_candidates():
    (x0, x1), (y0, y1), (z0, z1) = bounds = get_detector("microboone").bounds
    # straight down along the x faces and the z faces, and a steep ray just reaching a corner
    x = np.array([x0, x1, 0.5 * (x0 + x1), 0.5 * (x0 + x1), x0 - 10.0])
    z = np.array([0.5 * (z0 + z1), 0.5 * (z0 + z1), z0, z1, z0 - 10.0])
    h = y1 - y0
    dx = np.array([0.0, 0.0, 0.0, 0.0, 10.0 / h])
    dz = np.array([0.0, 0.0, 0.0, 0.0, 10.0 / h])
    dy = -np.ones(5)
    assert C._may_cross(x, y1, z, dx, dy, dz, bounds).all()
    far = C._may_cross(np.array([x0 - 50.0]), y1, np.array([z0]), np.zeros(1), -np.ones(1),
                       np.zeros(1), bounds)
    assert not far.any()
