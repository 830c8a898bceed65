"""Occlusion maps: which parts of the input a dense network's prediction at a pixel relies on
(the talk on PRD 99, 092001, slides "Inter-pixel correlation": masking parts of the image to see
whether SSNet uses the Bragg peak for tracks and the branching for showers; the sliding mask is
Zeiler & Fergus 2014's occlusion study).

:func:`occlusion_map` slides a ``size`` × ``size`` square of value ``fill`` (0: no charge) over
one plane of the input with step ``stride`` and records, per mask position, the change of the
predicted probability of one class — at one pixel or averaged over a region — from the
unmasked image: ``p(masked) − p(unmasked)``. Negative values: the masked area supported the
class. Mask positions are the top-left corners ``0, stride, 2·stride, …`` while the square fits
(:func:`mask_origins`); with a stride that does not divide ``side − size``, the last few rows or
columns are never masked. The model runs in eval mode (BatchNorm with its running statistics, so
the masked copies of a batch do not affect each other) and is put back in its previous mode.

:func:`occlusion_figure` draws the ADC, the map (each value at its mask's centre) and the chosen
pixel or region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data._torch import torch


def mask_origins(length: int, size: int, stride: int) -> np.ndarray:
    """Top-left coordinates of the mask along one axis of ``length`` pixels."""
    if size < 1 or stride < 1 or size > length:
        raise ValueError(f"mask size {size} / stride {stride} do not fit {length} pixels")
    return np.arange(0, length - size + 1, stride)


def _target(pixel, region, shape: tuple[int, int]):
    if (pixel is None) == (region is None):
        raise ValueError("give either pixel=(row, column) or region (an (H, W) bool mask)")
    if pixel is not None:
        mask = np.zeros(shape, dtype=bool)
        mask[int(pixel[0]), int(pixel[1])] = True
        return mask
    mask = np.asarray(region, dtype=bool)
    if mask.shape != shape or not mask.any():
        raise ValueError(f"region must be a non-empty {shape} bool mask")
    return mask


@torch.no_grad()
def occlusion_map(model, image, *, target_class: int | None = None, pixel=None, region=None,
                  plane: int = 0, size: int = 16, stride: int = 8, fill: float = 0.0,
                  batch: int = 16) -> np.ndarray:
    """(len(mask_origins(H)), len(mask_origins(W))) array: the change of the probability of
    ``target_class`` (default: the class the unmasked image predicts there, the most frequent
    over a region) at ``pixel`` or over ``region`` of ``plane``, when the mask sits at each
    position. ``image`` (P, H, W); ``model`` maps (B, P, H, W) to logits (B, P, C, H, W)."""
    x = torch.as_tensor(np.asarray(image), dtype=torch.float32)
    _, h, w = x.shape
    target = torch.from_numpy(_target(pixel, region, (h, w)))
    rows, cols = mask_origins(h, size, stride), mask_origins(w, size, stride)
    was_training = model.training
    model.eval()
    try:
        def prob(inputs):  # (B, C, H, W) probabilities of the plane
            return torch.softmax(model(inputs).float(), dim=2)[:, plane]

        if target_class is None:
            p0 = prob(x[None])[0]
            target_class = int(torch.mode(p0.argmax(dim=0)[target]).values)
        origins = [(r, c) for r in rows for c in cols]
        out = np.empty(len(origins), dtype=np.float64)
        for k in range(0, len(origins), batch):
            chunk = origins[k:k + batch]
            # the unmasked image rides along as the chunk's last item: the reference is
            # computed by the same kernels, so masks outside the receptive field give exactly 0
            masked = x.repeat(len(chunk) + 1, 1, 1, 1)
            for i, (r, c) in enumerate(chunk):
                masked[i, plane, r:r + size, c:c + size] = fill
            p = prob(masked)[:, target_class][:, target].mean(dim=1).double()
            out[k:k + len(chunk)] = (p[:-1] - p[-1]).numpy()
    finally:
        model.train(was_training)
    return out.reshape(len(rows), len(cols))


def occlusion_figure(image, omap: np.ndarray, path: Path, *, pixel=None, region=None,
                     size: int = 16, stride: int = 8, title: str = "") -> Path:
    """Two panels: the plane's ADC with the chosen pixel (or region outline), and the occlusion
    map ``omap`` (from :func:`occlusion_map` with the same ``size`` and ``stride``), each value
    drawn over its mask's centre, on a colour scale symmetric about 0."""
    import matplotlib.pyplot as plt

    adc = np.asarray(image, dtype=np.float64)
    h, w = adc.shape
    rows, cols = mask_origins(h, size, stride), mask_origins(w, size, stride)
    if omap.shape != (len(rows), len(cols)):
        raise ValueError(f"map shape {omap.shape} does not match size {size} / stride {stride} "
                         f"on a {h} × {w} image")
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
    axes[0].imshow(adc, origin="lower", cmap="viridis", vmin=0,
                   vmax=max(float(np.percentile(adc[adc > 0], 99)) if (adc > 0).any() else 1, 1))
    axes[0].set(title="ADC", xlabel="wire", ylabel="time row")
    half = stride / 2  # each cell spans one stride around its mask's centre
    extent = (cols[0] + size / 2 - half - 0.5, cols[-1] + size / 2 + half - 0.5,
              rows[0] + size / 2 - half - 0.5, rows[-1] + size / 2 + half - 0.5)
    lim = max(float(np.abs(omap).max()), 1e-12)
    im = axes[1].imshow(omap, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, extent=extent)
    axes[1].set(title="Δ probability when masked", xlabel="wire", xlim=(-0.5, w - 0.5),
                ylim=(-0.5, h - 0.5))
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    for ax in axes:
        if pixel is not None:
            ax.plot([pixel[1]], [pixel[0]], marker="x", color="magenta", ms=9, mew=2)
        if region is not None:
            ax.contour(np.asarray(region, dtype=float), levels=[0.5], colors="magenta",
                       linewidths=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
