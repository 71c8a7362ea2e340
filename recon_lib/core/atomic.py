"""Atomic file writing: write to a temporary name in the target folder, rename when complete; a
command's whole set of output files staged beside its folder and swapped in (:func:`output_set`).

A crash, a full disk or an exception inside the block leaves the previous file (if any)
untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: what follows ``.<name>`` in a temporary name of :func:`owned_temporary`: host, process id, a random tag
_OWNED_SUFFIX = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp")


def host_name() -> str:
    """This machine's name as it appears in temporary names (letters, digits and ``-``)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (another user's counts; a pid <= 0 names none)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process; anything else: assume alive
        return True
    return True


def owned_temporary(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``path`` that names its writer: ``.<name>.<host>.<pid>.<random>.tmp``.

    Example:
        >>> tmp = owned_temporary("data/knee/train.prepared/knee_000_pd.h5")
        >>> tmp.name.startswith(".knee_000_pd.h5.") and f".{os.getpid()}." in tmp.name and tmp.suffix == ".tmp"
        True
    """
    path = Path(path)
    return path.parent / f".{path.name}.{host_name()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def temporary_is_orphaned(tmp: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``tmp``, a temporary file of ``path``, was left by a writer that is gone (killed).

    Its name names a process of this host that no longer runs, or names no writer (written by an
    earlier version, which is not running now). The temporary file of a live process (another run
    still writing, or this one) is not orphaned, nor is one of another host (whose processes this
    one cannot see: a folder shared over the network).
    """
    owner = _OWNED_SUFFIX.fullmatch(Path(tmp).name[len(Path(path).name) + 1 :])
    if owner is None:
        return True
    if owner["host"] != host_name():
        return False
    return not process_alive(int(owner["pid"]))


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files that a killed writer of ``path`` left beside it (``kill -9`` skips the clean-up):
    ``.<name>.*.tmp`` in ``path``'s folder whose writer is gone (:func:`temporary_is_orphaned`);
    those of a writer still at work are not listed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return [tmp for tmp in sorted(path.parent.glob(f".{path.name}.*.tmp")) if temporary_is_orphaned(tmp, path)]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name next to ``path`` (named for this process, :func:`owned_temporary`,
    created empty); on success it replaces ``path``. The file gets the permissions a plain ``open`` gives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_temporary(path)
    tmp.touch(exist_ok=False)  # created here (a plain open's permissions), written by the caller
    try:
        yield str(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt``.

    Libraries that call back into Python (h5py writing to an in-memory file) catch the
    ``KeyboardInterrupt`` a SIGINT raises inside their callbacks and carry on, so an interrupted
    preparation would run on. Inside this block the signal is only recorded; it is raised once the
    block is left (a short write), so the run stops where nothing is half-written. Outside the main
    thread (where Python cannot install handlers) the block runs unchanged.

    Example:
        >>> with deferred_interrupt():
        ...     pass  # no SIGINT arrived: nothing happens
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt("interrupted (Ctrl-C) while a file was being written; it was finished first")


# ---- a command's whole set of output files ------------------------------------------------------
#: the marker a command leaves in the folder it owns: which command wrote it, and the files of the set
OUTPUT_MARKER = ".recon-output.json"


class OutputFolderError(ValueError):
    """An output folder that a command may not (or cannot) replace; nothing was written."""


def _sibling(folder: Path, kind: str, pid: int | None = None) -> Path:
    return folder.parent / f".{folder.name}.{kind}-{os.getpid() if pid is None else pid}"


def _siblings(folder: Path, kind: str) -> list[tuple[Path, int]]:
    """``(path, owning pid)`` of the staging or retired copies next to ``folder``."""
    found = []
    for path in folder.parent.glob(f".{folder.name}.{kind}-*") if folder.parent.is_dir() else []:
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit():
            found.append((path, int(pid)))
    return found


def _recover(folder: Path) -> None:
    """Undo what a killed writer left: a retired copy whose replacement never arrived is put back,
    staging folders and retired copies of dead processes are removed (a live writer's are kept)."""
    import shutil

    for path, pid in _siblings(folder, "old"):
        if process_alive(pid):
            continue
        if not folder.exists():
            os.replace(path, folder)  # killed between its two renames: the old set comes back
        else:
            shutil.rmtree(path, ignore_errors=True)
    for path, pid in _siblings(folder, "staging"):
        if not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def check_output_folder(folder: str | os.PathLike, owner: str) -> Path:
    """Check, before any work, that ``owner`` (a command's name) may write its set of files to ``folder``.

    ``folder`` may be new, empty, or a set ``owner`` wrote before (its marker names ``owner``); its
    parent must be writable (the set is staged beside it). What a killed writer left is tidied first.

    Raises:
        OutputFolderError: ``folder`` is a file, holds files another command (or a person) put there,
            or its parent is not writable; the message names the folder and what to do.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"--out {folder} exists and is not a folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(f"--out {folder}: cannot create its parent folder ({err.strerror})") from None
    _recover(folder)
    if folder.is_dir() and any(folder.iterdir()):
        marker = folder / OUTPUT_MARKER
        try:
            written_by = json.loads(marker.read_text()).get("command")
        except (OSError, ValueError, AttributeError):
            written_by = None
        if written_by != owner:
            shown = ", ".join(sorted(p.name for p in folder.iterdir())[:3])
            raise OutputFolderError(
                f"--out {folder} holds files that {owner} did not write ({shown} ...); the command replaces "
                "its output folder whole, so give a new or empty folder"
            )
    try:
        probe = tempfile.mkdtemp(prefix=f".{folder.name}.probe-", dir=folder.parent)
    except OSError as err:
        raise OutputFolderError(
            f"--out {folder}: its folder {folder.parent} is not writable ({err.strerror})"
        ) from None
    os.rmdir(probe)
    return folder


@contextlib.contextmanager
def output_set(folder: str | os.PathLike, owner: str) -> Iterator[Path]:
    """Write a command's whole set of files: yield a staging folder beside ``folder``; when the block
    ends without error, ``folder`` is replaced by it whole (with a marker naming ``owner`` and the files).

    A reader sees the old set or the new one, never a mix: the staging folder is renamed into place
    after the old set is moved aside, and a writer killed between the two renames has the old set put
    back by the next :func:`check_output_folder`. An exception (or a kill) inside the block leaves the
    old set as it was; the staging folder is removed (a killed writer's, by the next run).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
        >>> with output_set(out, "example") as staging:
        ...     _ = (staging / "a.txt").write_text("new")
        >>> sorted(p.name for p in out.iterdir())
        ['.recon-output.json', 'a.txt']
    """
    import shutil

    folder = check_output_folder(folder, owner)
    staging = _sibling(folder, "staging")
    staging.mkdir()
    try:
        yield staging
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        (staging / OUTPUT_MARKER).write_text(json.dumps({"command": owner, "files": files}, indent=1) + "\n")
        with deferred_interrupt():
            retired = _sibling(folder, "old")
            if folder.exists():
                os.replace(folder, retired)
            os.replace(staging, folder)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
