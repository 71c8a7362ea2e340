"""Paired differences between reconstruction methods with stratified bootstrap confidence intervals.

With a handful of test volumes, "method A beats method B by 1 dB" is only a claim when its
uncertainty is stated. The evaluation scores every method on the same volumes under the same
masks, so differences are *paired*: for each volume, the difference ``A - B`` is averaged over
the volume's masks, and the point estimate is the mean of these per-volume differences.

The confidence interval resamples whole volumes (masks of one volume are not independent; the
volume is the unit of replication), stratified by acquisition: each bootstrap replicate draws,
with replacement, as many PD volumes from the PD volumes and as many PDFS volumes from the PDFS
volumes as the test split holds, so every replicate keeps the split's contrast mix. The interval
is the percentile interval of the replicates' means (Efron & Tibshirani 1993, ch. 13).

With few volumes per stratum the percentile interval is too narrow rather than too wide (it
cannot reach beyond the observed differences): read it as a lower bound on the uncertainty.

References:
    B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "volume_differences",
    "stratified_bootstrap",
    "sign_flip_p_value",
    "paired_differences",
    "differences_markdown",
    "format_interval",
    "differences_side_by_side",
]


def volume_differences(
    rows: Iterable[Mapping[str, Any]], a: str, b: str, metric: str, acceleration: int
) -> dict[str, tuple[str, float]]:
    """Per-volume paired differences ``a - b`` of ``metric`` at one acceleration.

    Args:
        rows: per-(volume, mask) rows as :meth:`recon_lib.metrics.table.MetricTable.to_records` gives them.
        a, b: method names.
        metric: a metric column, e.g. ``"psnr"``.
        acceleration: the acceleration factor.

    Returns:
        ``{volume: (acquisition, mean over the volume's masks of a - b)}``.

    Raises:
        ValueError: a method is missing, or a (volume, mask) row of one method has no partner in
            the other (the comparison would not be paired).
    """
    values: dict[str, dict[tuple[str, int], tuple[str, float]]] = {a: {}, b: {}}
    for r in rows:
        if r["method"] in values and int(r["acceleration"]) == int(acceleration):
            values[r["method"]][(r["volume"], int(r.get("mask_seed", 0)))] = (r["acquisition"], float(r[metric]))
    for method in (a, b):
        if not values[method]:
            raise ValueError(f"no rows of method {method!r} at AF {acceleration:g} (metric {metric!r})")
    unpaired = sorted(set(values[a]) ^ set(values[b]))
    if unpaired:
        volume, seed = unpaired[0]
        raise ValueError(
            f"{a!r} and {b!r} are not paired at AF {acceleration:g}: volume {volume!r} mask_seed {seed} "
            f"is scored for only one of them"
        )
    per_volume: dict[str, list[float]] = defaultdict(list)
    acquisition: dict[str, str] = {}
    for key, (acq, value) in values[a].items():
        per_volume[key[0]].append(value - values[b][key][1])
        acquisition[key[0]] = acq
    return {v: (acquisition[v], float(np.mean(d))) for v, d in per_volume.items()}


def stratified_bootstrap(
    values: Sequence[float], strata: Sequence[str], reps: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval, resampling within each stratum.

    A stratum of one value has no spread to resample: every bootstrap sample repeats it, and the
    interval would look certain where nothing is known. The interval is then undefined
    (``low = high = nan``); :func:`format_interval` prints it as "n/a".

    Returns:
        ``(mean, low, high)``.

    Example:
        >>> stratified_bootstrap([1.0, 1.0, 3.0, 3.0], ["PD", "PD", "PDFS", "PDFS"], reps=200)
        (2.0, 2.0, 2.0)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or len(strata) != x.size:
        raise ValueError(f"values ({x.size}) and strata ({len(strata)}) must be non-empty and of equal length")
    if not np.isfinite(x).all():
        raise ValueError("values must be finite")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    labels = np.asarray(strata)
    if min(int(np.sum(labels == s)) for s in set(strata)) < 2:
        return float(x.mean()), math.nan, math.nan
    rng = np.random.default_rng(seed)
    totals = np.zeros(reps)
    for stratum in sorted(set(strata)):
        group = x[labels == stratum]
        totals += group[rng.integers(0, group.size, size=(reps, group.size))].sum(axis=1)
    means = totals / x.size
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(x.mean()), float(low), float(high)


def sign_flip_p_value(differences: Sequence[float], reps: int = 100_000, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip (permutation) test of "mean difference = 0".

    Under the null hypothesis each volume's difference is as likely to have either sign; the
    p-value is the share of sign assignments whose mean is at least as far from 0 as the observed
    one. Exact (all ``2^n`` assignments) for ``n <= 16`` volumes, else ``reps`` random ones. With
    ``n`` volumes the smallest possible p-value is ``2 / 2^n`` (6 volumes: 0.031).

    Example:
        >>> sign_flip_p_value([1.0, 2.0, 1.5, 0.5, 1.0, 2.5])
        0.03125
    """
    x = np.asarray(differences, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"differences must be a non-empty sequence of finite numbers, got {len(x)} value(s)")
    n = x.size
    if n <= 16:
        codes = np.arange(2**n)[:, None] >> np.arange(n)[None, :] & 1  # every sign pattern
    else:
        codes = np.random.default_rng(seed).integers(0, 2, size=(reps, n))
    means = np.abs(((1 - 2 * codes) * x).mean(axis=1))
    return float(np.mean(means >= abs(x.mean()) - 1e-12))


def paired_differences(
    rows: Sequence[Mapping[str, Any]],
    comparisons: Iterable[tuple[str, str]],
    metrics: Iterable[str] = ("psnr", "ssim"),
    accelerations: Iterable[int] | None = None,
    reps: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Every ``(a, b)`` comparison's mean paired difference and stratified bootstrap CI.

    Returns:
        One record per (acceleration, comparison, metric): ``acceleration``, ``a``, ``b``,
        ``metric``, ``mean``, ``ci_low``, ``ci_high``, ``level``, ``p_value`` (:func:`sign_flip_p_value`
        over the per-volume differences), ``volumes``, ``masks`` (per volume), ``reps``, ``strata``
        (volumes per acquisition). Comparisons whose methods are missing from ``rows`` are skipped.
    """
    afs = sorted({int(r["acceleration"]) for r in rows}) if accelerations is None else list(accelerations)
    methods = {r["method"] for r in rows}
    out = []
    for af in afs:
        for a, b in comparisons:
            if a not in methods or b not in methods:
                continue
            for metric in metrics:
                diffs = volume_differences(rows, a, b, metric, af)
                names = sorted(diffs)
                strata = [diffs[v][0] for v in names]
                mean, low, high = stratified_bootstrap(
                    [diffs[v][1] for v in names], strata, reps=reps, seed=seed, level=level
                )
                masks = sum(1 for r in rows if r["method"] == a and int(r["acceleration"]) == af)
                out.append(
                    {
                        "acceleration": af,
                        "a": a,
                        "b": b,
                        "metric": metric,
                        "mean": mean,
                        "ci_low": low,
                        "ci_high": high,
                        "level": level,
                        "p_value": sign_flip_p_value([diffs[v][1] for v in names]),
                        "volumes": len(names),
                        "masks": masks // len(names),
                        "reps": reps,
                        "strata": {s: strata.count(s) for s in sorted(set(strata))},
                    }
                )
    return out


def differences_markdown(
    records: Sequence[Mapping[str, Any]],
    decimals: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A Markdown table of :func:`paired_differences` records: AF | comparison | metric | mean | CI | p.

    ``labels`` names the metrics (default: the name in capitals); PSNRs (``psnr*``) are in dB.
    """
    digits = {"psnr": 2, "psnr_truth": 2, "ssim": 4, "ssim_truth": 4, **(decimals or {})}
    names = dict(labels or {})
    level = records[0]["level"] if records else 0.95
    lines = [
        f"| AF | Comparison | Metric | Mean difference | {100 * level:g} % CI | p (sign flip) |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        d = digits.get(r["metric"], 3)
        unit = " dB" if r["metric"].startswith("psnr") else ""
        name = names.get(r["metric"], r["metric"].upper())
        lines.append(
            f"| {r['acceleration']} | {r['a']} − {r['b']} | {name} | {r['mean']:+.{d}f}{unit} | "
            f"{format_interval(r['ci_low'], r['ci_high'], d)} | {r['p_value']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def format_interval(low: float | None, high: float | None, decimals: int = 2) -> str:
    """``"[+0.12, +0.34]"``, or ``"n/a (a stratum of one volume)"`` for an undefined interval
    (NaN, or None as the JSON results files store it).

    Example:
        >>> format_interval(0.123, 0.4), format_interval(float("nan"), float("nan"))
        ('[+0.12, +0.40]', 'n/a (a stratum of one volume)')
    """
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "n/a (a stratum of one volume)"
    return f"[{low:+.{decimals}f}, {high:+.{decimals}f}]"


def differences_side_by_side(
    columns: Mapping[str, Sequence[Mapping[str, Any]]],
    comparisons: Iterable[tuple[str, str]],
    accelerations: Iterable[int],
    metric: str = "psnr",
) -> str:
    """A Markdown table of the same paired differences from several sources, one column each.

    For comparing e.g. your own data with the shipped results: ``columns`` maps a column title to
    :func:`paired_differences` records (a results file's ``paired_differences`` too); a comparison a
    source lacks shows "—".

    Example:
        >>> rec = {"a": "SN", "b": "CG", "acceleration": 4, "metric": "psnr", "mean": 1.5,
        ...        "ci_low": 1.0, "ci_high": 2.0}
        >>> print(differences_side_by_side({"here": [rec], "there": []}, [("SN", "CG")], [4]))
        | PSNR difference | AF | here (95 % CI) | there (95 % CI) |
        |---|---:|---:|---:|
        | SN − CG | 4 | +1.50 [+1.00, +2.00] | — |
    """
    digits = 2 if metric.startswith("psnr") else 4
    titles = list(columns)
    lines = [
        f"| {metric.upper()} difference | AF | " + " | ".join(f"{t} (95 % CI)" for t in titles) + " |",
        "|---|---:|" + "---:|" * len(titles),
    ]
    accelerations = list(accelerations)
    for a, b in comparisons:
        for af in accelerations:
            cells = []
            for records in columns.values():
                d = next(
                    (r for r in records if (r["a"], r["b"], int(r["acceleration"]), r["metric"]) == (a, b, af, metric)),
                    None,
                )
                cells.append(
                    "—"
                    if d is None
                    else f"{d['mean']:+.{digits}f} {format_interval(d['ci_low'], d['ci_high'], digits)}"
                )
            lines.append(f"| {a} − {b} | {af} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
