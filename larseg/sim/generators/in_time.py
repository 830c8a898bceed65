"""Which cosmic rays can leave charge in the image: the readout-time filter of cosmic generation.

A cosmic ray arriving at time t leaves charge at drift distance d that reaches the anode at
t + d / v. The cosmic window (``Detector.cosmic_window_us``) holds every t for which some d works,
so a cosmic ray drawn in it may still miss the image: a vertical muon at d whose t + d / v falls
outside the readout. In MicroBooNE's 4.96 ms window that is a third of the rays and ~46 % of the
deposits they would make (measured: ``benchmarks/bench_simulate.py`` docstring). Stepping them
through the argon costs as much as stepping the visible ones and changes no pixel, so, as
LArSoft's ``FilterGenInTime`` does for its generators (larsim, EventGenerator/FilterGenInTime),
the cosmic generator drops them before transport.

A ray is kept when its straight path through a TPC, widened by ``margin_cm`` in x (multiple
scattering, δ-rays and the lateral spread of showers it starts), gives arrival times within
``margin_us`` of that TPC's readout (μ decay at rest: 2.2 µs lifetime, PDG; the deconvolved
pulse's few rows). Neutral rays (the neutron admixture) are always kept: where their
secondaries deposit charge has no bound from their path.
"""

from __future__ import annotations

import numpy as np

from ...detectors import Detector

#: x widening of a ray's path (cm): a 1 GeV muon's multiple scattering over the 2.3 m height is a
#: few cm (PDG eq. 34.15); a shower's containment radius ~2 Molière radii (2 × 9.0 cm in LAr, PDG).
MARGIN_CM = 30.0
#: Time widening (µs): ~14 muon lifetimes (2.197 µs, PDG), ~10 MicroBooNE rows of 3 µs.
MARGIN_US = 30.0


def reaches_image(detector: Detector, start: np.ndarray, direction: np.ndarray,
                  time_us: np.ndarray, *, margin_cm: float = MARGIN_CM,
                  margin_us: float = MARGIN_US) -> np.ndarray:
    """Whether each ray (start (k, 3), direction (k, 3), time (k,) µs) can put charge into the
    image of some TPC; rays that cross no TPC forward of their start cannot."""
    from .cosmics import box_intersections

    start = np.atleast_2d(np.asarray(start, dtype=np.float64))
    direction = np.atleast_2d(np.asarray(direction, dtype=np.float64))
    time_us = np.asarray(time_us, dtype=np.float64).reshape(-1)
    keep = np.zeros(start.shape[0], dtype=bool)
    if start.shape[0] == 0:
        return keep
    v = detector.drift_velocity_cm_us
    for tpc in detector.tpcs:
        x_lo, x_hi = sorted((tpc.x_anode, tpc.x_cathode))
        t_in, t_out = box_intersections(start, direction,
                                        ((x_lo, x_hi), tpc.y_range, tpc.z_range))
        t_in = np.maximum(t_in, 0.0)
        hit = t_in < t_out
        # (a ray that misses may have infinite parameters: its x is not used)
        x_a = start[:, 0] + np.where(hit, t_in, 0.0) * direction[:, 0]
        x_b = start[:, 0] + np.where(hit, t_out, 0.0) * direction[:, 0]
        near = np.clip(np.minimum(x_a, x_b) - margin_cm, x_lo, x_hi)
        far = np.clip(np.maximum(x_a, x_b) + margin_cm, x_lo, x_hi)
        d1, d2 = np.abs(near - tpc.x_anode), np.abs(far - tpc.x_anode)
        first = time_us + np.minimum(d1, d2) / v - margin_us
        last = time_us + np.maximum(d1, d2) / v + margin_us
        window_lo, window_hi = detector.readout_span_us(tpc)
        keep |= hit & (last >= window_lo) & (first <= window_hi)
    return keep
