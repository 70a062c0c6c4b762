"""The documentation: every laminarray name the user guide cites exists, and the site builds offline."""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
TOOLS = ("sphinx", "myst_parser", "numpydoc", "sphinx_gallery")
OWN_PAGES = ("user_guide.md", "api.rst", "contents.md", "conf.py")


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


@pytest.mark.skipif(
    any(importlib.util.find_spec(tool) is None for tool in TOOLS),
    reason="docs tools not installed (pip install -e '.[docs]')",
)
@pytest.mark.slow
def test_docs_build(tmp_path):
    # Build a copy, so the gallery's generated sources never land in the checkout.
    shutil.copytree(
        DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("_build", "auto_examples")
    )
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    warnings = tmp_path / "warnings.txt"
    html = tmp_path / "html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-q",
            "-D",
            "plot_gallery=0",
            "-w",
            str(warnings),
            str(tmp_path / "docs"),
            str(html),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    reported = warnings.read_text().strip()
    if reported:  # reported, not failed on: other pages' docstrings may warn
        print("sphinx warnings:\n" + reported)
    ours = [line for line in reported.splitlines() if any(p in line for p in OWN_PAGES)]
    assert not ours, ours
    api = (html / "api.html").read_text()
    for name in (
        "laminarray.inverse.invert_ebb",
        "laminarray.power.roi_power",
        "laminarray.viz.plot_csd",
        "laminarray.viz.power.plot_roi_power",
        "laminarray.datasets.sample",
        "laminarray.archive.save",
    ):
        assert f'id="{name}"' in api, name
    gallery = (html / "auto_examples" / "index.html").read_text()
    for example in (ROOT / "examples").glob("plot_*.py"):
        assert f"{example.stem}.html" in gallery, example.name
    for page in DOCS.glob("*.md"):  # every topic page is in the site (the toctree globs)
        assert (html / f"{page.stem}.html").exists(), page.name
    assert "isn't included in any toctree" not in reported
