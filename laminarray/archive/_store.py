"""A read-only Zarr store over one archive snapshot that refuses to invent data for a missing chunk.

Zarr returns the fill value when a chunk object is absent; laminarray writes
every chunk (``write_empty_chunks=True``), so an absent chunk in an archive is
always damage and reading it raises an :class:`ArchiveError`. Every read goes
to the snapshot's version (:class:`~laminarray.archive._snapshot.Snapshot`),
which the store keeps alive; pickled (e.g. to dask workers), it reopens the
same version. A chunk whose crc32c checksum does not match (every laminarray
array ends its codecs with one) raises an :class:`ArchiveError` naming the
array and the chunk, rather than Zarr's anonymous checksum message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import google_crc32c
from zarr.storage import LocalStore, WrapperStore

from .._validation import ArchiveError
from ._snapshot import Snapshot

_METADATA_KEYS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


class StrictStore(WrapperStore[LocalStore]):
    """Read-only store of one snapshot raising :class:`ArchiveError` for a missing chunk."""

    def __init__(self, store: LocalStore, snapshot: Snapshot) -> None:
        super().__init__(store)
        self.snapshot = snapshot
        self._checksummed: dict[str, bool] = {}

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
        if value is not None and byte_range is None and not key.endswith(_METADATA_KEYS):
            self._check_chunk(key, value.to_bytes())
        return value

    def _check_chunk(self, key: str, data: bytes) -> None:
        """Raise an :class:`ArchiveError` naming the array if the chunk's crc32c is wrong."""
        array = key.split("/c/")[0] if "/c/" in key else key.rsplit("/", 1)[0]
        if array not in self._checksummed:
            meta = Path(self._store.root) / array / "zarr.json"
            codecs = json.loads(meta.read_text()).get("codecs", []) if meta.is_file() else []
            self._checksummed[array] = bool(codecs) and codecs[-1].get("name") == "crc32c"
        if not self._checksummed[array] or len(data) < 4:
            return
        computed = google_crc32c.value(data[:-4]).to_bytes(4, "little")
        if computed != data[-4:]:
            raise ArchiveError(
                f"chunk {key!r} of array {'/' + array!r} in the archive {self.snapshot.root} is "
                f"corrupt: its crc32c checksum does not match (stored {data[-4:].hex()}, "
                f"computed {computed.hex()}); run `laminarray verify` for a full report"
            )
