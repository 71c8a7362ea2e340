"""The alpha explorer's control rows (ipywidgets): which slice, how it is displayed, and the automatic alpha.

Each function builds one row of :class:`~recon_lib.teaching.explorer.AlphaExplorer`'s app, stores
its controls in ``explorer._widgets`` under stable names (the CSS class is ``alpha-explorer-<name>``)
and wires them to the explorer's methods:

* :func:`selection_controls` -- acceleration, volume (with its contrast) and slice: a new slice
  keeps the models and computes only the two end outputs;
* :func:`display_controls` -- the grey-level window (% of the white level) and the zoom box's
  centre: no network runs, the images are re-encoded;
* :func:`auto_alpha_controls` -- :func:`~recon_lib.training.sweep.select_alpha` on the validation
  sweep: the score, the PSNR budget, and a button that moves the slider to the chosen alpha.

A request the explorer rejects changes nothing and is reported in the status line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recon_lib.teaching.explorer_render import GAP

if TYPE_CHECKING:
    from recon_lib.teaching.explorer import AlphaExplorer

__all__ = ["selection_controls", "display_controls", "auto_alpha_controls", "AUTO_SCORES"]

#: the scores offered for the automatic alpha (sweep key -> label); those in the sweep are shown
AUTO_SCORES = {
    "haarpsi": "HaarPSI",
    "vif": "VIF",
    "gmsd": "GMSD",
    "ssim": "SSIM",
    "hf_energy_ratio": "HF-energy ratio",
    "hf_energy_ratio_truth": "HF-energy ratio vs noise-free",
}


def _register(explorer: AlphaExplorer, controls: dict[str, Any]) -> None:
    for name, control in controls.items():
        control.add_class(f"alpha-explorer-{name.replace('_', '-')}")
        explorer._widgets[name] = control


def _row(widgets: Any, children: list[Any], label_w: int, css: str) -> Any:
    box = widgets.HBox(
        children, layout=widgets.Layout(grid_gap=f"{GAP}px", margin=f"0 0 4px {label_w}px", align_items="center")
    )
    box.add_class(css)
    return box


def selection_controls(explorer: AlphaExplorer, widgets: Any, label_w: int) -> Any:
    """Acceleration, volume and slice pickers (only when the explorer has a slice source)."""
    assert explorer.source is not None
    sel = explorer.selection
    volumes = explorer.source.volumes
    style = {"description_width": "initial"}
    acceleration = widgets.Dropdown(
        options=[(f"{a}x", a) for a in explorer.source.accelerations],
        value=sel["acceleration"],
        description="AF",
        style=style,
        layout=widgets.Layout(width="110px"),
    )
    volume = widgets.Dropdown(
        options=[
            (f"{name} ({acq.replace('COR', '').replace('_FBK', '')})", i) for i, (name, acq, _) in enumerate(volumes)
        ],
        value=sel["volume"],
        description="volume",
        style=style,
        layout=widgets.Layout(width="300px"),
    )
    slice_ = widgets.IntSlider(
        value=sel["slice"],
        min=0,
        max=volumes[sel["volume"]][2] - 1,
        description="slice",
        style=style,
        continuous_update=False,
        layout=widgets.Layout(width="260px"),
    )
    _register(explorer, {"acceleration": acceleration, "volume": volume, "slice": slice_})
    busy = {"on": False}

    def changed(change: Any) -> None:
        if busy["on"]:
            return
        busy["on"] = True
        try:
            if change["owner"] is volume:  # a new volume starts at its middle slice
                new = explorer.select(acceleration=acceleration.value, volume=volume.value)
                slice_.max = volumes[new["volume"]][2] - 1
                slice_.value = new["slice"]
            else:
                explorer.select(acceleration=acceleration.value, volume=volume.value, slice=slice_.value)
            explorer._refresh_slice()
        except ValueError as err:  # nothing changed; say why
            explorer.say(str(err))
        finally:
            busy["on"] = False

    for control in (acceleration, volume, slice_):
        control.observe(changed, names="value")
    return _row(widgets, [acceleration, volume, slice_], label_w, "alpha-explorer-selection")


def display_controls(explorer: AlphaExplorer, widgets: Any, label_w: int) -> Any:
    """The grey-level window and the zoom box's centre (row, column)."""
    rh, rw = explorer.reference.shape
    top, left, h, w = explorer.crop_box
    style = {"description_width": "initial"}
    window = widgets.FloatRangeSlider(
        value=list(explorer.window),
        min=0.0,
        max=200.0,
        step=5.0,
        description="window (% of white)",
        style=style,
        continuous_update=False,
        readout_format=".0f",
        layout=widgets.Layout(width="330px"),
    )

    def centre_slider(value: int, size: int, description: str, width: int) -> Any:
        return widgets.IntSlider(
            value=value,
            min=0,
            max=size - 1,
            description=description,
            style=style,
            continuous_update=False,
            layout=widgets.Layout(width=f"{width}px"),
        )

    zoom_row = centre_slider(top + h // 2, rh, "zoom centre: row", 250)
    zoom_col = centre_slider(left + w // 2, rw, "column", 200)
    _register(explorer, {"window": window, "zoom_row": zoom_row, "zoom_col": zoom_col})

    def window_changed(change: Any) -> None:
        try:
            explorer.set_window(*change["new"])
        except ValueError as err:
            explorer.say(str(err))

    def zoom_changed(_: Any) -> None:
        try:
            explorer.centre_crop_on(zoom_row.value, zoom_col.value)
        except ValueError as err:
            explorer.say(str(err))

    window.observe(window_changed, names="value")
    zoom_row.observe(zoom_changed, names="value")
    zoom_col.observe(zoom_changed, names="value")
    return _row(widgets, [window, zoom_row, zoom_col], label_w, "alpha-explorer-display")


def auto_alpha_controls(explorer: AlphaExplorer, widgets: Any, label_w: int) -> Any:
    """Score, PSNR budget and a "go to alpha*" button (only when the explorer has a validation sweep)."""
    assert explorer.validation_sweep
    present = explorer.validation_sweep[0]
    style = {"description_width": "initial"}
    score = widgets.Dropdown(
        options=[(label, key) for key, label in AUTO_SCORES.items() if key in present],
        value="haarpsi" if "haarpsi" in present else next(k for k in AUTO_SCORES if k in present),
        description="automatic α: best",
        style=style,
        layout=widgets.Layout(width="250px"),
    )
    budget = widgets.FloatSlider(
        value=explorer.auto_budget_db,
        min=0.0,
        max=2.0,
        step=0.1,
        description="within dB of the SN",
        style=style,
        continuous_update=False,
        readout_format=".1f",
        layout=widgets.Layout(width="260px"),
    )
    go = widgets.Button(description="go to α*", layout=widgets.Layout(width="100px"))
    readout = widgets.HTML("")
    _register(explorer, {"auto_score": score, "auto_budget": budget, "auto_go": go, "auto_readout": readout})

    def update(_: Any = None) -> None:
        explorer.auto_score, explorer.auto_budget_db = score.value, float(budget.value)
        explorer._refresh_auto()

    def go_clicked(_: Any) -> None:
        if explorer._suggestion is not None:
            explorer.set_alpha(explorer._suggestion["alpha"])

    score.observe(update, names="value")
    budget.observe(update, names="value")
    go.on_click(go_clicked)
    explorer.auto_score = score.value
    return _row(widgets, [score, budget, go, readout], label_w, "alpha-explorer-auto")
