"""SSIM: agreement with scikit-image (fastMRI settings), masks, gradients and entry checks."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from recon_lib.metrics.ssim import SSIMLoss, crop_mask_to_ssim_map, ssim

SK = dict(win_size=7, use_sample_covariance=True, gaussian_weights=False, K1=0.01, K2=0.03)


def phantom(n: int = 160, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """Smooth knee-like phantom: ellipses with a soft background bump, optional Gaussian noise."""
    yy, xx = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    img = 0.2 * np.exp(-(xx**2 + yy**2) * 2.0)
    img += 0.8 * ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1)
    img += 0.4 * (((xx - 0.2) / 0.25) ** 2 + ((yy + 0.1) / 0.4) ** 2 < 1)
    img += 0.1 * np.sin(12 * xx) * np.cos(9 * yy) * ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1)
    if noise:
        img = img + noise * np.random.default_rng(seed).standard_normal(img.shape)
    return img


def test_matches_skimage_with_per_sample_data_range():
    gts = [phantom(), 3.0 * phantom(), 0.01 * phantom()]
    preds = [
        g + s * g.max() * np.random.default_rng(i).standard_normal(g.shape)
        for i, (g, s) in enumerate(zip(gts, (0.02, 0.05, 0.1), strict=True))
    ]
    ranges = [float(g.max()) for g in gts]
    ref = [structural_similarity(g, p, data_range=r, **SK) for g, p, r in zip(gts, preds, ranges, strict=True)]
    for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-10)):
        G = torch.tensor(np.stack(gts), dtype=dtype)
        P = torch.tensor(np.stack(preds), dtype=dtype)
        got = ssim(P, G, torch.tensor(ranges))
        assert got.shape == (3,)
        np.testing.assert_allclose(got.double().numpy(), ref, atol=tol)
    # The three pairs have clearly different SSIM, so a shared data range would have failed.
    assert max(ref) - min(ref) > 0.05


def test_float_data_range_and_4d_input_and_map():
    g = torch.tensor(phantom(), dtype=torch.float64)[None]
    p = torch.tensor(phantom(noise=0.05), dtype=torch.float64)[None]
    v3, m3 = ssim(p, g, 1.6, return_map=True)
    v4, m4 = ssim(p[:, None], g[:, None], 1.6, return_map=True)
    assert m3.shape == (1, 154, 154) and m4.shape == (1, 1, 154, 154)
    assert torch.equal(v3, v4)
    _, sk_map = structural_similarity(g[0].numpy(), p[0].numpy(), data_range=1.6, full=True, **SK)
    np.testing.assert_allclose(m3[0].numpy(), sk_map[3:-3, 3:-3], atol=1e-10)
    assert ssim(p, g, 1.6, reduction="mean").ndim == 0


def test_masked_ssim_averages_the_map_over_cropped_foreground():
    g = phantom()
    p = phantom(noise=0.05)
    yy, xx = np.mgrid[-1:1:160j, -1:1:160j]
    fg = (xx / 0.75) ** 2 + (yy / 0.9) ** 2 < 1
    _, sk_map = structural_similarity(g, p, data_range=g.max(), full=True, **SK)
    expected = sk_map[3:-3, 3:-3][fg[3:-3, 3:-3]].mean()
    got = ssim(torch.tensor(p)[None], torch.tensor(g)[None], float(g.max()), mask=torch.tensor(fg)[None])
    assert abs(float(got) - expected) < 1e-10
    # A mask of ones is the same as no mask.
    ones = torch.ones(1, 160, 160)
    assert torch.allclose(
        ssim(torch.tensor(p)[None], torch.tensor(g)[None], 2.0, mask=ones),
        ssim(torch.tensor(p)[None], torch.tensor(g)[None], 2.0),
    )


def test_crop_mask_to_ssim_map():
    m = torch.zeros(2, 20, 30)
    m[:, 3, 3] = 1
    c = crop_mask_to_ssim_map(m)
    assert c.shape == (2, 14, 24) and c[0, 0, 0] == 1 and c.sum() == 2


def test_identical_images_give_one():
    g = torch.tensor(phantom(), dtype=torch.float32)[None]
    assert torch.allclose(ssim(g, g, 1.0), torch.ones(1), atol=1e-6)
    assert float(SSIMLoss()(g, g, torch.tensor([1.0]))) == pytest.approx(0.0, abs=1e-6)


def test_ssim_loss_is_one_minus_batch_mean():
    g = torch.tensor(np.stack([phantom(64), phantom(64)]), dtype=torch.float32)
    p = torch.tensor(np.stack([phantom(64, 1, 0.05), phantom(64, 2, 0.1)]), dtype=torch.float32)
    dr = g.amax(dim=(1, 2))
    assert torch.allclose(SSIMLoss()(p, g, dr), 1 - ssim(p, g, dr).mean())


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 9, 10, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 9, 10, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(2, 9, 10, dtype=torch.float64)
    mask[:, 2:8, 3:9] = 1
    dr = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b, dr), (x, y), fast_mode=True)
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b, dr, mask=mask), (x, y), fast_mode=True)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 17), data_range=1.0), ValueError, "must match"),
        (dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16), data_range=-1.0), ValueError, "positive"),
        (dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16), data_range=torch.ones(3)), ValueError, "B = 2"),
        (dict(x=torch.rand(2, 5, 16), y=torch.rand(2, 5, 16), data_range=1.0), ValueError, "window"),
        (dict(x=torch.rand(2, 3, 16, 16), y=torch.rand(2, 3, 16, 16), data_range=1.0), ValueError, "B, 1, H, W"),
        (
            dict(x=torch.rand(2, 16, 16, dtype=torch.complex64), y=torch.rand(2, 16, 16), data_range=1.0),
            TypeError,
            "real",
        ),
        (
            dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16), data_range=1.0, mask=torch.zeros(2, 16, 16)),
            ValueError,
            "no pixel",
        ),
        (
            dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16), data_range=1.0, mask=torch.ones(3, 16, 16)),
            ValueError,
            "broadcast",
        ),
        (
            dict(x=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16), data_range=1.0, reduction="sum"),
            ValueError,
            "reduction",
        ),
    ],
)
def test_entry_checks(kwargs, error, match):
    with pytest.raises(error, match=match):
        ssim(**kwargs)
