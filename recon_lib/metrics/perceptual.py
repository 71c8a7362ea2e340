"""Full-reference quality indices that track radiologists' scores: VIF, GMSD, HaarPSI, and HFEN.

Two reader studies on MR images (Mason et al., IEEE TMI 39(4), 2020: 1,017 radiologist scores;
Kastryulin et al., IEEE Access 11, 2023: 14,700 scores from 7 radiologists) found that VIF, GMSD
and HaarPSI (with FSIM and VSI) follow radiologists' judgements of reconstructed MR images far better
than PSNR or SSIM. They are written here from their authors' published definitions, with no
learned weights, so they run offline; LPIPS, DISTS and FID are not used because their ImageNet
backbones must be downloaded at run time (and ``piq``/``pyiqa`` need a torchvision build that does
not match the CPU torch of the reference machines).

Conventions, shared with :mod:`recon_lib.metrics.quality`:

* ``f(gt, pred, *, mask=None, data_range=None) -> float`` on real magnitude volumes ``(S, H, W)``
  (NumPy or torch; ``(H, W)`` is one slice); bad input raises one error naming the argument
  (:mod:`recon_lib.metrics.inputs`).
* ``data_range`` ``L`` is fastMRI's volume maximum of ``gt`` unless given. VIF, GMSD and HaarPSI
  were defined, and their constants tuned, on 8-bit images: both volumes are rescaled by ``255 / L``
  first, so the constants keep their published meaning.
* VIF, GMSD and HaarPSI are computed per slice (as their authors define them, per image) and
  averaged over slices, like fastMRI's SSIM; HFEN is a ratio of norms over the whole volume, like NMSE.
* With a foreground ``mask``, each index pools only the foreground positions of its maps (the mask is
  carried through each index's down-sampling); slices without foreground are left out.

Direction: VIF and HaarPSI are higher-is-better (1 for identical images; VIF can exceed 1 for
contrast enhancement), GMSD and HFEN are lower-is-better (0 for identical images).

Convolutions follow MATLAB's ``conv2(x, k, 'same')`` (zero padding; for even-sized kernels the
output sits at MATLAB's offset), which is what the authors' reference implementations use.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from recon_lib.metrics.inputs import ArrayLike, as_mask, as_pair, resolve_data_range

__all__ = ["vif", "gmsd", "haarpsi", "hfen", "log_kernel"]

_EIGHT_BIT = 255.0


# ---- shared machinery -------------------------------------------------------------------------
def _prepare(
    gt: ArrayLike, pred: ArrayLike, mask: ArrayLike | None, data_range: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Both volumes rescaled to 8-bit units (``255 / L``) as float64 tensors, and the mask."""
    g, p = as_pair(gt, pred)
    scale = _EIGHT_BIT / resolve_data_range(g, data_range)
    m = as_mask(mask, g.shape)
    return (
        torch.from_numpy(g * scale),
        torch.from_numpy(p * scale),
        None if m is None else torch.from_numpy(m),
    )


def _correlate_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid 2-D correlation of every slice of ``x`` ``(B, H, W)`` with ``kernel`` ``(kh, kw)``.

    A sum of shifted copies, one per nonzero kernel entry: exact in float64 and, for the small
    kernels here, several times faster than ``conv2d``'s float64 path on a CPU.
    """
    kh, kw = kernel.shape
    H, W = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    out = torch.zeros((*x.shape[:-2], H, W), dtype=x.dtype)
    for (i, j), weight in zip(torch.nonzero(kernel).tolist(), kernel[kernel != 0].tolist(), strict=True):
        out += weight * x[..., i : i + H, j : j + W]
    return out


def _conv_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """MATLAB's ``conv2(x, kernel, 'same')`` of every slice of ``x`` ``(S, H, W)``."""
    kh, kw = kernel.shape
    oh, ow = kh // 2, kw // 2  # MATLAB keeps the full convolution from offset ceil((k - 1) / 2)
    padded = F.pad(x, (kw - 1 - ow, ow, kh - 1 - oh, oh))
    return _correlate_valid(padded, kernel.flip(0, 1))


def _blur_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid filtering of every slice of ``x`` ``(B, H, W)`` with the separable ``outer(window, window)``."""
    return _correlate_valid(_correlate_valid(x, window[:, None]), window[None, :])


_BOX2 = torch.full((2, 2), 0.25, dtype=torch.float64)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """The 2x2 mean then every second pixel: GMSD's and HaarPSI's viewing-distance pre-processing."""
    return _conv_same(x, _BOX2)[:, ::2, ::2]


def _halve_mask(m: torch.Tensor) -> torch.Tensor:
    """A down-sampled pixel is foreground when at least half of its 2x2 block is."""
    return _halve(m.to(torch.float64)) >= 0.5


def _slice_mean(scores: list[float], name: str) -> float:
    if not scores:
        raise ValueError(f"mask leaves no slice with foreground inside the {name} map")
    return float(np.mean(scores))


# ---- VIF --------------------------------------------------------------------------------------
def _gaussian(size: int, sigma: float) -> torch.Tensor:
    """1-D factor of the normalised 2-D Gaussian window (the window is its outer product)."""
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(c**2) / (2 * sigma**2))
    return g / g.sum()


def vif(
    gt: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
    sigma_n_sq: float = 2.0,
) -> float:
    """Pixel-domain visual information fidelity (VIF-P), the mean over slices.

    Four scales; at scale ``s`` (0-3) a Gaussian window of size ``N = 2^(4-s) + 1`` and width ``N / 5``
    gives the local variances ``sigma_r^2``, ``sigma_d^2`` and covariance ``sigma_rd``; the
    distortion channel is a gain ``g = sigma_rd / sigma_r^2`` plus noise ``sigma_v^2 = sigma_d^2 - g sigma_rd``;
    ``VIF = sum log10(1 + g^2 sigma_r^2 / (sigma_v^2 + sigma_n^2)) / sum log10(1 + sigma_r^2 / sigma_n^2)``,
    summed over positions and scales (before scales 1-3 the images are filtered with that scale's
    window and every second pixel kept). ``sigma_n^2 = 2`` is the visual noise in 8-bit units.

    Args:
        gt: reference magnitude volume ``(S, H, W)``; H and W at least 41.
        pred: reconstruction of the same shape.
        mask: optional foreground mask; only the foreground positions of each scale's maps are summed.
        data_range: ``L`` of the 8-bit rescaling; default ``gt.max()`` of the volume.
        sigma_n_sq: variance of the visual noise (8-bit units).

    Returns:
        VIF (higher is better; 1 for identical images).

    Reference:
        H. R. Sheikh, A. C. Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006
        (the pixel-domain version of the authors' ``vifp_mscale``); checked against
        ``torchmetrics.functional.image.visual_information_fidelity`` in the tests.
    """
    g, p, m = _prepare(gt, pred, mask, data_range)
    if min(g.shape[-2:]) < 41:
        raise ValueError(f"vif needs slices of at least 41 x 41 pixels, got {tuple(g.shape[-2:])}")
    if not sigma_n_sq > 0:
        raise ValueError(f"sigma_n_sq must be positive, got {sigma_n_sq}")
    eps = 1e-10
    S = g.shape[0]
    num = torch.zeros(S, dtype=torch.float64)
    den = torch.zeros(S, dtype=torch.float64)
    for scale in range(4):
        n = 2 ** (4 - scale) + 1
        h = (n - 1) // 2
        window = _gaussian(n, n / 5)
        if scale > 0:
            g, p = _blur_valid(torch.cat((g, p)), window)[:, ::2, ::2].split(S)
            m = None if m is None else m[:, h:-h, h:-h][:, ::2, ::2]
        mu_g, mu_p, e_gg, e_pp, e_gp = _blur_valid(torch.cat((g, p, g * g, p * p, g * p)), window).split(S)
        var_g = torch.clamp(e_gg - mu_g**2, min=0.0)
        var_p = torch.clamp(e_pp - mu_p**2, min=0.0)
        cov = e_gp - mu_g * mu_p
        gain = cov / (var_g + eps)
        var_v = var_p - gain * cov
        flat_ref = var_g < eps
        gain[flat_ref], var_v[flat_ref], var_g[flat_ref] = 0.0, var_p[flat_ref], 0.0
        flat_pred = var_p < eps
        gain[flat_pred], var_v[flat_pred] = 0.0, 0.0
        negative = gain < 0
        var_v[negative], gain[negative] = var_p[negative], 0.0
        var_v = torch.clamp(var_v, min=eps)
        info_pred = torch.log10(1.0 + gain**2 * var_g / (var_v + sigma_n_sq))
        info_ref = torch.log10(1.0 + var_g / sigma_n_sq)
        weight = torch.ones_like(info_ref) if m is None else m[:, h:-h, h:-h].to(torch.float64)
        num += (info_pred * weight).sum(dim=(1, 2))
        den += (info_ref * weight).sum(dim=(1, 2))
    scores = [float(num[s] / den[s]) for s in range(S) if float(den[s]) > 0]
    if not scores:
        raise ValueError("gt holds no structure (zero local variance) inside the mask of any slice: VIF is undefined")
    return float(np.mean(scores))


# ---- GMSD -------------------------------------------------------------------------------------
_PREWITT = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=torch.float64) / 3.0


def _gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(_conv_same(x, _PREWITT) ** 2 + _conv_same(x, _PREWITT.T) ** 2)


def gmsd(
    gt: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
    c: float = 170.0,
) -> float:
    """Gradient magnitude similarity deviation, the mean over slices.

    Both images are averaged over 2x2 blocks and down-sampled by 2; ``m_r``, ``m_d`` are their
    Prewitt gradient magnitudes; the similarity map ``GMS = (2 m_r m_d + c) / (m_r^2 + m_d^2 + c)``
    (``c = 170`` in 8-bit units); GMSD is its standard deviation (``N - 1`` normalisation, MATLAB's
    ``std2``), over the foreground when a mask is given.

    Args:
        gt: reference magnitude volume ``(S, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask (down-sampled with the images: a block is foreground when at
            least half of it is).
        data_range: ``L`` of the 8-bit rescaling; default ``gt.max()`` of the volume.
        c: stability constant in 8-bit units.

    Returns:
        GMSD (lower is better; 0 for identical images).

    Reference:
        W. Xue, L. Zhang, X. Mou, A. C. Bovik, "Gradient magnitude similarity deviation: a highly
        efficient perceptual image quality index", IEEE TIP 23(2), 684-695, 2014 (and the authors'
        MATLAB ``GMSD.m``).
    """
    g, p, m = _prepare(gt, pred, mask, data_range)
    if not c > 0:
        raise ValueError(f"c must be positive, got {c}")
    mr, md = _gradient_magnitude(_halve(g)), _gradient_magnitude(_halve(p))
    gms = (2 * mr * md + c) / (mr**2 + md**2 + c)  # (S, H/2, W/2)
    fg = None if m is None else _halve_mask(m)
    scores = []
    for s in range(gms.shape[0]):
        values = gms[s].flatten() if fg is None else gms[s][fg[s]]
        if values.numel() >= 2:
            scores.append(float(values.std(correction=1)))
    return _slice_mean(scores, "down-sampled GMSD")


# ---- HaarPSI ----------------------------------------------------------------------------------
def _haar_filters(scales: int) -> list[torch.Tensor]:
    """Haar filters of scale 1..scales: ``2^-j`` on a ``2^j`` square, the upper half negated."""
    filters = []
    for j in range(1, scales + 1):
        f = torch.full((2**j, 2**j), 2.0**-j, dtype=torch.float64)
        f[: 2 ** (j - 1)] *= -1
        filters.append(f)
    return filters


def haarpsi(
    gt: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
    c: float = 30.0,
    alpha: float = 4.2,
) -> float:
    """Haar wavelet-based perceptual similarity index, the mean over slices.

    Both images are averaged over 2x2 blocks and down-sampled by 2, then filtered with Haar
    wavelets of scales 1-3 in two orientations. For each orientation the local similarity is the
    mean over scales 1 and 2 of ``(2 |h_r| |h_d| + c) / (|h_r|^2 + |h_d|^2 + c)`` and its weight the
    larger of the scale-3 magnitudes ``max(|h_r|, |h_d|)``. With the logistic ``l(x) = 1 / (1 +
    exp(-alpha x))``: ``HaarPSI = (l^-1(sum l(S) W / sum W))^2``, sums over positions and orientations.
    ``c = 30`` (8-bit units) and ``alpha = 4.2`` are the published constants.

    Args:
        gt: reference magnitude volume ``(S, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask (down-sampled with the images); sums over its positions only.
        data_range: ``L`` of the 8-bit rescaling; default ``gt.max()`` of the volume.
        c: stability constant in 8-bit units.
        alpha: steepness of the logistic pooling.

    Returns:
        HaarPSI in ``(0, 1]`` (higher is better; 1 for identical images).

    Reference:
        R. Reisenhofer, S. Bosse, G. Kutyniok, T. Wiegand, "A Haar wavelet-based perceptual
        similarity index for image quality assessment", Signal Processing: Image Communication 61,
        33-43, 2018 (and the authors' MATLAB/Python ``HaarPSI``, grayscale with sub-sampling).
    """
    g, p, m = _prepare(gt, pred, mask, data_range)
    if not (c > 0 and alpha > 0):
        raise ValueError(f"c and alpha must be positive, got c={c}, alpha={alpha}")
    g, p = _halve(g), _halve(p)
    fg = None if m is None else _halve_mask(m).to(torch.float64)
    numerator = torch.zeros(g.shape[0], dtype=torch.float64)
    weights = torch.zeros(g.shape[0], dtype=torch.float64)
    filters = _haar_filters(3)
    for orientation in range(2):
        kernels = [f if orientation == 0 else f.T for f in filters]
        hr = [_conv_same(g, k).abs() for k in kernels]
        hd = [_conv_same(p, k).abs() for k in kernels]
        similarity = (
            (2 * hr[0] * hd[0] + c) / (hr[0] ** 2 + hd[0] ** 2 + c)
            + (2 * hr[1] * hd[1] + c) / (hr[1] ** 2 + hd[1] ** 2 + c)
        ) / 2  # scales 1 and 2
        weight = torch.maximum(hr[2], hd[2])
        if fg is not None:
            weight = weight * fg
        numerator += (torch.sigmoid(alpha * similarity) * weight).sum(dim=(1, 2))
        weights += weight.sum(dim=(1, 2))
    scores = []
    for s in range(g.shape[0]):
        if float(weights[s]) > 0:
            pooled = float(numerator[s] / weights[s])
            scores.append((math.log(pooled / (1 - pooled)) / alpha) ** 2)
    return _slice_mean(scores, "HaarPSI weight")


# ---- HFEN -------------------------------------------------------------------------------------
def _log_factors(size: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(a, b, m)`` with ``log_kernel = outer(b, a) + outer(a, b) - m``: the separable form used by :func:`hfen`.

    The normalised Gaussian is ``outer(a, a)``; ``(x^2 + y^2 - 2 sigma^2) = (x^2 - sigma^2) + (y^2 - sigma^2)``.
    """
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    a = torch.exp(-(c**2) / (2 * sigma**2))
    a = a / a.sum()
    b = a * (c**2 - sigma**2) / sigma**4
    m = float(2 * b.sum() * a.sum()) / size**2
    return a, b, m


def log_kernel(size: int = 15, sigma: float = 1.5) -> torch.Tensor:
    """Laplacian-of-Gaussian kernel as MATLAB's ``fspecial('log', size, sigma)``: zero sum, float64."""
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    h = torch.exp(-r2 / (2 * sigma**2))
    h[h < torch.finfo(torch.float64).eps * h.max()] = 0
    h = h / h.sum()
    h1 = h * (r2 - 2 * sigma**2) / sigma**4
    return h1 - h1.sum() / h1.numel()


def _log_filter(x: torch.Tensor, size: int = 15, sigma: float = 1.5) -> torch.Tensor:
    """``conv2(x, log_kernel(size, sigma), 'same')`` of every slice, through the separable form
    (equal to the 2-D kernel when no Gaussian value falls below fspecial's ``eps`` cut: true for 15 and 1.5)."""
    a, b, m = _log_factors(size, sigma)
    ones = torch.ones(size, dtype=torch.float64)

    def sep(col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        return _conv_same(_conv_same(x, col[:, None]), row[None, :])

    return sep(b, a) + sep(a, b) - m * sep(ones, ones)


def hfen(
    gt: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
) -> float:
    """High-frequency error norm ``||LoG * (pred - gt)|| / ||LoG * gt||`` over the volume.

    ``LoG`` is the 15 x 15 Laplacian-of-Gaussian of width 1.5 (:func:`log_kernel`), applied to
    each slice with zero padding (``conv2(..., 'same')``); the norms run over every pixel, or over the foreground.

    Args:
        gt: reference magnitude volume ``(S, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask.
        data_range: accepted for the shared signature and checked; HFEN is a ratio of norms and does
            not depend on it.

    Returns:
        HFEN (lower is better; 0 for identical images).

    Reference:
        S. Ravishankar, Y. Bresler, "MR image reconstruction from highly undersampled k-space data
        by dictionary learning", IEEE TMI 30(5), 1028-1041, 2011.
    """
    g, p, m = _prepare(gt, pred, mask, data_range)
    err, ref = _log_filter(p - g), _log_filter(g)
    if m is not None:
        err, ref = err[m], ref[m]
    denom = float(torch.linalg.vector_norm(ref))
    if denom == 0:
        raise ValueError("gt has no Laplacian-of-Gaussian energy (inside the mask): HFEN is undefined")
    return float(torch.linalg.vector_norm(err)) / denom
