"""The U-Net baseline (fastMRI conventions) and a reconstructor wrapping it.

:class:`UNet` is the fastMRI baseline U-Net: ``num_pool_layers`` down-sampling levels of
``(3x3 conv without bias, InstanceNorm, LeakyReLU 0.2) x 2`` followed by 2x2 average pooling,
a bottleneck block, transposed-convolution up-sampling with skip concatenation, and a 1x1
output convolution. Widths are ``chans * 2^i``. Inputs of any ``H x W`` are zero-padded to a
multiple of ``2^num_pool_layers`` and the output is cropped back.

:class:`UNetReconstructor` takes the same inputs as the SN, ``(kspace, maps, mask)``, so the
two are interchangeable in training and evaluation: it forms the zero-filled SENSE image
``E^H y``, normalises its two real channels per instance (``(c - mean) / std``, clamped to
``[-6, 6]``), applies the U-Net and undoes the normalisation.

References:
    O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional networks for biomedical image
    segmentation", MICCAI 2015.
    J. Zbontar et al., "fastMRI: An open dataset and benchmarks for accelerated MRI",
    arXiv:1811.08839, 2018 (the baseline U-Net and its training conventions).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recon_lib.core.checks import check_int, check_real
from recon_lib.core.tensors import channels_to_complex, complex_to_channels, pad_to_multiple, unpad
from recon_lib.physics.coils import sens_reduce
from recon_lib.physics.data_consistency import check_reconstruction_inputs

__all__ = ["UNet", "UNetReconstructor"]


class _ConvBlock(nn.Sequential):
    """``(3x3 conv without bias, InstanceNorm2d, LeakyReLU 0.2) x 2``."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__(
            nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2),
        )


class _UpBlock(nn.Sequential):
    """2x2 transposed conv (stride 2, no bias) halving the channels, InstanceNorm2d, LeakyReLU 0.2."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2),
        )


class UNet(nn.Module):
    """fastMRI-style U-Net on real multi-channel images.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        chans: channels of the first level (fastMRI default 32; the leaderboard model used 256).
        num_pool_layers: number of down-/up-sampling levels.

    Attributes:
        config: the constructor arguments as a plain dict.

    Shapes:
        input ``(B, in_chans, H, W)`` real, any ``H``, ``W``; output ``(B, out_chans, H, W)``.
    """

    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 32, num_pool_layers: int = 4) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "in_chans": check_int("in_chans", in_chans, minimum=1),
            "out_chans": check_int("out_chans", out_chans, minimum=1),
            "chans": check_int("chans", chans, minimum=1),
            "num_pool_layers": check_int("num_pool_layers", num_pool_layers, minimum=0),
        }
        self.in_chans = in_chans
        self.num_pool_layers = num_pool_layers
        self.down = nn.ModuleList([_ConvBlock(in_chans, chans)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down.append(_ConvBlock(ch, ch * 2))
            ch *= 2
        self.bottleneck = _ConvBlock(ch, ch * 2) if num_pool_layers > 0 else nn.Identity()
        self.up_transpose = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for _ in range(num_pool_layers):
            self.up_transpose.append(_UpBlock(ch * 2, ch))
            self.up_conv.append(_ConvBlock(ch * 2, ch))
            ch //= 2
        self.out = nn.Conv2d(chans, out_chans, kernel_size=1)  # the last up level has ``chans``

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Apply the U-Net to ``image`` ``(B, in_chans, H, W)``; returns ``(B, out_chans, H, W)``."""
        check_real("image", image, ndim=4)
        if image.shape[1] != self.in_chans:
            raise ValueError(f"image must have {self.in_chans} channels in dim 1, got shape {tuple(image.shape)}")
        h, pad = pad_to_multiple(image, 2**self.num_pool_layers)  # (B, in, Hp, Wp)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h)
            if i < self.num_pool_layers:
                skips.append(h)
                h = F.avg_pool2d(h, kernel_size=2, stride=2)
        h = self.bottleneck(h)  # (B, chans * 2^L, Hp / 2^L, Wp / 2^L)
        for transpose, conv in zip(self.up_transpose, self.up_conv, strict=True):
            h = conv(torch.cat([transpose(h), skips.pop()], dim=1))
        return unpad(self.out(h), pad)  # (B, out, H, W)


class UNetReconstructor(nn.Module):
    """U-Net baseline applied to the zero-filled SENSE image; same interface as the SN.

    Args:
        chans: U-Net width of the first level.
        num_pool_layers: U-Net depth.

    Attributes:
        config: the constructor arguments as a plain dict.

    Shapes:
        ``kspace`` and ``maps``: complex ``(B, C, H, W)``; ``mask``: real, broadcastable to
        ``(B, C, H, W)``; output: complex image ``(B, H, W)``.
    """

    #: lower clamp of the per-instance standard deviation (avoids dividing by zero)
    eps = 1e-12
    #: normalised inputs are clamped to ``[-clamp, clamp]`` (fastMRI: 6)
    clamp = 6.0

    def __init__(self, chans: int = 32, num_pool_layers: int = 4, residual: bool = False) -> None:
        super().__init__()
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True or False, got {residual!r}")
        self.unet = UNet(in_chans=2, out_chans=2, chans=chans, num_pool_layers=num_pool_layers)
        self.residual = residual
        self.config: dict[str, Any] = {"chans": chans, "num_pool_layers": num_pool_layers, "residual": residual}

    def forward(self, kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct a complex image ``(B, H, W)`` from masked k-space ``(B, C, H, W)``."""
        check_reconstruction_inputs(kspace, maps, mask)
        c = complex_to_channels(sens_reduce(kspace, maps, mask))  # (B, 2, H, W)
        flat = c.flatten(1)
        mean = flat.mean(dim=1).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        std = flat.std(dim=1).clamp_min(self.eps).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        normalised = (c - mean) / std
        out = self.unet(normalised.clamp(-self.clamp, self.clamp))  # (B, 2, H, W)
        if self.residual:
            out = out + normalised  # the U-Net predicts a correction of the zero-filled image
        return channels_to_complex(out * std + mean)  # (B, H, W)
