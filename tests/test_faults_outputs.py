"""A command's output set is written whole: a kill, a full disk or an error leaves the old set or the
new one, never a mix; a folder the command does not own is refused before any work starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recon_lib.core.atomic import OUTPUT_MARKER, OutputFolderError, check_output_folder, output_set

ROOT = Path(__file__).resolve().parents[1]


def _old_set(folder: Path) -> dict[str, str]:
    with output_set(folder, "demo") as staging:
        (staging / "table.md").write_text("old table")
        (staging / "sweep.json").write_text('{"old": true}')
    return _contents(folder)


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.name != OUTPUT_MARKER}


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _run(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, **kwargs)


def test_a_new_set_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "results"
    _old_set(out)
    with output_set(out, "demo") as staging:
        (staging / "table.md").write_text("new table")
    assert _contents(out) == {"table.md": "new table"}  # the old run's sweep.json is gone with its set
    marker = json.loads((out / OUTPUT_MARKER).read_text())
    assert marker == {"command": "demo", "files": ["table.md"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no staging or retired copy left


def test_an_error_inside_the_block_keeps_the_old_set(tmp_path):
    out = tmp_path / "results"
    old = _old_set(out)
    with pytest.raises(RuntimeError, match="boom"), output_set(out, "demo") as staging:
        (staging / "table.md").write_text("half of a new table")
        raise RuntimeError("boom")
    assert _contents(out) == old and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_writer_killed_mid_set_leaves_the_old_set_and_the_next_run_tidies(tmp_path):
    out = tmp_path / "results"
    old = _old_set(out)
    killed = _run(
        f"""
        import os, signal
        from recon_lib.core.atomic import output_set
        with output_set({str(out)!r}, "demo") as staging:
            (staging / "table.md").write_text("new table")
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 halfway through the set
        """
    )
    assert killed.returncode == -9
    assert _contents(out) == old
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "results"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".results.staging-")
    check_output_folder(out, "demo")  # the next run removes the dead writer's staging folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"] and _contents(out) == old


def test_a_writer_killed_between_its_two_renames_gets_the_old_set_back(tmp_path):
    out = tmp_path / "results"
    old = _old_set(out)
    retired = tmp_path / f".results.old-{_dead_pid()}"
    os.replace(out, retired)  # what a kill after the first rename leaves: no folder, the old set aside
    check_output_folder(out, "demo")
    assert _contents(out) == old and not retired.exists()


def test_a_live_writers_staging_folder_is_left_alone(tmp_path):
    out = tmp_path / "results"
    _old_set(out)
    live = tmp_path / f".results.staging-{os.getppid()}"  # a process that is certainly running
    live.mkdir()
    (live / "table.md").write_text("being written")
    check_output_folder(out, "demo")
    assert (live / "table.md").read_text() == "being written"


def test_a_file_size_limit_mid_set_keeps_the_old_set(tmp_path):
    out = tmp_path / "results"
    old = _old_set(out)
    limited = _run(
        f"""
        import resource, signal, sys
        from recon_lib.core.atomic import output_set
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            with output_set({str(out)!r}, "demo") as staging:
                (staging / "table.md").write_text("x" * 100_000)
        except OSError as err:
            sys.exit(f"error: {{err.strerror}}")
        """
    )
    assert limited.returncode == 1 and "File too large" in limited.stderr
    assert _contents(out) == old and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@pytest.mark.parametrize("case", ["foreign files", "another command's set", "a file", "under a file"])
def test_a_folder_the_command_does_not_own_is_refused_and_kept(tmp_path, case):
    out = tmp_path / "results"
    if case == "foreign files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        match = r"holds files that demo did not write \(notes\.txt"
    elif case == "another command's set":
        with output_set(out, "other") as staging:
            (staging / "x.json").write_text("{}")
        match = "holds files that demo did not write"
    elif case == "a file":
        out.write_text("not a folder")
        match = "exists and is not a folder"
    else:
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "results"
        match = "cannot create its parent folder"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(OutputFolderError, match=match):
        check_output_folder(out, "demo")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "command", ["recon_lib.evaluate", "recon_lib.alpha_validation", "recon_lib.shared_init", "recon_lib.perception"]
)
def test_commands_refuse_a_foreign_output_folder_before_any_work(tmp_path, command):
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    # --data names no dataset: the output folder is checked first, before anything is read or computed
    done = subprocess.run(
        [sys.executable, "-m", command, "--data", str(tmp_path / "no-data"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"--out {out} holds files that" in done.stderr and "thesis.tex" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
