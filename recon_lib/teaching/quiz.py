"""The student as observer: a forced-choice quiz, "which is the real scan?".

Each trial shows two crops of one slice at the same place: the SENSE reference and the interpolated
network's reconstruction at one α, side by side in a seeded random order. The student clicks the side
they believe is the real scan. Over many trials the **detection rate** at an α -- the fraction of
trials where the student picked the reference -- says how well a human tells that reconstruction from
the truth: 0.5 is chance (the reconstruction passes for real), 1.0 is always found out. The same
question is asked of a machine by the held-out critic of :mod:`recon_lib.evaluation.critic`.

* :func:`make_trials` -- the seeded trials: every α ``repeats`` times, a crop position inside the
  foreground and the reference's side, in a shuffled order (the same seed gives the same quiz).
* :class:`Quiz` -- the images, the trials, the answers so far; :meth:`Quiz.answer` records one answer
  and rewrites the student's CSV atomically; :meth:`Quiz.widget` is the ipywidgets app and
  :meth:`Quiz.figure` a static picture of the current pair.
* :func:`score` -- detection rate per α (with a Wilson 95 % interval) of one CSV or of answer rows;
  :func:`pool` -- a class's CSVs pooled into one score per α (what an instructor runs).
* :func:`critic_points` -- the held-out critic's accuracy at the αs it was run on
  (``docs/results/perception/perception.json``), to plot beside the students'.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.core.atomic import atomic_path
from recon_lib.core.checks import check_int
from recon_lib.metrics.quality import psnr

__all__ = ["COLUMNS", "SIDES", "Quiz", "QuizError", "Trial", "critic_points", "make_trials", "pool", "score"]

#: the columns of a student's CSV, in order
COLUMNS = ("student", "seed", "trial", "alpha", "row", "col", "size", "reference_side", "answer", "correct")
#: the two sides a crop is shown on
SIDES = ("left", "right")
#: a crop counts as inside the anatomy when at least this fraction of it is foreground
MIN_FOREGROUND = 0.9
#: the critic's method names for the αs it was run on (``python -m recon_lib.perception``)
CRITIC_METHODS = {0.0: "SN", 1.0: "SN-GAN"}


class QuizError(ValueError):
    """Bad quiz input: settings, an answer, or a CSV that is not a quiz's."""


@dataclass(frozen=True)
class Trial:
    """One forced choice: the reconstruction at ``alpha`` against the reference, cropped at the same place.

    Attributes:
        index: position in the quiz (0 = first shown).
        alpha: the interpolation weight of the reconstruction shown.
        row, col: top-left corner of the crop in the slice.
        size: side of the square crop, in pixels.
        reference_side: where the reference is shown, ``"left"`` or ``"right"``.
    """

    index: int
    alpha: float
    row: int
    col: int
    size: int
    reference_side: str

    @property
    def window(self) -> tuple[slice, slice]:
        """The crop's rows and columns in the slice: one box, cut from the reference and the reconstruction alike."""
        return (slice(self.row, self.row + self.size), slice(self.col, self.col + self.size))

    def where(self) -> str:
        """The crop's place in words (both crops of the pair show it)."""
        return (
            f"both crops: the same {self.size} × {self.size} pixels of the slice, rows {self.row}–"
            f"{self.row + self.size - 1}, columns {self.col}–{self.col + self.size - 1}"
        )


def _check_alphas(alphas: Iterable[float]) -> list[float]:
    values = [float(a) for a in alphas]
    if not values:
        raise QuizError("alphas is empty: give at least one α in [0, 1]")
    if any(not 0.0 <= a <= 1.0 for a in values) or len(set(values)) != len(values):
        raise QuizError(f"alphas must be distinct values in [0, 1], got {values}")
    return values


def crop_positions(foreground: np.ndarray, size: int, min_foreground: float = MIN_FOREGROUND) -> np.ndarray:
    """Top-left corners ``(n, 2)`` of the ``size`` x ``size`` crops that are mostly foreground.

    Example:
        >>> fg = np.zeros((10, 10), bool); fg[2:8, 2:8] = True
        >>> crop_positions(fg, 4, 1.0).tolist()
        [[2, 2], [2, 3], [2, 4], [3, 2], [3, 3], [3, 4], [4, 2], [4, 3], [4, 4]]
    """
    fg = np.asarray(foreground, dtype=bool)
    if fg.ndim != 2:
        raise QuizError(f"foreground must be a 2-D mask (H, W), got shape {fg.shape}")
    if not 2 <= size <= min(fg.shape):
        raise QuizError(f"a crop of {size} pixels does not fit a {fg.shape} slice")
    table = np.pad(fg.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    inside = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    return np.argwhere(inside >= min_foreground * size * size)


def make_trials(
    alphas: Sequence[float], foreground: np.ndarray, repeats: int = 4, size: int = 48, seed: int = 0
) -> list[Trial]:
    """The quiz's trials: each α ``repeats`` times, at seeded crop positions and sides, shuffled.

    Args:
        alphas: the αs to test (distinct, in [0, 1]).
        foreground: the slice's foreground mask ``(H, W)``; crops lie at least 90 % inside it.
        repeats: trials per α.
        size: side of the square crops, in pixels.
        seed: the quiz's seed: the same seed gives the same trials in the same order.

    Returns:
        ``len(alphas) * repeats`` trials, ``index`` in showing order. Each α shows the reference on
        the left in half of its trials (one more on a random side when ``repeats`` is odd).
    """
    values = _check_alphas(alphas)
    repeats = check_int("repeats", repeats, minimum=1)
    size = check_int("size", size, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    positions = crop_positions(foreground, size)
    if len(positions) == 0:
        raise QuizError(f"no {size}-pixel crop lies {MIN_FOREGROUND:.0%} inside the foreground: choose a smaller size")
    rng = np.random.default_rng(seed)
    drawn = []
    for alpha in values:
        sides = [SIDES[i % 2] for i in range(repeats - repeats % 2)] + [SIDES[int(rng.integers(2))]] * (repeats % 2)
        for side in rng.permutation(sides):
            row, col = positions[int(rng.integers(len(positions)))]
            drawn.append((alpha, int(row), int(col), str(side)))
    order = rng.permutation(len(drawn))
    trials = []
    for index, j in enumerate(order):
        alpha, row, col, side = drawn[j]
        trials.append(Trial(index=index, alpha=alpha, row=row, col=col, size=size, reference_side=side))
    return trials


def _png(pixels: np.ndarray, vmax: float, zoom: int) -> bytes:
    """A grey PNG of ``pixels`` on [0, vmax], each pixel shown as ``zoom`` x ``zoom``."""
    from matplotlib.image import imsave

    grey = np.clip(pixels / vmax, 0.0, 1.0)
    buffer = io.BytesIO()
    imsave(buffer, np.kron(grey, np.ones((zoom, zoom))), cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()


class Quiz:
    """A forced-choice quiz on one slice: the reference against reconstructions at several α.

    Args:
        reference: the reference magnitude ``(H, W)``.
        reconstructions: ``{alpha: magnitude (H, W)}``, one per α tested.
        foreground: the foreground mask ``(H, W)``.
        student: a name for the CSV (letters, digits, ``_`` and ``-``).
        folder: where the CSV goes (``<folder>/<student>.csv``); None keeps the answers in memory.
        repeats, size, seed: as :func:`make_trials`.
        zoom: each pixel is shown as ``zoom`` x ``zoom`` screen pixels.
    """

    def __init__(
        self,
        reference: Any,
        reconstructions: Mapping[float, Any],
        foreground: Any,
        student: str = "student",
        folder: str | os.PathLike | None = None,
        repeats: int = 4,
        size: int = 48,
        seed: int = 0,
        zoom: int = 4,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", student):
            raise QuizError(f"student must be 1-64 letters, digits, '_' or '-' (it names the CSV), got {student!r}")
        self.reference = _magnitude("reference", reference)
        self.reconstructions = {float(a): _magnitude(f"reconstruction at α={a}", x) for a, x in reconstructions.items()}
        for alpha, image in self.reconstructions.items():
            if image.shape != self.reference.shape:
                raise QuizError(
                    f"the reconstruction at α={alpha} is {image.shape}, the reference {self.reference.shape}"
                )
        self.foreground = np.asarray(_magnitude("foreground", foreground), dtype=bool)
        self.student, self.seed, self.zoom = student, seed, check_int("zoom", zoom, minimum=1)
        self.trials = make_trials(sorted(self.reconstructions), self.foreground, repeats, size, seed)
        self.path = Path(folder) / f"{student}.csv" if folder is not None else None
        self.answers: list[dict[str, Any]] = []
        self.vmax = float(np.percentile(self.reference[self.foreground], 99.5)) or 1.0  # one grey scale for all
        self.widgets: dict[str, Any] = {}

    @classmethod
    def from_checkpoints(
        cls,
        checkpoints: str | os.PathLike,
        alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
        acceleration: int = 8,
        volume: int = 0,
        device: torch.device | str = "cpu",
        **settings: Any,
    ) -> Quiz:
        """A quiz on the middle slice of a test volume, the shipped SN and the SN-GAN serving ``acceleration``
        (:meth:`~recon_lib.models.stages.Stage.checkpoint_for`) interpolated at ``alphas``.

        ``settings`` go to :class:`Quiz` (``student``, ``folder``, ``repeats``, ``size``, ``seed``, ``zoom``).
        """
        from recon_lib.models.checkpoint import load_model
        from recon_lib.models.inference import reconstruct
        from recon_lib.models.interpolation import ModelInterpolator
        from recon_lib.models.stages import get_stage
        from recon_lib.teaching.notebook import load_slice

        values = _check_alphas(alphas)
        sn, _ = load_model(Path(checkpoints) / get_stage("finetune_sn").checkpoint_name(), device)
        gan, _ = load_model(get_stage("finetune_gan").checkpoint_for(checkpoints, acceleration), device)
        batch = load_slice(acceleration=acceleration, volume=volume)
        interpolator = ModelInterpolator(sn, [sn.state_dict(), gan.state_dict()])
        images = {}
        with torch.inference_mode():
            for alpha in values:
                images[alpha] = reconstruct(interpolator.set_alpha(alpha), batch, device)[0].abs().cpu().numpy()
        return cls(batch["target"][0].numpy(), images, batch["foreground"][0].numpy(), **settings)

    # ---- the trials and the answers -------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether every trial has been answered."""
        return len(self.answers) == len(self.trials)

    @property
    def current(self) -> Trial | None:
        """The next trial to answer (None when the quiz is done)."""
        return None if self.done else self.trials[len(self.answers)]

    def pair(self, trial: Trial) -> tuple[np.ndarray, np.ndarray]:
        """The (left, right) crops of ``trial``: the reference on its side, the reconstruction on the other."""
        real, fake = self.reference[trial.window], self.reconstructions[trial.alpha][trial.window]
        return (real, fake) if trial.reference_side == "left" else (fake, real)

    def answer(self, side: str) -> bool:
        """Record that the student believes the real scan is on ``side`` of the current pair.

        Returns:
            Whether the answer was right. The CSV (when the quiz has a folder) is rewritten atomically.
        """
        trial = self.current
        if trial is None:
            raise QuizError(f"the quiz is done: all {len(self.trials)} trials are answered")
        if side not in SIDES:
            raise QuizError(f"answer 'left' or 'right', got {side!r}")
        row = {"student": self.student, "seed": self.seed, **asdict(trial), "answer": side}
        row["trial"] = row.pop("index")
        row["correct"] = int(side == trial.reference_side)
        self.answers.append({key: row[key] for key in COLUMNS})
        if self.path is not None:
            write_answers(self.path, self.answers)
        return bool(row["correct"])

    def score(self) -> list[dict[str, Any]]:
        """The detection rate per α of the answers so far (:func:`score`)."""
        return score(self.answers)

    def psnr(self) -> dict[float, float]:
        """PSNR (dB, foreground) of each reconstruction shown, against the reference."""
        return {
            alpha: psnr(self.reference[None], image[None], mask=self.foreground[None])
            for alpha, image in sorted(self.reconstructions.items())
        }

    # ---- views ---------------------------------------------------------------------------------------------
    def figure(self, trial: Trial | None = None) -> Any:
        """A static matplotlib picture of a pair (default: the current one, or the first when done)."""
        import matplotlib.pyplot as plt

        trial = trial or self.current or self.trials[0]
        fig, axes = plt.subplots(1, 2, figsize=(5.6, 3.1), dpi=72)
        for ax, image, side in zip(axes, self.pair(trial), SIDES, strict=True):
            ax.imshow(image, cmap="gray", vmin=0.0, vmax=self.vmax, interpolation="nearest")
            ax.set_title(side, fontsize=11)
            ax.set_axis_off()
        fig.suptitle(f"trial {trial.index + 1} of {len(self.trials)}: which is the real scan?", fontsize=11)
        fig.supxlabel(trial.where(), fontsize=8, color="0.35")
        fig.tight_layout()
        return fig

    def widget(self) -> Any:
        """The quiz as an ipywidgets app: the pair, two buttons, a status line (built on first call)."""
        if "container" in self.widgets:
            return self.widgets["container"]
        import ipywidgets as widgets

        w = self.widgets
        w["title"] = widgets.HTML()
        gap = widgets.Layout(margin="0 16px 0 0")
        w["left"], w["right"] = widgets.Image(format="png", layout=gap), widgets.Image(format="png")
        w["pick_left"] = widgets.Button(
            description="the LEFT one is real", layout=widgets.Layout(width="220px", margin="0 16px 0 0")
        )
        w["pick_right"] = widgets.Button(description="the RIGHT one is real", layout=widgets.Layout(width="220px"))
        w["status"] = widgets.HTML()
        w["pick_left"].on_click(lambda _: self._clicked("left"))
        w["pick_right"].on_click(lambda _: self._clicked("right"))
        images, buttons = widgets.HBox([w["left"], w["right"]]), widgets.HBox([w["pick_left"], w["pick_right"]])
        w["container"] = widgets.VBox([w["title"], images, buttons, w["status"]])
        for name, widget in w.items():  # CSS classes: recon-quiz (the app), recon-quiz-<name> (its parts)
            widget.add_class("recon-quiz" if name == "container" else f"recon-quiz-{name.replace('_', '-')}")
        self._refresh()
        return w["container"]

    def _clicked(self, side: str) -> None:
        if not self.done:
            self.answer(side)
        self._refresh()

    def _refresh(self) -> None:
        """Show the current pair (or the result when done) in the widgets."""
        w, trial = self.widgets, self.current
        saved = f" Answers are saved to <code>{self.path}</code>." if self.path is not None else ""
        if trial is None:
            rates = ", ".join(f"α {r['alpha']:g}: {r['detection_rate']:.2f}" for r in self.score())
            w["title"].value = f"<b>Done: {len(self.trials)} answers.</b> Detection rate per α: {rates}."
            w["status"].value = f"0.5 is chance: you could not tell. 1.0: you always found the real scan.{saved}"
            for key in ("pick_left", "pick_right"):
                w[key].disabled = True
            return
        left, right = self.pair(trial)
        w["left"].value, w["right"].value = (_png(image, self.vmax, self.zoom) for image in (left, right))
        w["title"].value = f"<b>Trial {trial.index + 1} of {len(self.trials)}: which is the real scan?</b>"
        w["status"].value = f"{len(self.answers)} answered; no feedback until the end; {trial.where()}.{saved}"


def _magnitude(name: str, value: Any) -> np.ndarray:
    """A real 2-D array (magnitude of a complex one) from a tensor or an array with leading size-1 dims."""
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise QuizError(f"{name} must be a 2-D image (H, W), got shape {array.shape}")
    return np.abs(array) if np.iscomplexobj(array) else array


def write_answers(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write answer rows to ``path`` as CSV (the :data:`COLUMNS`), through a temporary file."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_answers(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The answer rows of one student's CSV, checked and typed."""
    path = Path(path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise QuizError(f"{path} is not a quiz CSV: its columns are {reader.fieldnames}, expected {list(COLUMNS)}")
        rows = list(reader)
    typed = []
    for number, row in enumerate(rows, start=2):
        try:
            typed.append({**row, "alpha": float(row["alpha"]), "correct": int(row["correct"])})
        except ValueError:
            raise QuizError(
                f"{path}:{number}: alpha {row['alpha']!r} or correct {row['correct']!r} is not a number"
            ) from None
        if typed[-1]["correct"] not in (0, 1) or row["answer"] not in SIDES:
            raise QuizError(f"{path}:{number}: correct must be 0 or 1 and answer left or right, got {row}")
    return typed


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a proportion.

    Example:
        >>> [round(v, 3) for v in wilson_interval(8, 10)]
        [0.49, 0.943]
    """
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def score(answers: str | os.PathLike | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Detection rate per α: the fraction of trials where the real scan was picked.

    Args:
        answers: a student's CSV, or answer rows (each with ``alpha`` and ``correct``).

    Returns:
        One row per α, sorted: ``alpha``, ``trials``, ``correct``, ``detection_rate`` and its Wilson 95 %
        interval ``low`` / ``high``. 0.5 is chance (the reconstruction passed for real).

    Example:
        >>> rows = [{"alpha": 0, "correct": 1}, {"alpha": 0, "correct": 0}, {"alpha": 1, "correct": 1}]
        >>> [(r["alpha"], r["trials"], r["detection_rate"]) for r in score(rows)]
        [(0.0, 2, 0.5), (1.0, 1, 1.0)]
    """
    rows = read_answers(answers) if isinstance(answers, (str, os.PathLike)) else list(answers)
    counts: dict[float, list[int]] = {}
    for row in rows:
        correct = int(row["correct"])
        if correct not in (0, 1):
            raise QuizError(f"correct must be 0 or 1, got {row['correct']!r}")
        tally = counts.setdefault(float(row["alpha"]), [0, 0])
        tally[0] += 1
        tally[1] += correct
    out = []
    for alpha in sorted(counts):
        trials, correct = counts[alpha]
        low, high = wilson_interval(correct, trials)
        out.append(
            {
                "alpha": alpha,
                "trials": trials,
                "correct": correct,
                "detection_rate": correct / trials,
                "low": low,
                "high": high,
            }
        )
    return out


def pool(paths: Iterable[str | os.PathLike]) -> dict[str, Any]:
    """A class's answers pooled: every student's CSV read, checked and scored together.

    Args:
        paths: the students' CSVs (a folder's ``*.csv``, say).

    Returns:
        ``{"students": [...names], "answers": total, "scores": score rows per α}``.

    Raises:
        QuizError: no file, a file that is not a quiz CSV, or one student in two files.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise QuizError("no CSV to pool: give the students' files")
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in files:
        answers = read_answers(path)
        for student in {row["student"] for row in answers}:
            if student in seen:
                raise QuizError(
                    f"student {student!r} answers in both {seen[student]} and {path}: pool each student once"
                )
            seen[student] = path
        rows += answers
    return {"students": sorted(seen), "answers": len(rows), "scores": score(rows)}


def critic_points(perception: str | os.PathLike, acceleration: int) -> list[dict[str, float]]:
    """The held-out critic's accuracy (mean, 95 % interval) at the αs it was run on, from ``perception.json``."""
    data = json.loads(Path(perception).read_text())
    key = str(acceleration)
    if key not in data.get("accelerations", {}):
        raise QuizError(
            f"{perception} has no critic at AF {acceleration} (it has {sorted(data.get('accelerations', {}))})"
        )
    critic = data["accelerations"][key]["critic"]
    alpha = float(data["settings"]["alpha"])
    methods = {**CRITIC_METHODS, alpha: f"interpSN (α={alpha:g})"}
    return [
        {"alpha": a, "accuracy": critic[name]["mean"], "low": critic[name]["low"], "high": critic[name]["high"]}
        for a, name in sorted(methods.items())
        if name in critic
    ]
