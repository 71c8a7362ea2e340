"""Receive-coil model of the knee phantom: sensitivities and correlated thermal noise.

Coil array: ``num_coils`` small loops (radius ~45 mm) placed on an elliptic cylinder around the
knee, whose axis runs superior-inferior (the readout axis H of a coronal knee scan), in three
staggered rings along that axis -- a simplified 15-channel transmit/receive knee coil. For a
pixel at in-plane position ``(y, x)`` (mm; y along H, x along W) of a coronal slice at
anterior-posterior depth ``z`` the sensitivity magnitude of coil c is the on-axis loop law

    |S_c| = rho^3 / (rho^2 + d_c^2)^(3/2),   d_c = distance from the loop centre,

and its phase a smooth random polynomial plus a term growing with distance (wave propagation),
so both vary smoothly across the field of view and across slices. The maps are then normalised
so that ``sum_c |S_c|^2 = 1`` at every pixel (:func:`recon_lib.physics.coils.normalize_maps`'s convention).

Noise: complex white Gaussian per k-space sample, with inter-coil covariance
``Psi_cd = sigma^2 r^dist(c, d)``, ``dist`` the distance between coils around the ring (coils are
numbered around it), so ``r`` is the correlation coefficient of neighbouring coils.

References:
    P. B. Roemer et al., "The NMR phased array", MRM 16, 1990 (noise correlation, RSS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CoilArray", "random_coil_array", "coil_sensitivities", "noise_covariance", "correlated_noise"]


@dataclass(frozen=True)
class CoilArray:
    """Geometry and phase parameters of one coil array (mm, radians).

    Attributes:
        centres: ``(C, 3)`` loop centres ``(y, x, z)``; y superior-inferior (H), x left-right (W),
            z anterior-posterior (slice direction).
        loop_radius: ``(C,)`` loop radii.
        phase_coeffs: ``(C, 6)`` phase polynomial coefficients
            ``(offset, y, x, y*x, y^2 - x^2, distance)`` in units of 100 mm.
    """

    centres: np.ndarray
    loop_radius: np.ndarray
    phase_coeffs: np.ndarray

    @property
    def num_coils(self) -> int:
        return int(self.centres.shape[0])


def random_coil_array(
    rng: np.random.Generator, num_coils: int = 15, centre_xz: tuple[float, float] = (0.0, 0.0)
) -> CoilArray:
    """Draw a coil array on an ellipse around the knee (semi-axes ~85 mm left-right, ~80 mm AP).

    Args:
        rng: random generator.
        num_coils: number of receive channels.
        centre_xz: ``(x, z)`` centre of the ellipse in mm.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}")
    semi_x = rng.uniform(82.0, 90.0)
    semi_z = rng.uniform(76.0, 84.0)
    angles = 2 * np.pi * (np.arange(num_coils) + rng.uniform(-0.15, 0.15, num_coils)) / num_coils + rng.uniform(
        0, 2 * np.pi
    )
    rings = np.array([-45.0, 0.0, 45.0])[np.arange(num_coils) % 3] + rng.uniform(-5, 5, num_coils)
    centres = np.stack([rings, centre_xz[0] + semi_x * np.cos(angles), centre_xz[1] + semi_z * np.sin(angles)], axis=1)
    loop_radius = rng.uniform(40.0, 50.0, num_coils)
    phase = np.concatenate(
        [
            rng.uniform(-np.pi, np.pi, (num_coils, 1)),
            rng.normal(0.0, 0.6, (num_coils, 4)),
            rng.uniform(0.5, 1.5, (num_coils, 1)),
        ],
        axis=1,
    )
    return CoilArray(centres=centres, loop_radius=loop_radius, phase_coeffs=phase)


def coil_sensitivities(array: CoilArray, y_mm: np.ndarray, x_mm: np.ndarray, z_mm: float) -> np.ndarray:
    """Normalised complex sensitivities on a grid.

    Args:
        array: the coil array.
        y_mm: ``(h, 1)`` row positions in mm (H axis).
        x_mm: ``(1, w)`` column positions in mm (W axis).
        z_mm: slice position (anterior-posterior) in mm.

    Returns:
        complex64 ``(C, h, w)`` with ``sum_c |S_c|^2 = 1`` everywhere.
    """
    y = np.asarray(y_mm, dtype=np.float32)[None]
    x = np.asarray(x_mm, dtype=np.float32)[None]
    cy, cx, cz = (array.centres[:, i].astype(np.float32)[:, None, None] for i in range(3))
    rho = array.loop_radius.astype(np.float32)[:, None, None]
    dy, dx, dz = y - cy, x - cx, np.float32(z_mm) - cz
    dist2 = dy**2 + dx**2 + dz**2
    magnitude = rho**3 / (rho**2 + dist2) ** 1.5
    p = array.phase_coeffs.astype(np.float32)[:, :, None, None]
    u, v = dy / 100.0, dx / 100.0
    phase = (
        p[:, 0]
        + p[:, 1] * u
        + p[:, 2] * v
        + p[:, 3] * u * v
        + p[:, 4] * (u**2 - v**2)
        + p[:, 5] * np.sqrt(dist2) / 100.0
    )
    maps = magnitude * np.exp(1j * phase)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))
    return maps.astype(np.complex64)


def noise_covariance(num_coils: int, correlation: float) -> np.ndarray:
    """Unit-variance inter-coil noise correlation matrix ``r^dist(c, d)`` (coils numbered around a ring).

    Raises:
        ValueError: if ``correlation`` is outside ``[0, 1)`` or the matrix is not positive definite.
    """
    if not 0.0 <= float(correlation) < 1.0:
        raise ValueError(f"coil_correlation must be in [0, 1), got {correlation!r}")
    idx = np.arange(num_coils)
    diff = np.abs(idx[:, None] - idx[None, :])
    dist = np.minimum(diff, num_coils - diff)
    psi = float(correlation) ** dist.astype(np.float64)
    if np.linalg.eigvalsh(psi).min() <= 1e-9:
        raise ValueError(
            f"coil_correlation {correlation} gives a non positive-definite covariance for {num_coils} coils"
        )
    return psi


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, correlation: float) -> np.ndarray:
    """Complex Gaussian noise ``(..., C, h, w)`` (coils on axis -3) with ``E|n|^2 = sigma^2`` and
    neighbour-coil correlation coefficient ``correlation``; complex64."""
    num_coils = shape[-3]
    white = (rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)).astype(
        np.complex64
    )
    white *= np.float32(sigma / np.sqrt(2.0))
    if correlation == 0.0:
        return white
    chol = np.linalg.cholesky(noise_covariance(num_coils, correlation)).astype(np.float32)
    return np.einsum("cd,...dhw->...chw", chol, white).astype(np.complex64)
