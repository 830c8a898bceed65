"""Counting long tracks in an image: connected clusters of pixels above a threshold whose extent
reaches a minimum length, the "number of cosmic tracks" of a cosmic-dominated image.

Pixels are joined when they lie within ``gap`` pixels of each other along both axes (so that a
dead wire or a faint stretch does not split a track); a cluster counts when its bounding box spans
at least ``min_extent`` pixels along rows or wires. Tracks that cross merge into one cluster and
showers count as one, so this is a count to compare between file sets, not a reconstruction.
"""

from __future__ import annotations

import numba
import numpy as np

#: Defaults: a 2-pixel bridge (one dead wire), and 100 pixels ≈ 30 cm at 3 mm pitch.
GAP = 2
MIN_EXTENT = 100


@numba.njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True)
def _clusters(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int,
              gap: int) -> np.ndarray:
    """Cluster id (a root index) of each pixel."""
    n = rows.size
    grid = np.full((n_rows, n_cols), -1, np.int64)
    for i in range(n):
        grid[rows[i], cols[i]] = i
    parent = np.arange(n)
    for i in range(n):
        r, c = rows[i], cols[i]
        for dr in range(-gap, gap + 1):
            rr = r + dr
            if rr < 0 or rr >= n_rows:
                continue
            for dc in range(-gap, gap + 1):
                cc = c + dc
                if cc < 0 or cc >= n_cols:
                    continue
                j = grid[rr, cc]
                if j > i:
                    a, b = _find(parent, i), _find(parent, j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


def long_tracks(coords: np.ndarray, shape: tuple[int, int], gap: int = GAP,
                min_extent: int = MIN_EXTENT) -> int:
    """The number of clusters of the pixels ``coords`` ((N, 2) rows, wires in an image of
    ``shape``) spanning at least ``min_extent`` pixels along either axis."""
    if len(coords) == 0:
        return 0
    rows = np.ascontiguousarray(coords[:, 0], dtype=np.int64)
    cols = np.ascontiguousarray(coords[:, 1], dtype=np.int64)
    root = _clusters(rows, cols, int(shape[0]), int(shape[1]), gap)
    _, inverse = np.unique(root, return_inverse=True)
    k = inverse.max() + 1
    span = np.zeros(k)
    for axis in (rows, cols):
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, np.iinfo(np.int64).min)
        np.minimum.at(lo, inverse, axis)
        np.maximum.at(hi, inverse, axis)
        span = np.maximum(span, hi - lo + 1)
    return int((span >= min_extent).sum())
