"""Readout: energy deposits -> processed, labelled wire-plane images (the simulator's last stage).

The ADC product written here is the *processed* image that the papers' networks take: noise-
filtered, deconvolved and summed over ``ticks_per_pixel`` ticks. Every plane (induction too)
shows positive charge, a track is a ridge a few pixels wide, with residual noise and dead wires.
The raw bipolar/unipolar wire response and its deconvolution are modelled explicitly, for a few
wires, in :mod:`larseg.sim.response`; its tests show that this fast model — a Gaussian per deposit
whose time width is the deconvolved signal's resolution — gives the same pixel charges.

Chain per deposit: electrons = E / W × R_box(dE/dx) × exp(-t_drift / τ)
(:mod:`larseg.sim.recombination`); projection with ``Detector.project`` (rows shared by all
planes, a column per plane; deposits outside TPCs, their TPC's row band or the wires are dropped);
a Gaussian of σ_row² = σ_L² + time_resolution² and σ_col = σ_T integrated over pixel bins
(:mod:`larseg.sim.accumulate`); gain ``adc_per_electron`` per plane. Then ROIs, noise, dead wires
(:mod:`larseg.sim.noise`: the dead/noisy-wire map is fixed per detector and plane, like a run
period's channel-status list, not redrawn per event), saturation at ``saturation_adc``, zero
suppression, row-major sorting and labels (:mod:`larseg.sim.assemble`).

Truth: the true (noise-free processed) charge per (pixel, particle) is kept. A pixel is labelled
when its true charge is ≥ ``LABEL_THRESHOLD_ADC`` and it is in the written image (value ≥
``storage_threshold_adc``): ``instance`` = the particle with most charge, ``semantic`` = its
class, ``cosmic`` = NEUTRINO if neutrino/bomb particles put ≥ ``ORIGIN_THRESHOLD_ADC`` there
(summed; neutrino precedence, SBND paper section 5), else COSMIC if cosmics did, else the origin
of the main particle. ``particle_charge`` lists every particle's charge in the labelled pixels (so it
sums, per pixel, to the true charge). Unlabelled pixels (noise, sub-threshold tails) have cosmic
BACKGROUND, semantic and instance -1. The truth charge has the footprint of the processed charge,
or, where the readout sets ``label_time_resolution_px`` (SBND: 0), the footprint of the charge as
it arrives at the wires, as labels made from LArSoft's SimChannels have it: the flanks that only
the deconvolved pulse reaches are then charge without a label.

Zero suppression: only pixels with value ≥ ``storage_threshold_adc`` are written, inside and
outside ROIs — negative residual noise inside ROIs is dropped. The written images are thus
non-negative "active pixel" images, like the papers' inputs (the SBND paper counts "active
(non-zero) pixels"; the networks threshold at ≥ 10 ADC anyway). Pixels that hold true charge
but are not written (below threshold after noise, outside ROIs, on dead wires) lose their truth.

Speed: the per-deposit work is in numba kernels; consecutive deposits of a particle in the same
pixel are merged (same charge, mean and variance); a dense int32 map per image shape and the
compact per-pixel arrays live in a per-process :data:`WORKSPACE` reused from event to event
(reset only where touched), so nothing dense is zeroed or drawn per event. Not thread-safe.
``benchmarks/bench_readout.py`` prints the timings.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..detectors import Detector
from ..errors import InvalidEventError
from ..event import Particle, ParticleCharge, PlaneImage, semantic_of
from ..labels import Origin
from .accumulate import Workspace, accumulate_plane, particles_contiguous, reset_map
from .assemble import assemble_plane
from .noise import channel_status, coherent_table, noise_only_pixels, roi_values
from .recombination import diffusion_sigma_cm, ionisation_electrons, lifetime_survival
from .records import Deposits

#: True charge a pixel needs to carry particle labels (ADC of the processed image).
LABEL_THRESHOLD_ADC = 1.0
#: Charge a particle must put in a pixel for its origin to count in the cosmic label.
ORIGIN_THRESHOLD_ADC = 0.5

#: This process's reusable accumulators (see :class:`larseg.sim.accumulate.Workspace`).
WORKSPACE = Workspace()


@dataclass
class DriftedCharge:
    """Deposits after drift, projected: the common input of the fast and the slow readout."""

    tpc: np.ndarray          # (N,) int, -1 outside every TPC
    rows: np.ndarray         # (N,) continuous image row (pixel r covers [r - 0.5, r + 0.5))
    cols: np.ndarray         # (n_planes, N) continuous image column
    drift_time: np.ndarray   # (N,) µs
    electrons: np.ndarray    # (N,) electrons reaching the anode
    sigma_long_px: np.ndarray   # (N,) longitudinal diffusion in rows
    sigma_trans_px: np.ndarray  # (N,) transverse diffusion in wire pitches


def drift_charge(deposits: Deposits, detector: Detector) -> DriftedCharge:
    """Recombination, lifetime, projection and diffusion widths of every deposit."""
    ro = detector.readout
    tpc, rows, cols, drift_time = detector.project(deposits.x, deposits.y, deposits.z, deposits.t)
    electrons = ionisation_electrons(deposits.energy, deposits.dedx, detector.drift_field_kV_cm)
    electrons *= lifetime_survival(drift_time, ro.electron_lifetime_us)
    electrons[tpc < 0] = 0.0
    s_long = diffusion_sigma_cm(drift_time, ro.diffusion_long_cm2_us) / detector.tick_pitch
    # Transverse diffusion is isotropic in the wire plane: the same σ along every pitch direction.
    pitch = detector.planes[-1].pitch
    s_trans = diffusion_sigma_cm(drift_time, ro.diffusion_trans_cm2_us) / pitch
    return DriftedCharge(tpc=tpc, rows=rows, cols=cols, drift_time=drift_time,
                         electrons=electrons, sigma_long_px=s_long, sigma_trans_px=s_trans)


@lru_cache(maxsize=16)
def row_tpc_map(detector: Detector) -> np.ndarray:
    """TPC whose readout band holds each image row (-1 for rows of no TPC)."""
    out = np.full(detector.image_rows, -1, dtype=np.int64)
    for t in detector.tpcs:
        lo, hi = t.row_band
        out[max(lo, 0):min(hi, detector.image_rows)] = t.index
    out.flags.writeable = False
    return out


def noiseless(detector: Detector) -> Detector:
    """The same detector with no noise, no dead or noisy wires and no noise pixels (for tests)."""
    n = detector.n_planes
    ro = dataclasses.replace(detector.readout, noise_adc=(0.0,) * n, coherent_noise_adc=(0.0,) * n,
                             dead_wire_fraction=(0.0,) * n, noisy_wire_fraction=0.0,
                             noise_occupancy=(0.0,) * n)
    return dataclasses.replace(detector, readout=ro)


def _particle_tables(particles: list[Particle]) -> tuple[np.ndarray, np.ndarray]:
    sem = np.array([p.semantic if p.semantic >= 0 else semantic_of(p.pdg, p.process)
                    for p in particles], dtype=np.int8).reshape(-1)
    nu = np.array([p.origin != Origin.COSMIC for p in particles], dtype=np.bool_).reshape(-1)
    return sem, nu


def readout(deposits: Deposits, particles: list[Particle], detector: Detector,
            rng: np.random.Generator, *, timings: dict[str, float] | None = None
            ) -> list[PlaneImage]:
    """Turn an event's deposits into one processed, labelled :class:`PlaneImage` per plane.

    ``deposits.particle`` must index ``particles`` (ids are table rows). Deterministic given
    the state of ``rng``. ``timings``, if given, receives seconds spent per stage (summed over
    planes; for benchmarks).
    """
    clock = _Clock(timings)
    n_part = len(particles)
    part = deposits.particle
    if len(deposits) and (part.min() < 0 or part.max() >= n_part):
        bad = int(part.min() if part.min() < 0 else part.max())
        raise InvalidEventError(f"deposit refers to particle {bad}, the table has {n_part}",
                                field="deposits.particle")
    if len(deposits) and not particles_contiguous(part, n_part):
        deposits = deposits.select(np.argsort(part, kind="stable"))
    clock("order deposits")
    drifted = drift_charge(deposits, detector)
    clock("drift_charge")
    sem, nu = _particle_tables(particles)
    meta = detector.meta()
    clock("particle tables")
    return [_readout_plane(i, deposits.particle, drifted, sem, nu, detector, meta.planes[i], rng,
                           clock) for i in range(detector.n_planes)]


class _Clock:
    """Adds the time since the previous call to ``timings[stage]`` (no-op without a dict)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.t = time.perf_counter() if timings is not None else 0.0

    def __call__(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


def _readout_plane(plane: int, particle: np.ndarray, d: DriftedCharge, sem: np.ndarray,
                   nu: np.ndarray, detector: Detector, meta, rng: np.random.Generator,
                   clock: _Clock) -> PlaneImage:
    ro = detector.readout
    wp = detector.planes[plane]
    n_rows, n_cols = detector.image_rows, detector.image_wires
    status = channel_status(detector, plane)
    row_tpc = row_tpc_map(detector)
    band_lo = np.array([t.row_band[0] for t in detector.tpcs], dtype=np.int64)
    band_hi = np.array([t.row_band[1] for t in detector.tpcs], dtype=np.int64)
    ws = WORKSPACE
    dmap = ws.dense_map(n_rows * n_cols)
    clock("plane setup")
    try:
        n_acc, n_trip = accumulate_plane(
            d.rows, d.sigma_long_px, ro.time_resolution_px[plane], d.cols[plane],
            d.sigma_trans_px, d.electrons, ro.adc_per_electron[plane], particle, d.tpc,
            band_lo, band_hi, wp.image_offset, wp.image_offset + wp.n_wires, n_cols, dmap, ws,
            label_time_res=ro.label_time_resolution(plane))
        clock("accumulate")
        coh = coherent_table(n_rows, status, ro.coherent_noise_adc[plane], rng)
        n_pix = roi_values(n_acc, dmap, n_cols, row_tpc, status, coh, ws, rng)
        clock("ROI + noise")
        n_roi = int(np.count_nonzero(ws.get("in_roi", n_pix, np.bool_)[:n_pix]))
        n_live = int(np.count_nonzero(row_tpc >= 0)) * int(np.count_nonzero(status.live))
        noise_pix, noise_val = noise_only_pixels(n_live - n_roi, detector, plane, coh, row_tpc,
                                                 dmap, n_pix, rng)
        reset_map(dmap, ws.get("pix", n_pix, np.int64)[:n_pix])
        reset_map(dmap, noise_pix)
        clock("noise-only pixels, map reset")
    except BaseException:
        ws.drop_map(n_rows * n_cols)  # possibly dirty: start afresh next time
        raise
    coords, values, cosmic, semantic, instance, pc_pix, pc_part, pc_q = assemble_plane(
        ws, n_pix, n_trip, noise_pix, noise_val, sem, nu, n_rows, n_cols,
        ro.storage_threshold_adc, ro.saturation_adc, LABEL_THRESHOLD_ADC, ORIGIN_THRESHOLD_ADC)
    image = PlaneImage(meta, coords, values, cosmic=cosmic, semantic=semantic, instance=instance,
                       particle_charge=ParticleCharge(pc_pix, pc_part, pc_q))
    clock("zero suppression, sort, labels")
    return image
