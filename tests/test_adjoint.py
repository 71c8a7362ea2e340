"""One dot-product test, <A x, y> = <x, A^H y>, over every linear operator of the library.

Adding a linear operator to recon_lib means adding its (forward, adjoint) pair to OPERATORS.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from conftest import random_complex

from recon_lib.core.checks import adjointness_error
from recon_lib.core.tensors import channels_to_complex, complex_to_channels, pad_to_multiple, unpad
from recon_lib.physics.coils import apply_mask, sens_expand, sens_reduce
from recon_lib.physics.data_consistency import PreparedSense
from recon_lib.physics.fft import fft1c, fft2c, ifft1c, ifft2c
from recon_lib.physics.masks import mask_to_tensor, sample_mask

B, C, H, W = 2, 15, 160, 184  # the teaching geometry
ODD = (1, 4, 37, 45)  # odd sizes take the fftshift path of the centred FFTs

Op = Callable[[torch.Tensor], torch.Tensor]


def _maps(shape=(B, C, H, W)) -> torch.Tensor:
    return random_complex(*shape, seed=5)  # arbitrary (unnormalised) maps: adjointness holds anyway


def _mask(w: int = W) -> torch.Tensor:
    return mask_to_tensor(sample_mask(w, 0.08, 4, seed=1))


def _operators() -> dict[str, tuple[Op, Op, torch.Tensor, torch.Tensor]]:
    """name -> (A, A^H, x, y) with random x in A's domain and y in its range."""
    image = random_complex(B, H, W, seed=6)
    coil = random_complex(B, C, H, W, seed=7)
    odd_image = random_complex(*ODD[:1], *ODD[2:], seed=8)
    odd_coil = random_complex(*ODD, seed=9)
    maps, odd_maps, mask, odd_mask = _maps(), _maps(ODD), _mask(), _mask(ODD[-1])
    padded, pad = pad_to_multiple(torch.randn(B, 2, 37, 45), 4)
    prepared = PreparedSense(coil, maps, mask)  # line mask: the hybrid space, centring folded in
    odd_prepared = PreparedSense(odd_coil, odd_maps, odd_mask)  # odd sizes: the centred transforms
    mask_2d = (torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    prepared_2d = PreparedSense(coil, maps, mask_2d)  # a mask varying along H: both axes transformed
    return {
        "fft2c / ifft2c": (fft2c, ifft2c, coil, random_complex(B, C, H, W, seed=10)),
        "fft2c / ifft2c, odd sizes": (fft2c, ifft2c, odd_coil, random_complex(*ODD, seed=11)),
        "ifft2c / fft2c": (ifft2c, fft2c, coil, random_complex(B, C, H, W, seed=12)),
        "fft1c / ifft1c along H": (
            lambda v: fft1c(v, dim=-2),
            lambda v: ifft1c(v, dim=-2),
            coil,
            random_complex(B, C, H, W, seed=13),
        ),
        "fft1c / ifft1c along W, odd": (
            lambda v: fft1c(v, dim=-1),
            lambda v: ifft1c(v, dim=-1),
            odd_coil,
            random_complex(*ODD, seed=14),
        ),
        "apply_mask (self-adjoint)": (
            lambda v: apply_mask(v, mask),
            lambda v: apply_mask(v, mask),
            coil,
            random_complex(B, C, H, W, seed=15),
        ),
        "sens_expand / sens_reduce": (lambda v: sens_expand(v, maps), lambda v: sens_reduce(v, maps), image, coil),
        "sens_expand / sens_reduce, masked": (
            lambda v: sens_expand(v, maps, mask),
            lambda v: sens_reduce(v, maps, mask),
            image,
            coil,
        ),
        "sens_expand / sens_reduce, odd, masked": (
            lambda v: sens_expand(v, odd_maps, odd_mask),
            lambda v: sens_reduce(v, odd_maps, odd_mask),
            odd_image,
            odd_coil,
        ),
        "PreparedSense expand / reduce": (prepared.expand, prepared.reduce, image, coil),
        "PreparedSense expand / reduce, odd": (odd_prepared.expand, odd_prepared.reduce, odd_image, odd_coil),
        "PreparedSense expand / reduce, 2-D mask": (prepared_2d.expand, prepared_2d.reduce, image, coil),
        "complex_to_channels / channels_to_complex": (
            complex_to_channels,
            channels_to_complex,
            image,
            torch.randn(B, 2, H, W),
        ),
        "pad_to_multiple / unpad": (
            lambda v: pad_to_multiple(v, 4)[0],
            lambda v: unpad(v, pad),
            torch.randn(B, 2, 37, 45),
            torch.randn_like(padded),
        ),
    }


OPERATORS = _operators()


@pytest.mark.parametrize("name", list(OPERATORS))
def test_adjoint_pair_passes_the_dot_product_test(name):
    forward, adjoint, x, y = OPERATORS[name]
    assert adjointness_error(forward, adjoint, x, y) < 1e-5


@pytest.mark.parametrize("name", ["sens_expand / sens_reduce, masked", "fft2c / ifft2c"])
def test_the_dot_product_test_catches_a_wrong_adjoint(name):
    """A conjugate missing, or the forward operator in place of its adjoint, must fail the test."""
    forward, adjoint, x, y = OPERATORS[name]
    if name.startswith("sens"):
        maps, mask = _maps(), _mask()
        wrong = lambda v: (ifft2c(v * mask) * maps).sum(dim=1)  # noqa: E731  (S instead of S^H)
    else:
        wrong = fft2c  # the forward transform is not its own adjoint
    assert adjointness_error(forward, wrong, x, y) > 1e-2


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"forward\(x\) has shape"):
        adjointness_error(
            fft2c, ifft2c, torch.zeros(4, 4, dtype=torch.complex64), torch.zeros(4, 5, dtype=torch.complex64)
        )
