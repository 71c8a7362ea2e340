"""recon_lib: deep network interpolation for accelerated parallel MR image reconstruction.

A small PyTorch library reproducing Qin et al., "Deep network interpolation for accelerated
parallel MR image reconstruction". Tensor convention: complex images ``(B, H, W)`` and
k-space / coil maps ``(B, C, H, W)`` as ``torch.complex64``; see :mod:`recon_lib.physics.coils`.

The package is layered (see ARCHITECTURE.md); each name below lives in exactly one module:
``core`` (checks, atomic writes, tensors, devices) -> ``physics`` (FFTs, coil operators, masks, data
consistency, ESPIRiT, classical methods) -> ``data`` / ``models`` / ``metrics`` -> ``training`` /
``evaluation`` -> ``teaching`` (notebook helpers, plots, the alpha explorer).
"""

from recon_lib.core.tensors import center_crop, channels_to_complex, complex_to_channels
from recon_lib.data.dataset import KneeDataset
from recon_lib.evaluation.sweep import select_alpha
from recon_lib.metrics.losses import (
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    masked_magnitude,
    sn_gan_generator_loss,
    sn_loss,
)
from recon_lib.metrics.perceptual import gmsd, haarpsi, hfen, vif
from recon_lib.metrics.quality import (
    high_frequency_energy_ratio,
    nmse,
    psnr,
    ssim_volume,
    volume_metrics,
)
from recon_lib.metrics.ssim import SSIMLoss, ssim
from recon_lib.metrics.table import MetricTable
from recon_lib.models.checkpoint import load_model
from recon_lib.models.discriminator import PatchDiscriminator
from recon_lib.models.down_up import DownUpBlock
from recon_lib.models.inference import reconstruct, zero_filled
from recon_lib.models.interpolation import (
    ModelInterpolator,
    cascade_weights,
    interpolate_alpha,
    interpolate_state_dicts,
)
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.models.unet import UNet, UNetReconstructor
from recon_lib.physics.classical import cg_sense, data_residual
from recon_lib.physics.coils import apply_mask, normalize_maps, rss, sens_expand, sens_reduce
from recon_lib.physics.data_consistency import DataConsistency
from recon_lib.physics.fft import fft2c, ifft2c
from recon_lib.physics.masks import MaskFunc, sample_mask
from recon_lib.teaching.explorer import AlphaExplorer

__version__ = "0.1.0"

__all__ = [
    "AlphaExplorer",
    "DataConsistency",
    "DownUpBlock",
    "KneeDataset",
    "MaskFunc",
    "MetricTable",
    "ModelInterpolator",
    "PatchDiscriminator",
    "SSIMLoss",
    "SensitivityNetwork",
    "UNet",
    "UNetReconstructor",
    "apply_mask",
    "cascade_weights",
    "center_crop",
    "cg_sense",
    "channels_to_complex",
    "complex_to_channels",
    "data_residual",
    "fft2c",
    "gmsd",
    "haarpsi",
    "hfen",
    "high_frequency_energy_ratio",
    "ifft2c",
    "interpolate_alpha",
    "interpolate_state_dicts",
    "load_model",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "masked_magnitude",
    "nmse",
    "normalize_maps",
    "psnr",
    "reconstruct",
    "rss",
    "sample_mask",
    "select_alpha",
    "sens_expand",
    "sens_reduce",
    "sn_gan_generator_loss",
    "sn_loss",
    "ssim",
    "ssim_volume",
    "vif",
    "volume_metrics",
    "zero_filled",
]
