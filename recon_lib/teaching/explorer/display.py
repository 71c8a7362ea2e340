"""What the explorers show and how: display settings as a small value object, NumPy -> PNG, the CSS.

:class:`Display` holds one slice's display settings: the grey-level window (in % of the white
level), the zoom box, and the fixed scales of the error and difference maps (chosen once per slice
so that every point of the simplex is shown on the same scale). The functions below turn
magnitude images into PNG bytes with it: a colour-map lookup table, then Pillow, so a new alpha
costs a few milliseconds of encoding and no matplotlib figure. The style sheets give the apps
their stable CSS classes (``alpha-explorer``, ``alpha-explorer-slider``, ...), which the browser
tests use.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recon_lib.metrics.texture import high_pass

__all__ = [
    "GAP",
    "BOX_COLOUR",
    "Display",
    "nice_ceiling",
    "white_level",
    "check_window",
    "check_box",
    "box_fits",
    "box_centred_on",
    "lut",
    "to_uint8",
    "png",
    "enlarge",
    "draw_box",
    "grey_png",
    "zoom_png",
    "error_png",
    "difference_png",
    "colourbar_png",
    "TABLE_STYLE",
    "PAGE_STYLE",
]

GAP = 10  # CSS pixels between the explorer grid's columns and controls
BOX_COLOUR = np.array([255, 204, 0], dtype=np.uint8)  # the crop box, as in plotting.zoom_crop


def lut(cmap: str) -> np.ndarray:
    """A ``(256, 3)`` uint8 lookup table of a matplotlib colour map (no pyplot import)."""
    import matplotlib

    colours = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(colours * 255).astype(np.uint8)


def to_uint8(image: np.ndarray, vmax: float, vmin: float = 0.0) -> np.ndarray:
    """``(image - vmin) / (vmax - vmin)`` clipped to [0, 1] as uint8 (0..255)."""
    scaled = np.clip((image - vmin) * (255.0 / (vmax - vmin)), 0.0, 255.0)
    return (scaled + 0.5).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB array as PNG bytes."""
    from PIL import Image as PILImage  # Pillow ships with matplotlib

    buffer = io.BytesIO()
    # compress_level 1: ~3x faster than the default, files ~10 % larger (measured at 160 x 160)
    PILImage.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def enlarge(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (keeps pixels visible in the zoom)."""
    if factor <= 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def draw_box(rgb: np.ndarray, box: tuple[int, int, int, int], width: int = 1) -> np.ndarray:
    """Draw the outline of ``box = (top, left, height, width)`` onto an RGB image in place."""
    top, left, h, w = box
    bottom, right = top + h - 1, left + w - 1
    rgb[top : top + width, left : right + 1] = BOX_COLOUR
    rgb[bottom - width + 1 : bottom + 1, left : right + 1] = BOX_COLOUR
    rgb[top : bottom + 1, left : left + width] = BOX_COLOUR
    rgb[top : bottom + 1, right - width + 1 : right + 1] = BOX_COLOUR
    return rgb


Box = tuple[int, int, int, int]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= ``value``: a readable
    colour-bar top at most a third above the data's largest value (1, 2, 2.5, 5 steps had put a
    10.3 % change on a 20 % bar).

    Example:
        >>> nice_ceiling(3.2), nice_ceiling(0.012), nice_ceiling(10.3), nice_ceiling(0.0)
        (4.0, 0.012, 12.0, 1.0)
    """
    if not value > 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        top = float(f"{step * 10.0**exponent:.12g}")
        if top >= value * (1 - 1e-9):
            return top
    return float(f"{10.0 ** (exponent + 1):.12g}")


def white_level(reference: np.ndarray) -> float:
    """The display's white: the reference's 99.5th percentile (its peak, or 1, where that is 0)."""
    return float(np.percentile(reference, 99.5)) or float(np.abs(reference).max()) or 1.0


def check_window(low: float, high: float) -> tuple[float, float]:
    """A grey-level window ``(low, high)`` in % of the white level, checked: ``0 <= low < high <= 400``."""
    values = (low, high)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError(f"window must be two finite numbers (low, high) in % of the white level, got {values!r}")
    if not 0.0 <= low < high <= 400.0:
        raise ValueError(f"window must satisfy 0 <= low < high <= 400 (% of the white level), got {values!r}")
    return (float(low), float(high))


def check_box(box: Sequence[int] | None, shape: tuple[int, int]) -> Box:
    """A zoom box ``(top, left, height, width)`` inside an image of ``shape``, checked (None: a
    centred box of a third of each side)."""
    rh, rw = shape
    if box is None:
        h, w = max(rh // 3, 8), max(rw // 3, 8)
        return ((rh - h) // 2, (rw - w) // 2, min(h, rh), min(w, rw))
    if len(box) != 4 or not all(isinstance(v, (int, np.integer)) for v in box):
        raise ValueError(f"crop_box must be four ints (top, left, height, width), got {box!r}")
    top, left, h, w = (int(v) for v in box)
    if not (h >= 2 and w >= 2 and top >= 0 and left >= 0 and top + h <= rh and left + w <= rw):
        raise ValueError(f"crop_box {tuple(box)} (top, left, height, width) must lie inside the {rh} x {rw} target")
    return (top, left, h, w)


def texture_box(change: np.ndarray, size: tuple[int, int] | None = None) -> Box:
    """The zoom box placed by a stated rule, not by eye: the box (default: a third of each side, as
    :func:`check_box`'s centred one) holding the most high-frequency energy of ``change`` -- the
    difference the explorer is about (SN-GAN - SN), high-passed above the HF-energy ratio's cutoff
    (:func:`~recon_lib.metrics.texture.high_pass`). Ties go to the first box in reading order; a
    change without high frequencies keeps the centred box.

    Example:
        >>> change = np.zeros((60, 60)); change[40:52, 5:17] = np.random.default_rng(0).normal(size=(12, 12))
        >>> texture_box(change)  # rows 36-55, columns 1-20: around the textured patch
        (36, 1, 20, 20)
    """
    rh, rw = change.shape
    centred = check_box(None, (rh, rw))
    h, w = size or centred[2:]
    energy = high_pass(change) ** 2
    if not np.isfinite(energy).all() or float(energy.sum()) == 0.0:
        return centred
    sums = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # box sums by inclusion-exclusion
    boxes = sums[h:, w:] - sums[:-h, w:] - sums[h:, :-w] + sums[:-h, :-w]  # (rh - h + 1, rw - w + 1)
    top, left = np.unravel_index(int(np.argmax(boxes)), boxes.shape)
    return check_box((int(top), int(left), h, w), (rh, rw))


def box_fits(box: Box, shape: tuple[int, ...]) -> bool:
    """Whether ``box`` lies inside an image of ``shape``."""
    top, left, h, w = box
    return top + h <= shape[0] and left + w <= shape[1]


def box_centred_on(box: Box, row: int, col: int, shape: tuple[int, int]) -> Box:
    """``box`` (same size) centred on pixel ``(row, col)``, kept inside an image of ``shape``."""
    rh, rw = shape
    for name, v, n in (("row", row, rh), ("col", col, rw)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < n:
            raise ValueError(f"{name} must be an int in [0, {n}), got {v!r}")
    _, _, h, w = box
    top = min(max(int(row) - h // 2, 0), rh - h)
    left = min(max(int(col) - w // 2, 0), rw - w)
    return check_box((top, left, h, w), shape)


@dataclass(frozen=True)
class Display:
    """One slice's display settings (no computation depends on them).

    Attributes:
        crop_box: the zoomed region ``(top, left, height, width)`` in pixels of the target grid.
        white: the white level of the magnitude images (:func:`white_level` of the reference).
        peak: the reference's maximum (the error maps are in % of it).
        error_limit: top of the error maps' scale, in % of ``peak``.
        difference_limit: the difference maps' symmetric scale, in % of ``white``.
        window: the grey-level window in % of ``white``; ``(0, 100)`` shows black to white over ``[0, white]``.
    """

    crop_box: Box
    white: float
    peak: float
    error_limit: float
    difference_limit: float
    window: tuple[float, float] = (0.0, 100.0)

    @classmethod
    def for_slice(
        cls,
        reference: np.ndarray,
        corners: Sequence[np.ndarray],
        base: int,
        crop_box: Sequence[int] | None = None,
        window: tuple[float, float] = (0.0, 100.0),
    ) -> Display:
        """The scales of one slice, fixed for every point so that brightness and errors are comparable:
        errors up to the corners' largest 99.5th percentile, differences from corner ``base`` likewise.
        Without ``crop_box`` the zoom goes where the corners differ most in fine detail
        (:func:`texture_box` of the largest change from corner ``base``)."""
        peak = float(np.abs(reference).max()) or 1.0
        white = white_level(reference)
        errors = max(float(np.percentile(np.abs(c - reference), 99.5)) for c in corners)
        spread = max(float(np.percentile(np.abs(c - corners[base]), 99.5)) for c in corners)
        if crop_box is None and len(corners) > 1:
            changes = [np.asarray(c, dtype=np.float64) - corners[base] for c in corners]
            crop_box = texture_box(max(changes, key=lambda d: float(np.sum(d**2))))
        return cls(
            crop_box=check_box(crop_box, reference.shape),
            white=white,
            peak=peak,
            error_limit=nice_ceiling(100.0 * errors / peak),
            difference_limit=nice_ceiling(100.0 * spread / white),
            window=check_window(*window),
        )

    def with_window(self, low: float, high: float) -> Display:
        """This display with another grey-level window (checked)."""
        return dataclasses.replace(self, window=check_window(low, high))

    def with_box(self, box: Sequence[int], shape: tuple[int, int]) -> Display:
        """This display with another zoom box (checked against the image ``shape``)."""
        return dataclasses.replace(self, crop_box=check_box(box, shape))

    def grey_range(self) -> tuple[float, float]:
        """``(black, white)`` of the magnitude images in image units (from :attr:`window`)."""
        low, high = self.window
        return low / 100.0 * self.white, high / 100.0 * self.white

    def zoom_factor(self, panel_width: int) -> int:
        """The integer enlargement that fills ``panel_width`` CSS pixels with the zoom box."""
        return max(1, int(round(panel_width / self.crop_box[3])))


def _grey(magnitude: np.ndarray, display: Display) -> np.ndarray:
    black, white = display.grey_range()
    return to_uint8(magnitude, white, black)


def grey_png(magnitude: np.ndarray, display: Display, box: bool = True) -> bytes:
    """The full image in the display's window, with the zoom box drawn in yellow (``box``)."""
    rgb = np.repeat(_grey(magnitude, display)[:, :, None], 3, axis=2)
    return png(draw_box(rgb, display.crop_box) if box else rgb)


def zoom_png(magnitude: np.ndarray, display: Display, panel_width: int) -> bytes:
    """The zoom box of ``magnitude``, enlarged to about ``panel_width`` pixels (nearest neighbour)."""
    top, left, h, w = display.crop_box
    crop = _grey(magnitude[top : top + h, left : left + w], display)
    return png(enlarge(crop, display.zoom_factor(panel_width)))


def error_png(magnitude: np.ndarray, reference: np.ndarray, display: Display, table: np.ndarray) -> bytes:
    """``||x| - ref|`` in % of the reference's peak, on the slice's fixed scale, through colour map ``table``."""
    error_percent = np.abs(magnitude - reference) * (100.0 / display.peak)
    return png(table[to_uint8(error_percent, display.error_limit)])


def difference_png(magnitude: np.ndarray, base: np.ndarray, display: Display, table: np.ndarray) -> bytes:
    """``|x| - |x_base|`` in % of the white level on the slice's symmetric scale, through ``table``."""
    percent = (magnitude - base) * (100.0 / display.white)
    limit = display.difference_limit
    return png(table[to_uint8(percent + limit, 2 * limit)])


def colourbar_png(table: np.ndarray, width: int = 18) -> bytes:
    """A vertical colour bar of ``table`` (top = maximum)."""
    ramp = np.linspace(255, 0, 128).astype(np.uint8)
    return png(np.repeat(table[ramp][:, None, :], width, axis=1))


TABLE_STYLE = """<style>
.alpha-explorer-metrics-table { border-collapse: collapse; table-layout: fixed; font-size: 13px;
  font-variant-numeric: tabular-nums; color: #222; }
.alpha-explorer-metrics-table th, .alpha-explorer-metrics-table td { padding: 3px 6px; border-bottom: 1px solid #e2e2e2;
  text-align: center; }
.alpha-explorer-metrics-table thead th { border-bottom: 2px solid #999; font-weight: 600; font-size: 12px;
  vertical-align: bottom; line-height: 1.25; }
.alpha-explorer-metrics-table tbody th { text-align: right; font-weight: 600; white-space: nowrap;
  padding-right: 12px; }
.alpha-explorer-metrics-table .hint { display: block; font-weight: normal; font-size: 10.5px; color: #888; }
.alpha-explorer-metrics-table .col-network { background: #e9f1ff; }
.alpha-explorer-metrics-table .col-blend { background: #fff3e0; }
.alpha-explorer-metrics-table td.col-sn, .alpha-explorer-metrics-table td.col-gan { color: #666; }
.alpha-explorer-metrics-table th.col-sn, .alpha-explorer-metrics-table th.col-gan { color: #666; font-weight: 500; }
.alpha-explorer-metrics-table td.best { font-weight: 700; color: #000; }
.alpha-explorer-note { font-size: 11.5px; color: #666; margin-top: 6px; line-height: 1.4; }
</style>"""

PAGE_STYLE = """<style>
.alpha-explorer .widget-html-content { line-height: 1.3; }
.alpha-explorer-title { font-size: 17px; font-weight: 600; margin: 2px 0 6px 0; color: #222; }
.alpha-explorer-title .sub { font-weight: normal; font-size: 13px; color: #777; }
.alpha-explorer-ends { font-size: 12px; color: #555; }
.alpha-explorer-colhead { text-align: center; font-size: 13.5px; line-height: 1.3; padding-top: 3px;
  border-top: 3px solid #bbb; color: #222; }
.alpha-explorer-colhead.head-network { border-top-color: #4a7fd6; }
.alpha-explorer-colhead.head-blend { border-top-color: #e89a2c; }
.alpha-explorer-colhead .sub { font-size: 11.5px; color: #666; }
.alpha-explorer-rowhead { font-size: 12px; color: #555; text-align: right; line-height: 1.3; }
.alpha-explorer-rowhead.slider-label { width: 100px; font-weight: 600; font-size: 16px; color: #333; }
.alpha-explorer-scale { display: flex; flex-direction: column; justify-content: space-between;
  font-size: 11.5px; color: #333; margin-left: 8px; line-height: 1.3; }
.alpha-explorer-scale .mid { color: #777; font-size: 11px; }
.alpha-explorer-status-text { font-size: 12px; color: #888; }
.alpha-explorer-network-zoom, .alpha-explorer-blend-zoom { image-rendering: pixelated; }
</style>"""
