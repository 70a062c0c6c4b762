"""The medial-wall cut (laMEG's ``nodeep``) on two synthetic hemispheres with real .annot files.

Each hemisphere is a pair of concentric spheres (different vertex counts per
hemisphere, so a swapped annotation is detectable). Its annotation, written
with nibabel, marks vertices as ``unknown`` (index 0), unlabelled (-1),
``UNKNOWN`` (a non-zero index whose name is unknown in another case) or a
cortical region; the expected kept vertices are derived from those labels
directly.
"""

from __future__ import annotations

import dask.array as da
import nibabel.freesurfer as fs
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import laminarray as la
from laminarray import surf
from laminarray.rois import parcellation_from_annot
from laminarray.surf._shapes import sphere_mesh
from laminarray.surf.medial import _cut
from laminarray.testing import raise_if_dask_computes

NAMES = ["unknown", "precentral", "UNKNOWN", "insula"]
CTAB = np.array([[25, 5, 25, 0], [60, 20, 220, 0], [10, 200, 90, 0], [255, 192, 32, 0]])
SIZES = {"lh": 300, "rh": 280}
CENTERS = {"lh": (-40.0, 0.0, 0.0), "rh": (40.0, 0.0, 0.0)}


def _labels(n: int, seed: int) -> np.ndarray:
    """Medial-wall-like cap (unknown, unlabelled, UNKNOWN) at the top, regions elsewhere."""
    rng = np.random.default_rng(seed)
    height = sphere_mesh(n)[0][:, 2]
    labels = np.where(rng.random(n) < 0.5, 1, 3)
    labels[height > 0.6] = 0
    labels[(height > 0.6) & (rng.random(n) < 0.3)] = -1
    labels[(height > 0.45) & (height <= 0.6)] = 2
    return labels


@pytest.fixture(scope="module")
def labels():
    return {hemi: _labels(n, seed) for seed, (hemi, n) in enumerate(SIZES.items())}


@pytest.fixture(scope="module")
def annots(tmp_path_factory, labels):
    folder = tmp_path_factory.mktemp("label")
    paths = {}
    for hemi, values in labels.items():
        paths[hemi] = folder / f"{hemi}.aparc.annot"
        fs.write_annot(str(paths[hemi]), values, CTAB, NAMES)
        read, _, names = fs.read_annot(str(paths[hemi]))
        np.testing.assert_array_equal(read, values)  # the fixture itself round-trips
        assert [n.decode() for n in names] == NAMES
    return paths


def _surfaces(radius: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {hemi: sphere_mesh(n, radius, CENTERS[hemi]) for hemi, n in SIZES.items()}


@pytest.fixture(scope="module")
def full():
    return surf.build_laminar_mesh(
        _surfaces(30.0), _surfaces(27.5), n_layers=5, spacing="equivolumetric"
    )


@pytest.fixture(scope="module")
def expected_kept(labels):
    combined = np.concatenate([labels["lh"], labels["rh"]])
    return np.flatnonzero((combined >= 1) & (combined != 2))


def test_kept_columns_faces_and_variables(full, annots, expected_kept):
    full = full.assign(
        curvature=("vertex", np.linspace(-1, 1, full.sizes["vertex"])),
        weight=(("layer", "vertex"), np.arange(full["vertices"][..., 0].size).reshape(5, -1)),
    )
    cut = surf.remove_medial_wall(full, annots)
    kept = cut["original_vertex"].values
    np.testing.assert_array_equal(kept, expected_kept)
    np.testing.assert_array_equal(cut["vertex"].values, np.arange(kept.size))
    # the same triangles, named by original vertex ids, in the same order and winding
    faces = full["faces"].values
    inside = np.isin(faces, expected_kept).all(axis=1)
    np.testing.assert_array_equal(kept[cut["faces"].values], faces[inside])
    assert 0 < inside.sum() < len(faces)
    for name in ("vertices", "orientation", "thickness", "column_depth", "curvature", "weight"):
        xr.testing.assert_equal(
            cut[name].drop_vars(["vertex", "original_vertex"]),
            full[name].isel(vertex=kept).drop_vars("vertex"),
        )
    np.testing.assert_array_equal(cut["hemi"].values, full["hemi"].values[kept])
    assert cut.attrs["n_original_vertices"] == sum(SIZES.values())
    assert cut.attrs["medial_wall_removed"] == full.sizes["vertex"] - kept.size
    np.testing.assert_array_equal(cut["volume_fraction"], full["volume_fraction"])
    la.validate_mesh(cut)


def test_correspondence_round_trip(full, annots):
    cut = surf.remove_medial_wall(full, annots)
    values = xr.DataArray(np.arange(full.sizes["vertex"], dtype=float) ** 2, dims="vertex")
    on_cut = values.isel(vertex=cut["original_vertex"].values)  # full -> cut
    back = on_cut.assign_coords(vertex=cut["original_vertex"].values).reindex(
        vertex=np.arange(full.sizes["vertex"])
    )  # cut -> full, NaN on the medial wall
    wall = surf.medial_wall_mask(full, annots).values
    assert np.isnan(back.values[wall]).all()
    np.testing.assert_array_equal(back.values[~wall], values.values[~wall])


def test_mask_matches_labels(full, annots, expected_kept):
    mask = surf.medial_wall_mask(full, annots)
    assert mask.name == "medial_wall"
    assert mask.dtype == bool
    np.testing.assert_array_equal(np.flatnonzero(~mask.values), expected_kept)
    np.testing.assert_array_equal(mask["hemi"], full["hemi"])


def test_annotation_forms_agree(full, annots, labels):
    reference = surf.remove_medial_wall(full, annots)
    as_tuples = {hemi: fs.read_annot(str(path)) for hemi, path in annots.items()}
    as_pairs = {hemi: (values[0], values[2]) for hemi, values in as_tuples.items()}
    as_labels = {hemi: np.where(values == 2, 0, values) for hemi, values in labels.items()}
    for form in (list(annots.values()), as_tuples, as_pairs, as_labels):
        xr.testing.assert_identical(surf.remove_medial_wall(full, form), reference)


def test_single_hemisphere(annots, labels):
    lh = surf.build_laminar_mesh({"lh": _surfaces(30.0)["lh"]}, {"lh": _surfaces(28.0)["lh"]})
    cut = surf.remove_medial_wall(lh, annots["lh"])
    np.testing.assert_array_equal(
        cut["original_vertex"], np.flatnonzero((labels["lh"] >= 1) & (labels["lh"] != 2))
    )
    bare = lh.drop_vars("hemi")
    xr.testing.assert_identical(
        surf.remove_medial_wall(bare, labels["lh"]),
        surf.remove_medial_wall(lh, labels["lh"]).drop_vars("hemi"),
    )


def test_build_option_cuts_before_downsampling(annots, expected_kept, full):
    pytest.importorskip("fast_simplification")
    pial, white = _surfaces(30.0), _surfaces(27.5)
    built = surf.build_laminar_mesh(pial, white, 5, spacing="equivolumetric", medial_wall=annots)
    xr.testing.assert_identical(built, surf.remove_medial_wall(full, annots))
    cut_normals = surf.build_laminar_mesh(pial, white, 5, "ds_surf_norm", medial_wall=annots)
    coarse = surf.build_laminar_mesh(
        pial, white, 5, "orig_surf_norm", medial_wall=annots, ds_factor=0.3
    )
    original = coarse["original_vertex"].values
    assert np.isin(original, expected_kept).all()
    assert 0.2 * expected_kept.size < original.size < 0.4 * expected_kept.size
    # normals of the full-resolution (cut) mesh at the column each coarse column came from
    rows = np.searchsorted(cut_normals["original_vertex"].values, original)
    np.testing.assert_allclose(
        coarse["orientation"].values, cut_normals["orientation"].values[:, rows], atol=1e-12
    )
    np.testing.assert_array_equal(coarse["vertices"], cut_normals["vertices"].values[:, rows])


def test_rois_and_downsampled_meshes_use_composed_correspondence(full, annots, labels):
    pytest.importorskip("fast_simplification")
    coarse = surf.downsample_mesh(full, 0.3)
    cut = surf.remove_medial_wall(coarse, annots)
    original = cut["original_vertex"].values
    combined = np.concatenate([labels["lh"], labels["rh"]])
    expected = coarse["original_vertex"].values[
        np.isin(
            coarse["original_vertex"].values, np.flatnonzero((combined >= 1) & (combined != 2))
        )
    ]
    np.testing.assert_array_equal(original, expected)
    np.testing.assert_array_equal(cut["vertices"].values, full["vertices"].values[:, original])
    rois = parcellation_from_annot(cut, annots)
    names = rois["label"].values[rois["label_index"].values]
    hemis = np.where(original < SIZES["lh"], "lh", "rh")
    regions = np.array(NAMES)[combined[original]]
    np.testing.assert_array_equal(names, [f"{h}.{r}" for h, r in zip(hemis, regions, strict=True)])


def test_lazy_variables_stay_lazy(full, annots):
    lazy = full.assign(power=("vertex", da.ones(full.sizes["vertex"], chunks=100)))
    with raise_if_dask_computes():
        cut = surf.remove_medial_wall(lazy, annots)
    assert isinstance(cut["power"].data, da.Array)
    assert cut["power"].size == cut.sizes["vertex"]


@pytest.mark.parametrize(
    ("annot", "match"),
    [
        ("swap", "hemisphere mismatch"),
        ("lh only", "hemisphere mismatch"),
        ("single", "pass one annotation per hemisphere"),
        ("missing", "annotation file not found: .*rh.nothere.annot"),
        ("short", "has 299 vertices but the mesh has 300 columns in lh"),
        ("bool", "integer label indices"),
        ("garbage", "cannot read .* as a FreeSurfer annotation"),
        ("everything", "every column"),
    ],
)
def test_clear_errors(full, annots, labels, tmp_path, annot, match):
    garbage = tmp_path / "lh.broken.annot"
    garbage.write_bytes(b"\x00\x01")
    spec = {
        "swap": {"lh": annots["rh"], "rh": annots["lh"]},
        "lh only": {"lh": annots["lh"]},
        "single": labels["lh"],
        "missing": {"lh": annots["lh"], "rh": tmp_path / "rh.nothere.annot"},
        "short": {"lh": labels["lh"][:-1], "rh": labels["rh"]},
        "bool": {"lh": labels["lh"] > 0, "rh": labels["rh"]},
        "garbage": {"lh": garbage, "rh": annots["rh"]},
        "everything": {"lh": np.zeros(300, int), "rh": np.zeros(280, int)},
    }[annot]
    with pytest.raises(la.LaminarrayError, match=match):
        surf.remove_medial_wall(full, spec)


def test_hemisphere_checks_on_downsampled_and_single_meshes(full, annots):
    pytest.importorskip("fast_simplification")
    coarse = surf.downsample_mesh(full, 0.3)
    with pytest.raises(la.LaminarrayError, match="hemisphere mismatch"):
        surf.remove_medial_wall(coarse, {"lh": np.ones(280, int), "rh": np.ones(300, int)})
    with pytest.raises(la.LaminarrayError, match="annotations have 579 vertices"):
        surf.remove_medial_wall(coarse, {"lh": np.ones(299, int), "rh": np.ones(280, int)})
    lh = surf.build_laminar_mesh({"lh": _surfaces(30.0)["lh"]}, {"lh": _surfaces(28.0)["lh"]})
    with pytest.raises(la.LaminarrayError, match=r"covers \['rh'\] but the mesh has .*\['lh'\]"):
        surf.remove_medial_wall(lh, annots["rh"])


def test_archive_round_trip(tmp_path, full, annots):
    archive = pytest.importorskip("laminarray.archive")
    cut = surf.remove_medial_wall(full, annots)
    archive.save(cut, tmp_path / "study.zarr", "/sub-01/mesh")
    back = archive.open(tmp_path / "study.zarr")["sub-01/mesh"].to_dataset().compute()
    xr.testing.assert_allclose(back[list(cut.data_vars)], cut)
    for key, value in cut.attrs.items():
        assert back.attrs[key] == value
    for name in ("original_vertex", "volume_fraction", "hemi"):
        np.testing.assert_array_equal(back[name], cut[name])


@settings(max_examples=40, deadline=None)
@given(keep=st.lists(st.booleans(), min_size=42, max_size=42))
def test_cut_kernel_keeps_exactly_the_inner_triangles(keep):
    _, faces = sphere_mesh(42)
    keep = np.array(keep)
    face_kept, reindexed = _cut(faces, keep)
    kept = np.flatnonzero(keep)
    np.testing.assert_array_equal(face_kept, [keep[f].all() for f in faces])
    np.testing.assert_array_equal(kept[reindexed], faces[face_kept])
    assert reindexed.dtype == np.int32


def test_mesh_operations_map_a_cut_then_downsampled_mesh_through_original_vertex(full, annots):
    """interpolate / dipole_orientations(original=) find each coarse column's row in the cut mesh."""
    pytest.importorskip("fast_simplification")
    cut = surf.remove_medial_wall(full, annots)
    coarse = surf.downsample_mesh(cut, 0.3)
    values = xr.DataArray(coarse["vertices"].values[0, :, 0], dims="vertex")  # x of pial
    back = surf.interpolate(values, coarse, cut, smooth=True)
    # coarse columns are cut-mesh columns: their own values come back close (smoothing only
    # averages neighbours a few mm apart on a 30 mm sphere)
    rows = np.searchsorted(cut["original_vertex"].values, coarse["original_vertex"].values)
    np.testing.assert_allclose(back.values[rows], values.values, atol=6.0)
    normals = surf.dipole_orientations(coarse, "orig_surf_norm", original=cut)
    expected = surf.dipole_orientations(cut, "ds_surf_norm").values[:, rows]
    np.testing.assert_allclose(normals.values, expected, atol=1e-12)
