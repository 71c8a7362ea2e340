"""Training losses of the paper: the SN loss (SSIM + L1) and the LSGAN terms of SN-GAN.

* ``L_SN(x_rec, x_ref) = 1 - SSIM(|x_rec|, |x_ref|) + lam * L1(|x_rec|, |x_ref|)`` with
  ``lam = 1e-3`` (paper Eq. 1), on magnitude images.
* ``L_SN-GAN = gamma * L_SN + L_lsgan(m * |x_rec|, m * |x_ref|)`` with ``gamma = 0.1`` and a binary
  foreground mask ``m`` (paper Eq. 2). The discriminator sees :func:`masked_magnitude` images.

L1 convention (the implementations differ, so it is stated here). Errors are first divided by each sample's data
range (by default the maximum of ``|x_ref|``), so the loss does not depend on the intensity
scale of the data. Then, by default (``l1_reduction="sum"``, Sigma-net's convention,
khammernik/sigmanet), the absolute errors are **summed** over the foreground pixels (every pixel
without a mask) and averaged over the batch. With ``lam = 1e-3`` this term is then as large as
``1 - SSIM`` or larger (a 160 x 160 knee slice has ~19,000 foreground pixels: 1e-3 * 19,000 *
mean error 0.03 = 0.57), and it grows with the image size and the foreground area.
``l1_reduction="mean"`` averages over the pixels instead; with ``lam = 1e-3`` that term is
~1e-5 and has no effect, which also weakens ``gamma * L_SN`` against the adversarial term of
SN-GAN (the teaching models trained that way lost 3.2 dB of PSNR in the GAN fine-tune).

References:
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (the seed paper, Eqs. 1-2).
    Z. Wang et al., "Image quality assessment: from error visibility to structural
    similarity", IEEE TIP 13(4), 2004.
    X. Mao et al., "Least squares generative adversarial networks", ICCV 2017.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recon_lib.core.checks import check_tensor
from recon_lib.metrics.ssim import ssim

__all__ = [
    "magnitude",
    "sn_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "masked_magnitude",
    "sn_gan_generator_loss",
]


def magnitude(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Magnitude image ``(B, 1, H, W)`` from a complex ``(B, H, W)`` or a real ``(B, H, W)`` /
    ``(B, 1, H, W)`` image (real inputs are passed through ``abs``)."""
    check_tensor(name, x)
    if x.is_complex():
        if x.ndim != 3:
            raise ValueError(f"complex {name} must be (B, H, W), got shape {tuple(x.shape)}")
        return x.abs().unsqueeze(1)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be complex or floating point, got dtype {x.dtype}")
    if x.ndim == 3:
        return x.abs().unsqueeze(1)
    if x.ndim == 4 and x.shape[1] == 1:
        return x.abs()
    raise ValueError(f"real {name} must be (B, H, W) or (B, 1, H, W), got shape {tuple(x.shape)}")


def _foreground(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """Foreground weights broadcast to ``like`` ``(B, 1, H, W)`` (None: no mask)."""
    if mask is None:
        return None
    check_tensor("mask", mask)
    if mask.is_complex():
        raise TypeError(f"mask must be real or bool, got dtype {mask.dtype}")
    m = mask.unsqueeze(-3) if mask.ndim == 3 else mask  # (B, H, W) -> (B, 1, H, W)
    try:
        m = torch.broadcast_to(m, like.shape)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to images of shape {tuple(like.shape)}"
        ) from None
    return m.to(device=like.device, dtype=like.dtype)


def sn_loss(
    x_rec: torch.Tensor,
    x_ref: torch.Tensor,
    data_range: torch.Tensor | float | None = None,
    mask: torch.Tensor | None = None,
    lam: float = 1e-3,
    l1_reduction: str = "sum",
) -> torch.Tensor:
    """SN loss ``1 - SSIM + lam * L1`` on magnitude images (paper Eq. 1), averaged over the batch.

    Args:
        x_rec: reconstruction, complex ``(B, H, W)`` or real ``(B, H, W)`` / ``(B, 1, H, W)``.
        x_ref: reference of the same form and size.
        data_range: SSIM data range and L1 scale, a float or a ``(B,)`` tensor; default: the
            per-sample maximum of ``|x_ref|`` (detached).
        mask: optional foreground mask broadcastable to ``(B, 1, H, W)`` (``(B, H, W)`` is
            accepted): SSIM is averaged over the foreground (see :mod:`recon_lib.metrics.ssim`) and L1
            over the foreground pixels.
        lam: weight of the L1 term (``1e-3`` in the paper).
        l1_reduction: ``"sum"`` (default, Sigma-net's convention) sums the range-normalised
            absolute errors over the foreground pixels, ``"mean"`` averages them; see the
            module docstring.

    Returns:
        Scalar loss.
    """
    rec = magnitude(x_rec, "x_rec")  # (B, 1, H, W)
    ref = magnitude(x_ref, "x_ref")  # (B, 1, H, W)
    if rec.shape != ref.shape:
        raise ValueError(f"x_rec of shape {tuple(x_rec.shape)} and x_ref of shape {tuple(x_ref.shape)} must match")
    if not isinstance(lam, (int, float)) or isinstance(lam, bool) or lam < 0:
        raise ValueError(f"lam must be a non-negative float, got {lam!r}")
    if l1_reduction not in ("sum", "mean"):
        raise ValueError(f"l1_reduction must be 'sum' or 'mean', got {l1_reduction!r}")
    B = rec.shape[0]
    if data_range is None:
        data_range = ref.detach().amax(dim=(1, 2, 3))  # (B,)
    m = _foreground(mask, rec)
    ssim_value = ssim(rec, ref, data_range, mask=m, reduction="mean")

    dr = data_range if isinstance(data_range, torch.Tensor) else torch.tensor(float(data_range))
    dr = dr.detach().to(device=rec.device, dtype=rec.dtype).reshape(-1).expand(B)  # (B,)
    abs_err = (rec - ref).abs() / dr.view(B, 1, 1, 1)  # (B, 1, H, W), in units of the data range
    if m is None:
        per_sample = abs_err.sum(dim=(1, 2, 3)) if l1_reduction == "sum" else abs_err.mean(dim=(1, 2, 3))  # (B,)
    else:
        per_sample = (abs_err * m).sum(dim=(1, 2, 3))  # (B,)
        if l1_reduction == "mean":
            per_sample = per_sample / m.sum(dim=(1, 2, 3)).clamp_min(torch.finfo(m.dtype).tiny)
    l1 = per_sample.mean()
    return 1.0 - ssim_value + lam * l1


def lsgan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss ``0.5 * (MSE(D(real), 1) + MSE(D(fake), 0))`` (Mao et al. 2017).

    Args:
        d_real: discriminator outputs on reference images (any shape, e.g. a patch map).
        d_fake: discriminator outputs on reconstructions (detach them for the D step).

    Returns:
        Scalar loss.
    """
    check_tensor("d_real", d_real)
    check_tensor("d_fake", d_fake)
    real = F.mse_loss(d_real, torch.ones_like(d_real))
    fake = F.mse_loss(d_fake, torch.zeros_like(d_fake))
    return 0.5 * (real + fake)


def lsgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN generator loss ``MSE(D(fake), 1)``: the generator wants D to output 1 on its images."""
    check_tensor("d_fake", d_fake)
    return F.mse_loss(d_fake, torch.ones_like(d_fake))


def masked_magnitude(x: torch.Tensor, fg_mask: torch.Tensor | None) -> torch.Tensor:
    """Discriminator input ``m * |x|`` of shape ``(B, 1, H, W)`` (paper Eq. 2).

    Args:
        x: complex ``(B, H, W)`` or real ``(B, H, W)`` / ``(B, 1, H, W)`` image.
        fg_mask: binary foreground mask broadcastable to ``(B, 1, H, W)`` (``(B, H, W)`` is
            accepted); ``None`` gives the unmasked magnitude.

    Returns:
        Real tensor ``(B, 1, H, W)``.
    """
    mag = magnitude(x, "x")  # (B, 1, H, W)
    m = _foreground(fg_mask, mag)
    return mag if m is None else mag * m


def sn_gan_generator_loss(
    x_rec: torch.Tensor,
    x_ref: torch.Tensor,
    d_fake: torch.Tensor,
    gamma: float = 0.1,
    data_range: torch.Tensor | float | None = None,
    mask: torch.Tensor | None = None,
    lam: float = 1e-3,
    l1_reduction: str = "sum",
) -> torch.Tensor:
    """SN-GAN generator loss ``gamma * L_SN(x_rec, x_ref) + MSE(d_fake, 1)`` (paper Eq. 2).

    Args:
        x_rec: reconstruction, as in :func:`sn_loss`.
        x_ref: reference, as in :func:`sn_loss`.
        d_fake: discriminator output on ``masked_magnitude(x_rec, mask)`` (not detached).
        gamma: weight of the SN loss (0.1 in the paper).
        data_range: as in :func:`sn_loss`.
        mask: foreground mask used by the SN loss (and, by the caller, for the D input).
        lam: L1 weight inside the SN loss.
        l1_reduction: as in :func:`sn_loss`.

    Returns:
        Scalar loss.
    """
    if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or gamma < 0:
        raise ValueError(f"gamma must be a non-negative float, got {gamma!r}")
    l_sn = sn_loss(x_rec, x_ref, data_range=data_range, mask=mask, lam=lam, l1_reduction=l1_reduction)
    return gamma * l_sn + lsgan_generator_loss(d_fake)
