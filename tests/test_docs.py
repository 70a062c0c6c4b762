"""The documentation: every code block runs as written; the user guide cites only existing names.

The site itself is built offline by CI after the tests (``.ci/build_docs.py``).

Every fenced ``python`` block of README.md and docs/**/*.md runs, in page order,
in one namespace per page, in a temporary working directory. The pages may
assume a small subject (:func:`_world`): the names ``mesh``, ``sensor``,
``gain``, ``inverse``, ``source`` ... and the files ``study.zarr``,
``spmeeg_sub-01.mat`` ... that an analysis would have at that point, and
the repository's ``tests/data/realdata``. A block that cannot run here (an
external atlas, a FreeSurfer subject, a cluster) is preceded by
``<!-- docs-test: skip (reason) -->`` with its reason.
"""

from __future__ import annotations

import importlib
import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)]
BLOCK = re.compile(
    r"^(?:<!-- docs-test: (?P<marker>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)
SKIP = re.compile(r"skip \((?P<reason>.+)\)")


def _resolve(name: str) -> object:
    """Import ``laminarray.a.b.c`` attribute by attribute, importing submodules as needed."""
    parts = name.split(".")
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def test_user_guide_cites_only_existing_names():
    text = (DOCS / "user_guide.md").read_text()
    names = sorted(set(re.findall(r"\blaminarray(?:\.[A-Za-z_]\w*)+", text)))
    assert len(names) > 30
    missing = []
    for name in names:
        try:
            _resolve(name)
        except (AttributeError, ImportError):
            missing.append(name)
    assert not missing, f"the user guide cites names that do not exist: {missing}"


def test_no_extension_needs_the_network():
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "sphinx.ext.intersphinx" not in conf["extensions"]
    assert "intersphinx_mapping" not in conf


def code_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every ``python`` block of ``page``."""
    text = page.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        marker = match.group("marker")
        reason = None
        if marker is not None:
            skip = SKIP.fullmatch(marker)
            assert skip, f"{page.name}:{line}: unknown docs-test marker {marker!r}"
            reason = skip.group("reason")
        blocks.append((line, match.group("code"), reason))
    return blocks


def test_code_blocks_are_found_and_skips_are_rare():
    blocks = [b for page in PAGES for b in code_blocks(page)]
    fences = sum(page.read_text().count("```python") for page in PAGES)
    assert len(blocks) == fences > 40
    skipped = [b for b in blocks if b[2] is not None]
    assert len(skipped) <= len(blocks) // 5, skipped


@pytest.fixture(scope="session")
def world(tmp_path_factory, demo_out) -> tuple[dict[str, Any], Path]:
    """The names and files the documentation pages assume (built once)."""
    return _world(tmp_path_factory.mktemp("docs-world"), demo_out)


def _world(files: Path, demo_out: Path) -> tuple[dict[str, Any], Path]:
    import laminarray as lam
    from laminarray import archive, forward, io, rois, surf
    from laminarray.inverse import apply_inverse, invert_ebb

    subject = lam.datasets.sample(n_vertices=300, n_trials=16)
    mesh = subject["mesh"].to_dataset()
    sensor = subject["sensor"].to_dataset()
    sensor = sensor.assign_coords(condition=("trial", ["left", "right"] * 8))
    gain = subject["forward"]["gain"].compute()
    inverse = invert_ebb(sensor, gain, mesh)
    source = apply_inverse(inverse, sensor)
    v = int(subject.attrs["true_vertex"])
    rng = np.random.default_rng(0)
    dims = ("trial", "layer", "vertex")
    a, b = (
        xr.DataArray(rng.standard_normal((16, 2, 50)) + shift, dims=dims) for shift in (0.3, 0)
    )
    scalp = (mesh["scalp_vertices"].values, mesh["scalp_faces"].values)
    fid_mri = {k: scalp[0][i] for k, i in zip(("nas", "lpa", "rpa"), (0, 100, 200), strict=True)}
    shift = np.array([2.0, -1.0, 3.0])  # mm: the head frame is the MRI frame moved
    names = {
        "np": np,
        "lam": lam,
        "la": lam,
        "mesh": mesh,
        "sensor": sensor,
        "gain": gain,
        "helmet": forward.helmet_array(128, head=mesh),
        "inverse": inverse,
        "source": source,
        "evoked": source.mean("trial"),
        "v": v,
        "p": v,
        "vertex_position": mesh["vertices"].sel(layer="pial", vertex=v).values,
        "t_map": xr.DataArray(
            rng.standard_normal((11, 300)), dims=("layer", "vertex"), coords={"layer": mesh.layer}
        ).assign_attrs(units="t"),
        "more_trials": sensor.isel(trial=slice(0, 4)).assign_coords(trial=np.arange(16, 20)),
        "a": a,
        "b": b,
        "diff": a - b,
        "x": a,
        "scalp": scalp,
        "full_values": mesh["thickness"],
        "fid_mri": fid_mri,
        "fid_head": {k: (p + shift) / 1000 for k, p in fid_mri.items()},  # m
        "headshape": (scalp[0][::3] + shift) / 1000,  # m
        "points": scalp[0][::3] + shift,  # mm
    }
    pial_xyz, white_xyz = mesh["vertices"].values[0], mesh["vertices"].values[-1]
    faces = mesh["faces"].values
    labels = np.where(mesh["vertices"].values[0, :, 2] < 0, 0, 1)  # 0: medial wall ("unknown")
    names.update(
        surf=surf,
        vertices=pial_xyz,
        faces=faces,
        pial=(pial_xyz, faces),
        white=(white_xyz, faces),
        pial_xyz=pial_xyz,
        white_xyz=white_xyz,
        fractions=np.linspace(0, 1, 11),
        lead_field_rms_diff=forward.lead_field_rms_diff(gain),
        cut=surf.remove_medial_wall(
            mesh, {h: labels[mesh["hemi"].values == h] for h in ("lh", "rh")}
        ),
        fwd=_mne_forward(),
    )
    names["tmap"] = names["t_map"]
    names["sensors"] = names["helmet"]
    names["sensors_mri"] = names["helmet"]

    # files: a study archive with two subjects, an SPM dataset with its inversion and gain,
    # a fiducials table, a laMEG source file, and the demo's output as "DIR"
    study = files / "study.zarr"
    parcels = rois.parcellation(
        (mesh["vertices"].values[0, :, 1] > 0).astype(int),  # y > 0: "precentral" (anterior)
        ["lh.postcentral", "lh.precentral"],
        mesh["vertex"].values,
    )
    for name in ("sub-01", "sub-02"):
        archive.save(mesh, study, f"{name}/mesh")
        archive.save(sensor, study, f"{name}/sensor")
        archive.save(gain.to_dataset(), study, f"{name}/forward")
        archive.save(inverse, study, f"{name}/inverse/ebb")
        archive.save(parcels, study, f"{name}/rois/aparc")
    io.write_spm(sensor, files / "spmeeg_sub-01.mat", inverse=inverse, mesh=mesh)
    io.write_spm_gain(gain, files / "SPMgainmatrix_spmeeg_sub-01_1.mat")
    nas, lpa, rpa = (",".join(f"{c:.2f}" for c in fid_mri[k]) for k in ("nas", "lpa", "rpa"))
    (files / "participants_fid.tsv").write_text(
        f"subj_id\tnas\tlpa\trpa\nsub-104\t{nas}\t{lpa}\t{rpa}\n"
    )
    from test_io_lameg import write_lameg_file

    write_lameg_file(files / "sub-104_sources.h5")
    (files / "DIR").symlink_to(demo_out, target_is_directory=True)
    (files / "tests" / "data").mkdir(parents=True)  # pages may read the repository's real data
    (files / "tests" / "data" / "realdata").symlink_to(ROOT / "tests" / "data" / "realdata")
    return names, files


def _mne_forward() -> Any:
    """A small MNE forward solution (12 magnetometers, a spherical head, a coarse grid)."""
    mne = pytest.importorskip("mne")
    directions = np.random.default_rng(6).standard_normal((12, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    info = mne.create_info([f"M{i}" for i in range(12)], 600.0, "mag")
    for ch, d in zip(info["chs"], directions, strict=True):
        ex = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
        ex /= np.linalg.norm(ex)
        ch["loc"][:12] = np.concatenate([0.11 * d, ex, np.cross(d, ex), d])
    info["dev_head_t"] = mne.transforms.Transform("meg", "head")
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.0), head_radius=None, verbose="error")
    src = mne.setup_volume_source_space(sphere=(0, 0, 0, 0.06), pos=25.0, verbose="error")
    trans = mne.transforms.Transform("head", "mri")
    return mne.make_forward_solution(
        info, trans, src, sphere, meg=True, eeg=False, verbose="error"
    )


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page, world, tmp_path, monkeypatch):
    names, files = world
    for item in files.iterdir():
        if item.is_symlink():
            (tmp_path / item.name).symlink_to(item.readlink(), target_is_directory=True)
        elif item.is_dir():
            shutil.copytree(item, tmp_path / item.name, symlinks=True)
        else:
            shutil.copy(item, tmp_path / item.name)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__", **names}
    import matplotlib.pyplot as plt

    for line, code, reason in code_blocks(page):
        if reason is not None:
            continue
        try:
            # padded so that tracebacks give the page's own line numbers
            exec(compile("\n" * line + code, str(page), "exec"), namespace)
        finally:
            plt.close("all")
