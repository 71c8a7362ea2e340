"""The sensitivity network (SN) of Qin et al.: unrolled Down-Up cascades with coil-wise DC.

The SN extends Deep-POCSENSE. Starting from the zero-filled SENSE image
``x_0 = E^H y = sum_c conj(S_c) F^{-1}(M y_c)``, each of the ``N`` cascades refines the
sensitivity-weighted combined image with a Down-Up block and then enforces consistency with
the measured k-space coil by coil::

    x_{n+1} = DC(DownUp_n(x_n)),    DownUp_n(x) = x + R_n(x)   (residual regulariser)

``DownUp_n`` holds the global residual inside the block (Σ-net writes the same step as
``x - R(x)``; the sign is absorbed in the learned ``R``). With ``num_cascades=0`` the network
returns ``x_0`` exactly. With ``shared_weights=True`` one Down-Up block (and one DC weight in
soft mode) is applied in every cascade.

References:
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (the SN; 10 cascades).
    J. Schlemper et al., "Data consistency networks for (calibration-less) accelerated
    parallel MR image reconstruction", ISMRM 2019 (Deep-POCSENSE).
    K. Hammernik et al., "Σ-net: Systematic evaluation of iterative deep neural networks for
    fast parallel MR image reconstruction", arXiv:1912.09278, 2019.
    S. Yu, B. Park, J. Jeong, "Deep iterative down-up CNN for image denoising", CVPR
    Workshops 2019 (the Down-Up block).
"""

from __future__ import annotations

from typing import Any, Literal, cast

import torch
from torch import nn

from recon_lib.core.checks import check_int
from recon_lib.models.down_up import DownUpBlock
from recon_lib.physics.data_consistency import DataConsistency, PreparedSense

__all__ = ["SensitivityNetwork"]


class SensitivityNetwork(nn.Module):
    """Unrolled SN: ``num_cascades`` x (Down-Up block, coil-wise k-space DC).

    Args:
        num_cascades: number of cascades ``N`` (the paper uses 10); 0 gives the zero-filled
            SENSE image.
        features: width ``F`` of each Down-Up block (levels ``F``, ``2F``, ``4F``).
        shared_weights: share one Down-Up block (and DC layer) across all cascades.
        dc_mode: ``"hard"`` (Deep-POCSENSE k-space replacement) or ``"soft"`` (learned blending
            weight per DC layer), see :class:`~recon_lib.physics.data_consistency.DataConsistency`.

    Attributes:
        config: the constructor arguments as a plain dict (``type(m)(**m.config)`` rebuilds the
            architecture; checkpoints store it).

    Shapes:
        ``kspace`` and ``maps``: complex ``(B, C, H, W)``; ``mask``: real, broadcastable to
        ``(B, C, H, W)``; output: complex image ``(B, H, W)`` on the k-space grid.
    """

    def __init__(
        self,
        num_cascades: int = 10,
        features: int = 32,
        shared_weights: bool = False,
        dc_mode: Literal["hard", "soft"] = "hard",
    ) -> None:
        super().__init__()
        num_cascades = check_int("num_cascades", num_cascades, minimum=0)
        features = check_int("features", features, minimum=1)
        if not isinstance(shared_weights, bool):
            raise TypeError(f"shared_weights must be a bool, got {type(shared_weights).__name__}")
        if dc_mode not in ("hard", "soft"):
            raise ValueError(f"dc_mode must be 'hard' or 'soft', got {dc_mode!r}")
        self.config: dict[str, Any] = {
            "num_cascades": num_cascades,
            "features": features,
            "shared_weights": shared_weights,
            "dc_mode": dc_mode,
        }
        self.num_cascades = num_cascades
        self.shared_weights = shared_weights
        num_blocks = min(num_cascades, 1) if shared_weights else num_cascades
        self.regularisers = nn.ModuleList(DownUpBlock(features) for _ in range(num_blocks))
        self.dc = nn.ModuleList(DataConsistency(dc_mode) for _ in range(num_blocks))

    def forward(self, kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct a complex image from undersampled multi-coil k-space.

        Args:
            kspace: measured (masked) complex k-space ``(B, C, H, W)``.
            maps: complex coil sensitivities ``(B, C, H, W)``.
            mask: real 0/1 sampling mask broadcastable to ``(B, C, H, W)``.

        Returns:
            Complex image ``(B, H, W)``.
        """
        system = PreparedSense(
            kspace, maps, mask, kspace_name="kspace"
        )  # checks the inputs; prepared once for every DC
        x = system.adjoint_data()  # (B, H, W), zero-filled SENSE image
        for n in range(self.num_cascades):
            i = 0 if self.shared_weights else n
            x = cast(DataConsistency, self.dc[i]).enforce(self.regularisers[i](x), system)  # (B, H, W)
        return x
