"""Detector geometry and readout description shared by the simulator and the event model.

Coordinates (LArSoft convention, cm): x along the drift field (towards the cathode for a
single-TPC detector), y vertical (up), z along the neutrino beam. Times in µs relative to the
trigger (beam spill at t = 0).

A deposit at (x, y, z, t) in TPC k reaches the anode at ``t + |x - x_anode| / v_drift``; its
image row is that arrival time measured from the start of the readout window, in pixels of
``ticks_per_pixel`` ticks (MicroBooNE 6 ticks = 3 µs, SBND 4 ticks = 2 µs). Its image column is
the wire number (continuous) plus the plane's image offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..event import DetectorMeta, PlaneMeta


@dataclass(frozen=True)
class WirePlane:
    """One wire plane. ``angle_deg``: wire direction measured from vertical (y) in the y-z plane."""

    index: int
    name: str
    angle_deg: float
    n_wires: int
    pitch: float            # cm
    collection: bool
    image_offset: int = 0   # image column of wire 0 (planes centred/padded into a common width)
    wire0_coordinate: float = 0.0  # coordinate of wire 0 along the pitch direction (cm)

    @property
    def pitch_direction(self) -> tuple[float, float]:
        """Unit vector (dy, dz) perpendicular to the wires, in the wire plane."""
        a = math.radians(self.angle_deg)
        return (-math.sin(a), math.cos(a))

    def wire_number(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Continuous wire number of points (y, z); wire w covers [w - 0.5, w + 0.5)."""
        py, pz = self.pitch_direction
        return (py * np.asarray(y) + pz * np.asarray(z) - self.wire0_coordinate) / self.pitch


@dataclass(frozen=True)
class TPC:
    """One drift volume: anode at ``x_anode``, cathode at ``x_cathode``.

    ``row_offset``/``row_sign`` place its readout window in the joined image: row =
    row_offset + row_sign * (time pixel), so SBND's two TPCs meet at the cathode in the middle.
    """

    index: int
    x_anode: float
    x_cathode: float
    y_range: tuple[float, float]
    z_range: tuple[float, float]
    row_offset: int = 0
    row_sign: int = 1
    n_rows: int = 0

    @property
    def row_band(self) -> tuple[int, int]:
        """Image rows [lo, hi) that this TPC's readout window fills."""
        if self.row_sign > 0:
            return (self.row_offset, self.row_offset + self.n_rows)
        return (self.row_offset - self.n_rows, self.row_offset)

    @property
    def drift_length(self) -> float:
        return abs(self.x_cathode - self.x_anode)

    @property
    def x_range(self) -> tuple[float, float]:
        return (min(self.x_anode, self.x_cathode), max(self.x_anode, self.x_cathode))

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x0, x1 = self.x_range
        return ((x >= x0) & (x < x1) & (y >= self.y_range[0]) & (y < self.y_range[1])
                & (z >= self.z_range[0]) & (z < self.z_range[1]))


@dataclass(frozen=True)
class ReadoutModel:
    """Signal formation, processing and digitisation constants of a detector.

    The ADC product larseg writes is the *processed* image (noise-filtered, deconvolved, summed
    over ``ticks_per_pixel`` ticks): every plane shows positive charge. Per-plane tuples are
    indexed by plane number (0 = U, 1 = V, 2 = Y).
    """

    tick_us: float                      # digitisation period
    ticks_per_pixel: int                # time downsampling of the image
    window_start_us: float              # start of the image's readout window relative to trigger
    electron_lifetime_us: float
    diffusion_long_cm2_us: float
    diffusion_trans_cm2_us: float
    adc_per_electron: tuple[float, ...]       # processed-image gain per plane
    noise_adc: tuple[float, ...]              # residual noise RMS per pixel after processing
    coherent_noise_adc: tuple[float, ...]     # residual coherent (group) noise RMS
    coherent_group_size: int                  # wires sharing coherent noise (MicroBooNE: 48)
    dead_wire_fraction: tuple[float, ...]
    noisy_wire_fraction: float
    noise_occupancy: tuple[float, ...]        # fraction of pixels outside signal ROIs that hold noise
    saturation_adc: float                     # processed-pixel value at which the ADC saturates
    storage_threshold_adc: float              # zero suppression of the written image
    time_resolution_px: tuple[float, ...]     # Gaussian σ of the deconvolved signal, in pixels
    # Outside ROIs, noise shows where it exceeds this (ADC); None: NOISE_ROI_SIGMA × noise_adc,
    # an ROI finder's threshold. SBND's files keep all noise above the 5 ADC zero suppression.
    noise_floor_adc: tuple[float, ...] | None = None
    # Time σ (pixels) of the footprint that carries the labels; None: time_resolution_px (labels
    # wherever the processed charge is). 0: the charge as it arrives at the wires, as the
    # labels that LArSoft derives from SimChannels, which know no pulse shape.
    label_time_resolution_px: tuple[float, ...] | None = None

    def label_time_resolution(self, plane: int) -> float:
        if self.label_time_resolution_px is None:
            return float(self.time_resolution_px[plane])
        return float(self.label_time_resolution_px[plane])

    @property
    def pixel_us(self) -> float:
        return self.tick_us * self.ticks_per_pixel


@dataclass(frozen=True)
class Detector:
    name: str
    tpcs: tuple[TPC, ...]
    planes: tuple[WirePlane, ...]
    image_wires: int                 # image width (columns)
    image_rows: int                  # image height (time pixels)
    drift_field_kV_cm: float
    drift_velocity_cm_us: float
    readout: ReadoutModel
    cosmic_window_us: tuple[float, float] = (0.0, 0.0)  # times at which a cosmic can leave charge in the image

    # ------------------------------------------------------------ metadata
    @property
    def n_planes(self) -> int:
        return len(self.planes)

    @property
    def tick_pitch(self) -> float:
        """Drift distance per image row (cm)."""
        return self.drift_velocity_cm_us * self.readout.pixel_us

    def meta(self) -> DetectorMeta:
        return DetectorMeta(
            name=self.name,
            planes=tuple(
                PlaneMeta(plane=p.index, n_wires=self.image_wires, n_ticks=self.image_rows,
                          wire_pitch=p.pitch, tick_pitch=round(self.tick_pitch, 6), name=p.name)
                for p in self.planes),
        )

    @property
    def bounds(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """Bounding box (x, y, z) of all TPC active volumes."""
        xs = [v for t in self.tpcs for v in t.x_range]
        ys = [v for t in self.tpcs for v in t.y_range]
        zs = [v for t in self.tpcs for v in t.z_range]
        return (min(xs), max(xs)), (min(ys), max(ys)), (min(zs), max(zs))

    def tpc_index(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """TPC holding each point, or -1 outside every active volume."""
        x, y, z = np.asarray(x), np.asarray(y), np.asarray(z)
        out = np.full(x.shape, -1, dtype=np.int64)
        for t in self.tpcs:
            out[t.contains(x, y, z)] = t.index
        return out

    def contains(self, x, y, z) -> np.ndarray:
        return self.tpc_index(x, y, z) >= 0

    # ---------------------------------------------------------- projection
    def readout_span_us(self, tpc: TPC) -> tuple[float, float]:
        """Arrival times (µs) at ``tpc``'s anode that its image rows show: its readout window."""
        ro = self.readout
        return ro.window_start_us, ro.window_start_us + tpc.n_rows * ro.pixel_us

    def drift_distance(self, x: np.ndarray, tpc: np.ndarray) -> np.ndarray:
        anode = np.array([t.x_anode for t in self.tpcs])[np.clip(tpc, 0, None)]
        return np.abs(np.asarray(x) - anode)

    def image_row(self, arrival_us: np.ndarray, tpc: np.ndarray) -> np.ndarray:
        """Continuous image row of charge reaching the anode of ``tpc`` at ``arrival_us``.

        Rows of TPC k cover [row_offset, row_offset + n_rows) (or the mirror for row_sign -1);
        a returned value outside that span means the charge arrived outside the window.
        """
        tpc = np.clip(np.asarray(tpc), 0, None)
        offset = np.array([t.row_offset for t in self.tpcs], dtype=np.float64)[tpc]
        sign = np.array([t.row_sign for t in self.tpcs], dtype=np.float64)[tpc]
        px = (np.asarray(arrival_us) - self.readout.window_start_us) / self.readout.pixel_us
        # row_sign -1: time runs upwards from the bottom of the TPC's band (SBND top/bottom TPCs)
        return np.where(sign > 0, offset + px, offset - px)

    def project(self, x, y, z, t) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Project points to every plane.

        Returns ``(tpc, rows, columns, drift_time)``: tpc (N,) int (-1 outside), rows (N,) float
        image rows (same for all planes: the planes share the drift time), columns
        (n_planes, N) float image columns, drift_time (N,) µs from the point to the anode.
        Pixel (r, c) covers [r - 0.5, r + 0.5) × [c - 0.5, c + 0.5).
        """
        x, y, z, t = (np.asarray(a, dtype=np.float64) for a in (x, y, z, t))
        tpc = self.tpc_index(x, y, z)
        drift_time = self.drift_distance(x, tpc) / self.drift_velocity_cm_us
        rows = self.image_row(t + drift_time, tpc) - 0.5
        cols = np.stack([p.wire_number(y, z) + p.image_offset for p in self.planes])
        return tpc, rows, cols, drift_time
