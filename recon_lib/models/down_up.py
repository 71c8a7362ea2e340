"""The Down-Up block (DIDN), the image-space regulariser inside each cascade of the SN.

The block maps a complex image ``(B, H, W)`` to a complex image of the same shape. Inside, the
image is two real channels (real, imag) and passes through a small U-shaped network with two
stride-2 down-samplings and two PixelShuffle up-samplings (levels ``F``, ``2F``, ``4F``)::

    head      3x3 conv 2 -> F, PReLU
    level 1   residual pair of 3x3 convs at F                       -> skip1   (H,   W)
    down 1    3x3 conv stride 2, F -> 2F, + residual 3x3 conv        -> skip2   (H/2, W/2)
    down 2    3x3 conv stride 2, 2F -> 4F, + residual 3x3 conv               (H/4, W/4)
    up 1      1x1 conv 4F -> 8F, PixelShuffle(2) -> 2F, concat skip2, 1x1 -> 2F,
              + residual 3x3 conv                                            (H/2, W/2)
    up 2      1x1 conv 2F -> 4F, PixelShuffle(2) -> F, concat skip1, 1x1 -> F,
              residual pair of 3x3 convs                                     (H,   W)
    tail      3x3 conv F -> 2
    output    input + tail  (global residual)

Every convolution but the 1x1 fusions and the tail is followed by a PReLU; "residual conv"
means ``h + PReLU(conv(h))``.

Two choices make the block usable on any data:

* **Any H x W.** The 2-channel image is zero-padded to a multiple of 4 (two down-samplings) and
  the output cropped back, so odd sizes work.
* **Any intensity scale.** The block divides its 2-channel input by a per-sample scale ``s``
  (the standard deviation over the two channels and all pixels, clamped below by ``eps``) and
  multiplies the output by ``s`` again. With the global residual the block computes
  ``x + s * R(x / s)``, so ``DownUp(c x) = c DownUp(x)`` for any ``c > 0`` (as long as
  ``s > eps``): raw fastMRI k-space (intensities ~1e-4) and unit-scaled data behave alike.

References:
    S. Yu, B. Park, J. Jeong, "Deep iterative down-up CNN for image denoising", CVPR Workshops
    2019 (DIDN; the Down-Up block).
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (Down-Up network as the SN's reconstruction block).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from recon_lib.core.checks import check_complex, check_int
from recon_lib.core.tensors import channels_to_complex, complex_to_channels, pad_to_multiple, unpad

__all__ = ["DownUpBlock"]


class _PReLUFunction(torch.autograd.Function):
    """PReLU with one slope ``a`` whose backward is two fused passes on the CPU.

    ``y = x`` where ``x > 0``, else ``a x``; ``dy/dx = 1`` or ``a`` (``leaky_relu_backward`` with
    the slope as a number), ``dL/da = sum(min(x, 0) * g)``. torch's own PReLU backward took 20 %
    of a teaching SN training step on 2 CPU cores (measured: ~0.86 ms per full-resolution call
    against ~0.1 ms here); the forward is torch's.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight.to(x.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        grad_x = torch.ops.aten.leaky_relu_backward(grad, x, float(weight), False)
        grad_w = (x.clamp_max(0) * grad).sum(dtype=torch.float32).reshape(weight.shape).to(weight.dtype)
        return grad_x, grad_w


class _PReLU(nn.PReLU):
    """``nn.PReLU`` with one learned slope (the same parameter and state-dict key), computed in the
    input's precision; on the CPU its backward is :class:`_PReLUFunction`'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        if needs_grad and x.device.type == "cpu" and self.weight.numel() == 1:
            return _PReLUFunction.apply(x, self.weight)
        return F.prelu(x, self.weight.to(x.dtype))


class _ConvPReLU(nn.Sequential):
    """``k x k`` convolution (padding ``k // 2``) followed by a PReLU."""

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2),
            _PReLU(),
        )


class _Residual(nn.Module):
    """``h + body(h)``."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class _Up(nn.Module):
    """1x1 conv ``c -> 2c`` + PixelShuffle(2) (-> ``c / 2`` channels at twice the resolution),
    concatenated with the skip (``c / 2`` channels) and fused back to ``c / 2`` by a 1x1 conv."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        out_chans = in_chans // 2
        self.expand = nn.Conv2d(in_chans, 4 * out_chans, kernel_size=1)
        self.shuffle = nn.PixelShuffle(2)
        self.fuse = nn.Conv2d(2 * out_chans, out_chans, kernel_size=1)

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.shuffle(self.expand(h))  # (B, c/2, 2h, 2w)
        return self.fuse(torch.cat([up, skip], dim=1))  # (B, c/2, 2h, 2w)


class DownUpBlock(nn.Module):
    """DIDN-style Down-Up block on a complex image, with a global residual.

    Args:
        features: width ``F`` of the first level; the three levels have ``F``, ``2F``, ``4F``
            channels (DIDN used ``F = 256``, Σ-net 64-128; the SN default here is 32).
        eps: lower clamp of the per-sample input scale (see the module docstring).

    Attributes:
        config: the constructor arguments as a plain dict.

    Shapes:
        input ``x``: complex ``(B, H, W)``, any ``H``, ``W``; output: complex ``(B, H, W)``.
    """

    def __init__(self, features: int = 32, eps: float = 1e-12) -> None:
        super().__init__()
        features = check_int("features", features, minimum=1)
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        f = features
        self.features = f
        self.eps = float(eps)
        self.config: dict[str, Any] = {"features": f, "eps": self.eps}
        self.head = _ConvPReLU(2, f)
        self.level1 = _Residual(nn.Sequential(_ConvPReLU(f, f), _ConvPReLU(f, f)))
        self.down1 = nn.Sequential(_ConvPReLU(f, 2 * f, stride=2), _Residual(_ConvPReLU(2 * f, 2 * f)))
        self.down2 = nn.Sequential(_ConvPReLU(2 * f, 4 * f, stride=2), _Residual(_ConvPReLU(4 * f, 4 * f)))
        self.up1 = _Up(4 * f)
        self.level2_out = _Residual(_ConvPReLU(2 * f, 2 * f))
        self.up2 = _Up(2 * f)
        self.level1_out = _Residual(nn.Sequential(_ConvPReLU(f, f), _ConvPReLU(f, f)))
        self.tail = nn.Conv2d(f, 2, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine the complex image ``x`` ``(B, H, W)``; returns a complex ``(B, H, W)``."""
        check_complex("x", x, ndim=3)
        c = complex_to_channels(x)  # (B, 2, H, W)
        scale = c.flatten(1).std(dim=1).clamp_min(self.eps).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        c = c / scale
        h, pad = pad_to_multiple(c, 4)  # (B, 2, H4, W4)
        h = h.contiguous(memory_format=self.memory_format)
        h = self.head(h)  # (B, F, H4, W4)
        skip1 = self.level1(h)  # (B, F, H4, W4)
        skip2 = self.down1(skip1)  # (B, 2F, H4/2, W4/2)
        h = self.down2(skip2)  # (B, 4F, H4/4, W4/4)
        h = self.level2_out(self.up1(h, skip2))  # (B, 2F, H4/2, W4/2)
        h = self.level1_out(self.up2(h, skip1))  # (B, F, H4, W4)
        out = c + unpad(self.tail(h), pad).contiguous()  # (B, 2, H, W), global residual
        return channels_to_complex(out * scale)  # (B, H, W)

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout the block computes in: the layout of its weights.

        ``block.to(memory_format=torch.channels_last)`` (or the same on the whole network) makes
        every convolution run on channels-last activations, the layout oneDNN's CPU kernels
        (and tensor cores) prefer; the state dict is the same either way.
        """
        weight = cast(nn.Conv2d, self.head[0]).weight  # (F, 2, 3, 3): the two layouts have different strides
        channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        return torch.channels_last if channels_last else torch.contiguous_format

    def extra_repr(self) -> str:
        return f"features={self.features}"
