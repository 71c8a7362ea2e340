"""Real-browser test of the perception quiz: JupyterLab runs a quiz cell, Chromium answers one round.

The quiz is built on a seeded synthetic slice (no checkpoint needed), three αs, one trial each. The test
clicks an answer per trial, checks that a new pair is shown after each click, that the app ends with the
detection rates, and that the CSV holds exactly the answers clicked.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from browser_harness import JupyterServer, PageWatcher, code_notebook, launch_chromium, screenshot
from test_browser import _run_in_lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

QUIZ_READY_JS = "() => !!document.querySelector('.recon-quiz .recon-quiz-left img, .recon-quiz img.recon-quiz-left')"
TITLE_JS = "() => (document.querySelector('.recon-quiz .recon-quiz-title') || {}).textContent || ''"
LEFT_SRC_JS = "() => (document.querySelector('.recon-quiz img') || {}).src || ''"

SOURCE = """
import numpy as np
from recon_lib.teaching.quiz import Quiz
rng = np.random.default_rng(0)
reference = 1.0 + rng.random((64, 64))
foreground = np.zeros((64, 64), bool)
foreground[8:56, 4:60] = True
recons = {{a: reference + a * rng.standard_normal((64, 64)) for a in (0.0, 0.5, 1.0)}}
quiz = Quiz(reference, recons, foreground, student="browser", folder={folder!r}, repeats=1, size=24, seed=0)
quiz.widget()
"""


def test_lab_quiz_answers_one_round(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    answers = tmp_path / "answers"
    notebook = code_notebook(root / "quiz.ipynb", [SOURCE.format(folder=str(answers))])
    with JupyterServer("lab", tmp_path, root) as server, launch_chromium(tmp_path / "chromium") as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        watcher = PageWatcher(page, server)
        _run_in_lab(
            page, watcher, server, notebook, "() => !!document.querySelector('.recon-quiz img')", [time.monotonic()]
        )
        clicked = []
        for trial in range(3):
            assert f"Trial {trial + 1} of 3" in page.evaluate(TITLE_JS)
            before = page.evaluate(LEFT_SRC_JS)
            side = "left" if trial % 2 == 0 else "right"
            page.click(f".recon-quiz .recon-quiz-pick-{side}")
            clicked.append(side)
            if trial < 2:
                watcher.until(f"() => ({TITLE_JS})().includes('Trial {trial + 2} of 3')", f"trial {trial + 2}")
                assert page.evaluate(LEFT_SRC_JS) != before or trial == 2, "the pair did not change"
        watcher.until(f"() => ({TITLE_JS})().includes('Done: 3 answers')", "the quiz's result")
        assert page.is_disabled(".recon-quiz .recon-quiz-pick-left")
        assert screenshot(page, "lab_quiz.png", element=".recon-quiz").stat().st_size > 1_000
        watcher.check()
    with open(answers / "browser.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["answer"] for row in rows] == clicked
    assert sorted(float(row["alpha"]) for row in rows) == [0.0, 0.5, 1.0]
