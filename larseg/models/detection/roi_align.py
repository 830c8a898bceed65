"""ROIAlign (He et al. 2017, "Mask R-CNN", section 3) in pure torch, differentiable.

Definition (that of torchvision's and detectron2's kernels): a ROI ``(b, x1, y1, x2, y2)`` in
image pixels is scaled by ``spatial_scale`` (and shifted by -0.5 pixel when ``aligned``, so that
a pixel's centre sits at integer + 0.5 as in the image; without ``aligned`` the ROI's width and
height are taken as at least 1). It is cut into ``output_size`` bins; each bin averages a
``g_h × g_w`` grid of regularly spaced samples (``g = sampling_ratio``, or when
``sampling_ratio <= 0`` adaptively ``ceil(roi_size / output_size)`` per ROI), each sample a
bilinear interpolation of the feature map. A sample with y < -1 or y > H (x < -1 or x > W)
contributes 0; one in [-1, 0] is read at 0, one beyond the last row or column at that row or
column.

How it is computed: a sample's bilinear weight and its out-of-map rule factor into a y part and
an x part, so that bin (p, q) is ``sum_r sum_s A_y[p, r] A_x[q, s] f[r, s]``, with
``A_y[p, r]`` the summed row weights of the samples of bin row p (likewise ``A_x``). Per ROI and
axis, the feature rows to gather are laid out in one of three ways, whichever is estimated
cheapest for that ROI: the 2 rows around each sample of each bin (``per_sample``), the
contiguous rows each bin's samples span (``per_bin``) — both contracted bin by bin — or the rows
the whole ROI spans (``per_roi``), contracted by a dense (out, rows) matrix. Two batched matrix
products contract the gathered patch. There is no loop over ROIs: the ROIs of one layout pair
are processed together, in chunks whose patches stay under about ``max_elements`` values
(sorted by size first, so that a chunk pads little). The gradient flows to ``features`` through
autograd; the ROIs get none (as in the standard op).
Memory: a channels-last copy of the features, the output and one chunk's patch (about
``max_elements`` values; 128 MB of float32 by default), and in backward their gradients.

Measured on this project's shared 2-core machine (2 threads, 512 ROIs of 16-216 × 16-416 image
pixels on a 256-channel stride-8 map of a 3456 × 1008 image; noisy, ratios more than seconds):
7 × 7 with sampling_ratio 2, forward 0.5-0.8 s, forward + backward ~1.9 s (torchvision's C++
kernel: 0.3-0.4 s, ~1.0 s); adaptive sampling and 14 × 14 outputs are 3-6 times slower than
torchvision. The values differ from torchvision 0.29.1's by < 1e-6 there (the tests in
``tests/test_detection_ops.py`` assert 1e-5, and 1e-4 on the gradients).
"""

from __future__ import annotations

from typing import NamedTuple

from ...data._torch import torch

Tensor = torch.Tensor

# 2**25 values = 128 MB of float32 for the gathered patch of one chunk
MAX_ELEMENTS = 1 << 25
# a matrix product costs about this many times less per value than a gathered value (a rough
# figure for memory-bound CPUs); it weighs the dense per_roi layout's extra multiplications
_MATMUL_PER_GATHER = 8.0


class AxisLayout(NamedTuple):
    """Feature indices (K, B, L) and weights (K, n_out, L) along one axis; B = n_out when bin p
    reads its own indices ``index[:, p]`` (``blocked``), B = 1 when every bin reads all L."""
    index: Tensor
    weight: Tensor
    blocked: bool


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _axis_samples(start: Tensor, length: Tensor, grid: Tensor, n_out: int,
                  size: int) -> tuple[Tensor, Tensor]:
    """Per ROI and output bin along one axis: the 2 feature indices around each sample and their
    weights (bilinear × inside-the-map / grid), as (K, n_out, G, 2) each, G = max grid."""
    g_max = max(int(grid.max()), 1)
    dtype, device = start.dtype, start.device
    bin_size = length / n_out
    p = torch.arange(n_out, dtype=dtype, device=device)
    g = torch.arange(g_max, dtype=dtype, device=device)
    grid_f = grid.to(dtype)
    # the C++ kernels' order of operations: start + p bin + (g + 1/2) bin / grid
    s = (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]
         + (g[None, None, :] + 0.5) * bin_size[:, None, None] / grid_f.clamp(min=1)[:, None, None])
    in_grid = g[None, None, :] < grid_f[:, None, None]
    s = torch.where(in_grid, s, s[..., :1])  # padding samples repeat the first one, weight 0
    inside = in_grid & (s >= -1.0) & (s <= size)
    s = s.clamp(min=0.0)
    low = s.floor().long()
    edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(s), s - low.to(dtype))
    w = inside.to(dtype) / grid_f.clamp(min=1)[:, None, None]
    return torch.stack([low, high], -1), torch.stack([(1.0 - frac) * w, frac * w], -1)


LAYOUTS = ("per_sample", "per_bin", "per_roi")


def _window(index: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor, int]:
    """The contiguous window of ``index`` over ``dims``, the positions in it, and its length."""
    lo = index.amin(dim=dims, keepdim=True)
    span = int((index.amax(dim=dims, keepdim=True) - lo).max()) + 1
    # indices past the map's end are clamped onto its last one: they get no weight
    rows = (lo + torch.arange(span, device=index.device)).clamp(max=int(index.max()))
    return rows, index - lo, span


def axis_layout(index: Tensor, weight: Tensor, kind: str) -> AxisLayout:
    """One axis's (K, n_out, G, 2) sample indices and weights in layout ``kind``."""
    k, n_out = index.shape[:2]
    index = index.reshape(k, n_out, -1)
    weight = weight.reshape(k, n_out, -1)
    if kind == "per_sample":
        return AxisLayout(index, weight, True)
    if kind not in LAYOUTS:
        raise ValueError(f"unknown layout {kind!r}; one of {LAYOUTS}")
    blocked = kind == "per_bin"
    rows, pos, span = _window(index, (2,) if blocked else (1, 2))
    summed = weight.new_zeros(k, n_out, span).scatter_add_(2, pos, weight)
    return AxisLayout(rows, summed, blocked)


def _layout_estimate(length: Tensor, grid: Tensor, n_out: int,
                     size: int) -> tuple[Tensor, Tensor]:
    """Per ROI along one axis: the index (into ``LAYOUTS``) of its cheapest layout and the
    indices that layout gathers (an upper estimate: a bin's samples span at most ceil(bin) + 2
    indices, the ROI's at most ceil(length) + 2). A gathered value is the main cost; the dense
    per_roi matrix also multiplies n_out times more per value."""
    gathered = torch.stack([
        n_out * 2 * grid.clamp(min=1),
        n_out * ((length / n_out).ceil().clamp(0, size).long() + 2),
        length.ceil().clamp(0, size).long() + 2])
    factor = torch.tensor([1.0, 1.0, float(n_out)], device=length.device)
    kind = (gathered * (1.0 + factor[:, None] / _MATMUL_PER_GATHER)).argmin(dim=0)
    return kind, gathered.gather(0, kind[None])[0]


def _pool(flat: Tensor, batch: Tensor, h: int, w: int, ly: AxisLayout, lx: AxisLayout) -> Tensor:
    """(m, out_h, out_w, C) from the features ``flat`` (N H W, C) for one chunk of ROIs."""
    m, by, ry = ly.index.shape
    _, bx, rx = lx.index.shape
    out_h, out_w, c = ly.weight.shape[1], lx.weight.shape[1], flat.shape[1]
    pixel = ((batch[:, None, None, None, None] * h + ly.index[:, :, :, None, None]) * w
             + lx.index[:, None, None, :, :])  # (m, by, ry, bx, rx)
    patch = flat.index_select(0, pixel.reshape(-1)).reshape(m, by, ry, bx * rx * c)
    if ly.blocked:  # bin row p contracts its own rows
        t = torch.matmul(ly.weight[:, :, None, :], patch)
    else:
        t = torch.matmul(ly.weight, patch[:, 0])
    t = t.reshape(m, out_h, bx, rx, c)
    if lx.blocked:
        return torch.matmul(lx.weight[:, None, :, None, :], t)[:, :, :, 0]
    return torch.matmul(lx.weight[:, None], t[:, :, 0])


def _chunks(rows: Tensor, cols: Tensor, channels: int, budget: int) -> list[Tensor]:
    """ROI indices grouped, smallest first, so that each chunk's patch (ROIs × largest rows ×
    largest cols × channels) stays <= budget (a single ROI above the budget goes alone)."""
    order = torch.argsort(rows * cols, stable=True)
    r, q = rows[order].tolist(), cols[order].tolist()
    out, first, max_r, max_q = [], 0, 0, 0
    for i in range(len(r)):
        new_r, new_q = max(max_r, r[i]), max(max_q, q[i])
        if i > first and (i - first + 1) * new_r * new_q * channels > budget:
            out.append(order[first:i])
            first, new_r, new_q = i, r[i], q[i]
        max_r, max_q = new_r, new_q
    out.append(order[first:])
    return out


def roi_align(features: Tensor, rois: Tensor, output_size: int | tuple[int, int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False,
              max_elements: int = MAX_ELEMENTS) -> Tensor:
    """(K, C, out_h, out_w) features of ``rois`` (K, 5: batch index, x1, y1, x2, y2, in image
    pixels) pooled from ``features`` (N, C, H, W); see the module docstring for the definition.
    ``max_elements`` bounds the values gathered at once (memory, not the result)."""
    out_h, out_w = _pair(output_size)
    n, c, h, w = features.shape
    k = rois.shape[0]
    if k == 0:
        return features.new_zeros(0, c, out_h, out_w)
    rois = rois.detach().to(features.dtype)
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    width = rois[:, 3] * spatial_scale - offset - x1
    height = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:  # the legacy definition: a ROI is at least one feature pixel wide
        width, height = width.clamp(min=1.0), height.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = torch.full((k,), sampling_ratio, dtype=torch.long, device=rois.device)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(height / out_h).clamp(min=0).long()
        grid_w = torch.ceil(width / out_w).clamp(min=0).long()
    iy, wy = _axis_samples(y1, height, grid_h, out_h, h)
    ix, wx = _axis_samples(x1, width, grid_w, out_w, w)
    kind_y, rows = _layout_estimate(height, grid_h, out_h, h)
    kind_x, cols = _layout_estimate(width, grid_w, out_w, w)
    batch = rois[:, 0].long()
    # one row per feature pixel with its C values contiguous: a gather is one index_select
    flat = features.permute(0, 2, 3, 1).reshape(n * h * w, c)
    out = features.new_empty(k, c, out_h, out_w)  # filled chunk by chunk, in the ROIs' order
    group = kind_y * len(LAYOUTS) + kind_x  # ROIs of one layout pair are chunked together
    for key in torch.unique(group).tolist():
        members = torch.nonzero(group == key).flatten()
        lay_y, lay_x = LAYOUTS[key // len(LAYOUTS)], LAYOUTS[key % len(LAYOUTS)]
        for part in _chunks(rows[members], cols[members], c, max_elements):
            idx = members[part]
            gh, gw = max(int(grid_h[idx].max()), 1), max(int(grid_w[idx].max()), 1)
            ly = axis_layout(iy[idx, :, :gh], wy[idx, :, :gh], lay_y)
            lx = axis_layout(ix[idx, :, :gw], wx[idx, :, :gw], lay_x)
            out.index_copy_(0, idx, _pool(flat, batch[idx], h, w, ly, lx).permute(0, 3, 1, 2))
    return out
