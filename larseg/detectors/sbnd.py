"""SBND: two TPCs sharing a central cathode, 2 m drift each, 500 V/cm, 3 mm pitch.

Sources: Acciarri et al., JINST 15 P06033 (2020) (1984 induction / 1664 collection wires per
plane, ±60° induction planes); SBN proposal arXiv:1503.01520 (4 m × 4 m × 5 m active volume,
500 V/cm); SBND cosmic-removal paper, Front. Artif. Intell. 4:649917 (2021) (images of 2048 wires,
the two TPCs joined at the cathode in the middle, drift downsampled ×4).
"""

from __future__ import annotations

from .base import TPC, Detector, ReadoutModel
from .geometry import uvy_planes
from .physics_constants import DIFFUSION_LONG_CM2_US, DIFFUSION_TRANS_CM2_US

DRIFT_LENGTH_CM = 200.0
Y_RANGE = (-200.0, 200.0)
Z_RANGE = (0.0, 500.0)
DRIFT_VELOCITY_CM_US = 0.1563  # 1.563 mm/µs at 500 V/cm, 87 K (LArSoft DetectorProperties, as used by SBND)
DRIFT_FIELD_KV_CM = 0.5
WIRE_PITCH_CM = 0.3
N_WIRES = (1984, 1984, 1664)
IMAGE_WIRES = 2048
IMAGE_ROWS = 1280
ROWS_PER_TPC = IMAGE_ROWS // 2
TICK_US = 0.5
TICKS_PER_PIXEL = 4          # the paper: drift direction downsampled by a factor of 4
WINDOW_START_US = 0.0        # each TPC's image window opens at the trigger and lasts one drift


def sbnd() -> Detector:
    v = DRIFT_VELOCITY_CM_US
    planes = uvy_planes(N_WIRES, WIRE_PITCH_CM, Y_RANGE, Z_RANGE, IMAGE_WIRES,
                        centre_in_image=True)
    # TPC 0 (x < 0) fills the top half, anode at row 0; TPC 1 (x > 0) the bottom half, anode at
    # the last row: the two halves meet at the cathode in the middle of the image.
    tpcs = (
        TPC(index=0, x_anode=-DRIFT_LENGTH_CM, x_cathode=0.0, y_range=Y_RANGE, z_range=Z_RANGE,
            row_offset=0, row_sign=1, n_rows=ROWS_PER_TPC),
        TPC(index=1, x_anode=DRIFT_LENGTH_CM, x_cathode=0.0, y_range=Y_RANGE, z_range=Z_RANGE,
            row_offset=IMAGE_ROWS, row_sign=-1, n_rows=ROWS_PER_TPC),
    )
    pixel_us = TICK_US * TICKS_PER_PIXEL
    window_end = WINDOW_START_US + ROWS_PER_TPC * pixel_us
    readout = ReadoutModel(
        tick_us=TICK_US,
        ticks_per_pixel=TICKS_PER_PIXEL,
        window_start_us=WINDOW_START_US,
        electron_lifetime_us=10_000.0,
        diffusion_long_cm2_us=DIFFUSION_LONG_CM2_US,
        diffusion_trans_cm2_us=DIFFUSION_TRANS_CM2_US,
        # Calibrated to CosmicTagger's public SBND file (example_data/cosmic_tagging_light.h5,
        # LArSoft/GEANT4/CORSIKA, 5 events; statistics in larseg issue 9 and
        # larseg/validation/reference_files.py). Processed-image gain per plane, fitted to the
        # median ADC of cosmic-labelled voxels: ≈ 41–43 on U and V, ≈ 51 on Y, together with the
        # deconvolved pulse width (time_resolution_px) fitted to the cosmic voxel counts and
        # the 90th percentiles (a wider pulse makes more, fainter voxels per track). The median
        # is taken, as in the file, over the voxels of the labels' footprint
        # (label_time_resolution_px below), which leaves the faint flanks out.
        adc_per_electron=(1.445 / 280.0, 1.445 / 280.0, 1.29 / 250.0),
        # Residual noise: the file's background voxels (13–15 k per induction plane, median
        # ≈ 5.5 ADC; 0.5–2.4 k on Y) are the tail above the 5 ADC zero suppression of Gaussian
        # noise present everywhere, σ ≈ 1.95 ADC on U/V (Q(5/1.95) ≈ 0.5 % of the pixels) and
        # ≈ 1.5 ADC on Y (Q(5/1.5) ≈ 0.04 %). No public number for the coherent part: small.
        noise_adc=(1.95, 1.95, 1.5),
        coherent_noise_adc=(0.3, 0.3, 0.3),
        coherent_group_size=32,
        dead_wire_fraction=(0.01, 0.01, 0.01),
        noisy_wire_fraction=0.01,
        # Outside signal regions the noise tail shows wherever it passes the zero suppression,
        # with the occupancy of that tail, Q(5 / 1.95) = 0.52 % (see noise_adc above); on Y the
        # fitted 0.04 %. The file's other background voxels are the tracks' unlabelled flanks
        # (see label_time_resolution_px below).
        noise_occupancy=(5.2e-3, 5.2e-3, 4.0e-4),
        saturation_adc=2000.0,
        # Zero suppression of CosmicTagger's files: every stored voxel has ADC ≥ 5.0.
        storage_threshold_adc=5.0,
        time_resolution_px=(0.45, 0.45, 0.4),
        noise_floor_adc=(5.0, 5.0, 5.0),
        # The file's labels come from LArSoft's SimChannels (via larcv's cluster2d), which hold
        # the ionisation as it arrives at each wire and tick, diffused but without the pulse
        # width of the deconvolved signal: voxels of the signal's flanks outside that footprint
        # are background there (9.5 % of the cosmic voxels ≥ 5 ADC on U and V, 4.8 % on Y:
        # benchmarks/sbnd_label_footprint.py).
        label_time_resolution_px=(0.0, 0.0, 0.0),
    )
    return Detector(
        name="sbnd", tpcs=tpcs, planes=planes, image_wires=IMAGE_WIRES, image_rows=IMAGE_ROWS,
        drift_field_kV_cm=DRIFT_FIELD_KV_CM, drift_velocity_cm_us=v, readout=readout,
        cosmic_window_us=(WINDOW_START_US - DRIFT_LENGTH_CM / v, window_end),
    )
