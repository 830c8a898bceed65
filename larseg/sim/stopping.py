"""Mean energy loss of charged particles in liquid argon, and range-energy tables.

Heavy particles (μ, π, K, p, nuclei): the Bethe formula with the Sternheimer density effect
(PDG Review "Passage of particles through matter", eqs. 34.5 and 34.7; restricted loss eq. 34.12).
Below βγ ≈ 0.33 (proton T ≈ 50 MeV) shell and Barkas corrections, which the Bethe formula
leaves out, matter: there the stopping power blends into the NIST PSTAR table (ICRU 49), scaled by
velocity and z² for other particles, and PSTAR alone is used below a proton-equivalent 10 MeV.
Electrons/positrons: collision stopping power of ICRU Report 37 (Rohrlich-Carlson F∓ functions,
as used by NIST ESTAR).

All stopping powers returned here are linear (MeV/cm) for liquid argon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..detectors.physics_constants import LAR_A, LAR_DENSITY_G_CM3, LAR_Z, MEAN_EXCITATION_EV

TABLE_DIR = Path(__file__).with_name("tables")

K_BETHE = 0.307075              # MeV mol^-1 cm^2: 4π N_A r_e² m_e c² (PDG Table 34.1)
ELECTRON_MASS = 0.51099895      # MeV (PDG 2024)
MUON_MASS = 105.6583755         # MeV (PDG 2024)
PION_MASS = 139.57039           # MeV, π± (PDG 2024)
PI0_MASS = 134.9768             # MeV (PDG 2024)
KAON_MASS = 493.677             # MeV, K± (PDG 2024)
PROTON_MASS = 938.27208816      # MeV (PDG 2024)
NEUTRON_MASS = 939.56542052     # MeV (PDG 2024)
Z_OVER_A = LAR_Z / LAR_A        # 0.45059 (PDG: <Z/A> of argon)
RHO = LAR_DENSITY_G_CM3
I_MEV = MEAN_EXCITATION_EV * 1e-6
# Sternheimer density-effect parameters of liquid argon (PDG "Atomic and nuclear properties of
# materials", liquid argon: -C = 5.2146, x0 = 0.2000, x1 = 3.0000, a = 0.19559, k = 3.0000, δ0 = 0)
STERNHEIMER_C, STERNHEIMER_X0, STERNHEIMER_X1 = 5.2146, 0.2000, 3.0000
STERNHEIMER_A, STERNHEIMER_K, STERNHEIMER_D0 = 0.19559, 3.0000, 0.0
# Blend from PSTAR (low velocity) into Bethe between these proton-equivalent kinetic energies
BLEND_LO_MEV, BLEND_HI_MEV = 10.0, 50.0


def density_effect(betagamma: np.ndarray) -> np.ndarray:
    """Sternheimer density-effect correction δ(βγ) (PDG eq. 34.7) for liquid argon."""
    x = np.log10(np.maximum(np.asarray(betagamma, dtype=np.float64), 1e-12))
    two_ln10 = 2.0 * math.log(10.0)
    rise = STERNHEIMER_A * np.clip(STERNHEIMER_X1 - x, 0, None) ** STERNHEIMER_K
    mid = two_ln10 * x - STERNHEIMER_C + rise
    high = two_ln10 * x - STERNHEIMER_C
    low = STERNHEIMER_D0 * 10.0 ** (2.0 * (x - STERNHEIMER_X0))
    return np.where(x >= STERNHEIMER_X1, high, np.where(x >= STERNHEIMER_X0, mid, low))


def kinematics(T: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(β², βγ, γ) of a particle of kinetic energy T and mass ``mass`` (MeV)."""
    gamma = 1.0 + np.asarray(T, dtype=np.float64) / mass
    bg = np.sqrt(np.maximum(gamma * gamma - 1.0, 0.0))
    return (bg / gamma) ** 2, bg, gamma


def t_max(T: np.ndarray, mass: float) -> np.ndarray:
    """Largest energy transfer to a free electron in one collision (PDG eq. 34.4), MeV."""
    _, bg, gamma = kinematics(T, mass)
    r = ELECTRON_MASS / mass
    return 2.0 * ELECTRON_MASS * bg * bg / (1.0 + 2.0 * gamma * r + r * r)


def bethe_dedx(T: np.ndarray, mass: float, charge: float = 1.0,
               tcut: float | None = None) -> np.ndarray:
    """Bethe mean stopping power (MeV/cm), restricted to transfers below ``tcut`` if given.

    PDG eq. 34.5 (unrestricted) / eq. 34.12 (restricted), with the density effect; no shell,
    Barkas or Bloch corrections (see :func:`stopping_power` for the corrected curve).
    """
    b2, bg, _ = kinematics(T, mass)
    b2 = np.maximum(b2, 1e-12)
    tm = t_max(T, mass)
    d = density_effect(bg)
    pre = K_BETHE * charge * charge * Z_OVER_A / b2
    if tcut is None:
        bracket = 0.5 * np.log(2 * ELECTRON_MASS * bg * bg * tm / I_MEV ** 2) - b2 - 0.5 * d
    else:
        tc = np.minimum(tcut, tm)
        bracket = (0.5 * np.log(2 * ELECTRON_MASS * bg * bg * tc / I_MEV ** 2)
                   - 0.5 * b2 * (1.0 + tc / tm) - 0.5 * d)
    return pre * np.maximum(bracket, 0.0) * RHO


@lru_cache(maxsize=None)
def _read_csv(name: str) -> np.ndarray:
    lines = [ln for ln in (TABLE_DIR / name).read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    names = [c.strip() for c in lines[0].split(",")]
    data = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    return np.rec.fromarrays(data.T, names=names)


def pstar_table() -> np.ndarray:
    """NIST PSTAR table for argon (structured array: T_MeV, dEdx_total, csda_range_g_cm2, ...)."""
    return _read_csv("proton_lar_pstar.csv")


def muon_table() -> np.ndarray:
    """PDG (Groom et al.) muon table for liquid argon."""
    return _read_csv("muon_lar_pdg.csv")


def pion_table() -> np.ndarray:
    """Charged-pion Bethe table for liquid argon."""
    return _read_csv("pion_lar_bethe.csv")


def _pstar_dedx(T_proton: np.ndarray) -> np.ndarray:
    """PSTAR total mass stopping power (MeV cm²/g) at proton energy T, log-log interpolated;
    below the table's 1 keV it falls as √T (velocity-proportional stopping)."""
    tab = pstar_table()
    lt, ls = np.log(tab["T_MeV"]), np.log(tab["dEdx_total"])
    T_proton = np.maximum(np.asarray(T_proton, dtype=np.float64), 1e-12)
    out = np.exp(np.interp(np.log(T_proton), lt, ls))
    low = T_proton < tab["T_MeV"][0]
    out[low] = tab["dEdx_total"][0] * np.sqrt(T_proton[low] / tab["T_MeV"][0])
    return out


def _blend_weight(T: np.ndarray, mass: float) -> np.ndarray:
    """Weight of the Bethe curve (1) against the scaled PSTAR curve (0)."""
    t_peq = np.asarray(T, dtype=np.float64) * PROTON_MASS / mass
    w = ((np.log(np.maximum(t_peq, 1e-12)) - math.log(BLEND_LO_MEV))
         / math.log(BLEND_HI_MEV / BLEND_LO_MEV))
    return np.clip(w, 0.0, 1.0)


def stopping_power(T: np.ndarray, mass: float, charge: float = 1.0,
                   tcut: float | None = None) -> np.ndarray:
    """Mean stopping power (MeV/cm) of a heavy charged particle in LAr, low-energy corrected.

    With ``tcut``: the restricted stopping power (energy transfers below tcut; the rest is
    produced as explicit δ-rays). The low-velocity part (PSTAR, scaled) is all soft collisions.
    """
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    w = _blend_weight(T, mass)
    low = _pstar_dedx(T * PROTON_MASS / mass) * charge * charge * RHO
    full = bethe_dedx(T, mass, charge)
    total = (1.0 - w) * low + w * full
    if tcut is None:
        return total
    # δ-ray part (transfers above tcut) from the Bethe spectrum, valid where tmax > tcut
    hard = full - bethe_dedx(T, mass, charge, tcut)
    return np.maximum(total - hard, 0.0)


def electron_dedx(T: np.ndarray, positron: bool = False) -> np.ndarray:
    """Collision stopping power (MeV/cm) of e∓ in LAr: ICRU Report 37 eqs. (Rohrlich-Carlson)."""
    T = np.atleast_1d(np.maximum(np.asarray(T, dtype=np.float64), 1e-6))
    tau = T / ELECTRON_MASS
    gamma = tau + 1.0
    b2 = 1.0 - 1.0 / (gamma * gamma)
    bg = np.sqrt(tau * (tau + 2.0))
    if positron:
        y = 1.0 / (tau + 2.0)
        F = 2 * math.log(2) - b2 / 12 * (23 + 14 * y + 10 * y * y + 4 * y ** 3)
    else:
        F = 1.0 - b2 + (tau * tau / 8.0 - (2 * tau + 1.0) * math.log(2)) / (gamma * gamma)
    L = (np.log(tau * tau * (tau + 2.0) / (2.0 * (I_MEV / ELECTRON_MASS) ** 2)) + F
         - density_effect(bg))
    return 0.5 * K_BETHE * Z_OVER_A / b2 * np.maximum(L, 0.1) * RHO


def delta_ray_rate(T: np.ndarray, mass: float, tcut: float, charge: float = 1.0) -> np.ndarray:
    """Mean number of δ-rays above ``tcut`` per cm: the integral of the Bethe spectrum
    d²N/dTdx = (K/2) z² (Z/A) ρ / β² (1 - β² T/Tmax) / T² (PDG eq. 34.10), tcut to Tmax."""
    b2, _, _ = kinematics(T, mass)
    tm = t_max(T, mass)
    c = 0.5 * K_BETHE * charge * charge * Z_OVER_A * RHO / np.maximum(b2, 1e-12)
    ok = tm > tcut
    rate = c * ((1.0 / tcut - 1.0 / np.where(ok, tm, tcut * 2))
                - b2 / np.where(ok, tm, 1.0) * np.log(np.where(ok, tm / tcut, 1.0)))
    return np.where(ok, np.maximum(rate, 0.0), 0.0)


# ---------------------------------------------------------------- range-energy tables
N_GRID = 1600
LOG_T_MIN, LOG_T_MAX = math.log(1e-4), math.log(1e6)


@dataclass(frozen=True)
class RangeTable:
    """Mean stopping power and CSDA range on a log-uniform kinetic-energy grid.

    ``table[:, 0]`` total stopping power (MeV/cm), ``[:, 1]`` the continuous part (restricted
    when δ-rays are explicit), ``[:, 2]`` CSDA range (cm) from the total stopping power.
    ``inverse`` holds T on a log-uniform range grid (log_r0, dlog_r) for range -> energy.
    """

    mass: float
    charge: float
    tcut: float
    log_t0: float
    dlog_t: float
    table: np.ndarray
    log_r0: float
    dlog_r: float
    inverse: np.ndarray

    @property
    def energies(self) -> np.ndarray:
        return np.exp(self.log_t0 + self.dlog_t * np.arange(self.table.shape[0]))

    def range(self, T: np.ndarray) -> np.ndarray:
        """CSDA range (cm) at kinetic energy T (MeV)."""
        return np.exp(np.interp(np.log(np.maximum(T, 1e-12)), np.log(self.energies),
                                np.log(self.table[:, 2])))

    def energy(self, R: np.ndarray) -> np.ndarray:
        """Kinetic energy (MeV) whose CSDA range is R (cm)."""
        grid = self.log_r0 + self.dlog_r * np.arange(self.inverse.shape[0])
        return np.exp(np.interp(np.log(np.maximum(R, 1e-30)), grid, np.log(self.inverse)))

    def dedx(self, T: np.ndarray, restricted: bool = False) -> np.ndarray:
        col = 1 if restricted else 0
        return np.exp(np.interp(np.log(np.maximum(T, 1e-12)), np.log(self.energies),
                                np.log(np.maximum(self.table[:, col], 1e-30))))


def _build_range_table(T: np.ndarray, total: np.ndarray, cont: np.ndarray, mass: float,
                       charge: float, tcut: float) -> RangeTable:
    # R(T0) for the first point: stopping ∝ √T below it, so R = 2 T0 / S(T0)
    r0 = 2.0 * T[0] / total[0]
    inv = 1.0 / total
    R = r0 + np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(T))])
    log_r = np.linspace(math.log(R[0]), math.log(R[-1]), N_GRID)
    T_of_r = np.exp(np.interp(log_r, np.log(R), np.log(T)))
    return RangeTable(mass=mass, charge=charge, tcut=tcut, log_t0=math.log(T[0]),
                      dlog_t=(math.log(T[-1]) - math.log(T[0])) / (len(T) - 1),
                      table=np.stack([total, cont, R], axis=1), log_r0=log_r[0],
                      dlog_r=log_r[1] - log_r[0], inverse=T_of_r)


@lru_cache(maxsize=64)
def heavy_range_table(mass: float, charge: float = 1.0, tcut: float = 0.0) -> RangeTable:
    """Range-energy table of a heavy charged particle; ``tcut`` > 0 makes column 1 restricted."""
    T = np.exp(np.linspace(LOG_T_MIN, LOG_T_MAX, N_GRID))
    total = stopping_power(T, mass, charge)
    cont = stopping_power(T, mass, charge, tcut) if tcut > 0 else total
    return _build_range_table(T, total, cont, mass, charge, tcut)


@lru_cache(maxsize=8)
def electron_range_table(positron: bool = False, radiative_cut: float = 0.0) -> RangeTable:
    """e∓ table: column 0 collision + all radiative loss (CSDA), column 1 the continuous part
    (collision + bremsstrahlung below ``radiative_cut``), column 2 the range of column 1 (the
    stepping range: explicit brems photons are removed separately)."""
    from .emphysics import radiative_dedx

    T = np.exp(np.linspace(LOG_T_MIN, LOG_T_MAX, N_GRID))
    col = electron_dedx(T, positron)
    total = col + radiative_dedx(T, None)
    cont = col + radiative_dedx(T, radiative_cut if radiative_cut > 0 else None)
    tab = _build_range_table(T, cont, cont, ELECTRON_MASS, 1.0, radiative_cut)
    table = tab.table.copy()
    table[:, 0] = total
    return RangeTable(tab.mass, tab.charge, tab.tcut, tab.log_t0, tab.dlog_t, table,
                      tab.log_r0, tab.dlog_r, tab.inverse)


def csda_range(T: np.ndarray | float, mass: float = MUON_MASS, charge: float = 1.0) -> np.ndarray:
    """CSDA range (cm) of a heavy charged particle with kinetic energy T (MeV) in LAr."""
    return heavy_range_table(float(mass), float(charge)).range(np.atleast_1d(np.asarray(T, float)))


def kinetic_energy_from_range(R: np.ndarray | float, mass: float = MUON_MASS,
                              charge: float = 1.0) -> np.ndarray:
    """Inverse of :func:`csda_range`."""
    return heavy_range_table(float(mass), float(charge)).energy(np.atleast_1d(np.asarray(R, float)))
