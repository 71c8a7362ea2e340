"""Per-volume image-quality metrics (fastMRI conventions) and the paper's results table.

Conventions (``fastmri/evaluate.py``), for real magnitude volumes ``gt``, ``pred`` of shape
``(slices, H, W)`` (a single ``(H, W)`` image is treated as one slice):

* ``nmse = ||gt - pred||^2 / ||gt||^2`` over the volume;
* ``psnr = 20 log10(L) - 10 log10(mean((gt - pred)^2))`` with ``L = gt.max()`` of the volume
  (scikit-image's ``peak_signal_noise_ratio(gt, pred, data_range=gt.max())``);
* ``ssim``: SSIM of each slice with the volume's ``L`` (uniform 7x7 window, see
  :mod:`recon_lib.metrics.ssim`), averaged over slices.

Foreground masks (the paper evaluates "only on foreground regions"): with a boolean mask
``(slices, H, W)``, NMSE and the MSE of PSNR use only the foreground pixels (``L`` stays the
volume maximum of ``gt``, fastMRI's ``max``), and each slice's SSIM map is averaged over the
foreground window centres; slices whose foreground is empty inside the valid SSIM map are left
out of the slice average.

Two weight-free texture measures quantify "smooth vs textured" without a learned network:
:func:`high_frequency_energy_ratio` (1 = the reference's texture, < 1 smoother, > 1 more
high-frequency content, e.g. noise or GAN texture) and :func:`gradient_magnitude_similarity`
(GMSD-style mean similarity of gradient magnitudes, 1 = identical edges).

:class:`MetricTable` collects one row per (method, acquisition, acceleration, volume) and reports
mean +/- std over volumes per acquisition (PD, PDFS and ALL) x acceleration x method, rendered in
the layout of the paper's Table 1.

References:
    J. Zbontar et al., "fastMRI: An open dataset and benchmarks for accelerated MRI",
    arXiv:1811.08839, 2018.
    W. Xue, L. Zhang, X. Mou, A. C. Bovik, "Gradient magnitude similarity deviation: a highly
    efficient perceptual image quality index", IEEE TIP 23(2), 2014.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from recon_lib.metrics.ssim import crop_mask_to_ssim_map, ssim
from recon_lib.physics.fft import fft2c, ifft2c

__all__ = [
    "nmse",
    "psnr",
    "ssim_volume",
    "volume_metrics",
    "high_frequency_energy_ratio",
    "gradient_magnitude_similarity",
    "acquisition_label",
    "MetricTable",
]

ArrayLike = np.ndarray | torch.Tensor


# ---- input handling ---------------------------------------------------------------------------
def _volume(name: str, value: object) -> np.ndarray:
    """Real ``(S, H, W)`` float64 array from a numpy array or torch tensor (2-D -> one slice)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch.Tensor, got {type(value).__name__}")
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be a real magnitude volume, got complex dtype {value.dtype}; take abs() first")
    if value.ndim not in (2, 3):
        raise ValueError(f"{name} must be (slices, H, W) or (H, W), got shape {value.shape}")
    arr = value.astype(np.float64, copy=False)
    return arr[None] if arr.ndim == 2 else arr


def _pair(gt: ArrayLike, pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    g, p = _volume("gt", gt), _volume("pred", pred)
    if g.shape != p.shape:
        raise ValueError(f"gt of shape {tuple(gt.shape)} and pred of shape {tuple(pred.shape)} must match")
    return g, p


def _mask(mask: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Boolean foreground mask of ``shape`` (nonzero = foreground), or None."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array or torch.Tensor, got {type(mask).__name__}")
    m = mask[None] if mask.ndim == 2 and len(shape) == 3 else mask
    try:
        m = np.array(np.broadcast_to(m != 0, shape))  # a writable copy
    except ValueError:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to the volume shape {shape}") from None
    if not m.any():
        raise ValueError("mask selects no foreground pixel")
    return m


def _data_range(gt: np.ndarray, data_range: float | None) -> float:
    value = float(gt.max()) if data_range is None else float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"data_range must be positive and finite (default gt.max()), got {value}")
    return value


# ---- fastMRI metrics --------------------------------------------------------------------------
def nmse(gt: ArrayLike, pred: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2`` over the volume (or its foreground).

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask ``(slices, H, W)`` (nonzero = foreground).

    Returns:
        NMSE as a float (lower is better).
    """
    g, p = _pair(gt, pred)
    m = _mask(mask, g.shape)
    if m is not None:
        g, p = g[m], p[m]
    denom = float(np.sum(g**2))
    if denom == 0:
        raise ValueError("gt has zero energy (inside the mask): NMSE is undefined")
    return float(np.sum((g - p) ** 2)) / denom


def psnr(gt: ArrayLike, pred: ArrayLike, data_range: float | None = None, mask: ArrayLike | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``20 log10(L) - 10 log10(MSE)``.

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        data_range: peak value ``L``; default ``gt.max()`` over the whole volume.
        mask: optional foreground mask; the MSE is then taken over foreground pixels only.

    Returns:
        PSNR as a float (``inf`` when ``pred == gt`` on the evaluated pixels).
    """
    g, p = _pair(gt, pred)
    L = _data_range(g, data_range)
    m = _mask(mask, g.shape)
    if m is not None:
        g, p = g[m], p[m]
    mse = float(np.mean((g - p) ** 2))
    if mse == 0:
        return math.inf
    return 20 * math.log10(L) - 10 * math.log10(mse)


def ssim_volume(
    gt: ArrayLike, pred: ArrayLike, data_range: float | None = None, mask: ArrayLike | None = None
) -> float:
    """Mean over slices of the per-slice SSIM (fastMRI: every slice uses the volume's max).

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        data_range: ``L`` of the SSIM constants; default ``gt.max()`` of the volume.
        mask: optional foreground mask; each slice's SSIM map is averaged over the foreground
            window centres (mask cropped by 3 pixels, :func:`recon_lib.metrics.ssim.crop_mask_to_ssim_map`)
            and slices without foreground there are skipped.

    Returns:
        SSIM as a float (higher is better, 1 for identical volumes).
    """
    g, p = _pair(gt, pred)
    L = _data_range(g, data_range)
    m = _mask(mask, g.shape)
    G, P = torch.from_numpy(g), torch.from_numpy(p)  # (S, H, W) float64
    if m is None:
        return float(ssim(P, G, L, reduction="mean"))
    M = torch.from_numpy(m)
    keep = crop_mask_to_ssim_map(M).flatten(1).any(dim=1)  # (S,)
    if not bool(keep.any()):
        raise ValueError("mask has no foreground inside the valid SSIM map of any slice")
    return float(ssim(P[keep], G[keep], L, mask=M[keep], reduction="mean"))


def volume_metrics(
    gt: ArrayLike, pred: ArrayLike, mask: ArrayLike | None = None, data_range: float | None = None
) -> dict[str, float]:
    """NMSE, PSNR and SSIM of one volume: ``{"nmse": ..., "psnr": ..., "ssim": ...}``.

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask ``(slices, H, W)``.
        data_range: peak value for PSNR/SSIM; default ``gt.max()`` of the volume.
    """
    g, p = _pair(gt, pred)
    L = _data_range(g, data_range)
    return {
        "nmse": nmse(g, p, mask=mask),
        "psnr": psnr(g, p, data_range=L, mask=mask),
        "ssim": ssim_volume(g, p, data_range=L, mask=mask),
    }


# ---- texture measures -------------------------------------------------------------------------
def _high_pass(vol: np.ndarray, cutoff: float) -> torch.Tensor:
    """Zero the k-space inside the normalised radius ``cutoff`` (1 = Nyquist along an axis)."""
    S, H, W = vol.shape
    ky = (torch.arange(H, dtype=torch.float64) - H // 2) / (H / 2)
    kx = (torch.arange(W, dtype=torch.float64) - W // 2) / (W / 2)
    radius = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)  # (H, W)
    keep = (radius > cutoff).to(torch.complex128)
    k = fft2c(torch.from_numpy(vol).to(torch.complex128))  # (S, H, W)
    return ifft2c(k * keep)  # (S, H, W) complex (real up to rounding)


def high_frequency_energy_ratio(
    pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None, cutoff: float = 0.25
) -> float:
    """Energy of the high-pass of ``pred`` over that of ``gt``, inside the foreground.

    The high-pass keeps the k-space outside the normalised radius ``cutoff`` (radius 1 is the
    Nyquist frequency along an axis; k-space of each whole slice, so the mask edge itself
    adds nothing), then the energy ``sum |x_hp|^2`` is taken over the foreground pixels.

    Args:
        pred: magnitude volume ``(slices, H, W)`` (or ``(H, W)``).
        gt: reference of the same shape.
        mask: optional foreground mask (nonzero = foreground).
        cutoff: normalised radius in ``(0, sqrt(2))`` below which frequencies are removed.

    Returns:
        The ratio: 1.0 for the reference's texture, < 1 smoother, > 1 more high-frequency
        content (noise, GAN texture, aliasing).
    """
    g, p = _pair(gt, pred)
    if not (0 < float(cutoff) < math.sqrt(2)):
        raise ValueError(f"cutoff must lie in (0, sqrt(2)), got {cutoff!r}")
    m = _mask(mask, g.shape)
    weights = torch.ones(g.shape, dtype=torch.float64) if m is None else torch.from_numpy(m.astype(np.float64))
    e_pred = float((_high_pass(p, cutoff).abs() ** 2 * weights).sum())
    e_gt = float((_high_pass(g, cutoff).abs() ** 2 * weights).sum())
    if e_gt == 0:
        raise ValueError("gt has no high-frequency energy inside the mask: the ratio is undefined")
    return e_pred / e_gt


def gradient_magnitude_similarity(
    pred: ArrayLike,
    gt: ArrayLike,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
    c: float = 170.0 / 255.0**2,
) -> float:
    """Mean gradient-magnitude similarity (GMSM, the mean of GMSD's similarity map).

    ``GMS = (2 g_r g_d + c L^2) / (g_r^2 + g_d^2 + c L^2)`` with ``g`` the Prewitt gradient
    magnitudes (valid 3x3 convolution) of the reference and the reconstruction; ``c = 170/255^2``
    is GMSD's constant for 8-bit images rescaled to the data range ``L``. Unlike GMSD, the
    images are not down-sampled first. With a mask, the map is averaged over the foreground
    (mask cropped by 1 pixel to the valid map).

    Args:
        pred: magnitude volume ``(slices, H, W)`` (or ``(H, W)``).
        gt: reference of the same shape.
        mask: optional foreground mask (nonzero = foreground).
        data_range: ``L``; default ``gt.max()`` of the volume.
        c: stability constant relative to ``L^2``.

    Returns:
        Mean similarity in ``(0, 1]``; 1 for identical gradients (the GMSD is its deviation).
    """
    g, p = _pair(gt, pred)
    L = _data_range(g, data_range)
    m = _mask(mask, g.shape)
    prewitt_x = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=torch.float64) / 3.0
    kernels = torch.stack((prewitt_x, prewitt_x.T)).unsqueeze(1)  # (2, 1, 3, 3)

    def grad_mag(v: np.ndarray) -> torch.Tensor:
        d = F.conv2d(torch.from_numpy(v).unsqueeze(1), kernels)  # (S, 2, H-2, W-2)
        return torch.sqrt((d**2).sum(dim=1))  # (S, H-2, W-2)

    g_r, g_d = grad_mag(g), grad_mag(p)
    cL2 = c * L * L
    gms = (2 * g_r * g_d + cL2) / (g_r**2 + g_d**2 + cL2)  # (S, H-2, W-2)
    if m is None:
        return float(gms.mean())
    w = torch.from_numpy(m[:, 1:-1, 1:-1].astype(np.float64))
    if float(w.sum()) == 0:
        raise ValueError("mask has no foreground inside the valid gradient map")
    return float((gms * w).sum() / w.sum())


# ---- results table ----------------------------------------------------------------------------
_ACQUISITIONS = {
    "CORPD_FBK": "PD",
    "CORPD": "PD",
    "PD": "PD",
    "CORPDFS_FBK": "PDFS",
    "CORPDFS": "PDFS",
    "PDFS": "PDFS",
}
_ACQ_ORDER = ("PD", "PDFS")
ALL = "ALL"


def acquisition_label(acquisition: str) -> str:
    """Short label of a fastMRI acquisition: ``CORPD_FBK`` -> ``PD``, ``CORPDFS_FBK`` -> ``PDFS``.

    Other names (e.g. brain ``AXT2``) are kept as they are; ``ALL`` is reserved for the pooled row.
    """
    if not isinstance(acquisition, str) or not acquisition:
        raise ValueError(f"acquisition must be a non-empty string such as 'CORPD_FBK', got {acquisition!r}")
    label = _ACQUISITIONS.get(acquisition.upper(), acquisition)
    if label.upper() == ALL:
        raise ValueError("acquisition 'ALL' is reserved for the row pooling every acquisition")
    return label


class MetricTable:
    """Per-volume metric rows -> mean +/- std per acquisition x acceleration x method.

    Each row is one reconstructed volume: ``method`` (e.g. ``"SN"``), ``acquisition``
    (``"CORPD_FBK"`` / ``"CORPDFS_FBK"``, stored as ``"PD"`` / ``"PDFS"``), ``acceleration``
    (4, 8), ``volume`` (file name) and one value per metric. The summary pools the rows of each
    acquisition and, as ``"ALL"``, of every acquisition; the std is the sample std over volumes
    (``ddof=1``, ``nan`` for a single volume).

    Args:
        metrics: metric names, in column order.
        better: ``"lower"`` or ``"higher"`` per metric for the bold/underline marks (metrics
            missing here are not marked). Default: NMSE lower, PSNR and SSIM higher.
        decimals: digits shown per metric (default 4, PSNR 2, as in the paper).

    Example:
        >>> table = MetricTable()
        >>> table.add("SN", "CORPD_FBK", 4, "file1000.h5", nmse=0.002, psnr=41.2, ssim=0.963)
    """

    DEFAULT_METRICS = ("nmse", "psnr", "ssim")
    DEFAULT_BETTER = {"nmse": "lower", "psnr": "higher", "ssim": "higher"}
    DEFAULT_DECIMALS = {"nmse": 4, "psnr": 2, "ssim": 4}

    def __init__(
        self,
        metrics: Sequence[str] = DEFAULT_METRICS,
        better: Mapping[str, str] | None = None,
        decimals: Mapping[str, int] | None = None,
    ) -> None:
        self.metrics = tuple(metrics)
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics must be distinct names, got {metrics!r}")
        reserved = {"method", "acquisition", "acceleration", "volume"}
        if reserved & set(self.metrics):
            raise ValueError(f"metric names must not be one of {sorted(reserved)}, got {metrics!r}")
        self.better = dict(self.DEFAULT_BETTER if better is None else better)
        for k, v in self.better.items():
            if v not in ("lower", "higher"):
                raise ValueError(f"better[{k!r}] must be 'lower' or 'higher', got {v!r}")
        self.decimals = {**self.DEFAULT_DECIMALS, **(decimals or {})}
        self._rows: list[dict[str, Any]] = []
        self._keys: set[tuple[str, str, int, str]] = set()

    def __len__(self) -> int:
        return len(self._rows)

    # -- collecting --
    def add(self, method: str, acquisition: str, acceleration: int, volume: str, **values: float) -> None:
        """Add one volume's metric values (exactly the table's metrics, as keyword arguments)."""
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be a non-empty string, got {method!r}")
        if not isinstance(volume, str) or not volume:
            raise ValueError(f"volume must be a non-empty string (e.g. the file name), got {volume!r}")
        acq = acquisition_label(acquisition)
        if (
            isinstance(acceleration, bool)
            or not isinstance(acceleration, (int, float, np.integer, np.floating))
            or not float(acceleration).is_integer()
            or acceleration <= 0
        ):
            raise ValueError(f"acceleration must be a positive integer, got {acceleration!r}")
        af = int(acceleration)
        if set(values) != set(self.metrics):
            raise ValueError(f"values must be exactly the metrics {list(self.metrics)}, got {sorted(values)}")
        key = (method, acq, af, volume)
        if key in self._keys:
            raise ValueError(f"duplicate row for method={method!r}, acquisition={acq!r}, AF={af}, volume={volume!r}")
        self._keys.add(key)
        row = {"method": method, "acquisition": acq, "acceleration": af, "volume": volume}
        row.update({k: float(values[k]) for k in self.metrics})
        self._rows.append(row)

    def add_volume(
        self,
        method: str,
        acquisition: str,
        acceleration: int,
        volume: str,
        gt: ArrayLike,
        pred: ArrayLike,
        mask: ArrayLike | None = None,
        **extra: float,
    ) -> dict[str, float]:
        """Compute :func:`volume_metrics` of one volume, add the row and return its values.

        ``extra`` supplies the values of any metrics beyond NMSE/PSNR/SSIM in this table.
        """
        values = {**volume_metrics(gt, pred, mask=mask), **extra}
        self.add(method, acquisition, acceleration, volume, **{k: values[k] for k in self.metrics if k in values})
        return {k: values[k] for k in self.metrics if k in values}

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], **kwargs: Any) -> MetricTable:
        """Rebuild a table from :meth:`to_records` output (metrics as in ``kwargs`` or default)."""
        table = cls(**kwargs)
        for r in records:
            table.add(r["method"], r["acquisition"], r["acceleration"], r["volume"], **{k: r[k] for k in table.metrics})
        return table

    # -- summarising --
    def _groups(self) -> tuple[list[str], list[int], list[str]]:
        acqs = {r["acquisition"] for r in self._rows}
        acq_order = [a for a in _ACQ_ORDER if a in acqs] + sorted(acqs - set(_ACQ_ORDER))
        afs = sorted({r["acceleration"] for r in self._rows})
        methods = list(dict.fromkeys(r["method"] for r in self._rows))
        return acq_order + ([ALL] if acq_order else []), afs, methods

    def summary(self, ddof: int = 1) -> list[dict[str, Any]]:
        """Mean and std per (acquisition incl. ``"ALL"``, acceleration, method).

        Returns:
            Records ``{"acquisition", "acceleration", "method", "n", "<metric>_mean",
            "<metric>_std", ...}`` in table order (acquisitions PD, PDFS, others, ALL;
            accelerations ascending; methods in the order first added).
        """
        acqs, afs, methods = self._groups()
        out = []
        for acq in acqs:
            for af in afs:
                for method in methods:
                    rows = [
                        r
                        for r in self._rows
                        if r["method"] == method and r["acceleration"] == af and (acq == ALL or r["acquisition"] == acq)
                    ]
                    if not rows:
                        continue
                    rec: dict[str, Any] = {"acquisition": acq, "acceleration": af, "method": method, "n": len(rows)}
                    for k in self.metrics:
                        vals = np.array([r[k] for r in rows], dtype=np.float64)
                        rec[f"{k}_mean"] = float(vals.mean())
                        rec[f"{k}_std"] = float(vals.std(ddof=ddof)) if len(vals) > ddof else math.nan
                    out.append(rec)
        return out

    def _marks(self, group: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        """``(method, metric) -> "best" | "second"`` within one acquisition x AF group.

        Ranking uses the means as displayed (rounded), so ties at the shown precision share a
        mark; best is marked when at least 2 methods compete, second when at least 3 do.
        """
        marks: dict[tuple[str, str], str] = {}
        if len(group) < 2:
            return marks
        for k in self.metrics:
            direction = self.better.get(k)
            if direction is None:
                continue
            shown = {r["method"]: round(r[f"{k}_mean"], self.decimals.get(k, 4)) for r in group}
            finite = sorted({v for v in shown.values() if not math.isnan(v)}, reverse=direction == "higher")
            for method, v in shown.items():
                if finite and v == finite[0]:
                    marks[(method, k)] = "best"
                elif len(group) >= 3 and len(finite) > 1 and v == finite[1]:
                    marks[(method, k)] = "second"
        return marks

    def _cell(self, rec: dict[str, Any], k: str, mark: str | None) -> str:
        d = self.decimals.get(k, 4)
        mean, std = rec[f"{k}_mean"], rec[f"{k}_std"]
        text = f"{mean:.{d}f} ± " + ("n/a" if math.isnan(std) else f"{std:.{d}f}")
        if mark == "best":
            return f"**{text}**"
        if mark == "second":
            return f"<u>{text}</u>"
        return text

    def to_markdown(self, layout: Literal["paper", "wide"] = "paper", ddof: int = 1) -> str:
        """Render the summary as a Markdown table.

        Args:
            layout: ``"paper"`` -- Table 1 of the paper: columns Data | AF | Method | metrics,
                one row per method, Data and AF shown on the first row of their group;
                ``"wide"`` -- one row per acquisition x AF, a ``mean ± std`` column per
                method and metric.
            ddof: degrees of freedom of the std.

        Returns:
            The table; in each acquisition x AF group and metric the best mean is **bold** and
            the second best <u>underlined</u> (NMSE lower is better, PSNR/SSIM higher).
        """
        if layout not in ("paper", "wide"):
            raise ValueError(f"layout must be 'paper' or 'wide', got {layout!r}")
        summary = self.summary(ddof=ddof)
        if not summary:
            raise ValueError("the table holds no rows")
        acqs, afs, methods = self._groups()
        names = [k.upper() for k in self.metrics]
        lines: list[str] = []
        if layout == "paper":
            lines.append("| Data | AF | Method | " + " | ".join(names) + " |")
            lines.append("|" + "---|" * (3 + len(names)))
        else:
            head = [f"{m} {n}" for m in methods for n in names]
            lines.append("| Data | AF | " + " | ".join(head) + " |")
            lines.append("|" + "---|" * (2 + len(head)))
        for acq in acqs:
            for af in afs:
                group = [r for r in summary if r["acquisition"] == acq and r["acceleration"] == af]
                if not group:
                    continue
                marks = self._marks(group)
                by_method = {r["method"]: r for r in group}
                if layout == "paper":
                    for i, r in enumerate(group):
                        cells = [self._cell(r, k, marks.get((r["method"], k))) for k in self.metrics]
                        lead = [acq, str(af)] if i == 0 else ["", ""]
                        lines.append("| " + " | ".join(lead + [r["method"]] + cells) + " |")
                else:
                    cells = []
                    for m in methods:
                        for k in self.metrics:
                            cells.append(self._cell(by_method[m], k, marks.get((m, k))) if m in by_method else "")
                    lines.append("| " + " | ".join([acq, str(af)] + cells) + " |")
        return "\n".join(lines) + "\n"

    # -- exporting --
    def to_records(self) -> list[dict[str, Any]]:
        """The per-volume rows as a list of dicts (copies)."""
        return [dict(r) for r in self._rows]

    def to_csv(self, path: str | Path | None = None, per_volume: bool = False, ddof: int = 1) -> str:
        """CSV text of the summary (or of the per-volume rows); also written to ``path`` if given."""
        records = self.to_records() if per_volume else self.summary(ddof=ddof)
        if per_volume:
            fields = ["method", "acquisition", "acceleration", "volume", *self.metrics]
        else:
            fields = ["acquisition", "acceleration", "method", "n"]
            fields += [f"{k}_{s}" for k in self.metrics for s in ("mean", "std")]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_json(self, path: str | Path | None = None, ddof: int = 1) -> str:
        """JSON text ``{"metrics", "rows", "summary"}`` (nan/inf as null); written to ``path`` if given."""

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        payload = {
            "metrics": list(self.metrics),
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.to_records()],
            "summary": [{k: clean(v) for k, v in r.items()} for r in self.summary(ddof=ddof)],
        }
        text = json.dumps(payload, indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text
