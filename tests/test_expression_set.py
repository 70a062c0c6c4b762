"""Expression sets: construction, combine/crop/rename, best transforms, archive round trip."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from laminarray import LaminarrayError, SchemaError
from laminarray.expression import (
    best_transforms,
    combine,
    crop,
    expression_set,
    rename,
    validate_expression_set,
)

LATENCIES = np.array([-0.1, 0.0, 0.1, 0.2, 0.3])


def _set(names=("pitch", "loudness"), seed=0):
    """Two transforms, 3 layers x 4 vertices (2 lh, 2 rh), 5 latencies, with known optima."""
    rng = np.random.default_rng(seed)
    log_p = -rng.uniform(0.0, 1.0, (len(names), 3, 4, LATENCIES.size))
    log_p[:, :, 3] = 0.0  # vertex 3 expresses nothing (p = 1 everywhere)
    log_p[0, 1, 0, 2] = -20.0  # pitch at layer 1, vertex 0, 0.1 s
    log_p[-1, 2, 2, 4] = -15.0  # loudness at white, vertex 2, 0.3 s
    return expression_set(
        log_p, list(names), LATENCIES, layers=["pial", "0.500", "white"],
        hemi=["lh", "lh", "rh", "rh"],
    )  # fmt: skip


def test_constructor_builds_a_valid_labelled_set():
    es = _set()
    assert es["log_p"].dims == ("transform", "layer", "vertex", "latency")
    assert es["latency"].attrs["units"] == "s"
    assert es["hemi"].values.tolist() == ["lh", "lh", "rh", "rh"]
    assert es["depth"].values.tolist() == [0.0, 0.5, 1.0]
    transposed = es.assign(log_p=es["log_p"].transpose("latency", "vertex", "transform", "layer"))
    xr.testing.assert_identical(validate_expression_set(transposed), es)


def test_sensor_space_set():
    es = expression_set(np.zeros((1, 3, 2)) - 1, ["f"], [0.0, 0.1], channels=["a", "b", "c"])
    assert es["log_p"].dims == ("transform", "channel", "latency")
    frame = best_transforms(es)
    assert frame.columns.tolist() == ["channel", "transform", "latency", "log_p"]


def test_validation_names_the_problem():
    with pytest.raises(SchemaError, match="log_p"):
        validate_expression_set(xr.Dataset())
    with pytest.raises(SchemaError, match="must have dims"):
        validate_expression_set(_set().rename(vertex="source"))
    with pytest.raises(LaminarrayError, match="must have dims"):
        expression_set(np.zeros((1, 2, 3)), ["f"], [0.0, 0.1, 0.2])


def test_best_transforms_picks_the_optimum_and_omits_p_of_one():
    frame = best_transforms(_set())
    assert len(frame) == 3 * 3  # 3 layers x vertices 0-2; vertex 3 omitted
    assert 3 not in frame["vertex"].tolist()
    top = frame.iloc[0]
    assert (top["layer"], top["vertex"], top["hemi"]) == ("0.500", 0, "lh")
    assert (top["transform"], top["latency"], top["log_p"]) == ("pitch", 0.1, -20.0)
    second = frame.iloc[1]
    assert (second["layer"], second["vertex"], second["transform"]) == ("white", 2, "loudness")
    assert second["latency"] == pytest.approx(0.3)
    # every row is the minimum of its source over transforms and latencies
    es = _set()
    for row in frame.itertuples():
        assert row.log_p == es["log_p"].sel(layer=row.layer, vertex=row.vertex).min()


def test_combine_concatenates_transforms():
    a, b = _set(("pitch", "loudness")), _set(("roughness",), seed=1)
    both = combine(a, b)
    assert both["transform"].values.tolist() == ["pitch", "loudness", "roughness"]
    xr.testing.assert_identical(both.sel(transform=["roughness"]), b)
    with pytest.raises(LaminarrayError, match="share transforms"):
        combine(a, a)
    with pytest.raises(LaminarrayError, match="different `latency`"):
        combine(a, b.assign_coords(latency=LATENCIES + 1))
    with pytest.raises(LaminarrayError, match="different `vertex`"):
        combine(a, b.isel(vertex=[0, 1]))


def test_crop_is_inclusive():
    es = crop(_set(), 0.0, 0.2)
    np.testing.assert_allclose(es["latency"].values, [0.0, 0.1, 0.2])
    assert crop(_set(), start=0.25).sizes["latency"] == 1
    with pytest.raises(LaminarrayError, match="no latency"):
        crop(_set(), 1.0, 2.0)


def test_rename_transforms():
    es = rename(_set(), {"pitch": "f0"})
    assert es["transform"].values.tolist() == ["f0", "loudness"]
    np.testing.assert_array_equal(es["log_p"].values, _set()["log_p"].values)
    with pytest.raises(LaminarrayError, match="unknown transforms"):
        rename(_set(), {"nope": "x"})
    with pytest.raises(LaminarrayError, match="duplicate"):
        rename(_set(), {"pitch": "loudness"})


def test_archive_round_trip_is_identical(tmp_path):
    archive = pytest.importorskip("laminarray.archive")
    es = _set().assign_attrs(n_splits=400, seed=0, space="source")
    archive.save(es, tmp_path / "study", group="sub-01/results/expression")
    opened = archive.open(tmp_path / "study")["sub-01/results/expression"].to_dataset().compute()
    assert "provenance" in opened.attrs
    opened.attrs.pop("provenance")
    xr.testing.assert_identical(opened, es)
