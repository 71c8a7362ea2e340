"""Simulated fastMRI-format multi-coil knee volumes (the suite's embedded dataset).

fastMRI cannot be downloaded by users of this suite, so :func:`simulate_volume` synthesises
coronal knee volumes that every line of recon_lib reads exactly like fastMRI multicoil knee data:
15-coil complex64 k-space ``(slices, coils, H, W)`` with 2x readout oversampling along H and zero
phase-encode padding columns, an ISMRMRD header, ``reconstruction_rss`` and the fastMRI attrs.

Forward model (per slice)::

    k_c = P_W  C_{HxW}  F_fine( S_c * x )  / 2   +   n_c

* ``x`` -- the object (:mod:`recon_lib.data.phantom.anatomy`: tissue signal of PD or PDFS contrast,
  times a smooth intensity bias, times a smooth background phase), and ``S_c`` the coil
  sensitivities (:mod:`recon_lib.data.phantom.coils`, normalised ``sum_c |S_c|^2 = 1``), both drawn
  on a grid 2x finer per axis than the acquisition grid, with edges anti-aliased on that grid.
* ``F_fine`` -- recon_lib's centred orthonormal FFT (:func:`recon_lib.fft2c`) on the fine grid;
  ``C_{HxW}`` keeps the central ``H x W`` k-space samples; the factor 1/2 makes intensities
  independent of the synthesis oversampling (orthonormal FFTs scale with ``sqrt(#pixels)``).
  Synthesising on a finer grid and cropping k-space avoids the *inverse crime* of simulating data
  with the very discretisation used for reconstruction.
* ``P_W`` zeroes the phase-encode padding columns outside ``Geometry.padding``.
* ``n_c`` -- complex white Gaussian noise, optionally correlated between coils.

The object occupies the central half of the readout field of view (2x oversampling); beyond it
the signal fades to zero over ``H/16`` rows (the coil array's superior-inferior coverage).

Grid conventions (recon_lib's FFT convention): ``ifft2c(kspace)`` is the coil image on the
oversampled ``(H, W)`` grid; removing readout oversampling = ``ifft1c`` along H and keeping the
central ``H/2`` rows (rows ``H/4 .. 3H/4``); ``sens_reduce`` of that with ``maps`` then gives
``image`` to within about 1 % (the maps are smooth, so ``S (band-limited x)`` is nearly
``band-limited (S x)``).

SNR definition: ``snr`` = mean of ``|image|`` over the tissue (``tissue_labels != BACKGROUND``,
whole volume) divided by the standard deviation of the complex noise ``sqrt(E|n|^2)`` per pixel of
the coil-combined image ``sens_reduce(readout-cropped k-space, maps)`` for uncorrelated coils.
Zero padding columns carry no noise, so the per-sample k-space noise std is
``noise_std = mean|image| / snr * sqrt(W / #sampled columns)``. With ``coil_correlation = r`` the
per-coil noise std stays ``noise_std`` and neighbouring coils (around the ring) correlate with
coefficient ``r`` (``r^d`` at ring distance ``d``). PDFS volumes are acquired at
``snr * PDFS_SNR_FACTOR``: fat suppression removes most of the signal at equal noise.

Intensity scale: magnitudes like fastMRI's (RSS maxima ~2e-4 .. 6e-4 for PD, lower for PDFS).

Simulator 2 (``simulator=2``; :data:`DEFAULT_SIMULATOR` selects the default) changes what real scans
have and simulator 1 lacks, and nothing else:

* **Receive fields.** ``S_c`` are the Biot-Savart fields of a loop array
  (:mod:`recon_lib.data.phantom.receive`), *not* normalised: the coil images carry the array's
  receive profile. Preparation is unchanged (ESPIRiT maps are unit-norm), so the SENSE reference is
  the object times the array's root sum of squares ``sqrt(sum_c |S_c|^2)``, as for real data; the
  stored noise-free ``image`` is that noise-free SENSE combination, and ``maps`` the true fields.
* **Slice profile.** Each slice integrates the anatomy over :data:`SLAB_THICKNESS_MM` (3 mm, fastMRI's
  knee protocols): the slice is rendered at sub-slices :data:`SUBSLICE_MM` apart through the slab
  and averaged, its texture fields 3-D with a stated correlation length along z
  (:class:`~recon_lib.data.phantom.textures.SlabFieldSampler`), still on the 2x finer grid.
* **Variety.** :func:`~recon_lib.data.phantom.anatomy.random_knee_v2` (flexion, bone proportions,
  marrow and cartilage), the array's placement (:func:`~recon_lib.data.phantom.receive.random_loop_array`),
  and the SNR: each volume is acquired at ``snr`` times a log-uniform factor in :data:`SNR_SPREAD`
  (scanners, coils and patients differ; the range is this simulator's assumption).
* **Slice positions.** A fastMRI coronal knee protocol covers the knee from front to back (30 - 40
  slices of 3 mm); the ``num_slices`` slices kept sample that extent evenly (the limb's
  anterior-posterior depth, :data:`~recon_lib.data.phantom.anatomy.LIMB_AP_TO_ML` of its width),
  and femur, tibia, menisci, joint fluid and collateral ligaments end at their own anterior-posterior
  depths (:func:`~recon_lib.data.phantom.anatomy.random_knee_v2`'s knees only), so the outer slices
  hold soft tissue only, as a real volume's do.
* **Tissue labels** on the reconstruction grid are written to the raw file
  (:data:`~recon_lib.data.fastmri_io.TISSUE_LABELS_KEY`), with the attribute
  ``simulator_version = 2`` (:data:`~recon_lib.data.fastmri_io.SIMULATOR_ATTR`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from recon_lib.core.checks import check_int
from recon_lib.core.tensors import center_crop
from recon_lib.data.fastmri_io import (
    ACQUISITIONS,
    SIMULATOR_ATTR,
    EncodingInfo,
    build_ismrmrd_header,
    write_multicoil_volume,
)
from recon_lib.data.phantom.anatomy import (
    LIMB_AP_TO_ML,
    KneeAnatomy,
    Tissue,
    limb_widest,
    random_knee,
    random_knee_v2,
    render_slice,
)
from recon_lib.data.phantom.coils import CoilArray, coil_sensitivities, correlated_noise, random_coil_array
from recon_lib.data.phantom.receive import LoopArray, random_loop_array, receive_fields
from recon_lib.data.phantom.textures import SLAB_THICKNESS_MM, SUBSLICE_MM, SlabFieldSampler
from recon_lib.physics.coils import rss
from recon_lib.physics.fft import fft1c, ifft1c, ifft2c, readout_rows

__all__ = [
    "Geometry",
    "GEOMETRIES",
    "SimulatedVolume",
    "simulate_volume",
    "write_volume",
    "readout_cropped_coil_images",
    "rss_reconstruction",
    "patient_id_for_seed",
    "Tissue",
    "DEFAULT_SNR",
    "PDFS_SNR_FACTOR",
    "SLICE_SPACING_MM",
    "SYNTHESIS_FACTOR",
    "SIMULATORS",
    "DEFAULT_SIMULATOR",
    "SNR_SPREAD",
    "SLAB_THICKNESS_MM",
    "SUBSLICE_MM",
    "render_slab",
    "subslice_offsets",
]

#: the knee simulators: 1 (normalised coil maps, thin slices) and 2 (module docstring)
SIMULATORS = (1, 2)
#: the simulator ``make data`` and :func:`simulate_volume` use unless told otherwise: 2, switched in
#: the commit that retrained every shipped model on simulator-2 data (issue 27; main never ships
#: checkpoints of one dataset beside data of another). Simulator 1 stays available (``--simulator 1``)
DEFAULT_SIMULATOR = 2
#: simulator 2: each volume's SNR is ``snr`` times a log-uniform factor in this range
SNR_SPREAD = (0.75, 1.33)

#: default SNR of PD volumes (see the module docstring for the definition)
DEFAULT_SNR = 30.0
#: PDFS volumes are simulated at ``snr * PDFS_SNR_FACTOR``
PDFS_SNR_FACTOR = 0.5
#: the object and maps are synthesised on a grid this many times finer per axis than the acquisition
SYNTHESIS_FACTOR = 2
#: distance between neighbouring coronal slices (mm)
SLICE_SPACING_MM = 3.0
#: relative magnitude scale of each contrast (volume-wise uniform range): fastMRI-like intensities
_INTENSITY_SCALE = {"CORPD_FBK": (2.4e-4, 5.0e-4), "CORPDFS_FBK": (1.6e-4, 3.2e-4)}


@dataclass(frozen=True)
class Geometry:
    """Acquisition matrix of a simulated volume.

    Attributes:
        name: key in :data:`GEOMETRIES`.
        kspace_shape: ``(H, W)``: readout samples (2x oversampled) and phase-encode columns.
        recon_size: ``(rh, rw)`` of ``reconstruction_rss`` (fastMRI's reconSpace).
        num_coils: receive channels.
        padding: ``(left, right)``: phase-encode columns ``[left, right)`` are sampled, the others
            are zero padding (fastMRI's ``padding_left`` / ``padding_right``).
        pixel_mm: in-plane pixel size (mm) of the readout-cropped ``(H/2, W)`` image grid.
    """

    name: str
    kspace_shape: tuple[int, int]
    recon_size: tuple[int, int]
    num_coils: int
    padding: tuple[int, int]
    pixel_mm: float

    def __post_init__(self) -> None:
        H, W = self.kspace_shape
        if H % 16 or W % 2:
            raise ValueError(f"kspace_shape must have H divisible by 16 and W even, got {self.kspace_shape}")
        left, right = self.padding
        if not 0 <= left <= W // 2 < right <= W:
            raise ValueError(f"padding {self.padding} must contain the DC column W//2 = {W // 2} and fit W = {W}")
        enc = self.encoding
        if (enc.padding_left, enc.padding_right) != (left, right):
            raise ValueError(f"padding {self.padding} is inconsistent with the header encoding limits {enc}")
        if self.recon_size[0] > H // 2 or self.recon_size[1] > W:
            raise ValueError(f"recon_size {self.recon_size} must fit the readout-cropped image {(H // 2, W)}")

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H/2, W)``: the readout-cropped image grid of ``image`` and ``maps``."""
        return self.kspace_shape[0] // 2, self.kspace_shape[1]

    @property
    def num_sampled_columns(self) -> int:
        return self.padding[1] - self.padding[0]

    @property
    def encoding(self) -> EncodingInfo:
        """The header's encoding description (centre / maximum phase-encode line)."""
        H, W = self.kspace_shape
        return EncodingInfo(
            encoded_size=(H, W, 1),
            recon_size=(self.recon_size[0], self.recon_size[1], 1),
            center=W // 2 - self.padding[0],
            maximum=self.padding[1] - self.padding[0] - 1,
        )

    def header_xml(self, num_slices: int) -> str:
        """ISMRMRD header of a volume with this geometry."""
        enc = self.encoding
        H, W = self.kspace_shape
        return build_ismrmrd_header(
            encoded_size=enc.encoded_size,
            recon_size=enc.recon_size,
            center=enc.center,
            maximum=enc.maximum,
            num_slices=num_slices,
            field_of_view_mm=(H * self.pixel_mm, W * self.pixel_mm, SLICE_SPACING_MM),
        )


GEOMETRIES: dict[str, Geometry] = {
    # half fastMRI's matrix over the same field of view: what CPU training can afford
    "teaching": Geometry("teaching", (320, 184), (160, 160), 15, (4, 180), 0.875),
    # fastMRI knee: 640 x 368 raw, 320 x 320 reconstruction
    "fastmri": Geometry("fastmri", (640, 368), (320, 320), 15, (16, 352), 0.4375),
}


@dataclass
class SimulatedVolume:
    """One simulated multi-coil volume (all arrays NumPy).

    Attributes:
        kspace: complex64 ``(slices, coils, H, W)``, noisy, zero padding columns.
        kspace_clean: complex64 ``(slices, coils, H, W)``, the same without noise.
        image: complex64 ``(slices, H/2, W)``: the noise-free object (with its background phase)
            on the readout-cropped grid, band-limited exactly like the acquisition.
        maps: complex64 ``(slices, coils, H/2, W)``: true sensitivities, ``sum_c |S_c|^2 = 1``.
        tissue_labels: uint8 ``(slices, H/2, W)`` with values of :class:`Tissue`.
        noise_std: per-sample k-space noise std ``sqrt(E|n|^2)`` (per coil).
        header_xml: ISMRMRD header.
        attrs: ``acquisition``, ``max``, ``norm``, ``patient_id`` (fastMRI attrs).
        reconstruction_rss: float32 ``(slices, rh, rw)``: RSS of the noisy coil images, cropped.
        snr: the SNR this volume was simulated at (after the PDFS factor).
        coil_correlation: neighbour-coil noise correlation coefficient.
        geometry: the acquisition geometry.
        slice_positions_mm: ``(slices,)`` anterior-posterior slice positions.
        simulator: the simulator version (simulator 2: ``image`` is the noise-free SENSE
            combination, ``maps`` the unnormalised receive fields).
    """

    kspace: np.ndarray
    kspace_clean: np.ndarray
    image: np.ndarray
    maps: np.ndarray
    tissue_labels: np.ndarray
    noise_std: float
    header_xml: str
    attrs: dict
    reconstruction_rss: np.ndarray
    snr: float
    coil_correlation: float
    geometry: Geometry
    slice_positions_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    simulator: int = 1


def patient_id_for_seed(seed: int) -> str:
    """A fastMRI-like 64-hex-digit patient id, unique per seed."""
    return hashlib.sha256(f"recon_lib knee phantom {int(seed)}".encode()).hexdigest()


def _resolve_geometry(geometry: Geometry | str) -> Geometry:
    if isinstance(geometry, Geometry):
        return geometry
    if isinstance(geometry, str) and geometry in GEOMETRIES:
        return GEOMETRIES[geometry]
    raise ValueError(f"geometry must be a Geometry or one of {tuple(GEOMETRIES)}, got {geometry!r}")


def readout_cropped_coil_images(kspace: torch.Tensor) -> torch.Tensor:
    """Coil images on the readout-cropped grid: ``ifft1c`` along H, keep rows ``H/4 .. 3H/4``, then
    ``ifft1c`` along W. Input ``(..., H, W)`` k-space; output complex images ``(..., H/2, W)``."""
    H = kspace.shape[-2]
    hybrid = ifft1c(kspace, dim=-2)[..., readout_rows(H), :]
    return ifft1c(hybrid, dim=-1)


def rss_reconstruction(kspace: np.ndarray | torch.Tensor, recon_size: tuple[int, int]) -> np.ndarray:
    """fastMRI's ``reconstruction_rss``: RSS of the coil images, readout-cropped and centre-cropped.

    Args:
        kspace: complex ``(slices, coils, H, W)``.
        recon_size: ``(rh, rw)``.

    Returns:
        float32 ``(slices, rh, rw)``.
    """
    k = torch.as_tensor(kspace)
    H = k.shape[-2]
    images = ifft2c(k)[..., readout_rows(H), :]  # (S, C, H/2, W)
    return center_crop(rss(images, dim=1), recon_size).numpy().astype(np.float32)


class _SmoothField3D:
    """A smooth random function of (y, x, z) in mm: a few random plane waves (bias, phase)."""

    def __init__(
        self, rng: np.random.Generator, terms: int, wavelength_mm: tuple[float, float], amplitude: float
    ) -> None:
        self.k = rng.normal(size=(terms, 3))
        self.k /= np.linalg.norm(self.k, axis=1, keepdims=True)
        self.k *= (2 * np.pi / rng.uniform(*wavelength_mm, size=terms))[:, None]
        self.phase = rng.uniform(0, 2 * np.pi, terms)
        self.amp = amplitude * rng.uniform(0.5, 1.0, terms)

    def __call__(self, y: np.ndarray, x: np.ndarray, z: float) -> np.ndarray:
        out = np.zeros(np.broadcast_shapes(y.shape, x.shape), np.float32)
        for (ky, kx, kz), ph, a in zip(self.k, self.phase, self.amp, strict=True):
            out += np.float32(a) * np.cos(ky * y + kx * x + kz * z + ph).astype(np.float32)
        return out


def _upsample_linear(a: np.ndarray, factor: int) -> np.ndarray:
    """Linear upsampling of the last two axes by ``factor``: ``out[..., f i, f j] = a[..., i, j]``,
    samples in between interpolated (beyond the last sample, the last value is repeated)."""
    if factor == 1:
        return a

    def along(x: np.ndarray, axis: int) -> np.ndarray:
        x = np.moveaxis(x, axis, -1)
        nxt = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)
        w = (np.arange(factor, dtype=np.float32) / factor)[:, None]  # (f, 1)
        out = x[..., None, :] * (1 - w) + nxt[..., None, :] * w  # (..., f, n)
        out = np.swapaxes(out, -1, -2).reshape(x.shape[:-1] + (factor * x.shape[-1],))
        return np.moveaxis(out, -1, axis)

    return along(along(a, -1), -2).astype(a.dtype)


def simulate_volume(
    seed: int,
    acquisition: str,
    geometry: Geometry | str = "teaching",
    num_slices: int = 8,
    snr: float = DEFAULT_SNR,
    coil_correlation: float = 0.0,
    *,
    synthesis_factor: int = SYNTHESIS_FACTOR,
    simulator: int = DEFAULT_SIMULATOR,
) -> SimulatedVolume:
    """Simulate one coronal multi-coil knee volume.

    Args:
        seed: the volume's seed; the same seed gives bit-identical arrays.
        acquisition: ``"CORPD_FBK"`` (proton density) or ``"CORPDFS_FBK"`` (fat suppressed).
        geometry: a :class:`Geometry` or a key of :data:`GEOMETRIES`.
        num_slices: coronal slices, :data:`SLICE_SPACING_MM` apart, centred on the joint.
        snr: SNR of a PD volume (see the module docstring); PDFS uses ``snr * PDFS_SNR_FACTOR``.
        coil_correlation: noise correlation coefficient of neighbouring coils, in ``[0, 1)``.
        synthesis_factor: the object and maps are drawn on a grid this many times finer per axis
            than the acquisition grid. 1 commits the inverse crime (for demonstrations and tests).
        simulator: 1 or 2 (:data:`SIMULATORS`, module docstring).

    Returns:
        A :class:`SimulatedVolume`.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got {simulator!r}")
    if simulator == 2:
        return _simulate_volume_v2(seed, acquisition, geometry, num_slices, snr, coil_correlation, synthesis_factor)
    geom = _resolve_geometry(geometry)
    seed, num_slices, synthesis_factor = _check_arguments(
        acquisition, seed, num_slices, snr, coil_correlation, synthesis_factor
    )
    seeds = np.random.SeedSequence(int(seed)).spawn(num_slices + 2)
    draw = _draw_volume(np.random.default_rng(seeds[0]), geom, acquisition, num_slices)
    grid = _SynthesisGrid.for_geometry(geom, int(synthesis_factor))
    clean = _CleanVolume.empty(geom, num_slices)
    H, W = geom.kspace_shape
    hybrid = torch.zeros((geom.num_coils + 1, grid.f * H, W), dtype=torch.complex64)  # reused by every slice
    for s, z in enumerate(draw.z_positions):
        _simulate_slice(clean, s, float(z), draw, grid, geom, acquisition, np.random.default_rng(seeds[s + 1]), hybrid)

    effective_snr = float(snr) * (PDFS_SNR_FACTOR if acquisition == "CORPDFS_FBK" else 1.0)
    return _noisy_volume(
        clean, geom, acquisition, int(seed), effective_snr, coil_correlation, seeds[-1], draw.z_positions, 1
    )


def _simulate_volume_v2(
    seed: int,
    acquisition: str,
    geometry: Geometry | str,
    num_slices: int,
    snr: float,
    coil_correlation: float,
    synthesis_factor: int,
) -> SimulatedVolume:
    """:func:`simulate_volume` with simulator 2 (module docstring)."""
    geom = _resolve_geometry(geometry)
    seed, num_slices, synthesis_factor = _check_arguments(
        acquisition, seed, num_slices, snr, coil_correlation, synthesis_factor
    )
    seeds = np.random.SeedSequence([int(seed), 2]).spawn(num_slices + 2)
    rng = np.random.default_rng(seeds[0])
    draw = _draw_volume_v2(rng, geom, acquisition, num_slices)
    spread = float(np.exp(rng.uniform(*np.log(SNR_SPREAD))))
    grid = _SynthesisGrid.for_geometry(geom, int(synthesis_factor))
    clean = _CleanVolume.empty(geom, num_slices)
    H, W = geom.kspace_shape
    hybrid = torch.zeros((geom.num_coils + 1, grid.f * H, W), dtype=torch.complex64)
    for s, z in enumerate(draw.z_positions):
        rng_s = np.random.default_rng(seeds[s + 1])
        _simulate_slab_v2(clean, s, float(z), draw, grid, geom, acquisition, rng_s, hybrid)

    effective_snr = float(snr) * spread * (PDFS_SNR_FACTOR if acquisition == "CORPDFS_FBK" else 1.0)
    return _noisy_volume(
        clean, geom, acquisition, int(seed), effective_snr, coil_correlation, seeds[-1], draw.z_positions, 2
    )


def _noisy_volume(
    clean: _CleanVolume,
    geom: Geometry,
    acquisition: str,
    seed: int,
    effective_snr: float,
    coil_correlation: float,
    noise_seed: np.random.SeedSequence,
    slice_positions_mm: np.ndarray,
    simulator: int,
) -> SimulatedVolume:
    """The noisy acquisition of a simulated clean volume and its file attributes (both simulators;
    simulator 2 also records its version and the volume's SNR)."""
    kspace, noise_std = _add_noise(clean, geom, effective_snr, float(coil_correlation), noise_seed)
    recon = rss_reconstruction(kspace, geom.recon_size)
    attrs: dict[str, object] = {
        "acquisition": acquisition,
        "max": float(recon.max()),
        "norm": float(np.linalg.norm(recon)),
        "patient_id": patient_id_for_seed(seed),
    }
    if simulator == 2:
        attrs |= {SIMULATOR_ATTR: 2, "snr": effective_snr}  # this volume's SNR (the module docstring's definition)
    return SimulatedVolume(
        kspace=kspace,
        kspace_clean=clean.kspace,
        image=clean.image,
        maps=clean.maps,
        tissue_labels=clean.labels,
        noise_std=noise_std,
        header_xml=geom.header_xml(clean.image.shape[0]),
        attrs=attrs,
        reconstruction_rss=recon,
        snr=effective_snr,
        coil_correlation=float(coil_correlation),
        geometry=geom,
        slice_positions_mm=slice_positions_mm,
        simulator=simulator,
    )


def _check_arguments(
    acquisition: str, seed: int, num_slices: int, snr: float, coil_correlation: float, synthesis_factor: int
) -> tuple[int, int, int]:
    """The arguments of :func:`simulate_volume` checked; returns ``seed, num_slices, synthesis_factor``."""
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
    seed = check_int("seed", seed, minimum=0)
    num_slices = check_int("num_slices", num_slices, minimum=1)
    if not np.isfinite(snr) or snr <= 0:
        raise ValueError(f"snr must be a positive finite number, got {snr!r}")
    if not 0.0 <= float(coil_correlation) < 1.0:
        raise ValueError(f"coil_correlation must be in [0, 1), got {coil_correlation!r}")
    synthesis_factor = check_int("synthesis_factor", synthesis_factor, minimum=1, maximum=4)
    return seed, num_slices, synthesis_factor


@dataclass
class _VolumeDraw:
    """What a volume draws once from its generator: anatomy, coil array, bias and phase fields,
    phase offset, intensity scale, and the slice positions (mm)."""

    knee: KneeAnatomy
    coils: CoilArray
    bias: _SmoothField3D
    phase: _SmoothField3D
    phase_offset: float
    scale: float
    z_positions: np.ndarray


def _draw_volume(rng: np.random.Generator, geom: Geometry, acquisition: str, num_slices: int) -> _VolumeDraw:
    knee = random_knee(rng)
    coils = random_coil_array(rng, geom.num_coils, centre_xz=(knee.centre[1], rng.uniform(-10.0, 10.0)))
    bias = _SmoothField3D(rng, 3, (120.0, 300.0), 0.06)
    phase = _SmoothField3D(rng, 4, (90.0, 250.0), 0.8)
    phase_offset = rng.uniform(-np.pi, np.pi)
    scale = rng.uniform(*_INTENSITY_SCALE[acquisition])
    slab_centre = rng.uniform(-4.0, 4.0)
    z_positions = slab_centre + (np.arange(num_slices) - (num_slices - 1) / 2) * SLICE_SPACING_MM
    return _VolumeDraw(knee, coils, bias, phase, phase_offset, scale, z_positions)


@dataclass
class _VolumeDrawV2:
    """What a simulator-2 volume draws once: :class:`_VolumeDraw` with a loop array for the coils."""

    knee: KneeAnatomy
    coils: LoopArray
    bias: _SmoothField3D
    phase: _SmoothField3D
    phase_offset: float
    scale: float
    z_positions: np.ndarray


def _draw_volume_v2(rng: np.random.Generator, geom: Geometry, acquisition: str, num_slices: int) -> _VolumeDrawV2:
    knee = random_knee_v2(rng)
    # the coil fits the widest part of the limb in the field of view (thigh end, calf end or knee)
    reach = (geom.kspace_shape[0] // 4 + geom.kspace_shape[0] // 16) * geom.pixel_mm + abs(knee.centre[0])
    widest = limb_widest(knee, reach)
    coils = random_loop_array(rng, geom.num_coils, joint_yx=knee.centre, knee_half_width=widest)
    bias = _SmoothField3D(rng, 3, (120.0, 300.0), 0.06)
    phase = _SmoothField3D(rng, 4, (90.0, 250.0), 0.8)
    phase_offset = rng.uniform(-np.pi, np.pi)
    scale = rng.uniform(*_INTENSITY_SCALE[acquisition])
    # a fastMRI coronal knee protocol covers the knee from front to back (30 - 40 slices of 3 mm,
    # Zbontar et al. 2018): the slices kept sample that extent evenly, shifted by a random part of a step
    depth = LIMB_AP_TO_ML * knee.limb_half_width
    step = 2.0 * depth / num_slices
    z_positions = -depth + (np.arange(num_slices) + rng.uniform(0.25, 0.75)) * step
    return _VolumeDrawV2(knee, coils, bias, phase, phase_offset, scale, z_positions)


def subslice_offsets() -> np.ndarray:
    """Sub-slice positions (mm, relative to the slab centre) of the slab integral: the midpoints of
    :data:`SLAB_THICKNESS_MM` / :data:`SUBSLICE_MM` equal parts of the slab."""
    count = int(round(SLAB_THICKNESS_MM / SUBSLICE_MM))
    return (np.arange(count) + 0.5) * (SLAB_THICKNESS_MM / count) - SLAB_THICKNESS_MM / 2


def render_slab(
    knee: KneeAnatomy,
    z: float,
    grid_y: np.ndarray,
    grid_x: np.ndarray,
    fine_px: float,
    factor: int,
    acquisition: str,
    rng: np.random.Generator,
    offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The tissue signal of a slab centred at ``z``: :func:`render_slice` at each sub-slice, its
    texture from one :class:`SlabFieldSampler`, averaged; the labels of the sub-slice nearest the centre.

    ``offsets`` (mm) default to :func:`subslice_offsets`; a single offset ``[0.0]`` gives a thin slice
    with the same texture statistics (the control of the slab test)."""
    offsets = subslice_offsets() if offsets is None else np.asarray(offsets, dtype=np.float64)
    shape = (int(grid_y.shape[0]), int(grid_x.shape[1]))
    slab = SlabFieldSampler(rng, shape, fine_px, factor, offsets)
    total = np.zeros(shape, np.float32)
    centre = int(np.argmin(np.abs(offsets)))
    labels = np.zeros(shape, np.uint8)
    for k, dz in enumerate(offsets):
        signal, lab = render_slice(knee, z + float(dz), grid_y, grid_x, fine_px, acquisition, rng, fields=slab.view(k))
        total += signal
        if k == centre:
            labels = lab
    return total / len(offsets), labels


def _simulate_slab_v2(
    out: _CleanVolume,
    s: int,
    z: float,
    draw: _VolumeDrawV2,
    grid: _SynthesisGrid,
    geom: Geometry,
    acquisition: str,
    rng: np.random.Generator,
    hybrid: torch.Tensor,
) -> None:
    """Simulator 2's slice ``s`` at ``z`` mm: the slab's signal, the receive fields (not normalised),
    the forward model; ``image`` is the object times the array's root sum of squares."""
    f, y_f, x_f = grid.f, grid.y, grid.x
    signal, lab = render_slab(draw.knee, z, y_f, x_f, grid.fine_px, f, acquisition, rng)
    obj = (draw.scale * signal * grid.taper * (1.0 + draw.bias(y_f, x_f, z))) * np.exp(
        1j * (draw.phase_offset + draw.phase(y_f, x_f, z))
    )
    # the fields vary on scales >= 10 mm inside the knee: computed every second acquisition pixel,
    # linear in between (< 0.2 % error)
    sens_coarse = _upsample_linear(receive_fields(draw.coils, y_f[:: 2 * f], x_f[:, :: 2 * f], z), 2)
    sens = _upsample_linear(sens_coarse, f)
    rss_field = np.sqrt((np.abs(sens) ** 2).sum(axis=0))
    fine = torch.from_numpy(np.concatenate([(obj * rss_field)[None], sens * obj[None]]).astype(np.complex64))
    _forward(fine, grid, geom, hybrid, out, s)
    out.maps[s] = sens_coarse[:, grid.crop_rows]
    out.labels[s] = lab[::f, ::f][grid.crop_rows]


def _forward(
    fine: torch.Tensor, grid: _SynthesisGrid, geom: Geometry, hybrid: torch.Tensor, out: _CleanVolume, s: int
) -> None:
    """``fine`` ``(1 + C, rows, f W)``: the image, then the coil images; their cropped k-space to ``out``."""
    hybrid.zero_()
    hybrid[:, grid.row0 : grid.row0 + grid.num_rows] = fft1c(fine, dim=-1)[..., grid.k_cols]
    k = fft1c(hybrid, dim=-2)[:, grid.k_rows] / grid.f  # (1 + C, H, W)
    left, right = geom.padding
    k[..., :left] = 0
    k[..., right:] = 0
    out.kspace[s] = k[1:].numpy()
    out.image[s] = readout_cropped_coil_images(k[0]).numpy()


@dataclass
class _SynthesisGrid:
    """The fine synthesis grid ``(f H, f W)`` and how it maps onto the acquisition.

    Fine row j sits at y = (j - f H / 2) * fine_px, so coarse row i of the oversampled acquisition
    grid is fine row f i (likewise for columns). Only the rows the object reaches (the central
    half of the readout plus the taper) are synthesised: rows ``row0 .. row0 + num_rows``.
    """

    f: int
    fine_px: float
    row0: int
    num_rows: int
    y: np.ndarray  # (num_rows, 1) mm
    x: np.ndarray  # (1, f W) mm
    taper: np.ndarray  # (num_rows, 1): the coil array's superior-inferior coverage
    crop_rows: slice  # readout-cropped rows among the coarse active rows
    k_rows: slice  # central H x W of the fine k-space
    k_cols: slice

    @classmethod
    def for_geometry(cls, geom: Geometry, f: int) -> _SynthesisGrid:
        H, W = geom.kspace_shape
        h2 = H // 2
        fine_px = geom.pixel_mm / f
        reach = H // 4 + H // 16  # coarse rows either side of the centre
        row0, num_rows = f * (H // 2 - reach), 2 * f * reach
        y_f = ((np.arange(row0, row0 + num_rows) - f * H // 2) * fine_px).astype(np.float32)[:, None]
        x_f = ((np.arange(f * W) - f * W // 2) * fine_px).astype(np.float32)[None, :]
        y_crop = h2 // 2 * geom.pixel_mm  # half-extent of the readout-cropped field of view
        taper_len = H // 16 * geom.pixel_mm
        taper = np.cos(0.5 * np.pi * np.clip((np.abs(y_f) - y_crop) / taper_len, 0.0, 1.0)) ** 2
        return cls(
            f=f,
            fine_px=fine_px,
            row0=row0,
            num_rows=num_rows,
            y=y_f,
            x=x_f,
            taper=taper,
            crop_rows=slice(reach - H // 4, reach - H // 4 + h2),
            k_rows=slice((f - 1) * H // 2, (f - 1) * H // 2 + H),
            k_cols=slice((f - 1) * W // 2, (f - 1) * W // 2 + W),
        )


@dataclass
class _CleanVolume:
    """The noise-free arrays, filled slice by slice."""

    kspace: np.ndarray  # (S, C, H, W)
    image: np.ndarray  # (S, H/2, W)
    maps: np.ndarray  # (S, C, H/2, W)
    labels: np.ndarray  # (S, H/2, W)

    @classmethod
    def empty(cls, geom: Geometry, num_slices: int) -> _CleanVolume:
        H, W = geom.kspace_shape
        return cls(
            kspace=np.zeros((num_slices, geom.num_coils, H, W), np.complex64),
            image=np.zeros((num_slices, H // 2, W), np.complex64),
            maps=np.zeros((num_slices, geom.num_coils, H // 2, W), np.complex64),
            labels=np.zeros((num_slices, H // 2, W), np.uint8),
        )


def _simulate_slice(
    out: _CleanVolume,
    s: int,
    z: float,
    draw: _VolumeDraw,
    grid: _SynthesisGrid,
    geom: Geometry,
    acquisition: str,
    rng: np.random.Generator,
    hybrid: torch.Tensor,
) -> None:
    """Render slice ``s`` at ``z`` mm, apply coils and the forward model, store it in ``out``."""
    f, y_f, x_f = grid.f, grid.y, grid.x
    signal, lab = render_slice(draw.knee, z, y_f, x_f, grid.fine_px, acquisition, rng, texture_factor=f)
    obj = (draw.scale * signal * grid.taper * (1.0 + draw.bias(y_f, x_f, z))) * np.exp(
        1j * (draw.phase_offset + draw.phase(y_f, x_f, z))
    )
    # the maps vary on scales >= 40 mm: exact on the acquisition grid, linear in between
    sens_coarse = coil_sensitivities(draw.coils, y_f[::f], x_f[:, ::f], z)  # (C, num_rows / f, W)
    sens = _upsample_linear(sens_coarse, f)  # (C, num_rows, f W)
    fine = torch.from_numpy(np.concatenate([obj[None], sens * obj[None]]).astype(np.complex64))
    # fft2c on the fine grid, cropped to the central (H, W) -- done separably, since the
    # rows the object does not reach are zero; 1/f keeps intensities independent of f.
    hybrid.zero_()
    hybrid[:, grid.row0 : grid.row0 + grid.num_rows] = fft1c(fine, dim=-1)[..., grid.k_cols]
    k = fft1c(hybrid, dim=-2)[:, grid.k_rows] / f  # (1 + C, H, W)
    left, right = geom.padding
    k[..., :left] = 0
    k[..., right:] = 0
    out.kspace[s] = k[1:].numpy()
    out.image[s] = readout_cropped_coil_images(k[0]).numpy()
    out.maps[s] = sens_coarse[:, grid.crop_rows]
    out.labels[s] = lab[::f, ::f][grid.crop_rows]


def _add_noise(
    clean: _CleanVolume, geom: Geometry, snr: float, coil_correlation: float, seed: np.random.SeedSequence
) -> tuple[np.ndarray, float]:
    """Noisy k-space at the given SNR (module docstring) and the per-sample noise std."""
    tissue = clean.labels != Tissue.BACKGROUND
    image_noise = float(np.abs(clean.image)[tissue].mean()) / snr
    noise_std = image_noise * float(np.sqrt(geom.kspace_shape[1] / geom.num_sampled_columns))
    noise = correlated_noise(np.random.default_rng(seed), clean.kspace.shape, noise_std, coil_correlation)
    left, right = geom.padding
    noise[..., :left] = 0
    noise[..., right:] = 0
    return clean.kspace + noise, noise_std


def write_volume(path: str | os.PathLike, vol: SimulatedVolume) -> None:
    """Write a simulated volume as a fastMRI multicoil ``.h5`` file (atomically).

    Writes ``kspace``, ``reconstruction_rss`` (RSS of the noisy coil images, readout-cropped and
    centre-cropped to ``recon_size``), ``ismrmrd_header``, the attrs ``acquisition``, ``max``
    (of ``reconstruction_rss``), ``norm`` (its L2 norm) and ``patient_id``, and the noise-free
    magnitude on the same grid as :data:`~recon_lib.data.fastmri_io.NOISE_FREE_KEY` (the truth the
    evaluation scores against beside the SENSE reference); simulator 2 also the tissue labels on that
    grid (:data:`~recon_lib.data.fastmri_io.TISSUE_LABELS_KEY`) and the attribute ``simulator_version``.
    """
    if not isinstance(vol, SimulatedVolume):
        raise TypeError(f"vol must be a SimulatedVolume, got {type(vol).__name__}")
    rh, rw = vol.geometry.recon_size
    noise_free = center_crop(torch.from_numpy(np.abs(vol.image)), (rh, rw)).numpy()
    labels = None
    if vol.simulator >= 2:
        labels = center_crop(torch.from_numpy(vol.tissue_labels), (rh, rw)).numpy()
    write_multicoil_volume(
        path, vol.kspace, vol.reconstruction_rss, vol.header_xml, vol.attrs, noise_free=noise_free, tissue_labels=labels
    )
