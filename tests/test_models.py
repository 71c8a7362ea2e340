"""Network building blocks: Down-Up block, SN, U-Net baseline and PatchGAN discriminator.

Properties checked: output shapes for odd and realistic sizes, gradients reaching every
parameter, the zero-cascade SN being the zero-filled SENSE image, weight sharing, scale
equivariance from the internal normalisation, configs that rebuild the model, entry checks.
"""

import json

import numpy as np
import pytest
import torch
from conftest import random_complex
from torch import nn

from recon_lib.models.checkpoint import build_model
from recon_lib.models.discriminator import PatchDiscriminator
from recon_lib.models.down_up import DownUpBlock
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.models.unet import UNet, UNetReconstructor
from recon_lib.physics.coils import normalize_maps, sens_expand, sens_reduce
from recon_lib.physics.masks import mask_to_tensor, sample_mask


def _batch(B=1, C=4, H=37, W=45, seed=0, scale=1.0, acceleration=4):
    """Masked k-space generated from a random image with normalised maps."""
    maps = normalize_maps(random_complex(B, C, H, W, seed=seed))
    x = random_complex(B, H, W, seed=seed + 1) * scale
    mask = mask_to_tensor(sample_mask(W, 0.08, acceleration, seed=seed)).expand(B, 1, 1, W)
    return sens_expand(x, maps, mask), maps, mask


def _assert_every_parameter_gets_a_gradient(model: nn.Module, loss: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    loss.backward()
    params = dict(model.named_parameters())
    assert params, "model has no parameters"
    for name, p in params.items():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.count_nonzero(p.grad) > 0, f"{name} got an all-zero gradient"


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().norm() / b.abs().norm())


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- Down-Up block ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 37, 45), (1, 160, 184), (1, 5, 7)])
def test_down_up_keeps_shape_and_dtype(shape):
    torch.manual_seed(0)
    block = DownUpBlock(features=4)
    out = block(random_complex(*shape, seed=1))
    assert out.shape == shape and out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()


def test_down_up_gradients_reach_every_parameter():
    torch.manual_seed(0)
    block = DownUpBlock(features=4)
    x = random_complex(2, 37, 45, seed=2)
    target = random_complex(2, 37, 45, seed=3)
    _assert_every_parameter_gets_a_gradient(block, (block(x) - target).abs().pow(2).mean())


@pytest.mark.parametrize("c", [1e-4, 1e3])
def test_down_up_is_scale_equivariant(c):
    torch.manual_seed(0)
    block = DownUpBlock(features=4)
    x = random_complex(1, 33, 28, seed=4)
    assert _relative_error(block(x * c), block(x) * c) < 1e-4
    # The residual is a genuine non-linear correction, not the identity.
    assert _relative_error(block(x), x) > 1e-3


def test_down_up_width_and_entry_checks():
    f = 4
    convs = [m for m in DownUpBlock(features=f).modules() if isinstance(m, nn.Conv2d)]
    assert max(m.out_channels for m in convs) == 8 * f  # the 1x1 expansion before PixelShuffle
    assert {m.out_channels for m in convs if m.stride == (2, 2)} == {2 * f, 4 * f}
    with pytest.raises(TypeError, match="x must be a complex"):
        DownUpBlock(features=f)(torch.randn(1, 8, 8))
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        DownUpBlock(features=f)(random_complex(1, 1, 8, 8))
    with pytest.raises(ValueError, match="features must be"):
        DownUpBlock(features=0)


# ---- Sensitivity network ------------------------------------------------------------------------
@pytest.mark.parametrize("B,C,H,W", [(2, 4, 37, 45), (1, 15, 160, 184)])
def test_sn_output_shape_and_dtype(B, C, H, W):
    torch.manual_seed(0)
    sn = SensitivityNetwork(num_cascades=1, features=4)
    out = sn(*_batch(B, C, H, W, seed=5))
    assert out.shape == (B, H, W) and out.dtype == torch.complex64


@pytest.mark.parametrize("dc_mode", ["hard", "soft"])
def test_sn_gradients_reach_every_parameter(dc_mode):
    torch.manual_seed(0)
    sn = SensitivityNetwork(num_cascades=2, features=4, dc_mode=dc_mode)
    kspace, maps, mask = _batch(2, 4, 37, 45, seed=6)
    target = random_complex(2, 37, 45, seed=7)
    _assert_every_parameter_gets_a_gradient(sn, (sn(kspace, maps, mask) - target).abs().pow(2).mean())
    if dc_mode == "soft":
        assert len([n for n, _ in sn.named_parameters() if n.endswith("weight_logit")]) == 2


def test_sn_with_zero_cascades_is_the_zero_filled_sense_image():
    kspace, maps, mask = _batch(1, 15, 160, 184, seed=8)
    for shared in (False, True):
        sn = SensitivityNetwork(num_cascades=0, features=4, shared_weights=shared)
        assert _num_params(sn) == 0
        # equal up to float rounding: the SN works in the hybrid space (PreparedSense), sens_reduce in k-space
        assert torch.allclose(sn(kspace, maps, mask), sens_reduce(kspace, maps, mask), rtol=0, atol=1e-6)


def test_sn_with_full_mask_and_hard_dc_returns_the_sense_image_of_the_data():
    # Hard DC replaces every k-space sample by the data, whatever the Down-Up blocks produced.
    torch.manual_seed(0)
    kspace, maps, _ = _batch(1, 4, 37, 45, seed=9)
    full = torch.ones(1, 1, 1, 45)
    out = SensitivityNetwork(num_cascades=2, features=4)(kspace, maps, full)
    assert torch.allclose(out, sens_reduce(kspace, maps), atol=1e-5)


def test_sn_shared_weights_has_one_nth_of_the_down_up_parameters():
    n = 3
    separate = SensitivityNetwork(num_cascades=n, features=4, shared_weights=False)
    shared = SensitivityNetwork(num_cascades=n, features=4, shared_weights=True)
    assert _num_params(separate.regularisers) == n * _num_params(shared.regularisers)
    assert _num_params(shared.regularisers) == _num_params(DownUpBlock(features=4))
    assert len(shared.regularisers) == 1 and len(separate.regularisers) == n
    # The shared block is applied in every cascade: more cascades change the output.
    torch.manual_seed(0)
    one = SensitivityNetwork(num_cascades=1, features=4, shared_weights=True)
    three = SensitivityNetwork(num_cascades=3, features=4, shared_weights=True)
    three.load_state_dict(one.state_dict())
    batch = _batch(1, 4, 37, 45, seed=10)
    assert _relative_error(three(*batch), one(*batch)) > 1e-4


@pytest.mark.parametrize("c", [1e-4, 1e3])
def test_sn_output_scales_linearly_with_the_kspace(c):
    torch.manual_seed(0)
    sn = SensitivityNetwork(num_cascades=2, features=4)
    kspace, maps, mask = _batch(1, 4, 37, 45, seed=11)
    assert _relative_error(sn(kspace * c, maps, mask), sn(kspace, maps, mask) * c) < 1e-4


def test_sn_config_is_json_and_rebuilds_the_architecture():
    sn = SensitivityNetwork(num_cascades=2, features=4, shared_weights=True, dc_mode="soft")
    assert json.loads(json.dumps(sn.config)) == sn.config
    rebuilt = build_model("SensitivityNetwork", sn.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in sn.state_dict().items()}
    # the training code's teaching configuration
    assert build_model("SensitivityNetwork", {"num_cascades": 5, "features": 16}).config["num_cascades"] == 5


def test_sn_bad_inputs_name_the_argument():
    kspace, maps, mask = _batch(1, 4, 16, 12, seed=12)
    sn = SensitivityNetwork(num_cascades=1, features=4)
    with pytest.raises(TypeError, match="kspace must be a complex"):
        sn(kspace.abs(), maps, mask)
    with pytest.raises(TypeError, match="maps must be a complex"):
        sn(kspace, maps.real, mask)
    with pytest.raises(TypeError, match="mask must be a real"):
        sn(kspace, maps, mask.to(torch.complex64))
    with pytest.raises(ValueError, match="maps of shape .* must match kspace"):
        sn(kspace, maps[:, :, :-1], mask)
    with pytest.raises(ValueError, match="mask of shape .* does not broadcast to kspace"):
        sn(kspace, maps, torch.ones(1, 1, 1, 11))
    with pytest.raises(ValueError, match="kspace must have 4 dimensions"):
        sn(kspace[0], maps, mask)
    with pytest.raises(ValueError, match="num_cascades"):
        SensitivityNetwork(num_cascades=-1)
    with pytest.raises(ValueError, match="dc_mode"):
        SensitivityNetwork(dc_mode="medium")


# ---- U-Net --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 2, 37, 45), (1, 2, 17, 16)])
def test_unet_shapes_and_gradients_for_odd_sizes(shape):
    torch.manual_seed(0)
    unet = UNet(in_chans=2, out_chans=3, chans=4, num_pool_layers=3)
    image = torch.randn(*shape)
    out = unet(image)
    assert out.shape == (shape[0], 3, *shape[2:])
    _assert_every_parameter_gets_a_gradient(unet, (out - torch.randn_like(out)).pow(2).mean())


def test_unet_follows_fastmri_layout():
    unet = UNet(chans=8, num_pool_layers=4)
    convs = [m for m in unet.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs if m.kernel_size == (3, 3))  # no bias before InstanceNorm
    assert max(m.out_channels for m in convs) == 8 * 2**4  # bottleneck width
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in unet.modules()) == 4
    assert UNet().config == {"in_chans": 2, "out_chans": 2, "chans": 32, "num_pool_layers": 4}


def test_unet_reconstructor_shape_dtype_scale_and_gradients():
    torch.manual_seed(0)
    model = UNetReconstructor(chans=4, num_pool_layers=2)
    kspace, maps, mask = _batch(1, 15, 160, 184, seed=13)
    out = model(kspace, maps, mask)
    assert out.shape == (1, 160, 184) and out.dtype == torch.complex64
    # per-instance normalisation: the output follows the k-space scale
    assert _relative_error(model(kspace * 1e-4, maps, mask), out * 1e-4) < 1e-4
    small = _batch(2, 4, 37, 45, seed=14)
    _assert_every_parameter_gets_a_gradient(model, model(*small).abs().pow(2).mean())
    assert build_model("UNetReconstructor", {"chans": 16, "num_pool_layers": 4}).config == {
        "chans": 16,
        "num_pool_layers": 4,
        "residual": False,
    }
    # residual: with its output layer zeroed the U-Net returns the zero-filled image exactly
    res = UNetReconstructor(chans=4, num_pool_layers=2, residual=True)
    torch.nn.init.zeros_(res.unet.out.weight)
    torch.nn.init.zeros_(res.unet.out.bias)
    np.testing.assert_allclose(
        res(kspace, maps, mask).detach().numpy(), sens_reduce(kspace, maps, mask).numpy(), atol=1e-5
    )
    with pytest.raises(TypeError, match="residual must be True or False"):
        UNetReconstructor(residual="yes")
    with pytest.raises(TypeError, match="kspace must be a complex"):
        model(kspace.real, maps, mask)
    with pytest.raises(ValueError, match="maps of shape"):
        model(kspace, maps[:, :3], mask)
    with pytest.raises(TypeError, match="image must be a real"):
        model.unet(random_complex(1, 2, 16, 16))


# ---- Configs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,config",
    [
        (DownUpBlock, {"features": 4, "eps": 1e-6}),
        (SensitivityNetwork, {"num_cascades": 2, "features": 4, "shared_weights": False, "dc_mode": "soft"}),
        (UNet, {"in_chans": 1, "out_chans": 2, "chans": 4, "num_pool_layers": 2}),
        (UNetReconstructor, {"chans": 4, "num_pool_layers": 3, "residual": True}),
        (PatchDiscriminator, {"features": 4, "num_stages": 2, "kernel_size": 3, "spectral_norm": False}),
        (PatchDiscriminator, {"features": 4, "num_stages": 2, "kernel_size": 5, "spectral_norm": True}),
    ],
)
def test_every_model_config_is_json_and_rebuilds_it(cls, config):
    model = cls(**config)
    assert model.config == config
    restored = json.loads(json.dumps(model.config))
    rebuilt = cls(**restored)
    assert type(rebuilt) is cls and rebuilt.config == model.config
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes and {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(model.state_dict())  # strict: same keys and shapes
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(**{**config, "not_an_argument": 1})


# ---- Discriminator ------------------------------------------------------------------------------
def test_discriminator_patch_map_shape_and_gradients():
    torch.manual_seed(0)
    disc = PatchDiscriminator(features=4, num_stages=3)
    out = disc(torch.rand(2, 1, 160, 160))
    assert out.shape == (2, 1, 20, 20)
    assert disc(torch.rand(1, 37, 45)).shape == (1, 1, 5, 6)  # (B, H, W) accepted, sizes rounded up
    _assert_every_parameter_gets_a_gradient(disc, (disc(torch.rand(2, 1, 48, 40)) - 1).pow(2).mean())


def test_discriminator_default_widths_follow_sigma_net():
    convs = [m for m in PatchDiscriminator().modules() if isinstance(m, nn.Conv2d)]
    widths = [(m.out_channels, m.stride[0]) for m in convs]
    assert widths == [(64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2), (1, 1)]
    norms = [m for m in PatchDiscriminator().modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 7  # every block but the first
    assert build_model("PatchDiscriminator", {"features": 32, "num_stages": 3}).config == {
        "features": 32,
        "num_stages": 3,
        "kernel_size": 3,  # the options added later default to the architecture of before
        "spectral_norm": False,
    }


def test_discriminator_bad_inputs_name_the_argument():
    disc = PatchDiscriminator(features=4, num_stages=2)
    with pytest.raises(TypeError, match="image must be a real"):
        disc(random_complex(1, 1, 16, 16))
    with pytest.raises(ValueError, match="image must have 1 channel"):
        disc(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match="image must have 3 or 4 dimensions"):
        disc(torch.rand(16, 16))
    with pytest.raises(ValueError, match="num_stages"):
        PatchDiscriminator(num_stages=0)


@pytest.mark.parametrize("num_stages,kernel_size", [(2, 3), (3, 3), (4, 3), (3, 5)])
def test_discriminator_receptive_field_is_the_measured_one_and_centred_on_its_score(num_stages, kernel_size):
    """The patch a score sees, measured by the gradient of one score with InstanceNorm taken out (its
    statistics are global): a square of ``receptive_field`` pixels centred on ``stride * index``."""
    from recon_lib.models.discriminator import receptive_field

    torch.manual_seed(0)
    disc = PatchDiscriminator(features=4, num_stages=num_stages, kernel_size=kernel_size).double()
    assert disc.receptive_field == receptive_field(num_stages, kernel_size)
    for i, layer in enumerate(disc.layers):
        if isinstance(layer, nn.InstanceNorm2d):
            disc.layers[i] = nn.Identity()
    image = torch.rand(1, 1, 256, 256, dtype=torch.float64, requires_grad=True)
    scores = disc(image)
    centre = scores.shape[-1] // 2
    scores[0, 0, centre, centre].backward()
    rows, cols = (image.grad[0, 0].abs() > 0).nonzero().T
    assert int(rows.max() - rows.min() + 1) == int(cols.max() - cols.min() + 1) == disc.receptive_field
    assert float(rows.max() + rows.min()) / 2 == float(cols.max() + cols.min()) / 2 == disc.stride * centre


def test_discriminator_score_mask_marks_the_scores_centred_on_the_foreground():
    disc = PatchDiscriminator(features=4, num_stages=3)
    fg = torch.zeros(2, 37, 45, dtype=torch.bool)
    fg[0, 8, 16] = True  # the centre of score (1, 2)
    mask = disc.score_mask(fg)
    assert mask.shape == disc(torch.rand(2, 37, 45)).shape == (2, 1, 5, 6)
    assert mask.dtype == torch.bool and mask.sum() == 1 and bool(mask[0, 0, 1, 2])
    with pytest.raises(ValueError, match="foreground must be"):
        disc.score_mask(torch.ones(37, 45))


def test_spectral_norm_bounds_every_convolution_and_is_saved_with_its_power_iteration():
    torch.manual_seed(0)
    disc = PatchDiscriminator(features=4, num_stages=2, spectral_norm=True)
    disc(torch.rand(2, 1, 32, 32))  # training mode: one power iteration per forward
    disc.eval()
    for conv in (m for m in disc.modules() if isinstance(m, nn.Conv2d)):
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, rel=0.1)  # one iteration per step: close to, not exactly, 1
    state = disc.state_dict()
    assert any(k.endswith("._u") for k in state) and any(k.endswith(".original") for k in state)
    rebuilt = PatchDiscriminator(**disc.config).eval()
    rebuilt.load_state_dict(state)
    x = torch.rand(1, 1, 32, 32)
    assert torch.equal(rebuilt(x), disc(x))
    before = {k: v.clone() for k, v in disc.state_dict().items()}
    disc(x)  # eval mode: the power iteration's state stays as it is
    assert all(torch.equal(before[k], v) for k, v in disc.state_dict().items())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"kernel_size": 4}, ValueError, "kernel_size must be an odd integer >= 3, got 4"),
        ({"kernel_size": 1}, ValueError, "kernel_size must be an odd integer >= 3, got 1"),
        ({"spectral_norm": "yes"}, TypeError, "spectral_norm must be true or false, got 'yes'"),
    ],
)
def test_discriminator_options_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        PatchDiscriminator(features=4, num_stages=2, **kwargs)
