"""Random fields that give the knee phantom its fine texture.

Every field is white Gaussian noise shaped in the Fourier domain, normalised to zero mean and unit
standard deviation, and specified in physical units (a trabecular spacing in mm), so textures look
the same at every matrix size:

* :meth:`FieldSampler.bandpass`: energy in an annulus around the spatial frequency
  ``1 / period_mm``; optionally anisotropic (stretched along one direction), which gives muscle
  fibre striation. The zero crossings of a band-pass field form a labyrinthine network of lines
  about half a period apart: :func:`network_lines` draws a trabecular network from them.
* :meth:`FieldSampler.lowpass`: a smooth field with a given correlation length.

Grid independence: the noise is drawn on a *base* grid (the acquisition grid) and each field is
evaluated on a grid ``factor`` times finer by trigonometric interpolation (zero-padding its
spectrum). The same random generator state therefore gives the same continuous field whatever the
synthesis grid, so a phantom drawn 2x finer is the same object as one drawn on the acquisition
grid, only sampled more densely -- which is what makes an inverse-crime comparison meaningful.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FieldSampler", "network_lines"]


class FieldSampler:
    """Draws smooth random fields on a fine grid from noise on a ``factor``-times coarser base grid.

    Args:
        rng: the random generator (the only source of randomness).
        shape: ``(h, w)`` of the fine grid; both divisible by ``factor``.
        pixel_mm: fine-grid pixel size in mm (isotropic).
        factor: fine / base grid ratio per axis.
    """

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], pixel_mm: float, factor: int = 1) -> None:
        h, w = int(shape[0]), int(shape[1])
        if factor < 1 or h % factor or w % factor:
            raise ValueError(f"shape {shape} must be divisible by factor {factor} (>= 1)")
        self.rng = rng
        self.shape = (h, w)
        self.factor = int(factor)
        self.base_shape = (h // factor, w // factor)
        self.base_pixel_mm = pixel_mm * factor
        fy = np.fft.fftfreq(self.base_shape[0], d=self.base_pixel_mm).astype(np.float32)[:, None]
        fx = np.fft.rfftfreq(self.base_shape[1], d=self.base_pixel_mm).astype(np.float32)[None, :]
        self._fy, self._fx = fy, fx

    def _field(self, weight: np.ndarray) -> np.ndarray:
        hb, wb = self.base_shape
        spectrum = np.fft.rfft2(self.rng.standard_normal(self.base_shape, dtype=np.float32)) * weight
        # no Nyquist bins: their interpolation is ambiguous
        if hb % 2 == 0:
            spectrum[hb // 2] = 0
        if wb % 2 == 0:
            spectrum[:, wb // 2] = 0
        base = np.fft.irfft2(spectrum, s=self.base_shape)
        mean, std = float(base.mean()), float(base.std())
        std = std if std > 0 else 1.0
        if self.factor == 1:
            return ((base - mean) / std).astype(np.float32)
        h, w = self.shape
        padded = np.zeros((h, w // 2 + 1), dtype=spectrum.dtype)
        half = (hb + 1) // 2
        padded[:half, : wb // 2 + 1] = spectrum[:half]
        padded[h - (hb - half) :, : wb // 2 + 1] = spectrum[half:]
        fine = np.fft.irfft2(padded, s=self.shape) * (h * w / (hb * wb))
        return ((fine - mean) / std).astype(np.float32)

    def bandpass(
        self, period_mm: float, relative_bandwidth: float = 0.35, stretch: float = 1.0, angle_rad: float = 0.0
    ) -> np.ndarray:
        """Band-pass filtered Gaussian noise, zero mean and unit standard deviation.

        Args:
            period_mm: centre period of the pass band in mm.
            relative_bandwidth: Gaussian width of the annulus relative to its centre frequency.
            stretch: ``> 1`` elongates the texture along ``angle_rad`` by this factor (fibres).
            angle_rad: direction of elongation, from the +row (down, H) axis toward +W.

        Returns:
            float32 ``(h, w)`` on the fine grid.
        """
        if period_mm <= 2 * self.base_pixel_mm:
            raise ValueError(f"period_mm must exceed two base pixels ({2 * self.base_pixel_mm:g} mm), got {period_mm}")
        c, s = np.cos(angle_rad), np.sin(angle_rad)
        f_along = self._fy * c + self._fx * s  # stretching along a direction compresses the spectrum there
        f_across = -self._fy * s + self._fx * c
        radius = np.sqrt((f_along * stretch) ** 2 + f_across**2)
        f0 = 1.0 / period_mm
        weight = np.exp(-0.5 * ((radius - f0) / (relative_bandwidth * f0)) ** 2)
        return self._field(weight.astype(np.float32))

    def lowpass(self, corr_mm: float) -> np.ndarray:
        """Gaussian-filtered noise with correlation length ``corr_mm``; zero mean, unit std, float32 ``(h, w)``."""
        if corr_mm <= 0:
            raise ValueError(f"corr_mm must be positive, got {corr_mm}")
        weight = np.exp(-2.0 * (np.pi * corr_mm) ** 2 * (self._fy**2 + self._fx**2))
        return self._field(weight.astype(np.float32))


def network_lines(field: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Thin lines along the zero crossings of a unit-variance field: ``exp(-(field / width)^2)`` in [0, 1].

    Smaller ``width`` gives thinner lines (a fraction of the field's period).
    """
    return np.exp(-((field / width) ** 2)).astype(np.float32)
