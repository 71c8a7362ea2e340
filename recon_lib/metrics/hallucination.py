"""Hallucination: fine detail that a reconstruction puts where the noise-free truth has none.

A GAN-trained network is rewarded for detail that *looks* real, not for detail that is the
patient's; where it has no evidence it may invent some. Against the simulator's noise-free truth
``t`` this can be located. The **detail error** of an image ``x`` is the high-pass part of its error,
``h_x = high_pass(x - t)`` (above the normalised k-space radius :data:`~recon_lib.metrics.texture.HF_CUTOFF`,
the HF-energy ratio's band, :func:`~recon_lib.metrics.texture.high_pass`, on the whole slice), and its
energy per pixel ``h_x ** 2``. Both detail that is missing and detail that is added count in it.
The **excess** of a candidate ``c`` (the SN-GAN) over a base ``b`` (the SN) is

    excess = h_c ** 2 - h_b ** 2,

positive where the candidate's fine detail departs further from the truth's than the base's does.
The base is over-smooth: it misses the truth's fine detail too, so what the two share (missing
detail) cancels and what is left is mostly what the candidate added that the truth lacks.

* :func:`excess_detail` -- the excess map (zero outside a foreground mask, when one is given).
* :func:`hallucination_box` -- the rule: the box of a fixed size (:data:`HALLUCINATION_BOX`, 24 pixels) whose
  excess sums highest; ties go to the first box in reading order; where no box has a positive
  excess (the candidate departs nowhere more than the base) the centred box.
* :func:`detail_errors` -- the numbers of one box: the detail-error energy of each image inside it,
  also as a multiple of the truth's own fine-detail energy there.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recon_lib.metrics.texture import HF_CUTOFF, high_pass

__all__ = ["HALLUCINATION_BOX", "excess_detail", "hallucination_box", "detail_errors"]

#: the rule's box side in pixels: about a seventh of a 160-pixel slice, one structure's size, its pixels
#: still visible when the box is zoomed to a panel
HALLUCINATION_BOX = 24

Box = tuple[int, int, int, int]


def _image(name: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2 or np.iscomplexobj(array) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite real 2-D image (H, W), got shape {array.shape} {array.dtype}")
    return array.astype(np.float64)


def _images(truth: object, **images: object) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    t = _image("truth", truth)
    out = {name: _image(name, x) for name, x in images.items()}
    for name, x in out.items():
        if x.shape != t.shape:
            raise ValueError(f"{name} {x.shape} and the truth {t.shape} must have one shape")
    return t, out


def _mask(mask: object | None, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask).astype(bool)
    if m.shape != shape:
        raise ValueError(f"mask {m.shape} must have the images' shape {shape}")
    return m


def excess_detail(
    truth: object, base: object, candidate: object, mask: object | None = None, cutoff: float = HF_CUTOFF
) -> np.ndarray:
    """``high_pass(candidate - truth)**2 - high_pass(base - truth)**2`` per pixel (0 outside ``mask``).

    Example:
        >>> t = np.zeros((32, 32)); fake = t.copy(); fake[10:14, 10:14] = 1.0
        >>> float(np.abs(excess_detail(t, t, t)).max()), bool(excess_detail(t, t, fake)[11, 11] > 0)
        (0.0, True)
    """
    t, x = _images(truth, base=base, candidate=candidate)
    m = _mask(mask, t.shape)
    candidate_error = high_pass(x["candidate"] - t, cutoff) ** 2
    base_error = high_pass(x["base"] - t, cutoff) ** 2
    return np.where(m, candidate_error - base_error, 0.0)


def _box_sums(values: np.ndarray, h: int, w: int) -> np.ndarray:
    """The sum of ``values`` over every ``h`` x ``w`` box, ``(H - h + 1, W - w + 1)`` (integral image)."""
    table = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def hallucination_box(
    truth: object,
    base: object,
    candidate: object,
    mask: object | None = None,
    size: int = HALLUCINATION_BOX,
    cutoff: float = HF_CUTOFF,
) -> Box:
    """The ``size`` x ``size`` box ``(top, left, height, width)`` holding the most :func:`excess_detail`.

    The rule, stated before looking: argmax over every box position of the excess summed inside it
    (foreground pixels only, when ``mask`` is given); ties go to the first box in reading order. When
    no box has a positive sum the candidate departs nowhere more than the base, and the centred box
    is returned (its excess, :func:`detail_errors`, is then not positive).
    """
    excess = excess_detail(truth, base, candidate, mask, cutoff)
    rows, cols = excess.shape
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 2 <= size <= min(rows, cols):
        raise ValueError(f"size must be an int from 2 to {min(rows, cols)} (the image's shorter side), got {size!r}")
    sums = _box_sums(excess, size, size)
    if not float(sums.max()) > 0.0:
        return ((rows - size) // 2, (cols - size) // 2, int(size), int(size))
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return (int(top), int(left), int(size), int(size))


def detail_errors(
    truth: object, images: Mapping[str, object], box: Box, cutoff: float = HF_CUTOFF
) -> dict[str, object]:
    """The numbers of one box, ready for a caption.

    Args:
        truth: the noise-free image ``(H, W)``.
        images: ``{name: image}``, e.g. ``{"SN": ..., "SN-GAN": ...}`` (base first, candidate second).
        box: ``(top, left, height, width)``.

    Returns:
        ``box``; ``truth_detail``: the truth's own fine-detail energy in the box (``sum high_pass(t)**2``);
        ``detail_error``: ``{name: sum high_pass(x - t)**2}`` in the box; ``relative``: each of those over
        ``truth_detail`` (1 = an error as large as all the fine detail the truth has there); with two
        images also ``excess`` (second minus first, the box's sum of :func:`excess_detail`) and ``ratio``
        (second over first; NaN when both are 0).
    """
    t, x = _images(truth, **{str(k): v for k, v in images.items()})
    top, left, h, w = (int(v) for v in box)
    if not (h >= 1 and w >= 1 and top >= 0 and left >= 0 and top + h <= t.shape[0] and left + w <= t.shape[1]):
        raise ValueError(f"box {tuple(box)} (top, left, height, width) must lie inside the {t.shape} image")
    window = (slice(top, top + h), slice(left, left + w))
    truth_detail = float((high_pass(t, cutoff)[window] ** 2).sum())
    errors = {name: float((high_pass(image - t, cutoff)[window] ** 2).sum()) for name, image in x.items()}
    out: dict[str, object] = {
        "box": (top, left, h, w),
        "truth_detail": truth_detail,
        "detail_error": errors,
        "relative": {name: e / truth_detail if truth_detail > 0 else float("inf") for name, e in errors.items()},
    }
    if len(errors) == 2:
        first, second = errors.values()
        out["excess"] = second - first
        out["ratio"] = second / first if first > 0 else (float("inf") if second > 0 else float("nan"))
    return out
