"""The alpha sweep's figures: each metric against alpha, and the perception-distortion plane.

The plane's perception axis is a texture statistic, not a full-reference index (issue 26): the
**texture gap** ``|1 - HF-energy ratio|`` against the noise-free truth (against the SENSE reference
where the data have no truth). The ratio compares the *amount* of fine detail with the truth's, not
where each pixel lies, so it is a property of the image's distribution, in the spirit of Blau &
Michaeli's perception; VIF, SSIM and PSNR compare pixel by pixel and stay on the distortion side.
0 is the truth's texture; too little (an over-smoothed SN) and too much (invented detail, noise)
both count. The held-out critic (:mod:`recon_lib.evaluation.critic`) is the other perception
measure; it scores methods, not every alpha of the sweep.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_alpha_sweep", "texture_gap"]


def texture_gap(record: dict[str, Any]) -> float:
    """``|1 - HF-energy ratio|`` of a sweep record, against the truth when it has one (0 = the truth's texture).

    Example:
        >>> texture_gap({"hf_energy_ratio": 0.8, "hf_energy_ratio_truth": 0.9}), texture_gap({"hf_energy_ratio": 1.2})
        (0.09999999999999998, 0.19999999999999996)
    """
    return abs(1.0 - float(record.get("hf_energy_ratio_truth", record["hf_energy_ratio"])))


def plot_alpha_sweep(records: list[dict[str, Any]], acceleration: int | None = None):
    """Two figures: each metric against alpha, and the perception-distortion plane.

    Returns:
        ``(fig_metrics, fig_plane)``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    afs = sorted({r["acceleration"] for r in records}) if acceleration is None else [acceleration]
    candidates = [
        ("psnr", "PSNR (dB) ↑"),
        ("ssim", "SSIM ↑"),
        ("vif", "VIF ↑"),
        ("haarpsi", "HaarPSI ↑"),
        ("gmsd", "GMSD ↓"),
        ("hf_energy_ratio", "HF energy ratio (1 = reference)"),
    ]
    metrics = [(k, label) for k, label in candidates if k in records[0]]
    # three panels a row (legible at notebook width: ~270 px each), one block of rows per AF
    ncols = min(3, len(metrics))
    per_af = -(-len(metrics) // ncols)
    fig_m, grid = plt.subplots(
        per_af * len(afs), ncols, figsize=(3.1 * ncols, 2.5 * per_af * len(afs)), squeeze=False, dpi=90
    )
    axes = [[grid[i * per_af + j // ncols][j % ncols] for j in range(len(metrics))] for i in range(len(afs))]
    for k in range(len(metrics), per_af * ncols):  # unused panels of each block
        for i in range(len(afs)):
            grid[i * per_af + k // ncols][k % ncols].axis("off")
    fig_p, paxes = plt.subplots(1, len(afs), figsize=(4.6 * len(afs), 4.0), squeeze=False, dpi=90)
    styles = {
        "network": dict(color="tab:blue", marker="o", label="network interpolation (θ space)"),
        "image": dict(color="tab:orange", marker="s", label="image blending (pixel space)"),
    }
    for i, af in enumerate(afs):
        for mode, style in styles.items():
            rows = sorted(
                (r for r in records if r["acceleration"] == af and r["mode"] == mode), key=lambda r: r["alpha"]
            )
            if not rows:
                continue
            a = [r["alpha"] for r in rows]
            for j, (key, label) in enumerate(metrics):
                ax = axes[i][j]
                ax.plot(a, [r[key] for r in rows], ms=3, **style)
                ax.set_title(f"{label} · AF {af}", fontsize=9)
                ax.set_xlabel("α  (0 = SN, 1 = SN-GAN)", fontsize=8)
                ax.grid(alpha=0.3)
            ax = paxes[0][i]
            x = [r["nmse"] for r in rows]
            y = [texture_gap(r) for r in rows]
            ax.plot(x, y, ms=4, **style)
            for r, xi, yi in zip(rows, x, y, strict=True):
                if r["alpha"] in (0.0, 0.5, 1.0) and mode == "network":  # once: the two paths nearly coincide
                    ax.annotate(f"α={r['alpha']:g}", (xi, yi), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax = paxes[0][i]
        ax.set_xlabel("distortion: NMSE (lower is better)")
        ax.xaxis.set_major_locator(MaxNLocator(4))  # NMSE ticks are long numbers: few, so they never overlap
        against = "truth" if "hf_energy_ratio_truth" in records[0] else "reference"
        ax.set_ylabel(f"perception: texture gap |1 − HF ratio| vs {against}\n(lower is better)")
        ax.set_title(f"Perception–distortion plane, AF {af}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    paxes[0][0].legend(fontsize=8)
    fig_m.tight_layout()
    fig_p.tight_layout()
    return fig_m, fig_p
