"""The alpha explorer's static outputs: a matplotlib grid (for where widgets do not render) and the export.

:class:`ExplorerFigures` adds :meth:`~ExplorerFigures.static_grid` and :meth:`~ExplorerFigures.export`
to the view-model :class:`~recon_lib.teaching.explorer_model.ExplorerModel`; the widget app
:class:`recon_lib.teaching.explorer.AlphaExplorer` builds on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recon_lib.models.interpolation import check_alpha
from recon_lib.teaching.explorer_model import METRICS, ExplorerModel, nice_ceiling

__all__ = ["ExplorerFigures"]


class ExplorerFigures(ExplorerModel):
    """:class:`~recon_lib.teaching.explorer_model.ExplorerModel` with a static figure and an export."""

    # ---- export --------------------------------------------------------------------------------
    def export(self, folder: str | os.PathLike) -> list[Path]:
        """Write the current view so that a figure in a report can be re-made.

        Files (names carry volume, slice, acceleration and alpha): ``.png`` (the static grid at the
        current alpha), ``.json`` (:meth:`~recon_lib.teaching.explorer_model.ExplorerModel.state`:
        checkpoints, weights, selection, crop box and the metrics) and ``.csv`` (the metrics of both
        paths, one row each). Each file is written to a temporary name and renamed when complete.

        Returns:
            The three paths.
        """
        import csv
        import json

        import matplotlib.pyplot as plt

        from recon_lib.core.atomic import atomic_path

        state = self.state()
        sel = state["selection"]
        parts = [Path(str(self._batch["label"]).split(",")[0]).stem or "slice"]
        if sel:
            parts += [f"s{sel['slice']}", f"af{sel['acceleration']}"]
        stem = "explorer_" + "_".join(parts) + f"_a{self._alpha:.2f}"
        folder = Path(folder)
        paths = [folder / f"{stem}.{ext}" for ext in ("png", "json", "csv")]
        fig = self.static_grid((self._alpha,))
        try:
            with atomic_path(paths[0]) as tmp:
                fig.savefig(tmp, format="png", dpi=100)
        finally:
            plt.close(fig)
        with atomic_path(paths[1]) as tmp:
            Path(tmp).write_text(json.dumps(state, indent=1))
        with atomic_path(paths[2]) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            names = list(METRICS)
            writer.writerow(["kind", "alpha", *names])
            for kind in ("network", "blend"):
                writer.writerow([kind, self._alpha, *(state["metrics"][kind][k] for k in names)])
        return paths

    # ---- static fallback -----------------------------------------------------------------------
    def static_grid(self, alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> Any:
        """A matplotlib figure of the comparison at a few alphas (for where widgets do not render).

        Rows: the reference; the interpolated network (full slice with the crop box, then the
        zoom); image blending (zoom); the signed difference ``|x(alpha)| - |x_SN|`` of the network
        (zoom) on its own symmetric colour scale (red: brighter than the SN, blue: darker), shared by
        the columns. Titles carry PSNR / SSIM of each image.

        Args:
            alphas: one or more values in ``[0, 1]``.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        if isinstance(alphas, (int, float)) or len(alphas) == 0:
            raise ValueError(f"alphas must be a non-empty sequence of values in [0, 1], got {alphas!r}")
        values = [check_alpha(a) for a in alphas]
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        views = [self._view(a) for a in values]
        top, left, h, w = self.crop_box
        n = len(views)
        rh, rw = self._batch["reference"].shape
        panel = 2.1
        fig, axes = plt.subplots(
            4,
            n + 1,
            figsize=(panel * (n + 1), panel * (rh / rw + 3 * h / w) + 1.2),
            dpi=80,
            squeeze=False,
            layout="constrained",
            height_ratios=[rh / rw, h / w, h / w, h / w],
        )
        vmax = self._display_max
        ref = self._batch["reference"]

        def show(ax: Any, image: np.ndarray, title: str, box: bool = False, crop: bool = False) -> None:
            shown = image[top : top + h, left : left + w] if crop else image
            ax.imshow(shown, cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
            if box:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor="#ffcc00", linewidth=1.2))
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])

        show(axes[0, 0], ref, "reference", box=True)
        show(axes[1, 0], ref, "reference (zoom)", crop=True)
        axes[2, 0].axis("off")
        axes[2, 0].text(
            0.5, 0.5, "rows 2-4: zoom\nnetwork interp.\nvs image blend", ha="center", va="center", fontsize=9
        )
        # in per cent of the display's white level, so the numbers read without knowing the scan's scale
        diffs = [100 * self.difference(v.alpha)[top : top + h, left : left + w] / vmax for v in views]
        limit = nice_ceiling(max(float(np.abs(d).max()) for d in diffs) or 1e-12)
        axes[3, 0].axis("off")
        axes[3, 0].text(
            0.5,
            0.5,
            "|x(α)| − |x_SN|\n(zoom, own scale)\nred: brighter\nblue: darker",
            ha="center",
            va="center",
            fontsize=9,
        )
        shown = None
        for j, view in enumerate(views, start=1):
            m, b = view.network_metrics, view.blend_metrics
            show(axes[0, j], view.network, f"θ(α={view.alpha:.2f})\n{m['psnr']:.2f} dB / {m['ssim']:.4f}", box=True)
            show(axes[1, j], view.network, "network interp. (zoom)", crop=True)
            show(axes[2, j], view.blend, f"image blend (zoom)\n{b['psnr']:.2f} dB / {b['ssim']:.4f}", crop=True)
            shown = axes[3, j].imshow(diffs[j - 1], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            axes[3, j].set_title(f"α={view.alpha:.2f} − SN\nmax |Δ| {np.abs(diffs[j - 1]).max():.2g} %", fontsize=9)
            axes[3, j].set_xticks([])
            axes[3, j].set_yticks([])
        assert shown is not None
        fig.colorbar(shown, ax=axes[3, 1:].tolist(), shrink=0.9, label="Δ (% of white level)")
        fig.suptitle("Network interpolation vs image blending (PSNR / SSIM on the foreground)", fontsize=11)
        return fig
