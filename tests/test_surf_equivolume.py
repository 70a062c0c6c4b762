"""Equivolumetric layers (Bok's model, Waehnert et al. 2014) against independent references.

References used:
- parallel surfaces (pial area = white area): the model reduces to equidistant layers;
- a sheet stretched along x between white and pial: every interpolated triangle's area is
  linear in depth, so the model is exact and the volume enclosed above each layer, found
  from the areas of actually interpolated surfaces, equals the requested fraction;
- concentric spheres: the layers are concentric spheres, the volume a closed triangulated
  sphere of radius r encloses is proportional to r^3 (divergence theorem on the mesh), and
  the model's linear-area assumption makes an error of order (thickness / radius)^2.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import laminarray as la
from laminarray import surf
from laminarray.surf._equivolume import _equivolume_depths, _vertex_areas
from laminarray.surf._shapes import flat_sheet, sphere_mesh

FRACTIONS = np.linspace(0.0, 1.0, 11)


def _enclosed_volume(pos: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed, outward-wound triangle mesh (divergence theorem)."""
    a, b, c = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    return float(np.einsum("fx,fx->", a, np.cross(b, c)) / 6.0)


def _warped_sheets(thickness: float = 3.0):
    """White: a flat grid; pial: the same grid, ``thickness`` above, its x warped nonlinearly."""
    white, faces = flat_sheet(12, 9, spacing=2.0)
    pial = white.copy()
    x = white[:, 0]
    pial[:, 0] = x * (1.0 + 0.04 * x)  # monotone on the grid: columns widen/narrow with x
    pial[:, 2] = thickness
    return pial, white, faces


def test_parallel_surfaces_give_equidistant_layers():
    white, faces = flat_sheet(8, 7, spacing=2.5)
    pial = white + np.array([0.3, -0.2, 2.7])  # same areas on both surfaces
    kwargs = {"n_layers": 11, "orientation": "ds_surf_norm"}
    volume = surf.build_laminar_mesh(
        (pial, faces), (white, faces), spacing="equivolumetric", **kwargs
    )
    distance = surf.build_laminar_mesh((pial, faces), (white, faces), **kwargs)
    np.testing.assert_allclose(volume["vertices"], distance["vertices"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(volume["column_depth"], np.repeat(FRACTIONS[:, None], 56, 1))
    np.testing.assert_allclose(volume["depth"], FRACTIONS, atol=1e-15)
    assert volume["layer"].values.tolist() == distance["layer"].values.tolist()


@settings(max_examples=60, deadline=None)
@given(
    areas=arrays(np.float64, (2, 7), elements=st.floats(1e-3, 1e3)),
    fractions=arrays(np.float64, 5, elements=st.floats(0.0, 1.0)),
)
def test_depths_monotonic_bounded_and_invert_the_volume_law(areas, fractions):
    area_p, area_w = areas
    alpha = np.sort(fractions)
    rho = _equivolume_depths(area_p, area_w, alpha)
    assert np.all((rho >= 0) & (rho <= 1))
    assert np.all(np.diff(rho, axis=0) >= -1e-12)
    ends = _equivolume_depths(area_p, area_w, np.array([0.0, 1.0]))
    np.testing.assert_allclose(ends, [[0.0] * 7, [1.0] * 7], atol=1e-12)
    np.testing.assert_allclose(
        _equivolume_depths(area_p, area_p, alpha), np.repeat(alpha[:, None], 7, 1), atol=1e-15
    )
    # forward law: volume above depth rho = integral of the linear area, as a fraction
    recovered = (area_p * rho + 0.5 * (area_w - area_p) * rho**2) / (0.5 * (area_p + area_w))
    np.testing.assert_allclose(recovered, np.repeat(alpha[:, None], 7, 1), atol=1e-10)


def test_rationalised_form_equals_the_textbook_form():
    area_p, area_w = np.array([3.0, 1.0, 2.0]), np.array([1.0, 3.0, 2.0 + 1e-9])
    alpha = np.array([0.1, 0.5, 0.9])[:, None]
    textbook = (area_p - np.sqrt(alpha * area_w**2 + (1 - alpha) * area_p**2)) / (area_p - area_w)
    got = _equivolume_depths(area_p, area_w, alpha[:, 0])
    np.testing.assert_allclose(got[:, :2], textbook[:, :2], rtol=1e-14)
    np.testing.assert_allclose(got[:, 2], alpha[:, 0], atol=1e-9)  # near A_p = A_w: no blow-up


def test_each_column_encloses_the_requested_volume_fraction():
    pial, white, faces = _warped_sheets()
    depths = surf.equivolumetric_depths(pial, white, faces, FRACTIONS)
    area_p, area_w = _vertex_areas(pial, faces), _vertex_areas(white, faces)
    assert np.ptp(area_p / area_w) > 0.5  # columns really differ
    assert np.ptp(depths[5]) > 0.05
    for fraction, rho in zip(FRACTIONS, depths, strict=True):
        # areas of the surfaces interpolated at each column's own depth, then at mid-depth
        at_rho = np.array(
            [_vertex_areas(pial + r * (white - pial), faces)[v] for v, r in enumerate(rho)]
        )
        above = 0.5 * rho * (area_p + at_rho)  # exact: the area is linear in depth here
        total = 0.5 * (area_p + area_w)
        np.testing.assert_allclose(above / total, fraction, rtol=0, atol=1e-12)


def test_gyral_crowns_crowd_upper_layers_towards_pial():
    pial, white, faces = _warped_sheets()
    depths = surf.equivolumetric_depths(pial, white, faces, [0.0, 0.5, 1.0])[1]
    wider_pial = _vertex_areas(pial, faces) > _vertex_areas(white, faces)
    assert np.all(depths[wider_pial] < 0.5)
    assert np.all(depths[~wider_pial] >= 0.5)


def _sphere_fraction_error(thickness: float, spacing: str, radius: float = 80.0) -> float:
    outer, faces = sphere_mesh(642, radius)
    inner, _ = sphere_mesh(642, radius - thickness)
    mesh = surf.build_laminar_mesh((outer, faces), (inner, faces), spacing=spacing)
    volumes = np.array([_enclosed_volume(layer, faces) for layer in mesh["vertices"].values])
    # analytic: the layers are concentric spheres, enclosed volume proportional to r^3
    radii = np.linalg.norm(mesh["vertices"].values, axis=-1).mean(axis=1)
    np.testing.assert_allclose(volumes / volumes[0], (radii / radii[0]) ** 3, rtol=1e-12)
    enclosed = (volumes[0] - volumes) / (volumes[0] - volumes[-1])
    return float(np.abs(enclosed - FRACTIONS).max())


def test_concentric_spheres_enclose_equal_volume_fractions():
    radius = 80.0
    errors = {t: _sphere_fraction_error(t, "equivolumetric", radius) for t in (10.0, 5.0, 2.5)}
    for thickness, error in errors.items():
        # the model's linear-area assumption vs the sphere's quadratic one: O((T/R)^2)
        assert error < 0.025 * (thickness / radius) ** 2
        # while equidistant layers are off at first order
        assert _sphere_fraction_error(thickness, "equidistant", radius) > 0.2 * thickness / radius
    assert 3.5 < errors[5.0] / errors[2.5] < 5.0  # second-order convergence
    assert 3.5 < errors[10.0] / errors[5.0] < 5.0


def test_build_records_the_model_and_names_fractions():
    outer, faces = sphere_mesh(162, 80.0)
    inner, _ = sphere_mesh(162, 76.0)
    mesh = surf.build_laminar_mesh(
        (outer, faces), (inner, faces), n_layers=3, spacing="equivolumetric", depths=[0, 0.3, 1]
    )
    assert mesh["layer"].values.tolist() == ["pial", "0.700", "white"]
    np.testing.assert_allclose(mesh["volume_fraction"], [0.0, 0.3, 1.0])
    assert mesh.attrs["layer_spacing"] == "equivolumetric"
    assert "Waehnert" in mesh.attrs["layer_model"]
    assert mesh.attrs["layer_interpolation"] == "linear, equivolumetric"
    expected = surf.equivolumetric_depths(outer, inner, faces, [0, 0.3, 1])
    np.testing.assert_allclose(mesh["column_depth"], expected, rtol=1e-14)
    np.testing.assert_allclose(mesh["depth"], expected.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(
        mesh["vertices"], surf.interpolate_layers(outer, inner, expected), rtol=1e-14
    )
    assert 0 < mesh["depth"].values[1] < 0.3  # convex: upper layer thinner
    la.validate_mesh(mesh)
    plain = surf.build_laminar_mesh((outer, faces), (inner, faces))
    assert plain.attrs["layer_spacing"] == "equidistant"
    assert "layer_model" not in plain.attrs
    assert "volume_fraction" not in plain.coords


def test_equivolumetric_with_downsampling_keeps_column_depths():
    pytest.importorskip("fast_simplification")
    outer, faces = sphere_mesh(1200, 60.0)
    rng = np.random.default_rng(3)
    inner = outer * (1 - (2.0 + rng.random((len(outer), 1))) / 60.0)
    full = surf.build_laminar_mesh((outer, faces), (inner, faces), 5, spacing="equivolumetric")
    coarse = surf.build_laminar_mesh(
        (outer, faces), (inner, faces), 5, spacing="equivolumetric", ds_factor=0.2
    )
    kept = coarse["original_vertex"].values
    np.testing.assert_array_equal(coarse["column_depth"], full["column_depth"].values[:, kept])
    np.testing.assert_array_equal(coarse["vertices"], full["vertices"].values[:, kept])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing": "equiarea"}, "spacing"),
        ({"spacing": "equivolumetric", "depths": np.full((3, 162), 0.5)}, "per-column"),
        ({"spacing": "equivolumetric", "depths": [0.0, 0.7, 0.4]}, "increase"),
    ],
)
def test_build_rejects_bad_spacing(kwargs, match):
    outer, faces = sphere_mesh(162, 80.0)
    with pytest.raises(la.LaminarrayError, match=match):
        surf.build_laminar_mesh((outer, faces), (outer * 0.95, faces), n_layers=3, **kwargs)


def test_equivolumetric_depths_rejects_bad_input():
    outer, faces = sphere_mesh(162, 80.0)
    with pytest.raises(la.LaminarrayError, match="same vertices"):
        surf.equivolumetric_depths(outer, outer[:-1], faces, [0, 1])
    with pytest.raises(la.LaminarrayError, match=r"`fractions` must be proportional"):
        surf.equivolumetric_depths(outer, outer * 0.9, faces, [0, 1.5])
    with pytest.raises(la.LaminarrayError, match=r"`fractions` must have shape"):
        surf.equivolumetric_depths(outer, outer * 0.9, faces, [[0, 1]])
    with pytest.raises(la.LaminarrayError, match="faces"):
        surf.equivolumetric_depths(outer, outer * 0.9, faces + 1000, [0, 1])
