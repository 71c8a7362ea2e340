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

from typing import Protocol

import numpy as np

__all__ = [
    "TextureSource",
    "FieldSampler",
    "SlabFieldSampler",
    "network_lines",
    "z_correlation_mm",
    "SLAB_THICKNESS_MM",
    "SUBSLICE_MM",
]

#: slice thickness of fastMRI's coronal knee protocols (PD and PDFS: 3 mm; Zbontar et al. 2018,
#: arXiv:1811.08839, Table 2): each slice of simulator 2 integrates the anatomy over this slab
SLAB_THICKNESS_MM = 3.0
#: spacing of the sub-slices the slab integral is sampled at (the midpoint rule): below half the
#: shortest z-correlation length of any texture (0.77 mm, muscle striation), so the slab average
#: converges and the number of sub-slices is no contrast knob
SUBSLICE_MM = 0.375


def z_correlation_mm(period_mm: float | None = None, corr_mm: float | None = None) -> float:
    """Correlation length along z (anterior-posterior, across the slab) of a texture field.

    The textures are modelled as statistically isotropic in 3-D (cancellous bone: degree of
    anisotropy about 1.3 - 2 in the femur and tibia, Odgaard, Bone 20, 1997, and Hildebrand et al.,
    JBMR 14, 1999, so to first order isotropic; muscle fibres run superior-inferior, in the coronal
    plane, so z is an across-fibre direction; fat septa have no preferred direction). Each field is
    drawn separable, its in-plane spectrum times a Gaussian correlation ``exp(-dz^2 / (2 l^2))``
    along z, with ``l`` chosen so that the field's rate of change along z equals an isotropic 3-D
    field's (the same mean zero-crossing rate, Rice 1944):

    * band-pass, centre period ``p``: an isotropic shell of radius ``1/p`` has derivative variance
      ``(2 pi / p)^2 / 3`` along any axis, so ``l = sqrt(3) p / (2 pi)`` (trabeculae, p = 5 - 6.5 mm:
      1.4 - 1.8 mm);
    * low-pass with correlation length ``c`` (:meth:`FieldSampler.lowpass`: covariance
      ``exp(-r^2 / (4 c^2))``): ``l = sqrt(2) c``.
    """
    if (period_mm is None) == (corr_mm is None):
        raise ValueError("give exactly one of period_mm and corr_mm")
    if period_mm is not None:
        return float(np.sqrt(3.0) * period_mm / (2 * np.pi))
    return float(np.sqrt(2.0) * float(corr_mm))  # type: ignore[arg-type]


class TextureSource(Protocol):
    """What :func:`~recon_lib.data.phantom.anatomy.render_slice` draws its texture fields from."""

    def bandpass(
        self, period_mm: float, relative_bandwidth: float = 0.35, stretch: float = 1.0, angle_rad: float = 0.0
    ) -> np.ndarray: ...

    def lowpass(self, corr_mm: float) -> np.ndarray: ...


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

    def shaped_spectrum(self, noise: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """The base-grid spectrum of ``noise`` shaped by ``weight``, Nyquist bins removed."""
        hb, wb = self.base_shape
        spectrum = np.fft.rfft2(noise) * weight
        # no Nyquist bins: their interpolation is ambiguous
        if hb % 2 == 0:
            spectrum[hb // 2] = 0
        if wb % 2 == 0:
            spectrum[:, wb // 2] = 0
        return spectrum

    def _field(self, weight: np.ndarray) -> np.ndarray:
        spectrum = self.shaped_spectrum(self.rng.standard_normal(self.base_shape, dtype=np.float32), weight)
        base = np.fft.irfft2(spectrum, s=self.base_shape)
        mean, std = float(base.mean()), float(base.std())
        std = std if std > 0 else 1.0
        if self.factor == 1:
            return ((base - mean) / std).astype(np.float32)
        return self.fine_field(spectrum, mean, std)

    def fine_field(self, spectrum: np.ndarray, mean: float, std: float) -> np.ndarray:
        """The field of a base-grid spectrum on the fine grid (trigonometric interpolation), standardised."""
        hb, wb = self.base_shape
        if self.factor == 1:
            return ((np.fft.irfft2(spectrum, s=self.base_shape) - mean) / std).astype(np.float32)
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
        return self._field(self.bandpass_weight(period_mm, relative_bandwidth, stretch, angle_rad))

    def bandpass_weight(
        self, period_mm: float, relative_bandwidth: float, stretch: float, angle_rad: float
    ) -> np.ndarray:
        if period_mm <= 2 * self.base_pixel_mm:
            raise ValueError(f"period_mm must exceed two base pixels ({2 * self.base_pixel_mm:g} mm), got {period_mm}")
        c, s = np.cos(angle_rad), np.sin(angle_rad)
        f_along = self._fy * c + self._fx * s  # stretching along a direction compresses the spectrum there
        f_across = -self._fy * s + self._fx * c
        radius = np.sqrt((f_along * stretch) ** 2 + f_across**2)
        f0 = 1.0 / period_mm
        weight = np.exp(-0.5 * ((radius - f0) / (relative_bandwidth * f0)) ** 2)
        return weight.astype(np.float32)

    def lowpass(self, corr_mm: float) -> np.ndarray:
        """Gaussian-filtered noise with correlation length ``corr_mm``; zero mean, unit std, float32 ``(h, w)``."""
        return self._field(self.lowpass_weight(corr_mm))

    def lowpass_weight(self, corr_mm: float) -> np.ndarray:
        if corr_mm <= 0:
            raise ValueError(f"corr_mm must be positive, got {corr_mm}")
        weight = np.exp(-2.0 * (np.pi * corr_mm) ** 2 * (self._fy**2 + self._fx**2))
        return weight.astype(np.float32)


class SlabFieldSampler:
    """Texture fields of one slab: 3-D random fields sampled on the sub-slices of a slice's thickness.

    Field ``j`` (the j-th request, in the order :func:`~recon_lib.data.phantom.anatomy.render_slice`
    makes them) is one 3-D Gaussian field: its in-plane spectrum as :class:`FieldSampler` draws it,
    correlated along z between the sub-slices with the Gaussian correlation of length
    :func:`z_correlation_mm` (noise ``n_k = sum_l L_kl w_l``, ``L L^T`` the sub-slices' correlation
    matrix, ``w_l`` independent white noise). All sub-slices are standardised together, so the field
    is stationary along z. :meth:`view` gives sub-slice ``k``'s sampler, with the
    :meth:`FieldSampler.bandpass` / :meth:`FieldSampler.lowpass` interface: rendering every sub-slice
    through its view and averaging the images integrates the anatomy over the slab.

    Args:
        rng: the slice's random generator (the only source of randomness).
        shape, pixel_mm, factor: the fine grid, as :class:`FieldSampler`.
        offsets_mm: ``(K,)`` z positions of the sub-slices relative to the slab centre.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        shape: tuple[int, int],
        pixel_mm: float,
        factor: int,
        offsets_mm: np.ndarray,
    ) -> None:
        self.grid = FieldSampler(rng, shape, pixel_mm, factor)
        self.offsets = np.asarray(offsets_mm, dtype=np.float64).ravel()
        if self.offsets.size < 1:
            raise ValueError("offsets_mm must hold at least one sub-slice position")
        self._fields: list[tuple[tuple, np.ndarray]] = []

    @property
    def num_subslices(self) -> int:
        return int(self.offsets.size)

    def view(self, k: int) -> _SubSlice:
        """The field sampler of sub-slice ``k``."""
        if not 0 <= k < self.num_subslices:
            raise IndexError(f"sub-slice {k} out of range 0..{self.num_subslices - 1}")
        return _SubSlice(self, k)

    def field(self, j: int, spec: tuple, k: int) -> np.ndarray:
        """Sub-slice ``k`` of field ``j`` with ``spec`` (drawn on first request; the same spec at every sub-slice)."""
        if j == len(self._fields):
            self._fields.append((spec, self._draw(spec)))
        elif j > len(self._fields):
            raise RuntimeError(f"texture field {j} requested before field {len(self._fields)}")
        drawn_spec, fields = self._fields[j]
        if drawn_spec != spec:
            raise RuntimeError(f"texture field {j} requested as {spec}, drawn as {drawn_spec}: render order differs")
        return fields[k]

    def _draw(self, spec: tuple) -> np.ndarray:
        g = self.grid
        if spec[0] == "bandpass":
            period, bandwidth, stretch, angle = spec[1:]
            weight, corr = g.bandpass_weight(period, bandwidth, stretch, angle), z_correlation_mm(period_mm=period)
        else:
            weight, corr = g.lowpass_weight(spec[1]), z_correlation_mm(corr_mm=spec[1])
        dz = self.offsets[:, None] - self.offsets[None, :]
        rho = np.exp(-0.5 * (dz / corr) ** 2)
        values, vectors = np.linalg.eigh(rho)  # PSD square root (rho is near-singular for long correlations)
        mix = (vectors * np.sqrt(np.clip(values, 0.0, None))).astype(np.float32)
        white = g.rng.standard_normal((self.num_subslices, *g.base_shape), dtype=np.float32)
        noise = np.einsum("kl,lhw->khw", mix, white)
        spectra = [g.shaped_spectrum(n, weight) for n in noise]
        base = np.stack([np.fft.irfft2(sp, s=g.base_shape) for sp in spectra])
        mean, std = float(base.mean()), float(base.std())
        std = std if std > 0 else 1.0
        return np.stack([g.fine_field(sp, mean, std) for sp in spectra])


class _SubSlice:
    """One sub-slice of a :class:`SlabFieldSampler`, with :class:`FieldSampler`'s drawing interface."""

    def __init__(self, slab: SlabFieldSampler, k: int) -> None:
        self.slab, self.k, self.calls = slab, k, 0

    def _next(self, spec: tuple) -> np.ndarray:
        out = self.slab.field(self.calls, spec, self.k)
        self.calls += 1
        return out

    def bandpass(
        self, period_mm: float, relative_bandwidth: float = 0.35, stretch: float = 1.0, angle_rad: float = 0.0
    ) -> np.ndarray:
        return self._next(("bandpass", float(period_mm), float(relative_bandwidth), float(stretch), float(angle_rad)))

    def lowpass(self, corr_mm: float) -> np.ndarray:
        return self._next(("lowpass", float(corr_mm)))


def network_lines(field: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Thin lines along the zero crossings of a unit-variance field: ``exp(-(field / width)^2)`` in [0, 1].

    Smaller ``width`` gives thinner lines (a fraction of the field's period).
    """
    return np.exp(-((field / width) ** 2)).astype(np.float32)
