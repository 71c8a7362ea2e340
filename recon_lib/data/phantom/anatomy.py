"""Anatomy of the coronal knee phantom: tissues, their shapes, textures and PD / PDFS contrast.

A coronal slice through the knee joint (rows = superior -> inferior, the readout axis H;
columns = the patient's left-right, the phase-encode axis W) is drawn as a stack of soft-edged
tissue layers, painted back to front:

skin -> subcutaneous fat -> muscle (with fat septa and fibre striation) -> joint fluid ->
ligaments (MCL, LCL, cruciates) -> menisci (dark wedges) -> articular cartilage -> bones
(femur with condyles and intercondylar notch, tibia with plateau and spines, fibular head), each
bone a dark cortical rim around textured trabecular marrow with a physeal scar.

Shapes are implicit functions ``f(u, v)`` (negative inside, ~mm from the surface) in a rotated,
shifted anatomical frame; their edges are anti-aliased over one pixel of the (fine) synthesis
grid. Every volume draws its own size, position, rotation, side (left / right knee), bone and
soft-tissue proportions (:func:`random_knee`); within a volume shapes vary smoothly with the
slice position ``z`` (posterior slices: deeper notch, separate condyles, fibular head).

Fine texture (trabecular network in marrow, striation in muscle, fibrous septa in fat) is made of
band-pass random fields specified in mm (:mod:`recon_lib.data.phantom.textures`); it is the detail an
L1/SSIM-trained network smooths away and an adversarial loss restores.

Contrast: relative signal of each tissue in proton-density (CORPD_FBK: fat bright) and
fat-suppressed proton-density (CORPDFS_FBK: fat and fatty marrow dark, fluid bright) fast spin
echo images, :data:`CONTRAST`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from recon_lib.data.phantom.textures import FieldSampler, TextureSource, network_lines

__all__ = [
    "Tissue",
    "CONTRAST",
    "RED_MARROW",
    "LIMB_AP_TO_ML",
    "FEMUR_AP_TO_ML",
    "TIBIA_AP_TO_ML",
    "limb_widest",
    "KneeAnatomy",
    "random_knee",
    "random_knee_v2",
    "render_slice",
]


class Tissue(enum.IntEnum):
    """Tissue labels of the phantom (values stored in ``SimulatedVolume.tissue_labels``)."""

    BACKGROUND = 0  #: air outside the leg
    SKIN = 1  #: skin and superficial fascia
    FAT = 2  #: subcutaneous and intermuscular fat (incl. the fat in the notch)
    MUSCLE = 3  #: skeletal muscle
    CORTICAL_BONE = 4  #: cortical bone and subchondral plate (signal void)
    MARROW = 5  #: trabecular (cancellous) bone with fatty marrow
    CARTILAGE = 6  #: articular (hyaline) cartilage
    MENISCUS = 7  #: fibrocartilage menisci (dark wedges)
    FLUID = 8  #: joint (synovial) fluid
    LIGAMENT = 9  #: collateral and cruciate ligaments (dark bands)


#: relative signal per tissue in PD and PDFS fast spin echo (fat = 1 in PD); per-volume jitter is added
CONTRAST: dict[str, dict[Tissue, float]] = {
    "CORPD_FBK": {
        Tissue.BACKGROUND: 0.0,
        Tissue.SKIN: 0.55,
        Tissue.FAT: 1.0,
        Tissue.MUSCLE: 0.30,
        Tissue.CORTICAL_BONE: 0.03,
        Tissue.MARROW: 0.85,
        Tissue.CARTILAGE: 0.52,
        Tissue.MENISCUS: 0.05,
        Tissue.FLUID: 0.68,
        Tissue.LIGAMENT: 0.07,
    },
    "CORPDFS_FBK": {
        Tissue.BACKGROUND: 0.0,
        Tissue.SKIN: 0.32,
        Tissue.FAT: 0.10,
        Tissue.MUSCLE: 0.30,
        Tissue.CORTICAL_BONE: 0.02,
        Tissue.MARROW: 0.15,
        Tissue.CARTILAGE: 0.45,
        Tissue.MENISCUS: 0.04,
        Tissue.FLUID: 0.95,
        Tissue.LIGAMENT: 0.06,
    },
}


#: relative signal of red (haematopoietic) marrow, fat = 1 in PD: less fat and more water than yellow
#: marrow, so darker than fatty marrow in PD (near muscle) and brighter in PDFS (Vande Berg et al.,
#: "Magnetic resonance appearance of normal bone marrow", Eur Radiol 8, 1998)
RED_MARROW: dict[str, float] = {"CORPD_FBK": 0.45, "CORPDFS_FBK": 0.34}


#: simulator 2: the limb's anterior-posterior depth over its left-right width at the knee (axial
#: section an ellipse): the distal femur's AP depth is 0.8 - 0.9 of its mediolateral width (Lonner
#: et al., Clin Orthop Relat Res 466, 2008) and the soft tissue around it is about as thick front and
#: back as at the sides, so the same ratio (the receive array's cylinder uses it too)
LIMB_AP_TO_ML = 0.85


#: simulator 2: anterior-posterior depth over mediolateral width of the distal femur (0.8 - 0.9,
#: Lonner et al. 2008, above) and of the tibial plateau (about 0.65: mediolateral 70 - 80 mm,
#: anteroposterior 45 - 52 mm in adults, Yue et al., "Differences of knee anthropometry between
#: Chinese and white men and women", J Arthroplasty 26, 2011): each bone ends this far front and back
FEMUR_AP_TO_ML = 0.85
TIBIA_AP_TO_ML = 0.65


def _ap_erosion(knee: KneeAnatomy, z: float, half_depth: float, radius: float) -> float:
    """Simulator 2: how far (mm) a structure of in-plane half-width ``radius`` whose axial section is an
    ellipse of anterior-posterior ``half_depth`` is eroded in the coronal slice at ``z`` (0 at the
    centre, the whole ``radius`` at and beyond its front and back: it ends there). Simulator 1's
    structures are extruded through z (0)."""
    if knee.simulator < 2:
        return 0.0
    chord = float(np.sqrt(max(1.0 - (z / half_depth) ** 2, 0.0)))
    return (1.0 - chord) * (radius + 2.0)


def _tibial_erosion(knee: KneeAnatomy, z: float) -> float:
    return _ap_erosion(knee, z, TIBIA_AP_TO_ML * knee.plateau_half_width, knee.plateau_half_width)


def limb_widest(knee: KneeAnatomy, reach_mm: float) -> float:
    """The limb's largest left-right extent (mm) from the joint centre's column, over the rows within
    ``reach_mm`` of the joint and every slice position: what a receive coil must fit around. Includes
    the knee's in-plane tilt, the skew of the limb's axis and its drift with the slice position."""
    v = np.linspace(-reach_mm, reach_mm, 256) / np.cos(knee.tilt)
    growth = knee.limb_growth[0] * _smoothstep(-v, 0.0, 80.0) + knee.limb_growth[1] * _smoothstep(v, 10.0, 80.0)
    half_width = knee.limb_half_width + growth + 1.2
    c, s = np.cos(knee.tilt), np.sin(knee.tilt)
    depth = LIMB_AP_TO_ML * float(half_width.max())
    widest = 0.0
    for edge in (-1.0, 1.0):
        u = 0.04 * v + edge * half_width
        widest = max(widest, float(np.abs(c * knee.side * u + s * v).max()))
    return widest + (abs(knee.drift[1]) + 0.1) * depth


@dataclass(frozen=True)
class KneeAnatomy:
    """Per-volume anatomical parameters (mm, radians), drawn by :func:`random_knee`.

    The anatomical frame has ``u`` across the knee (medial < 0 < lateral) and ``v`` pointing
    inferior, with the origin at the centre of the joint space.
    """

    side: int  #: +1: lateral is toward +W (a right knee), -1: a left knee
    centre: tuple[float, float]  #: joint centre (y along H, x along W) in the image
    tilt: float  #: in-plane rotation
    drift: tuple[float, float]  #: shift of the centre (y, x) per mm of slice position
    gap: float  #: bone-to-bone joint gap at the compartment centres
    condyle_offset: float  #: |u| of the condyle centres
    condyle_radii: tuple[float, float, float, float]  #: medial (ru, rv), lateral (ru, rv)
    epicondyle_half_width: float  #: widest half-width of the distal femur
    femur_shaft_half_width: float
    femur_flare: float  #: length over which the metaphysis narrows to the shaft
    notch_half_width: float
    notch_depth: float  #: at slice position z = 0
    notch_depth_slope: float  #: deeper by this much per mm toward posterior
    plateau_half_width: float
    tibia_shaft_half_width: float
    tibia_flare: float
    spine_height: float
    fibula: tuple[float, float, float, float]  #: (u offset from the plateau edge, v, radius, z of largest section)
    cartilage: tuple[float, float]  #: femoral, tibial thickness
    meniscus: tuple[float, float]  #: height at the periphery, length toward the centre
    limb_half_width: float
    limb_growth: tuple[float, float]  #: widening toward thigh / calf
    fat_thickness: tuple[float, float]  #: medial, lateral subcutaneous fat
    muscle_zone: tuple[float, float, float, float]  #: muscle-free distance above (medial, lateral) / below the joint
    skin: float
    trabecular_period: float
    fibre_angle: float
    contrast_jitter: tuple[float, ...]  #: multiplicative, per :class:`Tissue`
    #: simulator 2 only (:func:`random_knee_v2`); the defaults leave simulator 1's knees unchanged
    flexion: float = 0.0  #: knee flexion (rad): the femoral and tibial shafts leave the coronal plane
    red_marrow: float = 0.0  #: fraction of the metaphyseal marrow that is red (haematopoietic) marrow
    simulator: int = 1  #: the simulator version that drew this knee


def random_knee(rng: np.random.Generator) -> KneeAnatomy:
    """Draw one knee: size, position, rotation, side and tissue proportions."""
    u = rng.uniform
    k = u(0.88, 1.08)  # overall size
    cart_f, cart_t = u(2.0, 2.8), u(1.8, 2.5)
    plateau = k * u(34.0, 38.0)
    limb = k * u(50.0, 58.0)
    fat_m, fat_l = u(7.0, 14.0), u(4.0, 9.0)
    return KneeAnatomy(
        side=int(rng.choice([-1, 1])),
        centre=(u(-6.0, 10.0), u(-6.0, 6.0)),
        tilt=float(np.deg2rad(u(-6.0, 6.0))),
        drift=(u(-0.1, 0.1), u(-0.15, 0.15)),
        gap=cart_f + cart_t + u(0.2, 0.7),
        condyle_offset=k * u(18.0, 21.0),
        condyle_radii=(k * u(14.0, 17.0), k * u(17.0, 21.0), k * u(13.0, 16.0), k * u(15.0, 19.0)),
        epicondyle_half_width=k * u(37.0, 41.0),
        femur_shaft_half_width=k * u(13.0, 16.0),
        femur_flare=k * u(28.0, 38.0),
        notch_half_width=k * u(8.0, 10.5),
        notch_depth=k * u(12.0, 17.0),
        notch_depth_slope=u(0.5, 0.9),
        plateau_half_width=plateau,
        tibia_shaft_half_width=k * u(13.0, 16.0),
        tibia_flare=k * u(18.0, 26.0),
        spine_height=u(3.0, 5.5),
        fibula=(k * u(-4.0, 0.0), k * u(26.0, 34.0), k * u(8.0, 10.5), u(-18.0, -8.0)),
        cartilage=(cart_f, cart_t),
        meniscus=(k * u(6.5, 9.0), k * u(10.0, 13.0)),
        limb_half_width=limb,
        limb_growth=(k * u(4.0, 12.0), k * u(-2.0, 5.0)),
        fat_thickness=(fat_m, fat_l),
        muscle_zone=(u(6.0, 14.0), u(22.0, 34.0), u(18.0, 28.0), u(14.0, 24.0)),
        skin=u(1.4, 2.2),
        trabecular_period=u(5.0, 6.5),
        fibre_angle=float(np.deg2rad(u(-10.0, 10.0))),
        contrast_jitter=tuple(float(v) for v in u(0.92, 1.08, len(Tissue))),
    )


def random_knee_v2(rng: np.random.Generator) -> KneeAnatomy:
    """Draw one knee of simulator 2: :func:`random_knee`'s knee, more varied where real knees vary.

    * Size: :func:`random_knee`'s size (0.88 - 1.08) times a further 0.93 - 1.07, so transepicondylar
      widths of about 64 - 90 mm (adult women and men: Lonner et al., "Anthropomorphic differences
      between the distal femora of men and women", Clin Orthop Relat Res 466, 2008); femur and tibia
      scaled independently by a further 0.93 - 1.07 (their proportions vary).
    * Flexion 0 - 15 degrees: a knee coil holds the knee extended to slightly flexed (an assumption of
      routine positioning; fastMRI's description gives none).
    * Cartilage 1.5 - 3.2 mm (femur) and 1.3 - 2.9 mm (tibia): the range of mean femorotibial
      thickness in healthy adults (Eckstein et al., "Magnetic resonance imaging of articular
      cartilage in knee osteoarthritis", Ann Rheum Dis 65, 2006, and the studies it reviews).
    * Marrow: red marrow islands in the metaphyses of half the knees (residual red marrow in the
      distal femur of adults is common: Shellock et al., AJR 158, 1992), trabecular period 4.5 - 7 mm.
    * Subcutaneous fat 5 - 20 mm medially, 3 - 13 mm laterally (body habitus), tissue signals +-12 %
      (cartilage and marrow +-20 %: their water and fat content varies most), tilt +-8 degrees.
    """
    base = random_knee(rng)
    u = rng.uniform
    k = u(0.93, 1.07)
    kf, kt = k * u(0.93, 1.07), k * u(0.93, 1.07)
    jitter = u(0.88, 1.12, len(Tissue))
    jitter[[Tissue.CARTILAGE, Tissue.MARROW]] = u(0.8, 1.2, 2)
    cart_f, cart_t = u(1.5, 3.2), u(1.3, 2.9)
    red = float(u(0.3, 0.8)) if rng.uniform() < 0.5 else 0.0
    b = base
    return KneeAnatomy(
        side=b.side,
        centre=b.centre,
        tilt=float(np.deg2rad(u(-8.0, 8.0))),
        drift=b.drift,
        gap=cart_f + cart_t + u(0.2, 0.8),
        condyle_offset=kf * b.condyle_offset,
        condyle_radii=tuple(kf * r * u(0.94, 1.06) for r in b.condyle_radii),  # type: ignore[arg-type]
        epicondyle_half_width=kf * b.epicondyle_half_width,
        femur_shaft_half_width=kf * b.femur_shaft_half_width,
        femur_flare=kf * b.femur_flare,
        notch_half_width=kf * b.notch_half_width,
        notch_depth=kf * b.notch_depth,
        notch_depth_slope=b.notch_depth_slope,
        plateau_half_width=kt * b.plateau_half_width,
        tibia_shaft_half_width=kt * b.tibia_shaft_half_width,
        tibia_flare=kt * b.tibia_flare,
        spine_height=b.spine_height,
        fibula=(kt * b.fibula[0], kt * b.fibula[1], kt * b.fibula[2], b.fibula[3]),
        cartilage=(cart_f, cart_t),
        meniscus=(kt * b.meniscus[0], kt * b.meniscus[1]),
        limb_half_width=k * b.limb_half_width,
        limb_growth=(k * b.limb_growth[0], k * b.limb_growth[1]),
        fat_thickness=(u(5.0, 20.0), u(3.0, 13.0)),
        muscle_zone=b.muscle_zone,
        skin=b.skin,
        trabecular_period=u(4.5, 7.0),
        fibre_angle=b.fibre_angle,
        contrast_jitter=tuple(float(v) for v in jitter),
        flexion=float(np.deg2rad(u(0.0, 15.0))),
        red_marrow=red,
        simulator=2,
    )


def _shaft_chord(z: float, distance: np.ndarray, flexion: float, radius: float) -> np.ndarray:
    """Fraction of a bone shaft's width a coronal slice at ``z`` cuts, for a knee flexed by ``flexion``.

    A shaft is a cylinder of ``radius``; flexion tilts its axis out of the coronal plane, posterior
    with ``distance`` (mm) from the joint line (supine, knee raised on a support: thigh and calf both
    fall toward the table), so a slice cuts the chord ``sqrt(1 - ((z - z_axis) / radius)^2)``.
    """
    z_axis = -np.maximum(distance, 0.0) * np.tan(flexion)
    return np.sqrt(np.clip(1.0 - ((z - z_axis) / radius) ** 2, 0.0, 1.0)).astype(np.float32)


# ---- implicit-shape helpers (f < 0 inside, roughly mm from the surface) ------------------------


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth union (rounded by ``k`` mm)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k / 4.0


def _smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth intersection (rounded by ``k`` mm)."""
    return -_smin(-a, -b, k)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return (np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2) - 1.0) * min(ru, rv)


def _segment(
    u: np.ndarray, v: np.ndarray, a: tuple[float, float], b: tuple[float, float], half_width: float
) -> np.ndarray:
    """A band of ``half_width`` around the segment a-b (a capsule)."""
    du, dv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * du + (v - a[1]) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.sqrt((u - a[0] - t * du) ** 2 + (v - a[1] - t * dv) ** 2) - half_width


def _polygon(u: np.ndarray, v: np.ndarray, pts: list[tuple[float, float]]) -> np.ndarray:
    """Convex polygon (vertices in either order) as the max of its edge half-planes."""
    area2 = sum(u0 * v1 - u1 * v0 for (u0, v0), (u1, v1) in zip(pts, pts[1:] + pts[:1], strict=True))
    if area2 < 0:
        pts = pts[::-1]  # counter-clockwise, so that (dv, -du) is the outward normal
    f = None
    for (u0, v0), (u1, v1) in zip(pts, pts[1:] + pts[:1], strict=True):
        nu, nv = v1 - v0, -(u1 - u0)  # outward normal for counter-clockwise order
        n = np.hypot(nu, nv)
        d = ((u - u0) * nu + (v - v0) * nv) / n
        f = d if f is None else np.maximum(f, d)
    assert f is not None  # a polygon has at least one edge
    return f


def _unit_gradient(f: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Rescale an implicit function so that |grad f| ~ 1 near its surface (true mm distances)."""
    gy, gx = np.gradient(f, pixel_mm)
    return f / np.clip(np.sqrt(gy * gy + gx * gx), 0.8, 3.0)  # kinks (zero gradient) stay put


# ---- the slice ---------------------------------------------------------------------------------


class _Canvas:
    """Painter's-algorithm compositing of soft-edged tissue layers."""

    def __init__(self, shape: tuple[int, int], pixel_mm: float, values: dict[Tissue, float]) -> None:
        self.image = np.zeros(shape, np.float32)
        self.labels = np.zeros(shape, np.uint8)
        self.edge = pixel_mm
        self.values = values

    def alpha(self, f: np.ndarray) -> np.ndarray:
        """Coverage in [0, 1] of the shape ``f < 0``, anti-aliased over one pixel."""
        return np.clip(0.5 - f / self.edge, 0.0, 1.0).astype(np.float32)

    def paint(self, alpha: np.ndarray, tissue: Tissue, texture: np.ndarray | float = 1.0) -> None:
        value = self.values[tissue] * texture
        self.image += alpha * (value - self.image)
        self.labels[alpha >= 0.5] = int(tissue)


@dataclass
class _Bones:
    femur: np.ndarray
    tibia: np.ndarray
    fibula: np.ndarray | None
    femur_half_width: np.ndarray
    condyle_base: float  # v of the condyle centres
    notch_depth: float
    fibula_top: tuple[float, float] | None


def _bone_shapes(knee: KneeAnatomy, u: np.ndarray, v: np.ndarray, z: float, pixel_mm: float) -> _Bones:
    g = knee.gap
    rum, rvm, rul, rvl = knee.condyle_radii
    off = knee.condyle_offset
    condyles = np.minimum(_ellipse(u, v, -off, -g / 2 - rvm, rum, rvm), _ellipse(u, v, off, -g / 2 - rvl, rul, rvl))
    base = -g / 2 - max(rvm, rvl)
    # metaphysis: widest at the epicondyles, narrowing (concave) to the shaft superiorly
    above = np.maximum(base - 4.0 - v, 0.0)
    half_width = knee.femur_shaft_half_width + (knee.epicondyle_half_width - knee.femur_shaft_half_width) * np.exp(
        -((above / knee.femur_flare) ** 1.6)
    )
    if knee.flexion > 0:  # the shaft leaves the slice; the flare (metaphysis, condyles) stays
        chord = _shaft_chord(z, -v - knee.gap / 2, knee.flexion, knee.femur_shaft_half_width)
        half_width = half_width - knee.femur_shaft_half_width * (1.0 - chord)
    shaft = _smax(np.abs(u) - half_width, v - base, 6.0)
    bridge = np.maximum(np.abs(u) - off, v - (base + 0.5 * min(rvm, rvl)))  # bone between the condyles
    femur = _smin(_smin(shaft, bridge, 4.0), condyles, 9.0)
    notch_depth = float(np.clip(knee.notch_depth - knee.notch_depth_slope * z, 4.0, max(rvm, rvl) + 8.0))
    nw = knee.notch_half_width
    roof = -g / 2 - notch_depth + 0.8 * nw  # an arch: straight walls under an elliptic roof
    notch = np.minimum(np.maximum(np.abs(u) - nw, roof - v), _ellipse(u, v, 0.0, roof, nw, 0.8 * nw))
    femur = _unit_gradient(_smax(femur, -notch, 2.5), pixel_mm) + _ap_erosion(
        knee, z, FEMUR_AP_TO_ML * knee.epicondyle_half_width, knee.epicondyle_half_width
    )

    plat = knee.plateau_half_width
    top = (
        g / 2
        + 1.0 * np.exp(-(((u + off) / 10.0) ** 2))  # concave medial plateau
        - 0.4 * np.exp(-(((u - off) / 10.0) ** 2))  # convex lateral plateau
        - knee.spine_height * (np.exp(-(((u - 3.5) / 2.6) ** 2)) + 0.8 * np.exp(-(((u + 3.5) / 2.6) ** 2)))
    )
    below = np.maximum(v - g / 2 - 6.0, 0.0)
    tib_hw = knee.tibia_shaft_half_width + (plat - knee.tibia_shaft_half_width) * np.exp(-below / knee.tibia_flare)
    if knee.flexion > 0:
        chord = _shaft_chord(z, v - g / 2, knee.flexion, knee.tibia_shaft_half_width)
        tib_hw = tib_hw - knee.tibia_shaft_half_width * (1.0 - chord)
    tibia = _unit_gradient(_smax(top - v, np.abs(u) - tib_hw, 5.0), pixel_mm) + _tibial_erosion(knee, z)

    du, fv, fr, fz = knee.fibula
    radius = fr * float(np.sqrt(np.clip(1.0 - ((z - fz) / 12.0) ** 2, 0.0, 1.0)))
    fibula, fibula_top = None, None
    if radius > 1.0:
        # the fibular head sits against the posterolateral tibia, below the plateau
        hw_at = knee.tibia_shaft_half_width + (plat - knee.tibia_shaft_half_width) * np.exp(
            -max(fv - g / 2 - 6.0, 0.0) / knee.tibia_flare
        )
        fu = hw_at + radius + du
        fibula = _ellipse(u, v, fu, fv, radius, 1.25 * radius)
        fibula_top = (fu, fv - 1.25 * radius)
    return _Bones(femur, tibia, fibula, half_width, base, notch_depth, fibula_top)


def render_slice(
    knee: KneeAnatomy,
    z_mm: float,
    y_mm: np.ndarray,
    x_mm: np.ndarray,
    pixel_mm: float,
    acquisition: str,
    rng: np.random.Generator,
    texture_factor: int = 1,
    fields: TextureSource | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the real, non-negative tissue signal and the labels of one coronal slice.

    Args:
        knee: the volume's anatomy.
        z_mm: slice position (anterior-posterior, mm; negative = posterior).
        y_mm: ``(h, 1)`` row positions (mm, superior -> inferior).
        x_mm: ``(1, w)`` column positions (mm).
        pixel_mm: grid spacing (mm), the anti-aliasing edge width.
        acquisition: ``"CORPD_FBK"`` or ``"CORPDFS_FBK"``.
        rng: random generator for this slice's textures.
        texture_factor: the grid is this many times finer than the grid the texture noise is
            drawn on (:class:`~recon_lib.data.phantom.textures.FieldSampler`): the same ``rng`` state
            gives the same continuous object for every factor.
        fields: where the texture fields come from (simulator 2: a sub-slice of a
            :class:`~recon_lib.data.phantom.textures.SlabFieldSampler`); None: a
            :class:`~recon_lib.data.phantom.textures.FieldSampler` of ``rng``.

    Returns:
        ``(signal float32 (h, w), labels uint8 (h, w))`` with labels from :class:`Tissue`.
    """
    if acquisition not in CONTRAST:
        raise ValueError(f"acquisition must be one of {tuple(CONTRAST)}, got {acquisition!r}")
    shape = (int(np.shape(y_mm)[0]), int(np.shape(x_mm)[1]))
    values = {t: CONTRAST[acquisition][t] * knee.contrast_jitter[int(t)] for t in Tissue}
    canvas = _Canvas(shape, pixel_mm, values)
    if fields is None:
        fields = FieldSampler(rng, shape, pixel_mm, texture_factor)
    frame = _frame(knee, z_mm, y_mm, x_mm)
    # painted back to front; the texture fields are drawn from ``rng`` in this order
    limb = _paint_skin_and_fat(canvas, fields, frame)
    _paint_muscle(canvas, fields, frame, limb)
    bones = _bone_shapes(knee, frame.u, frame.v, frame.z, pixel_mm)
    _paint_fluid_and_ligaments(canvas, frame, bones)
    _paint_menisci_and_cartilage(canvas, frame, bones)
    _paint_bones(canvas, fields, frame, bones, acquisition)
    return canvas.image, canvas.labels


@dataclass
class _Frame:
    """A slice in the anatomical frame: ``u`` across the knee (medial < 0 < lateral), ``v`` down,
    origin at the joint centre (mm); ``z`` the slice position."""

    knee: KneeAnatomy
    u: np.ndarray
    v: np.ndarray
    z: float
    medial: np.ndarray


def _frame(knee: KneeAnatomy, z_mm: float, y_mm: np.ndarray, x_mm: np.ndarray) -> _Frame:
    cy = knee.centre[0] + knee.drift[0] * z_mm
    cx = knee.centre[1] + knee.drift[1] * z_mm
    c, s = np.cos(knee.tilt), np.sin(knee.tilt)
    dy, dx = (np.asarray(y_mm, np.float32) - cy), (np.asarray(x_mm, np.float32) - cx)
    u = (knee.side * (c * dx - s * dy)).astype(np.float32)
    v = (s * dx + c * dy).astype(np.float32)
    return _Frame(knee=knee, u=u, v=v, z=float(z_mm), medial=u < 0)


def _paint_skin_and_fat(canvas: _Canvas, fields: TextureSource, frame: _Frame) -> np.ndarray:
    """Skin and subcutaneous fat with fibrous septa; returns the limb's implicit function."""
    knee, u, v, z = frame.knee, frame.u, frame.v, frame.z
    growth = knee.limb_growth[0] * _smoothstep(-v, 0.0, 80.0) + knee.limb_growth[1] * _smoothstep(v, 10.0, 80.0)
    half_width = knee.limb_half_width + growth + 1.2 * np.sin(v / 23.0 + 0.1 * z) - 0.002 * z * z
    if knee.simulator >= 2:  # the limb's axial section: an ellipse, AP depth LIMB_AP_TO_ML of its width
        half_width = half_width * np.sqrt(np.clip(1.0 - (z / (LIMB_AP_TO_ML * half_width)) ** 2, 0.0, 1.0))
    limb = np.abs(u - 0.04 * v - 0.1 * z) - half_width
    canvas.paint(canvas.alpha(limb), Tissue.SKIN)
    fibrous = network_lines(fields.bandpass(period_mm=14.0, relative_bandwidth=0.6), 0.06)
    canvas.paint(canvas.alpha(limb + knee.skin), Tissue.FAT, 1.0 - 0.3 * fibrous)
    return limb


def _paint_muscle(canvas: _Canvas, fields: TextureSource, frame: _Frame, limb: np.ndarray) -> None:
    """Muscle bellies, split by thin fat septa and striated along the fibres.

    Muscle fills the deep compartment away from the joint line (vastus medialis reaches lowest,
    medially); irregular borders, thin fat septa between muscles, striation along the fibres.
    """
    knee, u, v, z = frame.knee, frame.u, frame.v, frame.z
    fat_t = np.where(frame.medial, knee.fat_thickness[0], knee.fat_thickness[1]) * (1 + 0.25 * np.sin(v / 31.0 + 1.3))
    deep = limb + knee.skin + fat_t
    blend = _smoothstep(u, -20.0, 20.0)
    mz = knee.muscle_zone
    belly = knee.limb_half_width - np.where(frame.medial, knee.fat_thickness[0], knee.fat_thickness[1]) - 14.0
    dome = 0.06 * (np.abs(u) - belly) ** 2  # muscle bellies end in rounded domes
    top = mz[0] + (mz[1] - mz[0]) * blend + dome
    bottom = (mz[2] + (mz[3] - mz[2]) * blend) * (1.0 + 0.02 * z) + dome
    border = 3.0 * fields.lowpass(corr_mm=10.0)
    muscle = np.maximum(deep, np.minimum(v + top, bottom - v) + border)
    septa = network_lines(fields.lowpass(corr_mm=16.0), 0.05)
    striation = fields.bandpass(2.8, 0.4, stretch=6.0, angle_rad=knee.fibre_angle)
    streak_field = fields.bandpass(5.0, 0.4, stretch=10.0, angle_rad=knee.fibre_angle)
    streaks = np.clip((streak_field - 1.4) / 0.8, 0.0, 1.0)
    fat_ratio = canvas.values[Tissue.FAT] / canvas.values[Tissue.MUSCLE]
    texture = (1.0 + 0.12 * striation) * (1.0 + (fat_ratio - 1.0) * 0.5 * streaks)
    canvas.paint(canvas.alpha(muscle) * (1.0 - 0.8 * septa), Tissue.MUSCLE, texture)


def _paint_fluid_and_ligaments(canvas: _Canvas, frame: _Frame, bones: _Bones) -> None:
    """Joint fluid, the collateral ligaments and the cruciates in the notch."""
    knee, u, v, z = frame.knee, frame.u, frame.v, frame.z
    g, plat, ehw = knee.gap, knee.plateau_half_width, knee.epicondyle_half_width
    erosion = _tibial_erosion(knee, z)  # the joint space, its fluid and ligaments end with the plateau
    canvas.paint(canvas.alpha(_ellipse(u, v, 0.0, 0.0, plat + 0.5, 2.2) + erosion), Tissue.FLUID)
    canvas.paint(canvas.alpha(_ellipse(u, v, -(plat - 1.0), -3.0, 2.0, 5.0) + erosion), Tissue.FLUID)  # medial recess

    tib_low = knee.tibia_shaft_half_width + (plat - knee.tibia_shaft_half_width) * np.exp(-30.0 / knee.tibia_flare)
    mcl = np.minimum(
        _segment(u, v, (-(ehw + 1.5), bones.condyle_base - 2.0), (-(plat + 2.2), 0.0), 0.8),
        _segment(u, v, (-(plat + 2.2), 0.0), (-(tib_low + 1.6), g / 2 + 40.0), 0.8),
    )
    lateral_end = bones.fibula_top if bones.fibula_top is not None else (plat + 0.5, g / 2 + 14.0)
    lcl = np.minimum(
        _segment(u, v, (ehw + 1.5, bones.condyle_base), (plat + 3.0, 0.0), 1.3),
        _segment(u, v, (plat + 3.0, 0.0), lateral_end, 1.3),
    )
    canvas.paint(canvas.alpha(np.minimum(mcl, lcl) + erosion), Tissue.LIGAMENT)
    nw, nd = knee.notch_half_width, bones.notch_depth
    # cruciates in the notch: the ACL an oblique band from the lateral wall to the tibial spines
    # (anterior slices), the PCL a thick oval against the medial wall (posterior slices)
    roof = -g / 2 - nd
    acl_w = float(_smoothstep(np.float32(z), -8.0, 0.0))
    pcl_w = 1.0 - float(_smoothstep(np.float32(z), -3.0, 5.0))
    # simulator 2: the cruciates end with the notch, inside the femur's anterior-posterior depth
    in_notch = _ap_erosion(knee, z, FEMUR_AP_TO_ML * ehw, nw)
    if acl_w > 0.05:
        acl = _segment(u, v, (0.55 * nw, roof + 0.3 * nd), (-0.5, g / 2 - 2.0), 2.4 * acl_w)
        canvas.paint(canvas.alpha(acl + in_notch), Tissue.LIGAMENT)
    if pcl_w > 0.05:
        pcl = _ellipse(u, v, -0.35 * nw, roof + 0.45 * nd, 0.45 * nw * pcl_w, 0.3 * nd * pcl_w + 0.5)
        canvas.paint(canvas.alpha(pcl + in_notch), Tissue.LIGAMENT)


def _paint_menisci_and_cartilage(canvas: _Canvas, frame: _Frame, bones: _Bones) -> None:
    """The menisci (dark wedges) and the articular cartilage of femur and tibia."""
    knee, u, v, z = frame.knee, frame.u, frame.v, frame.z
    g, plat, nw = knee.gap, knee.plateau_half_width, knee.notch_half_width
    height, length = knee.meniscus
    length = length * (1.0 + 0.1 * np.tanh(z / 10.0))
    for sign in (-1.0, 1.0):
        outer = sign * (plat + 1.5)
        apex = sign * (plat - length * (1.15 if sign < 0 else 1.0))
        wedge = _polygon(u, v, [(apex, 0.2), (outer, g / 2 + 0.6), (outer, -height)]) + _tibial_erosion(knee, z)
        canvas.paint(canvas.alpha(wedge), Tissue.MENISCUS)

    rv_max = max(knee.condyle_radii[1], knee.condyle_radii[3])
    articular_f = _smoothstep(v, bones.condyle_base + 0.1 * rv_max, bones.condyle_base + 0.5 * rv_max) * _smoothstep(
        np.abs(u), nw + 0.5, nw + 3.5
    )
    canvas.paint(canvas.alpha(bones.femur - knee.cartilage[0] * articular_f), Tissue.CARTILAGE)
    articular_t = (
        (1 - _smoothstep(v, g / 2 + 2.0, g / 2 + 5.0))
        * _smoothstep(np.abs(u), 6.0, 9.0)
        * (1 - _smoothstep(np.abs(u), plat - 4.0, plat - 0.5))
    )
    canvas.paint(canvas.alpha(bones.tibia - knee.cartilage[1] * articular_t), Tissue.CARTILAGE)


def _paint_bones(canvas: _Canvas, fields: TextureSource, frame: _Frame, bones: _Bones, acquisition: str) -> None:
    """Bones: a dark cortical rim around textured trabecular marrow.

    The trabecular network: thin dark lines of varying thickness along the zero crossings of a
    band-pass field (rods and plates), plus small dark nodes; fatty marrow between them.
    """
    knee, u, v = frame.knee, frame.u, frame.v
    g, plat = knee.gap, knee.plateau_half_width
    rv_max = max(knee.condyle_radii[1], knee.condyle_radii[3])
    trabecular = fields.bandpass(knee.trabecular_period, 0.45, stretch=1.5)
    thickness = 0.24 * np.exp(0.35 * fields.lowpass(corr_mm=2.5))
    nodes = np.clip(fields.bandpass(0.6 * knee.trabecular_period, 0.5) - 1.0, 0.0, 1.0)
    trabeculae = np.clip(network_lines(trabecular, thickness) + 0.4 * nodes, 0.0, 1.0)
    heterogeneity = fields.lowpass(corr_mm=6.0)
    physis_f = bones.condyle_base - 0.1 * rv_max - 2.5 * np.cos(u / 12.0)
    physis_t = g / 2 + 15.0 + 3.0 * (np.abs(u) / plat) ** 2 - 1.5 * np.cos(u / 6.0)
    scar = np.exp(-(((v - physis_f) / 0.7) ** 2)) * (np.abs(u) < bones.femur_half_width) + np.exp(
        -(((v - physis_t) / 0.7) ** 2)
    )
    depth = 0.45 if acquisition != "CORPDFS_FBK" else 0.35  # trabeculae are dark against fatty marrow
    marrow = (1.0 - depth * trabeculae) * (1.0 + 0.08 * heterogeneity) * (1.0 - 0.45 * np.clip(scar, 0.0, 1.0))
    if knee.red_marrow > 0:  # red marrow islands in the metaphyses (above / below the physeal scars)
        metaphysis = _smoothstep(physis_f - v, 0.0, 6.0) + _smoothstep(v - physis_t, 0.0, 6.0)
        islands = _smoothstep(fields.lowpass(corr_mm=7.0), 0.3, 1.2) * metaphysis * knee.red_marrow
        ratio = RED_MARROW[acquisition] / canvas.values[Tissue.MARROW]
        marrow = marrow * (1.0 + (ratio - 1.0) * islands)
    cortex = 0.9 + 2.4 * _smoothstep(np.abs(v), 28.0, 75.0)  # thin subchondral plate, thick diaphysis
    for bone in (bones.femur, bones.tibia, bones.fibula):
        if bone is None:
            continue
        canvas.paint(canvas.alpha(bone), Tissue.CORTICAL_BONE)
        canvas.paint(canvas.alpha(bone + cortex), Tissue.MARROW, marrow)
