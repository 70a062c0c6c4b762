"""The data model: constructors, validators, corruptions, consistency, laziness."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import laminarray as lam
from laminarray import SchemaError, schema
from laminarray.testing import (
    gain_dataarrays,
    mesh_datasets,
    raise_if_dask_computes,
    sensor_datasets,
)

RNG = np.random.default_rng(0)
BACKENDS = {"numpy": np.asarray, "dask": lambda a: da.from_array(np.asarray(a), chunks=-1)}
CHANNELS = ["MEG001", "MEG002", "MEG003"]
TIMES = np.array([-0.1, 0.0, 0.1, 0.2])


# --------------------------------------------------------------------------- constructors


def test_layer_names_and_depths():
    assert schema.default_layer_names(11) == [
        "pial", "0.900", "0.800", "0.700", "0.600", "0.500", "0.400", "0.300", "0.200",
        "0.100", "white",
    ]  # fmt: skip
    assert schema.default_layer_names(1) == ["pial"]
    np.testing.assert_allclose(schema.layer_depths(3), [0.0, 0.5, 1.0])
    with pytest.raises(SchemaError, match="n_layers"):
        schema.default_layer_names(0)


@pytest.mark.parametrize("backend", list(BACKENDS.values()), ids=list(BACKENDS))
def test_sensor_dataset(backend):
    data = RNG.standard_normal((3, 4, 2))
    ds = lam.sensor_dataset(backend(data), CHANNELS, TIMES, conditions=["a", "b"], bad=[0, 1, 0])
    assert ds["data"].dims == ("channel", "time", "trial")
    assert ds["data"].attrs == {"units": "fT", "long_name": "sensor signal"}
    assert ds["time"].attrs["units"] == "s"
    assert ds["bad"].values.tolist() == [False, True, False]
    assert ds["condition"].values.tolist() == ["a", "b"]
    assert ds.attrs["sfreq"] == pytest.approx(10.0)
    np.testing.assert_array_equal(ds["data"].values, data)
    one = lam.sensor_dataset(data[..., 0], CHANNELS, TIMES, ch_types="EEG")
    assert one.sizes["trial"] == 1
    assert one["data"].attrs["units"] == "uV"


def test_gain_unflattens_lameg_layer_major_order():
    n_layers, n_vertices = 3, 5
    flat = RNG.standard_normal((3, n_layers * n_vertices))
    gain = lam.gain_dataarray(flat, CHANNELS, layers=schema.default_layer_names(n_layers))
    assert gain.dims == ("channel", "layer", "vertex")
    # source j of layer l is column l * n_vertices + j in laMEG's stacked gain
    np.testing.assert_array_equal(gain.sel(layer="0.500").values, flat[:, 5:10])
    np.testing.assert_array_equal(gain.isel(vertex=2).values, flat[:, [2, 7, 12]])
    assert gain.name == "gain"
    assert gain["depth"].values.tolist() == [0.0, 0.5, 1.0]
    free = lam.gain_dataarray(RNG.standard_normal((3, 2, 4, 3)), CHANNELS)
    assert free.dims == ("channel", "layer", "vertex", "xyz")


@pytest.mark.parametrize("backend", list(BACKENDS.values()), ids=list(BACKENDS))
def test_projector_and_source(backend):
    proj = lam.projector_dataarray(
        backend(RNG.standard_normal((6, 3))), CHANNELS, layers=["a", "b"]
    )
    assert proj.dims == ("layer", "vertex", "channel")
    assert proj.shape == (2, 3, 3)
    src = lam.source_dataarray(backend(RNG.standard_normal((2, 3, 4))), TIMES, hemi="lh")
    assert src.dims == ("layer", "vertex", "time", "trial")
    assert src.attrs["units"] == "nAm"
    assert src["hemi"].values.tolist() == ["lh"] * 3
    assert isinstance(src.data, da.Array) == isinstance(backend(np.ones(1)), da.Array)


def test_mesh_dataset_broadcasts_a_column_orientation():
    pos = np.zeros((2, 3, 3))
    pos[1, :, 2] = -2.0
    ori = np.tile([0.0, 0.0, -1.0], (3, 1))
    mesh = lam.mesh_dataset(pos, [[0, 1, 2]], orientation=ori)
    assert mesh["orientation"].shape == (2, 3, 3)
    np.testing.assert_allclose(mesh["thickness"].values, 2.0)
    with pytest.raises(SchemaError, match="`orientation` must have the shape"):
        lam.mesh_dataset(pos, [[0, 1, 2]], orientation=np.ones((4, 3)))
    with pytest.raises(SchemaError, match="`faces` must have shape"):
        lam.mesh_dataset(pos, [0, 1, 2])


# --------------------------------------------------------------------------- validators: properties


@settings(max_examples=25, deadline=None)
@given(sensor_datasets(), gain_dataarrays(), mesh_datasets())
def test_random_valid_objects_validate(sensor, gain, mesh):
    xr.testing.assert_identical(lam.validate_sensor(sensor), sensor)
    xr.testing.assert_identical(lam.validate_gain(gain), gain)
    xr.testing.assert_identical(lam.validate_mesh(mesh), mesh)


def _rename_dim(ds):
    return ds.rename_dims(time="sample"), "must have dims .*missing \\['time'\\]"


def _drop_channel(ds):
    return ds.drop_vars("channel"), "missing the `channel` coordinate"


def _duplicate_channel(ds):
    labels = ds["channel"].values.copy()
    labels[-1] = labels[0]
    return ds.assign_coords(channel=labels), "duplicated `channel` labels: \\['MEG000'\\]"


def _reverse_time(ds):
    return ds.assign_coords(time=ds["time"].values[::-1]), "`time` must be strictly increasing"


def _drop_units(ds):
    ds = ds.copy()
    ds["data"].attrs.pop("units")
    return ds, "no `units` attribute"


def _wrong_units(ds):
    ds = ds.copy()
    ds["data"].attrs["units"] = "V"
    return ds, "must be in one of \\('fT', 'T', 'pT'\\); found units 'V'"


def _nan(ds):
    data = ds["data"].values.copy()
    data.flat[0] = np.nan
    return ds.copy(data={"data": data}), "contains 1 NaN/inf values"


def _milliseconds(ds):
    time = ds["time"].copy()
    time.attrs["units"] = "ms"
    return ds.assign_coords(time=time), "must be in seconds"


CORRUPTIONS = {
    "wrong dims": (_rename_dim, 1, 1),
    "missing coord": (_drop_channel, 1, 1),
    "duplicate channels": (_duplicate_channel, 2, 1),
    "non-monotonic time": (_reverse_time, 1, 2),
    "missing units": (_drop_units, 1, 1),
    "inconsistent units": (_wrong_units, 1, 1),
    "NaN": (_nan, 1, 1),
    "time in ms": (_milliseconds, 1, 1),
}


@settings(max_examples=40, deadline=None)
@given(sensor_datasets(), st.sampled_from(sorted(CORRUPTIONS)))
def test_random_corruptions_are_rejected_with_the_right_message(ds, name):
    corrupt, min_channels, min_times = CORRUPTIONS[name]
    if ds.sizes["channel"] < min_channels or ds.sizes["time"] < min_times:
        return
    bad, message = corrupt(ds)
    with pytest.raises(SchemaError, match=message):
        lam.validate_sensor(bad)


@settings(max_examples=15, deadline=None)
@given(gain_dataarrays(), st.permutations(["channel", "layer", "vertex"]))
def test_any_dim_order_is_transposed(gain, order):
    back = lam.validate_gain(gain.transpose(*order))
    assert back.dims == ("channel", "layer", "vertex")
    xr.testing.assert_identical(back, gain)


def test_other_validators_reject_with_names():
    gain = lam.gain_dataarray(RNG.standard_normal((3, 2, 4)), CHANNELS)
    with pytest.raises(SchemaError, match="gain units must be sensor units per source units"):
        lam.validate_gain(gain.assign_attrs(units="fT"))
    with pytest.raises(SchemaError, match="gain is missing the `depth \\(layer\\)` coordinate"):
        lam.validate_gain(gain.drop_vars("depth"))
    with pytest.raises(SchemaError, match="source estimate must have dims"):
        lam.validate_source(gain)
    with pytest.raises(SchemaError, match=r"must be an xarray\.DataArray"):
        lam.validate_projector(np.ones((2, 2, 2)))
    mesh = lam.mesh_dataset(np.zeros((1, 3, 3)), [[0, 1, 2]])
    with pytest.raises(SchemaError, match=r"index vertices outside 0\.\.2: found range 0\.\.3"):
        lam.validate_mesh(mesh.assign(faces=(("face", "corner"), [[0, 1, 3]])))
    with pytest.raises(SchemaError, match="unit vectors"):
        lam.validate_mesh(
            mesh.assign(orientation=(("layer", "vertex", "xyz"), np.ones((1, 3, 3))))
        )


def test_projector_with_sliding_windows():
    proj = lam.projector_dataarray(RNG.standard_normal((2, 4, 3)), CHANNELS)
    windows = xr.concat([proj, proj], dim="window").transpose(
        "layer", "vertex", "channel", "window"
    )
    assert lam.validate_projector(windows).dims == ("window", "layer", "vertex", "channel")


# --------------------------------------------------------------------------- consistency


@settings(max_examples=20, deadline=None)
@given(gain_dataarrays(max_channels=5, max_layers=3, max_vertices=6), st.data())
def test_random_mismatches_between_objects_are_named(gain, data):
    n_ch, n_layers, n_vertices = gain.shape
    channels = gain["channel"].values.tolist()
    sensor = lam.sensor_dataset(np.ones((n_ch, 2)), channels, [0.0, 0.01])
    lam.check_consistent(sensor=sensor, gain=gain)
    renamed = data.draw(st.integers(0, n_ch - 1))
    other = sensor.assign_coords(
        channel=[c if i != renamed else "EEG999" for i, c in enumerate(channels)]
    )
    with pytest.raises(
        SchemaError,
        match=rf"only in sensor data \['EEG999'\].*only in gain \['{channels[renamed]}'\]",
    ):
        lam.check_consistent(sensor=other, gain=gain)
    dim = data.draw(st.sampled_from(["layer", "vertex"]))
    extra = data.draw(st.integers(1, 3))
    sizes = {"layer": n_layers, "vertex": n_vertices}
    sizes[dim] += extra
    mesh = lam.mesh_dataset(np.zeros((sizes["layer"], sizes["vertex"], 3)), [[0, 0, 0]])
    plural = {"layer": "layers", "vertex": "vertices"}[dim]
    message = f"number of {plural}: gain has {gain.sizes[dim]}, mesh has {sizes[dim]}"
    with pytest.raises(SchemaError, match=message):
        lam.check_consistent(gain=gain, mesh=mesh)


def test_check_consistent_names_channels_units_and_counts():
    sensor = lam.sensor_dataset(RNG.standard_normal((3, 4)), CHANNELS, TIMES)
    gain = lam.gain_dataarray(RNG.standard_normal((3, 2, 3)), CHANNELS)
    mesh = lam.mesh_dataset(np.zeros((2, 3, 3)), [[0, 1, 2]])
    lam.check_consistent(sensor=sensor, gain=gain, mesh=mesh)
    other = gain.assign_coords(channel=["MEG001", "MEG002", "EEG009"])
    with pytest.raises(
        SchemaError, match=r"only in sensor data \['MEG003'\].*only in gain \['EEG009'\]"
    ):
        lam.check_consistent(sensor=sensor, gain=other)
    tesla = sensor.copy()
    tesla["data"].attrs["units"] = "T"
    with pytest.raises(SchemaError, match="sensor data are in 'T' but the gain is in 'fT/nAm'"):
        lam.check_consistent(sensor=tesla, gain=gain)
    wide = lam.mesh_dataset(np.zeros((2, 4, 3)), [[0, 1, 2]])
    with pytest.raises(SchemaError, match="gain has 3, mesh has 4"):
        lam.check_consistent(gain=gain, mesh=wide)
    deep = lam.mesh_dataset(np.zeros((3, 3, 3)), [[0, 1, 2]])
    with pytest.raises(SchemaError, match="number of layers: gain has 2, mesh has 3"):
        lam.check_consistent(gain=gain, mesh=deep)
    shifted = gain.assign_coords(vertex=[0, 1, 5])
    with pytest.raises(SchemaError, match="vertex labels differ"):
        lam.check_consistent(gain=shifted, mesh=mesh)


def test_labels_read_from_zarr_string_dtype_validate():
    sensor = lam.sensor_dataset(RNG.standard_normal((3, 4)), CHANNELS, TIMES)
    strings = np.asarray(CHANNELS, dtype=np.dtypes.StringDType())
    sensor = sensor.assign_coords(
        ch_type=("channel", np.asarray(["MEG"] * 3, dtype=strings.dtype))
    )
    lam.validate_sensor(sensor.assign_coords(channel=strings))
    gain = lam.gain_dataarray(RNG.standard_normal((3, 1, 2)), CHANNELS)
    lam.check_consistent(sensor=sensor.assign_coords(channel=strings), gain=gain)


# --------------------------------------------------------------------------- laziness


def test_dask_data_validate_without_computing_and_finite_check_is_lazy():
    data = np.ones((3, 4, 2))
    data[1, 2, 0] = np.inf
    lazy = da.from_array(data, chunks=(3, 4, 1))
    with raise_if_dask_computes():
        ds = lam.sensor_dataset(lazy, CHANNELS, TIMES)
        checked = lam.validate_sensor(ds.transpose("trial", "channel", "time"), check_finite=True)
        src = lam.validate_source(
            lam.source_dataarray(da.ones((2, 3, 4, 2)), TIMES), check_finite=True
        )
    assert checked["data"].dims == ("channel", "time", "trial")
    assert isinstance(checked["data"].data, da.Array)
    with pytest.raises(SchemaError, match="sensor data contains 1 NaN/inf values"):
        checked["data"].values  # noqa: B018
    checked["data"].isel(trial=1).values  # noqa: B018  (the clean chunk computes)
    assert float(src.sum()) == 2 * 3 * 4 * 2


def test_dask_backed_mesh_validates_lazily():
    mesh = lam.mesh_dataset(np.zeros((2, 3, 3)), [[0, 1, 2]]).chunk()
    with raise_if_dask_computes():
        lam.validate_mesh(mesh)
    broken = mesh.assign(faces=mesh["faces"] + 1)
    lam.validate_mesh(broken)  # values of dask data are checked only on request
    with pytest.raises(SchemaError, match=r"outside 0\.\.2"):
        lam.validate_mesh(broken, check_finite=True)
