"""Electromagnetic showers and Michel electrons."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..detectors.physics_constants import CRITICAL_ENERGY_MEV, RADIATION_LENGTH_CM
from ..sim import physics
from .checks import Check, fmt, shoot

_SHOWER_ENERGIES = (200.0, 500.0, 1000.0, 2000.0)


def longitudinal_profile(deposits, start: np.ndarray, axis: np.ndarray,
                         edges: np.ndarray) -> np.ndarray:
    depth = ((np.stack([deposits.x, deposits.y, deposits.z], 1) - start) @ axis) / RADIATION_LENGTH_CM
    return np.histogram(depth, bins=edges, weights=deposits.energy)[0]


def check_shower_profile(out: Path, rng: np.random.Generator, n: int = 40) -> Check:
    """Mean longitudinal energy profile of electron showers; depth of its maximum vs
    t_max = ln(E/Ec) − 0.5 (PDG eq. 34.36)."""
    edges = np.linspace(0, 25, 101)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    tmax_sim, tmax_ref = [], []
    for E in _SHOWER_ENERGIES:
        prof = np.zeros(len(centres))
        for particles, deposits in shoot(11, E, rng, n=n):
            start = np.asarray(particles[0].start[:3])
            prof += longitudinal_profile(deposits, start, np.array([0.0, 0.0, 1.0]), edges)
        prof /= n * E * (edges[1] - edges[0])
        # maximum of a smoothed profile (5-bin running mean) against the PDG formula
        smooth = np.convolve(prof, np.ones(5) / 5, mode="same")
        tmax_sim.append(centres[np.argmax(smooth)])
        tmax_ref.append(physics.shower_max(E, photon=False))
        ax[0].plot(centres, prof, label=f"e⁻ {E:.0f} MeV")
    ax[0].set(xlabel="depth (X₀ = 14 cm)", ylabel="(1/E) dE/dt", title=f"mean profile, {n} showers each")
    ax[0].legend()
    lnE = np.log(np.array(_SHOWER_ENERGIES) / CRITICAL_ENERGY_MEV)
    ax[1].plot(lnE, tmax_ref, "-", label="ln(E/Ec) − 0.5 (PDG eq. 34.36)")
    ax[1].plot(lnE, tmax_sim, "o", label="larseg")
    ax[1].set(xlabel="ln(E / Ec), Ec = 32.84 MeV", ylabel="shower maximum (X₀)", title="t_max vs energy")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / "shower_profile.png", dpi=110)
    plt.close(fig)
    dev = np.abs(np.array(tmax_sim) - np.array(tmax_ref))
    return Check("shower maximum vs E (e⁻, 0.2–2 GeV)", f"largest t_max offset {fmt(dev.max(), 2)} X₀",
                 "within 0.7 X₀ of ln(E/Ec) − 0.5", "PDG eq. 34.36, Ec = 32.84 MeV",
                 bool(dev.max() <= 0.7), "shower_profile.png")


def check_conversion(out: Path, rng: np.random.Generator, n: int = 400) -> Check:
    """Distance from a photon's start to its first deposit (its conversion point)."""
    dist = []
    for particles, deposits in shoot(22, 1000.0, rng, n=n):
        if len(deposits):
            # the conversion point is the earliest deposit (backscattered photons deposit later,
            # some of them upstream of the start)
            first = np.argmin(deposits.t)
            start = np.asarray(particles[0].start[:3])
            hit = np.array([deposits.x[first], deposits.y[first], deposits.z[first]])
            dist.append(float(np.linalg.norm(hit - start)))
    dist = np.asarray(dist)
    mean = float(np.mean(dist))
    mfp = float(physics.photon_mean_free_path(1000.0)[0])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(dist, bins=40, density=True, histtype="step", label=f"larseg, mean {mean:.1f} cm")
    x = np.linspace(0, dist.max(), 200)
    ax.plot(x, np.exp(-x / mfp) / mfp, label=f"exp(−x/λ), λ = {mfp:.1f} cm (cross sections)")
    ax.axvline(9 / 7 * RADIATION_LENGTH_CM, color="k", ls=":", label="9/7 X₀ = 18.0 cm (high-E limit)")
    ax.set(xlabel="conversion distance (cm)", ylabel="density", title="1 GeV photons")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "conversion.png", dpi=110)
    plt.close(fig)
    ok = abs(mean / mfp - 1) < 0.1 and 15 < mean < 22
    return Check("γ conversion distance (1 GeV)", f"mean {mean:.1f} cm",
                 f"λ = {mfp:.1f} cm at 1 GeV (→ 9/7 X₀ = 18.0 cm at high energy)",
                 "PDG: λ_pair → 9/7 X₀", ok, "conversion.png",
                 notes=["photon showers start detached from their vertex"])


def check_michel(out: Path, rng: np.random.Generator, n: int = 600) -> Check:
    """Energy spectrum of Michel electrons from stopping μ+ (which always decay)."""
    energies = []
    for particles, _ in shoot(-13, 50.0, rng, n=n):
        for p in particles:
            if abs(p.pdg) == 11 and p.process in ("Decay", "DecayWithSpin") and p.parent_id == 0:
                energies.append(p.energy_init - physics.ELECTRON_MASS)
    e = np.asarray(energies)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(e, bins=30, range=(0, 60), density=True, histtype="step",
            label=f"larseg, {len(e)} Michel e⁺")
    x = np.linspace(0, physics.MICHEL_ENDPOINT, 200)
    pdf = physics.michel_pdf(x)
    ax.plot(x, pdf / np.trapezoid(pdf, x), label="x²(3 − 2x), endpoint 52.8 MeV")
    ax.set(xlabel="kinetic energy (MeV)", ylabel="density", title="Michel spectrum")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "michel.png", dpi=110)
    plt.close(fig)
    ref_mean = float(np.trapezoid(x * pdf, x) / np.trapezoid(pdf, x))
    tol = 3 * e.std() / np.sqrt(len(e))  # 3 standard errors of the mean
    ok = (len(e) > 0.9 * n and e.max() <= physics.MICHEL_ENDPOINT + 0.1
          and abs(e.mean() - ref_mean) < tol)
    return Check("Michel spectrum (stopping μ⁺)",
                 f"mean {e.mean():.1f} MeV, max {e.max():.1f} MeV, {len(e)}/{n} decays",
                 f"mean {ref_mean:.1f} ± {tol:.1f} MeV (3 s.e.), endpoint 52.8 MeV", "Michel spectrum (leading order)",
                 ok, "michel.png")
