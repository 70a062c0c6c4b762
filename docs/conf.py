"""Sphinx configuration: markdown pages (MyST), numpydoc API reference, example gallery.

Build offline with ``python -m sphinx -b html docs docs/_build/html`` (add
``-D plot_gallery=0`` to skip running the examples). No extension fetches
anything from the network (no intersphinx).
"""

from __future__ import annotations

import os

import laminarray

project = "laminarray"
author = "laminarray developers"
copyright = "laminarray developers"
release = laminarray.__version__
version = release

root_doc = "contents"
extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip"]
suppress_warnings = ["myst.header"]  # topic pages may start at any heading level

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"laminarray {release}"
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "show_signature": False,
}
os.environ.setdefault("MPLBACKEND", "Agg")
