"""Full-image inference of a dense network by overlapping tiles, stitched by their centres.

SSNet trains on 512 × 512 crops (larseg/configs/ssnet.yaml, ``data.crop``) and is run on whole
MicroBooNE planes (1008 × 3456) by cutting them into tiles of the crop size. How it is done
here:

- the image is zero-padded at the bottom and right to multiples of ``multiple`` (the U-Net's
  2**depth), exactly as a one-pass full-image run (:func:`larseg.train.evaluate._padded_forward`)
  pads it; tiles lie inside that padded image and never overhang it;
- along each axis the tile origins are ``0, step, 2·step, …`` and a last tile flush with the
  padded end, ``step = tile − 2·margin`` rounded down to a multiple of ``multiple``: every origin
  is a multiple of 2**depth, so max-pooling and the stride-2 up-convolutions meet each pixel at
  the same phase as in the full-image run. A padded side shorter than the tile gets one tile of
  that side's length;
- stitching keeps each tile's central region: the kept regions partition the image, their
  borders at the middle of each overlap, so every kept pixel lies at least ``margin`` pixels
  from any cut edge of its tile (image borders are the image's own, as in the full run).

Why the centres and not averaged logits under a weight window: with ``margin`` at least the
network's receptive-field radius the stitched logits *are* the full-image logits (eval mode,
where BatchNorm is per pixel; tests/test_train_tiling.py), which no blend of two tiles gives.
With a smaller margin the result is an approximation whose error shrinks with the margin; so it
is for SSNet as configured (larseg/configs/ssnet.yaml: 5 levels, 2 blocks per level), whose
receptive field, bounded from its layer sizes (:func:`ssnet_field_radius`), reaches up to 472
pixels from a pixel: more than half a 512 tile.

:func:`tiled_forward` runs ``(B, P, H, W) -> (B, P, C, H, W)`` networks (the planes of a tile go
together, so a network that mixes planes is tiled correctly too), ``batch`` tiles per pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data._torch import torch
from ..errors import LarsegError

#: the margin (pixels not kept at each cut edge of a tile) as a fraction of the tile's shorter
#: side: our choice (the talk gives none): 64 pixels on a 512 tile, so a full 1008 × 3456 plane
#: takes 3 × 9 = 27 tiles; the module docstring says why it is below SSNet's receptive field
MARGIN_FRACTION = 1 / 8
DEFAULT_MARGIN = 64  # MARGIN_FRACTION of SSNet's 512 tile
#: tiles per forward pass (the training batch is 1 event of 3 crops: this is of that size)
DEFAULT_BATCH = 3


@dataclass(frozen=True)
class Tiling:
    """Tile shape (rows, columns), the margin not kept at each cut edge, tiles per pass."""

    tile: tuple[int, int] = (512, 512)  # SSNet's crop (larseg/configs/ssnet.yaml, data.crop)
    margin: int = DEFAULT_MARGIN
    batch: int = DEFAULT_BATCH


def padded_length(length: int, multiple: int) -> int:
    """``length`` rounded up to a multiple of ``multiple``."""
    return -(-length // multiple) * multiple


def tile_origins(length: int, tile: int, margin: int, multiple: int = 1) -> list[int]:
    """Origins of the tiles along one axis of ``length`` pixels (padded to ``multiple``), in
    increasing order; the last tile ends at the padded length."""
    if tile < 1 or tile % multiple:
        raise LarsegError(f"tile side {tile} must be a positive multiple of {multiple} "
                          "(the network's 2**depth)")
    if margin < 0:
        raise LarsegError(f"tile margin {margin} must be ≥ 0")
    full = padded_length(length, multiple)
    if full <= tile:
        return [0]
    step = (tile - 2 * margin) // multiple * multiple
    if step < multiple:
        raise LarsegError(f"tile margin {margin} leaves no step on a {tile}-pixel tile: it "
                          f"must be at most {(tile - multiple) // 2}")
    origins = list(range(0, full - tile, step))
    return origins + [full - tile]


def kept_bounds(origins: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """[start, stop) of the pixels each tile keeps: the image split at the middle of each
    overlap of consecutive tiles."""
    cuts = [(a + tile + b) // 2 for a, b in zip(origins, origins[1:])]
    starts, stops = [0, *cuts], [*cuts, length]
    return [(min(a, length), min(b, length)) for a, b in zip(starts, stops)]


def tile_plan(shape: tuple[int, int], tiling: Tiling, multiple: int = 1) -> list[tuple]:
    """For an (H, W) image: per tile ``(r0, c0, th, tw, (kr0, kr1), (kc0, kc1))``, its origin,
    its size (the tile, or the padded side where that is shorter) and the image rows and
    columns it keeps. The kept regions partition the image."""
    plan = []
    axes = []
    for length, side in zip(shape, tiling.tile):
        size = min(side, padded_length(length, multiple))
        origins = tile_origins(length, side, tiling.margin, multiple)
        axes.append((origins, size, kept_bounds(origins, size, length)))
    (rows, th, rkeep), (cols, tw, ckeep) = axes
    for r0, rk in zip(rows, rkeep):
        for c0, ck in zip(cols, ckeep):
            plan.append((r0, c0, th, tw, rk, ck))
    return plan


@torch.no_grad()
def tiled_forward(model, image, tiling: Tiling = Tiling(), multiple: int | None = None):
    """Logits (B, P, C, H, W) of ``image`` (B, P, H, W) computed tile by tile (module
    docstring); ``multiple`` defaults to the model's ``size_multiple`` (1 without one). The
    tiles run on the model's device; the logits come back on the image's device, in float32.
    The model's train / eval mode is left as it is (call ``model.eval()`` first)."""
    m = int(getattr(model, "size_multiple", 1)) if multiple is None else int(multiple)
    b, p, h, w = image.shape
    hp, wp = padded_length(h, m), padded_length(w, m)
    padded = torch.nn.functional.pad(image, (0, wp - w, 0, hp - h))
    plan = tile_plan((h, w), tiling, m)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = image.device
    out = None
    jobs = [(k, t) for k in range(b) for t in plan]
    for start in range(0, len(jobs), max(1, int(tiling.batch))):
        chunk = jobs[start:start + max(1, int(tiling.batch))]
        x = torch.stack([padded[k, :, r0:r0 + th, c0:c0 + tw]
                         for k, (r0, c0, th, tw, _, _) in chunk])
        logits = model(x.to(device)).float().to(image.device)
        if out is None:
            out = torch.empty((b, p, logits.shape[2], h, w), dtype=torch.float32,
                              device=image.device)
        for logit, (k, (r0, c0, _, _, (a, z), (l, r))) in zip(logits, chunk):
            out[k, :, :, a:z, l:r] = logit[:, :, a - r0:z - r0, l - c0:r - c0]
    return out


def ssnet_field_radius(depth: int, blocks_per_level: int, stem_kernel: int = 7) -> int:
    """A bound on how far (pixels, along either axis) an input pixel can change SSNet's output
    (:class:`larseg.models.ssnet.SSNet`), added up layer by layer: at scale s = 2**k a 3×3
    convolution reaches s pixels (two per residual block), a 2×2 max-pool or up-convolution at
    most s; the stem reaches stem_kernel // 2. A tile margin of at least this makes
    :func:`tiled_forward` equal the full-image run (eval mode)."""
    radius = stem_kernel // 2
    for k in range(depth):  # encoder level k: its blocks, then the pool to scale 2s
        radius += (2 * blocks_per_level + 1) << k
    radius += (2 * blocks_per_level) << depth  # the bottom blocks
    for k in range(depth):  # decoder level k: up-convolution, 3×3 merge, blocks
        radius += (2 * blocks_per_level + 2) << k
    return radius


def tiling_for(cfg, margin: int | None = None, batch: int = DEFAULT_BATCH) -> Tiling:
    """The tiling of a training config: tiles of its crop (``data.crop``, rows × columns), the
    margin ``margin`` or :data:`MARGIN_FRACTION` of the crop's shorter side."""
    rows, cols = (int(v) for v in cfg.data.crop)
    if margin is None:
        margin = int(min(rows, cols) * MARGIN_FRACTION)
    return Tiling((rows, cols), margin, batch)
