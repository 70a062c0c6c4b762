"""Archive integrity: atomic writes, interrupted swaps, corruption and missing chunks."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

import laminarray as lam
from laminarray import ArchiveError, archive
from laminarray.archive import _commit, _layout

RNG = np.random.default_rng(1)
CHANNELS = [f"MEG{i:03d}" for i in range(4)]
TIMES = np.arange(10) / 100.0


def _sensor(data):
    return lam.sensor_dataset(data, CHANNELS, TIMES)


@pytest.fixture
def stored(tmp_path):
    """An archive with a sensor group (4 trial chunks) and a mesh-free results group."""
    path = tmp_path / "a.zarr"
    old = _sensor(RNG.standard_normal((4, 10, 8)).astype("f4"))
    archive.save(old, path, "sub-01/sensor", chunks={"trial": 2})
    archive.save(old.rename(data="other"), path, "sub-01/results/copy", chunks={"trial": 2})
    return path, old


def _assert_intact(path, old):
    back = archive.open(path)["sub-01/sensor"]["data"].values
    np.testing.assert_array_equal(back, old["data"].values)
    report = archive.verify(path)
    assert report.ok, str(report)
    assert not _commit.leftovers(path)


def _failing_block(block, block_info=None):
    if block_info[None]["chunk-location"][2] == 2:
        raise RuntimeError("disk full (simulated)")
    return block


def test_exception_mid_write_leaves_old_content(stored):
    path, old = stored
    data = da.from_array(np.ones((4, 10, 8), "f4"), chunks=(4, 10, 2))
    failing = _sensor(data.map_blocks(_failing_block, dtype="f4"))
    with pytest.raises(RuntimeError, match="disk full"):
        archive.save(failing, path, "sub-01/sensor", chunks={"trial": 2})
    _assert_intact(path, old)


def test_exception_mid_append_leaves_old_content(stored):
    path, old = stored
    data = da.from_array(np.ones((4, 10, 6), "f4"), chunks=(4, 10, 2))
    failing = lam.sensor_dataset(
        data.map_blocks(_failing_block, dtype="f4"), CHANNELS, TIMES, trials=np.arange(8, 14)
    )
    with pytest.raises(RuntimeError, match="disk full"):
        archive.append(failing, path, "sub-01/sensor")
    _assert_intact(path, old)


class _Killed(BaseException):
    """Stands for the process dying: no cleanup code runs."""


def _die_at(monkeypatch, step):
    def fault_point(name):
        if name == step:
            raise _Killed

    monkeypatch.setattr(_commit, "fault_point", fault_point)


def test_exception_before_the_exchange_leaves_old_content(stored, monkeypatch):
    path, old = stored
    _die_at(monkeypatch, "synced")
    with pytest.raises(_Killed):
        archive.save(_sensor(np.full((4, 10, 3), 7.0, "f4")), path, "sub-01/sensor")
    monkeypatch.undo()
    _assert_intact(path, old)


def test_exception_after_the_exchange_leaves_the_new_content(stored, monkeypatch):
    path, _ = stored
    new = _sensor(np.full((4, 10, 3), 7.0, "f4"))
    _die_at(monkeypatch, "exchanged")
    with pytest.raises(_Killed):
        archive.save(new, path, "sub-01/sensor")
    monkeypatch.undo()
    tree = archive.open(path)
    np.testing.assert_array_equal(tree["sub-01/sensor"]["data"].values, new["data"].values)
    assert archive.verify(path).ok
    assert not _commit.leftovers(path)


_KILLED_WRITER = """
import sys, time
import dask.array as da, numpy as np
import laminarray as lam
from laminarray import archive

def slow(block):
    if block.size:  # not dask's meta inference on an empty block
        print("writing", flush=True)
        time.sleep(0.5)
    return block

data = da.ones((4, 10, 40), dtype="f4", chunks=(4, 10, 1)).map_blocks(slow, dtype="f4")
ds = lam.sensor_dataset(data, [f"MEG{i:03d}" for i in range(4)], np.arange(10) / 100.0)
import dask
with dask.config.set(scheduler="synchronous"):
    archive.save(ds, sys.argv[1], "sub-01/sensor", chunks={"trial": 1})
"""


def test_sigkill_mid_write_leaves_old_content(stored, tmp_path):
    path, old = stored
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_KILLED_WRITER))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.6)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _commit.leftovers(path)  # its stage
    np.testing.assert_array_equal(
        archive.open(path)["sub-01/sensor"]["data"].values, old["data"].values
    )
    archive.save(old, path, "sub-01/other")  # the next writer cleans up
    _assert_intact(path, old)


def _chunk(path: Path, group: str, variable: str, key: str) -> Path:
    return path.joinpath(*group.split("/"), variable, *key.split("/"))


def test_flipped_bytes_are_reported_for_exactly_that_variable(stored):
    path, _ = stored
    chunk = _chunk(path, "sub-01/sensor", "data", "c/0/0/1")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    report = archive.verify(path)
    assert not report.ok
    assert [(p.group, p.variable) for p in report.problems] == [("/sub-01/sensor", "data")]
    assert "c/0/0/1" in report.problems[0].message
    assert "checksum" in report.problems[0].message.lower()
    with pytest.raises(lam.ArchiveError, match=r"of array '/sub-01/sensor/data'.*checksum"):
        archive.open(path)["sub-01/sensor"]["data"].values  # noqa: B018


def test_missing_chunk_is_an_error_not_the_fill_value(stored):
    path, _ = stored
    tree = archive.open(path)
    lazy = tree["sub-01/results/copy"]["other"]
    _chunk(path, "sub-01/results/copy", "other", "c/0/0/3").unlink()
    with pytest.raises(ArchiveError, match=r"c/0/0/3.*missing"):
        lazy.values  # noqa: B018
    with pytest.raises(ArchiveError, match=r"/sub-01/results/copy variable 'other'.*missing"):
        archive.open(path)
    report = archive.verify(path)
    assert {(p.group, p.variable) for p in report.problems} == {("/sub-01/results/copy", "other")}


def test_incomplete_group_and_nonfinite_data_are_reported(stored):
    path, _ = stored
    (path / "sub-01" / "results" / "copy" / _layout.MARKER).unlink()
    with pytest.raises(ArchiveError, match="incomplete group"):
        archive.open(path)
    nan = _sensor(RNG.standard_normal((4, 10, 2)).astype("f4"))
    nan["data"][0, 0, 0] = np.nan
    archive.save(nan.chunk(), path, "sub-01/sensor")  # dask data: the finite check is lazy
    report = archive.verify(path)
    found = {(p.group, p.variable): p.message for p in report.problems}
    assert "incomplete group" in found[("/sub-01/results/copy", None)]
    assert "NaN/inf" in found[("/sub-01/sensor", "data")]


def test_verify_runs_the_schema_validators(stored):
    path, old = stored
    bad_gain = lam.gain_dataarray(RNG.standard_normal((4, 2, 5)), CHANNELS).to_dataset()
    archive.save(bad_gain, path, "sub-01/forward")
    meta = path / "sub-01" / "forward" / "gain" / "zarr.json"
    meta.write_text(meta.read_text().replace('"units": "fT/nAm"', '"units": "fT"'))
    archive.save(old, path, "sub-01/other")  # reconsolidate
    report = archive.verify(path)
    assert [(p.group, p.variable) for p in report.problems] == [("/sub-01/forward", "gain")]
    assert "gain units" in report.problems[0].message
