"""Matplotlib helpers for legible teaching figures.

Every helper takes NumPy arrays or torch tensors (complex images are shown as magnitudes
unless stated otherwise), builds one ``matplotlib.figure.Figure`` with titles, axis labels
where they carry meaning, and colour bars with units, and returns it. In a notebook the
figure appears below the cell; in a script call ``fig.savefig(...)`` or ``plt.show()``.

Images follow the recon_lib layout: rows are the readout axis H (vertical), columns the
phase-encode axis W (horizontal), so undersampling removes *columns* and aliasing folds
along the horizontal axis.

Helpers:

* :func:`show_images` -- a grid of titled images from a dict ``{"title": image}``.
* :func:`zoom_crop` -- full images with a crop box and enlarged crops below.
* :func:`error_map` -- ``|rec - ref|`` in percent of ``max |ref|``.
* :func:`log_kspace` -- ``log10 |k|`` of one or several coils.
* :func:`mask_and_psf` -- a sampling mask and its 1-D / 2-D point-spread functions.
* :func:`plot_training_log` -- loss and validation curves from ``recon_lib.training.trainer`` JSONL logs.
* :func:`plot_gan_selection` -- the SN-GAN's snapshots: PSNR change against texture, and D's held-out accuracy.
* :func:`plot_curves` -- a few named 1-D curves on one axes (e.g. convergence histories).
* :func:`interpolation_schematic` -- the paper's idea in one picture.
* :func:`sn_diagram` -- the unrolled SN and one Down-Up block, boxes and arrows.
* :func:`plot_ssim_terms`, :func:`plot_gfactor`, :func:`plot_cascades` -- concept figures (SSIM's terms, the
  g-factor, the SN's cascades; :func:`cascade_outputs` computes the last).
* :func:`plot_detection` -- the perception quiz: detection rate against α beside PSNR (and the critic).
* :func:`plot_hallucination` -- where the SN-GAN's fine detail departs most from the noise-free truth
  (beyond the SN's departure), zoomed, with the differences from the truth.
* :func:`plot_perception_distortion_sketch` -- the perception–distortion trade-off as a sketch, the
  measured α path placed on it.
"""

from recon_lib.teaching.plotting._common import DEFAULT_DPI
from recon_lib.teaching.plotting.concepts import cascade_outputs, plot_cascades, plot_gfactor, plot_ssim_terms
from recon_lib.teaching.plotting.curves import plot_curves, plot_gan_selection, plot_training_log
from recon_lib.teaching.plotting.diagrams import interpolation_schematic, sn_diagram
from recon_lib.teaching.plotting.hallucination import plot_hallucination
from recon_lib.teaching.plotting.images import error_map, show_images, zoom_crop
from recon_lib.teaching.plotting.kspace import log_kspace, mask_and_psf
from recon_lib.teaching.plotting.observer import plot_detection
from recon_lib.teaching.plotting.tradeoff import plot_perception_distortion_sketch

__all__ = [
    "show_images",
    "zoom_crop",
    "error_map",
    "log_kspace",
    "mask_and_psf",
    "plot_training_log",
    "plot_gan_selection",
    "plot_curves",
    "interpolation_schematic",
    "sn_diagram",
    "plot_detection",
    "plot_hallucination",
    "plot_perception_distortion_sketch",
    "plot_ssim_terms",
    "plot_gfactor",
    "plot_cascades",
    "cascade_outputs",
    "DEFAULT_DPI",
]
