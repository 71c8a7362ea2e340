"""AlphaExplorer at the Python level: endpoints, interpolation, caching, widgets, static grid, errors."""

from __future__ import annotations

import copy
import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from browser_harness import make_standin
from PIL import Image

from recon_lib.core.compute import Compute
from recon_lib.metrics.quality import high_frequency_energy_ratio, volume_metrics
from recon_lib.models.inference import reconstruct
from recon_lib.models.interpolation import interpolate_alpha
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.teaching.explorer import AlphaExplorer

SMALL = dict(coils=4, shape=(48, 56), target_shape=(48, 48), num_cascades=2, features=4)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a loaded 2-core machine OpenMP threads spin-wait (50x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def standin():
    return make_standin(**SMALL)


@pytest.fixture
def explorer(standin):
    sn, gan, item = standin
    return AlphaExplorer(sn, gan, item)


def _batch(item):
    return {
        "kspace": item["kspace"][None],
        "maps": item["maps"][None],
        "mask": item["mask"][None],
        "target": item["target"][None],
    }


def _output(model, item, compute: Compute | None = None) -> np.ndarray:
    """``model``'s magnitude on ``item`` computed as the explorer computes (default: its default settings)."""
    compute = compute if compute is not None else Compute()
    model = compute.prepare(copy.deepcopy(model))
    with torch.inference_mode(), compute.autocast("cpu"):
        return np.abs(reconstruct(model, _batch(item))[0].numpy().astype(np.complex128))


# ---- endpoints and interpolation ------------------------------------------------------------
def test_alpha_zero_and_one_are_the_end_models_exactly(standin, explorer):
    sn, gan, item = standin
    assert np.array_equal(explorer.reconstruction(0.0), _output(sn, item))
    assert np.array_equal(explorer.reconstruction(1.0), _output(gan, item))
    # image blending has the same end points
    assert np.array_equal(explorer.image_blend(0.0), explorer.reconstruction(0.0))
    assert np.array_equal(explorer.image_blend(1.0), explorer.reconstruction(1.0))


def test_fp32_is_one_setting_away_and_the_default_stays_close_to_it(standin, explorer):
    sn, gan, item = standin
    fp32 = AlphaExplorer(sn, gan, item, compute=Compute.fp32())
    plain = _output(sn, item, Compute.fp32())
    with torch.inference_mode():  # float32 is the plain model, untouched
        assert np.array_equal(plain, np.abs(reconstruct(sn, _batch(item))[0].numpy().astype(np.complex128)))
    assert np.array_equal(fp32.reconstruction(0.0), plain)
    for alpha in (0.0, 0.5, 1.0):  # bf16 convolutions, channels-last: a small change against the reference
        delta = (
            volume_metrics(explorer.reference, explorer.reconstruction(alpha), data_range=1.0)["psnr"]
            - volume_metrics(fp32.reference, fp32.reconstruction(alpha), data_range=1.0)["psnr"]
        )
        assert abs(delta) <= 0.05, (alpha, delta)
    assert not np.array_equal(explorer.reconstruction(0.5), fp32.reconstruction(0.5))  # the setting took effect


def test_live_model_at_alpha_zero_reproduces_the_sn(standin, explorer):
    sn, _, item = standin
    explorer.reconstruction(0.3)  # the live model now holds alpha = 0.3
    assert np.array_equal(_output(explorer.mix.live_at((1.0, 0.0)), item), _output(sn, item))


def test_interpolated_network_matches_an_independently_interpolated_model(standin, explorer):
    sn, gan, item = standin
    model = SensitivityNetwork(**sn.config).eval()
    model.load_state_dict(interpolate_alpha(sn.state_dict(), gan.state_dict(), 0.3))
    np.testing.assert_allclose(
        explorer.reconstruction(0.3), _output(model, item), rtol=1e-4, atol=1e-5 * explorer.reference.max()
    )


def test_network_interpolation_is_not_image_blending(explorer):
    net, blend = explorer.reconstruction(0.5), explorer.image_blend(0.5)
    assert net.shape == blend.shape == explorer.reference.shape
    assert np.abs(net - blend).max() > 1e-3 * explorer.reference.max()


def test_alpha_change_changes_image_and_metrics(explorer):
    a, b = explorer.reconstruction(0.0), explorer.reconstruction(0.6)
    assert np.abs(a - b).max() > 1e-3 * explorer.reference.max()
    m0, m1 = explorer.metrics(0.0), explorer.metrics(0.6)
    assert m0["alpha"] == 0.0 and m1["alpha"] == 0.6
    assert m0["psnr"] != m1["psnr"] and m0["ssim"] != m1["ssim"]


def test_metrics_follow_recon_lib_metrics(standin, explorer):
    sn, _, item = standin
    out = _output(sn, item)
    ref, fg = item["target"].numpy(), item["foreground"].numpy()
    expected = volume_metrics(ref, out, mask=fg, data_range=float(item["max"]))
    got = explorer.metrics(0.0)
    assert set(got) == {"alpha", "psnr", "ssim", "nmse", "hf_energy_ratio"}
    for key in ("psnr", "ssim", "nmse"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9)
    assert got["hf_energy_ratio"] == pytest.approx(high_frequency_energy_ratio(ref, out, mask=fg), rel=1e-9)
    blend = explorer.metrics(0.4, kind="blend")
    assert (
        math.isfinite(blend["psnr"]) and 0 < blend["ssim"] <= 1 and blend["nmse"] > 0 and blend["hf_energy_ratio"] > 0
    )


# ---- caching ----------------------------------------------------------------------------------
def test_cache_returns_identical_results_without_running_the_network(explorer, monkeypatch):
    first = explorer.reconstruction(0.35)
    metrics = explorer.metrics(0.35)
    hits = explorer.mix.cache_hits

    def boom(*args, **kwargs):
        raise AssertionError("the network ran for a cached alpha")

    monkeypatch.setattr(explorer.mix.live, "forward", boom)
    again = explorer.reconstruction(0.35 + 1e-9)  # rounds to the same key
    assert again is first
    assert explorer.metrics(0.35) == metrics
    assert explorer.mix.cache_hits == hits + 2
    explorer.set_alpha(0.35)
    assert explorer.last_update_cached is True and explorer.alpha == 0.35


def test_lru_evicts_oldest_but_keeps_end_points(standin):
    sn, gan, item = standin
    explorer = AlphaExplorer(sn, gan, item, cache_size=4, warm_up=False)
    for a in (0.1, 0.2, 0.3):
        explorer.reconstruction(a)
    assert sorted(explorer.cached_alphas()) == [0.0, 0.2, 0.3, 1.0]
    explorer.reconstruction(0.2)  # refresh 0.2: 0.3 becomes the oldest
    explorer.reconstruction(0.4)
    assert sorted(explorer.cached_alphas()) == [0.0, 0.2, 0.4, 1.0]


def test_precompute_fills_every_slider_position(standin):
    sn, gan, item = standin
    explorer = AlphaExplorer(sn, gan, item, step=0.25, warm_up=False)
    assert sorted(explorer.cached_alphas()) == [0.0, 1.0]  # the end points are always there
    assert explorer.slider_positions() == [0.0, 0.25, 0.5, 0.75, 1.0]
    explorer.precompute()
    assert sorted(explorer.cached_alphas()) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sorted(AlphaExplorer(sn, gan, item).cached_alphas()) == [0.0, 0.5, 1.0]  # warm_up: interpSN


# ---- widgets ----------------------------------------------------------------------------------
def test_widget_updates_on_alpha_change(explorer):
    import ipywidgets as widgets

    box = explorer.widget
    assert isinstance(box, widgets.VBox) and "alpha-explorer" in box._dom_classes
    w = explorer.widgets
    assert "alpha-explorer-slider" in w["slider"]._dom_classes
    assert "alpha-explorer-metrics" in w["metrics"]._dom_classes
    before_png, before_html = w["network"].value, w["metrics"].value
    assert 'data-alpha="0.0000"' in before_html

    w["slider"].value = 0.45  # what the browser does
    assert explorer.alpha == 0.45
    assert w["network"].value != before_png and w["blend"].value != before_png
    assert 'data-alpha="0.4500"' in w["metrics"].value and w["metrics"].value != before_html
    assert "computed" in w["status"].value

    explorer.set_alpha(0.0)  # programmatic: moves the slider too
    assert w["slider"].value == 0.0 and w["network"].value == before_png
    assert "from the cache" in w["status"].value


def test_rendered_pngs_have_the_target_shape(explorer):
    rh, rw = explorer.reference.shape
    png = explorer.rendered(explorer.view(0.5)).png
    full = Image.open(io.BytesIO(png["network"]))
    error = Image.open(io.BytesIO(png["network_error"]))
    assert full.size == (rw, rh) and full.mode == "RGB" and error.size == (rw, rh)
    zoom = Image.open(io.BytesIO(png["network_zoom"]))
    top, left, h, w = explorer.crop_box
    assert zoom.size[0] % w == 0 and zoom.size[0] // w == zoom.size[1] // h >= 1
    # the crop box is drawn in yellow on the full image
    pixels = np.asarray(full)
    assert tuple(pixels[top, left + w // 2]) == (255, 204, 0)


def test_ipython_display_shows_the_widget(explorer, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    explorer._ipython_display_()
    assert shown == [explorer.widget]


# ---- static fallback --------------------------------------------------------------------------
def test_static_grid_figure(explorer):
    fig = explorer.static_grid((0.0, 0.5, 1.0))
    try:
        image_axes = [ax for ax in fig.axes if ax.images]
        assert len(image_axes) == 3 * 5 + 3  # 5 rows per alpha; reference full, zoom, high-pass
        titles = " ".join(ax.get_title() for ax in fig.axes)
        # the difference row: x(alpha) - x_SN of the zoom, on one symmetric diverging scale
        top, left, h, w = explorer.crop_box
        diff_axes = [ax for ax in image_axes if ax.images[0].get_cmap().name == "RdBu_r"]
        assert len(diff_axes) == 3
        expected = 100 * (explorer.reconstruction(1.0) - explorer.reconstruction(0.0)) / explorer.display.white
        np.testing.assert_allclose(diff_axes[2].images[0].get_array(), expected[top : top + h, left : left + w])
        assert not np.any(diff_axes[0].images[0].get_array())  # alpha = 0 is the SN itself
        lo, hi = diff_axes[0].images[0].get_clim()
        assert lo == -hi and hi >= np.abs(expected[top : top + h, left : left + w]).max()
        for a in ("0.00", "0.50", "1.00"):
            assert f"α={a}" in titles
        # the texture row: each zoom's high-pass on the reference's grey scale
        from recon_lib.metrics.texture import high_pass

        texture = [ax for ax in image_axes if ax.get_title().startswith("high-pass, α=")]
        assert len(texture) == 3
        np.testing.assert_allclose(
            texture[2].images[0].get_array(), high_pass(explorer.reconstruction(1.0))[top : top + h, left : left + w]
        )
        assert f"{explorer.metrics(0.5)['psnr']:.2f} dB" in titles
    finally:
        plt.close(fig)


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_is_rejected(explorer, alpha):
    with pytest.raises(ValueError, match="alpha"):
        explorer.set_alpha(alpha)
    with pytest.raises(ValueError, match="alpha"):
        explorer.metrics(alpha)
    with pytest.raises(ValueError, match="alpha"):
        explorer.static_grid((0.0, alpha))


def test_models_of_different_architecture_are_rejected(standin):
    sn, _, item = standin
    wider = SensitivityNetwork(num_cascades=2, features=8)
    with pytest.raises(ValueError, match="architecture.*features"):
        AlphaExplorer(sn, wider, item)
    with pytest.raises(ValueError, match="architecture"):
        AlphaExplorer(sn, torch.nn.Linear(2, 2), item)


def test_bad_sample_and_options_are_rejected(standin):
    sn, gan, item = standin
    with pytest.raises(ValueError, match="maps"):
        AlphaExplorer(sn, gan, {k: v for k, v in item.items() if k != "maps"})
    with pytest.raises(ValueError, match="crop_box"):
        AlphaExplorer(sn, gan, item, crop_box=(40, 40, 20, 20))
    with pytest.raises(ValueError, match="kind"):
        AlphaExplorer(sn, gan, item).metrics(0.5, kind="pixels")


def test_from_checkpoints_reports_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="sn_finetuned.pt"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path)


def fake_knee(item, monkeypatch) -> list:
    """Replace ``KneeDataset`` by two volumes of the stand-in ``item`` (3 and 4 slices; each slice,
    volume and acceleration its own image); returns the list of datasets opened."""
    import recon_lib.data.dataset

    class Record:
        def __init__(self, fname, num_slices, acquisition):
            self.fname, self.num_slices, self.acquisition = fname, num_slices, acquisition

    class FakeDataset:  # the KneeDataset interface the explorer uses
        def __init__(self, root, mask_func, train=False):
            self.args = (root, mask_func.accelerations, train)
            self.volumes = [Record("knee_a.h5", 3, "CORPD_FBK"), Record("knee_b.h5", 4, "CORPDFS_FBK")]
            self.examples = [(v, s) for v, r in enumerate(self.volumes) for s in range(r.num_slices)]
            seen.append(self)

        def __getitem__(self, index):
            vol, sl = self.examples[index]
            # a different slice is a different image: scale the stand-in by the slice index
            scale = 1.0 + 0.1 * sl + 0.5 * vol
            return dict(
                item,
                kspace=item["kspace"] * scale,
                target=item["target"].roll(sl, dims=-1) * scale,  # another slice, another reference
                fname=self.volumes[vol].fname,
                slice=sl,
                acceleration=self.args[1][0],
            )

        def noise_free(self, volume):
            return None  # like real data: no truth stored

    seen: list = []
    monkeypatch.setattr(recon_lib.data.dataset, "KneeDataset", FakeDataset)
    return seen


def test_from_checkpoints_wires_models_and_dataset_and_switches_slices(standin, tmp_path, monkeypatch):
    from recon_lib.models.checkpoint import save_checkpoint

    sn, gan, item = standin
    save_checkpoint(tmp_path / "sn_finetuned.pt", sn, {"stage": "finetune_sn"})
    save_checkpoint(tmp_path / "sn_gan.pt", gan, {"stage": "finetune_gan"})
    (tmp_path / "knee" / "test").mkdir(parents=True)
    seen = fake_knee(item, monkeypatch)
    explorer = AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume="knee_b.h5", acceleration=4)
    assert (tmp_path / "knee" / "test", [4], False) in [d.args for d in seen]
    assert "knee_b.h5, slice 2" in explorer.mix.label  # the middle slice by default
    assert explorer.selection == {"acceleration": 4, "volume": 1, "slice": 2}
    assert explorer.checkpoints == {"sn": str(tmp_path / "sn_finetuned.pt"), "sn_gan": str(tmp_path / "sn_gan.pt")}
    first = explorer.reconstruction(0.0).copy()
    live = explorer.mix.live
    # switching slice, volume and acceleration keeps the models and recomputes the images
    assert explorer.select(slice=0) == {"acceleration": 4, "volume": 1, "slice": 0}
    assert "knee_b.h5, slice 0" in explorer.mix.label and not np.array_equal(explorer.reconstruction(0.0), first)
    assert explorer.select(volume=0) == {"acceleration": 4, "volume": 0, "slice": 1}  # a new volume: middle slice
    assert explorer.select(acceleration=8)["acceleration"] == 8 and "8x" in explorer.mix.label
    assert explorer.mix.live is live
    np.testing.assert_array_equal(explorer.difference(0.0), np.zeros_like(first))
    # a bad request changes nothing
    before = dict(explorer.selection)
    for bad, match in (
        (dict(slice=3), "slice"),
        (dict(volume="knee_z.h5"), "volume"),
        (dict(acceleration=6), "acceleration"),
    ):
        with pytest.raises(ValueError, match=match):
            explorer.select(**bad)
        assert explorer.selection == before
    with pytest.raises(ValueError, match="slice"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume=0, slice=3)
    with pytest.raises(ValueError, match="volume"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume="knee_z.h5")
    with pytest.raises(FileNotFoundError, match="make data"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "nowhere")
    # the widget offers the three controls; moving one shows the new slice
    assert explorer.widget is not None
    w = explorer.widgets
    before_png = w["reference"].value
    w["slice"].value = 0
    assert explorer.selection["slice"] == 0 and bytes(w["reference"].value) != bytes(before_png)
    assert "slice 0" in w["title"].value
    w["volume"].value = 1
    assert explorer.selection == {"acceleration": 8, "volume": 1, "slice": 2} and w["slice"].max == 3


def per_acceleration_checkpoints(folder, sn, gan, pretrained=None) -> None:
    """The SN, the SN-GAN of every acceleration (``gan``) and, for AF 8, an SN-GAN of its own that
    holds the SN's weights (``sn_gan_af8.pt``, stage finetune_gan): at AF 8 alpha = 1 is the SN."""
    from recon_lib.models.checkpoint import save_checkpoint

    save_checkpoint(folder / "sn_finetuned.pt", sn, {"stage": "finetune_sn", "accelerations": [4, 8]})
    save_checkpoint(folder / "sn_gan.pt", gan, {"stage": "finetune_gan", "accelerations": [4, 8]})
    af8 = {"stage": "finetune_gan", "accelerations": [4, 8], "shipped_for": 8}
    save_checkpoint(folder / "sn_gan_af8.pt", sn, af8)
    if pretrained is not None:
        save_checkpoint(folder / "sn_pretrained.pt", pretrained, {"stage": "pretrain", "accelerations": [4, 8]})


def test_switching_acceleration_switches_the_sn_gan_end_point(standin, tmp_path, monkeypatch):
    import recon_lib.models.checkpoint as checkpoint

    sn, gan, item = standin
    per_acceleration_checkpoints(tmp_path, sn, gan)
    (tmp_path / "knee" / "test").mkdir(parents=True)
    fake_knee(item, monkeypatch)
    loads: list[str] = []
    real = checkpoint.load_role_model
    monkeypatch.setattr(
        checkpoint, "load_role_model", lambda path, *a, **k: loads.append(path.name) or real(path, *a, **k)
    )

    explorer = AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume=1, acceleration=4)
    assert sorted(loads) == ["sn_finetuned.pt", "sn_gan.pt", "sn_gan_af8.pt"]  # each file once
    assert explorer.checkpoints["sn_gan"] == str(tmp_path / "sn_gan.pt")
    at4 = explorer.reconstruction(1.0).copy()
    assert not np.allclose(at4, explorer.reconstruction(0.0))  # AF 4: the shared SN-GAN, not the SN
    explorer.view(0.3)

    explorer.select(acceleration=8)  # AF 8: its own SN-GAN, here the SN's weights
    assert explorer.checkpoints == {"sn": str(tmp_path / "sn_finetuned.pt"), "sn_gan": str(tmp_path / "sn_gan_af8.pt")}
    assert explorer.state()["checkpoints"]["sn_gan"].endswith("sn_gan_af8.pt")
    assert set(explorer.cached_alphas()) == {0.0, 0.5, 1.0}  # the corners and the warm-up, nothing of AF 4
    np.testing.assert_array_equal(explorer.reconstruction(1.0), explorer.reconstruction(0.0))
    np.testing.assert_allclose(explorer.reconstruction(0.3), explorer.reconstruction(0.0), rtol=0, atol=1e-5)
    assert explorer.metrics(1.0, "blend")["psnr"] == pytest.approx(explorer.metrics(0.0)["psnr"])

    explorer.select(acceleration=4)  # back: the shared SN-GAN again, the same image as before
    assert explorer.checkpoints["sn_gan"] == str(tmp_path / "sn_gan.pt")
    np.testing.assert_array_equal(explorer.reconstruction(1.0), at4)
    assert len(loads) == 3  # switching loads nothing


def test_without_per_acceleration_files_every_acceleration_shares_the_sn_gan(standin, tmp_path, monkeypatch):
    sn, gan, item = standin
    per_acceleration_checkpoints(tmp_path, sn, gan)
    (tmp_path / "sn_gan_af8.pt").unlink()
    (tmp_path / "knee" / "test").mkdir(parents=True)
    fake_knee(item, monkeypatch)
    explorer = AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee", volume=1, acceleration=4)
    interpolator = explorer.mix._interpolator
    explorer.select(acceleration=8)
    assert explorer.mix._interpolator is interpolator  # one set of end models, as before
    assert explorer.checkpoints["sn_gan"] == str(tmp_path / "sn_gan.pt")
    assert not np.allclose(explorer.reconstruction(1.0), explorer.reconstruction(0.0))


def test_a_per_acceleration_sn_gan_shipped_for_another_acceleration_is_refused(standin, tmp_path, monkeypatch):
    from recon_lib.models.checkpoint import CheckpointError, save_checkpoint

    sn, gan, item = standin
    per_acceleration_checkpoints(tmp_path, sn, gan)
    save_checkpoint(tmp_path / "sn_gan_af8.pt", sn, {"stage": "finetune_gan", "shipped_for": 4})
    (tmp_path / "knee" / "test").mkdir(parents=True)
    fake_knee(item, monkeypatch)
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt records shipped_for 4"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee")
    save_checkpoint(tmp_path / "sn_gan_af8.pt", sn, {"stage": "finetune_sn"})  # not an SN-GAN at all
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt holds stage 'finetune_sn'"):
        AlphaExplorer.from_checkpoints(tmp_path, tmp_path / "knee")


def test_a_single_slice_explorer_cannot_switch(explorer):
    with pytest.raises(ValueError, match="holds one slice"):
        explorer.select(slice=1)


def test_export_writes_png_json_csv_atomically(explorer, tmp_path):
    import json

    explorer.set_alpha(0.5)
    paths = explorer.export(tmp_path / "out")
    assert [p.suffix for p in paths] == [".png", ".json", ".csv"] and all(p.is_file() for p in paths)
    state = json.loads(paths[1].read_text())
    assert state["alpha"] == 0.5 and state["weights"] == {"sn": 0.5, "sn_gan": 0.5}
    assert state["crop_box"] == list(explorer.crop_box)
    assert state["metrics"]["network"]["psnr"] == pytest.approx(explorer.metrics(0.5)["psnr"])
    rows = paths[2].read_text().splitlines()
    assert rows[0].startswith("kind,alpha,psnr") and rows[1].startswith("network,0.5,") and len(rows) == 3
    assert Image.open(paths[0]).size[0] > 100
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no temporary file left behind


def test_difference_view_and_metric_curve(explorer):
    np.testing.assert_allclose(explorer.difference(1.0), explorer.reconstruction(1.0) - explorer.reconstruction(0.0))
    np.testing.assert_allclose(
        explorer.difference(0.3, kind="blend"), explorer.image_blend(0.3) - explorer.reconstruction(0.0)
    )
    curve = explorer.metric_curve([0.0, 0.5, 1.0])
    assert [c["alpha"] for c in curve] == [0.0, 0.5, 1.0] and curve[1] == explorer.metrics(0.5)
    png = explorer.rendered(explorer.view(1.0)).png["network_difference"]
    assert Image.open(io.BytesIO(png)).mode == "RGB"


def test_metric_curve_follows_the_cache_and_marks_the_current_alpha(explorer):
    import re

    assert explorer.widget is not None  # builds the widgets; alpha 0 shown
    first = explorer.widgets["curve"].value
    assert 'data-alpha="0.00"' in first
    explorer.set_alpha(0.3)
    html = explorer.widgets["curve"].value
    assert 'data-alpha="0.30"' in html and html.count('class="alpha-marker"') == 3  # PSNR, SSIM, HF ratio
    computed = sorted(explorer.cached_alphas())
    for path in ("network", "blend"):
        found = re.findall(rf'data-path="{path}" data-alphas="([^"]*)"', html)
        assert found == [",".join(f"{a:.2f}" for a in computed)] * 3
    # the PSNR chart's network points are ordered like the metric values: the highest PSNR sits highest
    svg = html.split('data-metric="psnr"')[1].split("</svg>")[0]
    ys = [float(y) for y in re.findall(r'<circle cx="[^"]*" cy="([^"]*)"', svg)]
    values = [explorer.metrics(a)["psnr"] for a in computed]
    assert np.argmin(ys) == int(np.argmax(values)) and np.argmax(ys) == int(np.argmin(values))


def test_curve_rejects_an_unknown_metric():
    from recon_lib.teaching.explorer.curve import curve_svg

    with pytest.raises(ValueError, match="unknown curve metric 'vif'"):
        curve_svg([(0.0, {"psnr": 1.0}, {"psnr": 1.0})], 0.0, metrics=["vif"])


def test_nice_ceiling_puts_the_colour_bar_at_most_a_third_above_the_data():
    """Notebook 06's difference bar: a 10.3 % change had a 20 % bar (1-2-2.5-5 steps)."""
    from recon_lib.teaching.explorer.display import nice_ceiling

    assert nice_ceiling(10.3) == 12.0 and nice_ceiling(8.6) == 10.0 and nice_ceiling(0.012) == 0.012
    for value in np.geomspace(1e-6, 1e6, 2001):
        assert 1 <= nice_ceiling(value) / value <= 1.34, value


def test_the_truths_texture_curve_appears_where_the_slice_has_a_noise_free_image(standin):
    """Issue 26: the perception axis (HF energy against the noise-free truth) is a metric and a curve of
    the explorer where the slice has a truth, computed with each cached point; absent otherwise."""
    from pathlib import Path

    from scipy import ndimage

    from recon_lib.metrics.quality import high_frequency_energy_ratio
    from recon_lib.teaching.explorer.slices import SliceSource

    sn, gan, item = standin
    truth = torch.from_numpy(ndimage.gaussian_filter(item["target"].numpy(), 1.0))
    explorer = AlphaExplorer(sn, gan, item | {"noise_free": truth})
    fg = explorer.mix.batch["foreground"]
    expected = high_frequency_energy_ratio(truth.numpy().astype(np.float64), explorer.reconstruction(0.5), mask=fg)
    assert explorer.metrics(0.5)["hf_ratio_truth"] == pytest.approx(expected)
    assert explorer.widget is not None
    explorer.set_alpha(0.5)
    html = explorer.widgets["curve"].value
    assert html.count('class="alpha-marker"') == 4 and 'data-metric="hf_ratio_truth"' in html
    assert "HF ratio vs truth" in explorer.widgets["metrics"].value
    plain = AlphaExplorer(sn, gan, item)  # no truth: no such metric, row or curve
    assert "hf_ratio_truth" not in plain.metrics(0.5)
    assert plain.widget is not None and 'data-metric="hf_ratio_truth"' not in plain.widgets["curve"].value
    assert "HF ratio vs truth" not in plain.widgets["metrics"].value
    # the shipped dataset's slices carry their truth
    source = SliceSource(Path(__file__).resolve().parents[1] / "data" / "knee", "test", [4])
    sample = source.item(4, 0, 3)
    stored = source.dataset(4).noise_free(0)[3]
    np.testing.assert_array_equal(sample["noise_free"].numpy(), stored.astype(np.float32))
