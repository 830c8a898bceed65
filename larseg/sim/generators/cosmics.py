"""Cosmic rays crossing the detector during the readout window (a CORSIKA stand-in).

Muons are thrown on a horizontal plane at the top of the active volume, extended on every side by
H · tan θ_max (H: the volume's height) so that every line with zenith angle θ ≤ θ_max that crosses
the volume crosses the plane inside it. Directions follow I ∝ cos²θ (flux through the plane
∝ cos³θ), the number thrown is Poisson(flux × plane area × window); lines that miss the active
volume are dropped, and the others START at their entry point on the volume's boundary with the
energy they had at the surface. θ_max = 88° drops a fraction ~1e-4 of the crossing rate.

Expected crossings per window, from :func:`expected_crossings` (PDG I_v = 70 m⁻² s⁻¹ sr⁻¹):
MicroBooNE ≈ 22.7 in its 4.96 ms window, SBND ≈ 10.7 in its 2.56 ms window (see flux.py). The
SBND window is two drift times (1.28 ms each: a muon arriving up to one drift before the trigger
still leaves charge in the image), so ≈ 5.4 muons per drift time, as SBND expects "~5 cosmic
muons during the detector readout time" (H. Lay for SBND, KPS 2022,
indico.kps.or.kr/event/30/contributions/548).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...detectors import Detector
from ...labels import Origin
from ..records import GeneratedEvent, Primary
from .flux import (ADMIXTURE_FRACTIONS, VERTICAL_MUON_INTENSITY_M2_S_SR, sample_admixture_energy,
                   sample_muon_charge, sample_muon_energy)
from .in_time import reaches_image
from .kinematics import mass, to_primaries

THETA_MAX_DEG = 88.0
# Nudge of the start point into the volume (cm), so that ``detector.contains`` holds at the start.
ENTRY_NUDGE_CM = 1e-4
_BATCH = 4096


def box_intersections(points: np.ndarray, directions: np.ndarray,
                      bounds: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Line parameters (t_in, t_out) where rays p + t·d enter/leave an axis-aligned box.

    Slab method; rays that miss have t_in >= t_out. Rays parallel to a slab and outside it miss.
    """
    lo = np.array([b[0] for b in bounds], dtype=np.float64)
    hi = np.array([b[1] for b in bounds], dtype=np.float64)
    p = np.atleast_2d(points)
    d = np.atleast_2d(directions)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (lo - p) * inv
        t2 = (hi - p) * inv
    tmin = np.where(np.isnan(t1), -np.inf, np.minimum(t1, t2))
    tmax = np.where(np.isnan(t2), np.inf, np.maximum(t1, t2))
    parallel = d == 0.0
    inside = (p >= lo) & (p <= hi)
    tmin = np.where(parallel, np.where(inside, -np.inf, np.inf), tmin)
    tmax = np.where(parallel, np.where(inside, np.inf, -np.inf), tmax)
    return tmin.max(axis=1), tmax.min(axis=1)


def horizontal_flux_cm2_s(vertical_intensity: float = VERTICAL_MUON_INTENSITY_M2_S_SR,
                          theta_max_deg: float = THETA_MAX_DEG) -> float:
    """Muons per cm² per s through a horizontal plane.

    ∫ I_v cos²θ cosθ dΩ over θ ≤ θ_max = π/2 I_v (1 - cos⁴θ_max).
    """
    c = math.cos(math.radians(theta_max_deg))
    return vertical_intensity * 1e-4 * 0.5 * math.pi * (1.0 - c ** 4)


def expected_crossings(detector: Detector,
                       vertical_intensity: float = VERTICAL_MUON_INTENSITY_M2_S_SR,
                       theta_max_deg: float = THETA_MAX_DEG) -> float:
    """Mean number of muons entering the active box during ``cosmic_window_us`` (analytic).

    Entering rate = Σ_faces A ∫ I(θ) (d·n) dΩ: the top face gets π/2 I_v (1 - cos⁴θ_max), each
    vertical face I_v · 2 ∫_0^θmax cos²θ sin²θ dθ = I_v (θ_max/4 - sin 4θ_max / 16).
    """
    (x0, x1), (y0, y1), (z0, z1) = detector.bounds
    lx, ly, lz = x1 - x0, y1 - y0, z1 - z0
    tm = math.radians(theta_max_deg)
    top = horizontal_flux_cm2_s(vertical_intensity, theta_max_deg) * lx * lz
    side_per_cm2 = vertical_intensity * 1e-4 * (tm / 4.0 - math.sin(4.0 * tm) / 16.0)
    sides = side_per_cm2 * 2.0 * ly * (lx + lz)
    t0, t1 = detector.cosmic_window_us
    return (top + sides) * (t1 - t0) * 1e-6


@dataclass(frozen=True)
class _Plane:
    y: float
    x_range: tuple[float, float]
    z_range: tuple[float, float]
    cos_min: float

    @property
    def area(self) -> float:
        return (self.x_range[1] - self.x_range[0]) * (self.z_range[1] - self.z_range[0])


def _plane(detector: Detector, theta_max_deg: float) -> _Plane:
    (x0, x1), (y0, y1), (z0, z1) = detector.bounds
    margin = (y1 - y0) * math.tan(math.radians(theta_max_deg))
    return _Plane(y=y1, x_range=(x0 - margin, x1 + margin), z_range=(z0 - margin, z1 + margin),
                  cos_min=math.cos(math.radians(theta_max_deg)))


Rays = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Margin (cm) of the cheap pre-selection of rays that may cross the volume: far larger than
#: the rounding of the exact test, so that no crossing ray is left out.
_SLACK_CM = 1.0


def _may_cross(x: np.ndarray, y: float, z: np.ndarray, dx: np.ndarray, dy: np.ndarray,
               dz: np.ndarray, bounds) -> np.ndarray:
    """Rays from (x, y, z) going down (dy < 0) whose path through the volume's height passes
    within ``_SLACK_CM`` of its footprint in x and z: a superset of those that cross it, found
    with a few operations per ray instead of the full slab test (most of the thrown rays are
    far away: the plane is kilometres wide)."""
    (x0, x1), (y0, y1), (z0, z1) = bounds
    if not np.all(dy < 0.0):
        return np.ones(len(x), dtype=bool)
    # the line is within the volume's height for t between ta and tb
    ta, tb = (y1 - y) / dy, (y0 - y) / dy
    ok = np.ones(len(x), dtype=bool)
    for u, du, lo, hi in ((x, dx, x0, x1), (z, dz, z0, z1)):
        a, b = u + ta * du, u + tb * du
        ok &= (np.maximum(a, b) >= lo - _SLACK_CM) & (np.minimum(a, b) <= hi + _SLACK_CM)
    return ok


def _throw(rng: np.random.Generator, n: int, plane: _Plane, bounds) -> Rays:
    """Throw n rays through the plane; return entry points, directions, cosθ of those that cross."""
    x = rng.uniform(*plane.x_range, n)
    z = rng.uniform(*plane.z_range, n)
    # flux through a horizontal plane ∝ cos²θ · cosθ d(cosθ): CDF ∝ cos⁴θ
    c4 = plane.cos_min ** 4
    cos_t = (c4 + rng.uniform(0.0, 1.0, n) * (1.0 - c4)) ** 0.25
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    dx, dy, dz = sin_t * np.cos(phi), -cos_t, sin_t * np.sin(phi)
    d = np.stack([dx, dy, dz], axis=1)
    p = np.stack([x, np.full(n, plane.y), z], axis=1)
    # the exact slab test on the candidates only: the same numbers, element by element
    cand = np.flatnonzero(_may_cross(x, plane.y, z, dx, dy, dz, bounds))
    t_in, t_out = box_intersections(p[cand], d[cand], bounds)
    hit_c = t_out > t_in + 1e-9
    hit = cand[hit_c]
    t_in = np.maximum(t_in[hit_c], 0.0) + ENTRY_NUDGE_CM
    entry = p[hit] + t_in[:, None] * d[hit]
    # keep the start inside the half-open TPC boxes even for rays grazing a face
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    entry = np.clip(entry, lo, hi - ENTRY_NUDGE_CM)
    return entry, d[hit], cos_t[hit]


def sample_crossing_rays(detector: Detector, rng: np.random.Generator, *, n: int | None = None,
                         mean_thrown: float | None = None,
                         theta_max_deg: float = THETA_MAX_DEG) -> Rays:
    """Entry points (k, 3), directions (k, 3) and cosθ (k,) of cosmic rays crossing the volume.

    Either exactly ``n`` rays (thrown in batches until enough cross), or the crossing subset of
    Poisson(``mean_thrown``) rays thrown on the plane.
    """
    plane = _plane(detector, theta_max_deg)
    bounds = detector.bounds
    if n is None:
        n_thrown = int(rng.poisson(mean_thrown))
        return _throw(rng, n_thrown, plane, bounds)
    parts: list[Rays] = []
    have = 0
    while have < n:
        part = _throw(rng, _BATCH, plane, bounds)
        parts.append(part)
        have += part[0].shape[0]
    entry, d, c = (np.concatenate([p[i] for p in parts])[:n] for i in range(3))
    return entry, d, c


@dataclass(frozen=True)
class CosmicGenerator:
    """Cosmic rays of one readout window: Poisson-many muons (+ an optional e±/p/n admixture)."""

    vertical_intensity: float = VERTICAL_MUON_INTENSITY_M2_S_SR
    admixture: bool = True
    theta_max_deg: float = THETA_MAX_DEG
    # drop the rays whose charge cannot reach the image (generators/in_time.py): the image is
    # the same, the truth holds only the cosmics that can show in it
    in_time_only: bool = True
    name: str = "cosmics"

    def mean_thrown(self, detector: Detector) -> float:
        plane = _plane(detector, self.theta_max_deg)
        t0, t1 = detector.cosmic_window_us
        flux = horizontal_flux_cm2_s(self.vertical_intensity, self.theta_max_deg)
        return flux * plane.area * (t1 - t0) * 1e-6

    def expected_muons(self, detector: Detector) -> float:
        return expected_crossings(detector, self.vertical_intensity, self.theta_max_deg)

    def primaries(self, detector: Detector, rng: np.random.Generator) -> list[Primary]:
        window = detector.cosmic_window_us
        thrown = self.mean_thrown(detector)
        entry, d, cos_t = sample_crossing_rays(detector, rng, mean_thrown=thrown,
                                               theta_max_deg=self.theta_max_deg)
        k = entry.shape[0]
        pdg = sample_muon_charge(rng, k)
        ke = sample_muon_energy(rng, cos_t) - mass(13)
        t = rng.uniform(*window, k)
        keep = self._in_time(detector, entry, d, t, pdg)
        out = to_primaries(pdg[keep], entry[keep], d[keep], ke[keep], t[keep], Origin.COSMIC)
        if self.admixture:
            for code, frac in ADMIXTURE_FRACTIONS.items():
                e2, d2, _ = sample_crossing_rays(detector, rng, mean_thrown=thrown * frac,
                                                 theta_max_deg=self.theta_max_deg)
                m = e2.shape[0]
                if m == 0:
                    continue
                codes = np.full(m, code)
                if code == 11:  # e+ and e- in equal numbers (sea-level EM component)
                    codes = np.where(rng.uniform(0.0, 1.0, m) < 0.5, 11, -11)
                ke2 = sample_admixture_energy(rng, code, m)
                t2 = rng.uniform(*window, m)
                keep = self._in_time(detector, e2, d2, t2, codes)
                out += to_primaries(codes[keep], e2[keep], d2[keep], ke2[keep], t2[keep],
                                    Origin.COSMIC)
        out.sort(key=lambda p: p.time)
        return out

    def _in_time(self, detector: Detector, entry: np.ndarray, d: np.ndarray, t: np.ndarray,
                 pdg: np.ndarray) -> np.ndarray:
        """Rays to keep: all, or (``in_time_only``) the neutral ones and those whose charge
        can reach the image."""
        keep = np.ones(len(t), dtype=bool)
        if self.in_time_only and len(t):
            keep = reaches_image(detector, entry, d, t) | (np.asarray(pdg) == 2112)
        return keep

    def generate(self, detector: Detector, rng: np.random.Generator) -> GeneratedEvent:
        return GeneratedEvent(primaries=self.primaries(detector, rng), interactions=[])
