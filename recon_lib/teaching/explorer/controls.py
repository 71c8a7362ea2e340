"""The explorers' control rows (ipywidgets): which slice, how it is displayed, and the automatic alpha.

Each function builds one row and returns it with its controls by stable name (the CSS class of
each control is ``alpha-explorer-<name>``). A row knows nothing of the app it sits in: it is
wired to the callbacks it is given, and a callback that raises ``ValueError`` (a request that
changes nothing) has its message passed to ``report``.

* :func:`selection_row` -- acceleration, volume (with its contrast) and slice;
* :func:`display_row` -- the grey-level window (% of the white level) and the zoom box's centre;
* :func:`auto_alpha_row` -- the score and PSNR budget of
  :func:`~recon_lib.evaluation.sweep.select_alpha` on the validation sweep, and a button that
  moves the slider to the chosen alpha.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from recon_lib.teaching.explorer.display import GAP

__all__ = ["selection_row", "display_row", "auto_alpha_row", "AUTO_SCORES", "DEFAULT_AUTO_SCORE", "default_auto_score"]

#: the scores offered for the automatic alpha (sweep key -> label); those in the sweep are shown
AUTO_SCORES = {
    "haarpsi": "HaarPSI",
    "vif": "VIF",
    "gmsd": "GMSD",
    "ssim": "SSIM",
    "hf_energy_ratio": "HF-energy ratio",
    "hf_energy_ratio_truth": "HF-energy ratio vs noise-free",
}
#: the automatic alpha's starting score: the perception axis, texture against the noise-free truth
#: (the full-reference indices are fidelity measures: under a PSNR budget they pick the SN itself,
#: alpha = 0 at AF 4 on the shipped validation sweep)
DEFAULT_AUTO_SCORE = "hf_energy_ratio_truth"


def default_auto_score(present: Any) -> str:
    """The starting score among the keys ``present`` in a validation sweep: :data:`DEFAULT_AUTO_SCORE`,
    else HaarPSI (a sweep of real data has no truth), else the first of :data:`AUTO_SCORES` present."""
    for key in (DEFAULT_AUTO_SCORE, "haarpsi"):
        if key in present:
            return key
    return next(k for k in AUTO_SCORES if k in present)


Report = Callable[[str], None]
Row = tuple[Any, dict[str, Any]]
STYLE = {"description_width": "initial"}


def _row(widgets: Any, controls: Mapping[str, Any], label_w: int, css: str) -> Any:
    for name, control in controls.items():
        control.add_class(f"alpha-explorer-{name.replace('_', '-')}")
    box = widgets.HBox(
        list(controls.values()),
        layout=widgets.Layout(grid_gap=f"{GAP}px", margin=f"0 0 4px {label_w}px", align_items="center"),
    )
    box.add_class(css)
    return box


def _guarded(action: Callable[..., Any], report: Report) -> Callable[..., None]:
    """``action`` with a ``ValueError`` (nothing changed) shown through ``report`` instead of raised."""

    def run(*args: Any) -> None:
        try:
            action(*args)
        except ValueError as err:
            report(str(err))

    return run


def selection_row(
    widgets: Any,
    accelerations: Sequence[int],
    volumes: Sequence[tuple[str, str, int]],
    selection: Mapping[str, Any],
    select: Callable[[int, int, int | None], Mapping[str, Any]],
    report: Report,
    label_w: int,
) -> Row:
    """Acceleration, volume and slice pickers.

    Args:
        accelerations: the accelerations offered.
        volumes: ``(file name, acquisition, number of slices)`` of each volume.
        selection: the current ``{"acceleration", "volume", "slice"}``.
        select: ``select(acceleration, volume, slice)`` shows a slice and returns the new selection;
            ``slice`` is None for a new volume (which then starts at its middle slice).
    """
    acceleration = widgets.Dropdown(
        options=[(f"{a}x", a) for a in accelerations],
        value=selection["acceleration"],
        description="AF",
        style=STYLE,
        layout=widgets.Layout(width="110px"),
    )
    volume = widgets.Dropdown(
        options=[
            (f"{name} ({acq.replace('COR', '').replace('_FBK', '')})", i) for i, (name, acq, _) in enumerate(volumes)
        ],
        value=selection["volume"],
        description="volume",
        style=STYLE,
        layout=widgets.Layout(width="300px"),
    )
    slice_ = widgets.IntSlider(
        value=selection["slice"],
        min=0,
        max=volumes[selection["volume"]][2] - 1,
        description="slice",
        style=STYLE,
        continuous_update=False,
        layout=widgets.Layout(width="260px"),
    )
    busy = {"on": False}  # the slice slider's own update (after a new volume) is not a request

    def changed(change: Any) -> None:
        if busy["on"]:
            return
        busy["on"] = True
        try:
            new_volume = change["owner"] is volume
            new = select(acceleration.value, volume.value, None if new_volume else slice_.value)
            if new_volume:
                slice_.max = volumes[new["volume"]][2] - 1
                slice_.value = new["slice"]
        finally:
            busy["on"] = False

    for control in (acceleration, volume, slice_):
        control.observe(_guarded(changed, report), names="value")
    controls = {"acceleration": acceleration, "volume": volume, "slice": slice_}
    return _row(widgets, controls, label_w, "alpha-explorer-selection"), controls


def display_row(
    widgets: Any,
    window: tuple[float, float],
    centre: tuple[int, int],
    shape: tuple[int, int],
    set_window: Callable[[float, float], Any],
    centre_on: Callable[[int, int], Any],
    report: Report,
    label_w: int,
) -> Row:
    """The grey-level window and the zoom box's centre (row, column) of an image of ``shape``."""
    window_slider = widgets.FloatRangeSlider(
        value=list(window),
        min=0.0,
        max=200.0,
        step=5.0,
        description="window (% of white)",
        style=STYLE,
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
            style=STYLE,
            continuous_update=False,
            layout=widgets.Layout(width=f"{width}px"),
        )

    zoom_row = centre_slider(centre[0], shape[0], "zoom centre: row", 250)
    zoom_col = centre_slider(centre[1], shape[1], "column", 200)
    window_slider.observe(_guarded(lambda change: set_window(*change["new"]), report), names="value")
    moved = _guarded(lambda _: centre_on(zoom_row.value, zoom_col.value), report)
    zoom_row.observe(moved, names="value")
    zoom_col.observe(moved, names="value")
    controls = {"window": window_slider, "zoom_row": zoom_row, "zoom_col": zoom_col}
    return _row(widgets, controls, label_w, "alpha-explorer-display"), controls


def auto_alpha_row(
    widgets: Any,
    present: Collection[str],
    budget_db: float,
    choose: Callable[[str, float], Any],
    go: Callable[[], Any],
    label_w: int,
) -> Row:
    """Score, PSNR budget and a "go to alpha*" button.

    Args:
        present: the score keys the validation sweep holds (those of :data:`AUTO_SCORES` are offered).
        budget_db: the initial PSNR budget.
        choose: ``choose(score, budget_db)``, called when either changes.
        go: called by the button.
    """
    score = widgets.Dropdown(
        options=[(label, key) for key, label in AUTO_SCORES.items() if key in present],
        value=default_auto_score(present),
        description="automatic α: best",
        style=STYLE,
        layout=widgets.Layout(width="250px"),
    )
    budget = widgets.FloatSlider(
        value=budget_db,
        min=0.0,
        max=2.0,
        step=0.1,
        description="within dB of the SN",
        style=STYLE,
        continuous_update=False,
        readout_format=".1f",
        layout=widgets.Layout(width="260px"),
    )
    button = widgets.Button(description="go to α*", layout=widgets.Layout(width="100px"))
    readout = widgets.HTML("")

    def update(_: Any = None) -> None:
        choose(score.value, float(budget.value))

    score.observe(update, names="value")
    budget.observe(update, names="value")
    button.on_click(lambda _: go())
    controls = {"auto_score": score, "auto_budget": budget, "auto_go": button, "auto_readout": readout}
    return _row(widgets, controls, label_w, "alpha-explorer-auto"), controls
