"""Cartesian undersampling masks with fastMRI semantics.

Masks select phase-encode columns (the last axis W of k-space ``(..., H, W)``); the readout
H is always fully sampled. Following ``fastmri/data/subsample.py``:

* ``num_low = round(W * center_fraction)`` central columns are always sampled (the
  auto-calibration block, starting at ``(W - num_low + 1) // 2``);
* *random* (variable density): every other column is kept with probability
  ``p = (W / acceleration - num_low) / (W - num_low)``, so on average ``W / acceleration``
  columns are sampled;
* *equispaced*: equally spaced columns from a random offset, spaced so that together with the
  centre block ``W / acceleration`` columns are sampled;
* columns outside ``[padding_left, padding_right)`` (zero padding in the raw data, see
  :class:`recon_lib.data.fastmri_io.EncodingInfo`) are never sampled.

Seeding: a seed gives the same mask every time. fastMRI seeds validation / test masks with the
file name so every slice of a volume shares one mask (:func:`seed_from_name`; its ``mask_seed``
gives further masks of the same volume); training draws a fresh mask per sample.

Knee defaults (Zbontar et al., "fastMRI: an open dataset and benchmarks for accelerated MRI",
arXiv:1811.08839, and fastMRI's ``RandomMaskFunc(center_fractions=[0.08, 0.04], accelerations=[4, 8])``):
centre fraction 0.08 at AF 4, 0.04 at AF 8.

fastMRI's physical calibration region (:func:`fastmri_center_fraction`): fastMRI's fractions were
defined for its knee protocol, 368 phase-encode columns over an encoded phase-encode field of view
of 161 mm (0.4375 mm per column; fastMRI knee headers: encodedSpace 640 x 368 over 280 x 161 mm). A
centre fraction ``cf`` of ``W`` columns over ``FOV`` mm acquires the band ``|k| < cf W / (2 FOV)``
cycles/mm, so a file of another resolution acquires fastMRI's band when its fraction is scaled by
its column width over fastMRI's: at the teaching geometry (184 columns over the same 161 mm) that
is 0.16 / 0.08, the same 29 / 15 centre lines in cycles/mm as fastMRI's 0.08 / 0.04 of 368.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "MaskFunc",
    "sample_mask",
    "center_lines",
    "seed_from_name",
    "mask_to_tensor",
    "DEFAULT_CENTER_FRACTIONS",
    "FASTMRI_COLUMN_MM",
    "fastmri_center_fraction",
]

#: centre fraction fastMRI uses for each knee acceleration
DEFAULT_CENTER_FRACTIONS: dict[float, float] = {4: 0.08, 8: 0.04}
#: width of one phase-encode column of fastMRI's knee protocol: 161 mm encoded over 368 columns
FASTMRI_COLUMN_MM = 161.0 / 368.0
#: files whose column width is within this relative distance of fastMRI's are at fastMRI's resolution
#: (fastMRI's own files: 368, 372, ... columns) and take fastMRI's fractions unchanged, as fastMRI's
#: masks apply them to every knee file whatever its width
_FASTMRI_RESOLUTION_TOLERANCE = 0.05


def fastmri_center_fraction(acceleration: float, num_cols: int, phase_fov_mm: float | None) -> float:
    """The centre fraction that acquires fastMRI's calibration band (cycles/mm) at ``acceleration``.

    The one rule (module docstring): fastMRI's fraction times the file's column width
    ``phase_fov_mm / num_cols`` over fastMRI's (:data:`FASTMRI_COLUMN_MM`); a file within 5 % of
    fastMRI's column width, or whose header gives no field of view, takes fastMRI's own fraction.

    Args:
        acceleration: a knee acceleration of :data:`DEFAULT_CENTER_FRACTIONS` (4 or 8).
        num_cols: phase-encode columns W of the file's encoded space.
        phase_fov_mm: the encoded phase-encode field of view (the header's encodedSpace
            fieldOfView_mm y), or None when unknown.

    Raises:
        ValueError: an acceleration fastMRI defines no fraction for, a bad width or field of view, or
            a fraction whose centre block exceeds the lines the acceleration allows.

    Example:
        >>> fastmri_center_fraction(4, 184, 161.0), fastmri_center_fraction(8, 184, 161.0)  # teaching
        (0.16, 0.08)
        >>> fastmri_center_fraction(4, 368, 161.0), fastmri_center_fraction(8, 372, 162.75)  # fastMRI
        (0.08, 0.04)
    """
    if acceleration not in DEFAULT_CENTER_FRACTIONS:
        known = ", ".join(f"{a:g}" for a in DEFAULT_CENTER_FRACTIONS)
        raise ValueError(f"fastMRI defines centre fractions for accelerations {known} only, got {acceleration!r}")
    if isinstance(num_cols, bool) or not isinstance(num_cols, (int, np.integer)) or num_cols < 2:
        raise ValueError(f"num_cols must be an integer >= 2, got {num_cols!r}")
    fastmri = DEFAULT_CENTER_FRACTIONS[acceleration]
    if phase_fov_mm is None:
        return fastmri
    if not (np.isfinite(phase_fov_mm) and phase_fov_mm > 0):
        raise ValueError(f"phase_fov_mm must be a positive number, got {phase_fov_mm!r}")
    ratio = float(phase_fov_mm) / int(num_cols) / FASTMRI_COLUMN_MM
    if abs(ratio - 1.0) <= _FASTMRI_RESOLUTION_TOLERANCE:
        return fastmri
    fraction = round(fastmri * ratio, 4)
    _check_params(int(num_cols), fraction, acceleration, "random")
    return fraction


_KINDS = ("random", "equispaced")


def seed_from_name(name: str, mask_seed: int = 0) -> int:
    """A stable 32-bit seed from a file name (independent of Python's hash randomisation).

    ``mask_seed = 0`` gives fastMRI's convention (the CRC-32 of the name); ``mask_seed = k > 0``
    gives the seed of the volume's k-th further mask, independent of the others (the evaluation
    scores every volume under several masks).

    Example:
        >>> seed_from_name("file1000001.h5")
        2151663471
        >>> seed_from_name("file1000001.h5", mask_seed=1) != seed_from_name("file1000001.h5")
        True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if isinstance(mask_seed, bool) or not isinstance(mask_seed, (int, np.integer)) or mask_seed < 0:
        raise ValueError(f"mask_seed must be a non-negative integer, got {mask_seed!r}")
    crc = zlib.crc32(name.encode("utf-8"))
    if mask_seed == 0:
        return crc
    return int(np.random.SeedSequence([crc, int(mask_seed)]).generate_state(1)[0])


def _check_params(num_cols: int, center_fraction: float, acceleration: float, kind: str) -> None:
    if kind not in _KINDS:
        raise ValueError(f"mask kind must be one of {_KINDS}, got {kind!r}")
    if not isinstance(num_cols, (int, np.integer)) or num_cols < 2:
        raise ValueError(f"num_cols must be an integer >= 2, got {num_cols!r}")
    if not 0.0 < float(center_fraction) < 1.0:
        raise ValueError(f"center_fraction must be in (0, 1), got {center_fraction!r}")
    if not float(acceleration) >= 1.0:
        raise ValueError(f"acceleration must be >= 1, got {acceleration!r}")
    if round(num_cols * center_fraction) > num_cols / acceleration + 1e-9:
        raise ValueError(
            f"center_fraction {center_fraction} samples {round(num_cols * center_fraction)} central columns, "
            f"more than the {num_cols / acceleration:.1f} allowed at acceleration {acceleration}"
        )


def center_lines(num_cols: int, center_fraction: float) -> slice:
    """The fully sampled centre block of a mask: ``round(W * center_fraction)`` columns from
    ``(W - num_low + 1) // 2`` (fastMRI's convention; :func:`sample_mask` always samples them).

    Maps calibrated on an undersampled scan must use exactly these columns (a centred crop of the
    same width starts one column earlier when the width is odd, at a line never acquired).

    Example:
        >>> center_lines(184, 0.08)  # AF 8 in the teaching geometry: 15 lines around column 92
        slice(85, 100, None)
    """
    num_low = int(round(num_cols * center_fraction))
    start = (num_cols - num_low + 1) // 2
    return slice(start, start + num_low)


def sample_mask(
    num_cols: int,
    center_fraction: float,
    acceleration: float,
    kind: str = "random",
    seed: int | np.random.Generator | None = None,
    padding: tuple[int, int] | None = None,
) -> np.ndarray:
    """Draw one 1-D column mask.

    Args:
        num_cols: number of phase-encode columns W.
        center_fraction: fraction of columns in the fully sampled centre block.
        acceleration: target acceleration factor (AF).
        kind: ``"random"`` (variable density) or ``"equispaced"``.
        seed: an int seed, a numpy Generator, or None (fresh entropy -- not reproducible).
        padding: ``(padding_left, padding_right)``: only columns in ``[left, right)`` may be sampled.

    Returns:
        Boolean array ``(W,)``, True where a column is sampled.
    """
    _check_params(num_cols, center_fraction, acceleration, kind)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    centre = center_lines(num_cols, center_fraction)
    num_low = centre.stop - centre.start
    if kind == "random":
        prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
        mask = rng.uniform(size=num_cols) < prob
    else:
        # Space the outer lines so that, together with the centre block, W / acceleration lines
        # are sampled (fastMRI's EquispacedMaskFractionFunc).
        if num_low * acceleration >= num_cols:
            spacing = float(num_cols)  # the centre block alone reaches the target
        else:
            spacing = acceleration * (num_low - num_cols) / (num_low * acceleration - num_cols)
        offset = int(rng.integers(0, max(1, int(round(spacing)))))
        mask = np.zeros(num_cols, dtype=bool)
        mask[np.around(np.arange(offset, num_cols - 1, spacing)).astype(int)] = True
    mask[centre] = True
    if padding is not None:
        left, right = int(padding[0]), int(padding[1])
        if not 0 <= left < right <= num_cols:
            raise ValueError(f"padding {padding} must satisfy 0 <= left < right <= num_cols={num_cols}")
        mask[:left] = False
        mask[right:] = False
    return mask


class MaskFunc:
    """Draws masks for one of several (centre fraction, acceleration) pairs, like fastMRI's MaskFunc.

    Args:
        accelerations: candidate accelerations, e.g. ``(4, 8)``; one is chosen per call.
        center_fractions: matching centre fractions. None: the data's own (:attr:`follows_data`):
            a dataset gives each volume the fractions preparation derived for it
            (:func:`fastmri_center_fraction`); called directly, fastMRI's knee values.
        kind: ``"random"`` or ``"equispaced"``.

    Example:
        >>> mf = MaskFunc(accelerations=(4,))
        >>> mask, af = mf(368, seed=seed_from_name("file1000.h5"))
        >>> int(mask.sum()) > 368 // 4 - 10
        True
    """

    def __init__(
        self,
        accelerations: Sequence[float],
        center_fractions: Sequence[float] | None = None,
        kind: str = "random",
    ) -> None:
        accelerations = list(accelerations)
        if not accelerations:
            raise ValueError("accelerations must not be empty")
        #: True when no fractions were given: a dataset uses each volume's prepared fractions instead
        self.follows_data = True
        if center_fractions is None:
            missing = [a for a in accelerations if a not in DEFAULT_CENTER_FRACTIONS]
            if missing:
                raise ValueError(f"no default centre fraction for accelerations {missing}; pass center_fractions")
            center_fractions = [DEFAULT_CENTER_FRACTIONS[a] for a in accelerations]
        else:
            self.follows_data = False
        center_fractions = list(center_fractions)
        if len(center_fractions) != len(accelerations):
            raise ValueError(
                f"center_fractions ({len(center_fractions)}) and accelerations ({len(accelerations)}) differ in length"
            )
        if kind not in _KINDS:
            raise ValueError(f"mask kind must be one of {_KINDS}, got {kind!r}")
        self.accelerations = accelerations
        self.center_fractions = center_fractions
        self.kind = kind

    def with_fractions(self, fractions: dict[float, float]) -> MaskFunc:
        """The same accelerations and kind with the centre fraction of each acceleration from
        ``fractions`` (a volume's prepared fractions); draws the same random numbers as ``self``."""
        missing = [a for a in self.accelerations if a not in fractions]
        if missing:
            raise ValueError(f"no centre fraction for accelerations {missing} in {fractions}")
        return MaskFunc(self.accelerations, [fractions[a] for a in self.accelerations], self.kind)

    def center_fraction(self, acceleration: float) -> float:
        """The centre fraction masks of ``acceleration`` use (the first match)."""
        return self.center_fractions[self.accelerations.index(acceleration)]

    def __call__(
        self, num_cols: int, seed: int | np.random.Generator | None = None, padding: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, float]:
        """Draw a mask; returns ``(mask (W,) bool, acceleration used)``."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        i = int(rng.integers(0, len(self.accelerations)))
        af = self.accelerations[i]
        return sample_mask(num_cols, self.center_fractions[i], af, self.kind, rng, padding), af


def mask_to_tensor(mask: np.ndarray | torch.Tensor, ndim: int = 4) -> torch.Tensor:
    """A 1-D column mask ``(W,)`` as a float32 tensor broadcastable to k-space, e.g. ``(1, 1, 1, W)``."""
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if m.ndim != 1:
        raise ValueError(f"mask must be 1-D (W,), got shape {tuple(m.shape)}")
    return m.to(torch.float32).reshape((1,) * (ndim - 1) + (-1,))
