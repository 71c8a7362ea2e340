"""Three-model interpolation on a triangle: the view-model, snapping, bad input, the widget wiring."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from browser_harness import make_triangle_standin
from test_explorer import SMALL, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from recon_lib.core.compute import Compute
from recon_lib.metrics.quality import high_frequency_energy_ratio, volume_metrics
from recon_lib.models.inference import reconstruct
from recon_lib.models.interpolation import interpolate_state_dicts
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.teaching.explorer.triangle import TriangleExplorer, snap


@pytest.fixture(scope="module")
def three():
    """Pre-trained SN, SN and SN-GAN stand-ins (the SN perturbed as the pre-trained corner)."""
    return make_triangle_standin(**SMALL)


def _output(model, item) -> np.ndarray:
    """``model``'s magnitude on ``item`` computed as the explorer computes (its default settings)."""
    batch = {k: item[k][None] for k in ("kspace", "maps", "mask", "target")}
    compute = Compute()
    model = compute.prepare(copy.deepcopy(model))
    with torch.inference_mode(), compute.autocast("cpu"):
        return np.abs(reconstruct(model, batch)[0].numpy().astype(np.complex128))


def test_corners_are_the_three_models_exactly(three):
    models, item = three
    tri = TriangleExplorer(models, item)
    for i, model in enumerate(models):
        corner = [1.0 if j == i else 0.0 for j in range(3)]
        np.testing.assert_array_equal(tri.reconstruction(corner), _output(model, item))


def test_an_inner_point_is_the_weighted_network(three):
    models, item = three
    tri = TriangleExplorer(models, item)
    w = [0.2, 0.5, 0.3]
    fresh = SensitivityNetwork(**models[0].config).eval()
    fresh.load_state_dict(interpolate_state_dicts([m.state_dict() for m in models], w))
    expected = _output(fresh, item)
    np.testing.assert_allclose(tri.reconstruction(w), expected, rtol=1e-5, atol=1e-6 * expected.max())
    tri.set_weights(w)
    m = tri.metrics()
    ref = item["target"].numpy().astype(np.float64)
    fg = item["foreground"].numpy()
    lib = volume_metrics(ref, tri.reconstruction(), mask=fg, data_range=float(item["max"]))
    assert m["weights"] == [0.2, 0.5, 0.3] and m["psnr"] == pytest.approx(lib["psnr"])
    assert m["hf_energy_ratio"] == pytest.approx(high_frequency_energy_ratio(ref, tri.reconstruction(), mask=fg))
    assert np.abs(tri.difference()).max() > 0 and not np.abs(tri.difference([0, 1, 0])).any()


def test_weights_snap_to_the_grid_and_stay_on_the_simplex():
    assert snap([1 / 3, 1 / 3, 1 / 3]) == (0.33, 0.33, 0.34)
    assert snap([0.005, 0.995, 0.0]) in {(0.0, 1.0, 0.0), (0.01, 0.99, 0.0)}
    for w in ([0.499, 0.499, 0.002], [0.125, 0.875, 0.0], [0.0, 0.0, 1.0]):
        s = snap(w)
        assert min(s) >= 0 and sum(s) == pytest.approx(1.0) and all(abs(v * 100 - round(v * 100)) < 1e-9 for v in s)


@pytest.mark.parametrize(
    "weights, error, match",
    [
        ([0.5, 0.6, 0.0], ValueError, "sum to 1"),
        ([-0.1, 0.6, 0.5], ValueError, "negative"),
        ([0.5, 0.5], ValueError, "one value per model"),
        ([float("nan"), 0.5, 0.5], ValueError, "not finite"),
    ],
)
def test_a_point_off_the_simplex_is_one_clear_error_and_keeps_the_point(three, weights, error, match):
    models, item = three
    tri = TriangleExplorer(models, item, weights=(0.1, 0.6, 0.3))
    with pytest.raises(error, match=match):
        tri.set_weights(weights)
    assert tri.weights == (0.1, 0.6, 0.3)


def test_models_of_two_architectures_are_refused(three):
    models, item = three
    with pytest.raises(ValueError, match="share one architecture"):
        TriangleExplorer([models[0], models[1], SensitivityNetwork(num_cascades=2, features=8)], item)
    with pytest.raises(ValueError, match="three models"):
        TriangleExplorer(models[:2], item)


def test_the_widget_follows_the_picker(three):
    pytest.importorskip("anywidget")
    models, item = three
    tri = TriangleExplorer(models, item)
    w = tri.widget and tri.widgets
    before_image, before_table = w["image"].value, tri.metrics_html()
    w["picker"].weights = [0.3, 0.3, 0.4]
    assert tri.weights == (0.3, 0.3, 0.4)
    assert 'data-weights="0.30,0.30,0.40"' in w["metrics"].value
    assert w["image"].value != before_image
    assert tri.metrics_html() != before_table
    w["picker"].weights = [0.9, 0.9, 0.9]  # off the simplex: one message, the point is kept
    assert tri.weights == (0.3, 0.3, 0.4) and "sum to 1" in w["status"].value


def test_switching_acceleration_switches_the_sn_gan_corner(three, tmp_path, monkeypatch):
    """With an SN-GAN shipped for AF 8 (here: the SN's weights), the SN-GAN corner at AF 8 is the SN
    and the interior points follow it; at AF 4 the corner is sn_gan.pt again."""
    from test_explorer import fake_knee, per_acceleration_checkpoints

    (pre, sn, gan), item = three
    per_acceleration_checkpoints(tmp_path, sn, gan, pretrained=pre)
    (tmp_path / "knee" / "test").mkdir(parents=True)
    fake_knee(item, monkeypatch)
    tri = TriangleExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume=0, acceleration=4)
    assert tri.checkpoints["SN-GAN"] == str(tmp_path / "sn_gan.pt")
    corner4 = tri.reconstruction([0, 0, 1]).copy()
    assert not np.allclose(corner4, tri.reconstruction([0, 1, 0]))
    tri.set_weights([0.2, 0.3, 0.5])
    tri.select(acceleration=8)
    assert tri.checkpoints["SN-GAN"] == str(tmp_path / "sn_gan_af8.pt") and tri.weights == (0.2, 0.3, 0.5)
    np.testing.assert_array_equal(tri.reconstruction([0, 0, 1]), tri.reconstruction([0, 1, 0]))
    # an interior point mixes the pre-trained SN with the SN alone: (0.2, 0.3 + 0.5, 0)
    np.testing.assert_allclose(tri.reconstruction(), tri.reconstruction([0.2, 0.8, 0.0]), rtol=0, atol=1e-5)
    assert tri.state()["checkpoints"]["SN-GAN"].endswith("sn_gan_af8.pt")
    tri.select(acceleration=4)
    np.testing.assert_array_equal(tri.reconstruction([0, 0, 1]), corner4)
