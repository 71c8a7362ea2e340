"""Coil (SENSE) operators linking a coil-combined image to multi-coil k-space.

Tensor convention (the one convention of recon_lib, stated once here):

* image ``x``:         ``torch.complex64`` of shape ``(B, H, W)``
* k-space ``k``:       ``torch.complex64`` of shape ``(B, C, H, W)`` (C coils)
* coil maps ``maps``:  ``torch.complex64`` of shape ``(B, C, H, W)``
* sampling ``mask``:   real (float or bool) tensor broadcastable to ``(B, C, H, W)`` with
  values 0/1, usually ``(B, 1, 1, W)``: phase-encode lines along the last axis W.

Forward model (SENSE, Pruessmann et al. 1999): ``E x = M F (S x)``; its adjoint
``E^H k = sum_c conj(S_c) F^{-1}(M k_c)``. With maps normalised so that
``sum_c |S_c|^2 = 1`` on the object support, ``E^H E = I`` there for a full mask.

References:
    K. P. Pruessmann et al., "SENSE: Sensitivity encoding for fast MRI", MRM 42, 1999.
"""

from __future__ import annotations

import torch

from recon_lib.core.checks import check_broadcastable, check_complex, check_real
from recon_lib.physics.fft import fft2c, ifft2c

__all__ = ["sens_expand", "sens_reduce", "rss", "apply_mask", "normalize_maps"]


def _check_mask(mask: torch.Tensor | None, kshape: torch.Size) -> None:
    if mask is None:
        return
    check_real("mask", mask)
    check_broadcastable("mask", mask.shape, kshape, "k-space")


def _check_maps_image(x: torch.Tensor, maps: torch.Tensor) -> None:
    check_complex("x", x, ndim=3)
    check_complex("maps", maps, ndim=4)
    if (x.shape[0], x.shape[1], x.shape[2]) != (maps.shape[0], maps.shape[2], maps.shape[3]):
        raise ValueError(
            f"image x of shape {tuple(x.shape)} (B, H, W) does not match maps of shape {tuple(maps.shape)} (B, C, H, W)"
        )


def apply_mask(k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the unsampled k-space locations: ``M k``.

    Args:
        k: complex k-space ``(B, C, H, W)``.
        mask: real 0/1 tensor broadcastable to ``k``.

    Returns:
        Masked k-space ``(B, C, H, W)``.
    """
    check_complex("k", k, ndim=4)
    _check_mask(mask, k.shape)
    return k * mask.to(k.real.dtype)


def sens_expand(x: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Forward SENSE operator ``E x = M F (S x)``.

    Args:
        x: complex image ``(B, H, W)``.
        maps: complex coil sensitivities ``(B, C, H, W)``.
        mask: optional real 0/1 sampling mask broadcastable to ``(B, C, H, W)``.

    Returns:
        Multi-coil k-space ``(B, C, H, W)``.
    """
    _check_maps_image(x, maps)
    _check_mask(mask, maps.shape)
    k = fft2c(maps * x.unsqueeze(1))  # (B, C, H, W)
    return k if mask is None else k * mask.to(k.real.dtype)


def sens_reduce(k: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint SENSE operator ``E^H k = sum_c conj(S_c) F^{-1}(M k_c)`` (coil combination).

    Args:
        k: complex k-space ``(B, C, H, W)``.
        maps: complex coil sensitivities ``(B, C, H, W)``.
        mask: optional real 0/1 sampling mask broadcastable to ``(B, C, H, W)``.

    Returns:
        Coil-combined complex image ``(B, H, W)``.

    Example:
        With maps normalised to ``sum_c |S_c|^2 = 1`` and full sampling, ``E^H E`` is the identity:

        >>> import torch
        >>> maps = normalize_maps(torch.randn(1, 4, 8, 8, dtype=torch.complex64))
        >>> x = torch.randn(1, 8, 8, dtype=torch.complex64)
        >>> torch.allclose(sens_reduce(sens_expand(x, maps), maps), x, atol=1e-5)
        True
    """
    check_complex("k", k, ndim=4)
    check_complex("maps", maps, ndim=4)
    if k.shape != maps.shape:
        raise ValueError(f"k-space of shape {tuple(k.shape)} does not match maps of shape {tuple(maps.shape)}")
    _check_mask(mask, k.shape)
    if mask is not None:
        k = k * mask.to(k.real.dtype)
    return (maps.conj() * ifft2c(k)).sum(dim=1)  # (B, H, W)


def rss(coil_images: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares coil combination ``sqrt(sum_c |x_c|^2)``.

    Args:
        coil_images: complex or real tensor, coils along ``dim`` (default ``(B, C, H, W)``).
        dim: the coil dimension.

    Returns:
        Real magnitude image with ``dim`` removed, e.g. ``(B, H, W)``.
    """
    if not isinstance(coil_images, torch.Tensor):
        raise TypeError(f"coil_images must be a torch.Tensor, got {type(coil_images).__name__}")
    return torch.sqrt((coil_images.abs() ** 2).sum(dim=dim))


def normalize_maps(maps: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale coil maps so that ``sum_c |S_c|^2 = 1`` wherever they are non-zero.

    Args:
        maps: complex coil sensitivities ``(B, C, H, W)``.
        eps: pixels whose total sensitivity is below ``eps`` are set to zero (outside the support).

    Returns:
        Normalised maps ``(B, C, H, W)``.
    """
    check_complex("maps", maps, ndim=4)
    norm = rss(maps, dim=1).unsqueeze(1)  # (B, 1, H, W)
    return torch.where(norm > eps, maps / norm.clamp_min(eps), torch.zeros_like(maps))
