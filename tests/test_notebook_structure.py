"""The notebooks' teaching structure: a header, exercises with checks, CI markers as tags, questions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recon_lib.teaching import exercises

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_opens_with_one_header(path):
    header, *rest = cells(path)
    assert "header" in tags(header) and not any("header" in tags(c) for c in rest), f"{path.name}: one header"
    text = "".join(header["source"])
    assert text.startswith(f"# {path.stem[:2]} · "), f"{path.name}: the header starts with the notebook's title"
    for field in ("What you'll do:", "What you'll learn:", "What you'll need:", "Time:"):
        assert text.count(field) == 1, f"{path.name}: the header names {field!r} once"
    assert "measured" in text.split("Time:")[1], f"{path.name}: the time says what was measured"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ci_markers_are_cell_tags_not_comments(path):
    for i, cell in enumerate(cells(path)):
        source = "".join(cell["source"])
        assert not re.search(r"^\s*#\s*NBVAL_", source, re.M), f"{path.name} cell {i}: NBVAL comment in the code"


def test_exercises_sit_in_notebooks_02_to_07_and_each_calls_its_check():
    called = {}
    for path in NOTEBOOKS:
        for cell in cells(path):
            if cell["cell_type"] == "code" and "exercise" in tags(cell):
                for name in re.findall(r'exercises\.check\("(\w+)"', "".join(cell["source"])):
                    called[name] = path.name[:2]
    assert called == {name: ex.notebook for name, ex in exercises.EXERCISES.items()}


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] != "01"], ids=lambda p: p.stem)
def test_every_notebook_ends_with_questions(path):
    last = cells(path)[-1]
    assert "questions" in tags(last) and "Check your understanding" in "".join(last["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_escaped_latex_or_lost_backslashes(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        assert "\r" not in text, f"{path.name} cell {i}: a carriage return (a lost backslash, e.g. \\rVert)"
        assert not re.search(r"\$[^$]*\\\\[a-zA-Z]+[^$]*\$", text), f"{path.name} cell {i}: double-escaped LaTeX"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_read_on_a_static_page(path):
    """No progress bar stored half-way; every stored widget carries a picture of its view
    (teaching.notebook.show_widget), so a page without widgets shows it instead of VBox(children=...)."""
    for i, cell in enumerate(cells(path)):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(output.get("text", "")) + "".join(data.get("text/plain", ""))
            assert not re.search(r"\d+%\|", text), f"{path.name} cell {i}: a progress bar is stored: {text[:80]!r}"
            if "application/vnd.jupyter.widget-view+json" in data:
                assert "image/png" in data, f"{path.name} cell {i}: a widget without a static picture of its view"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_prediction_starts_as_none(path):
    """A prediction variable left at a number would be 'checked' without the student predicting."""
    for i, cell in enumerate(cells(path)):
        for name, value in re.findall(r"^(my_guess\w*)\s*=\s*([^#\n]+)", "".join(cell["source"]), re.M):
            assert value.strip() == "None", f"{path.name} cell {i}: {name} = {value.strip()}, not None"
