"""Loading FreeSurfer and GIFTI surfaces: coordinates, hemispheres and bad input.

The tkRAS -> scanner RAS reference is nibabel's MGH header (vox2ras and
vox2ras_tkr of the same voxels), independent of laminarray's transform code.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.freesurfer.io import write_geometry

import laminarray as la
from laminarray import surf
from laminarray.surf._shapes import sphere_mesh


def _oblique_volume():
    angle = 0.3
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.0, 1.2, 0.9])
    affine[:3, 3] = [-100.0, 20.0, -60.0]
    return nib.MGHImage(np.zeros((40, 50, 30), np.uint8), affine)


def _tk_and_scanner(volume, n=200, seed=0):
    header = volume.header
    ijk = np.c_[np.random.default_rng(seed).uniform(0, 30, (n, 3)), np.ones(n)]
    tk = (header.get_vox2ras_tkr() @ ijk.T).T[:, :3]
    scanner = (header.get_vox2ras() @ ijk.T).T[:, :3]
    return tk, scanner


def _volume_info(volume):
    # nibabel stores the direction cosines as rows of `Mdc` (x_ras, y_ras, z_ras)
    header = volume.header
    return {
        "head": np.array([2, 0, 20], dtype=np.int32),
        "valid": "1  # volume info valid",
        "filename": "orig.mgz",
        "volume": np.array(header["dims"][:3]),
        "voxelsize": np.array(header["delta"], float),
        "xras": header["Mdc"][0].astype(float),
        "yras": header["Mdc"][1].astype(float),
        "zras": header["Mdc"][2].astype(float),
        "cras": np.array(header["Pxyz_c"], float),
    }


def _faces(n):
    return np.c_[np.arange(n - 2), np.arange(1, n - 1), np.arange(2, n)].astype(np.int32)


def test_freesurfer_volume_geometry_to_scanner(tmp_path):
    volume = _oblique_volume()
    tk, scanner = _tk_and_scanner(volume)
    path = tmp_path / "lh.pial"
    write_geometry(str(path), tk, _faces(len(tk)), volume_info=_volume_info(volume))
    pos, faces, space = surf.read_surface(path)
    assert space == "scanner RAS"
    np.testing.assert_allclose(pos, scanner, atol=1e-4)  # float32 on disk
    stored, _, space = surf.read_surface(path, coordinates="stored")
    assert space == "as stored"
    np.testing.assert_allclose(stored, tk, atol=1e-4)
    np.testing.assert_array_equal(faces, _faces(len(tk)))


def test_volume_argument_overrides_embedded_geometry(tmp_path):
    volume = _oblique_volume()
    volume_path = tmp_path / "orig.mgz"
    nib.save(volume, volume_path)
    tk, scanner = _tk_and_scanner(volume, seed=1)
    path = tmp_path / "rh.white"
    write_geometry(str(path), tk, _faces(len(tk)))  # no embedded geometry
    assert surf.read_surface(path)[2] == "as stored"
    pos, _, space = surf.read_surface(path, volume=volume_path)
    assert space == "scanner RAS"
    np.testing.assert_allclose(pos, scanner, atol=1e-4)


def _write_gifti(path, pos, faces, xform=None):
    pointset = nib.gifti.GiftiDataArray(pos.astype(np.float32), intent="NIFTI_INTENT_POINTSET")
    if xform is not None:
        pointset.coordsys = nib.gifti.GiftiCoordSystem(dataspace=0, xformspace=3, xform=xform)
    triangles = nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE")
    nib.save(nib.gifti.GiftiImage(darrays=[pointset, triangles]), path)


def test_gifti_surfaces(tmp_path):
    pos, faces = sphere_mesh(100, 50.0)
    _write_gifti(tmp_path / "a.surf.gii", pos, faces)
    read, tri, _ = surf.read_surface(tmp_path / "a.surf.gii")
    np.testing.assert_allclose(read, pos, atol=1e-4)
    np.testing.assert_array_equal(tri, faces)
    shift = np.eye(4)
    shift[:3, 3] = [1.0, 2.0, 3.0]
    _write_gifti(tmp_path / "b.gii", pos, faces, xform=shift)
    np.testing.assert_allclose(
        surf.read_surface(tmp_path / "b.gii")[0], pos + shift[:3, 3], atol=1e-4
    )


def _hemisphere_files(tmp_path):
    files = {}
    for hemi, n, x in (("lh", 80, -40.0), ("rh", 90, 40.0)):
        outer, faces = sphere_mesh(n, 30.0, center=(x, 0, 0))
        inner, _ = sphere_mesh(n, 27.0, center=(x, 0, 0))
        for kind, pos in (("pial", outer), ("white", inner)):
            files[f"{hemi}.{kind}"] = tmp_path / f"{hemi}.{kind}"
            write_geometry(str(files[f"{hemi}.{kind}"]), pos, faces)
    return files


def test_load_both_hemispheres(tmp_path):
    files = _hemisphere_files(tmp_path)
    as_dict = surf.load_surfaces(
        {"lh": files["lh.pial"], "rh": files["rh.pial"]},
        {"lh": files["lh.white"], "rh": files["rh.white"]},
    )
    as_list = surf.load_surfaces(
        [files["rh.pial"], files["lh.pial"]], [files["lh.white"], files["rh.white"]]
    )
    assert as_dict["layer"].values.tolist() == ["pial", "white"]
    assert as_dict.sizes["vertex"] == 170
    assert (as_dict["hemi"].values == "lh").sum() == 80
    assert as_dict["hemi"].values[0] == "lh"
    np.testing.assert_array_equal(as_dict["vertices"], as_list["vertices"])
    rh_faces = as_dict["faces"].values[(as_dict["faces"].values >= 80).any(axis=1)]
    assert rh_faces.min() >= 80  # rh faces offset, never mixed with lh
    np.testing.assert_allclose(as_dict["thickness"], 3.0, atol=1e-4)
    mesh = surf.build_laminar_mesh(
        {"lh": files["lh.pial"], "rh": files["rh.pial"]},
        {"lh": files["lh.white"], "rh": files["rh.white"]},
        n_layers=5,
    )
    assert mesh.sizes == {"layer": 5, "vertex": 170, "xyz": 3, "face": 2 * 170 - 8, "corner": 3}


def test_missing_file_is_named(tmp_path):
    files = _hemisphere_files(tmp_path)
    with pytest.raises(la.LaminarrayError, match=r"not found: .*lh\.nothere"):
        surf.load_surfaces(tmp_path / "lh.nothere", files["lh.white"])


def test_mismatched_vertex_counts(tmp_path):
    files = _hemisphere_files(tmp_path)
    with pytest.raises(la.LaminarrayError, match="pial has 80, white has 90"):
        surf.load_surfaces(files["lh.pial"], files["rh.white"], hemi="lh")


def test_mismatched_hemispheres(tmp_path):
    files = _hemisphere_files(tmp_path)
    with pytest.raises(la.LaminarrayError, match="same hemispheres"):
        surf.load_surfaces({"lh": files["lh.pial"]}, {"rh": files["rh.white"]})


def test_array_input_errors():
    pos, faces = sphere_mesh(50, 10.0)
    quads = np.c_[faces, faces[:, :1]]
    with pytest.raises(la.LaminarrayError, match="triangles"):
        surf.load_surfaces((pos, quads), (pos * 0.9, quads))
    bad = pos.copy()
    bad[7] = np.nan
    with pytest.raises(la.LaminarrayError, match="NaN"):
        surf.build_laminar_mesh((pos, faces), (bad, faces))
    with pytest.raises(la.LaminarrayError, match="pial has 50, white has 49"):
        surf.build_laminar_mesh((pos, faces), (pos[:-1], faces[(faces < 49).all(axis=1)]))
    with pytest.raises(la.LaminarrayError, match="triangulation"):
        surf.build_laminar_mesh((pos, faces), (pos, faces[:, ::-1]))
    with pytest.raises(la.LaminarrayError, match="file path"):
        surf.load_surfaces(pos, pos)


def test_not_a_surface_file(tmp_path):
    path = tmp_path / "lh.pial"
    path.write_bytes(b"not a surface")
    with pytest.raises(la.LaminarrayError, match="FreeSurfer surface"):
        surf.read_surface(path)
    gii = tmp_path / "x.gii"
    gii.write_text("<xml/>")
    with pytest.raises(la.LaminarrayError, match="GIFTI"):
        surf.read_surface(gii)
