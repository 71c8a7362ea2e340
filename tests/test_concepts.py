"""The concept figures compute what they claim: SSIM's terms multiply to the library's SSIM map, and the
cascades end at the SN's output."""

from __future__ import annotations

import numpy as np
import torch

from recon_lib.metrics.ssim import ssim
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.teaching.plotting import cascade_outputs, plot_cascades, plot_ssim_terms
from recon_lib.teaching.plotting.concepts import ssim_terms


def test_the_three_terms_multiply_to_the_librarys_ssim_map():
    rng = np.random.default_rng(0)
    y = rng.random((40, 36))
    x = y + 0.2 * rng.standard_normal((40, 36))
    terms = ssim_terms(x, y, data_range=1.0)
    _, expected = ssim(torch.from_numpy(x)[None], torch.from_numpy(y)[None], 1.0, return_map=True)
    np.testing.assert_allclose(terms["ssim"], expected[0].numpy(), atol=1e-10)
    for key in ("luminance", "contrast", "structure"):
        assert terms[key].max() <= 1 + 1e-12
    assert np.allclose(ssim_terms(y, y, 1.0)["ssim"], 1.0)
    assert len(plot_ssim_terms(y, x, 1.0).axes) == 7  # six panels and the colour bar


def test_the_last_cascade_output_is_the_networks_output():
    torch.manual_seed(0)
    sn = SensitivityNetwork(num_cascades=3, features=4).eval()
    kspace = torch.randn(1, 4, 16, 16, dtype=torch.complex64)
    maps = torch.randn(1, 4, 16, 16, dtype=torch.complex64)
    mask = torch.zeros(1, 1, 1, 16)
    mask[..., ::2] = 1
    kspace = kspace * mask
    stages = cascade_outputs(sn, kspace, maps, mask)
    with torch.inference_mode():
        assert len(stages) == 4 and torch.allclose(stages[-1], sn(kspace, maps, mask))
    figure = plot_cascades(stages, stages[-1][0].abs(), (16, 16), [1.0, 2.0, 3.0, 4.0])
    assert "after cascade 3" in figure.axes[3].get_title()


def test_the_sn_diagram_draws_the_cascades_and_the_blocks_levels():
    from recon_lib.teaching.plotting import sn_diagram

    figure = sn_diagram(num_cascades=5, features=16)
    unrolled, block = figure.axes
    texts = [t.get_text() for t in unrolled.texts]
    assert "5 cascades" in unrolled.get_title()
    assert any("zero-filled" in t for t in texts) and any("output" in t for t in texts)
    for n in (1, 2, 5):  # cascades 1, 2, ..., 5 drawn, 3 and 4 elided
        assert f"cascade {n}" in texts and any(t.startswith(f"DC {n}\n") for t in texts)
    assert "cascade 3" not in texts and any("cdots" in t for t in texts)
    assert any("measured k-space" in t for t in texts)
    labels = " ".join(t.get_text() for t in block.texts)
    for width in ("16 ch", "32 ch", "64 ch", "stride 2", "PixelShuffle", "skip 1", "skip 2", "global residual"):
        assert width in labels
    figure.canvas.draw()  # renders (mathtext included) without error
    small = sn_diagram(num_cascades=2, features=8)
    assert [t.get_text() for t in small.axes[0].texts].count("cascade 2") == 1


def test_the_ssim_titles_say_over_which_region_and_match_the_librarys_masked_ssim():
    rng = np.random.default_rng(1)
    y = rng.random((40, 36))
    x = y + 0.2 * rng.standard_normal((40, 36))
    fg = np.zeros((40, 36), dtype=bool)
    fg[8:30, 6:28] = True
    expected = float(ssim(torch.from_numpy(x)[None], torch.from_numpy(y)[None], 1.0, mask=torch.from_numpy(fg)[None]))
    figure = plot_ssim_terms(y, x, 1.0, foreground=fg)
    assert f"mean over the foreground {expected:.3f}" in figure.axes[2].get_title()
    assert "mean over the map" in plot_ssim_terms(y, x, 1.0).axes[2].get_title()


def test_the_gfactor_figure_summarises_inside_the_foreground():
    from recon_lib.teaching.plotting import plot_gfactor

    g = np.full((20, 20), 1000.0)
    g[5:15, 5:15] = 1.5  # the object
    fg = np.zeros((20, 20), dtype=bool)
    fg[5:15, 5:15] = True
    figure = plot_gfactor({"g": g}, np.ones((20, 20)), foreground=fg)
    assert "median g in the knee = 1.5" in figure.axes[1].get_title()


def test_the_schematics_titles_do_not_overlap():
    from recon_lib.teaching.plotting import interpolation_schematic

    figure = interpolation_schematic()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    left, right = (ax.title.get_window_extent(renderer) for ax in figure.axes)
    assert left.x1 < right.x0
