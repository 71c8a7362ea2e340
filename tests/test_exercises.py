"""Every exercise check accepts its solution and catches a known-wrong answer with a useful message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_lib.physics.fft import fft2c, ifft2c
from recon_lib.teaching import exercises

#: a plausible mistake per exercise, and what the check must say about it
WRONG = {
    "nmse": (lambda gt, pred: float(np.mean((gt - pred) ** 2)), "expected"),  # MSE, not normalised
    "psf": (lambda mask: np.abs(np.fft.ifft(mask.astype(float))), "wrong values"),  # no shifts, no normalisation
    "forward": (lambda x, maps, mask: fft2c(maps * x.unsqueeze(1)), "wrong values"),  # forgot the mask
    "adjoint": (lambda k, maps, mask: (maps * ifft2c(k * mask)).sum(dim=1), "wrong values"),  # no conjugate
    "hard_dc": (lambda k_pred, k_meas, mask: mask * k_pred + (1 - mask) * k_meas, "wrong values"),  # swapped
    "soft_dc": (lambda k_pred, k_meas, mask, a: (1 - a) * k_pred + a * k_meas, "wrong values"),  # not masked
    "lsgan_d": (lambda d_real, d_fake: ((d_real - 1) ** 2).mean() + (d_fake**2).mean(), "expected"),  # no 0.5
    "interpolate": (lambda a, b, alpha: {k: alpha * a[k] + (1 - alpha) * b[k] for k in a}, "wrong values"),
    "paired_mean": (lambda a, b: float(np.mean(a) - np.median(b)), "expected"),
    # open exercises: a likely mistake each, and the reason the check gives
    "gfactor": (lambda maps, mask, n: exercises._sol_gfactor(maps, mask, n) * np.sqrt(24 / 12), "sqrt\\(R\\)"),
    "mask_design": (lambda width, af, seed: np.ones(width), "AF 8 allows"),  # samples every column
    "choose_alpha": (lambda records, af, budget: 0.65, "choose one of the swept"),  # between the swept values
    "longer_gan": (lambda budget: {"steps": budget, "gamma": 0.0, "d_lr": 1e-4}, "gamma = 0 drops"),  # a pure GAN
}


def test_every_exercise_has_a_wrong_answer_here_and_at_least_twelve_span_notebooks_02_to_07():
    assert set(WRONG) == set(exercises.EXERCISES)
    assert len(exercises.EXERCISES) >= 12
    assert {e.notebook for e in exercises.EXERCISES.values()} == {"02", "03", "04", "05", "06", "07"}


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_solution_passes_its_check(name, capsys):
    ex = exercises.EXERCISES[name]
    assert exercises.check(name, ex.solution) is ex.solution
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_a_wrong_answer_is_caught_with_a_reason(name):
    answer, says = WRONG[name]
    with pytest.raises(exercises.ExerciseError, match=says):
        exercises.check(name, answer)


def test_an_alpha_over_the_budget_is_refused():
    """The SN-GAN costs about 0.2 dB at AF 4 on the validation split: within 0.3 dB, over 0.1 dB."""
    with pytest.raises(exercises.ExerciseError, match="over the 0.1 dB budget"):
        exercises.check("choose_alpha", lambda records, af, budget: 1.0, budget_db=0.1)


def test_an_unfinished_exercise_falls_back_to_the_solution(monkeypatch, capsys):
    def unfinished(*args):
        raise NotImplementedError

    monkeypatch.delenv(exercises.SOLUTIONS_ENV, raising=False)
    assert exercises.check("hard_dc", unfinished) is exercises.EXERCISES["hard_dc"].solution
    assert "not done yet" in capsys.readouterr().out
    monkeypatch.setenv(exercises.SOLUTIONS_ENV, "1")
    assert exercises.check("hard_dc", unfinished) is exercises.EXERCISES["hard_dc"].solution
    assert "solution in place" in capsys.readouterr().out


def test_wrong_shapes_and_types_are_named():
    with pytest.raises(exercises.ExerciseError, match=r"expected shape \(1, 4, 12, 10\), got \(4, 12, 10\)"):
        exercises.check("forward", lambda x, maps, mask: exercises._sol_forward(x, maps, mask)[0])
    with pytest.raises(exercises.ExerciseError, match="expected a complex result"):
        exercises.check("hard_dc", lambda k_pred, k_meas, mask: exercises._sol_hard_dc(k_pred, k_meas, mask).abs())
    calls = []

    def right_once(k, maps, mask):  # right on the first k-space it sees, scaled on the next
        calls.append(1)
        return exercises._sol_adjoint(k, maps, mask) * (1.0 if len(calls) == 1 else 2.0)

    with pytest.raises(exercises.ExerciseError, match="not the adjoint of E"):
        exercises.check("adjoint", right_once)
    with pytest.raises(KeyError, match="no exercise 'fft'"):
        exercises.check("fft", lambda: None)


def test_solution_source_is_revealed(capsys):
    source = exercises.solution("interpolate")
    assert "(1 - alpha) * sd_a[key] + alpha * sd_b[key]" in source and source in capsys.readouterr().out
    assert torch.is_tensor(exercises._problem()["k0"])


def test_the_open_exercises_measure_the_students_artefact(capsys):
    """An open check accepts more than one answer and reports what it measured."""
    assert sum(e.kind == "open" for e in exercises.EXERCISES.values()) >= 4
    exercises.check("choose_alpha", lambda records, af, budget: 0.0)  # the SN itself: always admissible
    out = capsys.readouterr().out
    assert "AF 4: α = 0 costs 0.00 dB on validation; on the test split +0.00 dB (within the budget)" in out
    from recon_lib.teaching.notebook import load_slice

    batch = load_slice(acceleration=8, split="val")
    full = load_slice(acceleration=8, split="val")  # the masked k-space is enough to show the scoring runs
    context = {"kspace": full["kspace"], "maps": batch["maps"], "target": batch["target"][0],
               "foreground": batch["foreground"][0]}  # fmt: skip
    exercises.check("mask_design", exercises.EXERCISES["mask_design"].solution, **context)
    assert "CG-SENSE NMSE" in capsys.readouterr().out


def test_a_prediction_is_compared_after_the_answer(capsys):
    assert exercises.reveal("best α", 0.4, 0.4, tolerance=0.05) is True
    assert "the answer is 0.4 -- right" in capsys.readouterr().out
    assert exercises.reveal("best α", 1.0, 0.4, tolerance=0.05) is False
    assert "off by +0.6" in capsys.readouterr().out
    assert exercises.reveal("best α", None, 0.4, tolerance=0.05) is False
    assert "you made no prediction -- the answer is 0.4" in capsys.readouterr().out


def test_the_longer_gan_plan_is_held_to_its_rules_and_measured(capsys):
    for plan, says in (({"steps": 500}, "budget of 400"), ({"steps": 2.5}, "whole number"),
                       ({"steps": 10, "lr": 1e-3}, "unknown settings"), ([10], "must return a dict")):  # fmt: skip
        with pytest.raises(exercises.ExerciseError, match=says):
            exercises.check("longer_gan", lambda budget, plan=plan: plan)
    exercises.check("longer_gan", lambda budget: {"steps": budget, "d_lr": 1e-4}, budget=1, slices=1)
    out = capsys.readouterr().out
    assert "1 more step (" in out and "SN-GAN − SN PSNR" in out and "the trade-off is" in out
