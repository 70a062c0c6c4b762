"""Labels read back by plain xarray/zarr (numpy ``StringDType``) work like ``str`` labels.

``xr.open_datatree(..., engine="zarr")`` on a Zarr 3 archive returns string
coordinates as numpy's variable-width ``StringDType``, which cannot be cast
with ``astype(str)``; every public function must accept them and give the
same result as with ordinary labels.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from laminarray.archive import save
from laminarray.datasets import sample
from laminarray.forward import leadfield, save_leadfield_npz
from laminarray.inverse import invert_ebb
from laminarray.simulate import current_density

pytestmark = pytest.mark.filterwarnings("ignore:Object at .* is not recognized:UserWarning")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    subject = sample(n_vertices=120, n_layers=3, n_channels=24, n_trials=4)
    path = tmp_path_factory.mktemp("labels") / "study.zarr"
    save(subject, path, "sub-01")
    plain = xr.open_datatree(path, engine="zarr", consolidated=False)["sub-01"].load()
    return subject, plain


def _parts(tree):
    return (
        tree["sensor"].to_dataset(),
        tree["forward"].to_dataset()["gain"],
        tree["mesh"].to_dataset(),
    )


def test_plain_xarray_reads_labels_as_numpy_strings(trees):
    """The premise: without laminarray.archive.open labels come back as StringDType."""
    _, plain = trees
    sensor, gain, mesh = _parts(plain)
    for labels in (sensor["channel"], gain["layer"], mesh["layer"]):
        assert isinstance(labels.dtype, np.dtypes.StringDType)


def test_inversion_accepts_numpy_string_channels(trees):
    subject, plain = trees
    kwargs = {"layer": "pial", "n_spatial_modes": "all"}
    expected = invert_ebb(*_parts(subject), **kwargs)
    result = invert_ebb(*_parts(plain), **kwargs)
    np.testing.assert_allclose(result["projector"].values, expected["projector"].values)
    assert float(result["free_energy"]) == pytest.approx(float(expected["free_energy"]))


def test_simulation_accepts_numpy_string_layers(trees):
    subject, plain = trees
    times = np.linspace(0.0, 0.1, 11)
    kwargs = {"vertices": 5, "layers": "pial", "moments": 10.0, "patch_size": 5.0, "snr_db": None}
    expected = current_density(*_parts(subject)[1:], signals=np.sin(times), times=times, **kwargs)
    result = current_density(*_parts(plain)[1:], signals=np.sin(times), times=times, **kwargs)
    np.testing.assert_allclose(result["data"].values, expected["data"].values)
    assert result["source_layer"].values.tolist() == ["pial"]


def test_leadfield_files_store_numpy_string_labels(trees, tmp_path):
    _, plain = trees
    gain = _parts(plain)[1]
    path = save_leadfield_npz(gain, tmp_path / "gain.npz")
    back = leadfield("load", path=path)
    assert back["channel"].values.tolist() == gain["channel"].values.tolist()
    assert back["layer"].values.tolist() == gain["layer"].values.tolist()
    np.testing.assert_array_equal(back.values, gain.values)
