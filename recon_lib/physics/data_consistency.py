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
from recon_lib.physics.coils import sens_expand, sens_reduce

__all__ = ["DataConsistency", "check_reconstruction_inputs"]

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
        check_reconstruction_inputs(k0, maps, mask, kspace_name="k0")
        check_complex("x", x, ndim=3)
        if (x.shape[0], x.shape[1], x.shape[2]) != (k0.shape[0], k0.shape[2], k0.shape[3]):
            raise ValueError(
                f"x of shape {tuple(x.shape)} (B, H, W) does not match k0 of shape {tuple(k0.shape)} (B, C, H, W)"
            )
        m = mask.to(k0.real.dtype)
        k = sens_expand(x, maps)  # (B, C, H, W)
        if self.weight_logit is None:
            k_dc = (1 - m) * k + m * k0  # exact for a 0/1 mask
        else:
            a = torch.sigmoid(self.weight_logit).to(k0.real.dtype)
            k_dc = (1 - m) * k + m * (a * k + (1 - a) * k0)
        return sens_reduce(k_dc, maps)  # (B, H, W)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
