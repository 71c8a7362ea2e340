"""Deep network interpolation: exact endpoints, weighted means, validation and the live helper."""

import copy

import pytest
import torch
import torch.nn as nn

from recon_lib.models.interpolation import ModelInterpolator, interpolate_alpha, interpolate_state_dicts


class SmallNet(nn.Module):
    """Conv + BatchNorm (with its int64 num_batches_tracked) + PReLU, 2 channels in and out."""

    def __init__(self, features: int = 16) -> None:
        super().__init__()
        self.head = nn.Conv2d(2, features, 3, padding=1)
        self.norm = nn.BatchNorm2d(features)
        self.act = nn.PReLU()
        self.down = nn.Conv2d(features, 2 * features, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(2 * features, features, 2, stride=2)
        self.tail = nn.Conv2d(features, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm(self.head(x)))
        return x + self.tail(self.act(self.up(self.act(self.down(h)))))


def fine_tuned_pair(seed: int = 0) -> tuple[SmallNet, SmallNet]:
    """Two models from one initialisation, 'fine-tuned' apart (weights, BN statistics, counters)."""
    torch.manual_seed(seed)
    a = SmallNet()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.01 * torch.randn_like(p))
        a.norm.running_mean.normal_(0, 0.1)
        a.norm.running_var.uniform_(0.5, 1.5)
        a.norm.num_batches_tracked.fill_(500)
    b = copy.deepcopy(a)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.05 * torch.randn_like(p))
        b.norm.running_mean.add_(0.05)
        b.norm.num_batches_tracked.fill_(800)
    return a.eval(), b.eval()


def test_endpoints_are_bitwise_exact():
    a, b = fine_tuned_pair()
    sa, sb = a.state_dict(), b.state_dict()
    sa["head.bias"][0] = -0.0  # a signed zero survives only if the endpoint is copied, not recomputed
    sb["tail.bias"][0] = float("inf")  # 0 * inf would give nan if the endpoint were (1 - 0) a + 0 b
    at0, at1 = interpolate_alpha(sa, sb, 0.0), interpolate_alpha(sa, sb, 1.0)
    for key in sa:
        assert torch.equal(at0[key], sa[key]) and at0[key].dtype == sa[key].dtype, key
        assert torch.equal(at1[key], sb[key]) and at1[key].dtype == sb[key].dtype, key
    assert torch.signbit(at0["head.bias"][0])
    # Copies, not views of the inputs.
    assert at0["head.weight"].data_ptr() != sa["head.weight"].data_ptr()


def test_midpoint_is_the_mean_and_alpha_is_linear():
    a, b = fine_tuned_pair()
    sa, sb = a.state_dict(), b.state_dict()
    mid = interpolate_alpha(sa, sb, 0.5)
    at = interpolate_alpha(sa, sb, 0.3)
    for key in sa:
        if sa[key].is_floating_point():
            torch.testing.assert_close(mid[key], (sa[key] + sb[key]) / 2, rtol=0, atol=1e-7)
            torch.testing.assert_close(at[key], 0.7 * sa[key] + 0.3 * sb[key])
    assert not torch.equal(mid["head.weight"], sa["head.weight"])


def test_n_models_with_weights():
    torch.manual_seed(1)
    base = SmallNet().eval()
    sds = []
    for i in range(3):
        m = copy.deepcopy(base)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * torch.randn_like(p))
            m.norm.num_batches_tracked.fill_(100 * (i + 1))
        sds.append(m.state_dict())
    w = [0.2, 0.3, 0.5]
    out = interpolate_state_dicts(sds, w)
    for key in sds[0]:
        if sds[0][key].is_floating_point():
            expected = sum(wi * sd[key].double() for wi, sd in zip(w, sds, strict=True)).float()
            assert torch.equal(out[key], expected), key
    assert int(out["norm.num_batches_tracked"]) == 300  # from the largest weight (model 2)
    exact = interpolate_state_dicts(sds, [0.0, 1.0, 0.0])
    assert all(torch.equal(exact[k], sds[1][k]) for k in sds[0])


def test_complex_and_half_entries_are_interpolated():
    a = {"w": torch.tensor([1 + 2j, -3j], dtype=torch.complex64), "h": torch.tensor([1.0, 2.0], dtype=torch.float16)}
    b = {"w": torch.tensor([3 + 0j, 1j], dtype=torch.complex64), "h": torch.tensor([3.0, 4.0], dtype=torch.float16)}
    out = interpolate_alpha(a, b, 0.25)
    assert out["w"].dtype == torch.complex64 and out["h"].dtype == torch.float16
    assert torch.allclose(out["w"], torch.tensor([1.5 + 1.5j, -2j]))
    assert torch.equal(out["h"], torch.tensor([1.5, 2.5], dtype=torch.float16))


def test_non_float_buffers_come_from_the_largest_weight():
    a, b = fine_tuned_pair()
    sa, sb = a.state_dict(), b.state_dict()
    key = "norm.num_batches_tracked"
    assert int(interpolate_alpha(sa, sb, 0.5)[key]) == 500  # tie -> the first model (A)
    assert int(interpolate_alpha(sa, sb, 0.51)[key]) == 800  # larger weight on B
    assert interpolate_alpha(sa, sb, 0.51)[key].dtype == torch.int64


def test_metadata_is_kept_for_load_state_dict():
    a, b = fine_tuned_pair()
    out = interpolate_alpha(a.state_dict(), b.state_dict(), 0.4)
    assert out._metadata == a.state_dict()._metadata
    assert list(out) == list(a.state_dict())


def _pair_dicts():
    a, b = fine_tuned_pair()
    return a.state_dict(), b.state_dict()


def _drop(sd, key):
    sd = dict(sd)
    del sd[key]
    return sd


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda a, b: interpolate_alpha(a, _drop(b, "down.bias"), 0.5),
            ValueError,
            r"state_dicts\[1\] is missing key 'down.bias'",
        ),
        (
            lambda a, b: interpolate_alpha(a, {**b, "extra.weight": torch.ones(2)}, 0.5),
            ValueError,
            r"state_dicts\[1\] has unexpected key 'extra.weight'",
        ),
        (
            lambda a, b: interpolate_alpha(a, {**b, "tail.bias": torch.ones(3)}, 0.5),
            ValueError,
            r"key 'tail.bias': state_dicts\[1\] has shape \(3,\)",
        ),
        (
            lambda a, b: interpolate_alpha(a, {**b, "tail.bias": b["tail.bias"].double()}, 0.5),
            ValueError,
            r"key 'tail.bias': state_dicts\[1\] has dtype torch.float64",
        ),
        (
            lambda a, b: interpolate_state_dicts([a, b, {**b, "act.weight": torch.ones(2)}], [0.2, 0.3, 0.5]),
            ValueError,
            r"key 'act.weight': state_dicts\[2\] has shape",
        ),
        (lambda a, b: interpolate_state_dicts([a, b], [1.2, -0.2]), ValueError, r"weights\[1\] = -0.2 is negative"),
        (lambda a, b: interpolate_state_dicts([a, b], [0.5, 0.6]), ValueError, "sum to 1"),
        (lambda a, b: interpolate_state_dicts([a, b], [0.5, 0.5 + 1e-5]), ValueError, "sum to 1"),
        (lambda a, b: interpolate_state_dicts([a, b], [1.0]), ValueError, "one value per model"),
        (lambda a, b: interpolate_state_dicts([a, b], [float("nan"), 1.0]), ValueError, "not finite"),
        (lambda a, b: interpolate_state_dicts([a], [1.0]), ValueError, "at least 2"),
        (lambda a, b: interpolate_state_dicts(a, [0.5, 0.5]), TypeError, "sequence"),
        (lambda a, b: interpolate_state_dicts([a, {**b, "x": 1.0}], [0.5, 0.5]), TypeError, r"state_dicts\[1\]\['x'\]"),
        (lambda a, b: interpolate_alpha(a, b, -0.1), ValueError, r"alpha=-0.1"),
        (lambda a, b: interpolate_alpha(a, b, 1.5), ValueError, r"alpha=1.5"),
        (lambda a, b: interpolate_alpha(a, b, float("nan")), ValueError, r"alpha=nan"),
        (lambda a, b: interpolate_alpha(a, b, "0.5"), TypeError, "alpha"),
    ],
)
def test_mismatches_raise_naming_key_model_or_value(call, error, match):
    a, b = _pair_dicts()
    with pytest.raises(error, match=match):
        call(a, b)


def test_weights_within_tolerance_are_accepted():
    a, b = _pair_dicts()
    out = interpolate_state_dicts([a, b], [0.5, 0.5 + 5e-7])
    assert torch.isfinite(out["head.weight"]).all()


# ---- the live-model helper ----------------------------------------------------------------------
def test_live_helper_matches_load_state_dict():
    a, b = fine_tuned_pair()
    sa, sb = a.state_dict(), b.state_dict()
    live = SmallNet().eval()
    interp = ModelInterpolator(live, [sa, sb])
    reference = SmallNet().eval()
    x = torch.randn(2, 2, 32, 32, generator=torch.Generator().manual_seed(3))
    for alpha in (0.0, 0.2, 0.5, 0.77, 1.0, 0.3):
        reference.load_state_dict(interpolate_alpha(sa, sb, alpha))
        with torch.no_grad():
            out_live = interp.set_alpha(alpha)(x)
            out_ref = reference(x)
        torch.testing.assert_close(out_live, out_ref, rtol=1e-5, atol=1e-6)
        assert interp.alpha == alpha
        for key, value in live.state_dict().items():
            if alpha in (0.0, 1.0) or not value.is_floating_point():
                assert torch.equal(value, reference.state_dict()[key]), (alpha, key)
    assert int(live.norm.num_batches_tracked) == 500


def test_live_helper_n_models_and_no_stale_cache():
    a, b = fine_tuned_pair()
    c = copy.deepcopy(b)
    with torch.no_grad():
        for p in c.parameters():
            p.mul_(1.1)
    snapshot = [{k: v.clone() for k, v in m.state_dict().items()} for m in (a, b, c)]
    w = [0.1, 0.6, 0.3]
    expected = interpolate_state_dicts(snapshot, w)
    # The live model is model A itself: its state_dict() shares storage, so the helper must copy.
    interp = ModelInterpolator(a, [a.state_dict(), b.state_dict(), c.state_dict()])
    assert interp.set_weights(w) is a
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7)
    # A has been overwritten by the blend, yet its exact original weights come back.
    interp.set_weights([1.0, 0.0, 0.0])
    assert all(torch.equal(v, snapshot[0][k]) for k, v in a.state_dict().items())
    with pytest.raises(ValueError, match="exactly 2"):
        interp.set_alpha(0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        interp.set_weights([0.5, 0.5, 0.5])
    # Changing the live weights by hand (e.g. a training step) is fully overwritten next call.
    with torch.no_grad():
        a.head.weight.add_(1.0)
        a.norm.running_var.mul_(3.0)
    interp.set_weights(w)
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7)
    assert interp.alpha is None and interp.weights == tuple(w)


def test_live_helper_endpoint_exact_and_follows_dtype_change():
    a, b = fine_tuned_pair()
    sa = {k: v.clone() for k, v in a.state_dict().items()}
    sb = {k: v.clone() for k, v in b.state_dict().items()}
    live = SmallNet().eval()
    interp = ModelInterpolator(live, [sa, sb])
    interp.set_alpha(0.4)
    interp.set_alpha(0.0)
    assert all(torch.equal(live.state_dict()[k], sa[k]) for k in sa)
    live.double()  # the module now holds new float64 tensors
    interp.set_alpha(0.6)
    expected = interpolate_alpha(sa, sb, 0.6)
    for key, value in live.state_dict().items():
        if value.is_floating_point():
            assert value.dtype == torch.float64
            torch.testing.assert_close(value.float(), expected[key], rtol=1e-6, atol=1e-7)


def test_live_helper_rejects_a_different_architecture():
    a, b = fine_tuned_pair()
    with pytest.raises(ValueError, match="'head.weight'"):
        ModelInterpolator(SmallNet(features=8), [a.state_dict(), b.state_dict()])
    with pytest.raises(ValueError, match="live model"):
        ModelInterpolator(nn.Sequential(nn.Conv2d(2, 2, 3)), [a.state_dict(), b.state_dict()])
    with pytest.raises(TypeError, match="nn.Module"):
        ModelInterpolator(a.state_dict(), [a.state_dict(), b.state_dict()])


# ---- per-prefix (per-cascade) weights ----------------------------------------------------------------
def _cascade_dicts() -> tuple[dict, dict]:
    keys = ("cascades.1.w", "cascades.10.w", "cascades.2.w", "tail.w")
    a = {k: torch.full((2,), float(i)) for i, k in enumerate(keys)}
    b = {k: torch.full((2,), 10.0 + i) for i, k in enumerate(keys)}
    return a, b


def test_prefixes_match_whole_components_and_the_longest_wins():
    a, b = _cascade_dicts()
    out = interpolate_state_dicts([a, b], {"": [1.0, 0.0], "cascades.1": [0.0, 1.0]})
    assert torch.equal(out["cascades.1.w"], b["cascades.1.w"])  # covered by "cascades.1"
    assert torch.equal(out["cascades.10.w"], a["cascades.10.w"])  # not: "cascades.10" is another component
    out = interpolate_state_dicts([a, b], {"cascades": [0.5, 0.5], "cascades.2": [0.0, 1.0], "": [1.0, 0.0]})
    assert torch.equal(out["cascades.2.w"], b["cascades.2.w"])  # the longest prefix wins
    assert torch.allclose(out["cascades.10.w"], (a["cascades.10.w"] + b["cascades.10.w"]) / 2)
    assert torch.equal(out["tail.w"], a["tail.w"])
    # one prefix "" is the same as global weights
    same = interpolate_state_dicts([a, b], {"": [0.3, 0.7]})
    glob = interpolate_state_dicts([a, b], [0.3, 0.7])
    assert all(torch.equal(same[k], glob[k]) for k in a)


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"cascades.3": [0.5, 0.5], "": [1.0, 0.0]}, r"prefix 'cascades.3' covers no key"),
        ({"cascades": [0.5, 0.5]}, r"key 'tail.w' is covered by no weights prefix"),
        ({"": [0.7, 0.7]}, r"weights\[''\] must sum to 1"),
        ({"": [1.0, 0.0], "tail": [1.5, -0.5]}, r"weights\['tail'\]\[1\] = -0.5 is negative"),
    ],
)
def test_bad_prefix_weights_name_the_prefix_or_key(weights, match):
    a, b = _cascade_dicts()
    with pytest.raises(ValueError, match=match):
        interpolate_state_dicts([a, b], weights)


def test_cascade_weights_keep_early_cascades_sn_and_late_ones_gan():
    from recon_lib.models.interpolation import cascade_weights
    from recon_lib.models.sensitivity_network import SensitivityNetwork

    torch.manual_seed(0)
    sn = SensitivityNetwork(num_cascades=3, features=4, dc_mode="soft")
    gan = copy.deepcopy(sn)
    with torch.no_grad():
        for p in gan.parameters():
            p.add_(0.1 * torch.randn_like(p))
    weights = cascade_weights(sn, [0.0, 0.5, 1.0])
    assert set(weights) == {f"{part}.{i}" for part in ("regularisers", "dc") for i in range(3)}
    out = interpolate_state_dicts([sn.state_dict(), gan.state_dict()], weights)
    for key, value in out.items():
        a, b = sn.state_dict()[key], gan.state_dict()[key]
        cascade = int(key.split(".")[1])
        expected = {0: a, 1: (a.double() + b.double()) / 2, 2: b}[cascade]
        assert torch.allclose(value.double(), expected.double(), atol=1e-7), key
    assert any(k.startswith("dc.") for k in out)  # soft DC's weights are interpolated per cascade too
    # the live helper gives the same weights
    live = copy.deepcopy(sn)
    ModelInterpolator(live, [sn.state_dict(), gan.state_dict()]).set_weights(weights)
    for k in out:  # float32 lerp in place vs a float64 sum: equal to rounding, and exactly at the end cascades
        torch.testing.assert_close(live.state_dict()[k], out[k])
        if k.split(".")[1] in ("0", "2"):
            assert torch.equal(live.state_dict()[k], out[k])
    # one alpha everywhere is global interpolation
    same = interpolate_state_dicts([sn.state_dict(), gan.state_dict()], cascade_weights(sn, [0.3] * 3))
    glob = interpolate_alpha(sn.state_dict(), gan.state_dict(), 0.3)
    assert all(torch.equal(same[k], glob[k]) for k in glob)
    with pytest.raises(ValueError, match=r"one value per weight set of the model \(3\)"):
        cascade_weights(sn, [0.0, 1.0])
    with pytest.raises(ValueError, match="alpha=1.5"):
        cascade_weights(sn, [0.0, 1.0, 1.5])
    with pytest.raises(TypeError, match="SensitivityNetwork"):
        cascade_weights(nn.Linear(2, 2), [0.0])


def test_three_models_on_the_simplex():
    a, b = fine_tuned_pair()
    c = copy.deepcopy(b)
    with torch.no_grad():
        for p in c.parameters():
            p.mul_(1.1)
    sds = [m.state_dict() for m in (a, b, c)]
    live = copy.deepcopy(a)
    interp = ModelInterpolator(live, sds)
    for w in ([0.2, 0.3, 0.5], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]):
        interp.set_weights(w)
        expected = interpolate_state_dicts(sds, w)
        for k, v in live.state_dict().items():
            torch.testing.assert_close(v, expected[k])
    with pytest.raises(ValueError, match="sum to 1"):
        interp.set_weights([0.5, 0.5, 0.5])
    assert interp.weights == (1 / 3, 1 / 3, 1 / 3)  # a refused point leaves the last one in place
