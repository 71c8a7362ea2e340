"""The alpha explorer's view-model: models, the selected slice, the cache and the metrics (no widgets).

:class:`ExplorerModel` holds the SN and SN-GAN, a live model whose weights
:class:`~recon_lib.models.interpolation.ModelInterpolator` rewrites in place, and one slice. For
an alpha it computes the interpolated network's image, the image blend of the two end outputs,
their metrics and differences, and keeps them in an LRU cache. It is plain Python + NumPy +
torch, tested without a browser; :class:`recon_lib.teaching.explorer.AlphaExplorer` adds the
widgets and the PNG rendering on top.

Switching the slice (acceleration, volume, slice index) through a :class:`SliceSource` keeps the
models: only the two end outputs of the new slice are computed. The display settings (the
grey-level window, the zoom box) change no computation. :meth:`ExplorerModel.prefetch` fills the
cache from a background thread (the slider's neighbours), so that the next moves are cache hits;
:meth:`ExplorerModel.suggest_alpha` is :func:`~recon_lib.training.sweep.select_alpha` on the
validation sweep the explorer was given.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.core.checks import state_dict_mismatch
from recon_lib.models.interpolation import ModelInterpolator, check_alpha
from recon_lib.teaching.slices import SliceSource, as_batch, run_on_slice, slice_metrics

__all__ = ["ExplorerModel", "View", "METRICS", "check_same_architecture", "nice_ceiling"]

#: the metrics shown, in table order: key -> (label, format, which way is better)
METRICS: dict[str, tuple[str, str, str]] = {
    "psnr": ("PSNR (dB)", "{:.2f}", "higher"),
    "ssim": ("SSIM", "{:.4f}", "higher"),
    "nmse": ("NMSE", "{:.4f}", "lower"),
    "hf_energy_ratio": ("HF-energy ratio", "{:.3f}", "closer to 1"),
}


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
        validation_sweep: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        check_same_architecture(sn_model, gan_model)
        alpha = check_alpha(alpha)
        if not (isinstance(cache_size, int) and cache_size >= 2):
            raise ValueError(f"cache_size must be an int >= 2 (the two end models stay cached), got {cache_size!r}")
        self.cache_size = cache_size
        self.validation_sweep = [dict(r) for r in validation_sweep] if validation_sweep is not None else None
        #: grey-level window of the magnitude images, in % of the slice's white level
        self.window = (0.0, 100.0)
        # One thread at a time runs the live model (_compute_lock); the cache's dictionary is touched
        # under _cache_lock only, briefly, so a cache hit never waits for a background computation.
        self._compute_lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped per slice: background work for an older slice is dropped
        self._queue: list[float] = []
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = False
        self.on_prefetched: Any = None  # called (from the worker thread) when a prefetch queue drains
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
        with self._wake:  # queued background work belongs to the old slice
            self._queue.clear()
        with self._compute_lock:
            self._generation += 1
            self._install_slice(batch, box)

    def _install_slice(self, batch: dict[str, Any], box: tuple[int, int, int, int]) -> None:
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
        with self._cache_lock:
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

    def _cached(self, key: float) -> View | None:
        with self._cache_lock:
            view = self._cache.get(key)
            if view is not None:
                self._cache.move_to_end(key)
            return view

    def _view(self, alpha: float) -> View:
        """The cached view of ``alpha`` (computed and stored on a miss)."""
        key = self._key(alpha)
        view = self._cached(key)
        if view is None:
            with self._compute_lock:
                view = self._cached(key)  # a background prefetch may have computed it meanwhile
                if view is None:
                    self.cache_misses += 1
                    return self._compute(key)
        self.cache_hits += 1
        return view

    def _compute(self, key: float) -> View:
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
        with self._cache_lock:
            self._cache[key] = view
            while len(self._cache) > self.cache_size:  # evict the least recently used, never an end point
                oldest = next(k for k in self._cache if k not in self._pinned)
                del self._cache[oldest]
        return view

    def cached_views(self) -> list[View]:
        """Every view computed so far for this slice (a snapshot; safe while a prefetch runs)."""
        with self._cache_lock:
            return list(self._cache.values())

    def is_cached(self, alpha: float) -> bool:
        """Whether ``alpha`` is in the cache (a move there answers without running the network)."""
        with self._cache_lock:
            return self._key(alpha) in self._cache

    # ---- background prefetch ---------------------------------------------------------------------
    def prefetch(self, alphas: Sequence[float]) -> None:
        """Compute ``alphas`` in a background thread, in order (replacing what was still queued).

        The widget queues the slider's positions nearest the current alpha first, so the next
        moves are cache hits. A move to an uncomputed alpha waits for at most the one forward pass
        in progress. :attr:`on_prefetched` (if set) is called from the worker when the queue drains.
        """
        keys = [self._key(check_alpha(a)) for a in alphas]
        with self._wake:
            self._queue[:] = [k for k in dict.fromkeys(keys) if not self.is_cached(k)]
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._prefetch_loop, name="explorer-prefetch", daemon=True)
                self._worker.start()
            self._wake.notify()

    def wait_prefetched(self, timeout: float | None = None) -> bool:
        """Block until the prefetch queue is empty and no background computation runs; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def _prefetch_loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                key, generation = self._queue.pop(0), self._generation
                self._busy = True
            try:
                with self._compute_lock:  # skipped when the slice changed or a move computed it first
                    if generation == self._generation and self._cached(key) is None:
                        self._compute(key)
            except Exception:  # noqa: BLE001 - a failed prefetch only means a later cache miss
                pass
            finally:
                with self._wake:
                    self._busy = False
                    drained = not self._queue
                    self._wake.notify_all()
            callback = self.on_prefetched
            if drained and callback is not None:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - a display hook must not stop the worker
                    pass

    # ---- display settings (no computation) ----------------------------------------------------
    def set_window(self, low: float, high: float) -> tuple[float, float]:
        """The grey-level window of the magnitude images, in % of the slice's white level.

        The white level is the reference's 99.5th percentile; ``(0, 100)`` (the default) shows
        black to white over ``[0, white]``. Error and difference maps keep their own scales.

        Raises:
            ValueError: not ``0 <= low < high <= 400``; nothing changes.
        """
        values = (low, high)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError(f"window must be two finite numbers (low, high) in % of the white level, got {values!r}")
        if not 0.0 <= low < high <= 400.0:
            raise ValueError(f"window must satisfy 0 <= low < high <= 400 (% of the white level), got {values!r}")
        self.window = (float(low), float(high))
        return self.window

    def display_range(self) -> tuple[float, float]:
        """``(black, white)`` of the magnitude images in image units (from :attr:`window`)."""
        low, high = self.window
        return low / 100.0 * self._display_max, high / 100.0 * self._display_max

    def set_crop_box(self, box: Sequence[int]) -> tuple[int, int, int, int]:
        """Move or resize the zoomed region ``(top, left, height, width)``; nothing is recomputed.

        Raises:
            ValueError: a box that is not four ints inside the target; nothing changes.
        """
        self.crop_box = self._check_box(box, self._batch["reference"].shape)
        return self.crop_box

    def centre_crop_on(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Centre the zoom box (same size) on pixel ``(row, col)``, kept inside the image."""
        rh, rw = self._batch["reference"].shape
        for name, v, n in (("row", row, rh), ("col", col, rw)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < n:
                raise ValueError(f"{name} must be an int in [0, {n}), got {v!r}")
        _, _, h, w = self.crop_box
        top = min(max(int(row) - h // 2, 0), rh - h)
        left = min(max(int(col) - w // 2, 0), rw - w)
        return self.set_crop_box((top, left, h, w))

    # ---- automatic alpha ---------------------------------------------------------------------------
    def suggest_alpha(self, budget_db: float = 0.3, score: str = "haarpsi") -> dict[str, Any]:
        """:func:`~recon_lib.training.sweep.select_alpha` on the validation sweep, at the current AF.

        Raises:
            ValueError: the explorer has no validation sweep, or select_alpha rejects the request.
        """
        from recon_lib.training.sweep import select_alpha

        if not self.validation_sweep:
            raise ValueError(
                "this explorer has no validation sweep: pass validation_sweep= (records of alpha_sweep on "
                "the val split, e.g. docs/results/alpha_validation.json)"
            )
        acceleration = self.selection.get("acceleration")
        if acceleration is None:
            raise ValueError("the current slice's acceleration is unknown (build the explorer with from_checkpoints)")
        return select_alpha(self.validation_sweep, int(acceleration), budget_db=budget_db, score=score)

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
        return (view.network if kind == "network" else view.blend) - self._view(0.0).network

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
            "window_percent": list(self.window),
            "metrics": {"network": self.metrics(), "blend": self.metrics(kind="blend")},
            "metrics_note": "foreground of the slice; PSNR/SSIM with the volume maximum as data range",
        }
