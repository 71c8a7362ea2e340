"""Receive fields of simulator 2: a loop array around the knee, by Biot-Savart, not normalised.

Array: ``num_coils`` circular loops lying on an elliptic cylinder around the knee whose axis runs
superior-inferior (y, along B0 of a knee scan in a closed-bore magnet), in rings along that axis --
the layout of a 15-channel transmit/receive knee coil (fastMRI's knee data were acquired with one,
Zbontar et al. 2018, arXiv:1811.08839). Each loop's normal points at the cylinder axis.

Field: the quasi-static field of a unit current in loop ``c`` (the Biot-Savart law, the loop
discretised into :data:`SEGMENTS` straight segments), evaluated at the pixels of a coronal slice;
the receive sensitivity is its negatively rotating transverse component (the principle of
reciprocity: D. I. Hoult, "The principle of reciprocity in signal strength calculations", Concepts
Magn Reson 12, 2000): with B0 along y, ``S_c = (B_x - i B_z)^* / 2``. Its magnitude falls off with
distance from the loop as a real coil's does (about ``d^-3`` far from it), its phase follows the
field's direction; a per-channel constant phase (cables, preamplifiers) and a smooth term growing
with distance (RF wavelength in tissue at 3 T, ~12 cm) are added.

No per-pixel normalisation: ``sum_c |S_c|^2`` is the array's receive profile, bright near the coils,
as in real coil images. One scalar per volume scales the fields so that the root sum of squares is
1 on the cylinder axis at the joint (keeps intensities on simulator 1's scale).

Placement (per volume, :func:`random_loop_array`): the loops are bent onto an elliptic cylinder
(the coil's former: a receive array's conductors follow its housing, so a loop's edges lie as near
the skin as its centre; flat loops tangent to the cylinder would hold their edges up to ~15 mm
further out), which fits the widest part of the limb within the field of view
(:func:`~recon_lib.data.phantom.anatomy.limb_widest`) with :data:`CLEARANCE_MM` to spare left-right
and front-back (anterior-posterior the limb is :data:`AP_TO_ML` as deep as wide). Supine, the leg's
weight rests it on the former's posterior wall, in the cylinder's trough: centred left-right, its
posterior skin :data:`SKIN_TO_WIRE_MM` from the posterior conductors (housing wall and pad), so no
tissue comes nearer a conductor than that. Three rings 38 - 50 mm apart whose centre is up to
15 mm off the joint line, loop radii 36 - 48 mm, the array rotated at random about its axis.
15 channels, as every fastMRI knee file (the count does not vary there).

Measured (issue 27, make data's 20 volumes, SENSE-like reference with noise, Otsu foreground):
the root sum of squares at the brightest tissue is about 2x its median over the tissue; placing the
conductors as close as the housing allows bounds it, and with it the PD volume's peak over its
foreground RMS (about 2.5, PDFS about 4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LoopArray", "random_loop_array", "receive_fields", "SEGMENTS"]

#: distance (mm) from the skin to the loop wires where the knee is widest: the coil's inner surface
#: (a close-fitting knee coil is chosen for the knee; foam pads fill the gap) plus its housing
CLEARANCE_MM = (10.0, 25.0)
#: the nearest the skin comes to a loop's conductor (mm): the coil housing's wall (a few mm of
#: plastic over the conductors) plus the thinnest pad under the resting leg -- an assumption of this
#: simulator (commercial coils state no such figure); it bounds the receive field at the skin
SKIN_TO_WIRE_MM = (5.0, 10.0)
#: anterior-posterior over left-right extent of the knee at the joint (distal femur: AP depth about
#: 0.8 - 0.9 of the mediolateral width, Lonner et al., Clin Orthop Relat Res 466, 2008)
AP_TO_ML = 0.85
#: the loops are bent onto the cylinder (True) or flat (False); see :func:`random_loop_array`
CONFORMAL = True
#: straight segments per loop in the Biot-Savart sum (error of the field < 0.5 % beyond 5 mm of the wire)
SEGMENTS = 32


@dataclass(frozen=True)
class LoopArray:
    """Geometry and phases of one receive array (mm, radians); coordinates ``(y, x, z)``: y
    superior-inferior (H), x left-right (W), z anterior-posterior (slice direction).

    Attributes:
        centres: ``(C, 3)`` loop centres.
        normals: ``(C, 3)`` unit loop normals (toward the cylinder axis).
        radius: ``(C,)`` loop radii.
        phase: ``(C, 2)``: constant phase, and the phase per 100 mm of distance from the loop centre.
        scale: the one scalar that makes the root sum of squares 1 on the axis at the joint.
        former: ``(axis_x, axis_z, semi_x, semi_z)`` of the elliptic cylinder the loops are bent onto
            (:data:`CONFORMAL`); None: flat loops in the plane through ``centres`` normal to ``normals``.
    """

    centres: np.ndarray
    normals: np.ndarray
    radius: np.ndarray
    phase: np.ndarray
    scale: float = 1.0
    former: tuple[float, float, float, float] | None = None

    @property
    def num_coils(self) -> int:
        return int(self.centres.shape[0])


def random_loop_array(
    rng: np.random.Generator, num_coils: int, joint_yx: tuple[float, float], knee_half_width: float, rings: int = 3
) -> LoopArray:
    """Draw a loop array around the knee (placement ranges in the module docstring).

    Args:
        rng: random generator.
        num_coils: receive channels (loops), spread over ``rings`` rings around the cylinder.
        joint_yx: ``(y, x)`` of the joint centre in mm (the array's nominal centre).
        knee_half_width: the knee's widest left-right half-width in the field of view (mm).
        rings: loops rings along the superior-inferior axis.
    """
    if num_coils < 1 or rings < 1:
        raise ValueError(f"num_coils and rings must be >= 1, got {num_coils}, {rings}")
    clear_x, clear_z = rng.uniform(*CLEARANCE_MM), rng.uniform(*CLEARANCE_MM)
    semi_x, semi_z = knee_half_width + clear_x, AP_TO_ML * knee_half_width + clear_z
    gap = rng.uniform(*SKIN_TO_WIRE_MM)
    # supine, the leg's weight rests it on the coil's posterior wall, in the trough of the cylinder:
    # centred left-right, its posterior skin ``gap`` from the posterior conductors
    axis_x = joint_yx[1]
    axis_z = clear_z - gap
    spacing, ring_centre = rng.uniform(38.0, 50.0), joint_yx[0] + rng.uniform(-15.0, 15.0)
    ring = np.arange(num_coils) % rings
    per_ring = np.bincount(ring, minlength=rings)
    slot = np.arange(num_coils) // rings
    # loops of neighbouring rings are staggered by half a slot, so the array covers the circumference
    angles = 2 * np.pi * (slot + 0.5 * (ring % 2) + rng.uniform(-0.1, 0.1, num_coils)) / per_ring[ring] + rng.uniform(
        0, 2 * np.pi
    )
    y = ring_centre + (ring - (rings - 1) / 2) * spacing
    x, z = axis_x + semi_x * np.cos(angles), axis_z + semi_z * np.sin(angles)
    centres = np.stack([y, x, z], axis=1)
    inward = np.stack([np.zeros(num_coils), -np.cos(angles) / semi_x, -np.sin(angles) / semi_z], axis=1)
    normals = inward / np.linalg.norm(inward, axis=1, keepdims=True)
    phase = np.stack([rng.uniform(-np.pi, np.pi, num_coils), rng.uniform(0.5, 1.5, num_coils)], axis=1)
    former = (float(axis_x), float(axis_z), float(semi_x), float(semi_z)) if CONFORMAL else None
    array = LoopArray(centres, normals, rng.uniform(36.0, 48.0, num_coils), phase, former=former)
    at_joint = receive_fields(array, np.array([[joint_yx[0]]]), np.array([[axis_x]]), axis_z)
    rss = float(np.sqrt((np.abs(at_joint) ** 2).sum()))
    return LoopArray(centres, normals, array.radius, phase, scale=1.0 / rss, former=former)


def _loop_wire(
    centre: np.ndarray, normal: np.ndarray, radius: float, former: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints ``(M, 3)`` and vectors ``(M, 3)`` of the loop's :data:`SEGMENTS` straight segments:
    a circle of ``radius`` in the plane normal to ``normal``, bent onto ``former`` (each vertex moved
    along the ray from the cylinder's axis onto its surface) when one is given."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(normal, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    if former is None:  # a flat circle: tangent elements at the segments' midpoints
        phi = 2 * np.pi * (np.arange(SEGMENTS) + 0.5) / SEGMENTS
        mid = centre + radius * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
        dl = (2 * np.pi * radius / SEGMENTS) * (-np.sin(phi)[:, None] * e1 + np.cos(phi)[:, None] * e2)
        return mid, dl
    phi = 2 * np.pi * np.arange(SEGMENTS) / SEGMENTS
    vertices = centre + radius * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)  # (M, 3)
    ax, az, sx, sz = former
    dx, dz = vertices[:, 1] - ax, vertices[:, 2] - az
    on_surface = 1.0 / np.sqrt((dx / sx) ** 2 + (dz / sz) ** 2)
    vertices[:, 1], vertices[:, 2] = ax + dx * on_surface, az + dz * on_surface
    nxt = np.roll(vertices, -1, axis=0)
    return (vertices + nxt) / 2, nxt - vertices


def _loop_field(
    centre: np.ndarray,
    normal: np.ndarray,
    radius: float,
    points: np.ndarray,
    former: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Biot-Savart field ``(3, N)`` (units of mu0 I / 4 pi) of a unit-current loop at ``points`` ``(3, N)``."""
    mid, dl = _loop_wire(centre, normal, radius, former)
    b = np.zeros(points.shape, np.float32)
    for m in range(SEGMENTS):  # dl x r / |r|^3, one segment at a time (memory stays O(N))
        r0, r1, r2 = (points[i] - np.float32(mid[m, i]) for i in range(3))
        inv3 = (r0 * r0 + r1 * r1 + r2 * r2) ** np.float32(-1.5)
        d0, d1, d2 = (np.float32(dl[m, i]) for i in range(3))
        b[0] += (d1 * r2 - d2 * r1) * inv3
        b[1] += (d2 * r0 - d0 * r2) * inv3
        b[2] += (d0 * r1 - d1 * r0) * inv3
    return b


def receive_fields(array: LoopArray, y_mm: np.ndarray, x_mm: np.ndarray, z_mm: float) -> np.ndarray:
    """Complex receive sensitivities of the array on a coronal slice, not normalised.

    Args:
        array: the loop array.
        y_mm: ``(h, 1)`` row positions (mm, H axis).
        x_mm: ``(1, w)`` column positions (mm, W axis).
        z_mm: slice position (anterior-posterior) in mm.

    Returns:
        complex64 ``(C, h, w)``.
    """
    y = np.asarray(y_mm, dtype=np.float32)
    x = np.asarray(x_mm, dtype=np.float32)
    h, w = y.shape[0], x.shape[1]
    yy, xx = np.broadcast_arrays(y, x)
    points = np.stack([yy.ravel(), xx.ravel(), np.full(h * w, z_mm, np.float32)])  # (3, N)
    out = np.empty((array.num_coils, h, w), np.complex64)
    for c in range(array.num_coils):
        b = _loop_field(array.centres[c], array.normals[c], float(array.radius[c]), points, array.former)
        sens = np.conj(b[1] - 1j * b[2]) / 2  # B0 along y: transverse components x (1) and z (2)
        dist = np.sqrt(((points - array.centres[c].astype(np.float32)[:, None]) ** 2).sum(axis=0))
        sens = sens * np.exp(1j * (array.phase[c, 0] + array.phase[c, 1] * dist / 100.0))
        out[c] = (array.scale * sens).reshape(h, w)
    return out
