"""An interactive alpha slider for deep network interpolation (ipywidgets, JupyterLab and Voila).

Moving the slider sets the interpolated network

    theta(alpha) = (1 - alpha) * theta_SN + alpha * theta_SN-GAN        (paper Eq. 3)

and shows its reconstruction of one slice, an enlarged crop, the error map against the
reference and the slice's metrics. Beside it the explorer shows *image blending* at the same
alpha, ``|(1 - alpha) x_SN + alpha x_SN-GAN|``: a pixel-wise average of the two end images.
Blending can only mix what the end images already contain (it cross-fades GAN texture into a
smooth image), whereas a network with interpolated weights computes a new image; comparing the
two columns is the point of the demo.

Speed (one alpha change = set the weights, run the network, compute the metrics, encode the
PNGs):

* weights are rewritten in place by :class:`~recon_lib.models.interpolation.ModelInterpolator`;
* the network runs under ``torch.inference_mode``;
* the end models' outputs are computed once (alpha = 0 and 1 are those outputs, exactly);
* every visited alpha (rounded to 1e-4) is kept in an LRU cache, PNGs included, so going back
  costs a dictionary look-up;
* images are encoded as PNG straight from NumPy (a colour-map lookup table, then Pillow; no
  matplotlib figure per change) into ``ipywidgets.Image`` widgets.

:meth:`AlphaExplorer.static_grid` draws the same comparison for a few alphas as one matplotlib
figure, for places where widgets do not render (a static HTML export, a PDF).

Layout (rows x columns)::

                  Reference        Network interp. theta(alpha)   Image blending
    full image    |ref|            |x_theta(alpha)|               |(1-a) x_SN + a x_GAN|
    zoom          crop             crop                           crop
    error         colour scale     ||x| - ref|                    ||x| - ref|

    metrics table (PSNR, SSIM, NMSE, HF-energy ratio) for both, and for SN and SN-GAN.

Stable CSS classes for tests and styling: ``alpha-explorer`` (the container),
``alpha-explorer-slider``, ``alpha-explorer-network-image``, ``alpha-explorer-blend-image``,
``alpha-explorer-metrics`` (an HTML widget holding ``<table class="alpha-explorer-metrics-table"
data-alpha="...">``) and ``alpha-explorer-status``.

References:
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (Eq. 3, Fig. 1).
    X. Wang, K. Yu, C. Dong, X. Tang, C. C. Loy, "Deep network interpolation for continuous
    imagery effect transition", CVPR 2019 (network vs pixel interpolation).
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.models.interpolation import check_alpha
from recon_lib.teaching.explorer_curve import curve_svg
from recon_lib.teaching.explorer_figures import ExplorerFigures
from recon_lib.teaching.explorer_model import METRICS, View
from recon_lib.teaching.explorer_render import GAP, TABLE_STYLE, draw_box, enlarge, lut, png, to_uint8
from recon_lib.teaching.slices import SliceSource
from recon_lib.training.sweep import load_sweep_records

__all__ = ["AlphaExplorer"]

#: the images that change with alpha (widget names = PNG keys)
_VIEW_IMAGES = (
    "network",
    "network_zoom",
    "network_error",
    "network_difference",
    "blend",
    "blend_zoom",
    "blend_error",
    "blend_difference",
)


class AlphaExplorer(ExplorerFigures):
    """Slider app: the interpolated network theta(alpha) next to image blending, on one slice.

    The computation (models, slice, cache, metrics) is :class:`~recon_lib.teaching.explorer_model.ExplorerModel`;
    this class adds the PNG rendering, the ipywidgets app and a static matplotlib fallback.

    Args:
        sn_model, gan_model, sample_batch, crop_box, alpha, cache_size, device, warm_up, source,
            selection: as for :class:`~recon_lib.teaching.explorer_model.ExplorerModel`.
        step: the slider's step.
        panel_width: display width of one image panel in CSS pixels.
        title: the heading shown above the slider (``None``/empty: no heading).
        export_dir: where the app's "Export view" button writes (:meth:`export`).
        background: after each move, compute the slider positions nearest the new alpha in a
            background thread (:meth:`~recon_lib.teaching.explorer_model.ExplorerModel.prefetch`),
            nearest first, so that the next moves are cache hits and the curve fills in.
        validation_sweep: records of :func:`~recon_lib.training.sweep.alpha_sweep` on the
            validation split (or a JSON file of them): enables the automatic-alpha row.

    Example::

        explorer = AlphaExplorer(sn, sn_gan, dataset[12])
        explorer            # in a notebook: the app
        explorer.metrics(0.5)  # {"alpha": 0.5, "psnr": ..., "ssim": ..., "nmse": ..., "hf_energy_ratio": ...}
    """

    def __init__(
        self,
        sn_model: nn.Module,
        gan_model: nn.Module,
        sample_batch: Mapping[str, Any],
        crop_box: tuple[int, int, int, int] | None = None,
        alpha: float = 0.0,
        step: float = 0.05,
        cache_size: int = 64,
        panel_width: int = 190,
        title: str | None = "Network interpolation vs image blending",
        device: torch.device | str | None = None,
        warm_up: bool = True,
        source: SliceSource | None = None,
        selection: Mapping[str, Any] | None = None,
        export_dir: str | os.PathLike = "outputs/explorer",
        background: bool = False,
        validation_sweep: Sequence[Mapping[str, Any]] | str | os.PathLike | None = None,
    ) -> None:
        if not (isinstance(step, (int, float)) and not isinstance(step, bool) and 0 < step <= 1):
            raise ValueError(f"step must be a number in (0, 1], got {step!r}")
        if abs(round(1.0 / step) * step - 1.0) > 1e-9:
            raise ValueError(
                f"step must divide 1 so that the slider reaches alpha = 1 (e.g. 0.05, 0.1, 0.25), got {step!r}"
            )
        if not (isinstance(panel_width, int) and panel_width >= 32):
            raise ValueError(f"panel_width must be an int >= 32 (CSS pixels), got {panel_width!r}")
        self.step = float(step)
        self.panel_width = panel_width
        self.title = title
        self.export_dir = Path(export_dir)
        self.last_update_ms: float | None = None
        self.last_update_cached: bool | None = None
        self._widget: Any = None
        self._widgets: dict[str, Any] = {}
        self._error_lut = lut("inferno")
        self._difference_lut = lut("RdBu_r")
        self.background = bool(background)
        self.auto_score = "haarpsi"
        self.auto_budget_db = 0.3
        self._suggestion: dict[str, Any] | None = None  # select_alpha's choice for the app's settings
        if isinstance(validation_sweep, (str, os.PathLike)):
            validation_sweep = load_sweep_records(validation_sweep)
        super().__init__(
            sn_model,
            gan_model,
            sample_batch,
            crop_box=crop_box,
            alpha=alpha,
            cache_size=cache_size,
            device=device,
            warm_up=warm_up,
            source=source,
            selection=selection,
            validation_sweep=validation_sweep,
        )
        self.on_prefetched = self._prefetched

    # ---- construction from the shipped checkpoints ---------------------------------------------
    @classmethod
    def from_checkpoints(
        cls,
        checkpoint_dir: str | os.PathLike,
        data_root: str | os.PathLike,
        volume: int | str = 0,
        slice: int | None = None,
        acceleration: int = 8,
        split: str = "test",
        sn_name: str = "sn_finetuned.pt",
        gan_name: str = "sn_gan.pt",
        accelerations: Sequence[int] = (4, 8),
        **kwargs: Any,
    ) -> AlphaExplorer:
        """Build the explorer from SN / SN-GAN checkpoints and a prepared dataset; the app can then
        switch acceleration, volume and slice without reloading the models.

        Args:
            checkpoint_dir: folder of ``sn_name`` and ``gan_name`` (the repository ships ``checkpoints/``).
            data_root: the prepared dataset folder (``make data`` writes ``data/knee``).
            volume: index into the split's volumes, or a file name (``"file1000.h5"``).
            slice: slice index inside the volume (default: the middle slice).
            acceleration: undersampling factor of the first slice shown.
            split: the dataset split the slices come from.
            sn_name, gan_name: checkpoint file names.
            accelerations: the accelerations the app offers.
            **kwargs: passed on to the constructor (``crop_box``, ``alpha``, ...).
        """
        from recon_lib.models.checkpoint import load_model

        ckpt = Path(checkpoint_dir)
        paths = [ckpt / sn_name, ckpt / gan_name]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"checkpoint(s) not found: {', '.join(missing)} (the repository ships them in checkpoints/; "
                "train your own with python -m recon_lib.train)"
            )
        source = SliceSource(data_root, split, accelerations=sorted({*accelerations, acceleration}))
        v, s = source.resolve(volume, slice)
        sn_model, _ = load_model(paths[0])
        gan_model, _ = load_model(paths[1])
        item = source.item(acceleration, v, s)
        selection = {"acceleration": int(acceleration), "volume": v, "slice": s}
        explorer = cls(sn_model, gan_model, item, source=source, selection=selection, **kwargs)
        explorer.checkpoints = {"sn": str(paths[0]), "sn_gan": str(paths[1])}
        return explorer

    # ---- rendering -----------------------------------------------------------------------------
    def _grey(self, magnitude: np.ndarray) -> np.ndarray:
        low, high = self.display_range()
        return to_uint8(magnitude, high, low)

    def _png_full(self, magnitude: np.ndarray) -> bytes:
        grey = self._grey(magnitude)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        return png(draw_box(rgb, self.crop_box))

    def _zoom_factor(self) -> int:
        return max(1, int(round(self.panel_width / self.crop_box[3])))

    def _png_zoom(self, magnitude: np.ndarray) -> bytes:
        top, left, h, w = self.crop_box
        crop = self._grey(magnitude[top : top + h, left : left + w])
        return png(enlarge(crop, self._zoom_factor()))

    def _png_error(self, magnitude: np.ndarray) -> bytes:
        error_percent = np.abs(magnitude - self._batch["reference"]) * (100.0 / self._ref_peak)
        return png(self._error_lut[to_uint8(error_percent, self.error_vmax_percent)])

    def _png_difference(self, magnitude: np.ndarray) -> bytes:
        """``|x| - |x_SN|`` in % of the white level on the symmetric diverging scale of the slice."""
        percent = (magnitude - self._x_sn_magnitude()) * (100.0 / self._display_max)
        limit = self.difference_vmax_percent
        return png(self._difference_lut[to_uint8(percent + limit, 2 * limit)])

    def _x_sn_magnitude(self) -> np.ndarray:
        return self._view(0.0).network

    def _rendered(self, view: View) -> View:
        """``view`` with its PNGs (encoded once, on first display)."""
        if not view.png:
            view.png = {
                "network": self._png_full(view.network),
                "network_zoom": self._png_zoom(view.network),
                "network_error": self._png_error(view.network),
                "network_difference": self._png_difference(view.network),
                "blend": self._png_full(view.blend),
                "blend_zoom": self._png_zoom(view.blend),
                "blend_error": self._png_error(view.blend),
                "blend_difference": self._png_difference(view.blend),
            }
        return view

    def _png_colourbar(self, lut: np.ndarray | None = None) -> bytes:
        ramp = np.linspace(255, 0, 128).astype(np.uint8)  # top = maximum
        table = self._error_lut if lut is None else lut
        return png(np.repeat(table[ramp][:, None, :], 18, axis=1))

    # ---- slider ------------------------------------------------------------------------------
    def slider_positions(self) -> list[float]:
        """Every value the slider can take: ``0, step, 2 step, ..., 1``."""
        n = int(round(1.0 / self.step))
        return [min(1.0, i * self.step) for i in range(n + 1)]

    def precompute(self, alphas: Sequence[float] | None = None) -> None:
        """Fill the cache for ``alphas`` (default: every slider position), e.g. before a demo."""
        super().precompute(self.slider_positions() if alphas is None else alphas)

    def set_alpha(self, alpha: float) -> None:
        """Show ``alpha`` (moves the slider if the widget exists; the display follows).

        Raises:
            ValueError: ``alpha`` outside ``[0, 1]``.
        """
        alpha = check_alpha(alpha)
        slider = self._widgets.get("slider")
        if slider is not None and slider.value != alpha:
            slider.value = alpha  # the observer calls _show
        else:
            self._show(alpha)

    def _show(self, alpha: float) -> None:
        """Compute (or fetch) ``alpha`` and push it into the widgets; records the round-trip time."""
        start = time.perf_counter()
        was_cached = self.is_cached(alpha)
        view = self._view(alpha)
        self._alpha = view.alpha
        if self._widgets:
            w = self._widgets
            self._rendered(view)
            for name in _VIEW_IMAGES:
                w[name].value = view.png[name]  # unchanged bytes send nothing
            w["metrics"].value = self._metrics_html(view)
            w["curve"].value = self.curve_html()
        self.last_update_ms = 1000.0 * (time.perf_counter() - start)
        self.last_update_cached = was_cached
        if self._widgets:
            source = "from the cache" if was_cached else "computed"
            self._widgets["status"].value = (
                f'<span class="alpha-explorer-status-text">&alpha; = {view.alpha:.2f} &middot; {source} in '
                f"{self.last_update_ms:.0f} ms</span>"
            )
        if self.background:  # the positions nearest this alpha first
            self.prefetch(sorted(self.slider_positions(), key=lambda a: (abs(a - view.alpha), a)))

    def _prefetched(self) -> None:
        """The background queue drained (worker thread): show the completed curve."""
        curve = self._widgets.get("curve")
        if curve is not None:
            curve.value = self.curve_html()

    def curve_html(self) -> str:
        """The metric curves against alpha (every alpha computed so far) with the current alpha marked."""
        points = [(v.alpha, v.network_metrics, v.blend_metrics) for v in self.cached_views()]
        suggested = None if self._suggestion is None else float(self._suggestion["alpha"])
        return curve_svg(points, self._alpha, width=self.panel_width, suggested=suggested)

    # ---- display settings and the automatic alpha -------------------------------------------------
    def set_window(self, low: float, high: float) -> tuple[float, float]:
        window = super().set_window(low, high)
        self._redisplay()
        return window

    def set_crop_box(self, box: Sequence[int]) -> tuple[int, int, int, int]:
        crop = super().set_crop_box(box)
        self._redisplay()
        return crop

    def _redisplay(self) -> None:
        """The display changed (window, zoom box): re-encode the images, nothing is recomputed."""
        for view in self.cached_views():
            view.png = {}
        if self._widgets:
            w = self._widgets
            w["reference"].value, w["reference_zoom"].value = self._reference_pngs()
            self._show(self._alpha)

    def say(self, message: str) -> None:
        """Show ``message`` in the app's status line (next to the slider)."""
        if "status" in self._widgets:
            self._widgets["status"].value = f'<span class="alpha-explorer-status-text">{html.escape(message)}</span>'

    def _refresh_auto(self) -> None:
        """Choose the automatic alpha for the current AF, score and budget (once per change of one of
        them, not per slider move) and show it: readout and curve marker."""
        if "auto_readout" not in self._widgets:
            return
        choice: dict[str, Any] | None = None
        try:
            choice = self.suggest_alpha(self.auto_budget_db, self.auto_score)
        except ValueError as err:
            self.say(str(err))
        self._suggestion = choice
        self._widgets["auto_readout"].value = (
            ""
            if choice is None
            else f'<span class="alpha-explorer-auto-text" data-alpha="{choice["alpha"]:.2f}">&alpha;* = '
            f"{choice['alpha']:.2f} (validation split, AF {choice['acceleration']}: PSNR "
            f"{choice['psnr_change']:+.2f} dB vs the SN)</span>"
        )
        self._widgets["curve"].value = self.curve_html()

    # ---- widgets -----------------------------------------------------------------------------
    def _column_widths(self) -> tuple[int, int]:
        """(row-label column, image column) widths in CSS pixels; the grid gap is ``GAP``."""
        return 100, self.panel_width

    def _metrics_html(self, view: View) -> str:
        label_w, pw = self._column_widths()
        sn, gan = self._view(0.0).network_metrics, self._view(1.0).network_metrics
        columns = [  # (css key, header, values, width)
            ("sn", "SN<br>&alpha; = 0", sn, (pw + GAP) / 2),
            ("gan", "SN-GAN<br>&alpha; = 1", gan, (pw + GAP) / 2),
            ("network", f"network &theta;(&alpha;)<br>&alpha; = {view.alpha:.2f}", view.network_metrics, pw + GAP),
            ("blend", f"image blend<br>&alpha; = {view.alpha:.2f}", view.blend_metrics, pw),
        ]
        cols = f'<col style="width:{label_w + GAP}px">' + "".join(f'<col style="width:{w:.0f}px">' for *_, w in columns)
        head = "".join(f'<th class="col-{key}">{header}</th>' for key, header, _, _ in columns)
        rows = []
        for metric, (label, fmt, better) in METRICS.items():
            a, b = view.network_metrics[metric], view.blend_metrics[metric]
            if better == "higher":
                win = "network" if a > b else "blend" if b > a else None
            elif better == "lower":
                win = "network" if a < b else "blend" if b < a else None
            else:
                win = "network" if abs(a - 1) < abs(b - 1) else "blend" if abs(b - 1) < abs(a - 1) else None
            cells = "".join(
                f'<td class="col-{key}{" best" if key == win else ""}" data-metric="{metric}">'
                f"{fmt.format(values[metric])}</td>"
                for key, _, values, _ in columns
            )
            rows.append(f'<tr><th scope="row">{label}<span class="hint">{better} is better</span></th>{cells}</tr>')
        total = label_w + 3 * (pw + GAP)
        return (
            f"{TABLE_STYLE}"
            f'<table class="alpha-explorer-metrics-table" data-alpha="{view.alpha:.4f}" style="width:{total}px">'
            f"<colgroup>{cols}</colgroup><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<div class="alpha-explorer-note" style="width:{total}px">Metrics of this slice inside the foreground '
            "(PSNR and SSIM with the volume maximum as data range). <b>Bold</b>: the better of the two ways "
            "to interpolate. HF-energy ratio: high-frequency energy relative to the reference "
            "(&lt; 1 smoother, &gt; 1 more texture or noise).</div>"
        )

    def _reference_pngs(self) -> tuple[bytes, bytes]:
        top, left, h, w = self.crop_box
        ref = self._batch["reference"]
        full = png(draw_box(np.repeat(self._grey(ref)[:, :, None], 3, axis=2), self.crop_box))
        zoom = png(enlarge(self._grey(ref[top : top + h, left : left + w]), self._zoom_factor()))
        return full, zoom

    def _scale_html(self, kind: str, height: int) -> str:
        if kind == "error":
            top, mid, bottom = (
                f"{self.error_vmax_percent:g} %",
                "error |&thinsp;|x| &minus; ref&thinsp;|<br>in % of the reference<br>maximum (fixed scale,<br>"
                "clipped above)",
                "0 %",
            )
        else:
            limit = self.difference_vmax_percent
            top, mid, bottom = (
                f"+{limit:g} %",
                "|x| &minus; |x<sub>SN</sub>|<br>in % of the white<br>level: red brighter,<br>blue darker than SN",
                f"&minus;{limit:g} %",
            )
        return (
            f'<div class="alpha-explorer-scale" style="height:{height}px"><div>{top}</div>'
            f'<div class="mid">{mid}</div><div>{bottom}</div></div>'
        )

    def _title_html(self) -> str:
        label = html.escape(self._batch["label"])
        if self.title:
            sub = f"&ensp;{label}" if label else ""
            return f'<div class="alpha-explorer-title">{html.escape(self.title)}<span class="sub">{sub}</span></div>'
        return f'<div class="alpha-explorer-title"><span class="sub">{label}</span></div>'

    def _refresh_slice(self) -> None:
        """Push a newly selected slice into the widgets (reference, scales, title) and show the current alpha."""
        w = self._widgets
        w["reference"].value, w["reference_zoom"].value = self._reference_pngs()
        for kind in ("error", "difference"):
            w[f"{kind}_scale"].value = self._scale_html(kind, w[f"{kind}_scale"].bar_height)
        w["title"].value = self._title_html()
        if "zoom_row" in w:  # the zoom box may have been re-centred for the new slice
            top, left, h, wd = self.crop_box
            w["zoom_row"].value, w["zoom_col"].value = top + h // 2, left + wd // 2
        self._refresh_auto()
        self._show(self._alpha)

    def _build_widget(self) -> Any:
        from recon_lib.teaching.explorer_app import build_app

        return build_app(self)

    @property
    def widget(self) -> Any:
        """The ipywidgets container of the app (built on first access)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
