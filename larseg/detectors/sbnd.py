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
        adc_per_electron=(1 / 280.0, 1 / 280.0, 1 / 250.0),
        noise_adc=(3.0, 3.0, 2.5),
        coherent_noise_adc=(1.0, 1.0, 0.8),
        coherent_group_size=32,
        dead_wire_fraction=(0.01, 0.01, 0.01),
        noisy_wire_fraction=0.01,
        # The SBND paper's images hold ~11,000 active pixels per plane at 1024 × 640, of which
        # only ~2,550 are labelled: the rest (~8,500) is simulated noise. At full resolution
        # that is ≈ 0.33 % of the 2048 × 1280 pixels.
        noise_occupancy=(3.3e-3, 3.3e-3, 3.3e-3),
        saturation_adc=2000.0,
        storage_threshold_adc=0.5,
        time_resolution_px=(0.8, 0.8, 0.5),
    )
    return Detector(
        name="sbnd", tpcs=tpcs, planes=planes, image_wires=IMAGE_WIRES, image_rows=IMAGE_ROWS,
        drift_field_kV_cm=DRIFT_FIELD_KV_CM, drift_velocity_cm_us=v, readout=readout,
        cosmic_window_us=(WINDOW_START_US - DRIFT_LENGTH_CM / v, window_end),
    )
