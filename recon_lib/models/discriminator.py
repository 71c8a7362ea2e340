"""PatchGAN-style discriminator for the SN-GAN fine-tuning (LSGAN on magnitude images).

Following Σ-net's GAN fine-tuning, the discriminator is a stack of stages; stage ``i`` has
width ``features * 2^i`` and consists of a ``k x k`` convolution followed by a stride-2 ``k x k``
convolution (``k = kernel_size``, 3 in Σ-net), each followed by InstanceNorm (except the very first
convolution) and LeakyReLU 0.2. A final ``k x k`` convolution maps to one channel: a map of
real/fake scores, one per image patch (the receptive field of an output pixel), not a single
scalar. The defaults ``features=64, num_stages=4`` give Σ-net's widths 64, 64(s2), 128, 128(s2),
256, 256(s2), 512, 512(s2); smaller values make a teaching-size model.

Receptive field (:func:`receptive_field`, the side of the input square one score sees): every
convolution adds ``(k - 1)`` times the product of the strides before it, so ``S`` stages give
``1 + (k - 1) (3 * 2^S - 2)`` pixels::

    num_stages  kernel_size  pixels   teaching geometry (0.875 mm/px)   fastMRI geometry (0.4375 mm/px)
    2           3             21       18 mm                             9 mm
    3           3             45       39 mm                             20 mm
    4           3             93       81 mm                             41 mm
    2           5             41       36 mm                             18 mm
    3           5             89       78 mm                             39 mm

The teaching run's ``features=32, num_stages=3`` sees 45-pixel (39 mm) patches, about a quarter
of the 160-pixel field of view: whole condyles, so its scores can rest on anatomy as well as on
texture; ``num_stages=2`` (21 pixels, 18 mm: a few trabeculae) looks at texture alone. The scores
lie ``2^S`` pixels apart, so neighbouring patches overlap. (The field is that of the convolutions:
InstanceNorm's mean and variance are taken over the whole image, a global statistic every score
shares.)

``spectral_norm=True`` divides every convolution's weight by its largest singular value (Miyato
et al., one power iteration per training forward pass, the estimate kept in the state dict), which
bounds how fast the discriminator's output can change with its input and keeps its gradients to
the generator from exploding; the InstanceNorm layers are kept.

Input: real magnitude images ``(B, 1, H, W)`` (or ``(B, H, W)``), in the SN-GAN loss the
foreground-masked magnitudes ``m * |x|`` (see :func:`recon_lib.metrics.losses.masked_magnitude`).
Output: ``(B, 1, H / 2^S, W / 2^S)`` (rounded up) for ``S = num_stages``.

References:
    P. Isola et al., "Image-to-image translation with conditional adversarial networks",
    CVPR 2017 (PatchGAN).
    X. Mao et al., "Least squares generative adversarial networks", ICCV 2017 (LSGAN).
    T. Miyato et al., "Spectral normalization for generative adversarial networks", ICLR 2018.
    K. Hammernik et al., "Σ-net: Systematic evaluation of iterative deep neural networks for
    fast parallel MR image reconstruction", arXiv:1912.09278, 2019.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recon_lib.core.checks import check_int, check_real

__all__ = ["PatchDiscriminator", "receptive_field"]


def receptive_field(num_stages: int, kernel_size: int = 3) -> int:
    """The side, in pixels, of the input square that one score of a :class:`PatchDiscriminator` sees.

    Example:
        >>> [receptive_field(s) for s in (2, 3, 4)], receptive_field(3, kernel_size=5)
        ([21, 45, 93], 89)
    """
    num_stages = check_int("num_stages", num_stages, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    return 1 + (kernel_size - 1) * (3 * 2**num_stages - 2)


def _conv_block(in_chans: int, out_chans: int, stride: int, norm: bool, kernel_size: int) -> list[nn.Module]:
    # A bias before InstanceNorm would be removed by the normalisation: only un-normalised convs get one.
    conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2, bias=not norm)
    layers: list[nn.Module] = [conv]
    if norm:
        layers.append(nn.InstanceNorm2d(out_chans))
    layers.append(nn.LeakyReLU(0.2))
    return layers


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: ``num_stages`` x (conv, stride-2 conv), then a conv to 1 channel.

    Args:
        features: width of the first stage; stage ``i`` has ``features * 2^i`` channels.
        num_stages: number of stages (each halves the resolution).
        kernel_size: side of every convolution's kernel, odd (3 in Σ-net); with ``num_stages`` it sets
            the receptive field (:func:`receptive_field`, the module docstring's table).
        spectral_norm: spectrally normalise every convolution's weight (Miyato et al.).

    Attributes:
        config: the constructor arguments as a plain dict.
        receptive_field: the side in pixels of the patch one score sees.
        stride: the distance in pixels between neighbouring scores' patch centres (``2^num_stages``).

    Shapes:
        input ``(B, 1, H, W)`` or ``(B, H, W)`` real; output ``(B, 1, ceil(H / 2^S), ceil(W / 2^S))``.
    """

    def __init__(
        self, features: int = 64, num_stages: int = 4, kernel_size: int = 3, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        for name, value in (("features", features), ("num_stages", num_stages), ("kernel_size", kernel_size)):
            check_int(name, value, minimum=1)
        if kernel_size % 2 == 0 or kernel_size < 3:
            raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size!r}")
        if not isinstance(spectral_norm, bool):
            raise TypeError(f"spectral_norm must be true or false, got {spectral_norm!r}")
        self.config: dict[str, Any] = {
            "features": features,
            "num_stages": num_stages,
            "kernel_size": kernel_size,
            "spectral_norm": spectral_norm,
        }
        self.receptive_field = receptive_field(num_stages, kernel_size)
        self.stride = 2**num_stages
        layers: list[nn.Module] = []
        in_chans = 1
        for i in range(num_stages):
            width = features * 2**i
            layers += _conv_block(in_chans, width, stride=1, norm=i > 0, kernel_size=kernel_size)
            layers += _conv_block(width, width, stride=2, norm=True, kernel_size=kernel_size)
            in_chans = width
        layers.append(nn.Conv2d(in_chans, 1, kernel_size, padding=kernel_size // 2))
        if spectral_norm:
            layers = [nn.utils.parametrizations.spectral_norm(m) if isinstance(m, nn.Conv2d) else m for m in layers]
        self.layers = nn.Sequential(*layers)

    def score_mask(self, foreground: torch.Tensor) -> torch.Tensor:
        """Which scores' patches are centred on the foreground: ``foreground`` at the patch centres.

        The score at ``(i, j)`` sees the ``receptive_field``-pixel square centred on input pixel
        ``(stride * i, stride * j)`` (every convolution is padded by half its kernel).

        Args:
            foreground: the foreground mask ``(B, H, W)`` or ``(B, 1, H, W)``.

        Returns:
            Boolean ``(B, 1, ceil(H / stride), ceil(W / stride))``, the shape of :meth:`forward`'s output.
        """
        fg = foreground.unsqueeze(1) if foreground.ndim == 3 else foreground
        if fg.ndim != 4 or fg.shape[1] != 1:
            raise ValueError(f"foreground must be (B, H, W) or (B, 1, H, W), got shape {tuple(foreground.shape)}")
        return fg[..., :: self.stride, :: self.stride].bool()

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
