"""Helpers that build wire planes centred on a TPC's y-z face."""

from __future__ import annotations

import math

from .base import WirePlane


def centred_plane(index: int, name: str, angle_deg: float, n_wires: int, pitch: float,
                  collection: bool, y_range: tuple[float, float], z_range: tuple[float, float],
                  image_wires: int, centre_in_image: bool) -> WirePlane:
    """A plane of ``n_wires`` wires whose middle wire crosses the centre of the y-z face.

    ``centre_in_image``: place the plane's columns in the middle of an image ``image_wires``
    wide (SBND, CosmicTagger's layout); otherwise wire 0 is column 0 and the image is padded on
    the right (MicroBooNE U and V padded to the Y plane's 3456 columns).
    """
    a = math.radians(angle_deg)
    py, pz = -math.sin(a), math.cos(a)
    yc, zc = 0.5 * sum(y_range), 0.5 * sum(z_range)
    centre = py * yc + pz * zc
    wire0 = centre - 0.5 * (n_wires - 1) * pitch
    offset = (image_wires - n_wires) // 2 if centre_in_image else 0
    if offset < 0:
        raise ValueError(f"plane {name}: {n_wires} wires do not fit an image {image_wires} wide")
    return WirePlane(index=index, name=name, angle_deg=angle_deg, n_wires=n_wires, pitch=pitch,
                     collection=collection, image_offset=offset, wire0_coordinate=wire0)


# Wire angles from vertical of the U, V and Y planes of MicroBooNE and SBND (JINST 12 P02017;
# JINST 15 P06033): induction at ±60°, collection vertical.
UVY_ANGLES_DEG = (60.0, -60.0, 0.0)


def uvy_planes(n_wires: tuple[int, int, int], pitch: float, y_range: tuple[float, float],
               z_range: tuple[float, float], image_wires: int,
               centre_in_image: bool) -> tuple[WirePlane, ...]:
    """The three planes U, V (induction) and Y (collection) of a wire-readout TPC."""
    return tuple(
        centred_plane(i, name, angle, n, pitch, collection=(name == "Y"), y_range=y_range,
                      z_range=z_range, image_wires=image_wires, centre_in_image=centre_in_image)
        for i, (name, angle, n) in enumerate(zip("UVY", UVY_ANGLES_DEG, n_wires)))
