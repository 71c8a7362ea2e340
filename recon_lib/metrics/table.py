"""The paper's results table: per-volume metric rows -> mean +/- std per acquisition x acceleration x method.

:class:`MetricTable` collects one row per (method, acquisition, acceleration, volume, mask seed)
and reports the mean +/- std over volumes per acquisition (PD, PDFS and ALL) x acceleration x
method, rendered in the layout of the paper's Table 1. The paired differences between methods,
with bootstrap confidence intervals, are :mod:`recon_lib.metrics.statistics`.
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

from recon_lib.metrics.quality import volume_metrics

__all__ = ["ALL", "acquisition_label", "MetricTable"]

ArrayLike = np.ndarray | torch.Tensor

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

    Each row is one reconstructed volume under one mask: ``method`` (e.g. ``"SN"``), ``acquisition``
    (``"CORPD_FBK"`` / ``"CORPDFS_FBK"``, stored as ``"PD"`` / ``"PDFS"``), ``acceleration``
    (4, 8), ``volume`` (file name), ``mask_seed`` (which of the volume's fixed masks, default 0)
    and one value per metric. The summary pools the rows of each acquisition and, as ``"ALL"``,
    of every acquisition: a volume's value is the mean over its masks, the summary's mean and
    sample std (``ddof=1``, ``nan`` for a single volume) are over volumes; ``n`` counts volumes,
    ``masks`` the rows.

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
    #: column headers of the Markdown table (other metrics: the name in capitals)
    LABELS = {
        "nmse": "NMSE",
        "psnr": "PSNR",
        "ssim": "SSIM",
        "hf_energy_ratio": "HF-energy ratio",
        "vif": "VIF",
        "gmsd": "GMSD",
        "haarpsi": "HaarPSI",
        "hfen": "HFEN",
        "psnr_truth": "PSNR vs truth",
        "ssim_truth": "SSIM vs truth",
        "hf_energy_ratio_truth": "HF-energy ratio vs truth",
        "vif_truth": "VIF vs truth",
    }

    def __init__(
        self,
        metrics: Sequence[str] = DEFAULT_METRICS,
        better: Mapping[str, str] | None = None,
        decimals: Mapping[str, int] | None = None,
    ) -> None:
        self.metrics = tuple(metrics)
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics must be distinct names, got {metrics!r}")
        reserved = {"method", "acquisition", "acceleration", "volume", "mask_seed"}
        if reserved & set(self.metrics):
            raise ValueError(f"metric names must not be one of {sorted(reserved)}, got {metrics!r}")
        self.better = dict(self.DEFAULT_BETTER if better is None else better)
        for k, v in self.better.items():
            if v not in ("lower", "higher"):
                raise ValueError(f"better[{k!r}] must be 'lower' or 'higher', got {v!r}")
        self.decimals = {**self.DEFAULT_DECIMALS, **(decimals or {})}
        self._rows: list[dict[str, Any]] = []
        self._keys: set[tuple[str, str, int, str, int]] = set()

    def __len__(self) -> int:
        return len(self._rows)

    # -- collecting --
    def add(
        self, method: str, acquisition: str, acceleration: int, volume: str, *, mask_seed: int = 0, **values: float
    ) -> None:
        """Add one volume's metric values under one mask (exactly the table's metrics, as keyword arguments)."""
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
        if isinstance(mask_seed, bool) or not isinstance(mask_seed, (int, np.integer)) or mask_seed < 0:
            raise ValueError(f"mask_seed must be a non-negative integer, got {mask_seed!r}")
        if set(values) != set(self.metrics):
            raise ValueError(f"values must be exactly the metrics {list(self.metrics)}, got {sorted(values)}")
        key = (method, acq, af, volume, int(mask_seed))
        if key in self._keys:
            raise ValueError(
                f"duplicate row for method={method!r}, acquisition={acq!r}, AF={af}, volume={volume!r}, "
                f"mask_seed={mask_seed}"
            )
        self._keys.add(key)
        row = {"method": method, "acquisition": acq, "acceleration": af, "volume": volume, "mask_seed": int(mask_seed)}
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
        *,
        mask_seed: int = 0,
        **extra: float,
    ) -> dict[str, float]:
        """Compute :func:`volume_metrics` of one volume, add the row and return its values.

        ``extra`` supplies the values of any metrics beyond NMSE/PSNR/SSIM in this table.
        """
        values = {**volume_metrics(gt, pred, mask=mask), **extra}
        kept = {k: values[k] for k in self.metrics if k in values}
        self.add(method, acquisition, acceleration, volume, mask_seed=mask_seed, **kept)
        return {k: values[k] for k in self.metrics if k in values}

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], **kwargs: Any) -> MetricTable:
        """Rebuild a table from :meth:`to_records` output (metrics as in ``kwargs`` or default)."""
        table = cls(**kwargs)
        for r in records:
            values = {k: r[k] for k in table.metrics}
            table.add(
                r["method"], r["acquisition"], r["acceleration"], r["volume"], mask_seed=r.get("mask_seed", 0), **values
            )
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
            Records ``{"acquisition", "acceleration", "method", "n", "masks", "<metric>_mean",
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
                    volumes = list(dict.fromkeys(r["volume"] for r in rows))
                    rec: dict[str, Any] = {
                        "acquisition": acq,
                        "acceleration": af,
                        "method": method,
                        "n": len(volumes),
                        "masks": len(rows),
                    }
                    for k in self.metrics:
                        vals = np.array([np.mean([r[k] for r in rows if r["volume"] == v]) for v in volumes])
                        rec[f"{k}_mean"] = float(vals.mean())
                        rec[f"{k}_std"] = float(vals.std(ddof=ddof)) if len(vals) > ddof else math.nan
                    out.append(rec)
        return out

    def _marks(self, group: list[dict[str, Any]], metrics: Sequence[str]) -> dict[tuple[str, str], str]:
        """``(method, metric) -> "best" | "second"`` within one acquisition x AF group.

        Ranking uses the means as displayed (rounded), so ties at the shown precision share a
        mark; best is marked when at least 2 methods compete, second when at least 3 do.
        """
        marks: dict[tuple[str, str], str] = {}
        if len(group) < 2:
            return marks
        for k in metrics:
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

    def to_markdown(
        self, layout: Literal["paper", "wide"] = "paper", ddof: int = 1, metrics: Sequence[str] | None = None
    ) -> str:
        """Render the summary as a Markdown table.

        Args:
            layout: ``"paper"`` -- Table 1 of the paper: columns Data | AF | Method | metrics,
                one row per method, Data and AF shown on the first row of their group;
                ``"wide"`` -- one row per acquisition x AF, a ``mean ± std`` column per
                method and metric.
            ddof: degrees of freedom of the std.
            metrics: the metric columns to show (default: all, in the table's order).

        Returns:
            The table; in each acquisition x AF group and metric the best mean is **bold** and
            the second best <u>underlined</u> (NMSE lower is better, PSNR/SSIM higher).
        """
        if layout not in ("paper", "wide"):
            raise ValueError(f"layout must be 'paper' or 'wide', got {layout!r}")
        shown = self.metrics if metrics is None else tuple(metrics)
        unknown = [k for k in shown if k not in self.metrics]
        if unknown or not shown:
            raise ValueError(f"metrics must be a non-empty subset of {list(self.metrics)}, got {metrics!r}")
        summary = self.summary(ddof=ddof)
        if not summary:
            raise ValueError("the table holds no rows")
        acqs, afs, methods = self._groups()
        names = [self.LABELS.get(k, k.upper()) for k in shown]
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
                marks = self._marks(group, shown)
                by_method = {r["method"]: r for r in group}
                if layout == "paper":
                    for i, r in enumerate(group):
                        cells = [self._cell(r, k, marks.get((r["method"], k))) for k in shown]
                        lead = [acq, str(af)] if i == 0 else ["", ""]
                        lines.append("| " + " | ".join(lead + [r["method"]] + cells) + " |")
                else:
                    cells = []
                    for m in methods:
                        for k in shown:
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
            fields = ["method", "acquisition", "acceleration", "volume", "mask_seed", *self.metrics]
        else:
            fields = ["acquisition", "acceleration", "method", "n", "masks"]
            fields += [f"{k}_{s}" for k in self.metrics for s in ("mean", "std")]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_json(
        self, path: str | Path | None = None, ddof: int = 1, extra: Mapping[str, list[dict[str, Any]]] | None = None
    ) -> str:
        """JSON text ``{"metrics", "rows", "summary", **extra}`` (nan/inf as null); written to ``path`` if given.

        ``extra`` adds lists of records under keys of their own (e.g. the paired differences).
        """

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        payload = {
            "metrics": list(self.metrics),
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.to_records()],
            "summary": [{k: clean(v) for k, v in r.items()} for r in self.summary(ddof=ddof)],
        }
        for key, records in (extra or {}).items():
            if key in payload:
                raise ValueError(f"extra key {key!r} would overwrite the table's own {key!r}")
            payload[key] = [{k: clean(v) for k, v in r.items()} for r in records]
        text = json.dumps(payload, indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text
