"""Choosing the torch device: the one rule every entry point follows.

``"auto"`` picks CUDA, then Apple MPS, then the CPU; anything else names a torch device.

Example:
    >>> select_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import torch

__all__ = ["select_device"]


def select_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device called ``name``; ``"auto"``: CUDA, then Apple MPS, then the CPU.

    Raises:
        ValueError: ``name`` is not a torch device name, or names a CUDA / MPS device this machine
            does not have.
    """
    if isinstance(name, torch.device):
        return name
    if name != "auto":
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError) as err:
            raise ValueError(
                f"device must be 'auto' or a torch device name like 'cpu' or 'cuda', got {name!r}"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was requested but torch sees no CUDA GPU here (use 'auto' or 'cpu')")
        if device.type == "mps" and not _mps_available():
            raise ValueError(f"device {name!r} was requested but Apple MPS is not available (use 'auto' or 'cpu')")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()
