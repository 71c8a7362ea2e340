"""Atomic file writing: write to a temporary name in the target folder, rename when complete.

A crash, a full disk or an exception inside the block leaves the previous file (if any)
untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
