"""Sparse convolutions behind a thin backend, so that the rest of larseg never imports a sparse
library.

Vocabulary (what the sparse networks are built from):

- :class:`SparseTensor` — coordinates (N, 3) int32 ``(batch, row, column)``, features (N, C),
  spatial shape (H, W), batch size; :func:`densify` gives the dense (B, C, H, W) tensor,
  :func:`cat_features` joins two records on the same sites (a U-Net skip);
- backend-independent layers on features: :class:`SparseBatchNorm`, :class:`SparseLeakyReLU`,
  :class:`BatchNormAct`, :class:`SparseLinear` (1×1), :class:`PlaneSparseBatchNorm` (statistics
  per plane, for records of planes joined as the sparse cosmic tagger joins them);
- from a backend (:class:`SparseBackend`): ``submanifold`` (output on the input sites),
  ``down`` (strided), ``up`` (inverse of the ``down`` with the same ``key``: back onto exactly its
  input sites, in their order).

Backends: ``"spconv"`` (:mod:`.spconv_backend`, spconv 2.3.8, with its CPU fixes) and
``"reference"`` (:mod:`.reference`, pure torch: the definition the tests hold spconv to, and the
fallback where spconv does not install). Their convolutions have the same parameters
(``weight`` (C_out, kh, kw, C_in), ``bias``) and initialisation, so a state dict moves between
them unchanged. ``"auto"`` is spconv when it imports, else the reference.
"""

from __future__ import annotations

from typing import Literal, Protocol

from ...data._torch import torch
from .layers import (BatchNormAct, PlaneSparseBatchNorm, SparseBatchNorm, SparseLeakyReLU,
                     SparseLinear, init_conv_)
from .tensor import SparseTensor, cat_features, densify

BackendName = Literal["spconv", "reference", "auto"]


class SparseBackend(Protocol):
    """Builds convolution modules that map a :class:`SparseTensor` to a :class:`SparseTensor`."""

    name: str

    def submanifold(self, c_in: int, c_out: int, kernel: int = 3, *, bias: bool = False,
                    key: str | None = None) -> torch.nn.Module:
        """Odd kernel, output on the input sites; layers sharing ``key`` on the same sites
        share one neighbour map."""

    def down(self, c_in: int, c_out: int, kernel: int = 2, stride: int = 2, *,
             bias: bool = False, key: str) -> torch.nn.Module:
        """Strided convolution, no padding; its map is kept under ``key`` for :meth:`up`."""

    def up(self, c_in: int, c_out: int, kernel: int = 2, *, bias: bool = False,
           key: str) -> torch.nn.Module:
        """Inverse of the ``down`` named ``key``: onto its input sites, in their order."""


def spconv_available() -> bool:
    try:
        from . import spconv_backend  # noqa: F401
    except ImportError:
        return False
    return True


def get_backend(name: BackendName = "auto") -> SparseBackend:
    if name == "auto":
        name = "spconv" if spconv_available() else "reference"
    if name == "spconv":
        from .spconv_backend import BACKEND
        return BACKEND
    if name == "reference":
        from .reference import BACKEND
        return BACKEND
    raise ValueError(f"unknown sparse backend '{name}'; available: spconv, reference, auto")


__all__ = ["BackendName", "BatchNormAct", "PlaneSparseBatchNorm", "SparseBackend",
           "SparseBatchNorm", "SparseLeakyReLU", "SparseLinear", "SparseTensor", "cat_features",
           "densify", "get_backend", "init_conv_", "spconv_available"]
