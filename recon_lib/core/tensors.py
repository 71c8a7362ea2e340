"""Small tensor helpers at the boundary between complex images and CNNs.

Networks see a complex image ``(B, H, W)`` as two real channels ``(B, 2, H, W)``
(real, imaginary); these helpers convert both ways and pad/crop spatial sizes.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from recon_lib.core.checks import check_complex, check_real

__all__ = ["complex_to_channels", "channels_to_complex", "center_crop", "pad_to_multiple", "unpad", "squeeze_leading"]

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex image ``(B, H, W)`` -> real ``(B, 2, H, W)`` with channels (real, imag)."""
    check_complex("x", x, ndim=3)
    return torch.stack((x.real, x.imag), dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``(B, 2, H, W)`` with channels (real, imag) -> complex image ``(B, H, W)``."""
    check_real("x", x, ndim=4)
    if x.shape[1] != 2:
        raise ValueError(f"x must have 2 channels (real, imag) in dim 1, got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return torch.complex(x[:, 0], x[:, 1])


def center_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Crop the last two dimensions of ``x`` to ``shape`` around the centre (fastMRI convention).

    The crop starts at ``(H - h) // 2``, matching fastMRI's ``center_crop``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    h, w = int(shape[0]), int(shape[1])
    H, W = x.shape[-2], x.shape[-1]
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"crop shape {(h, w)} must be positive and no larger than the input {(H, W)}")
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims of ``x`` up to a multiple of ``multiple``.

    Returns:
        The padded tensor and the ``(left, right, top, bottom)`` padding, so that
        :func:`unpad` can undo it.
    """
    H, W = x.shape[-2], x.shape[-1]
    ph, pw = (-H) % multiple, (-W) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pad
    return F.pad(x, pad), pad


def unpad(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    left, right, top, bottom = pad
    H, W = x.shape[-2], x.shape[-1]
    return x[..., top : H - bottom, left : W - right]


def squeeze_leading(x: ArrayT, ndim: int) -> ArrayT:
    """Drop leading size-1 dimensions of an array or tensor until at most ``ndim`` remain.

    Plots and the explorer accept an image ``(H, W)`` also as ``(1, H, W)`` or ``(1, 1, H, W)``;
    the caller checks the resulting rank (a non-singleton leading dimension is kept).

    Example:
        >>> squeeze_leading(np.zeros((1, 1, 4, 5)), 2).shape
        (4, 5)
        >>> squeeze_leading(np.zeros((3, 4, 5)), 2).shape
        (3, 4, 5)
    """
    while x.ndim > ndim and x.shape[0] == 1:
        x = x[0]
    return x
