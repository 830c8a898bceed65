"""Run every validation check and write the markdown page with its figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .checks import Check


def run_all(out_dir: Path, *, seed: int = 12345, quick: bool = False,
            on_check: Callable[[Check], None] | None = None) -> list[Check]:
    from . import events, showers, tracks

    fig_dir = out_dir / "physics"
    fig_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    scale = 4 if quick else 1
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: tracks.check_range(fig_dir, rng, n=max(20 // scale, 3)),
        lambda: tracks.check_bragg(fig_dir, rng),
        lambda: tracks.check_highland(fig_dir, rng, n=max(1500 // scale, 400)),
        lambda: showers.check_shower_profile(fig_dir, rng, n=max(40 // scale, 20)),
        lambda: showers.check_conversion(fig_dir, rng, n=max(400 // scale, 50)),
        lambda: showers.check_michel(fig_dir, rng, n=max(600 // scale, 100)),
        lambda: events.check_cosmic_multiplicity(fig_dir, rng, n=max(400 // scale, 50)),
        lambda: events.check_sbnd_occupancy(fig_dir, seed, n=max(20 // scale, 4)),
        lambda: events.check_sparsessnet_occupancy(seed, n=max(20 // scale, 4)),
        lambda: events.check_labels(seed, n=max(10 // scale, 2)),
    ]
    results: list[Check] = []
    for step in steps:
        got = step()
        for c in got if isinstance(got, list) else [got]:
            results.append(c)
            if on_check is not None:
                on_check(c)
    write_markdown(out_dir / "physics.md", results, seed=seed, quick=quick)
    return results


def write_markdown(path: Path, checks: list[Check], *, seed: int, quick: bool) -> None:
    lines = [
        "# Simulator physics validation",
        "",
        f"Written by `larseg validate-physics{' --quick' if quick else ''}` (seed {seed}) on "
        f"{time.strftime('%Y-%m-%d')}. Every number below comes from that command: it simulates "
        "with the real generators, transport and readout and compares with the reference named.",
        "",
        "| check | larseg | reference | source | |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        mark = "pass" if c.passed else "**FAIL**"
        lines.append(f"| {c.name} | {c.measured} | {c.reference} | {c.source} | {mark} |")
    lines.append("")
    seen = set()
    for c in checks:
        if c.notes:
            lines += [f"- {c.name}: " + "; ".join(c.notes)]
    lines.append("")
    for c in checks:
        if c.figure and c.figure not in seen:
            seen.add(c.figure)
            lines += [f"## {c.name}", "", f"![{c.name}](physics/{c.figure})", ""]
            caption = CAPTIONS.get(c.figure)
            if caption:
                lines += [caption, ""]
    path.write_text("\n".join(lines))


CAPTIONS = {
    "range.png": "Mean path length of stopping tracks (hadronic interactions and decays off, "
                 "energy-loss fluctuations and δ-rays on) against the reference CSDA tables.",
    "bragg.png": "Median dE/dx per step against residual range, with the CSDA stopping power at "
                 "the same residual range. Medians sit below the mean loss where Landau "
                 "fluctuations are large (thin steps of minimum-ionising muons), as they should; "
                 "the last points rise above it because the final step is shorter than its "
                 "estimated length.",
    "highland.png": "RMS of the projected angle of muons after a quarter radiation length (fluctuations "
                    "and δ-rays off) against the Highland formula.",
    "shower_profile.png": "Mean longitudinal profiles of electron showers and the depth of their "
                          "maximum against t_max = ln(E/Ec) − 0.5.",
    "conversion.png": "Distance from a 1 GeV photon's start to its first energy deposit: photon "
                      "showers are detached from the vertex.",
    "michel.png": "Kinetic energy of Michel positrons from stopping μ⁺ against the leading-order "
                  "Michel spectrum.",
    "cosmic_multiplicity.png": "Cosmic muons crossing the active volume per readout window "
                               "(MicroBooNE 5.36 ms, SBND 2.56 ms of possible arrival times).",
    "sbnd_occupancy.png": "Pixels per plane of SBND cosmics+neutrino events downsampled to 1024 × "
                          "640 (max pooling of ADC and labels), against the SBND paper's averages "
                          "(dotted).",
}
