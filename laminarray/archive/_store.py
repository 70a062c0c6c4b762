"""A read-only Zarr store over one archive snapshot that refuses to invent data for a missing chunk.

Zarr returns the fill value when a chunk object is absent; laminarray writes
every chunk (``write_empty_chunks=True``), so an absent chunk in an archive is
always damage and reading it raises an :class:`ArchiveError`. Every read goes
to the snapshot's version (:class:`~laminarray.archive._snapshot.Snapshot`),
which the store keeps alive; pickled (e.g. to dask workers), it reopens the
same version.
"""

from __future__ import annotations

from typing import Any

from zarr.storage import LocalStore, WrapperStore

from .._validation import ArchiveError
from ._snapshot import Snapshot

_METADATA_KEYS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


class StrictStore(WrapperStore[LocalStore]):
    """Read-only store of one snapshot raising :class:`ArchiveError` for a missing chunk."""

    def __init__(self, store: LocalStore, snapshot: Snapshot) -> None:
        super().__init__(store)
        self.snapshot = snapshot

    def _with_store(self, store: LocalStore) -> StrictStore:
        return type(self)(store, self.snapshot)

    @classmethod
    def of(cls, snapshot: Snapshot) -> StrictStore:
        """A strict read-only store over the files of ``snapshot``."""
        return cls(LocalStore(snapshot.path, read_only=True), snapshot)

    def __reduce__(self) -> tuple[Any, ...]:
        return (StrictStore.of, (self.snapshot,))

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        value = await self._store.get(key, prototype, byte_range)
        if value is None and not key.endswith(_METADATA_KEYS):
            raise ArchiveError(
                f"chunk {key!r} is missing from the archive {self.snapshot.root}; "
                "the data cannot be read (run `laminarray verify` for a full report)"
            )
        return value
