"""Cortical laminae: exact lamina-mean weights, lazy application, BigBrain maps."""

from __future__ import annotations

import importlib.util
import itertools

import dask.array as da
import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import laminarray as la
from laminarray._validation import LaminarrayError
from laminarray.surf import laminae
from laminarray.surf.laminae import (
    bigbrain_boundaries,
    calc_prop,
    laminar_weights,
    read_bigbrain_boundaries,
    to_laminae,
)
from laminarray.testing import raise_if_dask_computes

EXAMPLE = np.array([0.08, 0.14, 0.34, 0.41, 0.64, 1.0])  # design note lameg §1.5


def column_mesh(n_vertices: int, n_layers: int = 11, depth=None) -> xr.Dataset:
    """Flat columns along -z, one per vertex; depth 0 = pial at z = 0."""
    depth = la.layer_depths(n_layers) if depth is None else np.asarray(depth)
    pos = np.zeros((depth.size, n_vertices, 3))
    pos[..., 0] = np.arange(n_vertices)
    pos[..., 2] = -3.0 * depth[:, None]
    faces = np.array([[0, 1, 2]]) if n_vertices >= 3 else np.zeros((0, 3), int)
    hemi = np.where(np.arange(n_vertices) % 2, "rh", "lh")
    return la.mesh_dataset(pos, faces, hemi=hemi, depth=depth)


def random_boundaries(rng: np.random.Generator, n_vertices: int) -> np.ndarray:
    """Random cumulative proportions (6, n_vertices) from random lamina thicknesses."""
    return calc_prop(rng.uniform(0.05, 1.0, (6, n_vertices)), axis=0)


def numerical_lamina_means(profile, depth, edges, n_points=200_001):
    """Mean of the piecewise-linear profile over each lamina, by dense trapezoid rule."""
    means = []
    for top, bottom in itertools.pairwise(edges):
        x = np.linspace(top, bottom, n_points)
        means.append(np.trapezoid(np.interp(x, depth, profile), x) / (bottom - top))
    return np.array(means)


# --------------------------------------------------------------------------- weights


def test_worked_example_from_the_spec():
    mesh = column_mesh(3)
    weights = laminar_weights(mesh, np.repeat(EXAMPLE[:, None], 3, axis=1))
    row_i = np.zeros(11)
    row_i[:2] = [0.6, 0.4]
    np.testing.assert_allclose(weights.sel(lamina="I").values, np.tile(row_i, (3, 1)), atol=1e-12)
    row_ii = np.zeros(11)
    row_ii[:3] = [1 / 30, 5 / 6, 2 / 15]  # spec: ≈ [0.033, 0.833, 0.133]
    np.testing.assert_allclose(weights.sel(lamina="II").values[0], row_ii, atol=1e-12)
    assert weights.dims == ("vertex", "lamina", "layer")
    assert weights["lamina"].values.tolist() == ["I", "II", "III", "IV", "V", "VI"]
    np.testing.assert_allclose(weights["bottom"].values[0], EXAMPLE)


def test_weights_equal_numerical_integration_of_random_profiles():
    rng = np.random.default_rng(3)
    depth = np.sort(np.concatenate([[0.0, 1.0], rng.uniform(0.02, 0.98, 7)]))
    mesh = column_mesh(4, depth=depth)
    bounds = random_boundaries(rng, 4)
    weights = laminar_weights(mesh, bounds).values
    for v in range(4):
        profile = rng.standard_normal(depth.size)
        edges = np.concatenate([[0.0], bounds[:, v]])
        expected = numerical_lamina_means(profile, depth, edges)
        np.testing.assert_allclose(weights[v] @ profile, expected, rtol=0, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_layers=st.integers(2, 16),
    n_vertices=st.integers(1, 6),
)
def test_rows_sum_to_one_and_weights_are_convex(seed, n_layers, n_vertices):
    rng = np.random.default_rng(seed)
    weights = laminar_weights(
        column_mesh(n_vertices, n_layers), random_boundaries(rng, n_vertices)
    )
    np.testing.assert_allclose(weights.sum("layer").values, 1.0, atol=1e-12)
    assert (weights.values >= -1e-15).all()
    # a linear profile's lamina mean is its value at the lamina's mid-depth
    depth = weights["depth"].values
    mid = 0.5 * (weights["top"] + weights["bottom"]).values
    np.testing.assert_allclose(weights.values @ (2.0 * depth - 1.0), 2.0 * mid - 1.0, atol=1e-12)


def test_invalid_columns_are_nan_with_a_warning():
    bounds = np.repeat(EXAMPLE[:, None], 4, axis=1)
    bounds[:, 1] = 0.0  # medial wall: all-zero thickness
    bounds[2, 2] = np.nan
    bounds[:, 3] = [0.1, 0.3, 0.2, 0.5, 0.7, 1.0]  # not increasing
    with pytest.warns(RuntimeWarning, match="3 of 4 columns"):
        weights = laminar_weights(column_mesh(4), bounds)
    assert weights["valid"].values.tolist() == [True, False, False, False]
    assert np.isnan(weights.values[1:]).all()
    assert np.isfinite(weights.values[0]).all()


def test_boundaries_slightly_outside_the_depth_range_are_clipped():
    bounds = EXAMPLE.copy()
    bounds[-1] = 1.0 + 5e-9
    weights = laminar_weights(column_mesh(1), bounds[:, None])
    assert bool(weights["valid"][0])
    assert weights["bottom"].values[0, -1] == 1.0


def test_errors_name_the_problem():
    mesh = column_mesh(3)
    with pytest.raises(LaminarrayError, match="no valid column"):
        laminar_weights(mesh, np.zeros((6, 3)))
    with pytest.raises(LaminarrayError, match=r"shape \(6, n_vertices\)"):
        laminar_weights(mesh, np.zeros((5, 3)))
    with pytest.raises(LaminarrayError, match="6 laminae x 3 mesh vertices"):
        laminar_weights(mesh, np.zeros((6, 4)))
    with pytest.raises(LaminarrayError, match="at least two"):
        laminar_weights(column_mesh(3, n_layers=1), np.zeros((6, 3)))
    labelled = xr.DataArray(
        np.repeat(EXAMPLE[:, None], 2, 1), dims=("lamina", "vertex"), coords={"vertex": [0, 7]}
    )
    with pytest.raises(LaminarrayError, match=r"lack 2 mesh vertices, e.g. \[1, 2\]"):
        laminar_weights(mesh, labelled)


def test_labelled_boundaries_are_matched_by_vertex():
    bounds = random_boundaries(np.random.default_rng(0), 3)
    labelled = xr.DataArray(
        bounds[:, ::-1], dims=("lamina", "vertex"), coords={"vertex": [2, 1, 0]}
    )
    expected = laminar_weights(column_mesh(3), bounds)
    xr.testing.assert_identical(laminar_weights(column_mesh(3), labelled.T), expected)


# --------------------------------------------------------------------------- to_laminae


def source_estimate(backend, n_vertices=5, n_layers=11, n_times=4, n_trials=3):
    values = np.random.default_rng(1).standard_normal((n_layers, n_vertices, n_times, n_trials))
    return la.source_dataarray(
        backend(values.astype(np.float32)), np.arange(n_times) / 100.0, conditions="a"
    )


@pytest.mark.parametrize("lazy", [False, True])
def test_to_laminae_matches_the_weighted_sum(lazy):
    rng = np.random.default_rng(2)
    weights = laminar_weights(column_mesh(5), random_boundaries(rng, 5))
    source = source_estimate(lambda a: da.from_array(a, chunks=(11, 2, 4, 1)) if lazy else a)
    out = to_laminae(source, weights)
    assert out.dims == ("lamina", "vertex", "time", "trial")
    assert isinstance(out.data, da.Array) == isinstance(source.data, da.Array)
    assert out.dtype == np.float32
    expected = np.einsum("vkl,lvtr->kvtr", weights.values, np.asarray(source.values, float))
    np.testing.assert_allclose(out.values, expected, rtol=1e-5, atol=1e-6)
    assert out.attrs["units"] == "nAm"
    assert out["condition"].values.tolist() == ["a"] * 3
    np.testing.assert_array_equal(out["time"].values, source["time"].values)
    assert "depth" not in out.coords


def test_to_laminae_is_lazy():
    weights = laminar_weights(column_mesh(5), random_boundaries(np.random.default_rng(4), 5))
    values = np.random.default_rng(5).standard_normal((11, 5, 6, 4))
    source = la.source_dataarray(da.from_array(values, chunks=(11, 2, 6, 2)), np.arange(6) / 100)
    with raise_if_dask_computes():
        out = to_laminae(source, weights)
    assert isinstance(out.data, da.Array)
    expected = np.einsum("vkl,lvtr->kvtr", weights.values, values)
    np.testing.assert_allclose(out.values, expected, atol=1e-12)
    # layers split across chunks and dims in another order: still one lazy result
    shuffled = source.chunk(layer=(5, 6)).transpose("trial", "time", "layer", "vertex")
    with raise_if_dask_computes():
        other = to_laminae(shuffled, weights)
    assert other.dims == ("lamina", "vertex", "trial", "time")
    np.testing.assert_allclose(other.transpose(*out.dims).values, expected, atol=1e-12)


def test_to_laminae_on_a_vertex_subset_and_with_one_weight_row():
    weights = laminar_weights(column_mesh(5), random_boundaries(np.random.default_rng(6), 5))
    source = source_estimate(np.asarray)
    roi = source.isel(vertex=[4, 1]).transpose("time", "vertex", "trial", "layer")
    out = to_laminae(roi, weights)
    assert out.dims == ("lamina", "vertex", "time", "trial")
    np.testing.assert_allclose(
        out.values, to_laminae(source, weights).isel(vertex=[4, 1]).values, rtol=1e-6
    )
    single = to_laminae(source, weights.isel(vertex=0, drop=True))
    expected = np.einsum("kl,lvtr->kvtr", weights.values[0], source.values)
    np.testing.assert_allclose(single.values, expected, rtol=1e-5, atol=1e-6)


def test_to_laminae_rejects_mismatched_layers_and_vertices():
    weights = laminar_weights(column_mesh(5), random_boundaries(np.random.default_rng(7), 5))
    source = source_estimate(np.asarray)
    with pytest.raises(LaminarrayError, match="must equal the weights' layers"):
        to_laminae(source.isel(layer=slice(0, 5)), weights)
    with pytest.raises(LaminarrayError, match="without weights"):
        to_laminae(source.assign_coords(vertex=source["vertex"] + 3), weights)
    with pytest.raises(LaminarrayError, match="`data` must have a `layer` dim"):
        to_laminae(source.isel(layer=0), weights)


# --------------------------------------------------------------------------- calc_prop, maps


def test_calc_prop_semantics():
    np.testing.assert_allclose(calc_prop([1, 2, 3]), [1 / 6, 3 / 6, 1])
    np.testing.assert_allclose(calc_prop([0, 1, 2, 0, 3]), np.array([0, 1, 3, 3, 6]) / 6)
    np.testing.assert_array_equal(calc_prop(np.zeros(4)), np.zeros(4))
    np.testing.assert_allclose(calc_prop([[1, 0], [3, 0]], axis=0), [[0.25, 0], [1, 0]])


@pytest.fixture(scope="module")
def bigbrain_dir(tmp_path_factory):
    """Fake BigBrain thickness GIFTIs: vertex i of lamina k has thickness (k+1)*(i%7) (+1 on rh)."""
    directory = tmp_path_factory.mktemp("bigbrain")
    index = np.arange(laminae.N_FSAVERAGE)
    for hemi, offset in (("L", 0.0), ("R", 1.0)):
        for k in range(1, 7):
            values = ((k * (index % 7)) + offset * k).astype(np.float32)
            image = nib.gifti.GiftiImage(
                darrays=[nib.gifti.GiftiDataArray(values, intent="NIFTI_INTENT_SHAPE")]
            )
            nib.save(image, directory / laminae._BIGBRAIN_FILE.format(hemi=hemi, k=k))
    return directory


def test_read_bigbrain_boundaries_applies_calc_prop(bigbrain_dir):
    atlas = read_bigbrain_boundaries(bigbrain_dir)
    assert atlas.dims == ("hemi", "lamina", "fsaverage_vertex")
    assert atlas.shape == (2, 6, laminae.N_FSAVERAGE)
    expected = np.cumsum(np.arange(1, 7)) / 21.0  # thickness ∝ k
    np.testing.assert_allclose(atlas.sel(hemi="lh").values[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(atlas.sel(hemi="rh").values[:, 0], expected, rtol=1e-6)
    assert (atlas.sel(hemi="lh").values[:, 0] == 0).all()  # zero thickness kept as zeros


def test_bigbrain_boundaries_map_to_the_subject(bigbrain_dir):
    mesh = column_mesh(4)  # hemi lh, rh, lh, rh
    fsavg = np.array([0, 0, 3, 10241])
    bounds = bigbrain_boundaries(mesh, fsavg, path=bigbrain_dir)
    atlas = read_bigbrain_boundaries(bigbrain_dir)
    assert bounds.dims == ("lamina", "vertex")
    assert bounds["hemi"].values.tolist() == ["lh", "rh", "lh", "rh"]
    for v, (h, i) in enumerate(zip(["lh", "rh", "lh", "rh"], fsavg, strict=True)):
        np.testing.assert_array_equal(bounds.values[:, v], atlas.sel(hemi=h).values[:, i])
    with pytest.warns(RuntimeWarning, match="1 of 4"):  # lh vertex 0 has zero thickness
        weights = laminar_weights(mesh, bounds)
    assert weights["valid"].values.tolist() == [False, True, True, True]
    with pytest.raises(LaminarrayError, match="one index per mesh vertex"):
        bigbrain_boundaries(mesh, fsavg[:3], path=bigbrain_dir)
    with pytest.raises(LaminarrayError, match=r"integer indices in 0\.\.163841"):
        bigbrain_boundaries(mesh, fsavg + 163841, path=bigbrain_dir)


def test_bigbrain_boundaries_through_the_sphere_correspondence(bigbrain_dir):
    # the subject's registered sphere is fsaverage's own ico vertices, rotated slightly
    from laminarray.surf.fsaverage import native_to_fsaverage

    rng = np.random.default_rng(8)
    fsavg_sphere = rng.standard_normal((50, 3))
    fsavg_sphere /= np.linalg.norm(fsavg_sphere, axis=1, keepdims=True)
    picks = np.array([5, 17, 30, 42])
    native = fsavg_sphere[picks] + 1e-3 * rng.standard_normal((4, 3))
    mesh = column_mesh(4).drop_vars("hemi").assign_coords(hemi=("vertex", ["lh"] * 4))
    index = native_to_fsaverage(mesh, {"lh": native}, {"lh": fsavg_sphere, "rh": fsavg_sphere})
    np.testing.assert_array_equal(index.values, picks)
    bounds = bigbrain_boundaries(mesh, index, path=bigbrain_dir)
    atlas = read_bigbrain_boundaries(bigbrain_dir)
    np.testing.assert_array_equal(bounds.values, atlas.sel(hemi="lh").values[:, picks])


def test_missing_maps_name_both_options(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "lameg" else real_find_spec(name, *a),
    )
    with pytest.raises(LaminarrayError, match=r"pass `path=`.*install the `lameg` package"):
        read_bigbrain_boundaries()
    with pytest.raises(LaminarrayError, match="is not a directory"):
        read_bigbrain_boundaries(tmp_path / "nowhere")
    with pytest.raises(LaminarrayError, match="missing"):
        read_bigbrain_boundaries(tmp_path)


def test_lameg_assets_are_found(monkeypatch, bigbrain_dir, tmp_path):
    package = tmp_path / "lameg"
    (package / "assets").mkdir(parents=True)
    (package / "assets" / "big_brain_layer_thickness").symlink_to(bigbrain_dir)
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    atlas = read_bigbrain_boundaries()
    assert atlas.attrs["source"].endswith("big_brain_layer_thickness")
