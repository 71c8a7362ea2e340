"""fastMRI metrics (against NumPy / scikit-image references), foreground masks, texture measures
and the results table."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from recon_lib.metrics.quality import (
    high_frequency_energy_ratio,
    nmse,
    psnr,
    ssim_volume,
    volume_metrics,
)
from recon_lib.metrics.table import MetricTable, acquisition_label

SK = dict(win_size=7, use_sample_covariance=True, gaussian_weights=False, K1=0.01, K2=0.03)


def volume(slices: int = 6, n: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured phantom volume (slices, n, n) and its elliptic foreground mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    fg = (xx / 0.65) ** 2 + (yy / 0.8) ** 2 < 1
    vol = []
    for s in range(slices):
        texture = gaussian_filter(rng.standard_normal((n, n)), 1.5)
        img = fg * (1.0 + 0.1 * s + 0.3 * np.cos(6 * xx + s) * np.sin(4 * yy) + 0.5 * texture) + 0.02
        vol.append(np.abs(img))
    return np.stack(vol), np.broadcast_to(fg, (slices, n, n)).copy()


# ---- fastMRI definitions ------------------------------------------------------------------------
def ref_nmse(gt, pred):
    return np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2


def ref_psnr(gt, pred):
    return peak_signal_noise_ratio(gt, pred, data_range=gt.max())


def ref_ssim(gt, pred):
    return np.mean([structural_similarity(g, p, data_range=gt.max(), **SK) for g, p in zip(gt, pred, strict=True)])


def test_metrics_match_fastmri_definitions_without_mask_and_with_ones_mask():
    gt, _ = volume()
    pred = gt + 0.05 * np.random.default_rng(1).standard_normal(gt.shape)
    ones = np.ones(gt.shape, dtype=bool)
    for mask in (None, ones):
        assert nmse(gt, pred, mask=mask) == pytest.approx(ref_nmse(gt, pred), rel=1e-12)
        assert psnr(gt, pred, mask=mask) == pytest.approx(ref_psnr(gt, pred), rel=1e-12)
        # psnr written out: 20 log10(max) - 10 log10(mse)
        assert psnr(gt, pred, mask=mask) == pytest.approx(
            20 * np.log10(gt.max()) - 10 * np.log10(np.mean((gt - pred) ** 2)), rel=1e-12
        )
        assert ssim_volume(gt, pred, mask=mask) == pytest.approx(ref_ssim(gt, pred), abs=1e-8)
    # torch inputs (float32) give the same numbers up to float32 rounding of the inputs.
    m = volume_metrics(torch.from_numpy(gt).float(), torch.from_numpy(pred).float())
    assert set(m) == {"nmse", "psnr", "ssim"}
    assert m["psnr"] == pytest.approx(ref_psnr(gt, pred), abs=1e-4)
    assert m["ssim"] == pytest.approx(ref_ssim(gt, pred), abs=1e-5)


def test_ssim_runs_in_the_inputs_precision_as_scikit_image_does():
    """Two float32 volumes: SSIM in float32, matching scikit-image on the same float32 arrays (it keeps
    float32 too); float64 (or mixed) inputs: float64. The other metrics always sum in float64."""
    gt, fg = volume()
    pred = gt + 0.05 * np.random.default_rng(1).standard_normal(gt.shape)
    g32, p32 = gt.astype(np.float32), pred.astype(np.float32)
    sk32 = np.mean([structural_similarity(g, p, data_range=g32.max(), **SK) for g, p in zip(g32, p32, strict=True)])
    ours32 = volume_metrics(g32, p32)
    assert ours32["ssim"] == pytest.approx(sk32, abs=1e-6)
    assert ssim_volume(torch.from_numpy(g32), torch.from_numpy(p32)) == ours32["ssim"]
    # float64 of the same float32 values is the exact reference; float32 moves the fourth decimal by far less
    exact = ssim_volume(g32.astype(np.float64), p32.astype(np.float64))
    assert exact == pytest.approx(ref_ssim(g32.astype(np.float64), p32.astype(np.float64)), abs=1e-8)
    assert abs(ours32["ssim"] - exact) < 1e-6
    assert volume_metrics(g32, p32.astype(np.float64))["ssim"] == exact  # mixed precision -> float64
    # masked, too; NMSE and PSNR are float64 sums whatever the input precision
    assert ssim_volume(g32, p32, mask=fg) == pytest.approx(ssim_volume(gt, pred, mask=fg), abs=1e-6)
    assert ours32["nmse"] == pytest.approx(ref_nmse(g32.astype(np.float64), p32.astype(np.float64)), rel=1e-12)


def test_data_range_is_the_volume_max_not_the_slice_max():
    gt, _ = volume()
    gt[0] *= 3.0  # one bright slice sets the volume max
    pred = gt + 0.05 * np.random.default_rng(2).standard_normal(gt.shape)
    per_slice = np.mean([structural_similarity(g, p, data_range=g.max(), **SK) for g, p in zip(gt, pred, strict=True)])
    assert ssim_volume(gt, pred) == pytest.approx(ref_ssim(gt, pred), abs=1e-8)
    assert abs(ssim_volume(gt, pred) - per_slice) > 1e-3
    assert psnr(gt, pred, data_range=1.0) == pytest.approx(-10 * np.log10(np.mean((gt - pred) ** 2)))


def test_masked_metrics_ignore_a_huge_background_error():
    gt, fg = volume()
    rng = np.random.default_rng(3)
    pred = gt + 0.05 * rng.standard_normal(gt.shape)
    # Huge errors in the background, at least 4 pixels away from the foreground, so that no SSIM
    # window centred on the foreground sees them.
    far = np.stack([~_dilate(f, 4) for f in fg])
    bad1, bad2 = pred.copy(), pred.copy()
    bad1[far] += 50.0
    bad2[far] += rng.uniform(0, 500, size=far.sum())
    for metric in (nmse, psnr, ssim_volume):
        a, b, clean = metric(gt, bad1, mask=fg), metric(gt, bad2, mask=fg), metric(gt, pred, mask=fg)
        assert a == pytest.approx(clean, rel=1e-12) and b == pytest.approx(clean, rel=1e-12)
    assert nmse(gt, bad1) > 100 * nmse(gt, bad1, mask=fg)
    # Foreground-only definitions written out.
    assert nmse(gt, bad1, mask=fg) == pytest.approx(ref_nmse(gt[fg], pred[fg]), rel=1e-12)
    mse_fg = np.mean((gt[fg] - pred[fg]) ** 2)
    assert psnr(gt, bad1, mask=fg) == pytest.approx(20 * np.log10(gt.max()) - 10 * np.log10(mse_fg), rel=1e-12)
    expected = []
    for g, p, m in zip(gt, pred, fg, strict=True):
        _, smap = structural_similarity(g, p, data_range=gt.max(), full=True, **SK)
        expected.append(smap[3:-3, 3:-3][m[3:-3, 3:-3]].mean())
    assert ssim_volume(gt, bad1, mask=fg) == pytest.approx(np.mean(expected), abs=1e-10)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def test_slices_without_foreground_are_left_out_of_the_ssim_average():
    gt, fg = volume()
    pred = gt + 0.05 * np.random.default_rng(4).standard_normal(gt.shape)
    fg[0] = False
    L = gt.max()
    assert ssim_volume(gt, pred, mask=fg) == pytest.approx(ssim_volume(gt[1:], pred[1:], data_range=L, mask=fg[1:]))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda g, p, m: nmse(g, p[:, :, :-1]), ValueError, "must match"),
        (lambda g, p, m: psnr(g.astype(complex), p), TypeError, "complex"),
        (lambda g, p, m: ssim_volume(g, p, mask=np.zeros_like(m)), ValueError, "no foreground"),
        (lambda g, p, m: volume_metrics(g, p, mask=m[:, :5]), ValueError, "broadcast"),
        (lambda g, p, m: psnr(np.zeros_like(g), p), ValueError, "data_range"),
        (lambda g, p, m: nmse(g[0, 0], p[0, 0]), ValueError, "slices"),
    ],
)
def test_entry_checks(call, error, match):
    gt, fg = volume(slices=2, n=32)
    with pytest.raises(error, match=match):
        call(gt, gt + 0.1, fg)


# ---- texture measures ---------------------------------------------------------------------------
def test_high_frequency_energy_ratio_orders_blur_identity_and_noise():
    gt, fg = volume(slices=3)
    blurred = np.stack([gaussian_filter(s, 1.0) for s in gt])
    noisy = gt + 0.1 * np.random.default_rng(5).standard_normal(gt.shape)
    for mask in (None, fg):
        assert high_frequency_energy_ratio(gt, gt, mask=mask) == 1.0
        r_blur = high_frequency_energy_ratio(gt, blurred, mask=mask)
        r_more_blur = high_frequency_energy_ratio(gt, np.stack([gaussian_filter(s, 2.0) for s in gt]), mask=mask)
        r_noise = high_frequency_energy_ratio(gt, noisy, mask=mask)
        assert r_more_blur < r_blur < 0.9 and r_noise > 1.1
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_energy_ratio(gt, gt, cutoff=1.5)


# ---- results table ------------------------------------------------------------------------------
ROWS = [
    # method, acquisition, AF, volume, nmse, psnr, ssim
    ("SN", "CORPD_FBK", 4, "a", 0.002, 41.0, 0.96),
    ("SN", "CORPD_FBK", 4, "b", 0.004, 39.0, 0.94),
    ("SN-GAN", "CORPD_FBK", 4, "a", 0.003, 40.0, 0.95),
    ("SN-GAN", "CORPD_FBK", 4, "b", 0.005, 38.0, 0.93),
    ("interpSN", "CORPD_FBK", 4, "a", 0.002, 40.5, 0.97),
    ("interpSN", "CORPD_FBK", 4, "b", 0.004, 39.5, 0.95),
    ("SN", "CORPDFS_FBK", 4, "c", 0.010, 37.0, 0.91),
    ("SN-GAN", "CORPDFS_FBK", 4, "c", 0.012, 36.0, 0.90),
    ("interpSN", "CORPDFS_FBK", 4, "c", 0.011, 36.5, 0.92),
    ("SN", "CORPD_FBK", 8, "a", 0.006, 37.0, 0.93),
    ("SN-GAN", "CORPD_FBK", 8, "a", 0.007, 36.0, 0.92),
    ("interpSN", "CORPD_FBK", 8, "a", 0.0065, 36.5, 0.925),
]


def make_table() -> MetricTable:
    table = MetricTable()
    for method, acq, af, vol, n, p, s in ROWS:
        table.add(method, acq, af, vol, nmse=n, psnr=p, ssim=s)
    return table


def test_acquisition_labels():
    assert acquisition_label("CORPD_FBK") == "PD" and acquisition_label("CORPDFS_FBK") == "PDFS"
    assert acquisition_label("AXT2") == "AXT2"
    with pytest.raises(ValueError, match="reserved"):
        acquisition_label("ALL")


def test_summary_mean_std_and_all_pools_both_acquisitions():
    summary = {(r["acquisition"], r["acceleration"], r["method"]): r for r in make_table().summary()}
    sn_pd4 = summary[("PD", 4, "SN")]
    assert sn_pd4["n"] == 2
    assert sn_pd4["psnr_mean"] == pytest.approx(40.0) and sn_pd4["psnr_std"] == pytest.approx(np.std([41, 39], ddof=1))
    all4 = summary[("ALL", 4, "SN")]
    assert all4["n"] == 3
    assert all4["nmse_mean"] == pytest.approx(np.mean([0.002, 0.004, 0.010]))
    assert all4["ssim_std"] == pytest.approx(np.std([0.96, 0.94, 0.91], ddof=1))
    assert math.isnan(summary[("PDFS", 4, "SN")]["psnr_std"])  # a single volume has no sample std
    assert ("PDFS", 8, "SN") not in summary and summary[("ALL", 8, "SN")]["n"] == 1
    order = [(r["acquisition"], r["acceleration"]) for r in make_table().summary()]
    assert order == sorted(order, key=lambda k: (["PD", "PDFS", "ALL"].index(k[0]), k[1]))


def test_markdown_marks_best_bold_and_second_underlined():
    md = make_table().to_markdown()
    lines = md.strip().splitlines()
    assert lines[0] == "| Data | AF | Method | NMSE | PSNR | SSIM |"
    cells = {}
    current = None
    for line in lines[2:]:
        parts = [c.strip() for c in line.strip("|").split("|")]
        if parts[0]:
            current = (parts[0], parts[1])
        cells[current + (parts[2],)] = parts[3:]
    pd4 = {m: cells[("PD", "4", m)] for m in ("SN", "SN-GAN", "interpSN")}
    # NMSE (lower is better): SN and interpSN tie at 0.0030 -> both bold, SN-GAN not marked.
    assert pd4["SN"][0] == "**0.0030 ± 0.0014**" and pd4["interpSN"][0] == "**0.0030 ± 0.0014**"
    assert pd4["SN-GAN"][0] == "<u>0.0040 ± 0.0014</u>"
    # PSNR: SN and interpSN tie at 40.00 (bold), SN-GAN 39.00 second.
    assert pd4["SN"][1].startswith("**40.00") and pd4["SN-GAN"][1].startswith("<u>39.00")
    # SSIM: interpSN best, SN second, SN-GAN plain.
    assert pd4["interpSN"][2] == "**0.9600 ± 0.0141**"
    assert pd4["SN"][2] == "<u>0.9500 ± 0.0141</u>" and pd4["SN-GAN"][2] == "0.9400 ± 0.0141"
    # ALL, AF 4 pools PD and PDFS volumes: SN NMSE mean of 0.002, 0.004, 0.010.
    assert cells[("ALL", "4", "SN")][0].startswith("**0.0053 ± ")
    assert cells[("PDFS", "4", "SN")][1] == "**37.00 ± n/a**"
    assert cells[("PDFS", "4", "interpSN")][1] == "<u>36.50 ± n/a</u>"
    # Wide layout: one row per acquisition x AF.
    wide = make_table().to_markdown(layout="wide").strip().splitlines()
    assert wide[0].startswith("| Data | AF | SN NMSE | SN PSNR | SN SSIM | SN-GAN NMSE")
    assert len(wide) == 2 + 5  # PD4, PD8, PDFS4, ALL4, ALL8
    assert "**0.9600 ± 0.0141**" in wide[2]


def test_duplicates_and_bad_rows_are_rejected():
    table = make_table()
    with pytest.raises(ValueError, match="duplicate"):
        table.add("SN", "CORPD_FBK", 4, "a", nmse=0.1, psnr=1.0, ssim=0.5)
    with pytest.raises(ValueError, match="exactly the metrics"):
        table.add("SN", "CORPD_FBK", 4, "z", nmse=0.1, psnr=1.0)
    with pytest.raises(ValueError, match="acceleration"):
        table.add("SN", "CORPD_FBK", 4.5, "z", nmse=0.1, psnr=1.0, ssim=0.5)


def test_csv_json_round_trip_and_add_volume(tmp_path):
    table = make_table()
    csv_text = table.to_csv(tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_text() == csv_text
    assert csv_text.splitlines()[0] == (
        "acquisition,acceleration,method,n,masks,nmse_mean,nmse_std,psnr_mean,psnr_std,ssim_mean,ssim_std"
    )
    assert len(table.to_csv(per_volume=True).splitlines()) == 1 + len(ROWS)
    payload = json.loads(table.to_json())
    assert payload["summary"][0]["method"] == "SN" and len(payload["rows"]) == len(ROWS)
    assert any(r["psnr_std"] is None for r in payload["summary"])  # nan -> null
    again = MetricTable.from_records(payload["rows"])
    assert again.to_markdown() == table.to_markdown()
    gt, fg = volume(slices=2, n=48)
    values = again.add_volume("SN", "CORPD_FBK", 4, "new", gt, gt * 0.9, mask=fg)
    assert values == volume_metrics(gt, gt * 0.9, mask=fg) and len(again) == len(ROWS) + 1
    with pytest.raises(ValueError, match="would overwrite"):
        table.to_json(extra={"rows": []})


def test_several_masks_of_a_volume_count_once_in_the_std():
    table = MetricTable()
    for seed, value in enumerate((30.0, 32.0)):
        table.add("SN", "CORPD_FBK", 4, "a", mask_seed=seed, nmse=0.1, psnr=value, ssim=0.9)
    for seed, value in enumerate((26.0, 28.0)):
        table.add("SN", "CORPD_FBK", 4, "b", mask_seed=seed, nmse=0.1, psnr=value, ssim=0.9)
    (pd,) = [r for r in table.summary() if r["acquisition"] == "PD"]
    assert (pd["n"], pd["masks"], pd["psnr_mean"]) == (2, 4, 29.0)
    assert pd["psnr_std"] == pytest.approx(np.std([31.0, 27.0], ddof=1))  # over volume means, not over 4 rows
    with pytest.raises(ValueError, match="duplicate row .* mask_seed=1"):
        table.add("SN", "CORPD_FBK", 4, "b", mask_seed=1, nmse=0.1, psnr=1.0, ssim=0.9)
    with pytest.raises(ValueError, match="mask_seed must be a non-negative integer"):
        table.add("SN", "CORPD_FBK", 4, "c", mask_seed=-1, nmse=0.1, psnr=1.0, ssim=0.9)
