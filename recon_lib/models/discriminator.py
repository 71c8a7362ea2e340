"""PatchGAN-style discriminator for the SN-GAN fine-tuning (LSGAN on magnitude images).

Following Σ-net's GAN fine-tuning, the discriminator is a stack of stages; stage ``i`` has
width ``features * 2^i`` and consists of a 3x3 convolution followed by a stride-2 3x3
convolution, each followed by InstanceNorm (except the very first convolution) and
LeakyReLU 0.2. A final 3x3 convolution maps to one channel: a map of real/fake scores, one per
image patch (the receptive field of an output pixel), not a single scalar. The defaults
``features=64, num_stages=4`` give Σ-net's widths 64, 64(s2), 128, 128(s2), 256, 256(s2),
512, 512(s2); smaller values make a teaching-size model.

Input: real magnitude images ``(B, 1, H, W)`` (or ``(B, H, W)``), in the SN-GAN loss the
foreground-masked magnitudes ``m * |x|`` (see :func:`recon_lib.metrics.losses.masked_magnitude`).
Output: ``(B, 1, H / 2^S, W / 2^S)`` (rounded up) for ``S = num_stages``.

References:
    P. Isola et al., "Image-to-image translation with conditional adversarial networks",
    CVPR 2017 (PatchGAN).
    X. Mao et al., "Least squares generative adversarial networks", ICCV 2017 (LSGAN).
    K. Hammernik et al., "Σ-net: Systematic evaluation of iterative deep neural networks for
    fast parallel MR image reconstruction", arXiv:1912.09278, 2019.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recon_lib.core.checks import check_int, check_real

__all__ = ["PatchDiscriminator"]


def _conv_block(in_chans: int, out_chans: int, stride: int, norm: bool) -> list[nn.Module]:
    # A bias before InstanceNorm would be removed by the normalisation: only un-normalised convs get one.
    layers: list[nn.Module] = [nn.Conv2d(in_chans, out_chans, kernel_size=3, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.InstanceNorm2d(out_chans))
    layers.append(nn.LeakyReLU(0.2))
    return layers


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: ``num_stages`` x (conv, stride-2 conv), then a 3x3 conv to 1 channel.

    Args:
        features: width of the first stage; stage ``i`` has ``features * 2^i`` channels.
        num_stages: number of stages (each halves the resolution).

    Attributes:
        config: the constructor arguments as a plain dict.

    Shapes:
        input ``(B, 1, H, W)`` or ``(B, H, W)`` real; output ``(B, 1, ceil(H / 2^S), ceil(W / 2^S))``.
    """

    def __init__(self, features: int = 64, num_stages: int = 4) -> None:
        super().__init__()
        for name, value in (("features", features), ("num_stages", num_stages)):
            check_int(name, value, minimum=1)
        self.config: dict[str, Any] = {"features": features, "num_stages": num_stages}
        layers: list[nn.Module] = []
        in_chans = 1
        for i in range(num_stages):
            width = features * 2**i
            layers += _conv_block(in_chans, width, stride=1, norm=i > 0)
            layers += _conv_block(width, width, stride=2, norm=True)
            in_chans = width
        layers.append(nn.Conv2d(in_chans, 1, kernel_size=3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Score the patches of a magnitude image ``(B, 1, H, W)`` or ``(B, H, W)``.

        Returns:
            Patch score map ``(B, 1, H', W')`` (unbounded: LSGAN regresses it to 1 / 0).
        """
        check_real("image", image, ndim=(3, 4))
        if image.ndim == 3:
            image = image.unsqueeze(1)  # (B, 1, H, W)
        if image.shape[1] != 1:
            raise ValueError(f"image must have 1 channel (a magnitude image), got shape {tuple(image.shape)}")
        if not image.is_floating_point():
            image = image.float()
        return self.layers(image)
