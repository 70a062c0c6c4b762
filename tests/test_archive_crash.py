"""Archives that never lie: kills at every protocol step and at random, concurrent
writers and readers, crafted and copied archives, corrupted metadata and chunks.

Writers run in children forked by one helper process (one import of
laminarray for all of them) and are SIGKILLed at each named step of the write
protocol (``LAMINARRAY_ARCHIVE_FAULT``) or after a random delay; this process
then checks what ``archive.open``, ``archive.verify`` and plain xarray see.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray import ArchiveError, archive
from laminarray.archive import _commit, _layout

CHANNELS = [f"MEG{i:03d}" for i in range(4)]
TIMES = np.arange(10) / 100.0
OLD = np.arange(4 * 10 * 8, dtype="f4").reshape(4, 10, 8)
NEW_VALUE = 7.0

_HELPER = """
import json, os, random, signal, sys, time
import numpy as np
import xarray as xr
import laminarray as lam
from laminarray import archive
from laminarray.archive import _commit

CH = [f"MEG{i:03d}" for i in range(4)]
TIMES = np.arange(10) / 100.0

def sensor(value, n, start=0):
    return lam.sensor_dataset(np.full((4, 10, n), value, "f4"), CH, TIMES,
                              trials=np.arange(start, start + n))

def write(kind, path, durable=False):
    if kind == "tree":
        new = sensor(7.0, 3)
        tree = xr.DataTree.from_dict({"sensor": new, "results/copy": new.rename(data="other")})
        archive.save(tree, path, "sub-01", durable=durable)
    elif kind == "append":
        archive.append(sensor(7.0, 3, start=8), path, "sub-01/sensor", durable=durable)
    elif kind == "root":
        archive.save(xr.DataTree.from_dict({"sub-02/sensor": sensor(7.0, 3)}), path,
                     durable=durable)
    elif kind.startswith("group-"):  # a concurrent creator: its own group
        archive.save(sensor(float(kind[6:]), 2), path, f"sub-{kind[6:]}/sensor")
    elif kind.startswith("trials-"):  # a concurrent appender: its own trials
        start = 100 + 10 * int(kind[7:])
        archive.append(sensor(float(kind[7:]), 2, start=start), path, "sub-01/sensor")
    elif kind.startswith("loop-"):  # a writer racing readers: value k has k + 1 trials
        for k in range(int(kind[5:])):
            archive.save(sensor(float(k), k + 1), path, "sub-01/sensor")

def child(case):
    if case.get("step"):
        os.environ[_commit.FAULT_ENV] = case["step"]
    try:
        write(case["kind"], case["path"], case.get("durable", False))
    except BaseException as exc:
        print(json.dumps({"error": repr(exc)}), file=sys.stderr, flush=True)
        os._exit(3)
    os._exit(0)

def status(raw):
    return -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)

results = {}
cases = json.load(sys.stdin)
rng = random.Random(0)
if cases["mode"] == "sequential":
    for case in cases["cases"]:
        pid = os.fork()
        if pid == 0:
            child(case)
        if case.get("kill_after") is not None:
            time.sleep(rng.uniform(0, case["kill_after"]))
            os.kill(pid, signal.SIGKILL)
        results[case["path"]] = status(os.waitpid(pid, 0)[1])
else:  # concurrent: all at once
    pids = {}
    for case in cases["cases"]:
        pid = os.fork()
        if pid == 0:
            child(case)
        pids[pid] = case["kind"]
    for pid, kind in pids.items():
        results[kind] = status(os.waitpid(pid, 0)[1])
print(json.dumps(results))
"""


def _run_helper(tmp_path, mode, cases, timeout=240):
    script = tmp_path / "helper.py"
    script.write_text(textwrap.dedent(_HELPER))
    out = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps({"mode": mode, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _sensor(data, start=0):
    return lam.sensor_dataset(
        data, CHANNELS, TIMES, trials=np.arange(start, start + data.shape[-1])
    )


def _old_archive(path):
    old = _sensor(OLD)
    archive.save(old, path, "sub-01/sensor", chunks={"trial": 2})
    archive.save(old.rename(data="other"), path, "sub-01/results/copy", chunks={"trial": 2})


def _states(kind):
    """The complete old and complete new content of the groups a write of ``kind`` touches."""
    new3 = np.full((4, 10, 3), NEW_VALUE, "f4")
    if kind == "tree":
        old = {"sub-01/sensor": OLD, "sub-01/results/copy": OLD}
        return old, {"sub-01/sensor": new3, "sub-01/results/copy": new3}
    if kind == "append":
        return {"sub-01/sensor": OLD}, {"sub-01/sensor": np.concatenate([OLD, new3], axis=-1)}
    return {"sub-01/sensor": OLD, "sub-02/sensor": None}, {
        "sub-01/sensor": None,
        "sub-02/sensor": new3,
    }


def _read_all(tree, groups):
    found = {}
    for group in groups:
        try:
            ds = tree[group].to_dataset()
        except KeyError:
            found[group] = None
            continue
        found[group] = np.asarray(ds[next(iter(ds.data_vars))].values)
    return found


def _matches(found, state):
    return all(
        (found[g] is None and want is None)
        or (found[g] is not None and want is not None and np.array_equal(found[g], want))
        for g, want in state.items()
    )


def _which_state(path, kind):
    """'old' or 'new' as seen by archive.open, checked equal for plain xarray and verify."""
    old, new = _states(kind)
    found = _read_all(archive.open(path), old)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = _read_all(xr.open_datatree(path, engine="zarr"), old)
    seen = "old" if _matches(found, old) else "new" if _matches(found, new) else None
    assert seen is not None, f"{path}: a mix of versions: {found}"
    assert _matches(plain, old if seen == "old" else new), f"{path}: plain xarray differs"
    report = archive.verify(path)
    assert report.ok, str(report)
    return seen


@pytest.mark.slow
def test_kill_at_every_step_and_at_random_moments(tmp_path):
    """Every step of a two-group save, the commit boundary of an append and of a root
    save, a durable save, and kills at random moments: always the old or the new state.

    Also the attack case of a copied crashed archive: complete, and independent.
    """
    cases = [{"kind": "tree", "step": step} for step in _commit.FAULT_STEPS]
    cases += [{"kind": k, "step": s} for k in ("append", "root") for s in ("staged", "exchanged")]
    cases.append({"kind": "tree", "step": "synced", "durable": True})
    cases += [{"kind": kind, "kill_after": 1.0} for kind in ("tree", "append", "root")]
    pristine = tmp_path / "pristine"
    _old_archive(pristine)
    for i, case in enumerate(cases):
        case["path"] = str(tmp_path / f"{i}-{case['kind']}-{case.get('step', 'random')}")
        shutil.copytree(pristine, case["path"])
    statuses, stderr = _run_helper(tmp_path, "sequential", cases)
    for case in cases:
        path, kind = case["path"], case["kind"]
        if case.get("step"):
            assert statuses[path] == -signal.SIGKILL, (path, stderr)
            expected = "new" if case["step"] == "exchanged" else "old"
            assert _which_state(path, kind) == expected, path
        else:
            _which_state(path, kind)  # old or new, never a mix
        if case.get("step") == "consolidated":  # killed with a complete stage beside it
            copy = tmp_path / "elsewhere" / "b.zarr"
            shutil.copytree(path, copy, symlinks=True)
            assert _which_state(copy, kind) == "old"
            archive.save(_sensor(np.ones((4, 10, 2), "f4")), copy, "sub-01/sensor")
            assert _which_state(path, kind) == "old"  # the original is untouched
            assert _commit.leftovers(_layout.archive_path(path))  # for its own next writer
        gc.collect()  # release the snapshots read above
        archive.save(_sensor(OLD), path, "sub-03/sensor")  # the next writer cleans up
        assert not _commit.leftovers(_layout.archive_path(path))


@pytest.mark.slow
def test_concurrent_creators_and_appenders_never_fail_nor_lose_data(tmp_path):
    created = tmp_path / "new.zarr"
    appended = tmp_path / "old.zarr"
    _old_archive(appended)
    cases = [{"kind": f"group-{i}", "path": str(created)} for i in range(4)]
    cases += [{"kind": f"trials-{i}", "path": str(appended)} for i in range(3)]
    statuses, stderr = _run_helper(tmp_path, "concurrent", cases)
    assert set(statuses.values()) == {0}, stderr
    tree = archive.open(created)
    for i in range(4):
        np.testing.assert_array_equal(tree[f"sub-{i}/sensor"]["data"].values, float(i))
    data = archive.open(appended)["sub-01/sensor"]["data"]
    assert data.sizes["trial"] == 8 + 3 * 2
    for i in range(3):
        trials = [100 + 10 * i, 101 + 10 * i]
        np.testing.assert_array_equal(data.sel(trial=trials).values, float(i))
    assert archive.verify(created).ok
    assert archive.verify(appended).ok


@pytest.mark.slow
def test_readers_racing_a_writer_never_read_wrong_data(tmp_path):
    path = tmp_path / "race.zarr"
    archive.save(_sensor(np.zeros((4, 10, 1), "f4")), path, "sub-01/sensor")
    held = archive.open(path)["sub-01/sensor"]["data"]  # a handle kept across all writes
    script = tmp_path / "helper.py"
    script.write_text(textwrap.dedent(_HELPER))
    writer = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    writer.stdin.write(
        json.dumps({"mode": "sequential", "cases": [{"kind": "loop-12", "path": str(path)}]})
    )
    writer.stdin.close()
    reads = wrong = 0
    try:
        while writer.poll() is None and reads < 400:
            data = archive.open(path)["sub-01/sensor"]["data"]
            values = data.values
            k = values.shape[-1] - 1
            reads += 1
            wrong += not np.all(values == k) or not np.all(held.values == 0)
    finally:
        writer.wait(timeout=240)
    assert writer.returncode == 0
    assert reads > 0
    assert wrong == 0
    assert np.all(archive.open(path)["sub-01/sensor"]["data"].values == 11)


def test_a_handle_reads_its_snapshot_whatever_is_written_later(tmp_path):
    path = tmp_path / "s.zarr"
    archive.save(_sensor(OLD), path, "sub-01/sensor", chunks={"trial": 2})
    tree = archive.open(path)
    lazy = tree["sub-01/sensor"]["data"]
    archive.save(_sensor(np.ones((4, 10, 3), "f4")), path, "sub-01/sensor")
    archive.append(_sensor(np.ones((4, 10, 2), "f4"), start=3), path, "sub-01/sensor")
    np.testing.assert_array_equal(lazy.values, OLD)  # the version it opened
    again = pickle.loads(pickle.dumps(lazy))  # e.g. sent to a dask worker
    np.testing.assert_array_equal(again.values, OLD)
    assert archive.open(path)["sub-01/sensor"]["data"].shape == (4, 10, 5)
    assert len(_commit.leftovers(path)) == 1  # the held version
    del tree, lazy, again
    gc.collect()  # a DataTree's parent/child links are reference cycles
    archive.save(_sensor(OLD), path, "sub-02/sensor")  # released: collected
    assert not _commit.leftovers(path)


# --------------------------------------------------------------------------- attacks


def test_a_crafted_journal_never_makes_laminarray_touch_other_paths(tmp_path):
    path = tmp_path / "a.zarr"
    _old_archive(path)
    victim = tmp_path / "victim"
    (victim / "keep").mkdir(parents=True)
    staging = path / _layout.LEGACY_STAGING
    staging.mkdir()
    journal = {"stage": str(victim), "target": str(victim / "keep"), "trash": str(victim)}
    (staging / "x.swap.json").write_text(json.dumps(journal))
    (tmp_path / ".a.zarr.laminarray.swap.json").write_text(json.dumps(journal))
    archive.open(path)
    archive.save(_sensor(OLD), path, "sub-02/sensor")
    archive.verify(path)
    assert (victim / "keep").is_dir()


def test_a_symlinked_staging_directory_is_never_followed(tmp_path):
    path = tmp_path / "a.zarr"
    _old_archive(path)
    scratch = tmp_path / "scratch"
    (scratch / "precious").mkdir(parents=True)
    (path / _layout.LEGACY_STAGING).symlink_to(scratch)
    archive.save(_sensor(OLD), path, "sub-02/sensor")
    assert (scratch / "precious").is_dir()
    shutil.rmtree(path / _commit.META)
    (path / _commit.META).symlink_to(scratch)
    with pytest.raises(ArchiveError, match=r"must be a directory.*symlink"):
        archive.save(_sensor(OLD), path, "sub-03/sensor")
    assert (scratch / "precious").is_dir()
    assert _which_state(path, "tree") == "old"


def test_a_moved_archive_is_complete(tmp_path):
    path = tmp_path / "a.zarr"
    _old_archive(path)
    moved = tmp_path / "elsewhere" / "moved.zarr"
    moved.parent.mkdir()
    path.rename(moved)
    assert _which_state(moved, "tree") == "old"
    archive.save(_sensor(OLD), moved, "sub-02/sensor")
    assert archive.verify(moved).ok


# --------------------------------------------------------------------------- corruption


def _damages(path):
    """(description, function) pairs that each damage one metadata file or chunk."""
    sensor = path / "sub-01" / "sensor"

    def edit_json(file, change):
        def damage():
            meta = json.loads(file.read_text())
            change(meta)
            file.write_text(json.dumps(meta))

        return damage

    def set_scale(meta):
        meta["attributes"]["scale_factor"] = 2.0

    def set_units(meta):
        meta["attributes"]["units"] = "T"

    def grow(meta):
        meta["shape"][-1] += 2

    def flip(file):
        def damage():
            raw = bytearray(file.read_bytes())
            raw[len(raw) // 2] ^= 0x55
            file.write_bytes(bytes(raw))

        return damage

    chunk = sensor / "data" / "c" / "0" / "0" / "1"
    return [
        ("array attr scale_factor", edit_json(sensor / "data" / "zarr.json", set_scale)),
        ("array units", edit_json(sensor / "data" / "zarr.json", set_units)),
        ("array shape", edit_json(sensor / "data" / "zarr.json", grow)),
        ("consolidated scale_factor", _edit_consolidated(path, set_scale)),
        ("consolidated shape", _edit_consolidated(path, grow)),
        ("array zarr.json invalid", lambda: (sensor / "data" / "zarr.json").write_text("{")),
        ("group zarr.json invalid", lambda: (sensor / "zarr.json").write_text("[1")),
        ("root zarr.json invalid", lambda: (path / "zarr.json").write_text("nope")),
        ("manifest invalid", lambda: (sensor / _layout.MANIFEST).write_text("{")),
        ("marker invalid", lambda: (sensor / _layout.MARKER).write_text("]")),
        ("marker missing", lambda: (sensor / _layout.MARKER).unlink()),
        ("chunk flipped", flip(chunk)),
        ("chunk truncated", lambda: chunk.write_bytes(chunk.read_bytes()[:10])),
        ("chunk missing", chunk.unlink),
        ("time chunk flipped", flip(sensor / "time" / "c" / "0")),
    ]


def _edit_consolidated(path, change):
    def damage():
        meta = json.loads((path / "zarr.json").read_text())
        change(meta["consolidated_metadata"]["metadata"]["sub-01/sensor/data"])
        (path / "zarr.json").write_text(json.dumps(meta))

    return damage


@pytest.mark.slow
def test_every_damage_is_reported_by_verify_and_never_read_silently(tmp_path):
    pristine = tmp_path / "pristine.zarr"
    _old_archive(pristine)
    for i, (what, _) in enumerate(_damages(pristine)):
        path = tmp_path / f"damaged-{i}.zarr"
        shutil.copytree(pristine, path)
        dict(_damages(path))[what]()
        report = archive.verify(path)  # never raises
        assert not report.ok, what
        groups = {p.group for p in report.problems}
        assert groups & {"/", "/sub-01/sensor"}, (what, str(report))
        if "root" not in what:
            assert "/sub-01/sensor" in groups, (what, str(report))
        try:
            values = archive.open(path)["sub-01/sensor"]["data"].values
        except Exception:  # an explicit error (ArchiveError, checksum): fine
            continue
        np.testing.assert_array_equal(values, OLD, err_msg=what)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("group", "match"),
    [
        ("a/../b", "relative path"),
        ("a\\..\\b", "path separator"),
        ("a/b\x00c", "control character"),
        ("a/.hidden", "starts with '.'"),
        ("a/__x", "reserved by Zarr"),
        ("a//b", "empty"),
        ("", "empty string"),
        ("x" * 300, "longer than 255"),
        ("a/" + "b/" * 600, "longer than 1024"),
    ],
)
def test_invalid_group_names_are_refused_clearly(tmp_path, group, match):
    with pytest.raises(ArchiveError, match=match):
        archive.save(_sensor(OLD), tmp_path / "n.zarr", group)


def test_names_colliding_with_arrays_or_invalid_variables_are_refused(tmp_path):
    path = tmp_path / "n.zarr"
    archive.save(_sensor(OLD), path, "sub-01/sensor")
    with pytest.raises(ArchiveError, match="is an array"):
        archive.save(_sensor(OLD), path, "sub-01/sensor/data")
    with pytest.raises(ArchiveError, match="is an array"):
        archive.save(_sensor(OLD), path, "sub-01/sensor/data/x")
    with pytest.raises(ArchiveError, match=r"variable name in /r.*path separator"):
        archive.save(xr.Dataset({"a\\b": ("x", [1.0])}), path, "r")
    with pytest.raises(ArchiveError, match=r"variable name in /r.*empty"):
        archive.save(xr.Dataset({"": ("x", [1.0])}), path, "r")
    assert archive.verify(path).ok
