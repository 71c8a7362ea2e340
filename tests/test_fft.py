"""Centred orthonormal FFT: round trip, Parseval, agreement with numpy."""

import numpy as np
import pytest
import torch
from conftest import random_complex

from recon_lib import fft2c, ifft2c
from recon_lib.physics.fft import fft1c, ifft1c


def numpy_fft2c(x: np.ndarray) -> np.ndarray:
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


# even sizes take the checkerboard path (both signs of (-1)^(H/2 + W/2)), odd sizes the shifts
@pytest.mark.parametrize("shape", [(1, 160, 160), (2, 15, 37, 45), (3, 64, 33), (320, 184), (2, 6, 8), (1, 30, 184)])
def test_matches_numpy_centred_orthonormal_fft(shape):
    x = random_complex(*shape, seed=1, dtype=torch.complex128)
    ref = numpy_fft2c(x.numpy())
    np.testing.assert_allclose(fft2c(x).numpy(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        ifft2c(x).numpy(),
        np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x.numpy(), axes=(-2, -1)), norm="ortho"), axes=(-2, -1)),
        atol=1e-10,
    )


@pytest.mark.parametrize("shape", [(2, 15, 160, 184), (1, 37, 45)])
def test_round_trip_and_parseval(shape):
    x = random_complex(*shape, seed=2)
    k = fft2c(x)
    assert torch.allclose(ifft2c(k), x, atol=1e-5)
    assert torch.allclose(fft2c(ifft2c(x)), x, atol=1e-5)
    assert torch.linalg.vector_norm(k).item() == pytest.approx(torch.linalg.vector_norm(x).item(), rel=1e-5)


def test_dc_is_at_the_centre():
    x = torch.ones(1, 6, 7, dtype=torch.complex64)
    k = fft2c(x)
    assert k[0, 3, 3].abs().item() == pytest.approx(np.sqrt(42), rel=1e-6)
    assert k.abs().sum().item() == pytest.approx(np.sqrt(42), rel=1e-5)


def test_1d_transforms_invert_and_match_2d():
    x = random_complex(2, 15, 32, 20, seed=3)
    assert torch.allclose(ifft1c(fft1c(x, dim=-2), dim=-2), x, atol=1e-5)
    assert torch.allclose(fft1c(fft1c(x, dim=-2), dim=-1), fft2c(x), atol=1e-4)


@pytest.mark.parametrize("fn", [fft2c, ifft2c])
def test_rejects_real_input_and_low_rank(fn):
    with pytest.raises(TypeError, match="complex"):
        fn(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn(np.zeros((4, 4), dtype=np.complex64))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fn(torch.zeros(4, dtype=torch.complex64))


def test_a_size_first_seen_in_inference_mode_still_trains():
    """The cached modulation of a size first transformed under inference_mode (the explorer) must not
    be an inference tensor: a later training step on that size would fail to save it for backward."""
    with torch.inference_mode():
        fft2c(torch.ones(1, 2, 38, 42, dtype=torch.complex64))  # a size no other test uses
    x = torch.randn(1, 2, 38, 42, dtype=torch.complex64, requires_grad=True)
    ifft2c(fft2c(x)).abs().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad.abs()).all()
