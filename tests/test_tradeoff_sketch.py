"""The perception–distortion sketch: a convex decreasing bound under every measured point, the axes named,
the measured α path drawn where the sweep puts it."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from recon_lib.evaluation.sweep_plot import texture_gap
from recon_lib.teaching.plotting import plot_perception_distortion_sketch
from recon_lib.teaching.plotting.tradeoff import sketch_bound

matplotlib.use("Agg")

SWEEP = Path(__file__).resolve().parents[1] / "docs" / "results" / "evaluation" / "alpha_sweep.json"


def _records() -> list[dict]:
    """A small sweep: a trade-off at AF 4, a bend at AF 8, and an image-blending path."""
    out = []
    for af, nmse, gap in (
        (4, (0.010, 0.011, 0.013), (0.30, 0.18, 0.05)),
        (8, (0.030, 0.029, 0.0295), (0.6, 0.5, 0.45)),
    ):
        for mode in ("network", "image"):
            for alpha, d, g in zip((0.0, 0.5, 1.0), nmse, gap, strict=True):
                ratio = {"hf_energy_ratio": 0.9 - g, "hf_energy_ratio_truth": 1 - g}  # the gap is against the truth
                out.append({"mode": mode, "acceleration": af, "alpha": alpha, "nmse": d, **ratio})
    return out


def _bound(d, d_min, d_zero, p_top):
    return p_top * np.clip((d_zero - np.asarray(d)) / (d_zero - d_min), 0, None) ** 2


def test_the_bound_is_convex_decreasing_and_passes_under_every_point():
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(0.01, 0.02, 12), rng.uniform(0.05, 0.5, 12)])
    d_min, d_zero, p_top = sketch_bound(points)
    assert d_min < points[:, 0].min() and d_zero > points[:, 0].max() and p_top > 0
    assert np.all(_bound(points[:, 0], d_min, d_zero, p_top) <= 0.8 * points[:, 1] + 1e-12)
    d = np.linspace(d_min, d_zero, 50)
    p = _bound(d, d_min, d_zero, p_top)
    assert np.all(np.diff(p) <= 0) and np.all(np.diff(p, 2) >= -1e-12), "decreasing and convex"
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        sketch_bound(np.zeros((3, 3)))


@pytest.mark.parametrize("af", [4, 8])
def test_the_sketch_names_its_axes_and_draws_the_measured_path(af):
    records = _records()
    fig = plot_perception_distortion_sketch(records, acceleration=af)
    (ax,) = fig.axes
    assert "distortion" in ax.get_xlabel() and "NMSE" in ax.get_xlabel()
    assert "perception" in ax.get_ylabel() and "texture gap" in ax.get_ylabel()
    rows = sorted((r for r in records if r["acceleration"] == af and r["mode"] == "network"), key=lambda r: r["alpha"])
    expected = np.array([[r["nmse"], texture_gap(r)] for r in rows])
    path = next(line for line in ax.lines if line.get_label().startswith("interpSN"))
    assert np.allclose(np.column_stack(path.get_data()), expected)
    labels = [t.get_text() for t in ax.texts]
    assert "SN (α = 0)" in labels and "SN-GAN (α = 1)" in labels
    assert any("unattainable" in t for t in labels)
    bound = next(line for line in ax.lines if line.get_label().startswith("the bound"))
    d, p = bound.get_data()
    assert np.all(np.interp(expected[:, 0], d, p) < expected[:, 1]), "every measured point lies above the bound"
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_the_shipped_sweep_draws_and_a_missing_acceleration_is_named():
    records = json.loads(SWEEP.read_text())
    records = records["records"] if isinstance(records, dict) else records
    fig = plot_perception_distortion_sketch(records, acceleration=4)
    assert fig.axes[0].get_title().endswith("AF 4")
    with pytest.raises(ValueError, match="no 'network' records at AF 6"):
        plot_perception_distortion_sketch(records, acceleration=6)
