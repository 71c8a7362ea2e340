"""The alpha explorer's view-model: models, the selected slice, the cache and the metrics (no widgets).

:class:`ExplorerModel` holds the SN and SN-GAN, a live model whose weights
:class:`~recon_lib.models.interpolation.ModelInterpolator` rewrites in place, and one slice. For
an alpha it computes the interpolated network's image, the image blend of the two end outputs,
their metrics and differences, and keeps them in an LRU cache. It is plain Python + NumPy +
torch, tested without a browser; :class:`recon_lib.teaching.explorer.AlphaExplorer` adds the
widgets and the PNG rendering on top.

Switching the slice (acceleration, volume, slice index) through a :class:`SliceSource` keeps the
models: only the two end outputs of the new slice are computed.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.core.checks import state_dict_mismatch
from recon_lib.core.tensors import squeeze_leading
from recon_lib.metrics.quality import high_frequency_energy_ratio, volume_metrics
from recon_lib.models.inference import reconstruct
from recon_lib.models.interpolation import ModelInterpolator, check_alpha

__all__ = [
    "ExplorerModel",
    "SliceSource",
    "View",
    "METRICS",
    "check_same_architecture",
    "as_batch",
    "run_on_slice",
    "slice_metrics",
]

#: the metrics shown, in table order: key -> (label, format, which way is better)
METRICS: dict[str, tuple[str, str, str]] = {
    "psnr": ("PSNR (dB)", "{:.2f}", "higher"),
    "ssim": ("SSIM", "{:.4f}", "higher"),
    "nmse": ("NMSE", "{:.4f}", "lower"),
    "hf_energy_ratio": ("HF-energy ratio", "{:.3f}", "closer to 1"),
}
#: the dataset's split folders
SPLITS = ("train", "val", "test")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= ``value`` (a readable colour-bar top)."""
    if not value > 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)


# ---- input handling ----------------------------------------------------------------------------
def check_same_architecture(sn_model: nn.Module, gan_model: nn.Module) -> None:
    """Raise ``ValueError`` unless both models have one class, config, and state-dict layout."""
    for name, model in (("sn_model", sn_model), ("gan_model", gan_model)):
        if not isinstance(model, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    if type(sn_model) is not type(gan_model):
        raise ValueError(
            "sn_model and gan_model must share one architecture to be interpolated, got "
            f"{type(sn_model).__name__} and {type(gan_model).__name__}"
        )
    config_a, config_b = getattr(sn_model, "config", None), getattr(gan_model, "config", None)
    if isinstance(config_a, dict) and isinstance(config_b, dict) and config_a != config_b:
        diff = sorted(k for k in set(config_a) | set(config_b) if config_a.get(k) != config_b.get(k))
        shown = ", ".join(f"{k}: {config_a.get(k)!r} vs {config_b.get(k)!r}" for k in diff)
        raise ValueError(f"sn_model and gan_model must share one architecture, their configs differ ({shown})")
    problem = state_dict_mismatch(sn_model.state_dict(), gan_model.state_dict(), ("sn_model", "gan_model"))
    if problem:
        raise ValueError(f"sn_model and gan_model must share one architecture: {problem}")


def as_batch(sample: Mapping[str, Any]) -> dict[str, Any]:
    """A one-slice batch: k-space/maps ``(1, C, H, W)``, mask ``(1, 1, 1, W)``, target ``(rh, rw)``."""
    if not isinstance(sample, Mapping):
        raise TypeError(
            f"sample_batch must be a mapping (a dataset item or a collated batch), got {type(sample).__name__}"
        )
    for key in ("kspace", "maps", "mask", "target"):
        if key not in sample:
            raise ValueError(f"sample_batch has no {key!r} entry (keys: {sorted(sample)})")
        if not isinstance(sample[key], torch.Tensor):
            raise TypeError(f"sample_batch[{key!r}] must be a torch.Tensor, got {type(sample[key]).__name__}")
    kspace, maps, mask = sample["kspace"], sample["maps"], sample["mask"]
    if kspace.ndim == 3:  # one dataset item: add the batch dimension
        kspace, maps, mask = kspace[None], maps[None], mask[None]
    if kspace.ndim != 4 or kspace.shape[0] != 1:
        raise ValueError(
            "sample_batch['kspace'] must be (C, H, W) or (1, C, H, W) (one slice), "
            f"got shape {tuple(sample['kspace'].shape)}"
        )
    if maps.shape != kspace.shape:
        raise ValueError(f"sample_batch['maps'] of shape {tuple(maps.shape)} must match kspace {tuple(kspace.shape)}")
    target = sample["target"].detach().cpu()
    target = squeeze_leading(target, 2)
    if target.ndim != 2 or target.is_complex():
        raise ValueError(
            "sample_batch['target'] must be a real (rh, rw) image, "
            f"got {tuple(sample['target'].shape)} {sample['target'].dtype}"
        )
    foreground = sample.get("foreground")
    if foreground is not None:
        foreground = torch.as_tensor(foreground).detach().cpu()
        foreground = squeeze_leading(foreground, 2)
        if tuple(foreground.shape) != tuple(target.shape):
            raise ValueError(
                f"sample_batch['foreground'] of shape {tuple(foreground.shape)} must match target {tuple(target.shape)}"
            )
        foreground = foreground.numpy().astype(bool)
        if not foreground.any():
            foreground = None
    data_range = sample.get("max")
    if isinstance(data_range, torch.Tensor):
        data_range = float(data_range.reshape(-1)[0])
    return {
        "kspace": kspace,
        "maps": maps,
        "mask": mask,
        "target": target[None],  # (1, rh, rw): reconstruct() crops to target.shape[-2:]
        "reference": target.numpy().astype(np.float64),
        "foreground": foreground,
        "max": float(data_range) if data_range is not None else float(target.max()),
        "label": slice_label(sample),
    }


def run_on_slice(model: nn.Module, batch: Mapping[str, Any], device: torch.device) -> np.ndarray:
    """One forward pass of ``model`` on an :func:`as_batch` slice: complex ``(rh, rw)`` (cropped)."""
    with torch.inference_mode():
        out = reconstruct(model, {k: batch[k] for k in ("kspace", "maps", "mask", "target")}, device)
    return out[0].detach().cpu().numpy().astype(np.complex128)


def slice_metrics(batch: Mapping[str, Any], magnitude: np.ndarray) -> dict[str, float]:
    """:data:`METRICS` of ``magnitude`` against an :func:`as_batch` slice's reference (foreground;
    the volume maximum as data range)."""
    ref, fg = batch["reference"], batch["foreground"]
    values = volume_metrics(ref, magnitude, mask=fg, data_range=batch["max"])
    values["hf_energy_ratio"] = high_frequency_energy_ratio(ref, magnitude, mask=fg)
    return values


def slice_label(sample: Mapping[str, Any]) -> str:
    """``"file1000.h5, slice 17, CORPD_FBK"`` from a dataset item's metadata (what is there)."""

    def scalar(value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        return value

    parts = []
    if "fname" in sample:
        parts.append(str(scalar(sample["fname"])))
    if "slice" in sample:
        parts.append(f"slice {scalar(sample['slice'])}")
    if "acquisition" in sample:
        parts.append(str(scalar(sample["acquisition"])))
    if "acceleration" in sample:
        parts.append(f"{float(scalar(sample['acceleration'])):g}x undersampled")
    return ", ".join(parts)


@dataclass
class View:
    """Everything shown for one alpha: magnitudes, metrics and the encoded PNGs."""

    alpha: float
    network: np.ndarray  # |x_theta(alpha)|, (rh, rw) float64
    blend: np.ndarray  # |(1 - alpha) x_SN + alpha x_GAN|, (rh, rw) float64
    network_metrics: dict[str, float]
    blend_metrics: dict[str, float]
    compute_ms: float
    png: dict[str, bytes] = field(default_factory=dict)


class SliceSource:
    """Slices of one prepared dataset split, by (acceleration, volume, slice), for the explorer.

    The masks are the evaluation's (seeded by the file name), so a slice shown here is the one the
    test split scores. Datasets are opened once per acceleration.

    Args:
        data_root: the prepared dataset folder (with ``train/``, ``val/``, ``test/``).
        split: the split the slices come from.
        accelerations: the accelerations offered.
    """

    def __init__(
        self, data_root: str | os.PathLike, split: str = "test", accelerations: Sequence[int] = (4, 8)
    ) -> None:
        from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        unknown = [a for a in accelerations if a not in DEFAULT_CENTER_FRACTIONS]
        if not accelerations or unknown:
            raise ValueError(
                f"accelerations must be among {sorted(DEFAULT_CENTER_FRACTIONS)}, got {list(accelerations)}"
            )
        self.root = Path(data_root) / split
        if not self.root.is_dir():
            raise FileNotFoundError(f"no {split} split at {self.root}: run `make data` (or prepare your dataset)")
        self.split = split
        self.accelerations = tuple(int(a) for a in accelerations)
        self._datasets: dict[int, Any] = {}

    def dataset(self, acceleration: int) -> Any:
        """The split's :class:`~recon_lib.data.dataset.KneeDataset` under masks of ``acceleration``."""
        from recon_lib.data.dataset import KneeDataset
        from recon_lib.physics.masks import MaskFunc

        if acceleration not in self.accelerations:
            raise ValueError(f"acceleration must be one of {self.accelerations}, got {acceleration!r}")
        if acceleration not in self._datasets:
            self._datasets[acceleration] = KneeDataset(self.root, MaskFunc([acceleration]), train=False)
        return self._datasets[acceleration]

    @property
    def volumes(self) -> list[tuple[str, str, int]]:
        """``(file name, acquisition, number of slices)`` of every volume of the split."""
        ds = self.dataset(self.accelerations[-1])
        return [(r.fname, r.acquisition, r.num_slices) for r in ds.volumes]

    def resolve(self, volume: int | str, slice: int | None) -> tuple[int, int]:
        """``(volume index, slice index)`` for a volume index or file name; default slice: the middle one."""
        names = [v[0] for v in self.volumes]
        if isinstance(volume, str):
            if volume not in names:
                raise ValueError(f"volume {volume!r} is not in the {self.split} split (volumes: {', '.join(names)})")
            volume = names.index(volume)
        if isinstance(volume, bool) or not isinstance(volume, (int, np.integer)) or not 0 <= volume < len(names):
            raise ValueError(f"volume must be a file name or an index in [0, {len(names)}), got {volume!r}")
        num_slices = self.volumes[int(volume)][2]
        if slice is None:
            slice = num_slices // 2
        if isinstance(slice, bool) or not isinstance(slice, (int, np.integer)) or not 0 <= slice < num_slices:
            raise ValueError(f"slice must be an int in [0, {num_slices}) for {names[int(volume)]}, got {slice!r}")
        return int(volume), int(slice)

    def item(self, acceleration: int, volume: int | str, slice: int | None = None) -> dict[str, Any]:
        """The dataset item of ``(volume, slice)`` under the acceleration's evaluation mask."""
        v, s = self.resolve(volume, slice)
        ds = self.dataset(acceleration)
        return ds[ds.examples.index((v, s))]


class ExplorerModel:
    """Network interpolation vs image blending on one slice: images, metrics, cache (no widgets).

    Args:
        sn_model: the SN (alpha = 0): a module ``forward(kspace, maps, mask) -> (B, H, W)`` complex image.
        gan_model: the SN-GAN (alpha = 1), the same architecture (class, config, state-dict keys and
            shapes) -- fine-tuned from the same SN for interpolation to make sense.
        sample_batch: one slice: a dataset item (k-space ``(C, H, W)`` complex64, ``maps``
            ``(C, H, W)``, ``mask`` ``(1, 1, W)``, ``target`` ``(rh, rw)``, optional boolean
            ``foreground`` ``(rh, rw)`` and ``max``) or the same with a batch dimension of 1.
        crop_box: the zoomed region ``(top, left, height, width)`` in pixels of the target grid
            (default: a centred box of a third of each side).
        alpha: the initial alpha.
        cache_size: how many alphas the LRU cache keeps (per slice).
        device: where the network runs (default: the device of ``sn_model``'s parameters).
        warm_up: also compute alpha = 0.5 (the paper's interpSN) while constructing, so the first
            new alpha does not pay the live model's first-call costs.
        source: where :meth:`select` finds other slices (None: this slice only).
        selection: ``{"acceleration", "volume", "slice"}`` of ``sample_batch`` within ``source``.
    """

    def __init__(
        self,
        sn_model: nn.Module,
        gan_model: nn.Module,
        sample_batch: Mapping[str, Any],
        crop_box: tuple[int, int, int, int] | None = None,
        alpha: float = 0.0,
        cache_size: int = 64,
        device: torch.device | str | None = None,
        warm_up: bool = True,
        source: SliceSource | None = None,
        selection: Mapping[str, Any] | None = None,
    ) -> None:
        check_same_architecture(sn_model, gan_model)
        alpha = check_alpha(alpha)
        if not (isinstance(cache_size, int) and cache_size >= 2):
            raise ValueError(f"cache_size must be an int >= 2 (the two end models stay cached), got {cache_size!r}")
        self.cache_size = cache_size
        if device is None:
            first = next(iter(sn_model.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.source = source
        self.selection: dict[str, Any] = dict(selection or {})
        self.checkpoints: dict[str, str] = {}
        # The live model whose weights the slider rewrites; the caller's models stay untouched
        # (not moved, not switched to eval mode).
        self._live = copy.deepcopy(sn_model).to(self.device).eval()
        self._interpolator = ModelInterpolator(self._live, [sn_model.state_dict(), gan_model.state_dict()])
        self._pinned = (0.0, 1.0)
        self.cache_hits = 0
        self.cache_misses = 0
        self._alpha = alpha
        self._warm_up = warm_up
        self._requested_box = crop_box
        self._load_slice(sample_batch, crop_box)

    # ---- the slice ----------------------------------------------------------------------------
    def _load_slice(self, sample_batch: Mapping[str, Any], crop_box: tuple[int, int, int, int] | None) -> None:
        """Make ``sample_batch`` the current slice: end outputs, display scales, an empty cache."""
        batch = as_batch(sample_batch)
        rh, rw = batch["reference"].shape
        box = self._check_box(crop_box, (rh, rw))
        self._batch = batch
        self.crop_box = box
        # End-model outputs (complex, cropped to the target), computed once per slice. At alpha = 0 / 1
        # the live model holds the end model's weights bit for bit, so these are the end models' outputs.
        self._x_sn = run_on_slice(self._interpolator.set_alpha(0.0), batch, self.device)
        self._x_gan = run_on_slice(self._interpolator.set_alpha(1.0), batch, self.device)
        # Display scales, fixed for every alpha so that brightness and errors are comparable.
        ref = batch["reference"]
        self._ref_peak = float(np.abs(ref).max()) or 1.0
        self._display_max = float(np.percentile(ref, 99.5)) or self._ref_peak
        end_errors = [np.abs(np.abs(x) - ref) for x in (self._x_sn, self._x_gan)]
        self.error_vmax_percent = nice_ceiling(
            100.0 * max(float(np.percentile(e, 99.5)) for e in end_errors) / self._ref_peak
        )
        diff = np.abs(np.abs(self._x_gan) - np.abs(self._x_sn))
        self.difference_vmax_percent = nice_ceiling(100.0 * float(np.percentile(diff, 99.5)) / self._display_max)
        self._cache: OrderedDict[float, View] = OrderedDict()
        for end in self._pinned:  # alpha = 0 / 1 are the end models' own outputs, kept for the whole slice
            self._view(end)
        if self._warm_up:  # the paper's interpSN; also pays the live model's first-call costs up front
            self._view(0.5)

    def select(
        self, acceleration: int | None = None, volume: int | str | None = None, slice: int | None = None
    ) -> dict[str, Any]:
        """Show another slice of :attr:`source` (unchanged parts of the selection are kept).

        A new volume starts at its middle slice unless ``slice`` is given. The models are not
        reloaded; the crop box is kept when it fits the new slice. On a bad request (a volume or slice
        out of range, an unknown acceleration) nothing changes.

        Returns:
            The new selection ``{"acceleration", "volume", "slice"}``.
        """
        if self.source is None:
            raise ValueError("this explorer holds one slice; build it with from_checkpoints(...) to switch slices")
        current = self.selection
        af = int(current["acceleration"] if acceleration is None else acceleration)
        vol = current["volume"] if volume is None else volume
        sl = current["slice"] if slice is None and volume is None else slice
        v, s = self.source.resolve(vol, sl)
        item = self.source.item(af, v, s)  # raises before anything changes
        if {"acceleration": af, "volume": v, "slice": s} != current:
            keep = self.crop_box if self._fits(self.crop_box, tuple(item["target"].shape[-2:])) else None
            self._load_slice(item, keep)
            self.selection = {"acceleration": af, "volume": v, "slice": s}
        return dict(self.selection)

    @staticmethod
    def _fits(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> bool:
        top, left, h, w = box
        return top + h <= shape[0] and left + w <= shape[1]

    @staticmethod
    def _check_box(box: Sequence[int] | None, shape: tuple[int, int]) -> tuple[int, int, int, int]:
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

    # ---- computation --------------------------------------------------------------------------
    @staticmethod
    def _key(alpha: float) -> float:
        return round(float(alpha), 4)

    def _view(self, alpha: float) -> View:
        """The cached view of ``alpha`` (computed and stored on a miss)."""
        key = self._key(alpha)
        view = self._cache.get(key)
        if view is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return view
        self.cache_misses += 1
        start = time.perf_counter()
        if key == 0.0:
            x = self._x_sn
        elif key == 1.0:
            x = self._x_gan
        else:
            self._interpolator.set_alpha(key)
            x = run_on_slice(self._live, self._batch, self.device)
        network = np.abs(x)
        blend = np.abs((1.0 - key) * self._x_sn + key * self._x_gan)
        metrics = [slice_metrics(self._batch, m) for m in (network, blend)]
        view = View(key, network, blend, metrics[0], metrics[1], 0.0)
        view.compute_ms = 1000.0 * (time.perf_counter() - start)
        self._cache[key] = view
        while len(self._cache) > self.cache_size:  # evict the least recently used, never an end point
            oldest = next(k for k in self._cache if k not in self._pinned)
            del self._cache[oldest]
        return view

    # ---- public API ---------------------------------------------------------------------------
    @property
    def alpha(self) -> float:
        """The alpha currently shown."""
        return self._alpha

    @property
    def reference(self) -> np.ndarray:
        """The reference image (the slice's ``target``), ``(rh, rw)``."""
        return self._batch["reference"]

    def reconstruction(self, alpha: float) -> np.ndarray:
        """``|x_theta(alpha)|``: magnitude of the interpolated network's output, ``(rh, rw)``."""
        return self._view(check_alpha(alpha)).network

    def image_blend(self, alpha: float) -> np.ndarray:
        """``|(1 - alpha) x_SN + alpha x_SN-GAN|``: pixel-space blending of the end outputs, ``(rh, rw)``."""
        return self._view(check_alpha(alpha)).blend

    def difference(self, alpha: float, kind: str = "network") -> np.ndarray:
        """The signed difference ``|x(alpha)| - |x_SN|`` of the network (or of the blend), ``(rh, rw)``."""
        if kind not in ("network", "blend"):
            raise ValueError(f"kind must be 'network' or 'blend', got {kind!r}")
        view = self._view(check_alpha(alpha))
        return (view.network if kind == "network" else view.blend) - self._cache[0.0].network

    def metrics(self, alpha: float | None = None, kind: str = "network") -> dict[str, float]:
        """Slice metrics at ``alpha`` (default: the current one), on the foreground if given.

        Args:
            alpha: interpolation coefficient in ``[0, 1]``.
            kind: ``"network"`` (interpolated weights) or ``"blend"`` (image blending).

        Returns:
            ``{"alpha", "psnr", "ssim", "nmse", "hf_energy_ratio"}`` (PSNR/SSIM with the volume's
            ``max`` as data range; ``hf_energy_ratio`` = high-frequency energy over the reference's).
        """
        if kind not in ("network", "blend"):
            raise ValueError(f"kind must be 'network' or 'blend', got {kind!r}")
        view = self._view(self._alpha if alpha is None else check_alpha(alpha))
        values = view.network_metrics if kind == "network" else view.blend_metrics
        return {"alpha": view.alpha, **values}

    def metric_curve(self, alphas: Sequence[float], kind: str = "network") -> list[dict[str, float]]:
        """:meth:`metrics` at every alpha of ``alphas`` (computed once each, then cached)."""
        return [self.metrics(check_alpha(a), kind) for a in alphas]

    def precompute(self, alphas: Sequence[float]) -> None:
        """Fill the cache for ``alphas``, e.g. before a demo."""
        for a in alphas:
            self._view(check_alpha(a))

    def state(self) -> dict[str, Any]:
        """What is shown, to re-make a figure: models, weights, slice, crop, and the metrics of both paths."""
        return {
            "checkpoints": dict(self.checkpoints),
            "weights": {"sn": 1.0 - self._alpha, "sn_gan": self._alpha},
            "alpha": self._alpha,
            "selection": dict(self.selection),
            "slice": self._batch["label"],
            "crop_box": list(self.crop_box),
            "metrics": {"network": self.metrics(), "blend": self.metrics(kind="blend")},
            "metrics_note": "foreground of the slice; PSNR/SSIM with the volume maximum as data range",
        }
