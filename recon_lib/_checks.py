"""Entry checks shared by the public API.

Every public function validates its inputs with these helpers so that bad input fails
early with one message naming the argument, the expected form and what was received.
"""
from __future__ import annotations

from typing import Sequence

import torch


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Raise ``TypeError`` unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_complex(name: str, value: object, ndim: int | Sequence[int] | None = None) -> torch.Tensor:
    """Raise unless ``value`` is a complex tensor (optionally of a given rank)."""
    t = check_tensor(name, value)
    if not t.is_complex():
        raise TypeError(
            f"{name} must be a complex tensor (torch.complex64 by convention), got dtype {t.dtype}; "
            "use recon_lib.channels_to_complex to convert a 2-channel real tensor"
        )
    _check_ndim(name, t, ndim)
    return t


def check_real(name: str, value: object, ndim: int | Sequence[int] | None = None) -> torch.Tensor:
    """Raise unless ``value`` is a real (floating or boolean) tensor (optionally of a given rank)."""
    t = check_tensor(name, value)
    if t.is_complex():
        raise TypeError(f"{name} must be a real tensor, got complex dtype {t.dtype}")
    _check_ndim(name, t, ndim)
    return t


def _check_ndim(name: str, t: torch.Tensor, ndim: int | Sequence[int] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(t.shape)}")


def check_broadcastable(name: str, shape: Sequence[int], target: Sequence[int], target_name: str) -> None:
    """Raise ``ValueError`` unless ``shape`` broadcasts to ``target`` without changing it."""
    try:
        out = torch.broadcast_shapes(tuple(shape), tuple(target))
    except RuntimeError:
        out = None
    if out != tuple(target):
        raise ValueError(
            f"{name} of shape {tuple(shape)} does not broadcast to {target_name} of shape {tuple(target)}"
        )
