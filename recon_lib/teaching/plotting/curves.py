"""Curves: training logs and named 1-D histories."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from recon_lib.core.checks import check_int
from recon_lib.teaching.plotting._common import DEFAULT_DPI, ArrayLike, as_dict, pyplot, to_numpy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_training_log", "plot_curves", "plot_gan_selection"]


def _read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not a JSON line ({err.msg})") from None
                if isinstance(rec, dict):
                    records.append(rec)
    return records


def _log_paths(jsonl_path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    items = [jsonl_path] if isinstance(jsonl_path, (str, os.PathLike)) else list(jsonl_path)
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.jsonl")) + sorted(p.glob("*/*.jsonl"))
            if not found:
                raise FileNotFoundError(f"no *.jsonl training logs in {p} or its sub-folders")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"training log {p} not found")
    return paths


def plot_training_log(
    jsonl_path: str | os.PathLike | Sequence[str | os.PathLike],
    smooth: int = 20,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Loss curves and validation metrics from ``recon_lib.training.trainer`` JSONL logs.

    Each log line is either a training step ``{"stage", "epoch", "step", "loss", ...}`` or a
    validation record ``{"stage", "epoch", "step", "type": "val", "psnr", "ssim", "nmse"}``.

    Args:
        jsonl_path: a ``log.jsonl`` file, a list of them, or a run folder (every ``*.jsonl`` in
            it and in its stage sub-folders, e.g. ``runs/teaching``).
        smooth: moving-average window (steps) drawn over the raw loss (1: none).
        dpi: figure resolution.

    Returns:
        The figure with three axes: training loss per step, validation PSNR (dB) and
        validation SSIM per epoch; one colour per stage.
    """
    smooth = check_int("smooth", smooth, minimum=1)
    records = _read_jsonl(_log_paths(jsonl_path))
    train = [r for r in records if r.get("type") != "val" and "loss" in r]
    val = [r for r in records if r.get("type") == "val"]
    if not train and not val:
        raise ValueError(f"no training or validation records in {jsonl_path}")
    stages = list(dict.fromkeys(str(r.get("stage", "run")) for r in train + val))
    colours = {s: f"C{i % 10}" for i, s in enumerate(stages)}
    fig, (ax_l, ax_p, ax_s) = pyplot().subplots(1, 3, figsize=(11, 3.2), dpi=dpi, layout="constrained")
    for stage in stages:
        rows = sorted((r for r in train if str(r.get("stage", "run")) == stage), key=lambda r: r.get("step", 0))
        if rows:
            steps = np.array([r.get("step", i + 1) for i, r in enumerate(rows)], dtype=float)
            loss = np.array([r["loss"] for r in rows], dtype=float)
            ax_l.plot(steps, loss, color=colours[stage], alpha=0.3, linewidth=0.8)
            k = min(smooth, loss.size)
            if k > 1:
                avg = np.convolve(loss, np.ones(k) / k, mode="valid")
                ax_l.plot(steps[k - 1 :], avg, color=colours[stage], linewidth=1.6, label=f"{stage} (mean of {k})")
            else:
                ax_l.plot([], [], color=colours[stage], label=stage)
        vrows = sorted((r for r in val if str(r.get("stage", "run")) == stage), key=lambda r: r.get("epoch", 0))
        if vrows:
            epochs = [r.get("epoch", i + 1) for i, r in enumerate(vrows)]
            for ax, key in ((ax_p, "psnr"), (ax_s, "ssim")):
                ys = [r.get(key, np.nan) for r in vrows]
                ax.plot(epochs, ys, "o-", color=colours[stage], markersize=4, label=stage)
    ax_l.set_title("training loss")
    ax_l.set_xlabel("step (within stage)")
    ax_l.set_ylabel("loss")
    if train:  # after the x label: a clipped axis says so under it
        _clip_loss_spikes(ax_l, np.array([r["loss"] for r in train], dtype=float))
        ax_l.legend(fontsize=7, loc="upper right")
    else:
        ax_l.text(0.5, 0.5, "no training steps logged", ha="center", va="center", transform=ax_l.transAxes)
    for ax, name, unit in ((ax_p, "validation PSNR", "PSNR (dB)"), (ax_s, "validation SSIM", "SSIM")):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        if val:
            epochs = [r.get("epoch", 1) for r in val]
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)  # whole epochs, even for a one-epoch live run
            if max(epochs) - min(epochs) < 12:  # the locator falls back to fractions below two integers
                ax.set_xticks(range(int(min(epochs)), int(max(epochs)) + 1))
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no validation records", ha="center", va="center", transform=ax.transAxes)
    return fig


def _clip_loss_spikes(ax: Any, losses: np.ndarray) -> None:
    """Keep the first steps' spikes (a loss of 100+ before the first update) from flattening the
    curve: the axis stops a little above the 99th percentile, and its label says what it left out."""
    losses = losses[np.isfinite(losses)]
    if losses.size == 0:
        return
    top = float(np.percentile(losses, 99))
    if losses.max() > 2 * top > 0:
        ax.set_ylim(min(0.0, float(losses.min())), 1.15 * top)
        clipped = int((losses > 1.15 * top).sum())
        ax.set_xlabel(f"{ax.get_xlabel()}\n{clipped} steps above the axis (up to {losses.max():.3g})")


def plot_curves(
    curves: Mapping[str, ArrayLike],
    xlabel: str = "iteration",
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = False,
    x: ArrayLike | None = None,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Named 1-D curves on one axes, e.g. CG residuals per iteration or metrics against alpha.

    Args:
        curves: ``{"label": values}``, each a 1-D array/tensor (size-1 dims are squeezed).
        xlabel, ylabel: axis labels (put units in them).
        title: axes title.
        logy: logarithmic y axis.
        x: shared x values (default ``0, 1, 2, ...`` per curve).
        dpi: figure resolution.

    Returns:
        The figure with one axes and one line per curve.
    """
    items = as_dict("curves", curves, "curve")
    xs = None if x is None else np.asarray(to_numpy("x", x), dtype=float).reshape(-1)
    fig, ax = pyplot().subplots(figsize=(5.2, 3.2), dpi=dpi, layout="constrained")
    for label, values in items.items():
        ys = np.squeeze(np.asarray(to_numpy(f"curves[{label!r}]", values), dtype=float))
        if ys.ndim != 1:
            raise ValueError(f"curves[{label!r}] must be 1-D, got shape {ys.shape}")
        if xs is not None and xs.size != ys.size:
            raise ValueError(f"curves[{label!r}] has {ys.size} values but x has {xs.size}")
        ax.plot(np.arange(ys.size) if xs is None else xs, ys, "o-", markersize=3, linewidth=1.2, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_gan_selection(
    jsonl_path: str | os.PathLike, rule: Mapping[str, float] | None = None, dpi: int = DEFAULT_DPI
) -> Figure:
    """The adversarial fine-tune's trade-off as it went, from its training log.

    Left: each snapshot's PSNR change from the starting SN (against the truth, validation split)
    against its PD high-frequency energy over the truth's, one path per acceleration, the shipping
    rule's region shaded and the snapshot that shipped circled (:mod:`recon_lib.training.selection`);
    with ``ship_per_acceleration``, an acceleration's own choice, where it differs, squared on its path.
    Right: the discriminator's held-out patch accuracy over the steps (0.5 = chance).

    Args:
        jsonl_path: the SN-GAN stage's ``log.jsonl`` (rows ``type`` ``selection``, ``shipped``, ``d_val``).
        rule: the shipping rule, ``{"psnr_budget_db", "hf_cap"}`` (the SN-GAN checkpoint's
            ``metadata["selection"]["rule"]``): its region is shaded.

    Raises:
        ValueError: the log holds no snapshot scores (a run without ``snapshot_every``).
    """
    rows = _read_jsonl(_log_paths(jsonl_path))
    scores = {int(r["step"]): r["scores"] for r in rows if r.get("type") == "selection"}
    if not scores:
        raise ValueError(f"{jsonl_path} holds no snapshot scores (rows of type 'selection'): was snapshot_every set?")
    shipped = [int(r["step"]) for r in rows if r.get("type") == "shipped" and "acceleration" not in r]
    # ship_per_acceleration: each acceleration's own choice (rows with "acceleration")
    own = {
        f"{float(r['acceleration']):g}": int(r["step"])
        for r in rows
        if r.get("type") == "shipped" and "acceleration" in r
    }
    checks = [(int(r["step"]), float(r["d_accuracy"])) for r in rows if r.get("type") == "d_val"]
    plt = pyplot()
    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(10.5, 4.0), dpi=dpi, layout="constrained")
    steps = sorted(scores)
    for af in sorted(scores[steps[0]], key=float):
        hf = [scores[s][af]["hf"] for s in steps]
        dpsnr = [scores[s][af]["dpsnr"] for s in steps]
        (line,) = ax.plot(hf, dpsnr, "-o", markersize=3, label=f"AF {float(af):g}")
        ax.annotate(f"step {steps[-1]}", (hf[-1], dpsnr[-1]), fontsize=7, color=line.get_color())
        for s in shipped:
            ax.plot(scores[s][af]["hf"], scores[s][af]["dpsnr"], "o", markersize=11, fillstyle="none", color="black")
        mine = own.get(f"{float(af):g}")
        if mine is not None and mine not in shipped:
            ax.plot(
                scores[mine][af]["hf"],
                scores[mine][af]["dpsnr"],
                "s",
                markersize=12,
                fillstyle="none",
                color=line.get_color(),
                markeredgewidth=1.6,
            )
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.axvline(1.0, color="grey", linewidth=0.6, linestyle=":")
    if rule is not None:
        from matplotlib.patches import Rectangle

        (x0, _), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        budget, cap = float(rule["psnr_budget_db"]), float(rule["hf_cap"])
        low = min(y0, -budget - 0.1)
        ax.add_patch(Rectangle((x0, -budget), cap - x0, y1 - (-budget), color="C2", alpha=0.12, linewidth=0))
        ax.text(x0, -budget, " the rule: ships", fontsize=7, color="C2", va="bottom")
        ax.set_ylim(low, y1)
        ax.set_xlim(x0, max(cap + 0.05, ax.get_xlim()[1]))
    ax.set_xlabel("PD high-frequency energy / truth's (1 = the truth's texture)")
    ax.set_ylabel("PSNR change from the starting SN (dB)")
    title = "snapshots of the fine-tune (circle: shipped)" if shipped else "snapshots of the fine-tune"
    if any(step not in shipped for step in own.values()):
        title = "snapshots (circle: shipped for both AFs; square: an AF's own)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if checks:
        ax_d.plot([s for s, _ in checks], [a for _, a in checks], "-o", markersize=3, color="C3")
    ax_d.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax_d.text(0.01, 0.5, " chance", transform=ax_d.get_yaxis_transform(), fontsize=8, va="bottom", color="grey")
    ax_d.set_ylim(0.4, 1.0)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("held-out patch accuracy")
    ax_d.set_title("the discriminator on validation slices it never trained on", fontsize=10)
    return fig
