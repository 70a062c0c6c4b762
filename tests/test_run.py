"""Configured runs on a study archive: run_analysis and the demo step."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import xarray as xr

import laminarray as lam
from laminarray import LaminarrayError, archive
from laminarray.cli import add_run_arguments, run_command
from laminarray.datasets import synthetic_cortex
from laminarray.power import roi_power
from laminarray.run import (
    demo_step,
    load_config,
    run_analysis,
    winning_column,
)

N_CH = 12


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny archive: synthetic mesh (11 layers x 60 columns), sensors, one inverse."""
    path = tmp_path_factory.mktemp("run") / "study.zarr"
    mesh = synthetic_cortex(n_vertices=60, n_layers=11, seed=0)
    rng = np.random.default_rng(0)
    channels = [f"MEG{i:03d}" for i in range(N_CH)]
    times = -0.2 + np.arange(60) / 100.0
    data = rng.standard_normal((N_CH, 60, 10))
    data[:3, times >= 0] *= 3.0
    sensor = lam.sensor_dataset(data, channels, times)
    projector = lam.projector_dataarray(
        rng.standard_normal((11, 60, N_CH)), channels, vertices=mesh["vertex"].values
    )
    inverse = xr.Dataset({"projector": projector}, attrs={"method": "EBB"})
    archive.save(mesh.drop_vars(["scalp_vertices", "scalp_faces"]), path, "sub-01/mesh")
    archive.save(sensor, path, "sub-01/sensor")
    archive.save(inverse, path, "sub-01/inverse/ebb")
    return path, sensor, projector, mesh


def test_run_analysis_saves_results(study, tmp_path):
    path, sensor, projector, _ = study
    config = tmp_path / "analysis.toml"
    config.write_text(
        'woi = [0.0, 0.3]\nbaseline = [-0.2, 0.0]\nperc_thresh = 80\ncsd_method = "StandardCSD"\n'
    )
    out = run_analysis(path, config, progress=False)
    expected = roi_power(sensor, projector, (0.0, 0.3), (-0.2, 0.0), perc_thresh=80)
    xr.testing.assert_allclose(
        out["sub-01"]["roi_power"].reset_coords(drop=True), expected.reset_coords(drop=True)
    )
    tree = archive.open(path)
    stored = tree["sub-01/results/roi_power"].to_dataset().compute()
    np.testing.assert_allclose(stored["t"], expected["t"])
    csd = tree["sub-01/results/csd"].to_dataset()["csd"]
    assert csd.dims == ("depth", "time")
    assert int(csd["vertex"]) == winning_column(expected)


def test_default_windows_and_demo_step(study):
    path, sensor, projector, _ = study
    results = demo_step(path, "sub-01", csd_method="KCSD1D")
    expected = roi_power(sensor, projector, (0.0, 0.4), (-0.2, 0.0))
    np.testing.assert_allclose(results["roi_power"]["t"], expected["t"])
    assert results["csd"].sizes["depth"] == 100
    assert results["csd"]["csd"].attrs["method"] == "KCSD1D"


def test_winning_column_is_the_roi_max():
    result = xr.Dataset(
        {
            "t_map": (("layer", "vertex"), [[1.0, 5.0, 2.0], [0.0, 1.0, 9.0]]),
            "roi": ("vertex", [True, True, False]),
        },
        coords={"layer": ["pial", "white"], "vertex": [10, 11, 12]},
    )
    assert winning_column(result) == 11


def test_config_errors(tmp_path):
    with pytest.raises(LaminarrayError, match="unknown config keys"):
        load_config({"window": [0, 1]})
    bad = tmp_path / "bad.toml"
    bad.write_text("woi = [0,")
    with pytest.raises(LaminarrayError, match="cannot read the analysis config"):
        load_config(bad)
    assert load_config(None, woi=None)["woi"] is None
    assert load_config({"measure": "variance"}, measure=None)["measure"] == "variance"


def test_command_line(study, capsys):
    path, sensor, projector, _ = study
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    args = parser.parse_args(
        [
            str(path),
            "--woi",
            "0",
            "0.3",
            "--baseline",
            "-0.2",
            "0",
            "--layers",
            "all",
            "--csd-method",
            "none",
            "--no-progress",
        ]
    )
    assert run_command(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("sub-01: t profile pial=")
    expected = roi_power(sensor, projector, (0.0, 0.3), (-0.2, 0.0), layers="all")
    assert f"ROI {int(expected.roi.sum())} vertices" in line
