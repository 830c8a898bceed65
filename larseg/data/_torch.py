"""torch, imported with a message that says how to install it (it is not a pip dependency)."""

from __future__ import annotations

import os

# spconv's kernels run on torch's OpenMP runtime: with its default (active) wait policy the
# idle threads spin, and on a loaded 2-core machine spconv timings jumped from 0.5 s to 1-7 s
# (benchmarks/bench_sparse_ssnet.py). It only takes effect when set before torch loads; a value
# the user has set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "larseg.data needs PyTorch: install the CPU build first with `pip install torch==2.13.0` "
        "(an unpinned torch pulls the multi-GB CUDA build), see the README") from exc

__all__ = ["torch"]
