"""The alpha explorer's metric curves: each metric of the slice against alpha, as inline SVG.

Drawn from the explorer's cache (every alpha computed so far: the curve fills in as the slider
moves, and is complete after ``precompute()``), with the network path solid, the image blend
dashed and a vertical marker at the current alpha. SVG strings cost microseconds to build, so the
curve follows every slider move without adding to its latency (a matplotlib figure would add
~50 ms).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

__all__ = ["CURVE_METRICS", "curve_svg"]

#: the curves drawn: key -> (title, which way is better: up, or best at 1)
CURVE_METRICS: dict[str, tuple[str, str]] = {
    "psnr": ("PSNR (dB)", "↑"),
    "ssim": ("SSIM", "↑"),
    "hf_energy_ratio": ("HF-energy ratio", "best at 1"),
    "hf_ratio_truth": ("HF ratio vs noise-free truth", "best at 1"),
}
_COLOURS = {"network": "#1f77b4", "blend": "#ff7f0e"}


def _ticks(low: float, high: float) -> list[float]:
    """Three readable tick values spanning ``[low, high]``."""
    return [low, (low + high) / 2, high]


def curve_svg(
    points: Sequence[tuple[float, Mapping[str, float], Mapping[str, float]]],
    alpha: float,
    metrics: Sequence[str] = tuple(CURVE_METRICS),
    width: int = 200,
    height: int = 120,
    suggested: float | None = None,
) -> str:
    """One small SVG chart per metric: value against alpha for the network and the blend.

    Args:
        points: ``(alpha, network metrics, blend metrics)`` of every computed alpha, any order.
        alpha: the current alpha (the vertical marker).
        metrics: keys of :data:`CURVE_METRICS` to draw.
        width, height: size of one chart in CSS pixels.
        suggested: the automatic alpha (:func:`~recon_lib.evaluation.sweep.select_alpha` on the
            validation split), drawn as a dashed green marker (``line.alpha-suggested``); None: none.

    Returns:
        An HTML string: a ``div.alpha-explorer-curves`` holding one ``svg`` per metric, each with a
        ``data-metric`` attribute, one ``polyline`` per path (``data-path="network"`` / ``"blend"``,
        ``data-alphas``) and the marker (``line.alpha-marker``, ``data-alpha``).

    Example:
        >>> svg = curve_svg([(0.0, {"psnr": 30.0}, {"psnr": 30.0}), (1.0, {"psnr": 28.0}, {"psnr": 28.0})],
        ...                 0.5, metrics=["psnr"])
        >>> 'data-alpha="0.50"' in svg and svg.count("<polyline") == 2
        True
    """
    unknown = [m for m in metrics if m not in CURVE_METRICS]
    if unknown:
        raise ValueError(f"unknown curve metric {unknown[0]!r} (known: {', '.join(CURVE_METRICS)})")
    pts = sorted(points, key=lambda p: p[0])
    metrics = [m for m in metrics if any(m in n for _, n, _ in pts)]  # a metric no point has is not drawn
    series = {"network": [(a, n) for a, n, _ in pts], "blend": [(a, b) for a, _, b in pts]}
    frame = _Frame(width, height)
    charts = [_chart(key, series, alpha, suggested, frame) for key in metrics]
    auto = (
        '<span style="color:#2ca02c">&#9482; automatic &alpha;* (validation)</span> &emsp; '
        if suggested is not None
        else ""
    )
    legend = (
        '<div class="curve-legend"><span style="color:#1f77b4">&#9473; network interpolation</span> &emsp; '
        '<span style="color:#ff7f0e">&#9476; image blending</span> &emsp; '
        f'<span style="color:#d62728">&#9474; current &alpha;</span> &emsp; {auto}'
        f'<span class="curve-hint">{len(pts)} &alpha; computed so far</span></div>'
    )
    return f'{_STYLE}<div class="alpha-explorer-curves">{"".join(charts)}{legend}</div>'


_STYLE = (
    "<style>.alpha-explorer-curves{display:flex;flex-wrap:wrap;gap:6px 14px;font:11px sans-serif}"
    ".curve-title{font-size:11px;font-weight:600;fill:#333}.curve-hint{font-weight:normal;fill:#888;color:#888}"
    ".curve-frame{fill:#fafafa;stroke:#ccc}.curve-tick{font-size:9px;fill:#666}"
    ".alpha-marker{stroke:#d62728;stroke-width:1.5}"
    ".alpha-suggested{stroke:#2ca02c;stroke-width:1.5;stroke-dasharray:3 2}"
    ".curve-legend{width:100%;color:#444}</style>"
)


class _Frame:
    """One chart's geometry: its size and the plot area inside the margins, alpha 0..1 left to right."""

    left, right, top, bottom = 38, 8, 18, 22

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pw, self.ph = width - self.left - self.right, height - self.top - self.bottom

    def x_of(self, a: float) -> float:
        return self.left + a * self.pw

    def marker(self, a: float, css: str) -> str:
        x = f"{self.x_of(a):.1f}"
        return f'<line x1="{x}" x2="{x}" y1="{self.top}" y2="{self.top + self.ph}" class="{css}" data-alpha="{a:.2f}"/>'


def _chart(
    key: str,
    series: Mapping[str, Sequence[tuple[float, Mapping[str, float]]]],
    alpha: float,
    suggested: float | None,
    frame: _Frame,
) -> str:
    """One metric's SVG: frame, ticks, the two paths (network with points), the markers."""
    title, better = CURVE_METRICS[key]
    values = [m[key] for path in series.values() for _, m in path if key in m]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5 * (abs(low) * 1e-3 + 1e-6), high + 0.5 * (abs(high) * 1e-3 + 1e-6)
    pad = 0.08 * (high - low)
    low, high = low - pad, high + pad

    def y_of(v: float) -> float:
        return frame.top + (1.0 - (v - low) / (high - low)) * frame.ph

    parts = [
        f'<svg width="{frame.width}" height="{frame.height}" data-metric="{key}" class="alpha-explorer-curve">',
        f'<text x="{frame.left}" y="12" class="curve-title">{html.escape(title)}'
        f'<tspan class="curve-hint"> ({html.escape(better)})</tspan></text>',
        f'<rect x="{frame.left}" y="{frame.top}" width="{frame.pw}" height="{frame.ph}" class="curve-frame"/>',
    ]
    decimals = 2 if key == "psnr" else 3
    parts += [
        f'<text x="{frame.left - 3}" y="{y_of(v) + 3:.1f}" class="curve-tick" text-anchor="end">{v:.{decimals}f}</text>'
        for v in _ticks(low + pad, high - pad)
    ]
    parts += [
        f'<text x="{frame.x_of(a):.1f}" y="{frame.height - 8}" class="curve-tick" text-anchor="middle">{a:g}</text>'
        for a in (0.0, 0.5, 1.0)
    ]
    for path, dash in (("blend", ' stroke-dasharray="4 3"'), ("network", "")):
        xy = [(a, m[key]) for a, m in series[path] if key in m]
        coords = " ".join(f"{frame.x_of(a):.1f},{y_of(v):.1f}" for a, v in xy)
        alphas = ",".join(f"{a:.2f}" for a, _ in xy)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{_COLOURS[path]}" stroke-width="1.6"{dash}'
            f' data-path="{path}" data-alphas="{alphas}"/>'
        )
        if path == "network":
            parts += [
                f'<circle cx="{frame.x_of(a):.1f}" cy="{y_of(v):.1f}" r="2" fill="{_COLOURS[path]}"/>' for a, v in xy
            ]
    if suggested is not None:
        parts.append(frame.marker(suggested, "alpha-suggested"))
    parts.append(frame.marker(alpha, "alpha-marker"))
    parts.append("</svg>")
    return "".join(parts)
