"""Rendering for the alpha explorer's widgets: NumPy -> PNG (no matplotlib figure per change) and the CSS.

Images are encoded straight from NumPy: a colour-map lookup table, then Pillow, so a new alpha
costs a few milliseconds of encoding. The style sheets give the app its stable CSS classes
(``alpha-explorer``, ``alpha-explorer-slider``, ...), which the browser tests use.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["GAP", "lut", "to_uint8", "png", "enlarge", "draw_box", "TABLE_STYLE", "PAGE_STYLE", "BOX_COLOUR"]

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
