"""SN loss (1 - SSIM + lambda L1) and the LSGAN terms of SN-GAN."""

import pytest
import torch
import torch.nn as nn

from recon_lib.metrics.losses import (
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    masked_magnitude,
    sn_gan_generator_loss,
    sn_loss,
)
from recon_lib.metrics.ssim import ssim


def knee_like(batch: int = 2, n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Complex reference, a noisy complex reconstruction and an elliptic foreground mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    fg = ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1).float()
    mag = fg * (1.0 + 0.3 * torch.cos(8 * xx) * torch.sin(5 * yy)) + 0.02
    phase = torch.exp(1j * (0.5 * xx + 0.2 * yy))
    ref = torch.stack([(b + 1.0) * mag * phase for b in range(batch)]).to(torch.complex64)  # (B, H, W)
    noise = torch.complex(torch.randn(batch, n, n, generator=g), torch.randn(batch, n, n, generator=g))
    rec = ref + 0.05 * noise * ref.abs().amax(dim=(1, 2), keepdim=True)
    return rec, ref, fg.expand(batch, n, n).clone()


def test_sn_loss_of_identical_images_is_zero():
    _, ref, fg = knee_like()
    assert abs(float(sn_loss(ref, ref))) < 1e-6
    assert abs(float(sn_loss(ref.abs(), ref.abs(), mask=fg))) < 1e-6


def test_complex_input_equals_its_magnitude():
    rec, ref, fg = knee_like()
    a = sn_loss(rec, ref, mask=fg)
    b = sn_loss(rec.abs().unsqueeze(1), ref.abs(), mask=fg.unsqueeze(1))
    assert torch.allclose(a, b)


def test_lambda_weights_the_range_normalised_foreground_l1():
    rec, ref, fg = knee_like()
    lam = 0.37
    diff = sn_loss(rec, ref, mask=fg, lam=lam) - sn_loss(rec, ref, mask=fg, lam=0.0)
    err = (rec.abs() - ref.abs()).abs()
    dr = ref.abs().amax(dim=(1, 2))
    # Sigma-net's convention (the default): range-normalised errors summed over the foreground.
    sum_fg = (err * fg).sum(dim=(1, 2)) / dr
    assert torch.allclose(diff, lam * sum_fg.mean(), rtol=1e-4)
    # "mean" averages over the foreground pixels instead.
    diff_mean = sn_loss(rec, ref, mask=fg, lam=lam, l1_reduction="mean") - sn_loss(rec, ref, mask=fg, lam=0.0)
    assert torch.allclose(diff_mean, lam * (sum_fg / fg.sum(dim=(1, 2))).mean(), rtol=1e-4)
    # Without a mask the L1 term runs over every pixel.
    diff_all = sn_loss(rec, ref, lam=lam) - sn_loss(rec, ref, lam=0.0)
    assert torch.allclose(diff_all, lam * (err.sum(dim=(1, 2)) / dr).mean(), rtol=1e-4)
    diff_all_mean = sn_loss(rec, ref, lam=lam, l1_reduction="mean") - sn_loss(rec, ref, lam=0.0)
    assert torch.allclose(diff_all_mean, lam * (err.mean(dim=(1, 2)) / dr).mean(), rtol=1e-4)
    # The SSIM part is 1 - SSIM with the per-sample max as data range.
    s = ssim(rec.abs(), ref.abs(), dr, mask=fg).mean()
    assert torch.allclose(sn_loss(rec, ref, mask=fg, lam=0.0), 1 - s)


def test_sn_loss_is_intensity_scale_invariant():
    rec, ref, fg = knee_like()
    base = sn_loss(rec, ref, mask=fg)
    assert torch.allclose(sn_loss(1e-4 * rec, 1e-4 * ref, mask=fg), base, rtol=1e-4)
    assert torch.allclose(sn_loss(250 * rec, 250 * ref, mask=fg), base, rtol=1e-4)


def test_sn_loss_gradient_flows_to_the_reconstruction():
    rec, ref, fg = knee_like()
    rec = rec.clone().requires_grad_(True)
    sn_loss(rec, ref, mask=fg).backward()
    assert rec.grad is not None and torch.isfinite(rec.grad).all() and rec.grad.abs().sum() > 0


def test_lsgan_values_on_known_inputs():
    d_real = torch.tensor([1.0, 0.5])
    d_fake = torch.tensor([0.0, 1.0])
    # 0.5 * (mean((d_real - 1)^2) + mean(d_fake^2)) = 0.5 * (0.125 + 0.5)
    assert float(lsgan_discriminator_loss(d_real, d_fake)) == pytest.approx(0.3125)
    # mean((d_fake - 1)^2) = 0.5
    assert float(lsgan_generator_loss(d_fake)) == pytest.approx(0.5)
    # A perfect discriminator / a perfect generator reach zero.
    assert float(lsgan_discriminator_loss(torch.ones(3, 1, 4, 4), torch.zeros(3, 1, 4, 4))) == 0.0
    assert float(lsgan_generator_loss(torch.ones(3, 1, 4, 4))) == 0.0


def test_masked_magnitude_is_the_foreground_magnitude():
    rec, _, fg = knee_like()
    out = masked_magnitude(rec, fg)
    assert out.shape == (2, 1, 96, 96) and not out.is_complex()
    inside = fg.unsqueeze(1).bool()
    assert torch.equal(out[inside], rec.abs().unsqueeze(1)[inside])
    assert torch.all(out[~inside] == 0)
    # The mask changes the discriminator input (background is non-zero in rec) ...
    assert not torch.equal(out, masked_magnitude(rec, None))
    # ... and (B, 1, H, W) masks and real inputs are accepted too.
    assert torch.equal(masked_magnitude(rec.abs(), fg.unsqueeze(1)), out)


def test_sn_gan_generator_loss_combines_terms_and_ignores_background_for_the_adversary():
    rec, ref, fg = knee_like()
    rec = rec.clone().requires_grad_(True)
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, stride=2))
    d_fake = disc(masked_magnitude(rec, fg))
    total = sn_gan_generator_loss(rec, ref, d_fake, gamma=0.1)
    expected = 0.1 * sn_loss(rec, ref) + lsgan_generator_loss(d_fake)
    assert torch.allclose(total, expected)
    # The adversarial gradient reaches only foreground pixels of the reconstruction.
    (grad,) = torch.autograd.grad(lsgan_generator_loss(d_fake), rec)
    assert grad[fg == 0].abs().max() == 0 and grad[fg == 1].abs().max() > 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda r, f: sn_loss(r, f[:, :, :-1]), ValueError, "must match"),
        (lambda r, f: sn_loss(r, f, lam=-1.0), ValueError, "lam"),
        (lambda r, f: sn_loss(r, f, l1_reduction="median"), ValueError, "l1_reduction"),
        (lambda r, f: sn_loss(r, f, mask=torch.ones(3, 96, 96)), ValueError, "broadcast"),
        (lambda r, f: sn_loss(r.abs().unsqueeze(1).expand(2, 2, 96, 96), f), ValueError, "B, 1, H, W"),
        (lambda r, f: sn_loss(r.real.long(), f), TypeError, "floating"),
        (lambda r, f: sn_gan_generator_loss(r, f, torch.ones(2), gamma=-0.1), ValueError, "gamma"),
    ],
)
def test_entry_checks(call, error, match):
    rec, ref, _ = knee_like()
    with pytest.raises(error, match=match):
        call(rec, ref)
