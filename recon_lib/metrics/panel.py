"""The evaluation's metric panel: every measure a reconstruction is scored with, in one place.

:func:`score_volume` is what Table 1, the alpha sweep and the notebooks call. Against the SENSE
reference (the scan's own full-data reconstruction, available for real data too):

* distortion: NMSE, PSNR, SSIM (fastMRI's conventions, :mod:`recon_lib.metrics.quality`);
* texture: the HF-energy ratio (1 = the reference's high-frequency energy; it rewards noise as much
  as texture, which is why it is not the perception axis);
* perceptual indices validated against radiologists' scores: VIF, GMSD, HaarPSI, and HFEN
  (:mod:`recon_lib.metrics.perceptual`).

Against the simulator's noise-free image, where the raw file holds one: PSNR, SSIM, the HF-energy
ratio and VIF (``*_truth``); the SENSE reference carries the scan's noise, the truth does not.

The perception axis of the perception-distortion plane is :data:`PERCEPTION_AXIS`, VIF against the
SENSE reference. It was chosen before any result was looked at, and is kept whatever they show:
Mason et al. (IEEE TMI 2020) found VIF the closest of all tested indices to radiologists' scores of
MR images (Kastryulin et al., IEEE Access 2023, also rank it among the best), and unlike the
HF-energy ratio it falls when noise is added (``tests/test_perceptual.py``).
"""

from __future__ import annotations

from recon_lib.metrics.inputs import ArrayLike, as_pair, resolve_data_range
from recon_lib.metrics.perceptual import gmsd, haarpsi, hfen, vif
from recon_lib.metrics.quality import high_frequency_energy_ratio, volume_metrics

__all__ = [
    "DISTORTION_METRICS",
    "TEXTURE_METRICS",
    "PERCEPTUAL_METRICS",
    "REFERENCE_METRICS",
    "TRUTH_METRICS",
    "PERCEPTION_AXIS",
    "BETTER",
    "DECIMALS",
    "score_volume",
]

DISTORTION_METRICS = ("nmse", "psnr", "ssim")
#: weight-free texture measure (1.0 = like the reference)
TEXTURE_METRICS = ("hf_energy_ratio",)
PERCEPTUAL_METRICS = ("vif", "gmsd", "haarpsi", "hfen")
REFERENCE_METRICS = DISTORTION_METRICS + TEXTURE_METRICS + PERCEPTUAL_METRICS
#: scores against the simulator's noise-free image (where the raw files hold one)
TRUTH_METRICS = ("psnr_truth", "ssim_truth", "hf_energy_ratio_truth", "vif_truth")
#: the perception axis of the perception-distortion plane (chosen before the results; see the module docstring)
PERCEPTION_AXIS = "vif"
#: which way is better, for the table's marks (the HF-energy ratios have no direction: closer to 1)
BETTER = {
    "nmse": "lower",
    "psnr": "higher",
    "ssim": "higher",
    "vif": "higher",
    "gmsd": "lower",
    "haarpsi": "higher",
    "hfen": "lower",
    "psnr_truth": "higher",
    "ssim_truth": "higher",
    "vif_truth": "higher",
}
DECIMALS = {
    "nmse": 4,
    "psnr": 2,
    "ssim": 4,
    "hf_energy_ratio": 3,
    "vif": 3,
    "gmsd": 4,
    "haarpsi": 3,
    "hfen": 3,
    "psnr_truth": 2,
    "ssim_truth": 4,
    "hf_energy_ratio_truth": 3,
    "vif_truth": 3,
}


def score_volume(
    gt: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
    truth: ArrayLike | None = None,
) -> dict[str, float]:
    """Every measure of :data:`REFERENCE_METRICS` for one volume, and :data:`TRUTH_METRICS` when ``truth`` is given.

    Args:
        gt: SENSE reference magnitude volume ``(S, H, W)``; its maximum is the data range.
        pred: reconstruction of the same shape.
        mask: foreground mask (the paper scores the foreground only).
        data_range: peak of the reference metrics; default ``gt.max()`` (fastMRI: the volume maximum, so
            pass the volume's maximum when scoring a single slice).
        truth: the noise-free magnitude volume, or None (real data); its own maximum is its data range.
    """
    g, p = as_pair(gt, pred)
    L = resolve_data_range(g, data_range)
    scores = volume_metrics(g, p, mask=mask, data_range=L)
    scores["hf_energy_ratio"] = high_frequency_energy_ratio(g, p, mask=mask)
    for name, f in (("vif", vif), ("gmsd", gmsd), ("haarpsi", haarpsi), ("hfen", hfen)):
        scores[name] = f(g, p, mask=mask, data_range=L)
    if truth is not None:
        t = volume_metrics(truth, p, mask=mask)
        scores |= {
            "psnr_truth": t["psnr"],
            "ssim_truth": t["ssim"],
            "hf_energy_ratio_truth": high_frequency_energy_ratio(truth, p, mask=mask),
            "vif_truth": vif(truth, p, mask=mask),
        }
    return scores
