"""Non-learned baselines: CG-SENSE (and, for comparison, sigpy's L1-wavelet reconstruction).

CG-SENSE (Pruessmann et al. 2001) solves the regularised least-squares problem

.. math::

    \\hat x = \\arg\\min_x \\tfrac12 \\lVert E x - y \\rVert_2^2 + \\tfrac{\\lambda}{2} \\lVert x \\rVert_2^2,
    \\qquad E = M F S,

through its normal equations :math:`(E^H E + \\lambda I) x = E^H y` with the conjugate-gradient
method. :math:`E^H E + \\lambda I` is Hermitian positive semi-definite, so CG applies; each batch
element is an independent system with its own step sizes. With ``lam = 0`` this is CGNR: the
data residual :math:`\\lVert y - E x_k \\rVert` never increases from one iteration to the next.
Starting from :math:`x_0 = 0`, stopping early acts as regularisation (noise grows with the
iteration count at high acceleration), so a few tens of iterations is the usual choice.

The operators are :func:`recon_lib.physics.coils.sens_expand` (``E``) and
:func:`recon_lib.physics.coils.sens_reduce` (``E^H``); tensors follow the recon_lib convention
(complex64 image ``(B, H, W)``, k-space and maps ``(B, C, H, W)``, real 0/1 mask broadcastable
to k-space).

References:
    K. P. Pruessmann, M. Weiger, P. Boernert, P. Boesiger, "Advances in sensitivity encoding
    with arbitrary k-space trajectories", MRM 46, 2001.
    M. R. Hestenes, E. Stiefel, "Methods of conjugate gradients for solving linear systems",
    J. Res. Nat. Bur. Stand. 49, 1952.
    M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI", MRM 58, 2007 (L1-wavelet).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, overload

import torch

from recon_lib.core.checks import check_complex, check_int
from recon_lib.physics.coils import sens_expand, sens_reduce
from recon_lib.physics.data_consistency import check_reconstruction_inputs

__all__ = ["cg_sense", "data_residual", "l1_wavelet"]


def _check_inputs(kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> None:
    check_reconstruction_inputs(kspace, maps, mask)
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must contain only 0 and 1 (a sampling pattern), got other values")


def data_residual(x: torch.Tensor, kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Relative data residual ``||M y - E x|| / ||M y||`` per batch element.

    Args:
        x: complex image ``(B, H, W)``.
        kspace: complex k-space ``(B, C, H, W)`` (unsampled entries are ignored).
        maps: complex coil sensitivities ``(B, C, H, W)``.
        mask: real 0/1 mask broadcastable to ``(B, C, H, W)``.

    Returns:
        Real tensor ``(B,)``.
    """
    _check_inputs(kspace, maps, mask)
    m = mask.to(kspace.real.dtype)
    y = kspace * m
    r = y - sens_expand(x, maps, m)
    num = torch.linalg.vector_norm(r.flatten(1), dim=1)
    den = torch.linalg.vector_norm(y.flatten(1), dim=1).clamp_min(torch.finfo(num.dtype).tiny)
    return num / den


@overload
def cg_sense(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    num_iters: int = ...,
    lam: float = ...,
    tol: float = ...,
    x0: torch.Tensor | None = ...,
    progress: bool = ...,
    return_history: Literal[False] = ...,
) -> torch.Tensor: ...


@overload
def cg_sense(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    num_iters: int = ...,
    lam: float = ...,
    tol: float = ...,
    x0: torch.Tensor | None = ...,
    progress: bool = ...,
    *,
    return_history: Literal[True],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


def cg_sense(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    num_iters: int = 10,
    lam: float = 0.0,
    tol: float = 1e-6,
    x0: torch.Tensor | None = None,
    progress: bool = False,
    return_history: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CG-SENSE: conjugate gradients on ``(E^H E + lam I) x = E^H y``.

    Args:
        kspace: complex64 multi-coil k-space ``y`` ``(B, C, H, W)``; only sampled entries are used.
        maps: complex64 coil sensitivities ``S`` ``(B, C, H, W)``.
        mask: real 0/1 sampling mask ``M`` broadcastable to ``(B, C, H, W)`` (e.g. ``(B, 1, 1, W)``).
        num_iters: maximum number of CG iterations (>= 1). With noisy data the error against
            the truth is smallest after a handful of iterations and grows afterwards
            (semi-convergence; on the embedded knee data about 6-10 at AF 4 and 8).
        lam: Tikhonov weight ``lambda >= 0`` (0: plain least squares).
        tol: stop a batch element once ``||r_k|| <= tol * ||E^H y||`` (normal-equation residual);
            the loop ends when every element has stopped.
        x0: optional complex starting image ``(B, H, W)`` (default zeros).
        progress: show a tqdm progress bar over iterations.
        return_history: also return the convergence history.

    Returns:
        The complex64 image ``(B, H, W)``; with ``return_history`` a tuple ``(image, history)``
        where ``history["normal_residual"]`` is ``||r_k|| / ||E^H y||`` and
        ``history["data_residual"]`` is ``||M y - E x_k|| / ||M y||``, each a real tensor
        ``(K + 1, B)`` for iterations ``k = 0 .. K`` (``K`` = iterations run), and
        ``history["iterates"]`` holds the images ``x_k``, complex64 ``(K + 1, B, H, W)`` on the CPU
        (e.g. to watch the error against a reference first fall, then rise again as noise is
        amplified: *semi-convergence*).
    """
    num_iters = _check_cg_arguments(kspace, maps, mask, num_iters, lam, tol, x0)
    kspace, maps = kspace.to(torch.complex64), maps.to(torch.complex64)
    m = mask.to(device=kspace.device, dtype=torch.float32)
    normal_op = functools.partial(_normal_op, maps=maps, mask=m, lam=float(lam))

    rhs = sens_reduce(kspace, maps, m)  # E^H y, (B, H, W)
    rhs_norm = _dot(rhs, rhs).sqrt().clamp_min(1e-30)
    state = _cg_start(rhs, x0, normal_op, tol, rhs_norm)
    history = _History(kspace, maps, m, rhs_norm) if return_history else None
    if history is not None:
        history.record(state)
    bar = _progress_bar(num_iters) if progress else None
    for _ in range(num_iters):
        if not bool(state.active.any()):
            break
        state = _cg_step(state, normal_op, tol, rhs_norm)
        if history is not None:
            history.record(state)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    x = state.x.to(torch.complex64)
    if history is None:
        return x
    return x, history.stacked()


def _check_cg_arguments(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    num_iters: int,
    lam: float,
    tol: float,
    x0: torch.Tensor | None,
) -> int:
    """Every argument of :func:`cg_sense` checked; returns ``num_iters`` as an int."""
    _check_inputs(kspace, maps, mask)
    num_iters = check_int("num_iters", num_iters, minimum=1)
    if not float(lam) >= 0.0:
        raise ValueError(f"lam must be a non-negative number, got {lam!r}")
    if not float(tol) >= 0.0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    batch, _, height, width = kspace.shape
    if x0 is not None:
        check_complex("x0", x0, ndim=3)
        if tuple(x0.shape) != (batch, height, width):
            raise ValueError(f"x0 must have shape (B, H, W) = {(batch, height, width)}, got {tuple(x0.shape)}")
    return num_iters


def _normal_op(v: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
    """``(E^H E + lam I) v`` for images ``v`` ``(B, H, W)``."""
    out = sens_reduce(sens_expand(v, maps, mask), maps)
    return out + lam * v if lam > 0 else out


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Real part of ``<a, b>`` per batch element, ``(B,)`` in float64."""
    return (a.conj() * b).real.flatten(1).sum(dim=1, dtype=torch.float64)


@dataclass
class _CGState:
    """One CG iterate: image ``x``, residual ``r``, search direction ``p`` (each ``(B, H, W)``),
    ``rs = <r, r>`` and which batch elements still iterate (each ``(B,)``)."""

    x: torch.Tensor
    r: torch.Tensor
    p: torch.Tensor
    rs: torch.Tensor
    active: torch.Tensor


def _cg_start(
    rhs: torch.Tensor,
    x0: torch.Tensor | None,
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    tol: float,
    rhs_norm: torch.Tensor,
) -> _CGState:
    x = torch.zeros_like(rhs) if x0 is None else x0.to(rhs.dtype).clone()
    r = rhs - normal_op(x) if x0 is not None else rhs.clone()
    rs = _dot(r, r)
    return _CGState(x=x, r=r, p=r.clone(), rs=rs, active=rs.sqrt() > tol * rhs_norm)


def _cg_step(
    s: _CGState, normal_op: Callable[[torch.Tensor], torch.Tensor], tol: float, rhs_norm: torch.Tensor
) -> _CGState:
    """One conjugate-gradient step; elements that have stopped keep their iterate."""
    q = normal_op(s.p)
    pq = _dot(s.p, q)
    alpha = torch.where(s.active & (pq > 0), s.rs / pq.clamp_min(1e-300), torch.zeros_like(s.rs))
    a = alpha.to(torch.float32).view(-1, 1, 1)
    x = s.x + a * s.p
    r = s.r - a * q
    rs_new = _dot(r, r)
    beta = torch.where(s.active, rs_new / s.rs.clamp_min(1e-300), torch.zeros_like(s.rs))
    p = r + beta.to(torch.float32).view(-1, 1, 1) * s.p
    rs = torch.where(s.active, rs_new, s.rs)
    return _CGState(x=x, r=r, p=p, rs=rs, active=s.active & (rs.sqrt() > tol * rhs_norm))


class _History:
    """The convergence history :func:`cg_sense` returns with ``return_history=True``."""

    def __init__(self, kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, rhs_norm: torch.Tensor) -> None:
        self.kspace, self.maps, self.mask, self.rhs_norm = kspace, maps, mask, rhs_norm
        self.lists: dict[str, list[torch.Tensor]] = {"normal_residual": [], "data_residual": [], "iterates": []}

    def record(self, s: _CGState) -> None:
        self.lists["normal_residual"].append((s.rs.sqrt() / self.rhs_norm).float().cpu())
        self.lists["data_residual"].append(data_residual(s.x, self.kspace, self.maps, self.mask).cpu())
        self.lists["iterates"].append(s.x.detach().to(torch.complex64).cpu())

    def stacked(self) -> dict[str, torch.Tensor]:
        return {k: torch.stack(v) for k, v in self.lists.items()}


def _progress_bar(num_iters: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=num_iters, desc="CG-SENSE", leave=False)


def l1_wavelet(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    lam: float = 1e-3,
    num_iters: int = 30,
    wave_name: str = "db4",
) -> torch.Tensor:
    """L1-wavelet compressed-sensing reconstruction with sigpy (``sigpy.mri.app.L1WaveletRecon``).

    Solves :math:`\\min_x \\tfrac12 \\lVert M F S x - y \\rVert_2^2 + \\lambda \\lVert W x \\rVert_1`
    (W: orthogonal wavelet transform) by proximal gradient (FISTA), one slice at a time on the CPU.
    sigpy's centred orthonormal FFT matches :func:`recon_lib.physics.fft.fft2c`, so ``lam`` is on the
    same scale as the k-space values.

    Args:
        kspace: complex k-space ``(B, C, H, W)``.
        maps: complex coil sensitivities ``(B, C, H, W)``.
        mask: real 0/1 mask broadcastable to ``(B, C, H, W)``.
        lam: sparsity weight ``lambda > 0``; scale it with the data (e.g. a fraction of ``max|E^H y|``).
        num_iters: FISTA iterations.
        wave_name: a PyWavelets wavelet name.

    Returns:
        The complex64 image ``(B, H, W)`` on the input's device.
    """
    _check_inputs(kspace, maps, mask)
    if not float(lam) > 0.0:
        raise ValueError(f"lam must be a positive number, got {lam!r}")
    num_iters = check_int("num_iters", num_iters, minimum=1)
    import numpy as np
    import sigpy.mri.app as mr_app

    m = torch.broadcast_to(mask.to(torch.float32), kspace.shape).cpu().numpy()
    y = (kspace.detach().cpu() * torch.from_numpy(m)).numpy().astype(np.complex64)
    s = maps.detach().cpu().numpy().astype(np.complex64)
    out = []
    for b in range(kspace.shape[0]):
        with _seeded_numpy(0):  # the app picks its step size by a power iteration from numpy's global generator
            app = mr_app.L1WaveletRecon(
                y[b], s[b], float(lam), weights=m[b], wave_name=wave_name, max_iter=int(num_iters), show_pbar=False
            )
            out.append(np.asarray(app.run(), dtype=np.complex64))
    return torch.from_numpy(np.stack(out)).to(kspace.device)


@contextlib.contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """numpy's global generator seeded for the block and restored after it.

    sigpy's apps choose their step size by a power iteration (``sigpy.app.MaxEig``) that starts
    from ``numpy.random`` without a seed, so the same reconstruction differed from run to run (at
    about 1e-6 relative); seeded, it is the same every time, and the caller's random state is kept.
    """
    import numpy as np

    # sigpy draws from the legacy global generator, so that is the one to seed
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
