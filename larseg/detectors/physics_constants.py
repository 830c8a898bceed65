"""Liquid-argon constants used by detector presets and the simulator (each with its source)."""

from __future__ import annotations

LAR_DENSITY_G_CM3 = 1.396          # PDG, Atomic and nuclear properties of liquid argon (87 K)
LAR_Z, LAR_A = 18, 39.948          # PDG
W_ION_EV = 23.6                    # mean energy per ion pair, PDG / Miyajima et al. PRA 9 (1974) 1438
RADIATION_LENGTH_CM = 14.0         # PDG: 19.55 g/cm^2 / 1.396 g/cm^3
MOLIERE_RADIUS_CM = 9.04           # PDG
CRITICAL_ENERGY_MEV = 32.84        # PDG (e-, Rossi definition)
MEAN_EXCITATION_EV = 188.0         # PDG
# Modified Box recombination: ArgoNeuT, JINST 8 (2013) P08005
BOX_ALPHA = 0.93
BOX_BETA = 0.212                   # (kV/cm)(g/cm^2)/MeV
# Electron diffusion in LAr (values given by the simulator issue for ~273 V/cm; cf. Li et al.,
# NIM A 816 (2016) 160 for D_L and ICARUS/Atrazhev-Timoshkin for D_T); cm^2/s -> cm^2/µs
DIFFUSION_LONG_CM2_US = 6.4e-6
DIFFUSION_TRANS_CM2_US = 9.8e-6

