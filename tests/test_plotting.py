"""Teaching figures build on realistic arrays and have the panels, titles and colour bars promised."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import random_complex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from recon_lib.physics.masks import mask_to_tensor, sample_mask  # noqa: E402
from recon_lib.teaching import plotting  # noqa: E402

H, W, C = 160, 160, 15


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def knee_like(seed: int = 0) -> torch.Tensor:
    """A complex (H, W) image with an elliptic object and noise, like a SENSE reference."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    obj = ((xx / 0.7) ** 2 + (yy / 0.9) ** 2 < 1) * (1.0 + 0.3 * np.cos(8 * yy))
    noise = 0.02 * random_complex(H, W, seed=seed).numpy()
    return torch.from_numpy((obj * np.exp(0.4j * xx) + noise).astype(np.complex64))


def n_colorbars(fig: Figure) -> int:
    return sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>")


def image_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_show_images_grid_titles_and_colorbars():
    images = {f"coil {c}": random_complex(1, H, W, seed=c) for c in range(6)}  # (1, H, W) allowed
    fig = plotting.show_images(images, ncols=4, colorbar=True, units="a.u.")
    assert isinstance(fig, Figure)
    assert len(image_axes(fig)) == 6 and n_colorbars(fig) == 6  # unused grid cells removed
    assert [ax.get_title() for ax in image_axes(fig)] == list(images)
    assert all(ax.get_label() != "<colorbar>" or ax.get_ylabel() == "a.u." for ax in fig.axes)
    fig.canvas.draw()


def test_show_images_shared_scale_and_phase():
    ref = knee_like()
    fig = plotting.show_images({"a": ref, "b": 2 * ref}, colorbar="shared", units="a.u.")
    assert len(image_axes(fig)) == 2 and n_colorbars(fig) == 1
    lims = [ax.images[0].get_clim() for ax in image_axes(fig)]
    assert lims[0] == lims[1] and lims[0][1] == pytest.approx(float(2 * ref.abs().max()))
    fig = plotting.show_images({"phase": ref}, part="angle", cmap="twilight", vmin=-np.pi, vmax=np.pi)
    assert image_axes(fig)[0].images[0].get_clim() == (-np.pi, np.pi)
    assert n_colorbars(fig) == 0


def test_show_images_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        plotting.show_images({"volume": torch.zeros(3, H, W)})
    with pytest.raises(ValueError, match="empty"):
        plotting.show_images({})
    with pytest.raises(ValueError, match="vmax"):
        plotting.show_images({"a": torch.zeros(H, W)}, vmax="max")
    with pytest.raises(TypeError, match="images"):
        plotting.show_images({"a": "not an image"})


def test_zoom_crop_layouts():
    ref = knee_like()
    fig = plotting.zoom_crop(ref, box=(40, 50, 48, 48))
    assert len(fig.axes) == 2
    crop = fig.axes[1].images[0].get_array()
    assert crop.shape == (48, 48)
    np.testing.assert_allclose(crop, ref.abs().numpy()[40:88, 50:98], rtol=1e-6)
    fig = plotting.zoom_crop({"reference": ref, "noisy": knee_like(1), "other": knee_like(2)}, box=(40, 50, 48, 48))
    assert len(fig.axes) == 6
    assert len(fig.axes[0].patches) == 1  # the crop box on the full image
    with pytest.raises(ValueError, match="inside the image"):
        plotting.zoom_crop(ref, box=(150, 150, 40, 40))


def test_error_map_is_percent_of_reference_max():
    ref = knee_like()
    rec = ref.clone()
    rec[10, 20] += 0.5 * float(ref.abs().max())  # a 50 % error at one pixel
    fig = plotting.error_map({"rec": rec, "same": ref}, ref, vmax_percent=60)
    assert len(image_axes(fig)) == 2 and n_colorbars(fig) == 1  # one scale, one colour bar
    err = image_axes(fig)[0].images[0].get_array()
    assert float(err.max()) == pytest.approx(50.0, rel=1e-4)
    assert image_axes(fig)[0].images[0].get_clim() == (0.0, 60.0)
    noisy = rec + 0.005 * float(ref.abs().max()) * random_complex(H, W, seed=9)  # ~0.5 % errors + one 50 % pixel
    robust = plotting.error_map({"noisy": noisy}, ref)  # the default scale ignores the single outlier pixel
    assert 0.5 < robust.axes[0].images[0].get_clim()[1] < 5.0
    assert float(image_axes(fig)[1].images[0].get_array().max()) == 0.0
    assert "%" in [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0].get_ylabel()
    with pytest.raises(ValueError, match="shape"):
        plotting.error_map(rec[:100], ref)
    with pytest.raises(ValueError, match="zeros"):
        plotting.error_map(rec, torch.zeros(H, W))


def test_log_kspace_rss_and_coils():
    kspace = random_complex(1, C, 320, 184, seed=4)  # raw teaching geometry, (B, C, H, W)
    fig = plotting.log_kspace(kspace)
    assert len(image_axes(fig)) == 1 and n_colorbars(fig) == 1
    assert "RSS" in image_axes(fig)[0].get_title()
    assert image_axes(fig)[0].images[0].get_array().shape == (320, 184)
    assert "readout" in image_axes(fig)[0].get_ylabel()
    fig = plotting.log_kspace(kspace, coils=[0, 7, 14])
    assert len(image_axes(fig)) == 3 and n_colorbars(fig) == 3
    with pytest.raises(ValueError, match="coil index"):
        plotting.log_kspace(kspace, coils=[15])


def test_mask_and_psf_rows_and_psf_peak():
    m4 = mask_to_tensor(sample_mask(W, 0.08, 4, seed=0))  # (1, 1, 1, W)
    m8 = sample_mask(W, 0.04, 8, seed=0)  # (W,) bool
    fig = plotting.mask_and_psf({"AF 4": m4, "AF 8": m8})
    assert len(image_axes(fig)) == 6 and n_colorbars(fig) == 2
    psf_line = image_axes(fig)[1].lines[0].get_ydata()
    assert float(np.max(psf_line)) == pytest.approx(1.0) and int(np.argmax(psf_line)) == W // 2
    assert "R = " in image_axes(fig)[0].get_title()
    full = plotting.mask_and_psf(np.ones(W))
    side = np.delete(image_axes(full)[1].lines[0].get_ydata(), W // 2)
    assert float(side.max()) < 1e-6  # full sampling: a perfect delta
    with pytest.raises(ValueError, match="0 and 1"):
        plotting.mask_and_psf(np.full(W, 0.5))
    with pytest.raises(ValueError, match="column mask"):
        plotting.mask_and_psf(np.ones((4, W)))


def test_plot_training_log(tmp_path):
    run = tmp_path / "run"
    for stage in ("pretrain", "finetune_sn"):
        (run / stage).mkdir(parents=True)
        with open(run / stage / "log.jsonl", "w") as f:
            for step in range(1, 61):
                f.write(json.dumps({"stage": stage, "epoch": (step - 1) // 30, "step": step, "loss": 1 / step}) + "\n")
                if step % 30 == 0:
                    val = {"psnr": 30 + step / 10, "ssim": 0.8 + step / 1000, "nmse": 0.01}
                    f.write(
                        json.dumps({"stage": stage, "epoch": step // 30, "step": step, "type": "val", **val}) + "\n"
                    )
    fig = plotting.plot_training_log(run)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "validation PSNR", "validation SSIM"]
    assert len(fig.axes[0].lines) == 4  # raw + smoothed per stage
    assert list(fig.axes[1].lines[0].get_ydata()) == [33.0, 36.0]
    fig = plotting.plot_training_log(run / "pretrain" / "log.jsonl", smooth=1)
    assert len(fig.axes[0].lines) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        plotting.plot_training_log(bad)
    with pytest.raises(FileNotFoundError):
        plotting.plot_training_log(tmp_path / "missing.jsonl")


def test_a_training_log_with_an_early_spike_keeps_the_curve_readable(tmp_path):
    """The first steps of a real pre-training log reach ~170 where the rest sits near 1: the loss
    axis must stop near the bulk of the curve and say what it left out."""
    log = tmp_path / "log.jsonl"
    losses = [170.0, 40.0] + [1.0 + 0.1 * np.sin(i) for i in range(400)]
    log.write_text(
        "".join(json.dumps({"stage": "pretrain", "step": i + 1, "loss": v}) + "\n" for i, v in enumerate(losses))
    )
    ax = plotting.plot_training_log(log).axes[0]
    assert ax.get_ylim()[1] < 2.0
    assert "2 steps above the axis (up to 170)" in ax.get_xlabel()
    calm = tmp_path / "calm.jsonl"
    calm.write_text(
        "".join(json.dumps({"stage": "pretrain", "step": i + 1, "loss": 1.0 / (i + 1)}) + "\n" for i in range(50))
    )
    ax = plotting.plot_training_log(calm).axes[0]
    assert ax.get_ylim()[1] >= 1.0 and "above the axis" not in ax.get_xlabel()  # nothing stands out


def test_interpolation_schematic_builds():
    fig = plotting.interpolation_schematic()
    assert len(fig.axes) == 2
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "alpha" in texts and "SN-GAN" in texts
    fig.canvas.draw()


def test_plot_curves():
    hist = torch.tensor([[1.0, 1.0], [0.3, 0.5], [0.1, 0.2]])  # (K + 1, B) like a CG history
    fig = plotting.plot_curves({"AF 4": hist[:, 0], "AF 8": hist[:, 1]}, ylabel="residual", logy=True)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_ylabel() == "residual"
    with pytest.raises(ValueError, match="x has"):
        plotting.plot_curves({"a": [1, 2, 3]}, x=[0, 1])
    with pytest.raises(ValueError, match="1-D"):
        plotting.plot_curves({"a": np.ones((2, 3))})


def test_log_kspace_dict_shares_scale():
    k = random_complex(C, 160, 184, seed=5)
    fig = plotting.log_kspace({"before": k[0], "after": 10 * k[0]})
    assert [ax.get_title() for ax in image_axes(fig)] == ["before", "after"]
    assert image_axes(fig)[0].images[0].get_clim() == image_axes(fig)[1].images[0].get_clim()
    with pytest.raises(ValueError, match="one \\(H, W\\) shape"):
        plotting.log_kspace({"a": k[0], "b": k[0, :100]})
