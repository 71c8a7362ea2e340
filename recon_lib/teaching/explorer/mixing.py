"""The explorers' model: N networks of one family mixed at a point of the simplex, on one slice.

:class:`NetworkMix` holds N end networks (the SN and the SN-GAN for the alpha slider; the
pre-trained SN, the SN and the SN-GAN for the triangle) and a live model whose weights
:class:`~recon_lib.models.interpolation.ModelInterpolator` rewrites in place to
``theta(w) = sum_i w_i theta_i``. For a point ``w`` it computes, on the current slice,

* the **network** image ``|x_theta(w)|`` (one forward pass of the mixed weights), and
* the **blend** ``|sum_i w_i x_i|``, the same mixture taken in pixel space of the end outputs,

their metrics against the reference, and keeps them in an LRU cache whose corners (the end
networks' own outputs) stay for the whole slice. The alpha slider is the edge ``(1 - alpha, alpha)``
of two models. :meth:`NetworkMix.prefetch` fills the cache from a background thread.

The end networks may differ per acceleration (the SN-GAN shipped for one acceleration,
``sn_gan_af<AF>.pt``): given ``models_by_acceleration``, switching the slice's acceleration
switches the interpolation's end points (and the corner outputs, the cache and the checkpoint
files reported with them).

Plain Python + NumPy + torch, tested without a browser; the apps
(:mod:`~recon_lib.teaching.explorer.alpha`, :mod:`~recon_lib.teaching.explorer.triangle`) add
widgets and rendering on top. Canonical points (the slider's rounding, the triangle's grid) are
the apps' business: the cache keys a point by its weights as given.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.core.compute import Compute
from recon_lib.models.interpolation import ModelInterpolator, check_alpha, check_same_architecture, check_simplex
from recon_lib.teaching.explorer.slices import SliceSource, as_batch, run_on_slice, slice_metrics

__all__ = [
    "NetworkMix",
    "Point",
    "METRICS",
    "KINDS",
    "alpha_point",
    "check_kind",
    "check_same_architecture",
    "shown_metrics",
]

#: the metrics shown, in table order: key -> (label, format, which way is better)
METRICS: dict[str, tuple[str, str, str]] = {
    "psnr": ("PSNR (dB)", "{:.2f}", "higher"),
    "ssim": ("SSIM", "{:.4f}", "higher"),
    "nmse": ("NMSE", "{:.4f}", "lower"),
    "hf_energy_ratio": ("HF-energy ratio", "{:.3f}", "closer to 1"),
    # only where the slice has a noise-free image (simulated data): the perception axis
    "hf_ratio_truth": ("HF ratio vs truth", "{:.3f}", "closer to 1"),
}


def shown_metrics(*values: Mapping[str, float]) -> dict[str, tuple[str, str, str]]:
    """The entries of :data:`METRICS` that every one of ``values`` has (``hf_ratio_truth`` only where
    the slice has a noise-free image), in table order: what a table, a curve or an export shows.

    Example:
        >>> list(shown_metrics({"psnr": 30.0, "hf_ratio_truth": 0.8}, {"psnr": 29.0}))
        ['psnr']
    """
    return {key: spec for key, spec in METRICS.items() if all(key in v for v in values)}


#: the two ways to mix: interpolated weights, or the pixel blend of the end outputs
KINDS = ("network", "blend")

Weights = tuple[float, ...]


@dataclass
class Point:
    """Everything computed for one point of the simplex: magnitudes and metrics of both kinds.

    ``png`` is a slot for the app's encoded images of this point (filled on first display, emptied
    when the display changes), so that a revisited point costs a dictionary look-up.
    """

    weights: Weights
    network: np.ndarray  # |x_theta(w)|, (rh, rw) float64
    blend: np.ndarray  # |sum_i w_i x_i|, (rh, rw) float64
    network_metrics: dict[str, float]
    blend_metrics: dict[str, float]
    compute_ms: float
    png: dict[str, bytes] = field(default_factory=dict)

    def magnitude(self, kind: str) -> np.ndarray:
        """The ``"network"`` or ``"blend"`` image."""
        return self.network if check_kind(kind) == "network" else self.blend

    def metrics(self, kind: str) -> dict[str, float]:
        """The ``"network"`` or ``"blend"`` metrics."""
        return self.network_metrics if check_kind(kind) == "network" else self.blend_metrics


def alpha_point(alpha: float) -> Weights:
    """The point ``(1 - alpha, alpha)`` of a two-model mix (paper Eq. 3), alpha checked and rounded to
    1e-4: the alpha slider's key, so that alphas closer than that share one cached point.

    Example:
        >>> alpha_point(0.30000001)
        (0.7, 0.3)
    """
    a = round(check_alpha(alpha), 4)
    return (1.0 - a, a)


def check_kind(kind: str) -> str:
    """``kind`` if it is ``"network"`` or ``"blend"``; ``ValueError`` otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'network' or 'blend', got {kind!r}")
    return kind


def _device_of(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


class NetworkMix:
    """N networks of one family mixed at simplex points, on one slice: images, metrics, cache, prefetch.

    Args:
        models: N >= 2 modules ``forward(kspace, maps, mask) -> (B, H, W)`` complex image, of one
            architecture (class, config, state-dict keys and shapes), fine-tuned from one
            initialisation for the mixture to make sense.
        names: one name per model (the keys of :meth:`state`'s weights).
        sample_batch: one slice: a dataset item (k-space ``(C, H, W)`` complex64, ``maps``
            ``(C, H, W)``, ``mask`` ``(1, 1, W)``, ``target`` ``(rh, rw)``, optional boolean
            ``foreground`` ``(rh, rw)`` and ``max``) or the same with a batch dimension of 1.
        base: the index of the model differences are measured from (the SN).
        cache_size: how many points the LRU cache keeps (per slice; the corners always stay).
        device: where the network runs (default: the device of the first model's parameters).
        warm_up: points also computed whenever a slice is loaded (e.g. the paper's interpSN), so the
            first new point does not pay the live model's first-call costs.
        source: where :meth:`select` finds other slices (None: this slice only).
        selection: ``{"acceleration", "volume", "slice"}`` of ``sample_batch`` within ``source``.
        compute: precision and layout of the live model's forward passes (default: the measured
            default, :class:`~recon_lib.core.compute.Compute`; ``Compute.fp32()`` for float32).
        models_by_acceleration: ``{acceleration: N end models}`` where the end models differ by
            acceleration (e.g. an SN-GAN shipped per acceleration), of ``models``' architecture; the
            set of ``selection``'s acceleration is used first, and :meth:`select` (or :meth:`load`
            with an ``acceleration``) switches to the set of the new acceleration. None: ``models``
            for every acceleration. Sets of the same model objects share one interpolator.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        names: Sequence[str],
        sample_batch: Mapping[str, Any],
        base: int = 0,
        cache_size: int = 64,
        device: torch.device | str | None = None,
        warm_up: Sequence[Sequence[float]] = (),
        source: SliceSource | None = None,
        selection: Mapping[str, Any] | None = None,
        compute: Compute | None = None,
        models_by_acceleration: Mapping[int, Sequence[nn.Module]] | None = None,
    ) -> None:
        if len(models) < 2 or len(models) != len(names):
            raise ValueError(f"a mix needs two or more models and one name each, got {len(models)} and {len(names)}")
        check_same_architecture(models, names)
        n = len(models)
        if not (isinstance(cache_size, int) and cache_size >= n):
            raise ValueError(f"cache_size must be an int >= {n} (the end models stay cached), got {cache_size!r}")
        if not (isinstance(base, int) and 0 <= base < n):
            raise ValueError(f"base must be a model index in [0, {n}), got {base!r}")
        self.names = tuple(str(name) for name in names)
        self.base = base
        self.cache_size = cache_size
        self.corners: tuple[Weights, ...] = tuple(tuple(1.0 if j == i else 0.0 for j in range(n)) for i in range(n))
        self.warm_up = [self.check_point(w) for w in warm_up]
        self.device = torch.device(device) if device is not None else _device_of(models[0])
        self.source = source
        self.selection: dict[str, Any] = dict(selection or {})
        self._checkpoints: dict[str, str] = {}
        #: ``{acceleration: {name: checkpoint file}}`` where the files differ by acceleration
        #: (:attr:`checkpoints` reports the set in use)
        self.checkpoints_by_acceleration: dict[int, dict[str, str]] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        #: called (from the worker thread) when a prefetch queue drains
        self.on_prefetched: Callable[[], None] | None = None
        # One thread at a time runs the live model (compute lock); the cache's dictionary is touched
        # under the cache lock only, briefly, so a cache hit never waits for a background computation.
        self._compute_lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[Weights, Point] = OrderedDict()
        self._generation = 0  # bumped per slice: background work for an older slice is dropped
        self._queue: list[Weights] = []
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = False
        # The live model whose weights are rewritten; the caller's models stay untouched (not moved,
        # not switched to eval mode).
        self.compute = compute if compute is not None else Compute()
        self._live = self.compute.prepare(copy.deepcopy(models[0]).to(self.device).eval())
        self._interpolator = ModelInterpolator(self._live, [m.state_dict() for m in models])
        self._by_acceleration = self._interpolators_by_acceleration(models, models_by_acceleration or {})
        #: the acceleration whose end models are in use (None: one set for every acceleration)
        self.acceleration: int | None = None
        first = self.selection.get("acceleration")
        self.load(sample_batch, acceleration=first if first is not None and self._by_acceleration else None)

    def _interpolators_by_acceleration(
        self, models: Sequence[nn.Module], by_acceleration: Mapping[int, Sequence[nn.Module]]
    ) -> dict[int, ModelInterpolator]:
        """An interpolator per acceleration of ``by_acceleration`` (each set checked against ``models``'
        architecture); sets of the same model objects, ``models`` included, share one."""
        made = {tuple(id(m) for m in models): self._interpolator}
        out = {}
        for af, ends in by_acceleration.items():
            ends = list(ends)
            if len(ends) != len(models):
                raise ValueError(f"AF {af}: {len(ends)} end models given, the mix has {len(models)}")
            check_same_architecture([models[0], *ends], [self.names[0], *(f"{n} (AF {af})" for n in self.names)])
            key = tuple(id(m) for m in ends)
            if key not in made:
                made[key] = ModelInterpolator(self._live, [m.state_dict() for m in ends])
            out[int(af)] = made[key]
        return out

    @property
    def num_models(self) -> int:
        return len(self.names)

    @property
    def checkpoints(self) -> dict[str, str]:
        """The end models' checkpoint files (``{name: file}``; empty when built from models): those
        of the acceleration in use where :attr:`checkpoints_by_acceleration` has it."""
        if self.acceleration is not None and self.acceleration in self.checkpoints_by_acceleration:
            return dict(self.checkpoints_by_acceleration[self.acceleration])
        return dict(self._checkpoints)

    @checkpoints.setter
    def checkpoints(self, files: Mapping[str, str]) -> None:
        self._checkpoints = dict(files)

    @property
    def live(self) -> nn.Module:
        """The live model (its weights are those of the last point computed; do not change them)."""
        return self._live

    def live_at(self, weights: Sequence[float]) -> nn.Module:
        """The live model set to ``weights`` (for inspection; the cache is not touched)."""
        key = self.check_point(weights)
        with self._compute_lock:
            return self._interpolator.set_weights(list(key))

    def cached_weights(self) -> list[Weights]:
        """The weights of every cached point, least recently used first."""
        with self._cache_lock:
            return list(self._cache)

    def check_point(self, weights: Sequence[float]) -> Weights:
        """``weights`` checked to be a point of the simplex (one finite, non-negative weight per model,
        summing to 1), as the tuple the cache keys it by."""
        return tuple(float(w) for w in check_simplex(weights, self.num_models))

    # ---- the slice ------------------------------------------------------------------------------
    def load(self, sample_batch: Mapping[str, Any], acceleration: int | None = None) -> None:
        """Make ``sample_batch`` the current slice: corner outputs, an empty cache (queued work dropped).

        ``acceleration``: the slice's acceleration, to switch to its end models where they differ by
        acceleration (``models_by_acceleration``); None keeps the end models in use.
        """
        batch = as_batch(sample_batch)
        interpolator = self._interpolator
        if acceleration is not None and self._by_acceleration:
            if int(acceleration) not in self._by_acceleration:
                offered = ", ".join(str(a) for a in sorted(self._by_acceleration))
                raise ValueError(f"no end models for AF {acceleration} (the mix holds them for AF {offered})")
            interpolator = self._by_acceleration[int(acceleration)]
        with self._wake:  # queued background work belongs to the old slice
            self._queue.clear()
        with self._compute_lock:
            self._generation += 1
            self._interpolator = interpolator
            if acceleration is not None and self._by_acceleration:
                self.acceleration = int(acceleration)
            self.batch = batch
            # Corner outputs (complex, cropped to the target), computed once per slice. At a corner the
            # live model holds that end model's weights bit for bit, so these are its own outputs.
            self._outputs = [
                run_on_slice(self._interpolator.set_weights(list(c)), batch, self.device, self.compute)
                for c in self.corners
            ]
            with self._cache_lock:
                self._cache = OrderedDict()
            for point in (*self.corners, *self.warm_up):
                self.point(point)

    def select(
        self, acceleration: int | None = None, volume: int | str | None = None, slice: int | None = None
    ) -> dict[str, Any]:
        """Load another slice of :attr:`source` (unchanged parts of the selection are kept).

        A new volume starts at its middle slice unless ``slice`` is given. The models are not
        reloaded; a new acceleration switches to its end models (``models_by_acceleration``: e.g.
        the SN-GAN shipped for that acceleration) and recomputes the corners. On a bad request (a
        volume or slice out of range, an unknown acceleration) nothing changes.

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
            self.load(item, acceleration=af)  # a new acceleration: its own end models, where they differ
            self.selection = {"acceleration": af, "volume": v, "slice": s}
        return dict(self.selection)

    @property
    def reference(self) -> np.ndarray:
        """The slice's reference image (its ``target``), ``(rh, rw)`` float64."""
        return self.batch["reference"]

    @property
    def label(self) -> str:
        """``"file1000.h5, slice 17, CORPD_FBK, 8x undersampled"`` (what the slice's metadata says)."""
        return str(self.batch["label"])

    def corner_magnitudes(self) -> list[np.ndarray]:
        """``|x_i|`` of every end model on this slice (the corners' network images)."""
        return [self.point(c).network for c in self.corners]

    # ---- computation ----------------------------------------------------------------------------
    def _run(self, weights: Weights, batch: Mapping[str, Any]) -> np.ndarray:
        """The live model at ``weights`` on ``batch``: complex ``(rh, rw)`` (hold the compute lock)."""
        return run_on_slice(self._interpolator.set_weights(list(weights)), batch, self.device, self.compute)

    def _cached(self, key: Weights) -> Point | None:
        with self._cache_lock:
            point = self._cache.get(key)
            if point is not None:
                self._cache.move_to_end(key)
            return point

    def point(self, weights: Sequence[float]) -> Point:
        """The :class:`Point` at ``weights`` (computed on a miss, then cached)."""
        key = self.check_point(weights)
        point = self._cached(key)
        if point is None:
            with self._compute_lock:
                point = self._cached(key)  # a background prefetch may have computed it meanwhile
                if point is None:
                    self.cache_misses += 1
                    return self._compute(key)
        self.cache_hits += 1
        return point

    def _compute(self, key: Weights) -> Point:
        start = time.perf_counter()
        if key in self.corners:
            x = self._outputs[self.corners.index(key)]
        else:
            x = self._run(key, self.batch)
        network = np.abs(x)
        mixed = key[0] * self._outputs[0]
        for w, output in zip(key[1:], self._outputs[1:], strict=True):
            mixed = mixed + w * output
        blend = np.abs(mixed)
        point = Point(key, network, blend, slice_metrics(self.batch, network), slice_metrics(self.batch, blend), 0.0)
        point.compute_ms = 1000.0 * (time.perf_counter() - start)
        with self._cache_lock:
            self._cache[key] = point
            while len(self._cache) > self.cache_size:  # evict the least recently used, never a corner
                oldest = next(k for k in self._cache if k not in self.corners)
                del self._cache[oldest]
        return point

    def cached_points(self) -> list[Point]:
        """Every point computed so far for this slice, oldest use first (a snapshot; safe while a prefetch runs)."""
        with self._cache_lock:
            return list(self._cache.values())

    def is_cached(self, weights: Sequence[float]) -> bool:
        """Whether ``weights`` is in the cache (a move there answers without running the network)."""
        key = self.check_point(weights)
        with self._cache_lock:
            return key in self._cache

    def difference(self, weights: Sequence[float], kind: str = "network") -> np.ndarray:
        """The signed difference ``|x(w)| - |x_base|`` of the network (or of the blend), ``(rh, rw)``."""
        return self.point(weights).magnitude(kind) - self.point(self.corners[self.base]).network

    def state(self, weights: Sequence[float]) -> dict[str, Any]:
        """What is shown at ``weights``, to re-make a figure: models, weights, slice, metrics of both kinds."""
        point = self.point(weights)
        return {
            "checkpoints": dict(self.checkpoints),
            "weights": dict(zip(self.names, point.weights, strict=True)),
            "selection": dict(self.selection),
            "slice": self.label,
            "metrics": {kind: dict(point.metrics(kind)) for kind in KINDS},
            "metrics_note": "foreground of the slice; PSNR/SSIM with the volume maximum as data range",
        }

    # ---- background prefetch ----------------------------------------------------------------------
    def prefetch(self, points: Sequence[Sequence[float]]) -> None:
        """Compute ``points`` in a background thread, in order (replacing what was still queued).

        An app queues the positions nearest the current one first, so that the next moves are cache
        hits. A move to an uncomputed point waits for at most the one forward pass in progress.
        :attr:`on_prefetched` (if set) is called from the worker when the queue drains.
        """
        keys = [self.check_point(w) for w in points]
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
