"""Entry checks shared by the public API.

Every public function validates its inputs with these helpers so that bad input fails
early with one message naming the argument, the expected form and what was received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Raise ``TypeError`` unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_complex(name: str, value: object, ndim: int | Sequence[int] | None = None) -> torch.Tensor:
    """Raise unless ``value`` is a complex tensor (optionally of a given rank)."""
    t = check_tensor(name, value)
    if not t.is_complex():
        raise TypeError(
            f"{name} must be a complex tensor (torch.complex64 by convention), got dtype {t.dtype}; "
            "use recon_lib.channels_to_complex to convert a 2-channel real tensor"
        )
    _check_ndim(name, t, ndim)
    return t


def check_real(name: str, value: object, ndim: int | Sequence[int] | None = None) -> torch.Tensor:
    """Raise unless ``value`` is a real (floating or boolean) tensor (optionally of a given rank)."""
    t = check_tensor(name, value)
    if t.is_complex():
        raise TypeError(f"{name} must be a real tensor, got complex dtype {t.dtype}")
    _check_ndim(name, t, ndim)
    return t


def _check_ndim(name: str, t: torch.Tensor, ndim: int | Sequence[int] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(t.shape)}")


def check_broadcastable(name: str, shape: Sequence[int], target: Sequence[int], target_name: str) -> None:
    """Raise ``ValueError`` unless ``shape`` broadcasts to ``target`` without changing it."""
    try:
        out = torch.broadcast_shapes(tuple(shape), tuple(target))
    except RuntimeError:
        out = None
    if out != tuple(target):
        raise ValueError(f"{name} of shape {tuple(shape)} does not broadcast to {target_name} of shape {tuple(target)}")


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (Python or NumPy, never ``bool``) in range.

    Raises ``ValueError`` naming the argument, the allowed range and the value received.

    Example:
        >>> check_int("num_iters", 10, minimum=1)
        10
        >>> check_int("seed", -1, minimum=0)
        Traceback (most recent call last):
        ...
        ValueError: seed must be a non-negative integer, got -1
    """
    if minimum == 1 and maximum is None:
        want = "a positive integer"
    elif minimum == 0 and maximum is None:
        want = "a non-negative integer"
    elif minimum is not None and maximum is not None:
        want = f"an integer in {minimum}..{maximum}"
    elif minimum is not None:
        want = f"an integer >= {minimum}"
    elif maximum is not None:
        want = f"an integer <= {maximum}"
    else:
        want = "an integer"
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if ok and minimum is not None and value < minimum:  # type: ignore[operator]
        ok = False
    if ok and maximum is not None and value > maximum:  # type: ignore[operator]
        ok = False
    if not ok:
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def state_dict_mismatch(
    reference: Mapping[str, torch.Tensor],
    other: Mapping[str, torch.Tensor],
    names: tuple[str, str] = ("state_dicts[0]", "state_dicts[1]"),
    *,
    dtypes: bool = True,
) -> str | None:
    """The first layout difference between two state dicts, as a sentence naming the key, or None.

    The one compatibility check of the library: models interpolated, loaded from a checkpoint or
    put side by side in the explorer must share keys, shapes (and, for interpolation, dtypes).

    Args:
        reference, other: the two state dicts.
        names: how the messages name them (``reference`` first).
        dtypes: also compare dtypes.

    Example:
        >>> a, b = {"w": torch.zeros(2)}, {"w": torch.zeros(3)}
        >>> state_dict_mismatch(a, b, ("the SN", "the SN-GAN"))
        "key 'w': the SN-GAN has shape (3,) but the SN has (2,)"
    """
    first, second = names
    for keys, other_keys, template in (
        (reference, other, "{second} is missing key {key!r}{more} (present in {first})"),
        (other, reference, "{second} has unexpected key {key!r}{more} (absent from {first})"),
    ):
        absent = [k for k in keys if k not in other_keys]
        if absent:
            more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
            return template.format(first=first, second=second, key=absent[0], more=more)
    for key, a in reference.items():
        b = other[key]
        if b.shape != a.shape:
            return f"key {key!r}: {second} has shape {tuple(b.shape)} but {first} has {tuple(a.shape)}"
        if dtypes and b.dtype != a.dtype:
            return f"key {key!r}: {second} has dtype {b.dtype} but {first} has {a.dtype}"
    return None


def adjointness_error(
    forward: Callable[[torch.Tensor], torch.Tensor],
    adjoint: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """Relative error of the dot-product test ``<A x, y> = <x, A^H y>`` (0 for a true adjoint pair).

    Inner products are ``sum(conj(a) * b)`` in double precision. When either side of a product is
    real (an operator between complex images and real channels), only real parts are compared: such
    an operator is real-linear, and its adjoint is defined for the real inner product ``Re<a, b>``.

    Args:
        forward: the operator ``A``.
        adjoint: the claimed adjoint ``A^H``.
        x: an input of ``A`` (random, so that the test is not passed by accident).
        y: an input of ``A^H``, shaped like ``A(x)``.

    Returns:
        ``|<A x, y> - <x, A^H y>| / |<A x, y>|``.

    Example:
        >>> import torch
        >>> a = torch.randn(3, 2, dtype=torch.complex128)
        >>> x, y = torch.randn(2, dtype=torch.complex128), torch.randn(3, dtype=torch.complex128)
        >>> adjointness_error(lambda v: a @ v, lambda v: a.conj().T @ v, x, y) < 1e-12
        True
        >>> adjointness_error(lambda v: a @ v, lambda v: a.T @ v, x, y) > 1e-3  # transpose without conj
        True
    """
    ax, ahy = forward(x), adjoint(y)
    if ax.shape != y.shape:
        raise ValueError(f"forward(x) has shape {tuple(ax.shape)} but y has shape {tuple(y.shape)}")
    if ahy.shape != x.shape:
        raise ValueError(f"adjoint(y) has shape {tuple(ahy.shape)} but x has shape {tuple(x.shape)}")
    real = not (ax.is_complex() and y.is_complex() and x.is_complex() and ahy.is_complex())
    lhs = _inner(ax, y, real)
    rhs = _inner(x, ahy, real)
    return abs(lhs - rhs) / max(abs(lhs), 1e-30)


def _inner(a: torch.Tensor, b: torch.Tensor, real: bool) -> complex:
    a = a.to(torch.complex128) if a.is_complex() else a.to(torch.float64)
    b = b.to(torch.complex128) if b.is_complex() else b.to(torch.float64)
    value = complex((a.conj() * b).sum()) if a.is_complex() else complex((a * b).sum())
    return complex(value.real, 0.0) if real else value
