"""recon_lib: deep network interpolation for accelerated parallel MR image reconstruction.

A small PyTorch library reproducing Qin et al., "Deep network interpolation for accelerated
parallel MR image reconstruction". Tensor convention: complex images ``(B, H, W)`` and
k-space / coil maps ``(B, C, H, W)`` as ``torch.complex64``; see :mod:`recon_lib.coils`.
"""
from .coils import apply_mask, normalize_maps, rss, sens_expand, sens_reduce
from .fft import fft2c, ifft2c
from .tensors import center_crop, channels_to_complex, complex_to_channels

__version__ = "0.1.0"
from .interpolation import ModelInterpolator, interpolate_alpha, interpolate_state_dicts
from .losses import (
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    masked_magnitude,
    sn_gan_generator_loss,
    sn_loss,
)
from .masks import MaskFunc, sample_mask
from .metrics import (
    MetricTable,
    gradient_magnitude_similarity,
    high_frequency_energy_ratio,
    nmse,
    psnr,
    ssim_volume,
    volume_metrics,
)
from .ssim import SSIMLoss, ssim
from .data_consistency import DataConsistency
from .discriminator import PatchDiscriminator
from .down_up import DownUpBlock
from .sensitivity_network import SensitivityNetwork
from .unet import UNet, UNetReconstructor
from .classical import cg_sense, data_residual
from .explorer import AlphaExplorer
