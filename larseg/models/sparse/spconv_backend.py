"""The spconv 2.x backend: the only module of larseg that imports spconv.

Its convolutions are spconv's modules (same ``weight`` (C_out, kh, kw, C_in) and ``bias`` as the
reference backend, initialised the same way) taking and returning larseg's
:class:`~larseg.models.sparse.tensor.SparseTensor`; the record's ``cache`` is spconv's
``indice_dict``, so inverse convolutions and reused submanifold maps work as in spconv.

Three fixes, applied at import:

- ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: spconv's wheel ships its own OpenMP runtime
  beside torch's, and timings on a loaded machine were erratic without it
  (``../shared/dependencies.md``). An OpenMP runtime reads it when it loads, so it is set before
  ``import spconv``. Its reach is small, though: torch (imported first) has already loaded its
  own runtime, and spconv's compiled loops bind their OpenMP symbols to that one (checked with
  ``LD_DEBUG=bindings``: ``GOMP_parallel`` and ``omp_*`` of spconv's ``core_cc`` resolve to
  ``torch/lib/libgomp.so.1``). To reach the runtime that runs the loops, it must be set before
  torch is imported (in the shell, or where larseg first imports torch).
- The CPU stream shim (:func:`set_cpu_stream_shim`), only where ``torch.cuda.is_available()`` is
  false.
- A race-free CPU scatter-add (:func:`set_serial_scatter`). spconv 2.3.8's CPU
  ``scatter_add_cpu`` (``GatherCPU::scatter_add``, used by every convolution's forward and by the
  backward) shares its row pointers between the OpenMP threads (captured by reference in the
  parallel loop), so with more than one thread an output row now and then gets another row's
  sum. Measured here with 2 threads: 100 distinct rows of 5 channels scattered 2,000 times, 12,
  17 and 50 of the 2,000 calls wrong in three runs (one to a few rows each), none with one
  thread; a small 3×3 submanifold convolution came out wrong (by up to 0.6 on unit-scale
  features) in about half of the runs. The replacement does the same sum with
  ``torch.index_add_``.
"""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ...data._torch import torch  # noqa: E402

with warnings.catch_warnings():
    # ccimport (a build helper spconv imports) calls the deprecated locale.getdefaultlocale
    warnings.simplefilter("ignore", DeprecationWarning)
    import spconv.pytorch as spconv
    from spconv.pytorch import cppcore as _cppcore
    from spconv.pytorch import hash as _hash
    from spconv.pytorch import ops as _ops


def _quiet_fx_note() -> None:
    """torch logs a one-time note ("is_fx_tracing will return true for both ...") when
    spconv's SparseConvTensor asks is_fx_tracing(); say it once here, unheard."""
    note = getattr(torch.fx._symbolic_trace, "is_fx_tracing_warning", None)
    if note is None:
        return
    log = logging.getLogger(torch.fx._symbolic_trace.__name__)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        note()
    finally:
        log.setLevel(level)


_quiet_fx_note()

from .layers import init_conv_  # noqa: E402
from .tensor import SparseTensor  # noqa: E402

nn = torch.nn

# --- CPU stream shim ---------------------------------------------------------------------------
# spconv's backward (ops.indice_conv_backward) and a few helpers (hash tables, some pair builders)
# call get_current_stream(), i.e. torch.cuda.current_stream().cuda_stream, even for CPU tensors;
# on a CPU-only torch that raises "Torch not compiled with CUDA enabled". Their CPU code paths do
# not use the stream, so where CUDA is absent we answer 0, CUDA's null stream. The modules that
# imported the function by name each get the replacement.
_STREAM_USERS = (_cppcore, _ops, _hash)
_CUDA_STREAM = _cppcore.get_current_stream


def _null_stream() -> int:
    return 0


def set_cpu_stream_shim(enabled: bool) -> None:
    """Install (or remove) the null-stream answer. Installed at import when CUDA is absent;
    refused where CUDA is present, where spconv needs its real stream."""
    if enabled and torch.cuda.is_available():
        raise RuntimeError("the CPU stream shim is only for a torch without CUDA")
    for module in _STREAM_USERS:
        module.get_current_stream = _null_stream if enabled else _CUDA_STREAM


def cpu_stream_shim_enabled() -> bool:
    return _ops.get_current_stream is _null_stream


if not torch.cuda.is_available():
    set_cpu_stream_shim(True)


# --- race-free scatter-add ---------------------------------------------------------------------
_SpconvOps = _ops.SpconvOps


def _serial_scatter_add_cpu(out, inp, inds) -> None:
    """out[inds[i]] += inp[i] for i < len(inds), on spconv's tensorview tensors (zero-copy numpy
    views wrapped by torch; torch's index_add_ is correct with any number of threads)."""
    try:
        o, i, k = out.numpy_view(), inp.numpy_view(), inds.numpy_view()
    except Exception:  # a dtype numpy cannot view (bfloat16): spconv's own kernel
        return _SpconvOps.scatter_add_cpu(out, inp, inds)
    k = torch.from_numpy(k).long()
    torch.from_numpy(o).index_add_(0, k, torch.from_numpy(i)[: len(k)])


class _OpsWithSerialScatter:
    """spconv's SpconvOps, as ops.py sees it, with scatter_add_cpu replaced."""

    scatter_add_cpu = staticmethod(_serial_scatter_add_cpu)

    def __getattr__(self, name: str):
        return getattr(_SpconvOps, name)


def set_serial_scatter(enabled: bool) -> None:
    """Use the race-free scatter-add in spconv's convolutions (on at import), or spconv's own."""
    _ops.SpconvOps = _OpsWithSerialScatter() if enabled else _SpconvOps


def serial_scatter_enabled() -> bool:
    return isinstance(_ops.SpconvOps, _OpsWithSerialScatter)


set_serial_scatter(True)


# --- convolutions ------------------------------------------------------------------------------
def _to_spconv(x: SparseTensor):
    # spconv copies indice_dict before adding to it, so the record's cache is never mutated.
    return spconv.SparseConvTensor(x.features, x.coords, list(x.spatial_shape), x.batch_size,
                                   indice_dict=x.cache)


def _from_spconv(t, batch_size: int) -> SparseTensor:
    return SparseTensor(t.indices, t.features, tuple(t.spatial_shape), batch_size,
                        t.indice_dict)


class _Bridge:
    """Mixed into spconv's modules: larseg's records in and out, larseg's initialisation."""

    def reset_parameters(self) -> None:
        init_conv_(self.weight, self.bias)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if self.conv1x1:
            # spconv's own 1×1 path reads the (C_out, 1, 1, C_in) weight as (C_in, C_out): map
            # it here so that the layout is the same for every kernel size.
            w = self.weight.reshape(self.out_channels, self.in_channels)
            return x.with_features(nn.functional.linear(x.features, w, self.bias))
        return _from_spconv(super().forward(_to_spconv(x)), x.batch_size)


class SubmanifoldConv(_Bridge, spconv.SubMConv2d):
    pass


class StridedConv(_Bridge, spconv.SparseConv2d):
    pass


class InverseConv(_Bridge, spconv.SparseInverseConv2d):
    pass


class SpconvBackend:
    """Builds spconv's convolutions (same definitions as the reference backend)."""

    name = "spconv"

    def submanifold(self, c_in: int, c_out: int, kernel: int = 3, *, bias: bool = False,
                    key: str | None = None) -> nn.Module:
        if kernel % 2 != 1:
            raise ValueError(f"a submanifold convolution needs an odd kernel, got {kernel}")
        return SubmanifoldConv(c_in, c_out, kernel, bias=bias, indice_key=key)

    def down(self, c_in: int, c_out: int, kernel: int = 2, stride: int = 2, *,
             bias: bool = False, key: str) -> nn.Module:
        return StridedConv(c_in, c_out, kernel, stride, bias=bias, indice_key=key)

    def up(self, c_in: int, c_out: int, kernel: int = 2, *, bias: bool = False,
           key: str) -> nn.Module:
        return InverseConv(c_in, c_out, kernel, indice_key=key, bias=bias)


BACKEND = SpconvBackend()
