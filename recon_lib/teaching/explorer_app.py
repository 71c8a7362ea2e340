"""The alpha explorer's app layout (ipywidgets): title, control rows, slider, the image grid, curves, export.

:func:`build_app` lays out :class:`~recon_lib.teaching.explorer.AlphaExplorer`'s widgets; the
explorer keeps the state, the rendering and the callbacks. Layout (rows x columns)::

                  Reference        Network interp. theta(alpha)   Image blending
    full image    |ref|            |x_theta(alpha)|               |(1-a) x_SN + a x_GAN|
    zoom          crop             crop                           crop
    error         colour scale     ||x| - ref|                    ||x| - ref|
    change        colour scale     |x(a)| - |x_SN|                |blend(a)| - |x_SN|

then the metrics table, the metric curves against alpha and the export button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from recon_lib.teaching.explorer_controls import auto_alpha_controls, display_controls, selection_controls
from recon_lib.teaching.explorer_render import GAP, PAGE_STYLE

if TYPE_CHECKING:
    from recon_lib.teaching.explorer import AlphaExplorer

__all__ = ["build_app"]


def build_app(explorer: AlphaExplorer) -> Any:
    """The app's container widget (``VBox.alpha-explorer``); fills ``explorer._widgets``."""
    import ipywidgets as widgets

    label_w, pw = explorer._column_widths()
    rh, rw = explorer._batch["reference"].shape
    top, left, h, w = explorer.crop_box
    ph = int(round(pw * rh / rw))  # displayed height of a full slice
    zh = int(round(pw * h / w))  # displayed height of a zoom

    def image(name: str, value: bytes, height: int, css: str | None = None) -> Any:
        img = widgets.Image(value=value, format="png", layout=widgets.Layout(width=f"{pw}px", height=f"{height}px"))
        if css:
            img.add_class(css)
        explorer._widgets[name] = img
        return img

    def text(content: str, css: str) -> Any:
        return widgets.HTML(f'<div class="{css}">{content}</div>')

    def legend(kind: str, lut: np.ndarray) -> Any:
        bar_h = max(ph - 24, 40)
        colourbar = widgets.Image(
            value=explorer._png_colourbar(lut), format="png", layout=widgets.Layout(width="16px", height=f"{bar_h}px")
        )
        scale = widgets.HTML(explorer._scale_html(kind, bar_h))
        scale.bar_height = bar_h
        explorer._widgets[f"{kind}_scale"] = scale
        return widgets.HBox(
            [colourbar, scale],
            layout=widgets.Layout(width=f"{pw}px", height=f"{ph}px", align_items="center", justify_content="center"),
        )

    slider = widgets.FloatSlider(
        value=explorer._alpha,
        min=0.0,
        max=1.0,
        step=explorer.step,
        description="",
        continuous_update=False,
        readout=True,
        readout_format=".2f",
        layout=widgets.Layout(width=f"{pw * 2 + GAP}px"),
    )
    slider.add_class("alpha-explorer-slider")
    explorer._widgets["slider"] = slider
    slider.observe(lambda change: explorer._show(float(change["new"])), names="value")

    view = explorer._rendered(explorer._view(explorer._alpha))
    ref_full, ref_zoom = explorer._reference_pngs()
    columns = [
        (
            "reference",
            "Reference",
            "fully sampled SENSE target",
            [
                image("reference", ref_full, ph),
                image("reference_zoom", ref_zoom, zh),
                legend("error", explorer._error_lut),
                legend("difference", explorer._difference_lut),
            ],
        ),
        *(
            (
                kind,
                name,
                sub,
                [
                    image(kind, view.png[kind], ph, f"alpha-explorer-{kind}-image"),
                    image(f"{kind}_zoom", view.png[f"{kind}_zoom"], zh, f"alpha-explorer-{kind}-zoom"),
                    image(f"{kind}_error", view.png[f"{kind}_error"], ph, f"alpha-explorer-{kind}-error"),
                    image(
                        f"{kind}_difference",
                        view.png[f"{kind}_difference"],
                        ph,
                        f"alpha-explorer-{kind}-difference",
                    ),
                ],
            )
            for kind, name, sub in (
                (
                    "network",
                    "Network interpolation",
                    "weights (1&minus;&alpha;)&theta;<sub>SN</sub> + &alpha;&theta;<sub>SN-GAN</sub>",
                ),
                ("blend", "Image blending", "pixels |(1&minus;&alpha;)x<sub>SN</sub> + &alpha;x<sub>SN-GAN</sub>|"),
            )
        ),
    ]
    row_labels = [
        "full slice",
        f"zoom &times;{rw / w:.1f}<br>(yellow box)",
        "error map",
        "change from<br>SN (&alpha; = 0)",
    ]
    children = [text("", "alpha-explorer-rowhead")]
    children += [
        text(f"<b>{name}</b><br><span class='sub'>{sub}</span>", f"alpha-explorer-colhead head-{key}")
        for key, name, sub, _ in columns
    ]
    for r, row_label in enumerate(row_labels):
        children.append(text(row_label, "alpha-explorer-rowhead"))
        children.extend(column[3][r] for column in columns)
    metrics = widgets.HTML(
        explorer._metrics_html(view), layout=widgets.Layout(grid_column="1 / span 4", margin="6px 0 0 0")
    )
    metrics.add_class("alpha-explorer-metrics")
    explorer._widgets["metrics"] = metrics
    children.append(metrics)
    grid = widgets.GridBox(
        children,
        layout=widgets.Layout(
            grid_template_columns=f"{label_w}px repeat(3, {pw}px)", grid_gap=f"4px {GAP}px", align_items="center"
        ),
    )

    status = widgets.HTML("")
    status.add_class("alpha-explorer-status")
    explorer._widgets["status"] = status
    title = widgets.HTML(explorer._title_html())
    explorer._widgets["title"] = title
    export = widgets.Button(description="Export view", icon="download", layout=widgets.Layout(width="130px"))
    export.add_class("alpha-explorer-export")
    explorer._widgets["export"] = export

    def on_export(_: Any) -> None:
        try:
            paths = explorer.export(explorer.export_dir)
        except OSError as err:
            message = f"export failed: {err}"
        else:
            message = "wrote " + ", ".join(p.name for p in paths) + f" to {paths[0].parent}"
        explorer.say(message)

    export.on_click(on_export)
    slider_row = widgets.HBox(
        [text("&alpha;", "alpha-explorer-rowhead slider-label"), slider, status],
        layout=widgets.Layout(align_items="center", grid_gap=f"{GAP}px"),
    )
    ends = text(
        "0 = SN (trained with L1 + SSIM) &emsp;&larr;&ensp;&alpha;&ensp;&rarr;&emsp; "
        "1 = SN-GAN (adversarial fine-tuning)",
        "alpha-explorer-ends",
    )
    ends.layout.margin = f"0 0 6px {label_w + 2 * GAP}px"
    rows = [widgets.HTML(PAGE_STYLE), title]
    if explorer.source is not None:
        rows.append(selection_controls(explorer, widgets, label_w))
    rows.append(display_controls(explorer, widgets, label_w))
    curve = widgets.HTML(
        explorer.curve_html(), layout=widgets.Layout(width=f"{3 * pw + 2 * GAP + 40}px", margin=f"8px 0 0 {label_w}px")
    )
    curve.add_class("alpha-explorer-curve-panel")
    explorer._widgets["curve"] = curve
    rows += [slider_row, ends]
    if explorer.validation_sweep:
        rows.append(auto_alpha_controls(explorer, widgets, label_w))
    rows += [grid, curve, widgets.HBox([export], layout=widgets.Layout(margin=f"6px 0 0 {label_w}px"))]
    container = widgets.VBox(rows, layout=widgets.Layout(padding="4px 0"))
    container.add_class("alpha-explorer")
    explorer._widgets["container"] = container
    explorer._refresh_auto()
    explorer._show(explorer._alpha)
    return container
