"""torch, imported with a message that says how to install it (it is not a pip dependency)."""

from __future__ import annotations

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "larseg.data needs PyTorch: install the CPU build first with `pip install torch==2.13.0` "
        "(an unpinned torch pulls the multi-GB CUDA build), see the README") from exc

__all__ = ["torch"]
