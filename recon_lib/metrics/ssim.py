"""Differentiable structural similarity (SSIM) of real images, fastMRI convention.

SSIM (Wang et al. 2004) compares local means, variances and the covariance of two images in
a sliding window. recon_lib follows fastMRI's ``SSIMLoss`` and scikit-image's
``structural_similarity(..., win_size=7, gaussian_weights=False, use_sample_covariance=True,
K1=0.01, K2=0.03)``:

* a uniform ``7 x 7`` window (``NP = 49`` pixels);
* constants ``C1 = (k1 * L)^2`` and ``C2 = (k2 * L)^2`` with ``L`` the data range, given per
  sample so that every slice of a volume uses the volume's maximum (fastMRI's ``max``);
* sample (co)variances, i.e. the window moments are scaled by ``NP / (NP - 1)``;
* a *valid* convolution: the SSIM map of an ``H x W`` image is ``(H - 6) x (W - 6)`` and
  entry ``(i, j)`` belongs to the window centred on pixel ``(i + 3, j + 3)``. This equals
  scikit-image's map with its 3-pixel border cropped, which is exactly what scikit-image
  averages.

Foreground masks. With a mask ``m`` of the image size, the SSIM map is averaged with weights
``m[..., 3:-3, 3:-3]``: the mask is cropped by ``(win_size - 1) // 2`` pixels on each side so
that each map entry is weighted by the mask value at its window centre. Boolean and 0/1 masks
give the mean over the foreground windows; soft masks in ``[0, 1]`` give a weighted mean.

References:
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4), 2004.
    J. Zbontar et al., "fastMRI: An open dataset and benchmarks for accelerated MRI",
    arXiv:1811.08839, 2018 (``fastmri.losses.SSIMLoss`` and ``fastmri.evaluate``).
"""

from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn as nn

from recon_lib.core.checks import check_real, check_tensor

__all__ = ["ssim", "SSIMLoss", "crop_mask_to_ssim_map"]


def _as_bchw(name: str, x: torch.Tensor) -> torch.Tensor:
    """Real ``(B, H, W)`` or ``(B, 1, H, W)`` -> ``(B, 1, H, W)``."""
    check_real(name, x, ndim=(3, 4))
    if x.ndim == 4 and x.shape[1] != 1:
        raise ValueError(f"{name} must be (B, H, W) or (B, 1, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x if x.ndim == 4 else x.unsqueeze(1)


def _data_range_tensor(data_range: torch.Tensor | float, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Per-sample data range as ``(B, 1, 1, 1)`` in the dtype/device of ``like``."""
    if isinstance(data_range, torch.Tensor):
        if data_range.is_complex():
            raise TypeError(f"data_range must be real, got dtype {data_range.dtype}")
        dr = data_range.detach().to(device=like.device, dtype=like.dtype).reshape(-1)
        if dr.numel() == 1:
            dr = dr.expand(batch)
        elif dr.numel() != batch:
            raise ValueError(
                f"data_range must be a float, a 0-d tensor or a (B,) tensor with B = {batch}, "
                f"got shape {tuple(data_range.shape)}"
            )
    elif isinstance(data_range, (int, float)) and not isinstance(data_range, bool):
        dr = torch.full((batch,), float(data_range), dtype=like.dtype, device=like.device)
    else:
        raise TypeError(f"data_range must be a float or a torch.Tensor, got {type(data_range).__name__}")
    if not bool(torch.all(torch.isfinite(dr) & (dr > 0))):
        raise ValueError(f"data_range must be positive and finite, got {dr.tolist()}")
    return dr.reshape(batch, 1, 1, 1)


def crop_mask_to_ssim_map(mask: torch.Tensor, win_size: int = 7) -> torch.Tensor:
    """Map an image-size mask ``(..., H, W)`` onto the valid SSIM map ``(..., H - w + 1, W - w + 1)``.

    Each map entry takes the mask value at the centre pixel of its window, i.e. the mask is
    cropped by ``(win_size - 1) // 2`` pixels on every side.
    """
    check_tensor("mask", mask)
    pad = (win_size - 1) // 2
    H, W = mask.shape[-2], mask.shape[-1]
    return mask[..., pad : H - pad, pad : W - pad]


@overload
def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: torch.Tensor | float,
    mask: torch.Tensor | None = ...,
    reduction: Literal["none", "mean"] = ...,
    win_size: int = ...,
    k1: float = ...,
    k2: float = ...,
    return_map: Literal[False] = ...,
) -> torch.Tensor: ...


@overload
def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: torch.Tensor | float,
    mask: torch.Tensor | None = ...,
    reduction: Literal["none", "mean"] = ...,
    win_size: int = ...,
    k1: float = ...,
    k2: float = ...,
    *,
    return_map: Literal[True],
) -> tuple[torch.Tensor, torch.Tensor]: ...


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: torch.Tensor | float,
    mask: torch.Tensor | None = None,
    reduction: Literal["none", "mean"] = "none",
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
    return_map: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM of each image pair (differentiable in ``x`` and ``y``).

    Args:
        x: real images ``(B, H, W)`` or ``(B, 1, H, W)`` (e.g. a reconstruction's magnitude).
        y: real images of the same shape (the reference).
        data_range: dynamic range ``L``: a float, or a ``(B,)`` tensor with one value per
            sample (fastMRI passes the volume maximum of the reference for every slice).
        mask: optional foreground mask broadcastable to ``x`` (bool, or real weights in
            ``[0, 1]``); the SSIM map is averaged over ``crop_mask_to_ssim_map(mask)``.
            Every sample must keep a non-zero mask inside the valid map.
        reduction: ``"none"`` returns the per-sample means ``(B,)``; ``"mean"`` their mean.
        win_size: side of the uniform window (odd, at least 3; 7 in fastMRI).
        k1: SSIM constant for the luminance term.
        k2: SSIM constant for the contrast/structure term.
        return_map: also return the SSIM map, ``(B, H - w + 1, W - w + 1)`` (or with a channel
            dim of 1 when ``x`` was 4-D).

    Returns:
        Per-sample SSIM ``(B,)`` (or a scalar for ``reduction="mean"``), and the map when
        ``return_map`` is true.
    """
    four_d = isinstance(x, torch.Tensor) and x.ndim == 4
    X, Y = _check_pair(x, y, win_size, reduction)
    B, _, H, W = X.shape
    dtype = torch.promote_types(X.dtype, Y.dtype)
    X, Y = X.to(dtype), Y.to(dtype)
    L = _data_range_tensor(data_range, B, X)  # (B, 1, 1, 1)
    s_map = _ssim_map(X, Y, L.squeeze(1), win_size, k1, k2)  # (B, h, w)
    values = s_map.mean(dim=(-2, -1)) if mask is None else _masked_mean(s_map, mask, x, win_size)  # (B,)
    out = values.mean() if reduction == "mean" else values
    if return_map:
        return out, (s_map.unsqueeze(1) if four_d else s_map)
    return out


def _check_pair(x: torch.Tensor, y: torch.Tensor, win_size: int, reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images as ``(B, 1, H, W)``, after checking them and the window against each other."""
    X = _as_bchw("x", x)
    Y = _as_bchw("y", y)
    if X.shape != Y.shape:
        raise ValueError(f"x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)} must match")
    if not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer >= 3, got {win_size!r}")
    H, W = X.shape[-2:]
    if H < win_size or W < win_size:
        raise ValueError(f"images of size {(H, W)} are smaller than the {win_size}x{win_size} window")
    if reduction not in ("none", "mean"):
        raise ValueError(f"reduction must be 'none' or 'mean', got {reduction!r}")
    return X, Y


def _ssim_map(X: torch.Tensor, Y: torch.Tensor, L: torch.Tensor, win_size: int, k1: float, k2: float) -> torch.Tensor:
    """The valid SSIM map ``(B, h, w)`` of ``(B, 1, H, W)`` images with data ranges ``L`` ``(B, 1, 1)``."""
    # Local moments: a uniform (box) filter over five maps, separable: rows, then columns.
    # (Sliding-window views + mean are faster on CPU than avg_pool2d, forward and backward.)
    stack = torch.cat((X, Y, X * X, Y * Y, X * Y), dim=1)  # (B, 5, H, W)
    # Window sums, then one division (a mean in each pass measured ~10 % slower on CPU).
    n_p = win_size * win_size
    moments = stack.unfold(-2, win_size, 1).sum(dim=-1)  # (B, 5, h, W)
    moments = moments.unfold(-1, win_size, 1).sum(dim=-1).mul_(1.0 / n_p)  # (B, 5, h, w)
    ux, uy, uxx, uyy, uxy = moments.unbind(dim=1)  # each (B, h, w)
    cov_norm = n_p / (n_p - 1)  # sample (co)variance
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)

    c1 = (k1 * L) ** 2
    c2 = (k2 * L) ** 2
    a1, a2 = 2 * ux * uy + c1, 2 * vxy + c2
    b1, b2 = ux * ux + uy * uy + c1, vx + vy + c2
    return (a1 * a2) / (b1 * b2)


def _masked_mean(s_map: torch.Tensor, mask: torch.Tensor, x: torch.Tensor, win_size: int) -> torch.Tensor:
    """Per-sample mean ``(B,)`` of the SSIM map weighted by the mask at each window's centre."""
    check_tensor("mask", mask)
    if mask.is_complex():
        raise TypeError(f"mask must be real or bool, got dtype {mask.dtype}")
    try:
        m = torch.broadcast_to(mask, x.shape)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to x of shape {tuple(x.shape)}"
        ) from None
    B, H, W = s_map.shape[0], x.shape[-2], x.shape[-1]
    m = m.reshape(B, H, W).to(device=s_map.device, dtype=s_map.dtype)
    m = crop_mask_to_ssim_map(m, win_size)  # (B, h, w)
    weight = m.sum(dim=(-2, -1))  # (B,)
    if bool(torch.any(weight <= 0)):
        empty = torch.nonzero(weight <= 0).flatten().tolist()
        raise ValueError(
            f"mask selects no pixel of the valid SSIM map (mask cropped by {(win_size - 1) // 2} "
            f"pixels per side) for sample(s) {empty}"
        )
    return (s_map * m).sum(dim=(-2, -1)) / weight


class SSIMLoss(nn.Module):
    """``1 - SSIM`` averaged over the batch (fastMRI's ``SSIMLoss``), optionally foreground-masked.

    Args:
        win_size: side of the uniform window (7).
        k1: luminance constant (0.01).
        k2: contrast/structure constant (0.03).
    """

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> None:
        super().__init__()
        self.win_size = win_size
        self.k1 = k1
        self.k2 = k2

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        data_range: torch.Tensor | float,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the scalar ``1 - mean_b SSIM(x_b, y_b)``; arguments as in :func:`ssim`."""
        value = ssim(x, y, data_range, mask=mask, reduction="mean", win_size=self.win_size, k1=self.k1, k2=self.k2)
        return 1.0 - value
