"""sMask-RCNN's transfer of a trained dense backbone's weights into the sparse one
(``../shared/papers/`` 003, Sec. II.B): the backbones of :mod:`larseg.models.detection.backbones`
share one module tree, so every tensor has the same name in both; the sparse convolutions only
store their weights in the backend's (C_out, kh, kw, C_in) layout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...data._torch import torch
from ...errors import LarsegError
from .backbones import SparseResNetBackbone

nn = torch.nn
Tensor = torch.Tensor


@dataclass(frozen=True)
class TransferReport:
    """What :func:`transfer_dense_weights` did, by sparse state-dict key."""

    copied: tuple[str, ...]       # filled from the dense tensor of the same name
    reshaped: tuple[str, ...]     # of those: convolution weights, (O, I, kh, kw) -> (O, kh, kw, I)
    missing: tuple[str, ...]      # sparse keys with no dense tensor (left as they were)
    unexpected: tuple[str, ...]   # dense keys the sparse backbone has no place for
    mismatched: tuple[str, ...]   # same name, shapes that do not correspond (left as they were)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def _sparse_conv_weights(sparse: nn.Module) -> set[str]:
    """Keys of the sparse convolutions' weights (the backend's layout); the dense convolutions
    a sparse backbone holds (its FPN) keep torch's."""
    return {f"{name}.weight" if name else "weight" for name, m in sparse.named_modules()
            if not isinstance(m, nn.Conv2d) and isinstance(getattr(m, "weight", None), Tensor)
            and m.weight.ndim == 4}


@torch.no_grad()
def transfer_dense_weights(sparse: SparseResNetBackbone,
                           dense: nn.Module | Mapping[str, Tensor], *,
                           strict: bool = True) -> TransferReport:
    """Load a dense backbone (or its state dict) into ``sparse``: every tensor whose name the
    sparse backbone also has, BatchNorm statistics included; sparse convolution weights are
    permuted from torch's (C_out, C_in, kh, kw) to the backend's (C_out, kh, kw, C_in). With
    ``strict`` (default) anything that does not correspond raises :class:`LarsegError` and
    nothing is loaded; otherwise the tensors that do correspond are loaded and the report says
    which did not."""
    source = dense.state_dict() if isinstance(dense, nn.Module) else dict(dense)
    target = sparse.state_dict()
    permute = _sparse_conv_weights(sparse)
    new, copied, reshaped, mismatched = {}, [], [], []
    for key, t in source.items():
        if key not in target:
            continue
        if key in permute and t.ndim == 4:
            t = t.permute(0, 2, 3, 1)
        if t.shape != target[key].shape:
            mismatched.append(key)
            continue
        new[key] = t.to(target[key].dtype).contiguous()
        copied.append(key)
        if key in permute:
            reshaped.append(key)
    report = TransferReport(tuple(copied), tuple(reshaped),
                            tuple(k for k in target if k not in source),
                            tuple(k for k in source if k not in target), tuple(mismatched))
    if strict and not report.complete:
        raise LarsegError(f"dense -> sparse backbone transfer: {len(report.missing)} missing "
                          f"{list(report.missing[:3])}, {len(report.unexpected)} unexpected "
                          f"{list(report.unexpected[:3])}, {len(report.mismatched)} of other "
                          f"shape {list(report.mismatched[:3])}")
    sparse.load_state_dict({**target, **new})
    return report


__all__ = ["TransferReport", "transfer_dense_weights"]
