"""Coil-wise k-space data consistency: fixed points, full-mask projection, soft weight, entry checks."""

import pytest
import torch
from conftest import random_complex

from recon_lib.physics.coils import normalize_maps, sens_expand, sens_reduce
from recon_lib.physics.data_consistency import DataConsistency, PreparedSense
from recon_lib.physics.masks import mask_to_tensor, sample_mask


def _problem(B=1, C=15, H=160, W=184, seed=0, acceleration=4):
    """Data generated from an image ``x_true`` with normalised maps (sum |S|^2 = 1)."""
    maps = normalize_maps(random_complex(B, C, H, W, seed=seed))
    x_true = random_complex(B, H, W, seed=seed + 1)
    mask = mask_to_tensor(sample_mask(W, 0.08, acceleration, seed=seed))  # (1, 1, 1, W)
    k0 = sens_expand(x_true, maps, mask)  # (B, C, H, W), masked
    return x_true, k0, maps, mask


def test_hard_dc_with_full_mask_returns_the_sense_image_of_the_data():
    _, k0, maps, _ = _problem(seed=3)
    full = torch.ones(1, 1, 1, k0.shape[-1])
    dc = DataConsistency("hard")
    for seed in (10, 11):  # whatever the input image
        x = random_complex(*k0.shape[:1], *k0.shape[2:], seed=seed) * 7.0
        out = dc(x, k0, maps, full)
        assert torch.allclose(out, sens_reduce(k0, maps), atol=1e-5)


def test_data_generated_from_an_image_is_a_fixed_point_of_hard_dc():
    x_true, k0, maps, mask = _problem(B=2, seed=4)
    out = DataConsistency("hard")(x_true, k0, maps, mask)
    assert torch.allclose(out, x_true, atol=1e-5)
    # ... and any other image is moved: DC is a projection, not the identity.
    x_other = random_complex(*x_true.shape, seed=9)
    moved = DataConsistency("hard")(x_other, k0, maps, mask)
    assert (moved - x_other).abs().max() > 0.1


def test_fixed_point_holds_on_the_support_of_the_maps():
    # Realistic maps vanish outside the object: there sum |S|^2 = 0 and DC returns 0, inside it is exact.
    B, C, H, W = 1, 15, 160, 184
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    support = (yy / 0.8) ** 2 + (xx / 0.7) ** 2 <= 1  # (H, W) ellipse
    maps = normalize_maps(random_complex(B, C, H, W, seed=21) * support)
    x_true = random_complex(B, H, W, seed=22)
    mask = mask_to_tensor(sample_mask(W, 0.04, 8, seed=23))  # (1, 1, 1, W)
    k0 = sens_expand(x_true, maps, mask)
    out = DataConsistency("hard")(x_true, k0, maps, mask)
    assert torch.allclose(out[:, support], x_true[:, support], atol=1e-5)
    assert float(out[:, ~support].abs().max()) == 0.0
    assert float(x_true[:, ~support].abs().max()) > 1.0  # so the support restriction is a real one


def test_dc_config_rebuilds_the_layer():
    dc = DataConsistency("soft", init_weight=0.25)
    rebuilt = DataConsistency(**dc.config)
    assert rebuilt.config == dc.config == {"mode": "soft", "init_weight": 0.25}
    assert float(rebuilt.weight.detach()) == pytest.approx(0.25, abs=1e-6)


def test_hard_dc_is_a_unit_gradient_step_on_the_data_term():
    # With sum |S|^2 = 1, S^H S = I, so the k-space fill equals x - E^H (E x - k0) (E = M F S):
    # one gradient step of step size 1 on 0.5 ||E x - k0||^2 (Sigma-net's gradient-descent DC).
    x_true, k0, maps, mask = _problem(C=8, H=64, W=48, seed=5)
    x = random_complex(*x_true.shape, seed=12)
    out = DataConsistency("hard")(x, k0, maps, mask)
    step = x - sens_reduce(sens_expand(x, maps, mask) - k0, maps, mask)
    assert torch.allclose(out, step, atol=1e-5)
    assert (out - x).abs().max() > 0.1


def test_soft_dc_weight_is_in_unit_interval_interpolates_and_receives_gradients():
    x_true, k0, maps, mask = _problem(C=4, H=40, W=36, seed=6)
    dc = DataConsistency("soft", init_weight=0.1)
    assert 0.0 <= float(dc.weight.detach()) <= 1.0
    assert float(dc.weight.detach()) == pytest.approx(0.1, abs=1e-6)
    with torch.no_grad():
        dc.weight_logit.fill_(50.0)  # a -> 1: the data are ignored
    assert 0.0 <= float(dc.weight.detach()) <= 1.0
    x = random_complex(*x_true.shape, seed=13)
    assert torch.allclose(dc(x, k0, maps, mask), sens_reduce(sens_expand(x, maps), maps), atol=1e-5)
    with torch.no_grad():
        dc.weight_logit.fill_(-50.0)  # a -> 0: hard DC
    assert torch.allclose(dc(x, k0, maps, mask), DataConsistency("hard")(x, k0, maps, mask), atol=1e-5)
    with torch.no_grad():
        dc.weight_logit.fill_(0.3)
    loss = (dc(x, k0, maps, mask) - x_true).abs().pow(2).sum()
    loss.backward()
    assert dc.weight_logit.grad is not None and float(dc.weight_logit.grad.abs()) > 0
    assert list(DataConsistency("hard").parameters()) == []
    assert float(DataConsistency("hard").weight) == 0.0


def test_dc_bad_inputs_name_the_argument():
    x_true, k0, maps, mask = _problem(C=4, H=16, W=12, seed=7)
    dc = DataConsistency()
    with pytest.raises(TypeError, match="x must be a complex"):
        dc(x_true.abs(), k0, maps, mask)
    with pytest.raises(TypeError, match="k0 must be a complex"):
        dc(x_true, k0.abs(), maps, mask)
    with pytest.raises(TypeError, match="mask must be a real"):
        dc(x_true, k0, maps, mask.to(torch.complex64))
    with pytest.raises(ValueError, match="maps of shape .* must match k0"):
        dc(x_true, k0, maps[:, :3], mask)
    with pytest.raises(ValueError, match="mask of shape"):
        dc(x_true, k0, maps, torch.ones(1, 1, 1, 13))
    with pytest.raises(ValueError, match="x of shape"):
        dc(x_true[:, :-1], k0, maps, mask)
    with pytest.raises(ValueError, match="mode must be"):
        DataConsistency("medium")
    with pytest.raises(ValueError, match="init_weight"):
        DataConsistency("soft", init_weight=1.0)


def _k_space_dc(x, k0, maps, mask, keep=0.0):
    """The definition, step by step in centred k-space (the oracle of the prepared fast path)."""
    k = sens_expand(x, maps)
    m = mask.to(k.real.dtype)
    return sens_reduce((1 - m) * k + m * (keep * k + (1 - keep) * k0), maps)


@pytest.mark.parametrize(
    "shape,mask_kind",
    [((2, 15, 160, 184), "lines"), ((1, 4, 37, 45), "lines"), ((1, 6, 40, 36), "2-d"), ((1, 3, 38, 45), "lines")],
)
@pytest.mark.parametrize("keep", [0.0, 0.3])
def test_prepared_dc_equals_the_k_space_definition(shape, mask_kind, keep):
    # The hybrid space (line masks), the folded centring (even sizes) and the centred transforms
    # (odd sizes, mixed parity) are exact rewritings of the DC of the definition.
    B, C, H, W = shape
    maps = random_complex(*shape, seed=31)
    x, k0 = random_complex(B, H, W, seed=32), random_complex(*shape, seed=33)
    if mask_kind == "lines":
        mask = mask_to_tensor(sample_mask(W, 0.08, 4, seed=34))
    else:
        mask = (torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(35)) < 0.4).float()
    system = PreparedSense(k0, maps, mask)
    assert system.dims == ((-1,) if mask_kind == "lines" else (-2, -1))
    assert torch.allclose(system.consistent(x, keep=keep), _k_space_dc(x, k0, maps, mask, keep), atol=2e-5)
    assert torch.allclose(system.adjoint_data(), sens_reduce(k0, maps, mask), atol=2e-5)
    # the data outside the mask never enters, as in the definition (k0 may hold anything there)
    assert torch.allclose(
        PreparedSense(k0 * mask, maps, mask).consistent(x, keep=keep), system.consistent(x, keep=keep), atol=2e-5
    )


def test_a_mask_that_is_not_zero_one_is_named():
    _, k0, maps, mask = _problem(C=4, H=16, W=16)
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        PreparedSense(k0, maps, torch.full((1, 1, 1, 16), 0.5))
