"""The documentation says what its result files say.

Three kinds of check:

* every number that ``README.md`` or a page of ``docs/`` binds to a result key
  (``<!-- = {file.json:path} -->``, :mod:`recon_lib.teaching.claims`) is that key's value at the
  decimals written, and the checker does fail on a stale number and on a key that does not exist;
* the qualitative statements of the pages (who is ahead, which way a curve goes) hold on the
  result files, as plain assertions;
* the README is a front door (short, the two commands, the first notebook, every notebook listed)
  and every relative link or image of these pages points at a file that exists.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from recon_lib.teaching.claims import ResultFiles, check_file, check_text, find_bindings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _json(name: str):
    return json.loads((RESULTS / name).read_text())


def _one(items: list[dict], **fields) -> dict:
    found = [item for item in items if all(item.get(key) == value for key, value in fields.items())]
    assert len(found) == 1, f"{fields} matches {len(found)} records"
    return found[0]


# --- numbers bound to their keys ------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_bound_number_is_its_keys_value(page):
    assert check_file(page, ResultFiles(RESULTS), _name(page)) == []


def test_the_pages_that_quote_results_bind_their_numbers():
    """A checker that found no binding would pass every page: count what it finds."""
    counts = {_name(page): len(find_bindings(page.read_text())) for page in PAGES}
    assert counts["docs/results.md"] >= 150, counts
    assert counts["docs/benchmarks.md"] >= 40, counts
    assert counts["docs/training.md"] >= 4, counts
    assert counts["docs/explorer.md"] >= 6, counts


def _stale(number: str) -> str:
    """The written number moved by half a unit of its first digit: certainly outside its rounding."""
    sign = "+" if number.startswith("+") else ""
    decimals = len(number.partition(".")[2])
    value = float(number.replace("−", "-").replace(",", "")) + 0.5 + 10.0**-decimals
    return f"{sign}{value:.{decimals}f}" if sign else f"{value:.{decimals}f}"


def test_a_stale_number_fails_and_names_file_line_number_key_and_value(tmp_path):
    page = tmp_path / "results.md"
    shutil.copy(ROOT / "docs" / "results.md", page)
    key = "paired_differences[acceleration=4, a=SN, b=CG-SENSE, metric=psnr].mean}"
    lines = page.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if key in line)
    binding = next(b for b in find_bindings(lines[index]) if b.expression.endswith(key))
    stale = _stale(binding.number)
    comment = f"<!-- = {binding.expression}"
    lines[index] = lines[index].replace(binding.number + comment, stale + comment)
    page.write_text("".join(lines))

    problems = check_file(page, ResultFiles(RESULTS), "results.md")

    assert len(problems) == 1, problems
    value = _paired(4, "SN", "CG-SENSE")
    assert problems[0].startswith(f"results.md:{index + 1}: {stale} disagrees with {binding.expression}")
    assert f"= {value['mean']:.6g}" in problems[0]


def test_rendering_rewrites_stale_numbers_from_their_keys_and_leaves_a_flipped_sign_to_a_person(tmp_path):
    """After a retrain, `python -m recon_lib.teaching.claims FILE` renders every bound number from its key."""
    from recon_lib.teaching.claims import main as render_main

    page = tmp_path / "results.md"
    text = (ROOT / "docs" / "results.md").read_text()
    bindings = [b for b in find_bindings(text) if not b.problem]
    lines = text.splitlines(keepends=True)
    for binding in bindings[:5]:  # five numbers made stale
        row = lines[binding.line - 1]
        lines[binding.line - 1] = row[: binding.span[0]] + _stale(binding.number) + row[binding.span[1] :]
    page.write_text("".join(lines))
    assert len(check_file(page, ResultFiles(RESULTS))) >= 1
    from recon_lib.teaching.claims import render_file

    notes = render_file(page, ResultFiles(RESULTS))
    assert check_file(page, ResultFiles(RESULTS)) == [], notes
    assert page.read_text() == text  # the same digits as the committed page, whose numbers agree
    assert sum("->" in note for note in notes) >= 1
    files = ResultFiles.from_mapping({"r.json": {"gain": -0.31}})
    flipped = tmp_path / "flip.md"
    flipped.write_text("the SN-GAN gains +0.12 dB<!-- = {r.json:gain} --> over the SN\n")
    assert "the sign would change" in render_file(flipped, files)[0]
    assert flipped.read_text() == "the SN-GAN gains +0.12 dB<!-- = {r.json:gain} --> over the SN\n"
    assert render_main([str(tmp_path / "missing.md")]) == 2


def test_a_key_that_does_not_exist_fails_with_a_clear_message():
    pair = "evaluation/table1.json:paired_differences[acceleration={}, a=SN, b=CG-SENSE, metric=psnr]"
    text = (
        f"a 2.84<!-- = {{{pair.format(4)}.meen}} -->\n"
        f"b 2.84<!-- = {{{pair.format(5)}.mean}} -->\n"
        "c 2.84<!-- = {evaluation/table9.json:rows} -->\n"
        "d 2.84<!-- = {benchmark.json:torch} -->\n"
    )
    first, second, third, fourth = check_text(text, ResultFiles(RESULTS), "page.md")
    assert first.startswith("page.md:1: 2.84 is bound to {evaluation/table1.json:")
    assert "no key 'meen' at evaluation/table1.json:paired_differences[acceleration=4" in first
    assert "its keys: acceleration, a, b, metric, mean" in first
    assert re.search(r"acceleration=5, a=SN, b=CG-SENSE, metric=psnr\] matches 0 of its \d+ elements, not one", second)
    assert third.endswith(f"no result file evaluation/table9.json in {RESULTS}")
    assert fourth.startswith("page.md:4: 2.84 is bound to {benchmark.json:torch}: ")
    assert fourth.endswith("not a finite number")


def test_a_binding_without_its_number_or_its_end_is_reported():
    text = (
        "the SN wins<!-- = {benchmark.json:threads} -->\n"
        "2 cores<!-- = {benchmark.json:threads}\n"
        "2 cores<!-- = {benchmark.json:threads} -- 0 -->\n"
    )
    assert check_text(text, ResultFiles(RESULTS), "page.md") == [
        "page.md:1: no number right before the binding: <!-- = {benchmark.json:threads}",
        "page.md:2: no --> closes the binding on its line: <!-- = {benchmark.json:threads}",
        "page.md:3: '--' inside the binding (rendered Markdown would show it): <!-- = {benchmark.json:threads} -- 0",
    ]


def test_the_markdown_cells_of_a_notebook_are_checked(tmp_path):
    cells = [
        {"cell_type": "code", "source": ["x = 1  # 3<!-- = {benchmark.json:threads} -->\n"], "metadata": {}},
        {"cell_type": "markdown", "source": ["Two threads.\n", "Ran on 3<!-- = {benchmark.json:threads} --> cores.\n"]},
    ]
    notebook = tmp_path / "lesson.ipynb"
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (problem,) = check_file(notebook, ResultFiles(RESULTS), "lesson.ipynb")
    assert problem.startswith("lesson.ipynb cell 1:2: 3 disagrees with {benchmark.json:threads} = 2")


# --- numbers in the notebooks, bound to result files and to the notebooks' own stored outputs -------

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_name)
def test_every_bound_number_of_a_notebook_is_its_keys_or_its_stored_outputs_value(notebook):
    """The committed notebooks hold full-mode outputs: the check reads them (and the result files) statically."""
    assert check_file(notebook, ResultFiles(RESULTS), _name(notebook)) == []


def _markdown(notebook: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "markdown"]


def test_the_notebooks_bind_numbers_to_result_files_and_to_their_outputs():
    bindings = [b for nb in NOTEBOOKS for text in _markdown(nb) for b in find_bindings(text)]
    outputs = [b for b in bindings if "{output:" in b.expression]
    assert len(bindings) >= 20 and len(outputs) >= 10, (len(bindings), len(outputs))


def _planted(tmp_path: Path, edit) -> list[str]:
    """Check a copy of notebook 06 after ``edit(cells)`` has changed it."""
    source = ROOT / "notebooks" / "06_network_interpolation.ipynb"
    notebook = json.loads(source.read_text())
    edit(notebook["cells"])
    copy = tmp_path / source.name
    copy.write_text(json.dumps(notebook))
    return check_file(copy, ResultFiles(RESULTS), source.name)


def _cell_with(cells: list[dict], text: str) -> dict:
    (cell,) = [c for c in cells if text in "".join(c["source"])]
    return cell


def _bound(cells: list[dict], key: str) -> str:
    """The number the Markdown writes before the binding ``key`` (read, not hard-coded: a rerun changes it)."""
    cell = _cell_with(cells, key)
    (binding,) = [b for b in find_bindings("".join(cell["source"])) if b.expression == key]
    return binding.number


def test_a_stale_number_in_a_notebook_fails(tmp_path):
    """Retrain, rerun, forget the prose: the sentence's number no longer matches the output above it."""
    key = '{output:46e37655:"AF 4 early SN, late GAN".PSNR}'
    written = _bound(json.loads((ROOT / "notebooks" / "06_network_interpolation.ipynb").read_text())["cells"], key)
    stale = _stale(written)

    def edit(cells):
        cell = _cell_with(cells, key)
        cell["source"] = "".join(cell["source"]).replace(f"{written} dB<!-- = {key}", f"{stale} dB<!-- = {key}")

    (problem,) = _planted(tmp_path, edit)
    assert re.match(
        rf"06_network_interpolation.ipynb cell \d+:\d+: {re.escape(stale)} disagrees with " + re.escape(key), problem
    )
    assert f"which is +{written}" in problem


def test_a_changed_output_fails_the_sentence_that_quotes_it(tmp_path):
    """The other way round: the code cell's stored output moves (a rerun), the Markdown still says the old value."""
    key = '{output:46e37655:"AF 4 early SN, late GAN"."HF ratio"}'
    line = re.compile(r"(AF 4 +early SN, late GAN .*HF ratio )(\d\.\d+)")

    def rerun(cells):
        (cell,) = [c for c in cells if c.get("id") == "46e37655"]
        for output in cell["outputs"]:
            text = "".join(output["text"])
            output["text"] = line.sub(lambda m: m.group(1) + f"{float(m.group(2)) + 0.05:.3f}", text)

    (problem,) = _planted(tmp_path, rerun)
    assert f"disagrees with {key} = " in problem


def test_an_output_key_that_names_no_line_or_cell_fails_and_pages_cannot_name_outputs(tmp_path):
    def broken(cells):
        cell = _cell_with(cells, '{output:46e37655:"AF 4 global".PSNR}')
        text = "".join(cell["source"]).replace('"AF 4 global".PSNR', '"AF 5 global".PSNR')
        cell["source"] = text.replace('{output:46e37655:"AF 4 global"."HF', '{output:nocell:"AF 4 global"."HF')

    first, second = _planted(tmp_path, broken)
    assert first.endswith("no code cell with the id 'nocell' in this notebook")
    assert second.endswith("0 lines of the stored output of cell 46e37655 start with 'AF 5 global', not one")
    (page,) = check_text('ran 3<!-- = {output:46e37655:"AF 4 global".PSNR} -->', ResultFiles(RESULTS), "page.md")
    assert page.endswith("names a stored output: such a binding belongs in a notebook's Markdown")


# --- qualitative statements -----------------------------------------------------------------------


def _paired(af: int, a: str, b: str, metric: str = "psnr") -> dict:
    return _one(_json("evaluation/table1.json")["paired_differences"], acceleration=af, a=a, b=b, metric=metric)


def _curve(af: int, key: str) -> list[float]:
    sweep = _json("evaluation/alpha_sweep.json")
    rows = [r for r in sweep if r["mode"] == "network" and r["acceleration"] == af]
    return [r[key] for r in sorted(rows, key=lambda r: r["alpha"])]


def test_the_sn_gan_trades_psnr_for_texture():
    """results.md: the SN-GAN of each acceleration loses PSNR to the SN (interval below 0, within the
    issue's -1.5 dB guard) and gains texture, at both AFs."""
    for af in (4, 8):
        assert -1.5 < _paired(af, "SN-GAN", "SN")["mean"] and _paired(af, "SN-GAN", "SN")["ci_high"] < 0
        assert _paired(af, "SN-GAN", "SN", "hf_energy_ratio")["ci_low"] > 0


def test_the_sn_is_ahead_of_the_classical_methods_on_every_measure():
    """results.md: the SN beats CG-SENSE and the tuned L1-wavelet (SSIM, VIF and HaarPSI ahead too,
    every interval above 0), and the U-Net at both AFs."""
    for af in (4, 8):
        for baseline in ("CG-SENSE", "L1-wavelet"):
            for metric in ("psnr", "ssim", "vif", "haarpsi"):
                assert _paired(af, "SN", baseline, metric)["ci_low"] > 0, (af, baseline, metric)
        assert _paired(af, "SN", "U-Net")["ci_low"] > 0
        assert _paired(af, "U-Net", "Zero-filled")["ci_low"] > 0


def test_the_curves_along_alpha_go_the_way_the_pages_say():
    """README's figure and results.md: at AF 4 PSNR, SSIM and VIF fall monotonically along α while the
    HF-energy ratio rises; at AF 8 the PSNR first rises a little (its peak inside (0, 1)), then falls
    below the SN's; the HF-energy ratio rises at both AFs."""
    for key in ("psnr", "ssim", "vif"):
        curve = _curve(4, key)
        assert all(b < a for a, b in zip(curve[:-1], curve[1:], strict=True)), key
    for af in (4, 8):
        curve = _curve(af, "hf_energy_ratio")
        assert all(b > a for a, b in zip(curve[:-1], curve[1:], strict=True)), af
    psnr = _curve(8, "psnr")
    assert 0 < psnr.index(max(psnr)) < len(psnr) // 2 and psnr[-1] < psnr[0]


def test_network_interpolation_and_pixel_blending_are_nearly_the_same():
    """results.md: every α within 0.02 dB; at α = 0.5 the network is a hair ahead at both AFs (interval
    above 0), more at AF 8, whose SN-GAN moved further."""
    psnr = [r for r in _json("evaluation/network_vs_blend.json") if r["metric"] == "psnr"]
    assert round(max(abs(r["mean"]) for r in psnr), 2) <= 0.02
    for af in (4, 8):
        assert _one(psnr, acceleration=af, alpha=0.5)["ci_low"] > 0
    assert _one(psnr, acceleration=8, alpha=0.5)["mean"] > _one(psnr, acceleration=4, alpha=0.5)["mean"]


def test_networks_without_a_shared_start_fall_below_the_line_and_lose_to_the_blend_on_every_volume():
    """results.md: the independent pair has a barrier of dB, the fine-tuned pair none; at α = 0.5 the
    independent network loses to the pixel blend on every volume (the exact sign-flip test's smallest p)."""
    pairs = _json("shared_init/shared_init.json")["pairs"]
    for af in (4, 8):
        assert _one(pairs["independent"]["barriers"], acceleration=af, metric="psnr")["barrier"] > 1
        assert _one(pairs["shared"]["barriers"], acceleration=af, metric="psnr")["barrier"] < 0.01
        half = _one(pairs["independent"]["network_vs_blend"], acceleration=af, alpha=0.5, metric="psnr")
        assert half["ci_high"] < 0 and half["p_value"] == 2 / 2 ** half["volumes"]


def test_the_noise_free_scores_differ_from_the_reference_scores_by_under_a_tenth_of_a_db():
    """results.md: over all test volumes, the PSNR against the noise-free image is within 0.1 dB of the
    PSNR against the SENSE reference, for every method (per contrast it may move a little more)."""
    for row in _json("evaluation/table1.json")["summary"]:
        if row["acquisition"] == "ALL":
            assert abs(row["psnr_mean"] - row["psnr_truth_mean"]) < 0.1, (row["acceleration"], row["method"])


def test_the_budget_binds_at_af_4_only_and_fidelity_indices_then_pick_the_sn():
    """explorer.md: on the validation split (two masks per volume) the 0.3 dB budget binds at AF 4
    (α up to 0.5 admissible) and not at AF 8 (every swept α); at AF 4 HaarPSI and VIF, fidelity
    measures, pick the SN itself, the texture against the truth picks the largest admissible α."""
    validation = _json("alpha_validation/alpha_validation.json")
    swept = {af: sorted({r["alpha"] for r in validation["records"] if r["acceleration"] == int(af)}) for af in "48"}
    four, eight = validation["choices"]["4"], validation["choices"]["8"]
    assert all(c["admissible"] == swept["8"] for c in eight.values())
    assert all(c["admissible"] == [a for a in swept["4"] if a <= 0.5] for c in four.values())
    assert four["haarpsi"]["alpha"] == four["vif"]["alpha"] == 0.0
    assert four["hf_energy_ratio_truth"]["alpha"] == 0.5


# --- the README and the links ---------------------------------------------------------------------


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    commands = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert [line.split()[:2] for line in commands] == [["make", "suite"], ["make", "test"]]
    assert "notebooks/01_overview.ipynb" in readme
    for notebook in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        assert f"`{notebook.stem}`" in readme, f"the README's notebook table misses {notebook.stem}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_and_image_exists(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.partition("#")[0]).exists():
            missing.append(target)
    assert missing == []
