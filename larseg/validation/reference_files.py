"""larseg's images against statistics measured on public detector files (larseg issue 9).

SBND: CosmicTagger's ``example_data/cosmic_tagging_light.h5`` (LArSoft/GEANT4/CORSIKA simulation,
5 events, 3 planes × 2048 wires × 1280 rows, ``sbndwire`` with ``sbnd_cosmicseg`` labels): per plane
and event, voxels ≥ 5 ADC. The bands are the ranges over its 5 events; "≈ x" values get ±10 %.

MicroBooNE: processed real data (run 6324 / subrun 94 / event 4707, larcv1 ``image2d`` ``wire``,
3 × 3456 wires × 1008 rows of 6 ticks): pixels > 10 ADC. One event has no spread of its own. The
charge scale varies little from event to event: the simulated mean median must be within ±12 %
of the data's, the 90th percentile within ±15 %. Counts and maxima vary a lot (the number of
cosmic muons, their lengths, one bright pixel): the data event must be *typical* of the
simulation, inside the central 90 % (5th–95th percentile) of the simulated events. Fewer than
0.05 % of the pixels above 300 ADC, as stated.

Simulated samples: ``cosmics+neutrino`` (SBND) and ``cosmics`` (MicroBooNE: a data window of
cosmics). Counts are compared as the median over events (robust to the rare event with a
cosmic shower), ADC statistics as the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..sim.simulate import SimulationJob, simulate_event
from .checks import Check
from .image_stats import sample_stats

SBND_SOURCE = "CosmicTagger cosmic_tagging_light.h5 (5 events)"
UBOONE_SOURCE = "MicroBooNE data 6324/94/4707 (larcv1 wire)"
PLANE_NAMES = ("U", "V", "Y")
LABELS = {"n_selected": "voxels", "n_background": "background voxels",
          "median_background": "median ADC, background", "median": "median ADC",
          "p90": "90th percentile ADC", "n_cosmic": "cosmic voxels",
          "median_cosmic": "median ADC, cosmic", "n_neutrino": "neutrino voxels",
          "maximum": "maximum ADC", "fraction_above_300": "fraction of pixels > 300 ADC",
          "min_stored": "smallest stored ADC"}


@dataclass(frozen=True)
class Reference:
    detector: str
    plane: int
    statistic: str
    low: float
    high: float
    stated: str      # the reference as the source gives it
    source: str
    reduce: str = "mean"  # simulated events summarised by: mean, median, min; or "typical": the
    #                       reference value must lie within the simulated 5th–95th percentiles


def _approx(x: float, frac: float) -> tuple[float, float]:
    return x * (1 - frac), x * (1 + frac)


def _sbnd() -> list[Reference]:
    refs = []
    for p in range(3):
        refs.append(Reference("sbnd", p, "min_stored", 5.0, 5.05, "every voxel ≥ 5.0 (min 5)",
                              SBND_SOURCE, reduce="min"))
    for p in (0, 1):
        for stat, lo, hi, stated in (
                ("n_selected", 16_000, 27_000, "16–27 k"), ("n_background", 13_000, 15_000, "13–15 k"),
                ("median_background", *_approx(5.5, 0.1), "≈ 5.5"), ("median", 6, 11, "6–11"),
                ("p90", 32, 78, "32–78"), ("n_cosmic", 1_800, 10_000, "1.8–10 k"),
                ("median_cosmic", 41 * 0.9, 43 * 1.1, "≈ 41–43")):
            refs.append(Reference("sbnd", p, stat, lo, hi, stated, SBND_SOURCE,
                                  reduce="median" if stat.startswith("n_") else "mean"))
    for stat, lo, hi, stated in (
            ("n_selected", 3_000, 12_000, "3–12 k"), ("n_background", 500, 2_400, "0.5–2.4 k"),
            ("median", 36, 45, "36–45"), ("p90", 91, 140, "91–140"),
            ("n_cosmic", 1_800, 8_700, "1.8–8.7 k"), ("median_cosmic", *_approx(51, 0.1), "≈ 51")):
        refs.append(Reference("sbnd", 2, stat, lo, hi, stated, SBND_SOURCE,
                              reduce="median" if stat.startswith("n_") else "mean"))
    for p in range(3):
        refs.append(Reference("sbnd", p, "n_neutrino", 300, 3_800, "300–3,800", SBND_SOURCE,
                              reduce="median"))
    return refs


def _microboone() -> list[Reference]:
    refs = []
    data = {"n_selected": (12_800, 18_500, 12_600), "median": (36.6, 31.8, 40.1),
            "p90": (83, 80, 86), "maximum": (430, 567, 422)}
    for p in range(3):
        for stat, frac in (("median", 0.12), ("p90", 0.15)):
            x = data[stat][p]
            refs.append(Reference("microboone", p, stat, *_approx(x, frac),
                                  f"{x:,.1f}".rstrip("0").rstrip("."), UBOONE_SOURCE))
        for stat in ("n_selected", "maximum"):
            x = data[stat][p]
            refs.append(Reference("microboone", p, stat, x, x, f"{x:,}", UBOONE_SOURCE,
                                  reduce="typical"))
        refs.append(Reference("microboone", p, "fraction_above_300", 0.0, 5e-4, "< 0.05 %",
                              UBOONE_SOURCE))
    return refs


REFERENCES: tuple[Reference, ...] = tuple(_sbnd() + _microboone())

#: How each detector's reference selects pixels: (threshold, inclusive) and the sample compared.
SELECTION = {"sbnd": (5.0, True, "cosmics+neutrino"), "microboone": (10.0, False, "cosmics")}


def simulated_stats(detector: str, seed: int, n: int) -> dict[int, dict[str, np.ndarray]]:
    threshold, inclusive, generator = SELECTION[detector]
    job = SimulationJob(detector, generator, seed=seed)
    return sample_stats((simulate_event(job, i) for i in range(n)), threshold,
                        inclusive=inclusive)


def _fmt(stat: str, v: float) -> str:
    if stat == "fraction_above_300":
        return f"{100 * v:.3f} %"
    if stat.startswith("n_"):
        return f"{v:,.0f}"
    return f"{v:.1f}"


def check_reference_files(out: Path, seed: int, n: int = 20) -> list[Check]:
    """One check per (detector, plane, statistic), and a figure per detector."""
    checks = []
    for det in ("sbnd", "microboone"):
        stats = simulated_stats(det, seed, n)
        refs = [r for r in REFERENCES if r.detector == det]
        rows = []
        for r in refs:
            values = stats[r.plane][r.statistic]
            label = f"{PLANE_NAMES[r.plane]} {LABELS[r.statistic]}"
            if r.reduce == "typical":  # the reference event within the simulated central 90 %
                lo, hi = (float(x) for x in np.percentile(values, [10, 90]))
                point = r.low  # the data event's value
                ok = lo <= point <= hi
                measured = (f"5–95 %: {_fmt(r.statistic, lo)}–{_fmt(r.statistic, hi)} "
                            f"(median {_fmt(r.statistic, float(np.median(values)))})")
                band = f"{r.stated} (must lie in larseg's 5–95 % range)"
            else:
                lo, hi = r.low, r.high
                point = float(getattr(np, r.reduce)(values))
                ok = lo <= point <= hi
                spread = f" ({_fmt(r.statistic, values.min())}–{_fmt(r.statistic, values.max())})"
                measured = (f"{r.reduce} {_fmt(r.statistic, point)}"
                            + (spread if r.reduce != "min" else ""))
                band = f"{r.stated} (band {_fmt(r.statistic, lo)}–{_fmt(r.statistic, hi)})"
            checks.append(Check(f"{det} {label}", measured, band, r.source, bool(ok),
                                f"reference_{det}.png"))
            rows.append((label, r.statistic, lo, hi, point, values, bool(ok),
                         r.reduce == "typical"))
        _figure(out / f"reference_{det}.png", det, rows, n)
    return checks


def _figure(path: Path, det: str, rows, n: int) -> None:
    """Grey: the band (for a single data event: larseg's 5–95 % range); dot: larseg's value
    (for a single data event: the data's); thin line: the simulated events' range."""
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.4))
    for y, (label, stat, lo, hi, point, values, ok, typical) in enumerate(rows):
        scale = 0.5 * (lo + hi) or 1.0
        if stat == "fraction_above_300":
            scale = 5e-4
        ax.plot([lo / scale, hi / scale], [y, y], color="0.75", lw=6, solid_capstyle="butt")
        ax.plot([values.min() / scale, values.max() / scale], [y, y], color="C0", lw=1)
        ax.plot(point / scale, y, "D" if typical else "o", color="C2" if ok else "C3")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("value / centre of the band")
    ax.set_title(f"{det}: larseg ({n} events, blue: their range) vs the public file\n"
                 "grey: band, dot: larseg, diamond: the data event", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
