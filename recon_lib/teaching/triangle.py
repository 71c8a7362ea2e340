"""Three-model interpolation on a triangle: pre-trained SN, SN and SN-GAN with barycentric weights.

The slider moves along one edge of a triangle. Its three corners are the three networks of the
paper's recipe -- the pre-trained SN, the SN fine-tuned with ``L_SN`` and the SN-GAN fine-tuned
adversarially, all from the same pre-trained weights -- and every point inside is a network
``theta(w) = w_pre theta_pre + w_SN theta_SN + w_GAN theta_GAN`` with ``w`` on the simplex
(:meth:`~recon_lib.models.interpolation.ModelInterpolator.set_weights`).

* :class:`TriangleModel` -- the view-model (plain Python + NumPy + torch): images and metrics of the
  network at any simplex point on one slice, cached.
* :func:`triangle_picker` -- a small ``anywidget`` widget: click or drag inside the triangle (or
  use the arrow keys) to choose the weights.
* :class:`TriangleExplorer` -- picker, image, difference to the SN and metrics, in one widget.

Weights are rounded to :data:`GRID` (0.01) before anything is computed, so every point is
reproducible from the numbers shown.
"""

from __future__ import annotations

import copy
import functools
import html
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.models.interpolation import ModelInterpolator, check_simplex
from recon_lib.teaching.explorer_model import METRICS, check_same_architecture, nice_ceiling
from recon_lib.teaching.slices import SliceSource, as_batch, run_on_slice, slice_metrics

__all__ = ["VERTICES", "GRID", "snap", "TriangleModel", "triangle_picker", "TriangleExplorer"]

#: the corners, in weight order
VERTICES = ("SN pre-trained", "SN", "SN-GAN")
#: the checkpoint file of each corner
CHECKPOINTS = ("sn_pretrained.pt", "sn_finetuned.pt", "sn_gan.pt")
#: weights are rounded to multiples of this
GRID = 0.01


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


class TriangleModel:
    """The network at any point of the triangle of three models, on one slice (no widgets).

    Args:
        models: three models of one architecture, in :data:`VERTICES` order (pre-trained SN, SN, SN-GAN).
        sample_batch: one slice (a dataset item, as :class:`~recon_lib.teaching.explorer_model.ExplorerModel` takes).
        weights: the initial point (default: the SN corner).
        cache_size: how many points the LRU cache keeps.
        device: where the network runs (default: that of the first model's parameters).
        names: the corners' names (default :data:`VERTICES`).
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        sample_batch: Mapping[str, Any],
        weights: Sequence[float] = (0.0, 1.0, 0.0),
        cache_size: int = 64,
        device: torch.device | str | None = None,
        names: Sequence[str] = VERTICES,
    ) -> None:
        if len(models) != 3 or len(names) != 3:
            raise ValueError(f"the triangle needs three models and three names, got {len(models)} and {len(names)}")
        for other in models[1:]:
            check_same_architecture(models[0], other)
        if not (isinstance(cache_size, int) and cache_size >= 3):
            raise ValueError(f"cache_size must be an int >= 3 (the corners stay cached), got {cache_size!r}")
        if device is None:
            first = next(iter(models[0].parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.names = tuple(str(n) for n in names)
        self.cache_size = cache_size
        self.checkpoints: dict[str, str] = {}
        self.selection: dict[str, Any] = {}
        self._live = copy.deepcopy(models[0]).to(self.device).eval()
        self._interpolator = ModelInterpolator(self._live, [m.state_dict() for m in models])
        self._weights = snap(weights)
        self._corners: list[tuple[float, float, float]] = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
        self.load_slice(sample_batch)

    def load_slice(self, sample_batch: Mapping[str, Any]) -> None:
        """Show another slice (the models are kept); the cache starts empty."""
        batch = as_batch(sample_batch)
        self._batch = batch
        self._cache: OrderedDict[tuple[float, float, float], tuple[np.ndarray, dict[str, float]]] = OrderedDict()
        ref = batch["reference"]
        self.display_max = float(np.percentile(ref, 99.5)) or float(np.abs(ref).max()) or 1.0
        for corner in self._corners:
            self._point(corner)
        spread = max(float(np.percentile(np.abs(self._point(c)[0] - self._sn()), 99.5)) for c in self._corners)
        self.difference_vmax_percent = nice_ceiling(100.0 * spread / self.display_max)

    def _sn(self) -> np.ndarray:
        return self._cache[self._corners[1]][0]

    def _point(self, weights: tuple[float, float, float]) -> tuple[np.ndarray, dict[str, float]]:
        hit = self._cache.get(weights)
        if hit is not None:
            self._cache.move_to_end(weights)
            return hit
        self._interpolator.set_weights(list(weights))
        magnitude = np.abs(run_on_slice(self._live, self._batch, self.device))
        entry = (magnitude, slice_metrics(self._batch, magnitude))
        self._cache[weights] = entry
        while len(self._cache) > self.cache_size:
            del self._cache[next(k for k in self._cache if k not in self._corners)]
        return entry

    @property
    def weights(self) -> tuple[float, float, float]:
        """The point shown (snapped to the grid)."""
        return self._weights

    def set_weights(self, weights: Sequence[float]) -> tuple[float, float, float]:
        """Move to ``weights`` (checked, then snapped to :data:`GRID`); returns the snapped point.
        A point off the simplex raises and leaves the current point unchanged."""
        self._weights = snap(weights)
        self._point(self._weights)
        return self._weights

    @property
    def reference(self) -> np.ndarray:
        """The slice's reference image ``(rh, rw)``."""
        return self._batch["reference"]

    def reconstruction(self, weights: Sequence[float] | None = None) -> np.ndarray:
        """``|x_theta(w)|`` at ``weights`` (default: the current point), ``(rh, rw)``."""
        return self._point(self._weights if weights is None else snap(weights))[0]

    def difference(self, weights: Sequence[float] | None = None) -> np.ndarray:
        """The signed difference ``|x_theta(w)| - |x_SN|``, ``(rh, rw)``."""
        return self.reconstruction(weights) - self._sn()

    def metrics(self, weights: Sequence[float] | None = None) -> dict[str, Any]:
        """Slice metrics (foreground; the volume maximum as data range) at ``weights`` (default: current)."""
        w = self._weights if weights is None else snap(weights)
        return {"weights": list(w), **self._point(w)[1]}

    def state(self) -> dict[str, Any]:
        """What is shown, to re-make the figure: checkpoints, weights per corner, slice, metrics."""
        return {
            "checkpoints": dict(self.checkpoints),
            "weights": dict(zip(self.names, self._weights, strict=True)),
            "selection": dict(self.selection),
            "slice": self._batch["label"],
            "metrics": self.metrics(),
        }


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


# ---- the explorer ------------------------------------------------------------------------------
class TriangleExplorer(TriangleModel):
    """:class:`TriangleModel` with a widget: the picker, the network's image, its difference to the
    SN and the metrics of the point and of the three corners."""

    _widget: Any = None

    @classmethod
    def from_checkpoints(
        cls,
        checkpoint_dir: str | os.PathLike,
        data_root: str | os.PathLike,
        acceleration: int = 8,
        volume: int | str = 0,
        slice: int | None = None,
        device: torch.device | str = "cpu",
        **kwargs: Any,
    ) -> TriangleExplorer:
        """Load the three checkpoints (:data:`CHECKPOINTS`) and one test slice."""
        from recon_lib.models.checkpoint import load_model

        folder = Path(checkpoint_dir)
        paths = [folder / name for name in CHECKPOINTS]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"missing checkpoint {missing[0]}: run `make train` (or copy the shipped ones)")
        models = [load_model(p, device)[0] for p in paths]
        source = SliceSource(data_root, "test", (acceleration,))
        v, s = source.resolve(volume, slice)
        explorer = cls(models, source.item(acceleration, v, s), device=device, **kwargs)
        explorer.checkpoints = dict(zip(VERTICES, (str(p) for p in paths), strict=True))
        explorer.selection = {"acceleration": acceleration, "volume": v, "slice": s}
        return explorer

    def _pngs(self) -> tuple[bytes, bytes]:
        from recon_lib.teaching.explorer_render import lut, png, to_uint8

        image = png(to_uint8(self.reconstruction(), self.display_max))
        diff = self.difference() / self.display_max * 100.0 / self.difference_vmax_percent  # -1..1
        index = np.clip(np.round((diff + 1.0) * 127.5), 0, 255).astype(np.uint8)
        return image, png(lut("RdBu_r")[index])

    def _metrics_html(self) -> str:
        rows = []
        columns = [("point", self.metrics())] + [
            (n, self.metrics(c)) for n, c in zip(self.names, self._corners, strict=True)
        ]
        head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
        for key, (label, fmt, better) in METRICS.items():
            cells = "".join(f"<td>{fmt.format(m[key])}</td>" for _, m in columns)
            rows.append(f"<tr><th>{label}<span class='hint'>{better}</span></th>{cells}</tr>")
        w = ",".join(f"{v:.2f}" for v in self._weights)
        return (
            f'<table class="alpha-explorer-metrics-table triangle-metrics" data-weights="{w}">'
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def widget(self) -> Any:
        """The widget (built once): picker | image | difference, metrics below."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        from recon_lib.teaching.explorer_render import TABLE_STYLE

        picker = triangle_picker(weights=list(self._weights), labels=list(self.names))
        image_png, diff_png = self._pngs()
        size = "240px"
        image = widgets.Image(value=image_png, format="png", layout=widgets.Layout(width=size, height=size))
        image.add_class("triangle-network-image")
        diff = widgets.Image(value=diff_png, format="png", layout=widgets.Layout(width=size, height=size))
        diff.add_class("triangle-difference-image")
        metrics = widgets.HTML(TABLE_STYLE + self._metrics_html())
        metrics.add_class("triangle-metrics")
        status = widgets.HTML("")
        status.add_class("triangle-status")

        def captioned(content: Any, caption: str) -> Any:
            return widgets.VBox([widgets.HTML(f"<b>{html.escape(caption)}</b>"), content])

        def changed(change: Any) -> None:
            try:
                self.set_weights(change["new"])
            except (TypeError, ValueError) as err:
                status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
                return
            status.value = ""
            image.value, diff.value = self._pngs()
            metrics.value = TABLE_STYLE + self._metrics_html()

        picker.observe(changed, names="weights")
        top = widgets.HBox(
            [
                captioned(picker, "weights: click or drag; arrow keys"),
                captioned(image, "interpolated network"),
                captioned(diff, f"|x(w)| − |x_SN|  (±{self.difference_vmax_percent:g} % of white)"),
            ]
        )
        self._widget = widgets.VBox([widgets.HTML(f"<b>{html.escape(self._batch['label'])}</b>"), top, metrics, status])
        self._widget.add_class("triangle-explorer")
        self._picker = picker
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())
