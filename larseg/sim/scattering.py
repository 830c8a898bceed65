"""Multiple Coulomb scattering: the Highland formula (PDG eq. 34.15) applied step by step.

θ0 = 13.6 MeV / (β c p) |z| √(x/X0) [1 + 0.038 ln(x z² / (X0 β²))], X0 = 14.0 cm for LAr.

The logarithm makes θ0² non-additive, so a track cut into short steps would scatter too little
if each step used its own θ0. Each step instead gets the increment of θ0² between the path
lengths s and s + Δs travelled since the track started: summed over the steps this reproduces
Highland's θ0 for the whole thickness (at constant momentum). The lateral displacement is
correlated with the angle as in PDG eqs. 34.19-34.20:
y_plane = Δs θ0 (z1/√12 + z2/2), θ_plane = z2 θ0 with z1, z2 independent unit Gaussians.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..detectors.physics_constants import RADIATION_LENGTH_CM

X0 = RADIATION_LENGTH_CM
HIGHLAND_MEV = 13.6      # PDG eq. 34.15
HIGHLAND_LOG = 0.038     # PDG eq. 34.15
_INV_SQRT12 = 1.0 / math.sqrt(12.0)


@njit(cache=True)
def highland_theta0(p, beta, x, z=1.0):
    """Width θ0 (rad) of the central 98 % of the projected angular distribution after a
    thickness x (cm) of LAr, for momentum p (MeV/c), velocity β and charge z."""
    if x <= 0.0 or p <= 0.0:
        return 0.0
    u = x * z * z / (X0 * beta * beta)
    return (HIGHLAND_MEV / (beta * p) * abs(z) * math.sqrt(x / X0)
            * (1.0 + HIGHLAND_LOG * math.log(u)))


@njit(cache=True)
def _g(u):
    # θ0² (p/13.6)² as a function of u = x z² / (X0 β²): u (1 + 0.038 ln u)²
    if u <= 1e-12:
        return 0.0
    a = 1.0 + HIGHLAND_LOG * math.log(u)
    return u * a * a


@njit(cache=True)
def step_theta0(p, beta, s, ds, z=1.0):
    """Projected-angle width for the step [s, s + ds] of a track (path lengths in cm)."""
    if ds <= 0.0 or p <= 0.0:
        return 0.0
    k = z * z / (X0 * beta * beta)
    var = _g((s + ds) * k) - _g(s * k)
    if var <= 0.0:
        return 0.0
    return HIGHLAND_MEV / p * math.sqrt(var)


@njit(cache=True)
def perpendicular_basis(dx, dy, dz):
    """Two unit vectors orthogonal to the unit vector (dx, dy, dz) and to each other."""
    if abs(dz) < 0.9:
        ax, ay, az = 0.0, 0.0, 1.0
    else:
        ax, ay, az = 1.0, 0.0, 0.0
    # e1 = a × d normalised, e2 = d × e1
    e1x = ay * dz - az * dy
    e1y = az * dx - ax * dz
    e1z = ax * dy - ay * dx
    n = math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x /= n
    e1y /= n
    e1z /= n
    e2x = dy * e1z - dz * e1y
    e2y = dz * e1x - dx * e1z
    e2z = dx * e1y - dy * e1x
    return e1x, e1y, e1z, e2x, e2y, e2z


@njit(cache=True)
def rotate(dx, dy, dz, theta, phi):
    """Direction at polar angle θ and azimuth φ around (dx, dy, dz)."""
    e1x, e1y, e1z, e2x, e2y, e2z = perpendicular_basis(dx, dy, dz)
    st, ct = math.sin(theta), math.cos(theta)
    cp, sp = math.cos(phi), math.sin(phi)
    nx = ct * dx + st * (cp * e1x + sp * e2x)
    ny = ct * dy + st * (cp * e1y + sp * e2y)
    nz = ct * dz + st * (cp * e1z + sp * e2z)
    n = math.sqrt(nx * nx + ny * ny + nz * nz)
    return nx / n, ny / n, nz / n


@njit(cache=True)
def scatter_step(dx, dy, dz, theta0, ds):
    """Deflect a direction by Gaussian projected angles of width θ0 over a step ds.

    Returns (new direction, lateral displacement vector to add to the straight step)."""
    e1x, e1y, e1z, e2x, e2y, e2z = perpendicular_basis(dx, dy, dz)
    z1a, z2a = np.random.normal(), np.random.normal()
    z1b, z2b = np.random.normal(), np.random.normal()
    ta = z2a * theta0
    tb = z2b * theta0
    ya = ds * theta0 * (z1a * _INV_SQRT12 + 0.5 * z2a)
    yb = ds * theta0 * (z1b * _INV_SQRT12 + 0.5 * z2b)
    nx = dx + ta * e1x + tb * e2x
    ny = dy + ta * e1y + tb * e2y
    nz = dz + ta * e1z + tb * e2z
    n = math.sqrt(nx * nx + ny * ny + nz * nz)
    return (nx / n, ny / n, nz / n,
            ya * e1x + yb * e2x, ya * e1y + yb * e2y, ya * e1z + yb * e2z)


@njit(cache=True)
def advance(x, y, z, dx, dy, dz, L, mcs, p, beta, path, charge):
    """Move a charged particle by a step L from (x, y, z) along (dx, dy, dz), scattered (when
    ``mcs``) with the Highland width of this step (momentum p, velocity beta, ``path`` already
    travelled). Returns the new position and direction."""
    if not mcs:
        return x + L * dx, y + L * dy, z + L * dz, dx, dy, dz
    th = step_theta0(p, beta, path, L, charge)
    ndx, ndy, ndz, ox, oy, oz = scatter_step(dx, dy, dz, th, L)
    return x + L * dx + ox, y + L * dy + oy, z + L * dz + oz, ndx, ndy, ndz
