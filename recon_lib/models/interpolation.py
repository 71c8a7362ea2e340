"""Deep network interpolation (DNI): blend the weights of models of one architecture.

For two models fine-tuned from one initialisation -- in the paper, SN (L1 + SSIM) and SN-GAN
(adversarial) -- the interpolated network is

    theta_interp = (1 - alpha) * theta_SN + alpha * theta_SN-GAN,   alpha in [0, 1],

applied to *every* floating-point entry of the state dict (weights, biases and buffers such as
BatchNorm running statistics, complex tensors included), and more generally
``theta = sum_i w_i * theta_i`` with ``w_i >= 0`` and ``sum_i w_i = 1`` for N models.

Choices made here:

* Exact endpoints: a weight equal to 1 (``alpha = 0`` or ``alpha = 1``) returns that model's
  tensors unchanged, bit for bit.
* Accuracy: the weighted sum is formed in float64 (complex128) and rounded once to the entry's
  dtype, so half-precision models do not accumulate rounding.
* Non-floating entries (e.g. BatchNorm's int64 ``num_batches_tracked``) cannot be blended: they
  are copied from the model with the largest weight (the first one on ties, so model A at
  ``alpha = 0.5``); such counters only steer BatchNorm's momentum during training, and two
  fine-tuning runs usually differ in them.
* Validation happens once, around the loop; the core is ESRGAN's loop over state-dict keys.

:class:`ModelInterpolator` serves an interactive alpha slider: it keeps copies of the end
models' tensors on the live model's device and rewrites the live model in place, so moving the
slider costs a few milliseconds instead of a ``load_state_dict`` round trip.

References:
    X. Wang, K. Yu, C. Dong, X. Tang, C. C. Loy, "Deep network interpolation for continuous
    imagery effect transition", CVPR 2019 (and ESRGAN's ``net_interp.py``).
    C. Qin et al., "Deep network interpolation for accelerated parallel MR image
    reconstruction", 2020 (the seed paper, Eq. 3).
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from recon_lib.core.checks import state_dict_mismatch

__all__ = [
    "interpolate_state_dicts",
    "interpolate_alpha",
    "ModelInterpolator",
    "WeightSpec",
    "check_alpha",
    "check_simplex",
    "resolve_weights",
    "cascade_weights",
    "check_same_architecture",
]

WEIGHT_SUM_TOL = 1e-6


# ---- validation -------------------------------------------------------------------------------
def _is_blendable(t: torch.Tensor) -> bool:
    return t.is_floating_point() or t.is_complex()


def _check_state_dicts(state_dicts: Sequence[Mapping[str, torch.Tensor]]) -> list:
    """Raise unless the state dicts share keys, shapes and dtypes."""
    if isinstance(state_dicts, Mapping) or not isinstance(state_dicts, Sequence):
        raise TypeError(f"state_dicts must be a sequence (list/tuple) of state dicts, got {type(state_dicts).__name__}")
    sds = list(state_dicts)
    if len(sds) < 2:
        raise ValueError(f"state_dicts must hold at least 2 models to interpolate, got {len(sds)}")
    for i, sd in enumerate(sds):
        if not isinstance(sd, Mapping):
            raise TypeError(f"state_dicts[{i}] must be a mapping of name -> tensor, got {type(sd).__name__}")
        for key, value in sd.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"state_dicts[{i}][{key!r}] must be a torch.Tensor, got {type(value).__name__}")
    for i, sd in enumerate(sds[1:], start=1):
        problem = state_dict_mismatch(sds[0], sd, ("state_dicts[0]", f"state_dicts[{i}]"))
        if problem:
            raise ValueError(problem)
    return sds


def check_simplex(weights: Sequence[float], n: int, name: str = "weights") -> list[float]:
    """Raise unless ``weights`` are ``n`` finite, non-negative reals summing to 1 (within 1e-6): a point
    of the simplex."""
    if isinstance(weights, torch.Tensor):
        weights = weights.tolist()
    if not isinstance(weights, Sequence) or isinstance(weights, str):
        raise TypeError(f"{name} must be a sequence of floats, got {type(weights).__name__}")
    w = list(weights)
    if len(w) != n:
        raise ValueError(f"{name} must hold one value per model ({n}), got {len(w)}")
    for i, v in enumerate(w):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name}[{i}] must be a real number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] = {v} is not finite")
        if v < 0:
            raise ValueError(f"{name}[{i}] = {v} is negative; interpolation weights must be >= 0")
    total = math.fsum(w)
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise ValueError(f"{name} must sum to 1 (tolerance {WEIGHT_SUM_TOL}), got sum {total!r} for {w}")
    return [float(v) for v in w]


#: interpolation weights: one simplex point for the whole model, or one per state-dict key prefix
WeightSpec = Sequence[float] | Mapping[str, Sequence[float]]


def _covers(prefix: str, key: str) -> bool:
    """Whether ``prefix`` covers ``key`` in whole dot-separated components (``""`` covers every key)."""
    return prefix == "" or key == prefix or key.startswith(prefix + ".")


def resolve_weights(keys: Sequence[str], weights: WeightSpec, n: int) -> list[tuple[float, ...]]:
    """One weight vector per state-dict key.

    Args:
        keys: the state dict's keys.
        weights: one simplex point (``n`` non-negative weights summing to 1) for every key, or a mapping
            from key prefix to a simplex point. A prefix covers the keys that equal it or continue it
            after a dot (``"cascades.1"`` covers ``"cascades.1.w"``, not ``"cascades.10.w"``); the longest
            covering prefix wins; ``""`` covers the rest.
        n: the number of models.

    Raises:
        ValueError: a weight vector off the simplex (naming its prefix), a prefix that covers no key, or
            a key that no prefix covers.

    Example:
        >>> resolve_weights(["a.0.w", "a.1.w", "b.w"], {"": [1.0, 0.0], "a.1": [0.5, 0.5]}, 2)
        [(1.0, 0.0), (0.5, 0.5), (1.0, 0.0)]
    """
    if not isinstance(weights, Mapping):
        return [tuple(check_simplex(weights, n))] * len(keys)
    table = {}
    for prefix, value in weights.items():
        if not isinstance(prefix, str):
            raise TypeError(f"weights prefixes must be strings, got {prefix!r}")
        table[prefix] = tuple(check_simplex(value, n, name=f"weights[{prefix!r}]"))
    unknown = [p for p in table if p and not any(_covers(p, k) for k in keys)]
    if unknown:
        raise ValueError(f"weights prefix {unknown[0]!r} covers no key of the state dict (e.g. {keys[0]!r})")
    out = []
    for key in keys:
        best = max((p for p in table if _covers(p, key)), key=len, default=None)
        if best is None:
            raise ValueError(f"key {key!r} is covered by no weights prefix (add '' for the rest)")
        out.append(table[best])
    return out


def cascade_weights(model: nn.Module, alphas: Sequence[float]) -> dict[str, list[float]]:
    """Per-cascade interpolation weights for a :class:`~recon_lib.models.sensitivity_network.SensitivityNetwork`.

    Cascade ``i`` has its parameters under two prefixes, its regulariser ``regularisers.i`` and its
    data consistency ``dc.i`` (soft DC only: hard DC has none); both get ``[1 - alphas[i], alphas[i]]``
    (first model: alpha 0).

    Args:
        model: an SN (or any module with ``regularisers`` and ``dc`` module lists of one length).
        alphas: one alpha in ``[0, 1]`` per cascade, e.g. ``[0, 0, 0.5, 1, 1]``: early cascades SN,
            late cascades SN-GAN.

    Returns:
        A mapping for :func:`interpolate_state_dicts` / :meth:`ModelInterpolator.set_weights`.
    """
    regs, dcs = getattr(model, "regularisers", None), getattr(model, "dc", None)
    if not isinstance(regs, nn.ModuleList) or not isinstance(dcs, nn.ModuleList) or len(regs) != len(dcs):
        raise TypeError(f"cascade_weights needs a SensitivityNetwork, got {type(model).__name__}")
    values = [check_alpha(a) for a in alphas]
    if len(values) != len(regs):
        shared = " (its cascades share one set of weights)" if getattr(model, "shared_weights", False) else ""
        raise ValueError(
            f"alphas must hold one value per weight set of the model ({len(regs)}){shared}, got {len(values)}"
        )
    keys = list(model.state_dict())
    out: dict[str, list[float]] = {}
    for i, a in enumerate(values):
        for prefix in (f"regularisers.{i}", f"dc.{i}"):
            if any(_covers(prefix, k) for k in keys):  # hard DC has no parameters
                out[prefix] = [1.0 - a, a]
    return out


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in ``[0, 1]``; one clear error otherwise (also for NaN and non-numbers)."""
    if isinstance(alpha, torch.Tensor) and alpha.numel() == 1:
        alpha = alpha.item()
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number in [0, 1], got {type(alpha).__name__}")
    if not 0.0 <= alpha <= 1.0:  # also rejects nan
        raise ValueError(f"alpha must lie in [0, 1], got alpha={alpha!r}")
    return float(alpha)


def _largest_weight(weights: Sequence[float]) -> int:
    """Index of the largest weight (the first one on ties)."""
    return max(range(len(weights)), key=lambda i: (weights[i], -i))


# ---- interpolation of state dicts ---------------------------------------------------------------
def interpolate_state_dicts(
    state_dicts: Sequence[Mapping[str, torch.Tensor]],
    weights: WeightSpec,
) -> dict[str, torch.Tensor]:
    """Weighted average ``sum_i w_i * theta_i`` of N >= 2 state dicts of one architecture.

    Args:
        state_dicts: the models' state dicts (same keys, shapes and dtypes).
        weights: one non-negative weight per model, summing to 1 (tolerance 1e-6); or a mapping from
            state-dict key prefix to such weights (:func:`resolve_weights`; e.g. per cascade,
            :func:`cascade_weights`).

    Returns:
        A new state dict (an ``OrderedDict`` in the key order of ``state_dicts[0]``, with its
        ``_metadata`` if present) ready for ``model.load_state_dict``. If a weight equals 1 the
        result holds copies of that model's tensors, bit for bit.

    Raises:
        ValueError: naming the key and model index on a missing/extra key, shape or dtype
            mismatch, or naming the weight on invalid weights.
    """
    sds = _check_state_dicts(state_dicts)
    per_key = resolve_weights(list(sds[0]), weights, len(sds))
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    metadata = getattr(sds[0], "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]  # keeps module versions for load_state_dict

    for (key, ref), w in zip(sds[0].items(), per_key, strict=True):
        if 1.0 in w:  # an endpoint: that model's tensor exactly
            out[key] = sds[w.index(1.0)][key].detach().clone()
        elif not _is_blendable(ref):
            out[key] = sds[_largest_weight(w)][key].detach().clone()
        else:
            acc_dtype = torch.complex128 if ref.is_complex() else torch.float64
            value = sum(
                wi * sd[key].detach().to(device=ref.device, dtype=acc_dtype) for wi, sd in zip(w, sds, strict=True)
            )
            out[key] = value.to(ref.dtype)
    return out


def interpolate_alpha(
    sd_a: Mapping[str, torch.Tensor],
    sd_b: Mapping[str, torch.Tensor],
    alpha: float,
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * theta_A + alpha * theta_B`` (paper Eq. 3); ``alpha`` 0 / 1 give A / B exactly.

    Args:
        sd_a: state dict of model A (the paper's SN, alpha = 0).
        sd_b: state dict of model B (the paper's SN-GAN, alpha = 1).
        alpha: interpolation coefficient in ``[0, 1]``.

    Returns:
        The interpolated state dict.

    Example:
        >>> import torch
        >>> sn = {"w": torch.tensor([0.0, 2.0])}
        >>> gan = {"w": torch.tensor([1.0, 4.0])}
        >>> interpolate_alpha(sn, gan, 0.25)["w"]
        tensor([0.2500, 2.5000])
    """
    a = check_alpha(alpha)
    return interpolate_state_dicts([sd_a, sd_b], [1.0 - a, a])


# ---- live interpolation for sliders -------------------------------------------------------------
def _weighted_sum_(targets: list[torch.Tensor], ends: list[list[torch.Tensor]], w: Sequence[float]) -> None:
    """In place: ``targets <- sum_i w[i] * ends[i]`` (lists of same-shape tensors)."""
    if 1.0 in w:
        torch._foreach_copy_(targets, ends[w.index(1.0)])
    elif len(w) == 2:
        torch._foreach_copy_(targets, ends[0])
        torch._foreach_lerp_(targets, ends[1], w[1])  # a + w1 * (b - a)
    else:
        torch._foreach_copy_(targets, ends[0])
        torch._foreach_mul_(targets, w[0])
        for wi, end in zip(w[1:], ends[1:], strict=True):
            torch._foreach_add_(targets, end, alpha=wi)


class ModelInterpolator:
    """Write interpolated weights of N end models into a live model, in place.

    The end models' state dicts are copied once (so later changes to them, or to the live
    model, cannot leak into the end points) and kept on the live model's device and dtype.
    :meth:`set_alpha` / :meth:`set_weights` then overwrite every entry of the live model's
    state dict with ``torch.no_grad`` foreach operations. The live tensors are looked up on every
    call, so ``model.to(...)`` after construction is followed (the end copies are re-cast then).

    Args:
        model: the live model (same architecture as the end models).
        state_dicts: N >= 2 state dicts (e.g. ``[sn.state_dict(), sn_gan.state_dict()]``).

    Example:
        >>> import torch
        >>> torch.manual_seed(0) and None
        >>> sn, gan = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
        >>> interp = ModelInterpolator(torch.nn.Linear(3, 1), [sn.state_dict(), gan.state_dict()])
        >>> live = interp.set_alpha(0.3)  # set_alpha returns the live model, ready to call
        >>> torch.allclose(live.weight, 0.7 * sn.weight + 0.3 * gan.weight)
        True
    """

    def __init__(
        self,
        model: nn.Module,
        state_dicts: Sequence[Mapping[str, torch.Tensor]],
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        sds = _check_state_dicts(state_dicts)
        live = model.state_dict(keep_vars=True)
        problem = state_dict_mismatch(sds[0], live, ("state_dicts[0]", "the live model"), dtypes=False)
        if problem:
            raise ValueError(problem)
        for key, ref in sds[0].items():
            if live[key].shape != ref.shape or _is_blendable(live[key]) != _is_blendable(ref):
                raise ValueError(
                    f"key {key!r}: the live model holds {tuple(live[key].shape)} {live[key].dtype} but "
                    f"state_dicts[0] holds {tuple(ref.shape)} {ref.dtype}"
                )
        self.model = model
        self._float_keys = [k for k in sds[0] if _is_blendable(sds[0][k])]
        self._other_keys = [k for k in sds[0] if not _is_blendable(sds[0][k])]
        # Private copies (clone: a state_dict() of the live model itself shares its storage).
        self._master = [[sd[k].detach().clone() for k in self._float_keys] for sd in sds]
        self._others = [[sd[k].detach().clone() for k in self._other_keys] for sd in sds]
        self._ends: list[list[torch.Tensor]] = []
        self._signature: list[tuple[torch.device, torch.dtype]] = []
        self.weights: tuple[float, ...] | dict[str, tuple[float, ...]] | None = None

    @property
    def num_models(self) -> int:
        return len(self._master)

    @property
    def alpha(self) -> float | None:
        """The current alpha (two end models, one global weight), or None (before the first call, or per prefix)."""
        if not isinstance(self.weights, tuple) or self.num_models != 2:
            return None
        return self.weights[1]

    def _targets(self) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """Live floating tensors (fetched anew) with the end copies matched to their device/dtype."""
        live = self.model.state_dict(keep_vars=True)
        targets = [live[k] for k in self._float_keys]
        signature = [(t.device, t.dtype) for t in targets]
        if signature != self._signature:
            self._ends = [
                [m.to(device=d, dtype=dt) for m, (d, dt) in zip(end, signature, strict=True)] for end in self._master
            ]
            self._signature = signature
        return targets, live

    def set_weights(self, weights: WeightSpec) -> nn.Module:
        """Set the live model to ``sum_i w_i * theta_i`` (one simplex point, or one per key prefix as
        :func:`resolve_weights` reads it); returns the live model."""
        float_w = resolve_weights(self._float_keys, weights, self.num_models)
        other_w = resolve_weights(self._other_keys, weights, self.num_models) if self._other_keys else []
        targets, live = self._targets()
        groups: dict[tuple[float, ...], list[int]] = {}
        for i, w in enumerate(float_w):
            groups.setdefault(w, []).append(i)
        with torch.no_grad():
            for w, idx in groups.items():
                _weighted_sum_([targets[i] for i in idx], [[end[i] for i in idx] for end in self._ends], w)
            for j, (key, w) in enumerate(zip(self._other_keys, other_w, strict=True)):
                source = w.index(1.0) if 1.0 in w else _largest_weight(w)
                live[key].copy_(self._others[source][j])
        if isinstance(weights, Mapping):
            self.weights = {p: tuple(float(x) for x in v) for p, v in weights.items()}
        else:
            self.weights = tuple(float_w[0]) if float_w else tuple(check_simplex(weights, self.num_models))
        return self.model

    def set_alpha(self, alpha: float) -> nn.Module:
        """Set the live model to ``(1 - alpha) * theta_A + alpha * theta_B``; returns the live model."""
        if self.num_models != 2:
            raise ValueError(f"set_alpha needs exactly 2 end models, this interpolator holds {self.num_models}")
        a = check_alpha(alpha)
        return self.set_weights([1.0 - a, a])


def check_same_architecture(models: Sequence[nn.Module], names: Sequence[str]) -> None:
    """Raise ``ValueError`` unless every model shares the first one's class, config and state-dict
    layout: what interpolating their weights needs (the explorers and the sweeps check it)."""
    for name, model in zip(names, models, strict=True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    first, first_name = models[0], names[0]
    for model, name in zip(models[1:], names[1:], strict=True):
        pair = f"{first_name} and {name}"
        if type(first) is not type(model):
            raise ValueError(
                f"{pair} must share one architecture to be interpolated, got "
                f"{type(first).__name__} and {type(model).__name__}"
            )
        config_a, config_b = getattr(first, "config", None), getattr(model, "config", None)
        if isinstance(config_a, dict) and isinstance(config_b, dict) and config_a != config_b:
            diff = sorted(k for k in set(config_a) | set(config_b) if config_a.get(k) != config_b.get(k))
            shown = ", ".join(f"{k}: {config_a.get(k)!r} vs {config_b.get(k)!r}" for k in diff)
            raise ValueError(f"{pair} must share one architecture, their configs differ ({shown})")
        problem = state_dict_mismatch(first.state_dict(), model.state_dict(), (first_name, name))
        if problem:
            raise ValueError(f"{pair} must share one architecture: {problem}")
