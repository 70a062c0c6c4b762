"""Every example runs (tiny version, Agg backend) and saves its figures, so none can rot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_examples_are_found():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_saves_figures(path, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINARRAY_EXAMPLE_SMALL", "1")
    monkeypatch.setenv("LAMINARRAY_EXAMPLE_OUT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{path.name} saved no figure"
    assert all(f.stat().st_size > 1000 for f in figures)
    assert len(figures) == len(plt.get_fignums()), "every figure of an example is saved"
