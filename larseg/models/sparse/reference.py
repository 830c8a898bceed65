"""The pure-torch sparse backend: a coordinate hash (sorted site keys + binary search), a gather
of each output site's K = k×k neighbours (a zero row where a neighbour is inactive) and one
matmul with the (C_out, k·k·C_in) weight. Autograd gives the backward.

It defines the convolutions larseg means (the tests check spconv against it):

- submanifold, odd k: output on the input sites only,
  out[p] = Σ_ij W[:, i, j] · x[p + (i, j) - k//2] (a cross-correlation, as
  ``torch.nn.functional.conv2d`` with padding k//2, restricted to the active sites);
- strided (kernel k, stride s, no padding): output sites are every q with an active input in its
  window, out[q] = Σ_ij W[:, i, j] · x[s·q + (i, j)], spatial shape (H - k)//s + 1, in the order
  of their keys (spconv's order may differ);
- inverse of a strided convolution (found by its ``key``): back onto exactly that convolution's
  input sites, in their order, out[p] = Σ W[:, i, j] · x[q] over the pairs s·q + (i, j) = p.

The neighbour maps are built with a dense lookup table (the row of every cell of the batch's
B × H × W grid, int32) where that grid has at most :data:`TABLE_CELLS` cells, all window
positions in one gather; on a larger grid with the sorted keys and a binary search per window
position (:class:`SiteIndex`). Both give the same maps; the table is the faster (all maps of
the sparse cosmic tagger for one simulated SBND event at 3 × 640 × 1024, one thread: 0.04-0.07 s
of CPU by table, 0.22-0.31 s by binary search).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...data._torch import torch
from .layers import conv_weight_shape, init_conv_
from .tensor import SparseTensor

nn = torch.nn
Tensor = torch.Tensor


def _keys(coords: Tensor, shape: tuple[int, int]) -> Tensor:
    h, w = shape
    c = coords.long()
    return (c[:, 0] * h + c[:, 1]) * w + c[:, 2]


def _coords_of(keys: Tensor, shape: tuple[int, int]) -> Tensor:
    h, w = shape
    return torch.stack([keys // (h * w), (keys // w) % h, keys % w], dim=1).to(torch.int32)


class SiteIndex:
    """Row of each active site, by coordinates: sorted keys searched with ``searchsorted``."""

    def __init__(self, coords: Tensor, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.n = int(coords.shape[0])
        self.sorted, self.order = torch.sort(_keys(coords, shape))

    def find(self, coords: Tensor) -> Tensor:
        """Row of each (batch, row, column) in ``coords`` (long, may lie outside the image),
        ``n`` (the index of the zero row of a gather) where the site is not active."""
        h, w = self.shape
        inside = ((coords[:, 1] >= 0) & (coords[:, 1] < h)
                  & (coords[:, 2] >= 0) & (coords[:, 2] < w))
        miss = torch.full((len(coords),), self.n, dtype=torch.long, device=coords.device)
        if self.n == 0:
            return miss
        keys = _keys(coords, self.shape)
        pos = torch.searchsorted(self.sorted, keys).clamp(max=self.n - 1)
        hit = inside & (self.sorted[pos] == keys)
        return torch.where(hit, self.order[pos], miss)


def _offsets(kernel: int, device) -> Tensor:
    """(k·k, 2) offsets (i, j) in the weight's row-major order."""
    r = torch.arange(kernel, device=device)
    return torch.cartesian_prod(r, r).reshape(-1, 2)


#: the largest B·H·W grid whose neighbour maps come from a dense lookup table (int32, 4 bytes a
#: cell: 64 MB at most); beyond it the maps use sorted keys and binary search
TABLE_CELLS = 1 << 24


def _batch_bound(coords: Tensor) -> int:
    return int(coords[:, 0].max()) + 1 if len(coords) else 0


def _lookup(table: Tensor, cells: Tensor) -> Tensor:
    """table[cells] for any shape of ``cells`` (index_select: faster than advanced indexing,
    and it takes int32 cell numbers without converting them)."""
    return table.index_select(0, cells.reshape(-1)).view(cells.shape)


def _row_table(keys: Tensor, cells: int) -> Tensor:
    """(cells,) int32: the row of the site with each key, len(keys) on an empty cell."""
    n = len(keys)
    table = torch.full((cells,), n, dtype=torch.int32, device=keys.device)
    table[keys] = torch.arange(n, dtype=torch.int32, device=keys.device)
    return table


def submanifold_rows(coords: Tensor, shape: tuple[int, int], kernel: int,
                     table_cells: int = TABLE_CELLS) -> Tensor:
    """:func:`submanifold_map`, int32 where it comes from the lookup table (long otherwise):
    the index dtype ``index_select`` takes as it is, without a conversion pass."""
    c = coords.long()
    pad = kernel // 2
    hp, wp = shape[0] + 2 * pad, shape[1] + 2 * pad
    cells = _batch_bound(c) * hp * wp
    if 0 < cells <= table_cells:
        # a table padded by k//2 on every side: every window position is a cell, no bounds test
        corner = (c[:, 0] * hp + c[:, 1]) * wp + c[:, 2]  # the window's top-left, padded
        table = _row_table(corner + pad * wp + pad, cells)
        off = _offsets(kernel, c.device)
        # cells < 2^31: the (N, k·k) cell numbers fit int32 (half the memory traffic of long)
        step = (off[:, 0] * wp + off[:, 1]).to(torch.int32)
        return _lookup(table, corner.to(torch.int32)[:, None] + step[None])
    return _submanifold_by_search(coords, shape, kernel)


def submanifold_map(coords: Tensor, shape: tuple[int, int], kernel: int,
                    table_cells: int = TABLE_CELLS) -> Tensor:
    """(N, k·k) rows of each site's neighbours (N for an inactive one), long."""
    return submanifold_rows(coords, shape, kernel, table_cells).long()


def _submanifold_by_search(coords: Tensor, shape: tuple[int, int], kernel: int) -> Tensor:
    c = coords.long()
    index = SiteIndex(coords, shape)
    cols = []
    for di, dj in (_offsets(kernel, c.device) - kernel // 2).tolist():
        cols.append(index.find(c + c.new_tensor([0, di, dj])))
    return torch.stack(cols, dim=1)


@dataclass(frozen=True)
class StridedMap:
    """A strided convolution's sites and neighbour rows, kept for its inverse."""

    in_coords: Tensor
    in_shape: tuple[int, int]
    out_coords: Tensor
    out_shape: tuple[int, int]
    down: Tensor     # (M, k·k): input row of each output site's window position
    up: Tensor       # (N, k·k): output row that input site feeds through each window position
    kernel: int
    stride: int


def strided_map(coords: Tensor, shape: tuple[int, int], kernel: int, stride: int,
                table_cells: int = TABLE_CELLS) -> StridedMap:
    h, w = shape
    out_shape = ((h - kernel) // stride + 1, (w - kernel) // stride + 1)
    c = coords.long()
    batches = _batch_bound(c)
    if 0 < batches * h * w <= table_cells and min(out_shape) > 0:
        return _strided_map_by_table(c, coords, shape, out_shape, kernel, stride, batches)
    offsets = _offsets(kernel, c.device)
    # Output sites: every q with s·q + d = p for an active p and a window position d.
    candidates = []
    for di, dj in offsets.tolist():
        r, col = c[:, 1] - di, c[:, 2] - dj
        ok = (r >= 0) & (col >= 0) & (r % stride == 0) & (col % stride == 0)
        q = torch.stack([c[:, 0], r // stride, col // stride], dim=1)[ok]
        ok = (q[:, 1] < out_shape[0]) & (q[:, 2] < out_shape[1])
        candidates.append(_keys(q[ok], out_shape))
    out_coords = _coords_of(torch.unique(torch.cat(candidates)), out_shape)
    in_index, out_index = SiteIndex(coords, shape), SiteIndex(out_coords, out_shape)
    q = out_coords.long()
    down, up = [], []
    for di, dj in offsets.tolist():
        d = c.new_tensor([0, di, dj])
        down.append(in_index.find(q * c.new_tensor([1, stride, stride]) + d))
        rel = c - d
        ok = (rel[:, 1] % stride == 0) & (rel[:, 2] % stride == 0)
        found = out_index.find(torch.div(rel, c.new_tensor([1, stride, stride]),
                                         rounding_mode="floor"))
        up.append(torch.where(ok, found, torch.full_like(found, out_index.n)))
    return StridedMap(coords, shape, out_coords, out_shape, torch.stack(down, dim=1),
                      torch.stack(up, dim=1), kernel, stride)


def _strided_map_by_table(c: Tensor, coords: Tensor, shape: tuple[int, int],
                          out_shape: tuple[int, int], kernel: int, stride: int,
                          batches: int) -> StridedMap:
    """:func:`strided_map` with lookup tables (the same map: output sites in key order)."""
    (h, w), (oh, ow) = shape, out_shape
    off = _offsets(kernel, c.device)
    occupied = torch.zeros(batches * oh * ow, dtype=torch.bool, device=c.device)
    if kernel == stride:
        # windows that tile the grid: site p feeds one output, q = p // s at d = p % s (none
        # where p lies past the last whole window)
        q = torch.div(c[:, 1:], stride, rounding_mode="floor")
        feeds = (q[:, 0] < oh) & (q[:, 1] < ow)
        q_keys = (c[:, 0] * oh + q[:, 0]) * ow + q[:, 1]
        d = (c[:, 1] - stride * q[:, 0]) * kernel + (c[:, 2] - stride * q[:, 1])
    else:
        # input site p feeds output q through window position d where s·q + d = p
        rel = c[:, None, 1:] - off[None]                                 # (N, K, 2)
        q = torch.div(rel, stride, rounding_mode="floor")
        feeds = ((rel >= 0) & (rel % stride == 0)).all(dim=2) \
            & (q[..., 0] < oh) & (q[..., 1] < ow)                         # (N, K)
        q_keys = (c[:, None, 0] * oh + q[..., 0]) * ow + q[..., 1]
    occupied[q_keys[feeds]] = True
    out_keys = occupied.nonzero()[:, 0]  # ascending: the key order of the binary-search path
    out_coords = _coords_of(out_keys, out_shape)
    out_table = _row_table(out_keys, len(occupied))
    m = len(out_keys)
    found = torch.where(feeds, _lookup(out_table, q_keys.clamp(0, len(occupied) - 1)).long(), m)
    if kernel == stride:
        up = torch.full((len(c), kernel * kernel), m, dtype=torch.long, device=c.device)
        up[torch.arange(len(c), device=c.device), d] = found
    else:
        up = found
    # output q reads input s·q + d: inside the grid for every window position (no padding)
    oq = out_coords.long()
    corner = (oq[:, 0] * h + stride * oq[:, 1]) * w + stride * oq[:, 2]
    in_table = _row_table((c[:, 0] * h + c[:, 1]) * w + c[:, 2], batches * h * w)
    down = _lookup(in_table, corner[:, None] + (off[:, 0] * w + off[:, 1])[None]).long()
    return StridedMap(coords, shape, out_coords, out_shape, down, up, kernel, stride)


def gather_conv(features: Tensor, rows: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Σ over window positions of W[:, d] · features[rows[:, d]] (row N reads zeros)."""
    padded = torch.cat([features, features.new_zeros(1, features.shape[1])])
    cols = padded.index_select(0, rows.reshape(-1)).reshape(rows.shape[0],
                                                            rows.shape[1] * features.shape[1])
    out = cols @ weight.reshape(weight.shape[0], -1).t()
    return out if bias is None else out + bias


class _Conv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool, key: str | None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel, self.key = c_in, c_out, kernel, key
        self.weight = nn.Parameter(torch.empty(conv_weight_shape(c_in, c_out, kernel)))
        self.bias = nn.Parameter(torch.empty(c_out)) if bias else None
        init_conv_(self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={self.kernel}, "
                f"key={self.key!r}, bias={self.bias is not None}")


class SubmanifoldConv(_Conv):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, *, bias: bool = False,
                 key: str | None = None) -> None:
        if kernel % 2 != 1:
            raise ValueError(f"a submanifold convolution needs an odd kernel, got {kernel}")
        super().__init__(c_in, c_out, kernel, bias, key)

    def forward(self, x: SparseTensor) -> SparseTensor:
        cache = x.cache
        rows = cache.get(self.key) if self.key is not None else None
        if not isinstance(rows, Tensor) or rows.shape != (x.n_sites, self.kernel ** 2):
            rows = submanifold_map(x.coords, x.spatial_shape, self.kernel)
            if self.key is not None:
                cache = {**cache, self.key: rows}
        out = gather_conv(x.features, rows, self.weight, self.bias)
        return SparseTensor(x.coords, out, x.spatial_shape, x.batch_size, cache)


class StridedConv(_Conv):
    def __init__(self, c_in: int, c_out: int, kernel: int = 2, stride: int = 2, *,
                 bias: bool = False, key: str | None = None) -> None:
        super().__init__(c_in, c_out, kernel, bias, key)
        self.stride = stride

    def forward(self, x: SparseTensor) -> SparseTensor:
        m = strided_map(x.coords, x.spatial_shape, self.kernel, self.stride)
        cache = x.cache if self.key is None else {**x.cache, self.key: m}
        out = gather_conv(x.features, m.down, self.weight, self.bias)
        return SparseTensor(m.out_coords, out, m.out_shape, x.batch_size, cache)


class InverseConv(_Conv):
    def __init__(self, c_in: int, c_out: int, kernel: int = 2, *, bias: bool = False,
                 key: str) -> None:
        super().__init__(c_in, c_out, kernel, bias, key)

    def forward(self, x: SparseTensor) -> SparseTensor:
        m = x.cache.get(self.key)
        if not isinstance(m, StridedMap):
            raise KeyError(f"inverse convolution: no strided convolution '{self.key}' upstream")
        if m.kernel != self.kernel or m.out_coords.shape[0] != x.n_sites:
            raise ValueError(f"inverse convolution '{self.key}': kernel {self.kernel} / "
                             f"{x.n_sites} sites do not match the strided convolution's "
                             f"{m.kernel} / {m.out_coords.shape[0]}")
        out = gather_conv(x.features, m.up, self.weight, self.bias)
        return SparseTensor(m.in_coords, out, m.in_shape, x.batch_size, x.cache)


class ReferenceBackend:
    """Builds the pure-torch convolutions (see the module docstring)."""

    name = "reference"

    def submanifold(self, c_in: int, c_out: int, kernel: int = 3, *, bias: bool = False,
                    key: str | None = None) -> nn.Module:
        return SubmanifoldConv(c_in, c_out, kernel, bias=bias, key=key)

    def down(self, c_in: int, c_out: int, kernel: int = 2, stride: int = 2, *,
             bias: bool = False, key: str) -> nn.Module:
        return StridedConv(c_in, c_out, kernel, stride, bias=bias, key=key)

    def up(self, c_in: int, c_out: int, kernel: int = 2, *, bias: bool = False,
           key: str) -> nn.Module:
        return InverseConv(c_in, c_out, kernel, bias=bias, key=key)


BACKEND = ReferenceBackend()
