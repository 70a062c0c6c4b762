"""Snapshot reads: one committed version of an archive, held for as long as a reader needs it.

Writers never change a version: they commit a new one by exchanging
directories (:mod:`laminarray.archive._commit`). A :class:`Snapshot` opens the
version that is live when it is created, keeps its directory open and holds
a shared ``flock`` on it, and reads every file through that open directory
(``/proc/self/fd/<fd>/...``), so renames of the archive path do not change
what it reads; writers delete a previous version only when no snapshot holds
it. A handle's reads therefore all come from one version.

On systems without ``/proc/self/fd`` the snapshot reads through the archive
path (no isolation from later writes).
"""

from __future__ import annotations

import fcntl
import os
import weakref
from pathlib import Path
from typing import Any

from .._validation import ArchiveError
from . import _commit

_FD_DIR = Path("/proc/self/fd")


def _same_file(path: Path, fd: int) -> bool:
    try:
        found = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (found.st_ino, found.st_dev) == (held.st_ino, held.st_dev) and held.st_nlink > 0


def _pin(path: Path) -> int | None:
    """Open ``path`` and hold a shared lock on it; None if it is gone or was just replaced."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    if _same_file(path, fd):
        return fd
    os.close(fd)
    return None


class Snapshot:
    """The version of the archive at ``root`` that is live now (or the given ``version``).

    Parameters
    ----------
    root : Path
        Archive directory.
    version : str, optional
        Version id to reopen (a snapshot unpickled in another process); it is
        looked for at ``root`` and among the archive's previous versions
        still held by a reader.

    Attributes
    ----------
    root : Path
        Archive directory (for messages).
    path : Path
        Directory to read the version's files through.
    version : str or None
        Its id (None for archives written by laminarray < 0.2).

    Raises
    ------
    ArchiveError
        No archive directory at ``root``, or ``version`` is no longer stored.
    """

    def __init__(self, root: Path, version: str | None = None) -> None:
        self.root = root
        fd = None
        while fd is None:
            if not root.is_dir():
                raise ArchiveError(f"no archive at {root}")
            candidates = [root] if version is None else [root, *_commit.leftovers(root)]
            for path in candidates:
                fd = _pin(path)
                if (
                    fd is not None
                    and version is not None
                    and _commit.tree_info(self._through(fd, path)).get("version") != version
                ):
                    os.close(fd)
                    fd = None
                if fd is not None:
                    break
            else:
                if version is not None:
                    raise ArchiveError(
                        f"version {version} of the archive {root} is no longer stored: it "
                        "was replaced by a later write and released by every reader"
                    )
        self._fd = fd
        self.path = self._through(fd, root)
        self.version = _commit.tree_info(self.path).get("version")
        self._finalizer = weakref.finalize(self, os.close, fd)

    @staticmethod
    def _through(fd: int, fallback: Path) -> Path:
        return _FD_DIR / str(fd) if _FD_DIR.is_dir() else fallback

    def __reduce__(self) -> tuple[Any, ...]:
        return (Snapshot, (self.root, self.version))

    def __repr__(self) -> str:
        return f"Snapshot({str(self.root)!r}, version={self.version!r})"
