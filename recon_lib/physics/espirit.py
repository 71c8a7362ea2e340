"""ESPIRiT coil sensitivity maps from the fully sampled centre of k-space (Uecker et al. 2014).

ESPIRiT in four steps, batched over slices with torch (no Python loop over pixels or kernels):

1. **Calibration matrix.** The central ``calib_width x calib_width`` block of every coil's
   k-space is cut into all ``kernel_width x kernel_width`` patches (a block-Hankel matrix with one
   row per patch position and ``C * kernel_width**2`` columns).
2. **Kernel space.** Its right singular vectors whose singular value exceeds
   ``threshold * sigma_max`` span the *signal* (GRAPPA-kernel) space; ``V_par`` collects them.
3. **Image-space operator.** The projection onto that space, ``Q = V_par V_par^H``, acts in image
   space as one ``C x C`` Hermitian matrix per pixel,
   ``G(r) = (1 / k^2) sum_d A(d) exp(2 pi i d . r / N)``, where ``A(d)`` sums the entries of ``Q``
   whose two kernel positions differ by ``d`` (``|d| < kernel_width``): the centred inverse DFT
   of ``A`` placed on the image grid, which is separable and short (``2k - 1`` lags per axis).
4. **Eigen-decomposition.** Where the object is, ``G(r)`` has an eigenvalue close to 1 whose
   eigenvector is the vector of coil sensitivities ``S(r)`` (unit norm, ``sum_c |S_c|^2 = 1``);
   elsewhere the top eigenvalue is smaller. Maps are kept where it exceeds ``crop`` and set to
   zero elsewhere; the arbitrary per-pixel phase is fixed by making coil 0 real and positive.

This reproduces ``sigpy.mri.app.EspiritCalib`` (same defaults: calibration 24, kernel 6,
threshold 0.02, crop 0.95; one set of maps; ``tests/test_espirit.py`` checks the two agree) but
runs whole stacks of slices at once: the ``C x C`` operators come from two small DFT matrix
products instead of one FFT per kernel, and one batched ``torch.linalg.eigh`` (split over the
torch threads) replaces sigpy's 100 power iterations.

**Readout oversampling.** fastMRI raw data are 2x oversampled along the readout H and the knee
extends past the *cropped* field of view at its top and bottom edges. Calibrated on the
readout-cropped k-space, ESPIRiT then sees an object that wraps around those edges and finds a
second eigenvalue close to 1 there (the situation two-map ESPIRiT is made for): the single map
set is wrong in the top and bottom rows. Calibrating on the raw, oversampled k-space -- where the
object does not reach the field-of-view edges -- and keeping the central ``H / 2`` rows
(``crop_readout=True``) avoids this; the eigen-decomposition is evaluated on those rows only,
so it costs the same. :mod:`recon_lib.data.prepare` does this.

Defaults (:data:`ESPIRIT_DEFAULTS`, recorded in every prepared file): a 24 x 24 calibration
block, 6 x 6 kernels, singular values above 0.02 of the largest span the signal space, maps kept
where the top eigenvalue exceeds 0.95.

**Maps from what a scan acquired.** An undersampled scan has only its auto-calibration lines
(``recon_lib.physics.masks.center_lines``: 15 lines at AF 4, 7 at AF 8 in the teaching geometry).
``calib_columns`` calibrates on the rectangle ``calib_width`` readout rows x those lines and
nothing else. Too few lines for the kernel is an error (:func:`check_calibration_region`, a
measured criterion): 7 lines need a kernel of at most 3.

References:
    M. Uecker et al., "ESPIRiT -- an eigenvalue approach to autocalibrating parallel MRI: where
    SENSE meets GRAPPA", MRM 71(3), 990-1001, 2014.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, overload

import torch

from recon_lib.core.checks import check_complex, check_int
from recon_lib.core.tensors import center_crop
from recon_lib.physics.fft import readout_rows

__all__ = ["espirit_maps", "check_calibration_region", "ESPIRIT_DEFAULTS", "MIN_CALIB_POSITIONS"]

#: the settings :mod:`recon_lib.data.prepare` uses (and records in every prepared file)
ESPIRIT_DEFAULTS: dict[str, Any] = {"calib_width": 24, "kernel_width": 6, "threshold": 0.02, "crop": 0.95}


def _calibration_matrix(calib: torch.Tensor, kernel_width: int) -> torch.Tensor:
    """Block-Hankel matrix of a calibration block.

    Args:
        calib: complex ``(B, C, n, m)`` (a square or rectangular block).
        kernel_width: patch size ``k``.

    Returns:
        Complex ``(B, (n - k + 1) * (m - k + 1), C * k * k)``: one row per patch position, columns
        ordered (coil, ky, kx).
    """
    b, c = calib.shape[:2]
    patches = calib.unfold(2, kernel_width, 1).unfold(3, kernel_width, 1)  # (B, C, n', m', k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5)  # (B, n', m', C, k, k)
    return patches.reshape(b, -1, c * kernel_width * kernel_width)


def _image_space_operator(
    kernels: torch.Tensor,
    weights: torch.Tensor,
    num_coils: int,
    kernel_width: int,
    shape: tuple[int, int],
    rows: tuple[int, int] | None = None,
) -> torch.Tensor:
    """The per-pixel ``C x C`` operator ``G(r)`` of the kernel-space projection.

    Args:
        kernels: right singular vectors as rows, complex ``(B, K, C * k * k)``.
        weights: real ``(B, K)``, 1 for kept (signal-space) vectors and 0 otherwise.
        num_coils: ``C``.
        kernel_width: ``k``.
        shape: image size ``(H, W)`` of the k-space grid the kernels were calibrated on.
        rows: evaluate only image rows ``[start, stop)`` (default all ``H``).

    Returns:
        Complex ``(B, rows, W, C, C)``, Hermitian in the last two dimensions.
    """
    b = kernels.shape[0]
    k, c = kernel_width, num_coils
    h, w = shape
    row_start, row_stop = rows if rows is not None else (0, h)
    # Q[(c, p), (c', p')] = sum_kept V[c, p] conj(V[c', p'])
    q = kernels.transpose(1, 2) @ (weights.unsqueeze(-1).to(kernels.dtype) * kernels.conj())
    q = q.reshape(b, c, k, k, c, k, k)  # (B, C, py, px, C', p'y, p'x)
    # A(d) = sum over position pairs with p - p' = d; d in [-(k-1), k-1]^2 stored at d + k - 1
    a = q.new_zeros(b, c, c, 2 * k - 1, 2 * k - 1)
    for py in range(k):
        for px in range(k):
            block = q[:, :, :, :, :, py, px].permute(0, 1, 4, 2, 3)  # (B, C, C', ky, kx), d = k - p'
            a[:, :, :, k - 1 - py : 2 * k - 1 - py, k - 1 - px : 2 * k - 1 - px] += block
    # G(r) = (1 / k^2) sum_d A(d) exp(2 pi i d . (r - N // 2) / N) -- the centred inverse DFT of
    # A(d) placed at grid index N // 2 + d. A has only (2k - 1)^2 non-zero lags, so the DFT is
    # separable into two small matrix products (much cheaper than C^2 FFTs of the full grid).
    lags = torch.arange(-(k - 1), k, dtype=torch.float64)
    e_y = torch.polar(
        torch.ones(row_stop - row_start, 2 * k - 1, dtype=torch.float64),
        2 * math.pi * torch.outer(torch.arange(row_start, row_stop) - h // 2, lags) / h,
    )  # (rows, 2k-1)
    e_x = torch.polar(
        torch.ones(w, 2 * k - 1, dtype=torch.float64), 2 * math.pi * torch.outer(torch.arange(w) - w // 2, lags) / w
    )  # (W, 2k-1)
    e_y, e_x = e_y.to(a.dtype), (e_x / (k * k)).to(a.dtype)
    g = torch.einsum("yd,bijde->byeij", e_y, a)  # (B, rows, 2k-1, C, C')
    return torch.einsum("byeij,xe->byxij", g, e_x)  # (B, rows, W, C, C')


def _batched_eigh(mats: torch.Tensor, num_threads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` of a stack ``(N, C, C)`` of Hermitian matrices (lower triangle read).

    Batched ``eigh`` on the CPU runs on one core; the stack is split into one chunk per torch
    thread and the chunks are solved in a thread pool (LAPACK releases the GIL).
    """
    workers = max(1, num_threads or torch.get_num_threads())
    if workers == 1 or mats.device.type != "cpu" or mats.shape[0] < 2 * workers:
        return torch.linalg.eigh(mats)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(torch.linalg.eigh, mats.chunk(workers)))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


#: fewest kernel positions along the phase-encode direction a calibration region must allow.
#: Measured on the embedded test volumes (``benchmarks/acs_maps.py``, 6 volumes x 2 slices, SENSE
#: combination of the full k-space against the reference from full-data maps): on the 7 lines of
#: AF 8, kernels with 2 / 3 / 4 / 5 positions (k = 6 / 5 / 4 / 3) lose 98 / 48 / 3.3 / 0 % of the
#: foreground to the eigenvalue crop and give 98 / 64 / 12 / 0.11 % error; at AF 4 (15 lines, k = 6,
#: 10 positions) the error is 0.02 %.
MIN_CALIB_POSITIONS = 5


def check_calibration_region(num_lines: int, kernel_width: int) -> None:
    """Raise ``ValueError`` when ``num_lines`` acquired centre lines are too few to calibrate with
    kernels ``kernel_width`` wide: the kernel must fit at :data:`MIN_CALIB_POSITIONS` positions
    along the phase-encode direction (``num_lines - kernel_width + 1 >= MIN_CALIB_POSITIONS``).

    Example:
        >>> check_calibration_region(15, 6)  # AF 4 in the teaching geometry, sigpy's kernel: fine
        >>> check_calibration_region(7, 6)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 7 calibration lines allow 2 position(s) of a 6-wide kernel; at least 5 are needed ...
    """
    positions = num_lines - kernel_width + 1
    if positions < MIN_CALIB_POSITIONS:
        raise ValueError(
            f"{num_lines} calibration lines allow {max(positions, 0)} position(s) of a {kernel_width}-wide kernel; "
            f"at least {MIN_CALIB_POSITIONS} are needed (use >= {kernel_width + MIN_CALIB_POSITIONS - 1} lines "
            "or a smaller kernel)"
        )


@overload
def espirit_maps(
    kspace: torch.Tensor,
    calib_width: int = ...,
    kernel_width: int = ...,
    threshold: float = ...,
    crop: float = ...,
    crop_readout: bool = ...,
    calib_columns: slice | None = ...,
    return_eigenvalues: Literal[False] = ...,
) -> torch.Tensor: ...


@overload
def espirit_maps(
    kspace: torch.Tensor,
    calib_width: int = ...,
    kernel_width: int = ...,
    threshold: float = ...,
    crop: float = ...,
    crop_readout: bool = ...,
    calib_columns: slice | None = ...,
    *,
    return_eigenvalues: Literal[True],
) -> tuple[torch.Tensor, torch.Tensor]: ...


def espirit_maps(
    kspace: torch.Tensor,
    calib_width: int = ESPIRIT_DEFAULTS["calib_width"],
    kernel_width: int = ESPIRIT_DEFAULTS["kernel_width"],
    threshold: float = ESPIRIT_DEFAULTS["threshold"],
    crop: float = ESPIRIT_DEFAULTS["crop"],
    crop_readout: bool = False,
    calib_columns: slice | None = None,
    return_eigenvalues: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """ESPIRiT coil sensitivity maps (one set) from k-space with a fully sampled centre.

    Args:
        kspace: complex ``(B, C, H, W)``; only the central ``calib_width x calib_width`` block
            is used, so the rest may be undersampled.
        calib_width: side of the square calibration block (lines along both H and W).
        kernel_width: side of the square ESPIRiT (GRAPPA) kernel.
        threshold: singular values above ``threshold * sigma_max`` define the signal space.
        crop: maps are zero where the top eigenvalue of the image-space operator is at most
            ``crop`` (outside the object); use 0 to keep them everywhere.
        crop_readout: ``kspace`` is raw data with 2x readout oversampling along H: calibrate on
            it and return the maps of the central ``H / 2`` rows only (the readout-cropped field
            of view, rows ``H/4 .. 3H/4``). Recommended for fastMRI-like data, see the module
            docstring.
        calib_columns: calibrate on these phase-encode columns only (a rectangular region:
            ``calib_width`` central readout rows x these columns), e.g. the acquired centre lines
            of an undersampled scan, :func:`recon_lib.physics.masks.center_lines`. The region
            must allow :data:`MIN_CALIB_POSITIONS` kernel positions along W (else ``ValueError``,
            see :func:`check_calibration_region`). Default: the central ``calib_width`` columns.
        return_eigenvalues: also return the top eigenvalue per pixel.

    Returns:
        Complex ``(B, C, H', W)`` maps of ``kspace``'s dtype (``H' = H`` or ``H / 2`` with
        ``crop_readout``), ``sum_c |S_c|^2 = 1`` where kept and zero elsewhere, coil 0 real
        non-negative; with ``return_eigenvalues`` also the real ``(B, H', W)`` top eigenvalues.
    """
    check_complex("kspace", kspace, ndim=4)
    b, c, h, w = kspace.shape
    kernel_width = check_int("kernel_width", kernel_width, minimum=1)
    if isinstance(calib_width, bool) or not isinstance(calib_width, int) or not kernel_width < calib_width <= min(h, w):
        raise ValueError(
            f"calib_width must be an integer in ({kernel_width}, {min(h, w)}] "
            f"(kernel_width, smallest k-space side), got {calib_width!r}"
        )
    if 2 * kernel_width - 1 > min(h, w):
        raise ValueError(f"kernel_width {kernel_width} is too large for k-space of size {(h, w)}")
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    if not 0.0 <= float(crop) < 1.0:
        raise ValueError(f"crop must be in [0, 1), got {crop!r}")
    if crop_readout and h % 2:
        raise ValueError(f"crop_readout needs an even readout size H, got kspace of shape {tuple(kspace.shape)}")
    kept = readout_rows(h) if crop_readout else slice(0, h)
    rows = (kept.start, kept.stop)
    out_h = rows[1] - rows[0]

    work = kspace if kspace.dtype == torch.complex128 else kspace.to(torch.complex64)
    if calib_columns is None:
        calib = center_crop(work, (calib_width, calib_width))  # (B, C, n, n)
    else:
        cols = range(w)[calib_columns]
        if cols.step != 1 or len(cols) == 0:
            raise ValueError(f"calib_columns must be a non-empty contiguous slice of range({w}), got {calib_columns}")
        check_calibration_region(len(cols), kernel_width)
        calib = center_crop(work, (calib_width, w))[..., cols.start : cols.stop]  # (B, C, n, lines)
    mat = _calibration_matrix(calib, kernel_width)  # (B, patches, C k^2)
    _, sing, vh = torch.linalg.svd(mat, full_matrices=False)  # sing (B, K), vh (B, K, C k^2)
    keep = (sing > threshold * sing[:, :1]).to(sing.dtype)  # (B, K): the signal space
    g = _image_space_operator(vh, keep, c, kernel_width, (h, w), rows)  # (B, H', W, C, C)
    eigvals, eigvecs = _batched_eigh(g.reshape(-1, c, c))  # ascending; eigenvectors as columns
    top = eigvals[:, -1].reshape(b, out_h, w)  # (B, H', W)
    maps = eigvecs[:, :, -1].reshape(b, out_h, w, c).permute(0, 3, 1, 2)  # (B, C, H', W)
    # Fix the per-pixel phase: coil 0 real and non-negative (as sigpy does).
    ref = maps[:, :1]
    phase = torch.where(ref.abs() > 0, ref.conj() / ref.abs().clamp_min(1e-30), torch.ones_like(ref))
    maps = maps * phase * (top > crop).unsqueeze(1).to(maps.real.dtype)
    maps = maps.to(kspace.dtype).contiguous()
    if return_eigenvalues:
        return maps, top.to(kspace.real.dtype)
    return maps
