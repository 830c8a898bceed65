"""Charged tracks: range vs kinetic energy, Bragg peak, multiple Coulomb scattering."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..detectors.physics_constants import RADIATION_LENGTH_CM
from ..sim import physics
from ..sim.transport import TransportConfig
from .checks import Check, fmt, path_of, shoot

_SPECIES = {13: ("μ", physics.muon_table, physics.MUON_MASS, "PDG/Groom muon table"),
            211: ("π±", physics.pion_table, physics.PION_MASS, "Bethe table (PDG formula)"),
            2212: ("p", physics.pstar_table, physics.PROTON_MASS, "NIST PSTAR")}
_ENERGIES = np.array([10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 500.0])


def track_length(particles, deposits, pid: int = 0) -> float:
    """Path length of particle ``pid``: start -> deposit midpoints -> end."""
    s, pos, _ = path_of(deposits, pid)
    p = particles[pid]
    if len(pos) == 0:
        return float(np.linalg.norm(np.subtract(p.end[:3], p.start[:3])))
    return float(np.linalg.norm(pos[0] - p.start[:3]) + s[-1]
                 + np.linalg.norm(np.asarray(p.end[:3]) - pos[-1]))


def reference_range(table: np.ndarray, T: np.ndarray) -> np.ndarray:
    """CSDA range (cm) in LAr from a reference table (range in g/cm², LAr density 1.396 g/cm³)."""
    from ..detectors.physics_constants import LAR_DENSITY_G_CM3

    return np.exp(np.interp(np.log(T), np.log(table["T_MeV"]),
                            np.log(table["csda_range_g_cm2"]))) / LAR_DENSITY_G_CM3


def check_range(out: Path, rng: np.random.Generator, n: int = 20) -> Check:
    """Mean simulated path length of stopping μ, π, p (no hadronic interactions, no decays in
    flight, fluctuations on) against the CSDA tables."""
    cfg = TransportConfig(hadronic=False, decays=False)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    worst = 0.0
    for pdg, (name, table_fn, _, src) in _SPECIES.items():
        table = table_fn()
        ref = reference_range(table, _ENERGIES)
        sim = np.array([np.mean([track_length(p, d) for p, d in
                                 shoot(pdg, T, rng, n=n, config=cfg)]) for T in _ENERGIES])
        dev = sim / ref - 1
        worst = max(worst, float(np.max(np.abs(dev))))
        tt = np.geomspace(10, 500, 100)
        ax[0].loglog(tt, reference_range(table, tt), "-", label=f"{name}: {src}")
        ax[0].loglog(_ENERGIES, sim, "o", color=ax[0].lines[-1].get_color(), label=f"{name}: larseg")
        ax[1].plot(_ENERGIES, 100 * dev, "o-", label=name)
    ax[0].set(xlabel="kinetic energy (MeV)", ylabel="range in LAr (cm)", title="CSDA range")
    ax[0].legend(fontsize=7)
    ax[1].axhspan(-3, 3, color="0.9", label="±3 %")
    ax[1].set(xlabel="kinetic energy (MeV)", ylabel="simulated / table − 1 (%)", xscale="log",
              title=f"mean path length, {n} tracks per point")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "range.png", dpi=110)
    plt.close(fig)
    return Check("range vs kinetic energy (μ, π, p; 10–500 MeV)", f"max deviation {100 * worst:.1f} %",
                 "within 3 %", "NIST PSTAR (p), PDG/Groom (μ), Bethe/PDG (π)",
                 worst <= 0.03, "range.png")


def check_bragg(out: Path, rng: np.random.Generator) -> Check:
    """dE/dx vs residual range of stopping protons and muons; the Bragg rise at the end."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ratio = None
    last_cm: list[float] = []
    for pdg, T, label in ((2212, 200.0, "proton 200 MeV"), (13, 200.0, "muon 200 MeV")):
        resid_all, dedx_all = [], []
        for particles, deposits in shoot(pdg, T, rng, n=10, config=TransportConfig(hadronic=False,
                                                                                  decays=False)):
            s, pos, e = path_of(deposits, 0)
            if len(s) < 3:
                continue
            total = track_length(particles, deposits)
            ds = np.gradient(s)
            resid_all.append(total - s)
            if pdg == 2212:  # energy deposited in the last cm of the track, per cm
                last_cm.append(float(e[(total - s) < 1.0].sum()))
            dedx_all.append(e / np.maximum(ds, 1e-3))
        resid, dedx = np.concatenate(resid_all), np.concatenate(dedx_all)
        bins = np.geomspace(0.05, resid.max(), 40)
        idx = np.digitize(resid, bins)
        med = np.array([np.median(dedx[idx == i]) if np.any(idx == i) else np.nan
                        for i in range(1, len(bins))])
        centres = np.sqrt(bins[1:] * bins[:-1])
        ax.plot(centres, med, "o", ms=3, label=f"larseg {label} (median)")
        m = physics.PROTON_MASS if pdg == 2212 else physics.MUON_MASS
        t_of_r = physics.kinetic_energy_from_range(centres, mass=m)
        ax.plot(centres, physics.stopping_power(t_of_r, m), "-", color=ax.lines[-1].get_color(),
                label="CSDA dE/dx at that residual range")
        if pdg == 2212:
            mip = 2.12  # MeV/cm: minimum-ionising dE/dx of a muon in LAr (PDG: 1.519 MeV cm²/g × 1.396)
            ratio = float(np.mean(last_cm)) / mip
    ax.set(xscale="log", yscale="log", xlabel="residual range (cm)", ylabel="dE/dx (MeV/cm)",
           title="Bragg peak: dE/dx vs residual range")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "bragg.png", dpi=110)
    plt.close(fig)
    return Check("Bragg peak (proton, last 1 cm)", f"energy in the last cm = {fmt(ratio)} × MIP dE/dx",
                 "several × MIP, rising as the CSDA curve", "PDG stopping power", ratio > 4,
                 "bragg.png")


def check_highland(out: Path, rng: np.random.Generator, n: int = 1500) -> Check:
    """RMS projected scattering angle after a thickness x, against the Highland formula.

    x = X0/4: thin enough that the muon's momentum barely changes (Highland assumes a fixed
    momentum; over a whole X0 a 300 MeV/c muon loses ~15 % of it and scatters ~9 % more)."""
    cfg = TransportConfig(fluctuations=False, delta_rays=False, hadronic=False, decays=False)
    momenta = np.array([300.0, 1000.0, 3000.0])  # MeV/c muons
    depth = 0.25 * RADIATION_LENGTH_CM
    measured, predicted = [], []
    for pmom in momenta:
        T = np.sqrt(pmom**2 + physics.MUON_MASS**2) - physics.MUON_MASS
        angles = []
        for _, deposits in shoot(13, T, rng, n=n, config=cfg):
            s, pos, _ = path_of(deposits, 0)
            k = np.searchsorted(s, depth)
            if k + 1 >= len(s):
                continue
            d = pos[k + 1] - pos[k]
            angles.append(np.arctan2(d[0], d[2]))  # projected angle in the x-z plane
        beta = pmom / np.sqrt(pmom**2 + physics.MUON_MASS**2)
        measured.append(np.std(angles))
        predicted.append(float(physics.highland_theta0(pmom, beta, depth)))
    measured, predicted = np.array(measured), np.array(predicted)
    dev = measured / predicted - 1
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.loglog(momenta, 1e3 * predicted, "-", label="Highland (PDG eq. 34.15)")
    ax.loglog(momenta, 1e3 * measured, "o", label=f"larseg, {n} muons per point")
    ax.set(xlabel="muon momentum (MeV/c)", ylabel="θ₀ after X₀/4 = 3.5 cm (mrad)",
           title="multiple Coulomb scattering")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "highland.png", dpi=110)
    plt.close(fig)
    worst = float(np.max(np.abs(dev)))
    return Check("Highland angle after X₀/4 (μ, 0.3–3 GeV/c)", f"max deviation {100 * worst:.0f} %",
                 "within 10 %", "PDG eq. 34.15, X₀ = 14.0 cm", worst <= 0.10, "highland.png")
