"""Three-model interpolation on a triangle: pre-trained SN, SN and SN-GAN with barycentric weights.

The alpha slider moves along one edge of a triangle. Its three corners are the three networks of
the paper's recipe -- the pre-trained SN, the SN fine-tuned with ``L_SN`` and the SN-GAN fine-tuned
adversarially, all from the same pre-trained weights -- and every point inside is a network
``theta(w) = w_pre theta_pre + w_SN theta_SN + w_GAN theta_GAN`` with ``w`` on the simplex.

* :class:`TriangleExplorer` -- the controller: a three-model
  :class:`~recon_lib.teaching.explorer.mixing.NetworkMix` (images, metrics and cache of any point,
  the same model the alpha slider uses) and its widget: the picker, the network's image, its
  difference to the SN and the metrics.
* :func:`triangle_picker` -- a small ``anywidget`` widget: click or drag inside the triangle (or
  use the arrow keys) to choose the weights.

Weights are rounded to :data:`GRID` (0.01) before anything is computed, so every point is
reproducible from the numbers shown.
"""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.core.compute import Compute
from recon_lib.models.interpolation import check_simplex
from recon_lib.teaching.explorer.display import TABLE_STYLE, Display, difference_png, grey_png, lut
from recon_lib.teaching.explorer.mixing import NetworkMix, shown_metrics
from recon_lib.teaching.explorer.slices import SliceSource, open_shipped

__all__ = ["VERTICES", "STAGES", "GRID", "snap", "triangle_picker", "TriangleExplorer"]

#: the corners, in weight order
VERTICES = ("SN pre-trained", "SN", "SN-GAN")
#: the recipe's stage of each corner (:data:`~recon_lib.models.stages.RECIPE`)
STAGES = ("pretrain", "finetune_sn", "finetune_gan")
#: weights are rounded to multiples of this
GRID = 0.01
#: the corner differences are measured from (the SN)
BASE = 1


def snap(weights: Sequence[float]) -> tuple[float, float, float]:
    """Round a simplex point to the :data:`GRID` (the third weight takes the rounding remainder).

    Example:
        >>> snap([0.333, 0.333, 0.334])
        (0.33, 0.33, 0.34)
    """
    w = check_simplex(weights, 3)
    a, b = round(w[0] / GRID) * GRID, round(w[1] / GRID) * GRID
    if a + b > 1.0:  # both rounded up past the edge
        b = 1.0 - a
    return (round(a, 2), round(b, 2), round(max(0.0, 1.0 - a - b), 2))


# ---- the picker widget ---------------------------------------------------------------------------
_ESM = r"""
const NS = "http://www.w3.org/2000/svg";
function render({ model, el }) {
  const size = model.get("size"), pad = 34, h = size * 0.866;
  // corners in weight order: pre-trained SN on top, SN bottom left, SN-GAN bottom right
  // (the bottom edge is the paper's slider, left to right as on the alpha explorer)
  const bottom = pad + h - 2 * pad * 0.4;
  const V = [[size / 2, pad], [pad, bottom], [size - pad, bottom]];
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", size); svg.setAttribute("height", pad + h);
  svg.setAttribute("tabindex", "0"); svg.setAttribute("role", "slider");
  svg.classList.add("triangle-picker-svg");
  const tri = document.createElementNS(NS, "polygon");
  tri.setAttribute("points", V.map(p => p.join(",")).join(" "));
  tri.classList.add("triangle-picker-area");
  svg.appendChild(tri);
  const labels = model.get("labels");
  const offsets = [[0, -12], [10, 20], [-10, 20]];
  labels.forEach((text, i) => {
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", V[i][0] + offsets[i][0]); t.setAttribute("y", V[i][1] + offsets[i][1]);
    t.setAttribute("text-anchor", "middle"); t.textContent = text;
    t.classList.add("triangle-picker-label");
    svg.appendChild(t);
  });
  const dot = document.createElementNS(NS, "circle");
  dot.setAttribute("r", 7); dot.classList.add("triangle-picker-handle");
  svg.appendChild(dot);
  const readout = document.createElement("div");
  readout.classList.add("triangle-picker-readout");
  function point(w) { return [0, 1].map(k => w[0] * V[0][k] + w[1] * V[1][k] + w[2] * V[2][k]); }
  function draw() {
    const w = model.get("weights"), p = point(w);
    dot.setAttribute("cx", p[0]); dot.setAttribute("cy", p[1]);
    readout.textContent = labels.map((n, i) => `${n} ${w[i].toFixed(2)}`).join(" · ");
    svg.dataset.weights = w.map(v => v.toFixed(2)).join(",");
    svg.setAttribute("aria-valuetext", readout.textContent);
  }
  function weightsAt(x, y) {
    const [a, b, c] = V;
    const det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    let w0 = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / det;
    let w1 = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / det;
    let w = [w0, w1, 1 - w0 - w1].map(v => Math.max(0, v));
    const s = w[0] + w[1] + w[2];
    w = w.map(v => v / s);
    const r = [Math.round(w[0] * 100) / 100, Math.round(w[1] * 100) / 100];
    if (r[0] + r[1] > 1) r[1] = 1 - r[0];
    return [r[0], r[1], Math.max(0, Math.round((1 - r[0] - r[1]) * 100) / 100)];
  }
  let dragging = false, last = 0, pending = null;
  function send(w, force) {
    model.set("weights", w); draw();
    const now = Date.now();
    if (force || now - last > 150) { model.save_changes(); last = now; pending = null; }
    else { pending = w; }
  }
  function at(evt) {
    const r = svg.getBoundingClientRect();
    return weightsAt(evt.clientX - r.left, evt.clientY - r.top);
  }
  svg.addEventListener("pointerdown", evt => {
    dragging = true; svg.setPointerCapture(evt.pointerId); svg.focus(); send(at(evt), false);
  });
  svg.addEventListener("pointermove", evt => { if (dragging) send(at(evt), false); });
  svg.addEventListener("pointerup", evt => {
    dragging = false; svg.releasePointerCapture(evt.pointerId); send(at(evt), true);
  });
  svg.addEventListener("keydown", evt => {
    // arrows move 0.05 of weight: right/left from SN to SN-GAN and back (the bottom edge), up from the
    // larger of SN / SN-GAN to the pre-trained SN (the top corner), down back to it
    const w = model.get("weights").slice(), step = 0.05;
    const big = w[2] > w[1] ? 2 : 1;
    const moves = { ArrowRight: [1, 2], ArrowLeft: [2, 1], ArrowUp: [big, 0], ArrowDown: [0, big] };
    const m = moves[evt.key];
    if (!m) return;
    evt.preventDefault();
    const amount = Math.min(step, w[m[0]]);
    w[m[0]] = Math.round((w[m[0]] - amount) * 100) / 100;
    w[m[1]] = Math.round((w[m[1]] + amount) * 100) / 100;
    send(w, true);
  });
  setInterval(() => { if (pending && !dragging) send(pending, true); }, 200);
  model.on("change:weights", draw);
  draw();
  el.classList.add("triangle-picker");
  el.appendChild(svg); el.appendChild(readout);
}
export default { render };
"""

_CSS = """
.triangle-picker { user-select: none; display: flex; flex-direction: column; align-items: center;
                   font: 12px sans-serif; }
.triangle-picker-svg { cursor: crosshair; touch-action: none; outline: none; }
.triangle-picker-svg:focus .triangle-picker-area { stroke: #1a73e8; }
.triangle-picker-area { fill: #f3f6fb; stroke: #888; stroke-width: 1.5; }
.triangle-picker-label { font-size: 12px; fill: #333; }
.triangle-picker-handle { fill: #1a73e8; stroke: white; stroke-width: 2; }
.triangle-picker-readout { margin-top: 4px; color: #444; }
"""


@functools.cache
def _picker_class() -> type:
    import anywidget
    import traitlets

    class TrianglePicker(anywidget.AnyWidget):
        """Barycentric weights of three corners: click or drag inside the triangle, or arrow keys."""

        _esm = _ESM
        _css = _CSS
        weights = traitlets.List(traitlets.Float(), default_value=[0.0, 1.0, 0.0]).tag(sync=True)
        labels = traitlets.List(traitlets.Unicode(), default_value=list(VERTICES)).tag(sync=True)
        size = traitlets.Int(260).tag(sync=True)

    return TrianglePicker


def triangle_picker(**kwargs: Any) -> Any:
    """The picker widget (an ``anywidget``): ``weights`` (3 floats on the simplex, synced), ``labels``, ``size``."""
    return _picker_class()(**kwargs)


class TriangleExplorer:
    """The network at any point of the triangle of three models, on one slice, and its widget.

    Args:
        models: three models of one architecture, in :data:`VERTICES` order (pre-trained SN, SN, SN-GAN).
        sample_batch: one slice (a dataset item, see :class:`~recon_lib.teaching.explorer.mixing.NetworkMix`).
        weights: the initial point (default: the SN corner).
        cache_size: how many points the LRU cache keeps.
        device: where the network runs (default: that of the first model's parameters).
        compute: precision and layout of the forward passes (default: ``Compute()``, bfloat16
            convolutions, channels-last; ``Compute.fp32()`` for float32).
        names: the corners' names (default :data:`VERTICES`).
        source, selection: where :meth:`select` finds other slices, and this slice's place there.
        models_by_acceleration: ``{acceleration: the three models}`` where a corner differs by
            acceleration (the SN-GAN shipped per acceleration, ``sn_gan_af<AF>.pt``): switching the
            acceleration switches the corners, the interpolation and the cache with them.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        sample_batch: Mapping[str, Any],
        weights: Sequence[float] = (0.0, 1.0, 0.0),
        cache_size: int = 64,
        device: torch.device | str | None = None,
        compute: Compute | None = None,
        names: Sequence[str] = VERTICES,
        source: SliceSource | None = None,
        selection: Mapping[str, Any] | None = None,
        models_by_acceleration: Mapping[int, Sequence[nn.Module]] | None = None,
    ) -> None:
        if len(models) != 3 or len(names) != 3:
            raise ValueError(f"the triangle needs three models and three names, got {len(models)} and {len(names)}")
        self._weights = snap(weights)
        self.mix = NetworkMix(
            models,
            names,
            sample_batch,
            base=BASE,
            cache_size=cache_size,
            device=device,
            compute=compute,
            source=source,
            selection=selection,
            models_by_acceleration=models_by_acceleration,
        )
        self.display = self._display_for_slice()
        #: the widget's parts by stable name (empty until :attr:`widget` is first shown)
        self.widgets: dict[str, Any] = {}
        self.difference_lut = lut("RdBu_r")
        self.mix.point(self._weights)

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
    ) -> TriangleExplorer:
        """Load the three corners' checkpoints (:data:`STAGES`) and one slice of a prepared dataset
        (the arguments of :meth:`recon_lib.teaching.explorer.alpha.AlphaExplorer.from_checkpoints`).
        Each acceleration offered gets the SN-GAN corner that serves it (``sn_gan_af<AF>.pt`` where
        shipped, else ``sn_gan.pt``); switching the acceleration switches the corner."""
        shipped = open_shipped(
            checkpoint_dir, data_root, STAGES, volume, slice, acceleration, split, accelerations, kwargs.get("device")
        )
        explorer = cls(
            shipped.models,
            shipped.item,
            source=shipped.source,
            selection=shipped.selection,
            models_by_acceleration=shipped.models_by_acceleration(),
            **kwargs,
        )
        explorer.mix.checkpoints = shipped.named(explorer.names)
        explorer.mix.checkpoints_by_acceleration = shipped.checkpoints_by_acceleration(explorer.names)
        return explorer

    # ---- the model's answers at a point ----------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return self.mix.names

    @property
    def weights(self) -> tuple[float, float, float]:
        """The point shown (snapped to the grid)."""
        return self._weights

    def set_weights(self, weights: Sequence[float]) -> tuple[float, float, float]:
        """Move to ``weights`` (checked, then snapped to :data:`GRID`); returns the snapped point.
        A point off the simplex raises and leaves the current point unchanged."""
        point = snap(weights)
        self.mix.point(point)
        self._weights = point
        if self.widgets:
            self._refresh()
        return point

    def _at(self, weights: Sequence[float] | None) -> tuple[float, float, float]:
        return self._weights if weights is None else snap(weights)

    @property
    def reference(self) -> np.ndarray:
        """The slice's reference image ``(rh, rw)``."""
        return self.mix.reference

    def reconstruction(self, weights: Sequence[float] | None = None) -> np.ndarray:
        """``|x_theta(w)|`` at ``weights`` (default: the current point), ``(rh, rw)``."""
        return self.mix.point(self._at(weights)).network

    def difference(self, weights: Sequence[float] | None = None) -> np.ndarray:
        """The signed difference ``|x_theta(w)| - |x_SN|``, ``(rh, rw)``."""
        return self.mix.difference(self._at(weights))

    def metrics(self, weights: Sequence[float] | None = None, kind: str = "network") -> dict[str, Any]:
        """Slice metrics (foreground; the volume maximum as data range) of the network (or the blend)
        at ``weights`` (default: the current point)."""
        point = self.mix.point(self._at(weights))
        return {"weights": list(point.weights), **point.metrics(kind)}

    def state(self) -> dict[str, Any]:
        """What is shown, to re-make the figure: checkpoints, weights per corner, slice, metrics."""
        return self.mix.state(self._weights)

    # ---- the slice ----------------------------------------------------------------------------------------
    @property
    def selection(self) -> dict[str, Any]:
        """``{"acceleration", "volume", "slice"}`` of the slice shown (empty for a one-slice explorer)."""
        return dict(self.mix.selection)

    @property
    def checkpoints(self) -> dict[str, str]:
        """The corners' checkpoint files (empty when built from models), those of the current acceleration."""
        return dict(self.mix.checkpoints)

    def _display_for_slice(self) -> Display:
        return Display.for_slice(self.mix.reference, self.mix.corner_magnitudes(), BASE)

    def load_slice(self, sample_batch: Mapping[str, Any], acceleration: int | None = None) -> None:
        """Show another slice (a dataset item); the models are kept (``acceleration``: switch to that
        acceleration's corners, given ``models_by_acceleration``), the display rescaled to it."""
        self.mix.load(sample_batch, acceleration=acceleration)
        self._slice_changed()

    def select(
        self, acceleration: int | None = None, volume: int | str | None = None, slice: int | None = None
    ) -> dict[str, Any]:
        """Show another slice of the explorer's source (see :meth:`NetworkMix.select`)."""
        before = self.mix.selection
        selection = self.mix.select(acceleration, volume, slice)
        if selection != before:
            self._slice_changed()
        return selection

    def _slice_changed(self) -> None:
        self.display = self._display_for_slice()
        self.mix.point(self._weights)
        if self.widgets:
            self.widgets["title"].value = f"<b>{html.escape(self.mix.label)}</b>"
            self.widgets["difference_caption"].value = self._difference_caption()
            self._refresh()

    # ---- the widget ---------------------------------------------------------------------------------------
    def pngs(self) -> tuple[bytes, bytes]:
        """The current point's image and its difference from the SN (on the slice's symmetric scale)."""
        base = self.mix.point(self.mix.corners[BASE]).network
        image = self.reconstruction()
        return grey_png(image, self.display, box=False), difference_png(image, base, self.display, self.difference_lut)

    def metrics_html(self) -> str:
        """The metrics of the current point and of the three corners."""
        columns = [("point", self.metrics())] + [
            (n, self.metrics(c)) for n, c in zip(self.names, self.mix.corners, strict=True)
        ]
        head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
        rows = []
        for key, (label, fmt, better) in shown_metrics(*(m for _, m in columns)).items():
            cells = "".join(f"<td>{fmt.format(m[key])}</td>" for _, m in columns)
            rows.append(f"<tr><th>{label}<span class='hint'>{better}</span></th>{cells}</tr>")
        w = ",".join(f"{v:.2f}" for v in self._weights)
        return (
            f'{TABLE_STYLE}<table class="alpha-explorer-metrics-table triangle-metrics" data-weights="{w}">'
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _difference_caption(self) -> str:
        return f"<b>|x(w)| − |x_SN|  (±{self.display.difference_limit:g} % of white)</b>"

    def _refresh(self) -> None:
        w = self.widgets
        w["image"].value, w["difference"].value = self.pngs()
        w["metrics"].value = self.metrics_html()

    def _picked(self, change: Any) -> None:
        """The picker moved: show the new point, or say why it was refused (the point is kept)."""
        try:
            self.set_weights(change["new"])
        except (TypeError, ValueError) as err:
            self.widgets["status"].value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return
        self.widgets["status"].value = ""

    @property
    def widget(self) -> Any:
        """The widget (built on first access): picker | image | difference, metrics below."""
        if "container" not in self.widgets:
            self._build()
        return self.widgets["container"]

    def _build(self) -> None:
        import ipywidgets as widgets

        w = self.widgets
        w["picker"] = triangle_picker(weights=list(self._weights), labels=list(self.names))
        image_png, diff_png = self.pngs()
        size = widgets.Layout(width="240px", height="240px")
        w["image"] = widgets.Image(value=image_png, format="png", layout=size)
        w["image"].add_class("triangle-network-image")
        w["difference"] = widgets.Image(
            value=diff_png, format="png", layout=widgets.Layout(width="240px", height="240px")
        )
        w["difference"].add_class("triangle-difference-image")
        w["metrics"] = widgets.HTML(self.metrics_html())
        w["metrics"].add_class("triangle-metrics")
        w["status"] = widgets.HTML("")
        w["status"].add_class("triangle-status")
        w["title"] = widgets.HTML(f"<b>{html.escape(self.mix.label)}</b>")
        w["difference_caption"] = widgets.HTML(self._difference_caption())
        w["picker"].observe(self._picked, names="weights")
        top = widgets.HBox(
            [
                widgets.VBox([widgets.HTML("<b>weights: click or drag; arrow keys</b>"), w["picker"]]),
                widgets.VBox([widgets.HTML("<b>interpolated network</b>"), w["image"]]),
                widgets.VBox([w["difference_caption"], w["difference"]]),
            ]
        )
        w["container"] = widgets.VBox([w["title"], top, w["metrics"], w["status"]])
        w["container"].add_class("triangle-explorer")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
