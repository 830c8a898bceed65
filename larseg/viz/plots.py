"""Metric pictures: confusion matrices as the papers draw them (note 1091 Figs. 4, 5)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def confusion_figure(matrices: dict[str, Sequence[Sequence[float]]], names: Sequence[str],
                     path: Path, title: str = "") -> Path:
    """One panel per plane: truth on x, prediction on y, each column normalised by its truth."""
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
