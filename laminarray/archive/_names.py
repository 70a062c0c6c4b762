"""Names of archive groups and variables: the one validator every write goes through.

A name becomes a directory of the archive and a key of Zarr's metadata, so it
must be a single, portable path component that Zarr 3 accepts and that no
file system or reader can interpret as something else:

- a non-empty ``str`` of at most :data:`MAX_NAME_BYTES` bytes in UTF-8;
- no ``/`` (the path separator), ``\\`` (a separator on Windows, and what
  turned ``a\\..\\b`` into an escape), NUL or other control characters;
- not ``.`` or ``..``, not starting with ``.`` (reserved for laminarray's
  bookkeeping files and hidden by most tools) and not starting with ``__``
  (reserved by the Zarr 3 specification);
- a whole group path at most :data:`MAX_PATH_BYTES` bytes.
"""

from __future__ import annotations

from collections.abc import Hashable

from .._validation import ArchiveError

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024


def check_name(name: Hashable, what: str) -> str:
    """Return ``name`` if it is a valid group or variable name, else raise.

    Parameters
    ----------
    name : hashable
        The candidate name.
    what : str
        What is named, for the message: ``"component of `group` 'a/.b'"``,
        ``"variable name in /sub-01/sensor"``.

    Raises
    ------
    ArchiveError
        Naming ``what``, the rule broken and the name found.
    """
    if not isinstance(name, str):
        raise ArchiveError(f"invalid {what}: must be a str, got {type(name).__name__} {name!r}")
    problem = None
    if not name:
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is a relative path component"
    elif name.startswith("."):
        problem = "starts with '.' (reserved for laminarray's bookkeeping files)"
    elif name.startswith("__"):
        problem = "starts with '__' (reserved by Zarr 3)"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator ('/' or '\\')"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "contains NUL or another control character"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes in UTF-8"
    if problem is not None:
        raise ArchiveError(f"invalid {what} {name!r}: it {problem}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ArchiveError(
            f"invalid {what} {name!r}: not valid Unicode (lone surrogate)"
        ) from None
    return name


def group_parts(group: str | None) -> tuple[str, ...]:
    """Split ``"/sub-01/mesh"`` into ``("sub-01", "mesh")``, validating each component.

    ``None`` and ``"/"`` are the root; an empty string is refused (ambiguous).

    Raises
    ------
    ArchiveError
        For a non-str group, an empty string, or an invalid component.
    """
    if group is None:
        return ()
    if not isinstance(group, str):
        raise ArchiveError(f"`group` must be a str such as 'sub-01/mesh', got {group!r}")
    if not group:
        raise ArchiveError("`group` is an empty string; use None (or '/') for the archive root")
    if len(group.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise ArchiveError(f"`group` is longer than {MAX_PATH_BYTES} bytes: {group[:60]!r}...")
    stripped = group.strip("/")
    if not stripped:
        return ()
    parts = tuple(stripped.split("/"))
    for part in parts:
        check_name(part, f"component of `group` {group!r}")
    return parts
