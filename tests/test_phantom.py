"""The simulated knee phantom of simulator 1: fastMRI layout, FFT-convention consistency, realism numbers.

Every volume here is simulator 1's (``simulator=1``: normalised maps, thin slices), the default until
the final retrain; simulator 2's properties are tested in ``tests/test_simulator2.py``.

Realism thresholds (measured values at the time of writing in brackets):
* fat / muscle median magnitude: PD > 1.5 (~3.3), PDFS < 0.7 (~0.35);
* measured SNR within +-20 % of the configured SNR (within ~3 %);
* fine texture: high-pass (outside half the Nyquist radius) energy fraction of the noise-free PD
  magnitude inside eroded marrow and muscle > 0.006 (marrow ~0.010, muscle ~0.016 - 0.019, i.e.
  10 - 14 % RMS fine-scale modulation, 3 - 4x the noise at SNR 30), and at least 5x that of a texture-free,
  label-wise constant image of the same slice (~0.0002 - 0.0024);
* inverse crime: simulating directly on the acquisition grid changes the clean k-space by > 4 %
  (~8 %), while 2x and 3x finer synthesis agree to < 3 % (~1.8 %);
* neighbour-coil noise correlation within +-0.05 of the requested value.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from scipy import ndimage

from recon_lib.data.fastmri_io import parse_ismrmrd_header, read_volume_info
from recon_lib.data.phantom.simulate import (
    GEOMETRIES,
    PDFS_SNR_FACTOR,
    Geometry,
    Tissue,
    readout_cropped_coil_images,
    simulate_volume,
    write_volume,
)
from recon_lib.physics.coils import sens_reduce
from recon_lib.physics.fft import fft1c, ifft1c, ifft2c

SLICES = 2


@pytest.fixture(scope="module")
def pd_volume():
    return simulate_volume(11, "CORPD_FBK", num_slices=SLICES, simulator=1)


@pytest.fixture(scope="module")
def pdfs_volume():
    return simulate_volume(12, "CORPDFS_FBK", num_slices=SLICES, simulator=1)


def reduced_kspace(kspace: np.ndarray) -> torch.Tensor:
    """Remove readout oversampling the fastMRI way: ifft1c along H, keep the central half, fft1c back."""
    k = torch.from_numpy(kspace)
    H = k.shape[-2]
    hybrid = ifft1c(k, dim=-2)[..., H // 4 : H // 4 + H // 2, :]
    return fft1c(hybrid, dim=-2)


def combined(kspace: np.ndarray, maps: np.ndarray) -> np.ndarray:
    return sens_reduce(reduced_kspace(kspace), torch.from_numpy(maps)).numpy()


def eroded(labels: np.ndarray, tissue: Tissue, iterations: int = 2) -> np.ndarray:
    return np.stack([ndimage.binary_erosion(lab == tissue, iterations=iterations) for lab in labels])


# ---- geometry and file layout ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["teaching", "fastmri"])
def test_geometry_padding_agrees_with_header(name):
    geom = GEOMETRIES[name]
    enc = parse_ismrmrd_header(geom.header_xml(8))
    H, W = geom.kspace_shape
    assert enc.encoded_size == (H, W, 1)
    assert enc.recon_size[:2] == geom.recon_size
    assert (enc.padding_left, enc.padding_right) == geom.padding
    assert geom.padding[0] <= W // 2 < geom.padding[1]  # the DC column is sampled
    assert geom.num_coils == 15


def test_geometry_values_match_the_brief():
    assert GEOMETRIES["teaching"].kspace_shape == (320, 184) and GEOMETRIES["teaching"].recon_size == (160, 160)
    assert GEOMETRIES["teaching"].padding == (4, 180)
    assert GEOMETRIES["fastmri"].kspace_shape == (640, 368) and GEOMETRIES["fastmri"].recon_size == (320, 320)
    assert GEOMETRIES["fastmri"].padding == (16, 352)
    with pytest.raises(ValueError, match="padding"):
        Geometry("bad", (320, 184), (160, 160), 15, (100, 180), 0.875)  # DC column not sampled


def test_written_file_has_fastmri_layout(pd_volume, tmp_path):
    path = tmp_path / "file1000000.h5"
    write_volume(path, pd_volume)
    info = read_volume_info(path)
    geom = GEOMETRIES["teaching"]
    assert info.num_slices == SLICES and info.num_coils == 15 and info.kspace_shape == geom.kspace_shape
    assert (info.encoding.padding_left, info.encoding.padding_right) == geom.padding
    with h5py.File(path, "r") as f:
        assert set(f.keys()) == {"kspace", "reconstruction_rss", "ismrmrd_header", "image_noise_free"}
        clean = f["image_noise_free"][()]
        assert f["kspace"].dtype == np.complex64 and f["kspace"].shape == (SLICES, 15, 320, 184)
        rss = f["reconstruction_rss"][()]
        assert f["reconstruction_rss"].dtype == np.float32 and rss.shape == (SLICES, 160, 160)
        kspace = f["kspace"][()]
        attrs = dict(f.attrs)
    left, right = geom.padding
    assert np.all(kspace[..., :left] == 0) and np.all(kspace[..., right:] == 0)
    assert np.all(np.abs(kspace[..., left:right]) > 0)  # noise everywhere in the sampled band
    assert attrs["acquisition"] == "CORPD_FBK"
    assert attrs["max"] == pytest.approx(float(rss.max()), rel=1e-6)
    assert attrs["norm"] == pytest.approx(float(np.linalg.norm(rss)), rel=1e-5)
    assert isinstance(attrs["patient_id"], str) and len(attrs["patient_id"]) == 64
    # reconstruction_rss is the RSS of the noisy coil images, readout-cropped and centre-cropped
    coil_images = ifft2c(torch.from_numpy(kspace))[..., 80:240, :]
    expected = coil_images.abs().pow(2).sum(1).sqrt()[..., 12:172].numpy()
    np.testing.assert_allclose(rss, expected, rtol=1e-4, atol=1e-4 * rss.max())
    # the noise-free magnitude: the simulator's object on the same grid as the reference
    np.testing.assert_array_equal(clean, np.abs(pd_volume.image)[..., 12:172])  # (S, 160, 184) -> centre 160 columns


def test_intensity_scale_like_fastmri(pd_volume, pdfs_volume):
    for vol in (pd_volume, pdfs_volume):
        assert 1e-4 <= vol.attrs["max"] <= 1e-3


def test_arrays_shapes_dtypes_and_normalised_maps(pd_volume):
    vol = pd_volume
    assert vol.kspace.dtype == vol.kspace_clean.dtype == np.complex64
    assert vol.image.shape == (SLICES, 160, 184) and vol.image.dtype == np.complex64
    assert vol.maps.shape == (SLICES, 15, 160, 184) and vol.maps.dtype == np.complex64
    assert vol.tissue_labels.shape == (SLICES, 160, 184)
    np.testing.assert_allclose((np.abs(vol.maps) ** 2).sum(1), 1.0, atol=1e-5)
    assert set(np.unique(vol.tissue_labels)) <= {int(t) for t in Tissue}
    assert np.all(vol.kspace_clean[..., :4] == 0) and np.all(vol.kspace_clean[..., 180:] == 0)
    # the image carries a smooth background phase, not a real-valued object
    tissue = vol.tissue_labels != Tissue.BACKGROUND
    assert np.ptp(np.angle(vol.image[tissue])) > 1.0


def test_every_tissue_is_present(pd_volume):
    present = set(np.unique(pd_volume.tissue_labels))
    assert present >= {int(t) for t in Tissue}


# ---- consistency with recon_lib's FFT and coil conventions ---------------------------------------


def test_sense_combination_with_true_maps_recovers_the_object(pd_volume):
    vol = pd_volume
    x = combined(vol.kspace_clean, vol.maps)
    err = np.linalg.norm(x - vol.image) / np.linalg.norm(vol.image)
    assert err < 0.02
    # the same, via the library's helper (ifft1c along H, crop, ifft1c along W)
    coil_images = readout_cropped_coil_images(torch.from_numpy(vol.kspace_clean)).numpy()
    x2 = (np.conj(vol.maps) * coil_images).sum(1)
    assert np.linalg.norm(x2 - vol.image) / np.linalg.norm(vol.image) < 0.02


def test_object_occupies_the_central_half_of_the_readout(pd_volume):
    images = ifft2c(torch.from_numpy(pd_volume.kspace_clean)).abs().pow(2).sum(1).numpy()  # (S, H, W)
    H = images.shape[1]
    inside = images[:, H // 4 : 3 * H // 4].sum()
    assert inside / images.sum() > 0.9  # ~0.94: the rest is the fade-out just beyond the crop
    # and the readout-cropped image fills its field of view top to bottom (a leg, not an island)
    rows = np.abs(pd_volume.image[0]).max(axis=1)
    assert rows[0] > 0.2 * rows.max() and rows[-1] > 0.2 * rows.max()


# ---- realism ---------------------------------------------------------------------------------


def fat_to_muscle(vol) -> float:
    mag = np.abs(vol.image)
    fat = np.median(mag[eroded(vol.tissue_labels, Tissue.FAT)])
    muscle = np.median(mag[eroded(vol.tissue_labels, Tissue.MUSCLE)])
    return float(fat / muscle)


def test_fat_is_bright_in_pd_and_suppressed_in_pdfs(pd_volume, pdfs_volume):
    assert fat_to_muscle(pd_volume) > 1.5
    assert fat_to_muscle(pdfs_volume) < 0.7
    # fatty marrow follows the fat; joint fluid is the brightest tissue of PDFS
    mag = np.abs(pdfs_volume.image)
    fluid = np.median(mag[pdfs_volume.tissue_labels == Tissue.FLUID])
    for tissue in (Tissue.MARROW, Tissue.MUSCLE, Tissue.CARTILAGE, Tissue.FAT):
        assert fluid > np.median(mag[eroded(pdfs_volume.tissue_labels, tissue, 1)])


@pytest.mark.parametrize("which", ["pd", "pdfs"])
def test_measured_snr_matches_configuration(which, pd_volume, pdfs_volume):
    vol = pd_volume if which == "pd" else pdfs_volume
    assert vol.snr == pytest.approx(30.0 * (PDFS_SNR_FACTOR if which == "pdfs" else 1.0))
    tissue = vol.tissue_labels != Tissue.BACKGROUND
    noise = combined(vol.kspace, vol.maps) - combined(vol.kspace_clean, vol.maps)
    sigma = np.sqrt(np.mean(np.abs(noise[tissue]) ** 2))
    measured = np.abs(vol.image[tissue]).mean() / sigma
    assert abs(measured / vol.snr - 1) < 0.20


def test_pdfs_is_noisier_than_pd(pd_volume, pdfs_volume):
    assert pdfs_volume.snr < pd_volume.snr


def high_frequency_fraction(image: np.ndarray, region: np.ndarray, cutoff: float = 0.5) -> float:
    """Energy of the part of ``image`` outside ``cutoff`` x Nyquist (radius) over its energy, in ``region``."""
    k = np.fft.fftshift(np.fft.fft2(image, axes=(-2, -1)), axes=(-2, -1))
    h, w = image.shape[-2:]
    ky = (np.arange(h) - h // 2) / (h / 2)
    kx = (np.arange(w) - w // 2) / (w / 2)
    high = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) > cutoff
    hp = np.fft.ifft2(np.fft.ifftshift(k * high, axes=(-2, -1)), axes=(-2, -1))
    return float((np.abs(hp[region]) ** 2).sum() / (np.abs(image[region]) ** 2).sum())


@pytest.mark.parametrize("tissue", [Tissue.MARROW, Tissue.MUSCLE])
def test_fine_texture_is_present(tissue, pd_volume):
    vol = pd_volume
    mag = np.abs(vol.image)
    region = eroded(vol.tissue_labels, tissue, 3)
    assert region.sum() > 500
    textured = high_frequency_fraction(mag, region)
    # control: the same anatomy without texture (each tissue at its median magnitude)
    flat = np.zeros_like(mag)
    for t in Tissue:
        sel = vol.tissue_labels == t
        if sel.any():
            flat[sel] = np.median(mag[sel])
    flat = ndimage.gaussian_filter(flat, (0, 0.7, 0.7))  # soften the label steps like the band limit does
    smooth = high_frequency_fraction(flat, region)
    assert textured > 0.006
    assert textured > 5 * smooth


def test_not_an_inverse_crime():
    fine = simulate_volume(21, "CORPD_FBK", num_slices=1, simulator=1)
    naive = simulate_volume(21, "CORPD_FBK", num_slices=1, synthesis_factor=1, simulator=1)
    finer = simulate_volume(21, "CORPD_FBK", num_slices=1, synthesis_factor=3, simulator=1)
    ref = np.linalg.norm(fine.kspace_clean)
    assert (naive.tissue_labels == fine.tissue_labels).mean() > 0.99  # the same anatomy, sampled differently
    # the data are not what a simulation on the reconstruction grid would give ...
    assert np.linalg.norm(naive.kspace_clean - fine.kspace_clean) / ref > 0.04
    # ... while finer synthesis grids converge to the same continuous object
    assert np.linalg.norm(finer.kspace_clean - fine.kspace_clean) / ref < 0.03
    # and the clean data are not the FFT of the reconstruction-grid image times the maps
    k_recon = torch.fft.fftshift(
        torch.fft.fft2(
            torch.fft.ifftshift(torch.from_numpy(fine.maps * fine.image[:, None]), dim=(-2, -1)), norm="ortho"
        ),
        dim=(-2, -1),
    )
    k_data = reduced_kspace(fine.kspace_clean)
    assert float((k_recon - k_data).abs().norm() / k_data.abs().norm()) > 1e-3


def test_anatomy_varies_between_volumes_and_smoothly_across_slices():
    a = simulate_volume(31, "CORPD_FBK", num_slices=3, simulator=1)
    b = simulate_volume(32, "CORPD_FBK", num_slices=3, simulator=1)

    def dice(x, y):
        return 2 * np.logical_and(x, y).sum() / (x.sum() + y.sum())

    bone = (Tissue.MARROW, Tissue.CORTICAL_BONE)
    ba = np.isin(a.tissue_labels, bone)
    bb = np.isin(b.tissue_labels, bone)
    neighbours = dice(ba[0], ba[1])
    between = dice(ba[1], bb[1])
    assert neighbours > 0.9
    assert between < neighbours - 0.03
    assert not np.array_equal(a.tissue_labels[0], a.tissue_labels[1])


# ---- determinism, noise model, argument checks -----------------------------------------------


def test_same_seed_gives_identical_arrays(pd_volume):
    again = simulate_volume(11, "CORPD_FBK", num_slices=SLICES, simulator=1)
    for name in ("kspace", "kspace_clean", "image", "maps", "tissue_labels", "reconstruction_rss"):
        assert np.array_equal(getattr(again, name), getattr(pd_volume, name)), name
    assert again.attrs == pd_volume.attrs and again.header_xml == pd_volume.header_xml
    other = simulate_volume(13, "CORPD_FBK", num_slices=SLICES, simulator=1)
    assert not np.array_equal(other.kspace, pd_volume.kspace)
    assert other.attrs["patient_id"] != pd_volume.attrs["patient_id"]


def neighbour_correlations(vol) -> np.ndarray:
    n = (vol.kspace - vol.kspace_clean)[..., 4:180]  # (S, C, H, W_sampled)
    n = np.moveaxis(n, 1, 0).reshape(n.shape[1], -1)  # (C, samples)
    cov = (n @ n.conj().T) / n.shape[1]
    d = np.sqrt(np.real(np.diag(cov)))
    corr = np.real(cov) / np.outer(d, d)
    C = corr.shape[0]
    return np.array([corr[c, (c + 1) % C] for c in range(C)]), d


@pytest.mark.parametrize("r", [0.0, 0.4])
def test_coil_noise_correlation(r, pd_volume):
    vol = (
        pd_volume if r == 0.0 else simulate_volume(11, "CORPD_FBK", num_slices=SLICES, coil_correlation=r, simulator=1)
    )
    corr, std = neighbour_correlations(vol)
    assert np.all(np.abs(corr - r) < 0.05)
    np.testing.assert_allclose(std, vol.noise_std, rtol=0.05)
    if r:  # the noise-free data do not depend on the noise model
        assert np.array_equal(vol.kspace_clean, pd_volume.kspace_clean)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"acquisition": "AXT2"}, "acquisition"),
        ({"geometry": "huge"}, "geometry"),
        ({"snr": 0.0}, "snr"),
        ({"coil_correlation": 1.0}, "coil_correlation"),
        ({"num_slices": 0}, "num_slices"),
        ({"seed": -1}, "seed"),
        ({"synthesis_factor": 0}, "synthesis_factor"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    args = {"seed": 1, "acquisition": "CORPD_FBK", "num_slices": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate_volume(**args)
