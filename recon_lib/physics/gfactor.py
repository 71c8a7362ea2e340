"""The SENSE g-factor: how much undersampled parallel imaging amplifies noise, pixel by pixel.

Unregularised SENSE solves :math:`\\hat x = (E^H E)^{-1} E^H y` with :math:`E = M F S`. With white
k-space noise of variance :math:`\\sigma^2`, the noise variance of pixel :math:`\\rho` is
:math:`\\sigma^2 [(E^H E)^{-1}]_{\\rho\\rho}`; fully sampled, it is :math:`\\sigma^2 / \\sum_c |S_c(\\rho)|^2`.
An acceleration :math:`R` costs :math:`\\sqrt R` in SNR from the shorter scan alone; the **g-factor** is
what the coil geometry adds on top (Pruessmann et al. 1999):

.. math::

    \\mathrm{SNR}_R(\\rho) = \\frac{\\mathrm{SNR}_1(\\rho)}{g(\\rho)\\,\\sqrt R}, \\qquad
    g(\\rho) = \\sqrt{[(E^H E)^{-1}]_{\\rho\\rho}\\; [E_1^H E_1]_{\\rho\\rho} / R}\\;\\ge 1 .

Cartesian masks skip phase-encode columns (W) only, and the readout (H) is fully sampled, so the
problem separates into one small system per image row: with :math:`P = F^H \\mathrm{diag}(m) F` the
mask's projector along W and :math:`G = S^H S` the row's coil Gram matrix,
:math:`E^H E = P \\odot G` (element-wise). For equispaced sampling this reduces to the textbook
formula over each set of :math:`R` aliased pixels, :math:`g = \\sqrt{[(S^H S)^{-1}]_{\\rho\\rho}(S^H S)_{\\rho\\rho}}`.

* :func:`gfactor_map` -- the analytic map (NaN where the maps are zero: no coil sees the pixel).
* :func:`pseudo_replica_gfactor` -- the same by Monte Carlo (Robson et al. 2008): reconstruct pure
  noise many times, accelerated and fully sampled, and compare the variances.
* :func:`cg_sense_gfactor` -- the noise amplification of CG-SENSE *as run*: a fixed number of
  iterations on the measured data, by pseudo-replicas.

The analytic map is the g-factor of the *converged* least-squares SENSE solution. It is meaningful
for equispaced sampling (about 2 at R = 4 for a 15-coil knee array, see the published values). A
*random* Cartesian mask leaves gaps of 10--35 columns, wider than the bandwidth of smooth coil maps:
images whose spectrum lies inside a gap are then almost invisible to every coil, the exact inverse
is nearly singular and its g-factor reaches 10^3--10^6 (measured on the embedded data, whichever
maps: the fully sampled ESPIRiT maps or those calibrated on the centre lines). No one runs that
inverse. CG-SENSE stopped after a few iterations (notebook 03) is regularised by the early stop: its
noise amplification, :func:`cg_sense_gfactor`, stays of order one (below one where the early stop
smooths), at the price of residual aliasing.

References:
    K. P. Pruessmann, M. Weiger, M. B. Scheidegger, P. Boesiger, "SENSE: sensitivity encoding for
    fast MRI", MRM 42, 1999.
    P. M. Robson, A. K. Grant, A. J. Madhuranthakam, R. Lattanzi, D. K. Sodickson, C. A. McKenzie,
    "Comprehensive quantification of signal-to-noise ratio and g-factor for image-based and
    k-space-based parallel imaging reconstructions", MRM 60, 2008.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recon_lib.core.checks import check_int
from recon_lib.physics.fft import fft1c

__all__ = ["gfactor_map", "pseudo_replica_gfactor", "cg_sense_gfactor", "mask_projector"]

#: a pixel belongs to the maps' support when sum_c |S_c|^2 exceeds this fraction of its maximum
SUPPORT = 1e-6


def _inputs(maps: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps as complex128 ``(C, H, W)`` and the mask as float64 ``(W,)``, checked against each other."""
    s = torch.as_tensor(maps)
    while s.ndim > 3 and s.shape[0] == 1:
        s = s[0]
    if s.ndim != 3 or not s.is_complex():
        raise ValueError(f"maps must be complex coil maps (C, H, W), got {tuple(s.shape)} {s.dtype}")
    m = torch.as_tensor(mask).reshape(-1).to(torch.float64)
    if m.numel() != s.shape[-1]:
        raise ValueError(f"the mask has {m.numel()} columns, the maps {s.shape[-1]} (W)")
    if not torch.all((m == 0) | (m == 1)) or int(m.sum()) == 0:
        raise ValueError("the mask must be 0/1 with at least one sampled column")
    return s.to(torch.complex128), m


def mask_projector(mask: Any) -> torch.Tensor:
    """``P = F^H diag(m) F`` along W (centred orthonormal DFT), ``(W, W)`` complex128.

    Example:
        >>> P = mask_projector(torch.ones(8))
        >>> bool(torch.allclose(P, torch.eye(8, dtype=torch.complex128)))
        True
    """
    m = torch.as_tensor(mask).reshape(-1).to(torch.complex128)
    eye = torch.eye(m.numel(), dtype=torch.complex128)
    f = fft1c(eye, dim=0)  # column j is F e_j
    return f.conj().T @ (m[:, None] * f)


def _row_systems(maps: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: ``E^H E = P * G`` ``(H, W, W)``, the Gram diagonal ``sum_c |S_c|^2`` ``(H, W)``, the support."""
    gram = torch.einsum("chi,chj->hij", maps.conj(), maps)  # (H, W, W): sum_c conj(S_c[i]) S_c[j]
    diagonal = torch.diagonal(gram, dim1=-2, dim2=-1).real  # (H, W) = sum_c |S_c|^2
    support = diagonal > SUPPORT * float(diagonal.max())
    return mask_projector(mask)[None] * gram, diagonal, support


def gfactor_map(maps: Any, mask: Any, acceleration: float | None = None) -> np.ndarray:
    """The analytic SENSE g-factor of a Cartesian column mask.

    Args:
        maps: complex coil maps ``(C, H, W)`` (a leading batch of one is allowed).
        mask: the sampled columns, 0/1 ``(W,)`` (or anything that flattens to it).
        acceleration: ``R``; default the realised one, ``W / sampled columns``.

    Returns:
        ``g`` ``(H, W)`` float64, NaN outside the maps' support. Fully sampled, ``g = 1``.
    """
    s, m = _inputs(maps, mask)
    r = float(acceleration) if acceleration is not None else m.numel() / float(m.sum())
    normal, diagonal, support = _row_systems(s, m)
    g = np.full(tuple(diagonal.shape), np.nan)
    for row in range(s.shape[1]):
        inside = torch.nonzero(support[row]).flatten()
        if inside.numel() == 0:
            continue
        block = normal[row][inside][:, inside]
        inverse_diagonal = torch.diagonal(torch.linalg.inv(block)).real
        g[row, inside.numpy()] = torch.sqrt(inverse_diagonal * diagonal[row, inside] / r).numpy()
    return g


def pseudo_replica_gfactor(maps: Any, mask: Any, replicas: int = 100, seed: int = 0) -> np.ndarray:
    """The g-factor by pseudo-replicas: pure white noise reconstructed ``replicas`` times by least squares.

    Each replica draws complex white noise on every coil's k-space, solves ``(E^H E) x = E^H n`` for the
    undersampled and for the fully sampled acquisition, and the pixel-wise variances give
    ``g = sqrt(var_R / (var_1 R))``. Converges to :func:`gfactor_map` as ``1 / sqrt(replicas)``.
    """
    s, m = _inputs(maps, mask)
    replicas = check_int("replicas", replicas, minimum=2)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    c, h, w = s.shape
    f = fft1c(torch.eye(w, dtype=torch.complex128), dim=0)
    variances = []
    for sampled in (m, torch.ones_like(m)):
        normal, _, support = _row_systems(s, sampled)
        noise = torch.complex(torch.randn(replicas, c, h, w, generator=generator, dtype=torch.float64),
                              torch.randn(replicas, c, h, w, generator=generator, dtype=torch.float64))  # fmt: skip
        adjoint = _adjoint(s, sampled, noise, f)  # (replicas, H, W)
        estimate = torch.zeros(replicas, h, w, dtype=torch.complex128)
        for row in range(h):
            inside = torch.nonzero(support[row]).flatten()
            if inside.numel():
                block = normal[row][inside][:, inside]
                estimate[:, row, inside] = torch.linalg.solve(block, adjoint[:, row, inside].T).T
        variances.append(estimate.abs().pow(2).mean(dim=0) - estimate.mean(dim=0).abs().pow(2))
    r = m.numel() / float(m.sum())
    g = torch.sqrt(variances[0] / (variances[1] * r)).numpy()
    g[~_row_systems(s, m)[2].numpy()] = np.nan
    return g


def _adjoint(maps: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``E^H n`` per replica ``(R, H, W)``: mask the noise's columns, inverse DFT along W, coil-combine."""
    masked = noise * mask  # (R, C, H, W), the noise on the sampled columns only
    images = torch.einsum("vw,rchv->rchw", f.conj(), masked)  # F^H along W: sum_v conj(F[v, w]) k[v]
    return torch.einsum("chw,rchw->rhw", maps.conj(), images)


def cg_sense_gfactor(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    num_iters: int,
    replicas: int = 32,
    seed: int = 0,
    noise_std: float | None = None,
    chunk: int = 8,
) -> np.ndarray:
    """The g-factor of CG-SENSE as it is run: ``num_iters`` iterations from zero on the measured data.

    CG with a fixed number of iterations is not a linear map of the data (its step sizes depend on
    them), so its noise is measured as Robson et al. (2008) do for any reconstruction: ``replicas``
    reconstructions of the data plus white complex k-space noise of standard deviation
    ``noise_std`` (default 1e-3 of the sampled data's RMS, small enough to probe the method's linear
    response at these data); ``g = std_R / (std_1 sqrt(R))`` with ``std_1 = noise_std / sqrt(sum_c
    |S_c|^2)`` the fully sampled SENSE combination's. Below one where the early stop smooths the
    noise away (and leaves aliasing), above one where it amplifies it.

    Args:
        kspace, maps, mask: as for :func:`~recon_lib.physics.classical.cg_sense`, batch of one
            (``(1, C, H, W)``, ``(1, C, H, W)``, ``(1, 1, 1, W)``).
        num_iters: CG iterations (the stopping iteration of the reconstruction being assessed).
        replicas: noise realisations (the map's relative error is about ``1 / sqrt(2 replicas)``).
        seed: the noise generator's seed.
        noise_std: the added noise's standard deviation per real and imaginary part.
        chunk: replicas reconstructed at once (memory).

    Returns:
        ``g`` ``(H, W)`` float64, NaN outside the maps' support.
    """
    from recon_lib.physics.classical import cg_sense

    if kspace.ndim != 4 or kspace.shape[0] != 1:
        raise ValueError(f"kspace must be one slice (1, C, H, W), got {tuple(kspace.shape)}")
    replicas = check_int("replicas", replicas, minimum=2)
    m = mask.to(torch.float32)
    sampled = (kspace * m).abs()
    rms = float(sampled.pow(2).sum() / (m.expand_as(sampled).sum()).clamp_min(1)) ** 0.5
    sigma = float(noise_std) if noise_std is not None else 1e-3 * rms
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    base = cg_sense(kspace, maps, m, num_iters=num_iters, tol=0.0)
    total = torch.zeros(kspace.shape[-2:], dtype=torch.float64)
    for start in range(0, replicas, check_int("chunk", chunk, minimum=1)):
        n = min(chunk, replicas - start)
        shape = (n, *kspace.shape[1:])
        noise = torch.complex(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
        noisy = kspace.expand(shape) + sigma * noise
        x = cg_sense(noisy, maps.expand(shape), m, num_iters=num_iters, tol=0.0)
        total += (x - base).abs().pow(2).sum(dim=0).to(torch.float64)
    variance = total / replicas  # E|x - x(y)|^2 per pixel: the noise's variance (complex, 2 sigma^2 per pixel)
    gram = maps[0].abs().pow(2).sum(dim=0).to(torch.float64)  # sum_c |S_c|^2
    support = gram > SUPPORT * float(gram.max())
    r = m.numel() / float(m.sum())
    g = torch.sqrt(variance * gram / (2 * sigma**2 * r)).numpy()
    g[~support.numpy()] = np.nan
    return g
