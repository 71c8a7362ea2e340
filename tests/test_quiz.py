"""The perception quiz: seeded trials, answers saved atomically, scoring and pooling, one clear error per bad input."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from recon_lib.teaching import quiz
from recon_lib.teaching.quiz import COLUMNS, Quiz, QuizError, make_trials, pool, score


def _slice(seed: int = 0, size: int = 64) -> tuple[np.ndarray, dict[float, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.random((size, size)) + 1.0
    foreground = np.zeros((size, size), bool)
    foreground[8:56, 4:60] = True
    recons = {alpha: reference + alpha * rng.standard_normal((size, size)) for alpha in (0.0, 0.5, 1.0)}
    return reference, recons, foreground


def test_the_same_seed_gives_the_same_trials_and_another_seed_others():
    _, _, fg = _slice()
    first, again = make_trials((0, 0.5, 1), fg, repeats=4, size=16, seed=7), make_trials((0, 0.5, 1), fg, 4, 16, 7)
    assert first == again
    assert make_trials((0, 0.5, 1), fg, 4, 16, 8) != first
    assert [t.index for t in first] == list(range(12))


def test_every_alpha_is_asked_equally_often_on_both_sides_inside_the_foreground():
    _, _, fg = _slice()
    trials = make_trials((0, 0.25, 0.5, 1), fg, repeats=6, size=16, seed=1)
    assert Counter(t.alpha for t in trials) == {0.0: 6, 0.25: 6, 0.5: 6, 1.0: 6}
    assert Counter((t.alpha, t.reference_side) for t in trials) == {
        (a, s): 3 for a in (0, 0.25, 0.5, 1) for s in quiz.SIDES
    }
    for t in trials:
        assert fg[t.row : t.row + 16, t.col : t.col + 16].mean() >= quiz.MIN_FOREGROUND
    order = [t.alpha for t in trials]
    assert order != sorted(order), "the αs are shuffled, not asked in order"


def test_an_odd_number_of_repeats_still_balances_the_sides_as_far_as_it_can():
    _, _, fg = _slice()
    trials = make_trials((0.0,), fg, repeats=5, size=16, seed=2)
    sides = Counter(t.reference_side for t in trials)
    assert sorted(sides.values()) == [2, 3]


def test_the_pair_shows_the_reference_on_its_side_and_the_reconstruction_on_the_other():
    reference, recons, fg = _slice()
    q = Quiz(reference, recons, fg, repeats=2, size=16, seed=0)
    for t in q.trials:
        left, right = q.pair(t)
        window = (slice(t.row, t.row + 16), slice(t.col, t.col + 16))
        real, fake = (left, right) if t.reference_side == "left" else (right, left)
        assert np.array_equal(real, reference[window]) and np.array_equal(fake, recons[t.alpha][window])


def test_answers_are_saved_after_each_click_and_scored_per_alpha(tmp_path):
    reference, recons, fg = _slice()
    q = Quiz(reference, recons, fg, student="ada", folder=tmp_path, repeats=2, size=16, seed=0)
    for i, t in enumerate(q.trials):  # right on every trial at α = 0, wrong elsewhere
        picked = t.reference_side if t.alpha == 0 else ("left" if t.reference_side == "right" else "right")
        assert q.answer(picked) is (t.alpha == 0)
        with open(tmp_path / "ada.csv", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == i + 1
    assert q.done and q.current is None
    assert [(r["alpha"], r["trials"], r["detection_rate"]) for r in score(tmp_path / "ada.csv")] == [
        (0.0, 2, 1.0),
        (0.5, 2, 0.0),
        (1.0, 2, 0.0),
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "ada.csv"], "no temporary file left behind"
    with pytest.raises(QuizError, match="the quiz is done"):
        q.answer("left")


def test_detection_rate_is_the_fraction_right_with_a_wilson_interval():
    rows = [{"alpha": 0.5, "correct": c} for c in (1, 1, 1, 0)]
    (row,) = score(rows)
    assert row["detection_rate"] == 0.75 and row["trials"] == 4 and row["correct"] == 3
    assert row["low"] < 0.75 < row["high"] and 0 <= row["low"] and row["high"] <= 1
    assert quiz.wilson_interval(0, 10)[0] == 0.0 and quiz.wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_a_class_is_pooled_and_a_student_twice_is_refused(tmp_path):
    reference, recons, fg = _slice()
    for name, side in (("ada", "left"), ("bob", "right")):
        q = Quiz(reference, recons, fg, student=name, folder=tmp_path, repeats=2, size=16, seed=0)
        while not q.done:
            q.answer(side)
    pooled = pool(sorted(tmp_path.glob("*.csv")))
    assert pooled["students"] == ["ada", "bob"] and pooled["answers"] == 12
    # the same trials, one student always left and one always right: together exactly half right per α
    assert [r["detection_rate"] for r in pooled["scores"]] == [0.5, 0.5, 0.5]
    (tmp_path / "copy.csv").write_bytes((tmp_path / "ada.csv").read_bytes())
    with pytest.raises(QuizError, match="student 'ada' answers in both"):
        pool(sorted(tmp_path.glob("*.csv")))
    with pytest.raises(QuizError, match="no CSV to pool"):
        pool([])


def test_bad_input_gets_one_clear_error(tmp_path):
    reference, recons, fg = _slice()
    with pytest.raises(QuizError, match="distinct values in"):
        make_trials((0.0, 1.5), fg)
    with pytest.raises(QuizError, match="does not fit"):
        make_trials((0.0,), fg, size=200)
    with pytest.raises(QuizError, match="no 40-pixel crop"):
        make_trials((0.0,), np.pad(np.ones((20, 20), bool), 22), size=40)
    with pytest.raises(QuizError, match="it names the CSV"):
        Quiz(reference, recons, fg, student="../x")
    with pytest.raises(QuizError, match="answer 'left' or 'right'"):
        Quiz(reference, recons, fg, size=16).answer("middle")
    with pytest.raises(QuizError, match="the reconstruction at α=0.5 is"):
        Quiz(reference, {0.5: reference[:10]}, fg)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nada,3\n")
    with pytest.raises(QuizError, match="is not a quiz CSV"):
        score(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(",".join(COLUMNS) + "\nada,0,0,half,1,1,16,left,left,1\n")
    with pytest.raises(QuizError, match="wrong.csv:2: alpha 'half'"):
        score(wrong)


def test_the_views_show_the_current_pair_and_the_result_at_the_end():
    reference, recons, fg = _slice()
    q = Quiz(reference, recons, fg, repeats=1, size=16, seed=0)
    container = q.widget()
    assert "Trial 1 of 3" in q.widgets["title"].value
    left, right = bytes(q.widgets["left"].value), bytes(q.widgets["right"].value)
    assert left.startswith(b"\x89PNG") and left != right
    q.widgets["pick_left"].click()
    assert "Trial 2 of 3" in q.widgets["title"].value and len(q.answers) == 1
    q.widgets["pick_right"].click()
    q.widgets["pick_right"].click()
    assert "Done: 3 answers" in q.widgets["title"].value and q.widgets["pick_left"].disabled
    assert q.widget() is container
    figure = q.figure()
    assert len(figure.axes) == 2


def test_the_critic_points_are_the_perception_results(tmp_path):
    from recon_lib.teaching import suite

    points = quiz.critic_points(suite.results_dir("perception") / "perception.json", 8)
    assert [p["alpha"] for p in points] == [0.0, 0.5, 1.0]
    assert all(p["low"] <= p["accuracy"] <= p["high"] for p in points)
    with pytest.raises(QuizError, match="no critic at AF 6"):
        quiz.critic_points(suite.results_dir("perception") / "perception.json", 6)
