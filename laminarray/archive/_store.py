"""A read-only Zarr store that refuses to invent data for a missing chunk.

Zarr returns the fill value when a chunk object is absent; laminarray writes
every chunk (``write_empty_chunks=True``), so an absent chunk in an archive is
always damage and reading it raises an :class:`ArchiveError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zarr.storage import LocalStore, WrapperStore

from .._validation import ArchiveError

_METADATA_KEYS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


class StrictStore(WrapperStore[LocalStore]):
    """Read-only local store raising :class:`ArchiveError` for a missing chunk."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)

    @classmethod
    def at(cls, root: Path) -> StrictStore:
        """A strict read-only store over the archive directory ``root``."""
        return cls(LocalStore(str(root), read_only=True))

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        value = await self._store.get(key, prototype, byte_range)
        if value is None and not key.endswith(_METADATA_KEYS):
            raise ArchiveError(
                f"chunk {key!r} is missing from the archive {self._store.root}; "
                "the data cannot be read (run `laminarray verify` for a full report)"
            )
        return value
