"""Study archives: labelled xarray objects stored as Zarr format 3, written atomically.

An archive is a directory holding an ``xarray.DataTree`` (DESIGN.md layout)::

    /                         attrs: laminarray_version, schema_version, created
    /<subject>/mesh           LaminarMesh
    /<subject>/sensor         sensor data
    /<subject>/forward        gain matrix
    /<subject>/inverse/<name> projector, free energy, settings
    /<subject>/source/<name>  source estimate
    /<subject>/results/<name> anything else

- :func:`save` writes a Dataset, DataArray or DataTree to a group: the whole
  archive's next version is committed in one atomic directory exchange;
- :func:`open` returns the archive as a lazy, dask-backed DataTree reading one
  version (a snapshot) for its whole life;
- :func:`append` adds trials to a group without rewriting it, committed the same way;
- :func:`verify` re-reads every chunk and checks checksums, manifests,
  consolidated metadata and schemas, reporting (never raising) every problem.

Archives are plain Zarr: ``xarray.open_datatree(path, engine="zarr")`` opens
them too (without laminarray's missing-chunk guard and snapshot isolation).
"""

from ._encoding import TARGET_CHUNK_BYTES, storage_chunks
from ._provenance import make_provenance
from ._read import open
from ._verify import Problem, VerifyReport, verify
from ._write import append, save

__all__ = [
    "TARGET_CHUNK_BYTES",
    "Problem",
    "VerifyReport",
    "append",
    "make_provenance",
    "open",
    "save",
    "storage_chunks",
    "verify",
]
