"""Numbers quoted in prose, bound to the result files they come from.

The README, ``docs/*.md`` and the notebooks' Markdown quote results: a paired difference, a
timing, the α a sweep chose. Each retrain rewrites the result files, and a sentence that copied
an old value goes stale without anyone noticing. A *binding* ties one written number to the key
that produced it. It is an HTML comment placed right after the number (a unit, ``%``, ``×`` or
Markdown emphasis may stand in between); rendered Markdown does not show it::

    the SN reaches 29.07 dB<!-- = {evaluation/alpha_sweep.json:[mode=network, acceleration=4, alpha=0].psnr} -->

After ``=`` comes an arithmetic expression (``+ - * /``, parentheses, plain numbers) over
references ``{file:path}``. ``file`` is a JSON file relative to the results folder
(``docs/results/``); ``path`` walks into it, one step after another:

* ``name``: a key of an object (steps are joined by ``.``); a name that holds ``.``, ``[``, ``]``
  or ``"`` goes in double quotes, ``"ModelInterpolator.set_alpha (in place)"``;
* ``[3]`` (or ``.3``): an element of a list, by position;
* ``[key=value, key=value]``: the one element of a list of objects whose fields hold these values
  (numbers compare as numbers, so ``alpha=0.5`` matches ``0.5``); no match or several is an error.

In a notebook's Markdown a reference may also name a **stored output of that notebook**:
``{output:CELL:"label".field}``. ``CELL`` is the code cell's id (nbformat's ``id``); ``"label"`` picks
the one line of the cell's stored text output (printed text, a plain-text or Markdown result) that
starts with it (runs of spaces count as one); ``field`` is the word after which the number is read
(the first number after it); without ``.field`` the line must hold one number after the label::

    the SN-GAN's side lobe reaches 0.44<!-- = {output:749f4bbb:"AF 8:"."side lobe"} --> of the peak

The committed notebooks hold full-mode outputs, so the check reads them statically, as the result files.

The written number must equal the value rounded to the decimals written: ``+2.84`` accepts
2.835 to 2.845, ``2.8`` accepts 2.75 to 2.85. A written sign (``+``, ``-`` or ``−``) must be the
value's sign. Unit changes and derived numbers are spelled out in the expression:
``0.87 ms<!-- = 1000 * {benchmark.json:"ModelInterpolator.set_alpha (in place)"} -->``, and a loss
written without its sign, "gives up 0.54 dB", binds to ``-{...}``. A comment inside code (a fenced
block, inline code) is shown when rendered, so it is an example, not a binding; a binding may not
hold ``--``, where GitHub's Markdown would end the comment.

:func:`check_file` checks a Markdown file or the Markdown cells of a notebook and returns one line
per problem (a number that disagrees with its key, a key that does not exist, a binding with no
number before it), each naming the file, the line, the number, the key and the value.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recon_lib.evaluation.commands import RESULTS

__all__ = [
    "Binding",
    "ClaimError",
    "NotebookOutputs",
    "ResultFiles",
    "agrees",
    "check_file",
    "check_text",
    "find_bindings",
    "render_file",
    "render_text",
    "resolve",
]

#: a reference to a stored output: ``output:CELL:KEY``
OUTPUT_PREFIX = "output:"

#: a binding: ``<!-- = expression -->`` on one line
_BINDING = re.compile(r"<!--\s*=(?P<expression>.*?)-->")
#: a written number: an optional sign, digits (thousands may be grouped with commas), decimals
_NUMBER = re.compile(
    r"(?P<sign>(?<![\w.])[+\-\u2212])?(?<![\w.,])(?P<digits>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<decimals>\d+))?(?!\d)"
)
#: at most this many characters (a unit, emphasis) between a number and its binding
_GAP = 16
#: inline code, where a comment is shown rather than hidden
_CODE_SPAN = re.compile(r"(`+).*?\1")
#: a reference inside an expression
_REFERENCE = re.compile(r"\{(?P<reference>[^{}]*)\}")
#: one step of a path: a quoted name, a bracket, a bare name, or the dot between steps
_STEP = re.compile(r'"(?P<quoted>[^"]*)"|\[(?P<bracket>[^\]]*)\]|(?P<bare>[^.\[\]"]+)|(?P<dot>\.)')


class ClaimError(ValueError):
    """A binding that cannot be evaluated: a missing file or key, a malformed path or expression."""


@dataclass(frozen=True)
class Binding:
    """One bound number of a text.

    Attributes:
        line: the line it is on (1 = the text's first line).
        number: the number as written (``"+2.84"``), ``""`` when the binding follows no number.
        expression: what it is bound to (the comment's text after ``=``).
        problem: why it cannot be checked (no number right before it, no ``-->`` on its line, ``--``
            inside it), or ``""``.
    """

    line: int
    number: str
    expression: str
    problem: str = ""
    #: the columns of the written number on its line (``(-1, -1)`` without one): where :func:`render_text` writes
    span: tuple[int, int] = field(default=(-1, -1), repr=False, compare=False)


def find_bindings(text: str) -> list[Binding]:
    """Every binding of ``text`` with the number written right before it.

    Fenced code blocks and inline code are skipped: a comment there is shown, not hidden, so it is
    an example of the syntax, not a binding.

    Example:
        >>> first, second = find_bindings("PSNR +2.84 dB<!-- = {t.json:a.b} --> at 1,024 px<!-- = 2 * {t.json:n} -->")
        >>> first
        Binding(line=1, number='+2.84', expression='{t.json:a.b}', problem='')
        >>> second.number, second.expression
        ('1,024', '2 * {t.json:n}')
        >>> find_bindings("```\\n1<!-- = {t.json:a} -->\\n```\\n`2<!-- = {t.json:b} -->`")
        []
    """
    found = []
    fence = ""
    for line_number, raw in enumerate(text.splitlines(), start=1):
        opening = re.match(r"\s*(`{3,}|~{3,})", raw)
        if opening and (not fence or opening.group(1).startswith(fence)):
            fence = "" if fence else opening.group(1)
            continue
        if fence:
            continue
        line = _CODE_SPAN.sub(lambda span: " " * len(span.group(0)), raw)
        start = 0
        for match in _BINDING.finditer(line):
            before = line[start : match.start()]
            numbers = list(_NUMBER.finditer(before))
            last = numbers[-1] if numbers else None
            near = last is not None and len(before) - last.end() <= _GAP
            number = last.group(0) if last is not None and near else ""
            span = (start + last.start(), start + last.end()) if last is not None and near else (-1, -1)
            expression = match.group("expression").strip()
            problem = "" if number else "no number right before the binding"
            if "--" in expression:  # GitHub's Markdown ends a comment there and shows the rest
                problem = "'--' inside the binding (rendered Markdown would show it)"
            found.append(Binding(line_number, number, expression, problem, span))
            start = match.end()
        rest = re.search(r"<!--\s*=(.*)", line[start:])
        if rest:
            found.append(Binding(line_number, "", rest.group(1).strip(), "no --> closes the binding on its line"))
    return found


def _written(number: str) -> tuple[float, int, int]:
    """``"+2.84"`` -> (2.84, 2 decimals, sign +1); sign 0 when none is written."""
    match = _NUMBER.fullmatch(number.strip())
    if match is None:
        raise ClaimError(f"{number!r} is not a number")
    sign = {"": 0, "+": 1}.get(match.group("sign") or "", -1)
    decimals = match.group("decimals") or ""
    magnitude = float(match.group("digits").replace(",", "") + ("." + decimals if decimals else ""))
    return (-magnitude if sign < 0 else magnitude), len(decimals), sign


def agrees(number: str, value: float) -> bool:
    """Whether ``number`` as written is ``value`` rounded to the decimals written, sign included.

    Example:
        >>> agrees("+2.84", 2.8404), agrees("2.8", 2.8404), agrees("2.9", 2.8404)
        (True, True, False)
        >>> agrees("-0.42", -0.4171), agrees("0.42", -0.4171), agrees("+0.00", -0.001)
        (True, False, False)
    """
    written, decimals, sign = _written(number)
    if sign and value and (value > 0) != (sign > 0):
        return False
    return abs(written - value) <= 0.5 * 10.0**-decimals + 1e-9 * max(1.0, abs(value))


def _select(items: list, selector: str, where: str) -> Any:
    """The element of ``items`` named by a bracket's text: a position or ``key=value, ...``."""
    if "=" not in selector:
        try:
            return items[int(selector)]
        except (ValueError, IndexError):
            raise ClaimError(f"{where} has no element [{selector}] (a list of {len(items)})") from None
    wanted = [tuple(part.split("=", 1)) for part in selector.split(",")]
    fields = [(key.strip(), value.strip()) for key, value in wanted]

    def holds(item: Any) -> bool:
        return isinstance(item, dict) and all(key in item and _same(item[key], value) for key, value in fields)

    matches = [item for item in items if holds(item)]
    if len(matches) != 1:
        raise ClaimError(f"{where}[{selector}] matches {len(matches)} of its {len(items)} elements, not one")
    return matches[0]


def _same(actual: Any, wanted: str) -> bool:
    """Whether a field holds the value written in a selector (numbers compare as numbers)."""
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        try:
            return float(wanted) == actual
        except ValueError:
            return False
    return str(actual) == wanted


def _steps(path: str) -> list[tuple[str, str]]:
    """``'a.b[k=v]."c.d"'`` -> [("name", "a"), ("name", "b"), ("select", "k=v"), ("name", "c.d")]."""
    steps: list[tuple[str, str]] = []
    position = 0
    for match in _STEP.finditer(path):
        if match.start() != position:
            break
        position = match.end()
        if match.group("quoted") is not None:
            steps.append(("name", match.group("quoted")))
        elif match.group("bracket") is not None:
            steps.append(("select", match.group("bracket")))
        elif match.group("bare") is not None and match.group("bare").strip():
            steps.append(("name", match.group("bare").strip()))
    if position != len(path) or not steps:
        raise ClaimError(f"cannot read the path {path!r}")
    return steps


def resolve(data: Any, path: str, where: str = "") -> Any:
    """The value at ``path`` inside ``data`` (parsed JSON); :class:`ClaimError` names the step that fails.

    Example:
        >>> data = {"rows": [{"af": 4, "psnr": 29.07}, {"af": 8, "psnr": 23.84}], "a.b": {"4": 1}}
        >>> resolve(data, "rows[af=8].psnr"), resolve(data, "rows.0.af"), resolve(data, '"a.b".4')
        (23.84, 4, 1)
        >>> resolve(data, "rows[af=8].ssim")
        Traceback (most recent call last):
        ...
        recon_lib.teaching.claims.ClaimError: no key 'ssim' at rows[af=8] (its keys: af, psnr)
    """
    walked = ""
    for kind, step in _steps(path):
        here = f"{where}{walked}" if where or walked else "the top"
        if kind == "select" or (isinstance(data, list) and step.isdigit()):
            if not isinstance(data, list):
                raise ClaimError(f"{here} is not a list, cannot take [{step}]")
            data = _select(data, step, here)
            walked += f"[{step}]"
        elif isinstance(data, dict):
            if step not in data:
                keys = ", ".join(list(map(str, data))[:12]) + (", ..." if len(data) > 12 else "")
                raise ClaimError(f"no key {step!r} at {here} (its keys: {keys})")
            data = data[step]
            walked += f".{step}" if walked else step
        else:
            raise ClaimError(f"{here} is not an object, it has no key {step!r}")
    return data


class ResultFiles:
    """The JSON result files under one folder, each read once.

    Args:
        folder: the results folder (``docs/results/`` of the repository by default).
        preloaded: ``{name: parsed content}`` served instead of reading those files.
    """

    def __init__(self, folder: str | os.PathLike = RESULTS, preloaded: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self._loaded: dict[str, Any] = dict(preloaded or {})

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ResultFiles:
        """Result files given as ``{name: parsed content}`` (tests and examples)."""
        return cls(preloaded=data)

    def data(self, name: str) -> Any:
        """The parsed content of ``name`` (relative to the folder)."""
        if name not in self._loaded:
            path = self.folder / name
            if not name.endswith(".json") or Path(name).is_absolute() or ".." in Path(name).parts:
                raise ClaimError(f"{name!r} is not a JSON file inside the results folder")
            if not path.is_file():
                raise ClaimError(f"no result file {name} in {self.folder}")
            self._loaded[name] = json.loads(path.read_text())
        return self._loaded[name]

    def value(self, reference: str) -> float:
        """The number a reference ``file:path`` names."""
        name, colon, path = reference.partition(":")
        if not colon:
            raise ClaimError(f"{{{reference}}} names no key: write {{file.json:path}}")
        value = resolve(self.data(name.strip()), path.strip(), where=name.strip() + ":")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ClaimError(f"{{{reference}}} is {value!r}, not a finite number")
        return float(value)


class NotebookOutputs:
    """The stored text outputs of one notebook's code cells, by cell id.

    Args:
        cells: the notebook's cells (parsed JSON).
    """

    def __init__(self, cells: list[dict[str, Any]]) -> None:
        self.text: dict[str, str] = {}
        for cell in cells:
            if cell.get("cell_type") == "code" and cell.get("id"):
                self.text[cell["id"]] = "".join(_output_text(output) for output in cell.get("outputs", []))

    def value(self, reference: str) -> float:
        """The number ``CELL:"label".field`` names (see the module's docstring).

        Example:
            >>> stream = [{"output_type": "stream", "text": "AF 4  SN   PSNR 29.62 dB  SSIM 0.85"},
            ...           {"output_type": "stream", "text": "AF 8  SN   PSNR 24.67 dB"}]
            >>> outputs = NotebookOutputs([{"cell_type": "code", "id": "c1", "outputs": stream}])
            >>> outputs.value('c1:"AF 8 SN".PSNR'), outputs.value('c1:"AF 4 SN".SSIM')
            (24.67, 0.85)
            >>> outputs.value('c1:"AF 4 SN".HF')
            Traceback (most recent call last):
            ...
            recon_lib.teaching.claims.ClaimError: the line 'AF 4 SN PSNR 29.62 dB SSIM 0.85' of cell c1 has no 'HF' ...
        """
        cell, colon, key = reference.partition(":")
        match = re.fullmatch(r'\s*"(?P<label>[^"]+)"(?:\.(?:"(?P<quoted>[^"]+)"|(?P<bare>[^".]+)))?\s*', key)
        if not colon or match is None:
            raise ClaimError(
                f'cannot read the output key {reference!r}: write output:CELL:"label" or output:CELL:"label".field'
            )
        cell = cell.strip()
        if cell not in self.text:
            raise ClaimError(f"no code cell with the id {cell!r} in this notebook")
        label = " ".join(match.group("label").split())
        lines = [" ".join(line.split()) for line in self.text[cell].splitlines()]
        found = [line for line in lines if line.startswith(label)]
        if len(found) != 1:
            raise ClaimError(f"{len(found)} lines of the stored output of cell {cell} start with {label!r}, not one")
        line = found[0]
        field = match.group("quoted") or match.group("bare")
        rest = line[len(label) :]
        if field is not None:
            at = rest.find(field.strip())
            numbers = list(_NUMBER.finditer(rest[at + len(field.strip()) :])) if at >= 0 else []
            if not numbers:
                raise ClaimError(f"the line {line!r} of cell {cell} has no {field.strip()!r} followed by a number")
            return float(_written(numbers[0].group(0))[0])
        numbers = list(_NUMBER.finditer(rest))
        if len(numbers) != 1:
            raise ClaimError(
                f"the line {line!r} of cell {cell} holds {len(numbers)} numbers after its label: name a field"
            )
        return float(_written(numbers[0].group(0))[0])


def _output_text(output: dict[str, Any]) -> str:
    """The text a reader sees of one stored output: a stream, or a plain-text / Markdown result."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        data = output.get("data", {})
        text = data.get("text/markdown", data.get("text/plain", "")) if "image/png" not in data else ""
    return ("".join(text) if isinstance(text, list) else text) + "\n"


_OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _arithmetic(node: ast.AST, values: list[float]) -> float:
    """The value of an expression tree of numbers, references ``r0, r1, ...``, + - * / and signs."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and re.fullmatch(r"r\d+", node.id):
        return values[int(node.id[1:])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _arithmetic(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _arithmetic(node.left, values), _arithmetic(node.right, values)
        try:
            return _OPERATORS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ClaimError("divides by zero") from None
    raise ClaimError("an expression holds only numbers, {file:path} references, + - * / and parentheses")


def _reference_value(reference: str, files: ResultFiles, outputs: NotebookOutputs | None) -> float:
    """The number one reference names: a result file's key, or (in a notebook) a stored output's."""
    if reference.strip().startswith(OUTPUT_PREFIX):
        if outputs is None:
            raise ClaimError(f"{{{reference}}} names a stored output: such a binding belongs in a notebook's Markdown")
        return outputs.value(reference.strip()[len(OUTPUT_PREFIX) :])
    return files.value(reference)


def evaluate(expression: str, files: ResultFiles, outputs: NotebookOutputs | None = None) -> float:
    """The value of a binding's expression (``outputs``: the notebook's, for ``{output:...}`` references)."""
    references = [match.group("reference") for match in _REFERENCE.finditer(expression)]
    if not references:
        raise ClaimError("binds to no result: write {file.json:path}")
    counter = iter(range(len(references)))
    code = _REFERENCE.sub(lambda _: f" r{next(counter)} ", expression).replace("\u2212", "-")
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        raise ClaimError(f"cannot read the expression {expression!r}") from None
    return _arithmetic(tree.body, [_reference_value(reference, files, outputs) for reference in references])


def _resolved(
    text: str, files: ResultFiles, where: str, outputs: NotebookOutputs | None
) -> list[tuple[Binding, str, float | None, str]]:
    """Every binding of ``text`` with where it is (``where:line``) and either its key's value or why
    it has none (a malformed binding, a key that does not resolve): what checking and rendering share."""
    out: list[tuple[Binding, str, float | None, str]] = []
    for binding in find_bindings(text):
        at = f"{where}:{binding.line}"
        if binding.problem:
            out.append((binding, at, None, f"{at}: {binding.problem}: <!-- = {binding.expression}"))
            continue
        try:
            out.append((binding, at, evaluate(binding.expression, files, outputs), ""))
        except ClaimError as error:
            out.append((binding, at, None, f"{at}: {binding.number} is bound to {binding.expression}: {error}"))
    return out


def check_text(
    text: str, files: ResultFiles, where: str = "<text>", outputs: NotebookOutputs | None = None
) -> list[str]:
    """One line per binding of ``text`` that fails; ``[]`` when every bound number agrees.

    ``outputs``: the stored outputs of the notebook ``text`` comes from (for ``{output:...}`` references).
    """
    problems = []
    for binding, at, value, problem in _resolved(text, files, where, outputs):
        if value is None:
            problems.append(problem)
        elif not agrees(binding.number, value):
            decimals = _written(binding.number)[1]
            problems.append(
                f"{at}: {binding.number} disagrees with {binding.expression} = {value:.6g}"
                f", which is {value:+.{decimals}f} at the {decimals} decimals written"
            )
    return problems


def check_file(path: str | os.PathLike, files: ResultFiles | None = None, name: str | None = None) -> list[str]:
    """Check the bindings of a Markdown file, or of the Markdown cells of a notebook (``.ipynb``).

    Problems name ``name`` (``path`` by default) and the line; in a notebook, the cell and its line.
    A notebook's bindings may name its own stored outputs (:class:`NotebookOutputs`).
    """
    path = Path(path)
    files = files or ResultFiles()
    name = name or str(path)
    if path.suffix != ".ipynb":
        return check_text(path.read_text(encoding="utf-8"), files, name)
    problems = []
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    outputs = NotebookOutputs(cells)
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            problems += check_text(source, files, f"{name} cell {index}", outputs)
    return problems


def _format(value: float, written: str) -> str | None:
    """``value`` written as ``written`` was (decimals, a written sign, thousands commas); None when
    the sign would change: a sentence around a number whose sign flips needs a person, not a renderer."""
    _, decimals, sign = _written(written)
    rounded = round(value, decimals)
    if (sign > 0 and rounded < 0) or (sign < 0 and rounded > 0) or (sign == 0 and rounded < 0):
        return None
    digits = f"{abs(rounded):,.{decimals}f}" if "," in written else f"{abs(rounded):.{decimals}f}"
    if sign == 0:
        return digits
    return (written.strip()[0] if sign < 0 else "+") + digits


def render_text(
    text: str, files: ResultFiles, where: str = "<text>", outputs: NotebookOutputs | None = None
) -> tuple[str, list[str]]:
    """``text`` with every bound number rewritten from its key, at the decimals written.

    Returns the new text and one line per change (``where:line: old -> new``) and per binding it
    could not render (a problem, a key that does not resolve, a sign that would flip): rendering
    keeps the numbers current, the sentences around them are still a person's to read.

    Example:
        >>> files = ResultFiles.from_mapping({"t.json": {"gain": 2.8449, "loss": -0.2}})
        >>> text, notes = render_text("gains 2.7 dB<!-- = {t.json:gain} -->, +0.10<!-- = {t.json:loss} -->", files)
        >>> text
        'gains 2.8 dB<!-- = {t.json:gain} -->, +0.10<!-- = {t.json:loss} -->'
        >>> for note in notes:
        ...     print(note)
        <text>:1: 2.7 -> 2.8
        <text>:1: +0.10 is bound to {t.json:loss} = -0.2: the sign would change; rewrite the sentence
    """
    lines = text.split("\n")
    notes = []
    for binding, at, value, problem in reversed(_resolved(text, files, where, outputs)):
        if value is None:
            notes.append(problem)
            continue
        if agrees(binding.number, value):
            continue
        new = _format(value, binding.number)
        if new is None:
            notes.append(
                f"{at}: {binding.number} is bound to {binding.expression} = {value:.6g}: "
                "the sign would change; rewrite the sentence"
            )
            continue
        row = lines[binding.line - 1]
        lines[binding.line - 1] = row[: binding.span[0]] + new + row[binding.span[1] :]
        notes.append(f"{at}: {binding.number} -> {new}")
    return "\n".join(lines), notes[::-1]


def render_file(path: str | os.PathLike, files: ResultFiles | None = None) -> list[str]:
    """Rewrite the bound numbers of a Markdown file or of a notebook's Markdown cells in place
    (:func:`render_text`; written to a temporary file, then renamed). Returns the notes."""
    path = Path(path)
    files = files or ResultFiles()
    if path.suffix != ".ipynb":
        text, notes = render_text(path.read_text(encoding="utf-8"), files, str(path))
        _replace(path, text)
        return notes
    book = json.loads(path.read_text(encoding="utf-8"))
    outputs = NotebookOutputs(book["cells"])
    notes = []
    for index, cell in enumerate(book["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        text, cell_notes = render_text(source, files, f"{path} cell {index}", outputs)
        notes += cell_notes
        if text != source:
            cell["source"] = text.splitlines(keepends=True)
    _replace(path, json.dumps(book, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return notes


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    if path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m recon_lib.teaching.claims FILE...``: render the bound numbers of these files from
    the result files (after a retrain), printing every change and what needs a person."""
    import sys

    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m recon_lib.teaching.claims FILE.md|FILE.ipynb ...", file=sys.stderr)
        return 2
    for name in paths:
        if not Path(name).is_file():
            print(f"error: {name} is not a file", file=sys.stderr)
            return 2
        for note in render_file(name):
            print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
