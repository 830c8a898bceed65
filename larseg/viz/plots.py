"""Metric pictures: confusion matrices as the papers draw them (note 1091 Figs. 4, 5)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def confusion_figure(matrices: dict[str, Sequence[Sequence[float]]], names: Sequence[str],
                     path: Path, title: str = "") -> Path:
    """One panel per plane: truth on x, prediction on y, the matrices as given (rows: truth,
    columns: prediction), e.g. normalised by truth (each drawn column sums to 1, note 1091's
    Figs. 4, 5, 11, 12) or by prediction (each drawn row sums to 1)."""
    import matplotlib.pyplot as plt

    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 0.6, 3.6), squeeze=False)
    for ax, (plane, m) in zip(axes[0], matrices.items()):
        a = np.asarray(m, dtype=float).T  # rows: prediction, columns: truth
        ax.imshow(np.nan_to_num(a), vmin=0, vmax=1, cmap="Blues", origin="lower")
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                if np.isfinite(a[i, j]):
                    ax.text(j, i, f"{a[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if a[i, j] > 0.6 else "black")
        ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="truth",
               ylabel="prediction", title=f"plane {plane}")
        ax.set_xticklabels(names, rotation=45, fontsize=7)
        ax.set_yticklabels(names, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_CATEGORY_STYLE = {"nue_cc": ("νe CC", "tab:green"), "numu_cc": ("νμ CC", "tab:blue"),
                   "nc": ("NC", "tab:orange"), "cosmic_only": ("cosmic only", "tab:gray")}


def selection_figure(records, result, path: Path, min_pixels: int, max_separation: float
                     ) -> Path:
    """The SBND paper's event selection: each cut's distribution per category (with the cut
    drawn) and efficiency vs cosmic-only rejection over the pixel cut."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    bins = np.logspace(0, 5, 41)
    for cat, (label, colour) in _CATEGORY_STYLE.items():
        rs = [r for r in records if r.category == cat]
        if not rs:
            continue
        fewest = np.array([max(min(r.neutrino_pixels), 1) for r in rs])
        axes[0].hist(fewest, bins=bins, histtype="step", color=colour, label=f"{label} ({len(rs)})")
        sep = np.array([min(r.row_separation(), 999.0) for r in rs
                        if min(r.neutrino_pixels) >= min_pixels])
        axes[1].hist(sep, bins=np.linspace(0, 400, 41), histtype="step", color=colour,
                     label=label)
    axes[0].axvline(min_pixels, color="k", ls="--")
    axes[0].set(xscale="log", xlabel="neutrino-tagged pixels on the plane with fewest",
                ylabel="events", title="cut 1: pixels on every plane")
    axes[0].legend(fontsize=7)
    axes[1].axvline(max_separation, color="k", ls="--")
    axes[1].set(xlabel="largest mean-row separation between planes (px)", ylabel="events",
                title="cut 2 (events passing cut 1)")
    ax = axes[2]
    rej = [c["rejection"] for c in result.curve]
    for cat in ("nue_cc", "numu_cc", "nc"):
        label, colour = _CATEGORY_STYLE[cat]
        ax.plot(rej, [c[cat] for c in result.curve], "o-", ms=3, color=colour, label=label)
        ax.plot(result.rejection, result.efficiency[cat], "*", ms=11, color=colour)
    ax.set(xlabel="cosmic-only rejection", ylabel="efficiency", xlim=(0, 1.02), ylim=(0, 1.02),
           title="over the pixel cut (★: the paper's cuts)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def iou_energy_figure(by_energy: dict[str, list[dict]], path: Path) -> Path:
    """Mean per-event neutrino IoU against neutrino energy per category (the SBND paper's
    Figure 9)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for cat, rows in by_energy.items():
        label, colour = _CATEGORY_STYLE[cat]
        x = [np.mean(r["energy_mev"]) / 1000 for r in rows if r["events"]]
        y = [r["mean_iou"] for r in rows if r["events"]]
        ax.plot(x, y, "o-", color=colour, label=label)
    ax.set(xlabel="neutrino energy (GeV)", ylabel="mean neutrino IoU per event", ylim=(0, 1),
           title="neutrino IoU vs energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
