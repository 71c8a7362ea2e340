"""Coil-wise k-space data consistency (DC), the layer between the cascades of the SN.

Given a coil-combined image estimate ``x`` ``(B, H, W)``, the measured (masked) multi-coil
k-space ``k0`` ``(B, C, H, W)``, coil maps ``S`` and the sampling mask ``m``, the layer

1. expands the image to coil k-space: ``k = F(S x)``;
2. replaces (``"hard"``) or blends (``"soft"``) the sampled locations with the measurements::

       k_dc = (1 - m) * k + m * (a * k + (1 - a) * k0)

3. combines the coils again: ``x_dc = sum_c conj(S_c) F^{-1}(k_dc,c)``.

``a = 0`` (``mode="hard"``) is the projection of Deep-POCSENSE: sampled k-space points are
replaced by the data. ``mode="soft"`` learns ``a = sigmoid(w)`` from one scalar ``w`` (the
noisy-data variant of Σ-net), so ``a`` always stays in ``(0, 1)``.

With coil maps normalised to ``sum_c |S_c|^2 = 1`` and data generated from an image
(``k0 = M F(S x_true)``), ``x_true`` is a fixed point of hard DC; with a full mask, hard DC
returns ``sens_reduce(k0, maps)`` whatever the input.

Speed (:class:`PreparedSense`). An unrolled network applies DC once per cascade with the same
``k0``, maps and mask, so what does not change is prepared once per forward pass. And a
fastMRI mask samples whole phase-encode lines (it is constant along the readout ``H``), so the
mask commutes with the Fourier transform along ``H``: DC needs only the 1-D transforms along
``W``, in the hybrid space (image along ``H``, k-space along ``W``), with the measured data
transformed along ``H`` once. The centring of the FFT (a checkerboard modulation for even sizes,
:func:`~recon_lib.physics.fft.centring_modulation`) is folded into the prepared maps and data.
Both are exact rewritings of steps 1-3 (equal up to floating-point rounding); on the teaching SN
they halve the FFT work and remove four of the five complex multiplications per cascade.

References:
    J. Schlemper et al., "Data consistency networks for (calibration-less) accelerated
    parallel MR image reconstruction", ISMRM 2019 (Deep-POCSENSE).
    K. Hammernik et al., "Σ-net: Systematic evaluation of iterative deep neural networks for
    fast parallel MR image reconstruction", arXiv:1912.09278, 2019 (k-space fill DC).
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (SN: DC performed coil-wise in k-space).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from recon_lib.core.checks import check_broadcastable, check_complex, check_real
from recon_lib.physics.fft import centring_modulation, ifft1c

__all__ = ["DataConsistency", "PreparedSense", "check_reconstruction_inputs"]

DCMode = Literal["hard", "soft"]


def check_reconstruction_inputs(
    kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, kspace_name: str = "kspace"
) -> None:
    """Check the ``(kspace, maps, mask)`` triple every reconstructor takes.

    Args:
        kspace: complex multi-coil k-space ``(B, C, H, W)``.
        maps: complex coil sensitivities ``(B, C, H, W)``, the same shape as ``kspace``.
        mask: real 0/1 sampling mask broadcastable to ``(B, C, H, W)`` (usually ``(B, 1, 1, W)``).
        kspace_name: the name used for ``kspace`` in error messages.

    Raises:
        TypeError: a tensor has the wrong kind of dtype (real where complex is expected, ...).
        ValueError: ranks or shapes do not fit together.
    """
    check_complex(kspace_name, kspace, ndim=4)
    check_complex("maps", maps, ndim=4)
    if maps.shape != kspace.shape:
        raise ValueError(
            f"maps of shape {tuple(maps.shape)} must match {kspace_name} of shape {tuple(kspace.shape)} (B, C, H, W)"
        )
    check_real("mask", mask)
    check_broadcastable("mask", mask.shape, kspace.shape, kspace_name)


class PreparedSense:
    """One batch's SENSE system ``(k0, maps, mask)``, prepared once for repeated data consistency.

    Works in the coordinates where DC is cheapest (see the module docstring): the transformed axes
    are ``W`` alone when the mask is constant along ``H`` (shape ``(..., 1, W)``), else ``H`` and
    ``W``. With even sizes the centring is folded in (``maps' = c * maps``, data
    ``sign * c * Y0``), so every transform is a plain FFT; odd sizes use the centred transforms.

    Args:
        k0: measured complex k-space ``(B, C, H, W)`` (masked here again: only ``m * k0`` is used).
        maps: complex coil sensitivities ``(B, C, H, W)``.
        mask: real 0/1 sampling mask broadcastable to ``(B, C, H, W)``.
        kspace_name: the name of ``k0`` in error messages.

    Example:
        The prepared adjoint is the coil combination ``E^H k0``:

        >>> import torch
        >>> from recon_lib.physics.coils import normalize_maps, sens_reduce
        >>> maps = normalize_maps(torch.randn(1, 4, 8, 6, dtype=torch.complex64))
        >>> k0 = torch.randn(1, 4, 8, 6, dtype=torch.complex64)
        >>> mask = torch.tensor([1.0, 0, 1, 1, 0, 1]).view(1, 1, 1, 6)
        >>> torch.allclose(PreparedSense(k0, maps, mask).adjoint_data(), sens_reduce(k0, maps, mask), atol=1e-5)
        True
    """

    def __init__(self, k0: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, kspace_name: str = "k0") -> None:
        check_reconstruction_inputs(k0, maps, mask, kspace_name=kspace_name)
        self.sampled = mask != 0
        if not torch.equal(self.sampled.to(mask.dtype), mask):
            raise ValueError(f"mask must hold only 0 and 1, got values {sorted(set(mask.unique().tolist()))[:6]}")
        lines = mask.ndim < 2 or mask.shape[-2] == 1  # constant along the readout H
        self.dims: tuple[int, ...] = (-1,) if lines else (-2, -1)
        data = torch.where(self.sampled, k0, 0)
        if lines:
            data = ifft1c(data, dim=-2)  # hybrid space: image along H, k-space along W
        sizes = tuple(k0.shape[d] for d in self.dims)
        self.modulated = all(n % 2 == 0 for n in sizes)
        if self.modulated:
            c, sign = centring_modulation(sizes, k0.device, k0.real.dtype)
            self.maps = maps * c
            self.data = data * (c if sign > 0 else -c)
        else:
            self.maps, self.data = maps, data
        # conj(maps) materialised once: a product with a lazily conjugated tensor copies it every time
        self.maps_conj = self.maps.conj().resolve_conj()

    def _fft(self, y: torch.Tensor) -> torch.Tensor:
        if self.modulated:
            return torch.fft.fftn(y, dim=self.dims, norm="ortho")
        return torch.fft.fftshift(
            torch.fft.fftn(torch.fft.ifftshift(y, self.dims), dim=self.dims, norm="ortho"), self.dims
        )

    def _ifft(self, k: torch.Tensor) -> torch.Tensor:
        if self.modulated:
            return torch.fft.ifftn(k, dim=self.dims, norm="ortho")
        return torch.fft.fftshift(
            torch.fft.ifftn(torch.fft.ifftshift(k, self.dims), dim=self.dims, norm="ortho"), self.dims
        )

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, H, W)`` to coil data ``(B, C, H, W)`` in the prepared coordinates (unmasked)."""
        return self._fft(self.maps * x.unsqueeze(1))

    def reduce(self, k: torch.Tensor) -> torch.Tensor:
        """The adjoint of :meth:`expand`: prepared-coordinate coil data to a combined image ``(B, H, W)``."""
        return (self.maps_conj * self._ifft(k)).sum(dim=1)

    def adjoint_data(self) -> torch.Tensor:
        """``E^H k0 = sum_c conj(S_c) F^{-1}(M k0_c)``, the zero-filled SENSE image ``(B, H, W)``."""
        return self.reduce(self.data)

    def consistent(self, x: torch.Tensor, keep: torch.Tensor | float = 0.0) -> torch.Tensor:
        """Data consistency of ``x`` ``(B, H, W)``: ``E^H[(1 - m) k + m (keep k + (1 - keep) k0)]``
        with ``k = F S x`` (``keep = 0``: the measured points replace the estimate's)."""
        check_complex("x", x, ndim=3)
        if x.shape[-2:] != self.maps.shape[-2:] or x.shape[0] != self.maps.shape[0]:
            raise ValueError(
                f"x of shape {tuple(x.shape)} (B, H, W) does not match the k-space of shape "
                f"{tuple(self.maps.shape)} (B, C, H, W)"
            )
        k = self.expand(x)  # (B, C, H, W)
        measured = self.data if isinstance(keep, float) and keep == 0.0 else self.data + keep * (k - self.data)
        return self.reduce(torch.where(self.sampled, measured, k))  # (B, H, W)


class DataConsistency(nn.Module):
    """Coil-wise k-space data consistency ``x -> E^H[(1 - m) F S x + m (a F S x + (1 - a) k0)]``.

    Args:
        mode: ``"hard"`` (``a = 0``: sampled points replaced by the measurements, Deep-POCSENSE)
            or ``"soft"`` (``a = sigmoid(w)`` with a learned scalar ``w``).
        init_weight: initial ``a`` in soft mode, in ``(0, 1)``; the learned scalar is
            initialised to ``w = logit(init_weight)``. The default 0.1 starts close to the hard
            projection (trusting the data) while leaving the gradient of ``sigmoid`` non-negligible.
            Ignored in hard mode.

    Attributes:
        config: the constructor arguments as a plain dict.

    Shapes:
        ``x`` ``(B, H, W)`` complex, ``k0`` and ``maps`` ``(B, C, H, W)`` complex, ``mask`` real,
        broadcastable to ``(B, C, H, W)``; output ``(B, H, W)`` complex.
    """

    def __init__(self, mode: DCMode = "hard", init_weight: float = 0.1) -> None:
        super().__init__()
        if mode not in ("hard", "soft"):
            raise ValueError(f"mode must be 'hard' or 'soft', got {mode!r}")
        self.mode = mode
        self.config: dict[str, Any] = {"mode": mode, "init_weight": float(init_weight)}
        if mode == "soft":
            if not 0.0 < float(init_weight) < 1.0:
                raise ValueError(f"init_weight must lie strictly between 0 and 1, got {init_weight}")
            logit = math.log(init_weight / (1.0 - init_weight))
            self.weight_logit = nn.Parameter(torch.tensor(logit, dtype=torch.float32))
        else:
            self.register_parameter("weight_logit", None)

    @property
    def weight(self) -> torch.Tensor:
        """The blending weight ``a`` in ``[0, 1]`` (a 0-d tensor; exactly 0 in hard mode)."""
        if self.weight_logit is None:
            return torch.zeros(())
        return torch.sigmoid(self.weight_logit)

    def forward(self, x: torch.Tensor, k0: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Apply data consistency to the image estimate ``x``.

        Args:
            x: complex image estimate ``(B, H, W)``.
            k0: measured (masked) complex k-space ``(B, C, H, W)``.
            maps: complex coil sensitivities ``(B, C, H, W)``.
            mask: real 0/1 sampling mask broadcastable to ``(B, C, H, W)``.

        Returns:
            Data-consistent complex image ``(B, H, W)``.
        """
        return self.enforce(x, PreparedSense(k0, maps, mask))

    def enforce(self, x: torch.Tensor, system: PreparedSense) -> torch.Tensor:
        """:meth:`forward` with ``(k0, maps, mask)`` prepared once (:class:`PreparedSense`): what the
        SN calls in every cascade."""
        if self.weight_logit is None:
            return system.consistent(x)
        return system.consistent(x, keep=torch.sigmoid(self.weight_logit).to(x.real.dtype))

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
