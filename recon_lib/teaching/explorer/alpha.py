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

from recon_lib.core.compute import Compute
from recon_lib.evaluation.sweep import load_sweep_records, select_alpha
from recon_lib.models.interpolation import check_alpha
from recon_lib.teaching.explorer.controls import auto_alpha_row, default_auto_score, display_row, selection_row
from recon_lib.teaching.explorer.curve import curve_svg
from recon_lib.teaching.explorer.display import (
    GAP,
    PAGE_STYLE,
    TABLE_STYLE,
    Display,
    box_centred_on,
    box_fits,
    colourbar_png,
    difference_png,
    error_png,
    grey_png,
    lut,
    zoom_png,
)
from recon_lib.teaching.explorer.figures import export_view, static_grid
from recon_lib.teaching.explorer.mixing import KINDS, NetworkMix, Point, alpha_point, check_kind, shown_metrics
from recon_lib.teaching.explorer.slices import SliceSource, open_shipped

__all__ = ["AlphaExplorer", "NAMES", "STAGES"]

#: the two end models' names (the keys of the exported weights)
NAMES = ("sn", "sn_gan")
#: the recipe's stage of each end model (:data:`~recon_lib.models.stages.RECIPE`)
STAGES = ("finetune_sn", "finetune_gan")
#: the image rows of each column: full slice, zoom, error map, change from the SN
_ROWS = ("", "zoom", "error", "difference")


def _png_name(kind: str, row: str) -> str:
    """The widget name (= PNG key) of ``kind``'s image in ``row``: ``network``, ``network_zoom``, ..."""
    return f"{kind}_{row}" if row else kind


#: the images that change with alpha
_VIEW_IMAGES = tuple(_png_name(kind, row) for kind in KINDS for row in _ROWS)
_COLUMNS = (
    (
        "network",
        "Network interpolation",
        "weights (1&minus;&alpha;)&theta;<sub>SN</sub> + &alpha;&theta;<sub>SN-GAN</sub>",
    ),
    ("blend", "Image blending", "pixels |(1&minus;&alpha;)x<sub>SN</sub> + &alpha;x<sub>SN-GAN</sub>|"),
)
#: width of the row-label column in CSS pixels
LABEL_WIDTH = 100


def _check_step(step: float) -> float:
    if not (isinstance(step, (int, float)) and not isinstance(step, bool) and 0 < step <= 1):
        raise ValueError(f"step must be a number in (0, 1], got {step!r}")
    if abs(round(1.0 / step) * step - 1.0) > 1e-9:
        raise ValueError(
            f"step must divide 1 so that the slider reaches alpha = 1 (e.g. 0.05, 0.1, 0.25), got {step!r}"
        )
    return float(step)


class AlphaExplorer:
    """Slider app: the interpolated network theta(alpha) next to image blending, on one slice.

    The computation (models, slice, cache, metrics, prefetch) is :attr:`mix`, a two-model
    :class:`~recon_lib.teaching.explorer.mixing.NetworkMix` at the point ``(1 - alpha, alpha)``; the
    display settings are :attr:`display`; this class is the controller: it owns the widgets
    (:attr:`widgets`, by stable name) and wires them to the two.

    Args:
        sn_model: the SN (alpha = 0): a module ``forward(kspace, maps, mask) -> (B, H, W)`` complex image.
        gan_model: the SN-GAN (alpha = 1), the same architecture, fine-tuned from the same SN.
        sample_batch: one slice (a dataset item, see :class:`~recon_lib.teaching.explorer.mixing.NetworkMix`).
        crop_box: the zoomed region ``(top, left, height, width)`` (default: a centred third of each side).
        alpha: the initial alpha.
        step: the slider's step.
        cache_size: how many alphas the LRU cache keeps (per slice).
        panel_width: display width of one image panel in CSS pixels.
        title: the heading shown above the slider (``None``/empty: no heading).
        device: where the network runs (default: the device of ``sn_model``'s parameters).
        compute: precision and layout of the forward passes (default: ``Compute()``, bfloat16
            convolutions, channels-last; ``Compute.fp32()`` for float32).
        warm_up: also compute alpha = 0.5 (the paper's interpSN) for every slice loaded.
        source, selection: where :meth:`select` finds other slices, and this slice's place there.
        export_dir: where the app's "Export view" button writes (:meth:`export`).
        background: after each move, compute the slider positions nearest the new alpha in a
            background thread, nearest first, so that the next moves are cache hits.
        validation_sweep: records of :func:`~recon_lib.evaluation.sweep.alpha_sweep` on the
            validation split (or a JSON file of them): enables the automatic-alpha row.
        models_by_acceleration: ``{acceleration: (SN, SN-GAN)}`` where the SN-GAN differs by
            acceleration (``sn_gan_af<AF>.pt``): switching the acceleration (:meth:`select`) then
            switches the alpha = 1 end point, the interpolation and the cache with it
            (:class:`~recon_lib.teaching.explorer.mixing.NetworkMix`). :meth:`from_checkpoints` fills it.

    Example::

        explorer = AlphaExplorer(sn, sn_gan, dataset[12])
        explorer            # in a notebook: the app
        explorer.metrics(0.5)  # {"alpha": 0.5, "psnr": ..., "ssim": ..., "nmse": ..., "hf_energy_ratio": ...}
    """

    def __init__(  # noqa: PLR0913 - the app's options, each a keyword a notebook sets in one call
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
        compute: Compute | None = None,
        warm_up: bool = True,
        source: SliceSource | None = None,
        selection: Mapping[str, Any] | None = None,
        export_dir: str | os.PathLike = "outputs/explorer",
        background: bool = False,
        validation_sweep: Sequence[Mapping[str, Any]] | str | os.PathLike | None = None,
        models_by_acceleration: Mapping[int, Sequence[nn.Module]] | None = None,
    ) -> None:
        alpha = check_alpha(alpha)
        self.step = _check_step(step)
        if not (isinstance(panel_width, int) and panel_width >= 32):
            raise ValueError(f"panel_width must be an int >= 32 (CSS pixels), got {panel_width!r}")
        self.panel_width = panel_width
        self.title = title
        self.export_dir = Path(export_dir)
        self.background = bool(background)
        if isinstance(validation_sweep, (str, os.PathLike)):
            validation_sweep = load_sweep_records(validation_sweep)
        self.validation_sweep = [dict(r) for r in validation_sweep] if validation_sweep is not None else None
        #: the automatic alpha's settings and its current choice (select_alpha's record, or None)
        self.auto_score = default_auto_score(self.validation_sweep[0]) if self.validation_sweep else "haarpsi"
        self.auto_budget_db = 0.3
        self.suggestion: dict[str, Any] | None = None
        self.last_update_ms: float | None = None
        self.last_update_cached: bool | None = None
        #: the app's widgets by stable name (empty until :attr:`widget` is first shown)
        self.widgets: dict[str, Any] = {}
        self.error_lut, self.difference_lut = lut("inferno"), lut("RdBu_r")
        self.mix = NetworkMix(
            [sn_model, gan_model],
            NAMES,
            sample_batch,
            cache_size=cache_size,
            device=device,
            compute=compute,
            warm_up=[alpha_point(0.5)] if warm_up else [],
            source=source,
            selection=selection,
            models_by_acceleration=models_by_acceleration,
        )
        self.display = self._display_for_slice(crop_box)
        self._alpha = alpha
        self.mix.on_prefetched = self._prefetched

    @classmethod
    def from_checkpoints(
        cls,
        checkpoint_dir: str | os.PathLike,
        data_root: str | os.PathLike,
        volume: int | str = 0,
        slice: int | None = None,
        acceleration: int = 8,
        split: str = "test",
        accelerations: Sequence[int] = (4, 8),
        **kwargs: Any,
    ) -> AlphaExplorer:
        """Build the explorer from the shipped SN and SN-GAN checkpoints and a prepared dataset; the
        app can then switch acceleration, volume and slice without reloading the models.

        Every acceleration offered gets the SN-GAN that serves it (``sn_gan_af<AF>.pt`` where
        shipped, else ``sn_gan.pt``), each file loaded once; switching the acceleration switches the
        alpha = 1 end point (and :attr:`checkpoints`).

        Args:
            checkpoint_dir: folder of the SN's and the SN-GAN's checkpoints (the repository ships ``checkpoints/``).
            data_root: the prepared dataset folder (``make data`` writes ``data/knee``).
            volume: index into the split's volumes, or a file name (``"file1000.h5"``).
            slice: slice index inside the volume (default: the middle slice).
            acceleration: undersampling factor of the first slice shown.
            split: the dataset split the slices come from.
            accelerations: the accelerations the app offers.
            **kwargs: passed on to the constructor (``crop_box``, ``alpha``, ...).
        """
        shipped = open_shipped(
            checkpoint_dir, data_root, STAGES, volume, slice, acceleration, split, accelerations, kwargs.get("device")
        )
        sn, gan = shipped.models
        explorer = cls(
            sn,
            gan,
            shipped.item,
            source=shipped.source,
            selection=shipped.selection,
            models_by_acceleration=shipped.models_by_acceleration(),
            **kwargs,
        )
        explorer.mix.checkpoints = shipped.named(NAMES)
        explorer.mix.checkpoints_by_acceleration = shipped.checkpoints_by_acceleration(NAMES)
        return explorer

    # ---- the model's answers at an alpha ------------------------------------------------------------
    @property
    def alpha(self) -> float:
        """The alpha currently shown."""
        return self._alpha

    def view(self, alpha: float) -> Point:
        """The :class:`~recon_lib.teaching.explorer.mixing.Point` at ``alpha`` (computed once, then cached)."""
        return self.mix.point(alpha_point(alpha))

    @property
    def reference(self) -> np.ndarray:
        """The reference image (the slice's ``target``), ``(rh, rw)``."""
        return self.mix.reference

    def reconstruction(self, alpha: float) -> np.ndarray:
        """``|x_theta(alpha)|``: magnitude of the interpolated network's output, ``(rh, rw)``."""
        return self.view(alpha).network

    def image_blend(self, alpha: float) -> np.ndarray:
        """``|(1 - alpha) x_SN + alpha x_SN-GAN|``: pixel-space blending of the end outputs, ``(rh, rw)``."""
        return self.view(alpha).blend

    def difference(self, alpha: float, kind: str = "network") -> np.ndarray:
        """The signed difference ``|x(alpha)| - |x_SN|`` of the network (or of the blend), ``(rh, rw)``."""
        return self.mix.difference(alpha_point(alpha), check_kind(kind))

    def metrics(self, alpha: float | None = None, kind: str = "network") -> dict[str, float]:
        """Slice metrics at ``alpha`` (default: the current one), on the foreground if given.

        Args:
            alpha: interpolation coefficient in ``[0, 1]``.
            kind: ``"network"`` (interpolated weights) or ``"blend"`` (image blending).

        Returns:
            ``{"alpha", "psnr", "ssim", "nmse", "hf_energy_ratio"}`` (PSNR/SSIM with the volume's
            ``max`` as data range; ``hf_energy_ratio`` = high-frequency energy over the reference's).
        """
        check_kind(kind)
        point = self.view(self._alpha if alpha is None else alpha)
        return {"alpha": point.weights[1], **point.metrics(kind)}

    def metric_curve(self, alphas: Sequence[float], kind: str = "network") -> list[dict[str, float]]:
        """:meth:`metrics` at every alpha of ``alphas`` (computed once each, then cached)."""
        return [self.metrics(check_alpha(a), kind) for a in alphas]

    def is_cached(self, alpha: float) -> bool:
        """Whether ``alpha`` is in the cache (a move there answers without running the network)."""
        return self.mix.is_cached(alpha_point(alpha))

    def cached_alphas(self) -> list[float]:
        """Every alpha computed so far for this slice, in the cache's order (least recently used first)."""
        return [p.weights[1] for p in self.mix.cached_points()]

    def slider_positions(self) -> list[float]:
        """Every value the slider can take: ``0, step, 2 step, ..., 1``."""
        n = int(round(1.0 / self.step))
        return [min(1.0, i * self.step) for i in range(n + 1)]

    def precompute(self, alphas: Sequence[float] | None = None) -> None:
        """Fill the cache for ``alphas`` (default: every slider position), e.g. before a demo."""
        for a in self.slider_positions() if alphas is None else alphas:
            self.view(a)

    def prefetch(self, alphas: Sequence[float]) -> None:
        """Compute ``alphas`` in a background thread, in order (see :meth:`NetworkMix.prefetch`)."""
        self.mix.prefetch([alpha_point(a) for a in alphas])

    def wait_prefetched(self, timeout: float | None = None) -> bool:
        """Block until the background queue is empty; False on timeout."""
        return self.mix.wait_prefetched(timeout)

    def suggest_alpha(self, budget_db: float = 0.3, score: str | None = None) -> dict[str, Any]:
        """:func:`~recon_lib.evaluation.sweep.select_alpha` on the validation sweep, at the current AF;
        ``score`` None: the starting score (:func:`~recon_lib.teaching.explorer.controls.default_auto_score`).

        Raises:
            ValueError: the explorer has no validation sweep, or select_alpha rejects the request.
        """
        if not self.validation_sweep:
            raise ValueError(
                "this explorer has no validation sweep: pass validation_sweep= (records of alpha_sweep on "
                "the val split, e.g. docs/results/alpha_validation/alpha_validation.json)"
            )
        acceleration = self.selection.get("acceleration")
        if acceleration is None:
            raise ValueError("the current slice's acceleration is unknown (build the explorer with from_checkpoints)")
        if score is None:
            score = default_auto_score(self.validation_sweep[0])
        return select_alpha(self.validation_sweep, int(acceleration), budget_db=budget_db, score=score)

    def state(self) -> dict[str, Any]:
        """What is shown, to re-make a figure: models, weights, slice, crop, and the metrics of both paths."""
        state = self.mix.state(alpha_point(self._alpha))
        state.update(alpha=self._alpha, crop_box=list(self.crop_box), window_percent=list(self.window))
        state["metrics"] = {kind: self.metrics(kind=kind) for kind in KINDS}
        return state

    # ---- the slice ------------------------------------------------------------------------------------
    @property
    def selection(self) -> dict[str, Any]:
        """``{"acceleration", "volume", "slice"}`` of the slice shown (empty for a one-slice explorer)."""
        return dict(self.mix.selection)

    @property
    def source(self) -> SliceSource | None:
        return self.mix.source

    @property
    def checkpoints(self) -> dict[str, str]:
        """The checkpoint files of the two models (empty when built from models): those of the
        current acceleration (its own SN-GAN file where one was shipped)."""
        return dict(self.mix.checkpoints)

    def _display_for_slice(self, crop_box: Sequence[int] | None, window: tuple[float, float] = (0.0, 100.0)) -> Display:
        return Display.for_slice(self.mix.reference, self.mix.corner_magnitudes(), 0, crop_box, window)

    def load_slice(
        self, sample_batch: Mapping[str, Any], crop_box: Sequence[int] | None = None, acceleration: int | None = None
    ) -> None:
        """Show another slice (a dataset item); the models are kept (``acceleration``: switch to that
        acceleration's end models, given ``models_by_acceleration``), the display rescaled to it."""
        self.mix.load(sample_batch, acceleration=acceleration)
        self._slice_changed(crop_box)

    def select(
        self, acceleration: int | None = None, volume: int | str | None = None, slice: int | None = None
    ) -> dict[str, Any]:
        """Show another slice of :attr:`source` (see :meth:`NetworkMix.select`); the zoom box is kept
        where it fits. On a bad request nothing changes. Returns the new selection."""
        before = self.mix.selection
        selection = self.mix.select(acceleration, volume, slice)
        if selection != before:
            self._slice_changed(self.crop_box if box_fits(self.crop_box, self.reference.shape) else None)
        return selection

    def _slice_changed(self, crop_box: Sequence[int] | None) -> None:
        self.display = self._display_for_slice(crop_box, self.display.window)
        if self.widgets:
            self._refresh_slice()

    # ---- display settings (no network runs) -------------------------------------------------------------
    @property
    def window(self) -> tuple[float, float]:
        """The grey-level window in % of the slice's white level (the reference's 99.5th percentile)."""
        return self.display.window

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """The zoomed region ``(top, left, height, width)``."""
        return self.display.crop_box

    @property
    def error_vmax_percent(self) -> float:
        return self.display.error_limit

    @property
    def difference_vmax_percent(self) -> float:
        return self.display.difference_limit

    def display_range(self) -> tuple[float, float]:
        """``(black, white)`` of the magnitude images in image units (from :attr:`window`)."""
        return self.display.grey_range()

    def set_window(self, low: float, high: float) -> tuple[float, float]:
        """The grey-level window in % of the white level; ``(0, 100)`` shows black to white over
        ``[0, white]``. Error and difference maps keep their own scales.

        Raises:
            ValueError: not ``0 <= low < high <= 400``; nothing changes.
        """
        self.display = self.display.with_window(low, high)
        self._redisplay()
        return self.window

    def set_crop_box(self, box: Sequence[int]) -> tuple[int, int, int, int]:
        """Move or resize the zoomed region ``(top, left, height, width)``; nothing is recomputed.

        Raises:
            ValueError: a box that is not four ints inside the target; nothing changes.
        """
        self.display = self.display.with_box(box, self.reference.shape)
        self._redisplay()
        return self.crop_box

    def centre_crop_on(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Centre the zoom box (same size) on pixel ``(row, col)``, kept inside the image."""
        return self.set_crop_box(box_centred_on(self.crop_box, row, col, self.reference.shape))

    # ---- rendering ------------------------------------------------------------------------------------
    def rendered(self, point: Point) -> Point:
        """``point`` with its PNGs (encoded once, on first display, in the current display)."""
        if not point.png:
            base = self.mix.point(self.mix.corners[0]).network
            for kind in ("network", "blend"):
                image = point.magnitude(kind)
                point.png[kind] = grey_png(image, self.display)
                point.png[f"{kind}_zoom"] = zoom_png(image, self.display, self.panel_width)
                point.png[f"{kind}_error"] = error_png(image, self.reference, self.display, self.error_lut)
                point.png[f"{kind}_difference"] = difference_png(image, base, self.display, self.difference_lut)
        return point

    def static_grid(self, alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> Any:
        """:func:`~recon_lib.teaching.explorer.figures.static_grid` of this slice (for where widgets do not render)."""
        return static_grid(self.mix, self.display, alphas)

    def export(self, folder: str | os.PathLike) -> list[Path]:
        """Write the current view (``.png`` static grid, ``.json`` :meth:`state`, ``.csv`` metrics)
        into ``folder``; the names carry volume, slice, acceleration and alpha. Returns the paths."""
        sel = self.selection
        parts = [Path(self.mix.label.split(",")[0]).stem or "slice"]
        if sel:
            parts += [f"s{sel['slice']}", f"af{sel['acceleration']}"]
        stem = "explorer_" + "_".join(parts) + f"_a{self._alpha:.2f}"
        state = self.state()
        return export_view(folder, stem, self.static_grid((self._alpha,)), state)

    def curve_html(self) -> str:
        """The metric curves against alpha (every alpha computed so far) with the current alpha marked."""
        points = [(p.weights[1], p.network_metrics, p.blend_metrics) for p in self.mix.cached_points()]
        suggested = None if self.suggestion is None else float(self.suggestion["alpha"])
        return curve_svg(points, self._alpha, width=self.panel_width, suggested=suggested)

    # ---- the slider -------------------------------------------------------------------------------------
    def set_alpha(self, alpha: float) -> None:
        """Show ``alpha`` (moves the slider if the widget exists; the display follows).

        Raises:
            ValueError: ``alpha`` outside ``[0, 1]``.
        """
        alpha = check_alpha(alpha)
        slider = self.widgets.get("slider")
        if slider is not None and slider.value != alpha:
            slider.value = alpha  # the observer calls show
        else:
            self.show(alpha)

    def show(self, alpha: float) -> None:
        """Compute (or fetch) ``alpha`` and push it into the widgets; records the round-trip time."""
        start = time.perf_counter()
        was_cached = self.is_cached(alpha)
        point = self.view(alpha)
        self._alpha = point.weights[1]
        w = self.widgets
        if w:
            self.rendered(point)
            for name in _VIEW_IMAGES:
                w[name].value = point.png[name]  # unchanged bytes send nothing
            w["metrics"].value = self.metrics_html(point)
            w["curve"].value = self.curve_html()
        self.last_update_ms = 1000.0 * (time.perf_counter() - start)
        self.last_update_cached = was_cached
        if w:
            source = "from the cache" if was_cached else "computed"
            self.say(f"α = {self._alpha:.2f} · {source} in {self.last_update_ms:.0f} ms")
        if self.background:  # the positions nearest this alpha first
            self.prefetch(sorted(self.slider_positions(), key=lambda a: (abs(a - self._alpha), a)))

    def _prefetched(self) -> None:
        """The background queue drained (worker thread): show the completed curve."""
        curve = self.widgets.get("curve")
        if curve is not None:
            curve.value = self.curve_html()

    def say(self, message: str) -> None:
        """Show ``message`` in the app's status line (next to the slider)."""
        if "status" in self.widgets:
            self.widgets["status"].value = f'<span class="alpha-explorer-status-text">{html.escape(message)}</span>'

    def _redisplay(self) -> None:
        """The display changed (window, zoom box): re-encode the images, nothing is recomputed."""
        for point in self.mix.cached_points():
            point.png = {}
        if self.widgets:
            self.widgets["reference"].value, self.widgets["reference_zoom"].value = self._reference_pngs()
            self.show(self._alpha)

    # ---- the automatic alpha ------------------------------------------------------------------------------
    def choose_auto(self, score: str, budget_db: float) -> None:
        """Set the automatic alpha's score and PSNR budget and choose alpha* for the current AF (once per
        change of AF, score or budget, not per slider move); the app shows it (readout, curve marker)."""
        self.auto_score, self.auto_budget_db = score, float(budget_db)
        choice: dict[str, Any] | None = None
        try:
            choice = self.suggest_alpha(self.auto_budget_db, self.auto_score)
        except ValueError as err:
            self.say(str(err))
        self.suggestion = choice
        if "auto_readout" in self.widgets:
            self.widgets["auto_readout"].value = (
                ""
                if choice is None
                else f'<span class="alpha-explorer-auto-text" data-alpha="{choice["alpha"]:.2f}">&alpha;* = '
                f"{choice['alpha']:.2f} (validation split, AF {choice['acceleration']}: PSNR "
                f"{choice['psnr_change']:+.2f} dB vs the SN)</span>"
            )
            self.widgets["curve"].value = self.curve_html()

    def go_to_suggestion(self) -> None:
        """Move the slider to the automatic alpha (if one is chosen)."""
        if self.suggestion is not None:
            self.set_alpha(self.suggestion["alpha"])

    # ---- the app's HTML pieces -------------------------------------------------------------------------
    def metrics_html(self, point: Point) -> str:
        """The metrics table: SN, SN-GAN, and both kinds at ``point``, the better of the two in bold."""
        pw = self.panel_width
        sn, gan = (self.mix.point(c).network_metrics for c in self.mix.corners)
        alpha = point.weights[1]
        columns = [  # (css key, header, values, width)
            ("sn", "SN<br>&alpha; = 0", sn, (pw + GAP) / 2),
            ("gan", "SN-GAN<br>&alpha; = 1", gan, (pw + GAP) / 2),
            ("network", f"network &theta;(&alpha;)<br>&alpha; = {alpha:.2f}", point.network_metrics, pw + GAP),
            ("blend", f"image blend<br>&alpha; = {alpha:.2f}", point.blend_metrics, pw),
        ]
        cols = f'<col style="width:{LABEL_WIDTH + GAP}px">' + "".join(
            f'<col style="width:{w:.0f}px">' for *_, w in columns
        )
        head = "".join(f'<th class="col-{key}">{header}</th>' for key, header, _, _ in columns)
        rows = []
        for metric, (label, fmt, better) in shown_metrics(point.network_metrics, point.blend_metrics).items():
            win = _better(point.network_metrics[metric], point.blend_metrics[metric], better)
            cells = "".join(
                f'<td class="col-{key}{" best" if key == win else ""}" data-metric="{metric}">'
                f"{fmt.format(values[metric])}</td>"
                for key, _, values, _ in columns
            )
            rows.append(f'<tr><th scope="row">{label}<span class="hint">{better} is better</span></th>{cells}</tr>')
        total = LABEL_WIDTH + 3 * (pw + GAP)
        return (
            f"{TABLE_STYLE}"
            f'<table class="alpha-explorer-metrics-table" data-alpha="{alpha:.4f}" style="width:{total}px">'
            f"<colgroup>{cols}</colgroup><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<div class="alpha-explorer-note" style="width:{total}px">Metrics of this slice inside the foreground '
            "(PSNR and SSIM with the volume maximum as data range). <b>Bold</b>: the better of the two ways "
            "to interpolate. HF-energy ratio: high-frequency energy relative to the reference "
            "(&lt; 1 smoother, &gt; 1 more texture or noise); vs truth: relative to the noise-free image of a "
            "simulated slice, the texture the truth has without the scan's noise.</div>"
        )

    def _reference_pngs(self) -> tuple[bytes, bytes]:
        return grey_png(self.reference, self.display), zoom_png(self.reference, self.display, self.panel_width)

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
        label = html.escape(self.mix.label)
        if self.title:
            sub = f"&ensp;{label}" if label else ""
            return f'<div class="alpha-explorer-title">{html.escape(self.title)}<span class="sub">{sub}</span></div>'
        return f'<div class="alpha-explorer-title"><span class="sub">{label}</span></div>'

    def _refresh_slice(self) -> None:
        """Push a newly selected slice into the widgets (reference, scales, title) and show the current alpha."""
        w = self.widgets
        w["reference"].value, w["reference_zoom"].value = self._reference_pngs()
        for kind in ("error", "difference"):
            w[f"{kind}_scale"].value = self._scale_html(kind, self._bar_height())
        w["title"].value = self._title_html()
        if "zoom_row" in w:  # the zoom box may have been re-centred for the new slice
            top, left, h, wd = self.crop_box
            w["zoom_row"].value, w["zoom_col"].value = top + h // 2, left + wd // 2
        if "auto_readout" in w:
            self.choose_auto(self.auto_score, self.auto_budget_db)
        self.show(self._alpha)

    # ---- the app ------------------------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The ipywidgets container of the app (built on first access)."""
        if "container" not in self.widgets:
            self._build_app()
        return self.widgets["container"]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _panel_heights(self) -> tuple[int, int]:
        """Displayed heights of a full slice and of a zoom, in CSS pixels."""
        rh, rw = self.reference.shape
        _, _, h, w = self.crop_box
        return int(round(self.panel_width * rh / rw)), int(round(self.panel_width * h / w))

    def _bar_height(self) -> int:
        return max(self._panel_heights()[0] - 24, 40)

    def _build_app(self) -> None:
        """Lay out the app (fills :attr:`widgets`). Rows: title, the slice and display controls, the
        slider, the automatic alpha, the image grid with the metrics table, the curves, export."""
        import ipywidgets as widgets

        rows = [widgets.HTML(PAGE_STYLE), self._add("title", widgets.HTML(self._title_html()))]
        if self.source is not None:
            rows.append(self._selection_controls(widgets))
        rows.append(self._display_controls(widgets))
        rows += self._slider_rows(widgets)
        if self.validation_sweep:
            rows.append(self._auto_controls(widgets))
        curve = widgets.HTML(
            self.curve_html(),
            layout=widgets.Layout(width=f"{3 * self.panel_width + 2 * GAP + 40}px", margin=f"8px 0 0 {LABEL_WIDTH}px"),
        )
        curve.add_class("alpha-explorer-curve-panel")
        self._add("curve", curve)
        rows += [self._image_grid(widgets), curve, self._export_row(widgets)]
        container = widgets.VBox(rows, layout=widgets.Layout(padding="4px 0"))
        container.add_class("alpha-explorer")
        self._add("container", container)
        if "auto_readout" in self.widgets:
            self.choose_auto(self.auto_score, self.auto_budget_db)
        self.show(self._alpha)

    def _add(self, name: str, widget: Any, css: str | None = None) -> Any:
        """Keep ``widget`` in :attr:`widgets` under ``name`` (with CSS class ``css``); returns it."""
        if css:
            widget.add_class(css)
        self.widgets[name] = widget
        return widget

    def _selection_controls(self, widgets: Any) -> Any:
        assert self.source is not None

        def select(acceleration: int, volume: int, slice: int | None) -> dict[str, Any]:
            return self.select(acceleration=acceleration, volume=volume, slice=slice)

        row, controls = selection_row(
            widgets, self.source.accelerations, self.source.volumes, self.selection, select, self.say, LABEL_WIDTH
        )
        self.widgets.update(controls)
        return row

    def _display_controls(self, widgets: Any) -> Any:
        top, left, h, w = self.crop_box
        row, controls = display_row(
            widgets,
            self.window,
            (top + h // 2, left + w // 2),
            self.reference.shape,
            self.set_window,
            self.centre_crop_on,
            self.say,
            LABEL_WIDTH,
        )
        self.widgets.update(controls)
        return row

    def _auto_controls(self, widgets: Any) -> Any:
        assert self.validation_sweep
        row, controls = auto_alpha_row(
            widgets, self.validation_sweep[0], self.auto_budget_db, self.choose_auto, self.go_to_suggestion, LABEL_WIDTH
        )
        self.widgets.update(controls)
        self.auto_score = controls["auto_score"].value
        return row

    def _slider_rows(self, widgets: Any) -> list[Any]:
        """The alpha slider with its status line, and what its two ends are."""
        slider = widgets.FloatSlider(
            value=self._alpha,
            min=0.0,
            max=1.0,
            step=self.step,
            description="",
            continuous_update=False,
            readout=True,
            readout_format=".2f",
            layout=widgets.Layout(width=f"{self.panel_width * 2 + GAP}px"),
        )
        self._add("slider", slider, "alpha-explorer-slider")
        slider.observe(lambda change: self.show(float(change["new"])), names="value")
        status = self._add("status", widgets.HTML(""), "alpha-explorer-status")
        slider_row = widgets.HBox(
            [_text(widgets, "&alpha;", "alpha-explorer-rowhead slider-label"), slider, status],
            layout=widgets.Layout(align_items="center", grid_gap=f"{GAP}px"),
        )
        ends = _text(
            widgets,
            "0 = SN (trained with L1 + SSIM) &emsp;&larr;&ensp;&alpha;&ensp;&rarr;&emsp; "
            "1 = SN-GAN (adversarial fine-tuning)",
            "alpha-explorer-ends",
        )
        ends.layout.margin = f"0 0 6px {LABEL_WIDTH + 2 * GAP}px"
        return [slider_row, ends]

    def _image_grid(self, widgets: Any) -> Any:
        """Reference | network | blend columns; rows full slice, zoom, error map, change from the SN;
        the metrics table below."""
        point = self.rendered(self.view(self._alpha))
        full_h, zoom_h = self._panel_heights()
        heights = (full_h, zoom_h, full_h, full_h)

        def image(name: str, value: bytes, height: int, css: str | None = None) -> Any:
            layout = widgets.Layout(width=f"{self.panel_width}px", height=f"{height}px")
            return self._add(name, widgets.Image(value=value, format="png", layout=layout), css)

        ref_full, ref_zoom = self._reference_pngs()
        cells = [
            [
                image("reference", ref_full, full_h),
                image("reference_zoom", ref_zoom, zoom_h),
                self._legend(widgets, "error", self.error_lut),
                self._legend(widgets, "difference", self.difference_lut),
            ]
        ]
        for kind, _, _ in _COLUMNS:
            names = [_png_name(kind, row) for row in _ROWS]
            cells.append(
                [
                    image(n, point.png[n], h, f"alpha-explorer-{kind}-{row or 'image'}")
                    for n, row, h in zip(names, _ROWS, heights, strict=True)
                ]
            )
        heads = [("reference", "Reference", "fully sampled SENSE target"), *_COLUMNS]
        rw = self.reference.shape[1]
        row_labels = [
            "full slice",
            f"zoom &times;{rw / self.crop_box[3]:.1f}<br>(yellow box)",
            "error map",
            "change from<br>SN (&alpha; = 0)",
        ]
        children = [_text(widgets, "", "alpha-explorer-rowhead")]
        children += [
            _text(widgets, f"<b>{name}</b><br><span class='sub'>{sub}</span>", f"alpha-explorer-colhead head-{key}")
            for key, name, sub in heads
        ]
        for r, row_label in enumerate(row_labels):
            children.append(_text(widgets, row_label, "alpha-explorer-rowhead"))
            children.extend(column[r] for column in cells)
        metrics = widgets.HTML(
            self.metrics_html(point), layout=widgets.Layout(grid_column="1 / span 4", margin="6px 0 0 0")
        )
        children.append(self._add("metrics", metrics, "alpha-explorer-metrics"))
        return widgets.GridBox(
            children,
            layout=widgets.Layout(
                grid_template_columns=f"{LABEL_WIDTH}px repeat(3, {self.panel_width}px)",
                grid_gap=f"4px {GAP}px",
                align_items="center",
            ),
        )

    def _legend(self, widgets: Any, kind: str, table: np.ndarray) -> Any:
        """A colour bar with its scale's labels (the error or the difference maps)."""
        full_h = self._panel_heights()[0]
        bar_h = self._bar_height()
        colourbar = widgets.Image(
            value=colourbar_png(table), format="png", layout=widgets.Layout(width="16px", height=f"{bar_h}px")
        )
        scale = self._add(f"{kind}_scale", widgets.HTML(self._scale_html(kind, bar_h)))
        return widgets.HBox(
            [colourbar, scale],
            layout=widgets.Layout(
                width=f"{self.panel_width}px", height=f"{full_h}px", align_items="center", justify_content="center"
            ),
        )

    def _export_row(self, widgets: Any) -> Any:
        export = widgets.Button(description="Export view", icon="download", layout=widgets.Layout(width="130px"))
        self._add("export", export, "alpha-explorer-export")

        def on_export(_: Any) -> None:
            try:
                paths = self.export(self.export_dir)
            except OSError as err:
                message = f"export failed: {err}"
            else:
                message = "wrote " + ", ".join(p.name for p in paths) + f" to {paths[0].parent}"
            self.say(message)

        export.on_click(on_export)
        return widgets.HBox([export], layout=widgets.Layout(margin=f"6px 0 0 {LABEL_WIDTH}px"))


def _text(widgets: Any, content: str, css: str) -> Any:
    return widgets.HTML(f'<div class="{css}">{content}</div>')


def _better(network: float, blend: float, better: str) -> str | None:
    """Which of the two kinds scores better (None: a tie)."""
    if better == "higher":
        return "network" if network > blend else "blend" if blend > network else None
    if better == "lower":
        return "network" if network < blend else "blend" if blend < network else None
    return "network" if abs(network - 1) < abs(blend - 1) else "blend" if abs(blend - 1) < abs(network - 1) else None
