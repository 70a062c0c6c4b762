"""CI step after the tests: build the documentation site offline and check what it must hold.

Builds a copy of ``docs/`` (so the gallery's generated sources never land in
the checkout) with ``-D plot_gallery=0``, fails on a Sphinx error or on a
warning from the pages laminarray writes itself, and checks that the API
reference, the example gallery and every topic page are in the site.
Needs the ``docs`` extra: ``pip install -e ".[docs]"``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OWN_PAGES = ("user_guide.md", "api.rst", "contents.md", "conf.py")
API_NAMES = (
    "laminarray.inverse.invert_ebb",
    "laminarray.power.roi_power",
    "laminarray.viz.plot_csd",
    "laminarray.viz.power.plot_roi_power",
    "laminarray.viz.show_surface",
    "laminarray.datasets.sample",
    "laminarray.archive.save",
)


def build(tmp: Path) -> list[str]:
    """Build the site under ``tmp``; return the problems found (empty: all good)."""
    shutil.copytree(DOCS, tmp / "docs", ignore=shutil.ignore_patterns("_build", "auto_examples"))
    shutil.copytree(ROOT / "examples", tmp / "examples")
    warnings, html = tmp / "warnings.txt", tmp / "html"
    sphinx = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-D", "plot_gallery=0"]
    run = subprocess.run(
        [*sphinx, "-w", str(warnings), str(tmp / "docs"), str(html)],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        return [f"sphinx failed:\n{run.stderr[-3000:]}"]
    reported = warnings.read_text().strip()
    if reported:  # reported, not failed on: other pages' docstrings may warn
        print("sphinx warnings:\n" + reported)
    problems = [line for line in reported.splitlines() if any(p in line for p in OWN_PAGES)]
    if "isn't included in any toctree" in reported:
        problems.append("a page is in no toctree")
    api = (html / "api.html").read_text()
    problems += [
        f"{name} missing from api.html" for name in API_NAMES if f'id="{name}"' not in api
    ]
    gallery = (html / "auto_examples" / "index.html").read_text()
    problems += [
        f"{example.name} missing from the gallery"
        for example in (ROOT / "examples").glob("plot_*.py")
        if f"{example.stem}.html" not in gallery
    ]
    problems += [
        f"{page.name} missing from the site"
        for page in DOCS.glob("*.md")
        if not (html / f"{page.stem}.html").exists()
    ]
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        problems = build(Path(tmp))
    for problem in problems:
        print(problem, file=sys.stderr)
    print("docs: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
