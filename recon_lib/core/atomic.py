"""Atomic file writing: write to a temporary name in the target folder, rename when complete.

A crash, a full disk or an exception inside the block leaves the previous file (if any)
untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files that :func:`atomic_path` left next to ``path`` when its process was killed
    (``kill -9`` skips the clean-up): ``.<name>.*.tmp`` in ``path``'s folder."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; on success it replaces ``path``.

    The file gets the permissions a plain ``open`` would give (``mkstemp`` makes it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # see stale_temporaries
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
