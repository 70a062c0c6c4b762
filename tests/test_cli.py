"""The `laminarray` command, run as a subprocess like a user would."""

from __future__ import annotations

import subprocess
import sys

import pytest
import xarray as xr


def _run(*args, check_rc=0):
    proc = subprocess.run(
        [sys.executable, "-m", "laminarray.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def demo_archive(demo_out):
    return demo_out / "demo.zarr"


@pytest.mark.slow
def test_demo_writes_an_archive_xarray_opens(demo_archive):
    tree = xr.open_datatree(demo_archive, engine="zarr")
    mesh = tree["sub-01/mesh"]
    assert mesh["vertices"].dims == ("layer", "vertex", "xyz")
    assert mesh["vertices"].attrs["units"] == "mm"
    assert mesh.sizes["layer"] == 11
    assert tree.attrs["schema_version"] == 1


@pytest.mark.slow
def test_info_and_verify(demo_archive):
    info = _run("info", str(demo_archive)).stdout
    assert "/sub-01/mesh" in info
    assert "vertices" in info
    assert "(layer: 11, vertex: 300, xyz: 3)" in info
    assert "units mm" in info
    assert "OK" in _run("verify", str(demo_archive)).stdout


def test_verify_exits_1_with_a_report(demo_archive, tmp_path):
    broken = tmp_path / "broken.zarr"
    subprocess.run(["cp", "-r", str(demo_archive), str(broken)], check=True)
    chunk = broken / "sub-01" / "mesh" / "thickness" / "c" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[-8] ^= 0x01
    chunk.write_bytes(bytes(raw))
    proc = _run("verify", str(broken), check_rc=1)
    assert "/sub-01/mesh thickness" in proc.stdout
    assert "1 problem" in proc.stdout


def test_errors_are_one_line_and_exit_1(tmp_path):
    proc = _run("info", str(tmp_path / "missing.zarr"), check_rc=1)
    assert "laminarray info: error:" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_run_writes_results_and_reports_the_laminar_test(demo_archive, tmp_path):
    copy = tmp_path / "copy.zarr"
    subprocess.run(["cp", "-r", str(demo_archive), str(copy)], check=True)
    proc = _run(
        "run",
        str(copy),
        "--woi",
        "0.1",
        "0.3",
        "--baseline",
        "-0.2",
        "0",
        "--layers",
        "all",
        "--csd-method",
        "StandardCSD",
        "--no-progress",
    )
    assert "sub-01:" in proc.stdout
    assert "white=" in proc.stdout
    result = xr.open_datatree(copy, engine="zarr")["sub-01/results/roi_power"]
    assert result["t"].dims == ("layer",)
    assert result.attrs["woi"] == [0.1, 0.3]
    assert "OK" in _run("verify", str(copy)).stdout


def test_help_imports_no_analysis_module():
    """`laminarray --help` answers at once: not even numpy or xarray is imported."""
    code = (
        "import sys\n"
        "from laminarray.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('numpy', 'xarray', 'dask', 'scipy', 'zarr', 'laminarray.archive')\n"
        "print('loaded:', [m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "usage: laminarray" in proc.stdout
    assert "loaded: []" in proc.stdout


def test_info_into_a_closed_pipe_exits_quietly(tmp_path):
    """`laminarray info x.zarr | head` must not end in a BrokenPipeError traceback."""
    import os

    import numpy as np

    import laminarray as lam

    path = tmp_path / "x.zarr"
    times = lam.schema.time_axis(10, 100.0)
    lam.archive.save(lam.sensor_dataset(np.ones((2, 10, 1)), ["a", "b"], times), path, "s/sensor")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "laminarray.cli", "info", str(path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr
    assert "BrokenPipeError" not in proc.stderr
    assert proc.returncode == 1
