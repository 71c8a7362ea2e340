"""Paired differences and stratified bootstrap confidence intervals (recon_lib.metrics.statistics)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recon_lib.metrics.statistics import (
    differences_markdown,
    paired_differences,
    stratified_bootstrap,
    volume_differences,
)


def rows_for(values: dict[tuple[str, str, str, int], float], af: int = 4) -> list[dict]:
    """Rows ``{(method, volume, acquisition, mask_seed): psnr}`` in MetricTable.to_records form."""
    return [
        {"method": m, "volume": v, "acquisition": a, "acceleration": af, "mask_seed": s, "psnr": x}
        for (m, v, a, s), x in values.items()
    ]


def test_volume_differences_average_each_volumes_masks_and_refuse_unpaired_rows():
    values = {("A", "v1", "PD", 0): 30.0, ("A", "v1", "PD", 1): 32.0, ("B", "v1", "PD", 0): 29.0}
    values |= {("B", "v1", "PD", 1): 30.0, ("A", "v2", "PDFS", 0): 25.0, ("B", "v2", "PDFS", 0): 26.0}
    assert volume_differences(rows_for(values), "A", "B", "psnr", 4) == {"v1": ("PD", 1.5), "v2": ("PDFS", -1.0)}
    del values[("B", "v1", "PD", 1)]
    with pytest.raises(ValueError, match="not paired at AF 4: volume 'v1' mask_seed 1"):
        volume_differences(rows_for(values), "A", "B", "psnr", 4)
    with pytest.raises(ValueError, match="no rows of method 'C'"):
        volume_differences(rows_for(values), "A", "C", "psnr", 4)


def test_stratification_keeps_each_contrasts_share_in_every_replicate():
    # within each stratum the values are constant: a stratified replicate always has the same mean
    values, strata = [1.0, 1.0, 3.0, 3.0, 3.0, 3.0], ["PD", "PD", "PDFS", "PDFS", "PDFS", "PDFS"]
    mean, low, high = stratified_bootstrap(values, strata, reps=2000)
    assert mean == low == high == pytest.approx(14 / 6)
    # ignoring the strata the same values give a wide interval
    _, low_pooled, high_pooled = stratified_bootstrap(values, ["all"] * 6, reps=2000)
    assert high_pooled - low_pooled > 0.5


def test_single_stratum_interval_matches_scipys_percentile_bootstrap():
    x = np.random.default_rng(1).normal(0.8, 1.0, size=24)
    mean, low, high = stratified_bootstrap(x, ["PD"] * x.size, reps=20_000, seed=3)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=4).confidence_interval
    assert mean == pytest.approx(x.mean())
    assert low == pytest.approx(ref.low, abs=0.03) and high == pytest.approx(ref.high, abs=0.03)
    assert stratified_bootstrap(x, ["PD"] * x.size, seed=3) == stratified_bootstrap(x, ["PD"] * x.size, seed=3)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="equal length"):
        stratified_bootstrap([1.0, 2.0], ["PD"])
    with pytest.raises(ValueError, match="finite"):
        stratified_bootstrap([1.0, float("nan")], ["PD", "PD"])
    with pytest.raises(ValueError, match="level"):
        stratified_bootstrap([1.0], ["PD"], level=95)


def test_paired_differences_records_and_markdown():
    rng = np.random.default_rng(0)
    values = {}
    for i in range(6):
        acq = "PD" if i < 3 else "PDFS"
        for s in range(4):
            base = rng.normal(25, 3)  # the mask moves both methods alike: the pairing removes it
            values[("SN", f"v{i}", acq, s)] = base + 2.0 + rng.normal(0, 0.1)
            values[("CG-SENSE", f"v{i}", acq, s)] = base
    records = paired_differences(rows_for(values), [("SN", "CG-SENSE"), ("SN", "missing")], metrics=["psnr"])
    assert len(records) == 1
    r = records[0]
    assert (r["a"], r["b"], r["acceleration"], r["volumes"], r["masks"]) == ("SN", "CG-SENSE", 4, 6, 4)
    assert r["strata"] == {"PD": 3, "PDFS": 3}
    assert r["ci_low"] < r["mean"] < r["ci_high"] and r["mean"] == pytest.approx(2.0, abs=0.1)
    assert r["ci_high"] - r["ci_low"] < 0.3  # paired: the mask-to-mask spread of several dB cancels
    assert "| 4 | SN − CG-SENSE | PSNR | +2.0" in differences_markdown(records)


def test_sign_flip_p_value_is_exact_for_few_volumes():
    from itertools import product

    from recon_lib.metrics.statistics import sign_flip_p_value

    d = [0.8, -0.2, 1.1, 0.4, 0.9]
    # written out: every sign pattern, counted
    observed = abs(np.mean(d))
    flips = [abs(np.mean([s * x for s, x in zip(signs, d, strict=True)])) for signs in product((1, -1), repeat=len(d))]
    assert sign_flip_p_value(d) == pytest.approx(np.mean([f >= observed - 1e-12 for f in flips]))
    assert sign_flip_p_value([1.0] * 6) == pytest.approx(2 / 64)  # the smallest p six volumes allow
    assert sign_flip_p_value([1.0, -1.0]) == 1.0
    assert 0.2 < sign_flip_p_value(np.random.default_rng(0).standard_normal(20)) <= 1  # Monte Carlo beyond 16
    with pytest.raises(ValueError, match="finite"):
        sign_flip_p_value([1.0, float("nan")])


def test_a_stratum_of_one_volume_has_no_interval():
    """With one volume in a stratum every bootstrap sample repeats it: the interval is undefined, not
    a zero-width certainty (the notebooks' two-volume runs, one PD and one PDFS)."""
    from recon_lib.metrics.statistics import format_interval, stratified_bootstrap

    mean, low, high = stratified_bootstrap([0.05, 0.07], ["PD", "PDFS"], reps=500)
    assert mean == pytest.approx(0.06) and np.isnan(low) and np.isnan(high)
    mean, low, high = stratified_bootstrap([0.05, 0.07, 0.02, 0.03], ["PD", "PDFS", "PD", "PDFS"], reps=500)
    assert low <= mean <= high and low < high
    assert format_interval(low, high).startswith("[") and format_interval(None, None).startswith("n/a")


def test_differences_side_by_side_puts_two_sources_in_columns():
    from recon_lib.metrics.statistics import differences_side_by_side

    here = [{"a": "SN", "b": "CG", "acceleration": 8, "metric": "psnr", "mean": 0.67, "ci_low": 0.44, "ci_high": 0.91}]
    shipped = [dict(here[0], mean=0.39, ci_low=None, ci_high=None), dict(here[0], metric="ssim")]
    table = differences_side_by_side({"mine": here, "shipped": shipped}, [("SN", "CG"), ("U", "ZF")], [4, 8])
    rows = table.splitlines()
    assert rows[0] == "| PSNR difference | AF | mine (95 % CI) | shipped (95 % CI) |" and len(rows) == 2 + 4
    assert "| SN − CG | 8 | +0.67 [+0.44, +0.91] | +0.39 n/a (a stratum of one volume) |" in rows
    assert "| SN − CG | 4 | — | — |" in rows and "| U − ZF | 8 | — | — |" in rows
