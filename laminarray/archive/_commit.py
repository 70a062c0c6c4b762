"""The write protocol: every change is a new version of the whole archive, committed by one exchange.

A write (a group, a tree, an append, the root) never changes the live
archive directory. It

1. takes the archive's writer lock (``.laminarray/writer.lock``, an exclusive
   ``flock``; writers queue, readers never take it);
2. builds the next version in a *stage*, a sibling directory
   ``.<archive name>.laminarray-<uuid>``: every file of the current version
   that the write keeps is hard-linked (no data copied), the new groups are
   written, their manifests and completion markers added, the root's
   consolidated metadata rewritten, and ``.laminarray/tree.json`` records the
   archive's id and the new version's id;
3. with ``durable=True``, fsyncs every file and directory of the stage;
4. **commits**: one ``renameat2(RENAME_EXCHANGE)`` swaps the stage and the
   archive directory atomically, so the archive path holds the complete old
   version or the complete new one (data, zarr.json files, manifests and the
   consolidated metadata together), whatever happens and whenever a process
   dies; with ``durable=True`` the parent directory is fsynced after it;
5. deletes the previous version (now at the stage path) unless a reader
   still holds it (a shared ``flock`` on its directory,
   :class:`~laminarray.archive._snapshot.Snapshot`); the next writer deletes
   it once released.

Nothing is written into the live archive except the lock file, and no path
is ever read from a file: recovery is only the removal of this archive's own
stale stages (siblings with its name, real directories carrying its archive
id, held by no reader), so a crafted or copied archive cannot make laminarray
touch other paths, and a moved or copied archive is complete as it is.

Files are never modified in place (Zarr and laminarray write a temporary
file and rename it), so a hard link shared between versions is never written
through.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import os
import shutil
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._validation import ArchiveError
from . import _layout

META = ".laminarray"
LOCK = "writer.lock"
TREE = "tree.json"
STAGE_INFIX = ".laminarray-"
FAULT_ENV = "LAMINARRAY_ARCHIVE_FAULT"
FAULT_STEPS = ("staged", "manifests", "consolidated", "synced", "exchanged")

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# --------------------------------------------------------------------------- faults


def fault_point(step: str) -> None:
    """A named step of the protocol: ``LAMINARRAY_ARCHIVE_FAULT=<step>`` SIGKILLs the process here.

    Crash tests run a writer with the variable set to each of
    :data:`FAULT_STEPS` and check what readers see afterwards.
    """
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- tree identity


def meta_dir(root: Path) -> Path:
    """``<root>/.laminarray``, created if missing; a symlink or file there is refused."""
    path = root / META
    with contextlib.suppress(FileExistsError):
        path.mkdir()
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise ArchiveError(
            f"{path} must be a directory (laminarray's bookkeeping), found a "
            f"{'symlink' if stat.S_ISLNK(mode) else 'file'}; not writing"
        )
    return path


def tree_info(root: Path) -> dict[str, Any]:
    """``{"archive_id", "version"}`` of a version directory (empty for older archives)."""
    path = root / META / TREE
    try:
        info = _layout.read_json(path)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Hold the archive's exclusive writer lock, creating the archive directory if needed.

    The lock file is hard-linked into every new version, so all versions
    share one lock; a lock taken on a version that was replaced meanwhile is
    released and taken again on the live one.
    """
    while True:
        root.mkdir(parents=True, exist_ok=True)
        lock = meta_dir(root) / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the version was replaced and deleted meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                live = os.stat(lock, follow_symlinks=False)
            except FileNotFoundError:
                live = None
            held = os.fstat(fd)
            if live is not None and (live.st_ino, live.st_dev) == (held.st_ino, held.st_dev):
                yield
                return
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- stages


def _stage_prefix(root: Path) -> str:
    return f".{root.name}{STAGE_INFIX}"


@contextlib.contextmanager
def stage(root: Path, keep: tuple[str, ...] | None) -> Iterator[Path]:
    """A new version of ``root`` being built; removed again if the write fails.

    Parameters
    ----------
    root : Path
        The live archive directory (writer lock held).
    keep : tuple of str or None
        None keeps every file of the current version (an append); a group's
        parts drop that group's subtree (it is rewritten); ``()`` keeps only
        laminarray's lock (the whole archive is rewritten).
    """
    archive_id = tree_info(root).get("archive_id")
    if not archive_id:  # a new archive or one written by laminarray < 0.2
        archive_id = uuid.uuid4().hex
        _layout.write_json(root / META / TREE, {"archive_id": archive_id, "version": None})
    path = root.parent / f"{_stage_prefix(root)}{uuid.uuid4().hex}"
    path.mkdir()
    try:
        meta_dir(path)
        _layout.write_json(path / META / TREE, {"archive_id": archive_id, "version": None})
        os.link(root / META / LOCK, path / META / LOCK)
        if keep != ():
            _link_tree(root, path, drop=keep)
        yield path
    except BaseException:
        discard(path)  # the stage, or after the exchange the previous version
        raise


def _link_tree(src: Path, dst: Path, drop: tuple[str, ...] | None) -> None:
    """Hard-link every file of ``src`` into ``dst`` except laminarray's bookkeeping and ``drop``.

    Symlinks are recreated as symlinks, never followed.
    """
    dropped = "/".join(drop) if drop else None
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        rel = here.relative_to(src)
        target = dst / rel
        target.mkdir(exist_ok=True)
        walk = []
        for name in dirnames:
            if (rel == Path(".") and name in (META, _layout.LEGACY_STAGING)) or (
                (rel / name).as_posix() == dropped
            ):
                continue
            if (here / name).is_symlink():
                os.symlink(os.readlink(here / name), target / name)
            else:
                walk.append(name)
        dirnames[:] = walk
        for name in filenames:
            if name.endswith(".partial"):
                continue
            if (here / name).is_symlink():
                os.symlink(os.readlink(here / name), target / name)
            else:
                os.link(here / name, target / name)


# --------------------------------------------------------------------------- commit


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise ArchiveError(
            "atomic archive writes need renameat2(RENAME_EXCHANGE) (Linux, glibc >= 2.28)"
        )
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise ArchiveError(
                f"the file system of {b} cannot exchange two directories atomically "
                f"(renameat2 RENAME_EXCHANGE: {os.strerror(code)}); archives need a local "
                "Linux file system such as ext4, xfs, btrfs or tmpfs"
            )
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _fsync(path: Path, directory: bool) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0) | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (children before their directory)."""
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                _fsync(path, directory=False)
        _fsync(Path(dirpath), directory=True)


def commit(root: Path, staged: Path, *, durable: bool) -> None:
    """Make the complete ``staged`` version the live archive in one atomic step.

    The root's consolidated metadata must already be written in ``staged``.
    """
    info = tree_info(staged)
    info["version"] = uuid.uuid4().hex
    _layout.write_json(staged / META / TREE, info)
    if durable:
        sync_tree(staged)
    fault_point("synced")
    _exchange(staged, root)
    if durable:
        _fsync(root.parent, directory=True)
    fault_point("exchanged")
    # the previous version now lives at the stage's path; snapshots of this process
    # that are no longer used may only await the cycle collector (DataTrees are cyclic)
    if not discard(staged):
        gc.collect()
        discard(staged)


def discard(path: Path) -> bool:
    """Delete a previous version or dead stage unless a reader holds it; True if deleted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def leftovers(root: Path) -> list[Path]:
    """Previous versions and dead stages of this archive still beside it (siblings it owns)."""
    archive_id = tree_info(root).get("archive_id")
    prefix = _stage_prefix(root)
    found = []
    try:
        siblings = sorted(root.parent.iterdir())
    except OSError:
        return []
    for path in siblings:
        if not path.name.startswith(prefix) or path.is_symlink() or not path.is_dir():
            continue
        if archive_id is not None and tree_info(path).get("archive_id") == archive_id:
            found.append(path)
    return found


def collect(root: Path) -> None:
    """Delete this archive's leftovers that no reader holds (writer lock held)."""
    for path in leftovers(root):
        discard(path)
