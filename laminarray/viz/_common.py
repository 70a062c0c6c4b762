"""Figure plumbing shared by the plotting functions: axes creation and saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

SAVE_TO_DOC = """save_to : str or path-like, optional
        Also write the figure to this file (format from the extension, e.g. PNG)."""


def get_axes(
    ax: Axes | None, *, projection: str | None = None, **fig_kw: Any
) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: the given axes and its figure, or a new single-axes figure."""
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    fig = plt.figure(**fig_kw)
    return fig, fig.add_subplot(1, 1, 1, projection=projection)


def finish(fig: Figure, save_to: str | Path | None, dpi: int = 120) -> None:
    """Save ``fig`` when ``save_to`` is given."""
    if save_to is not None:
        fig.savefig(save_to, dpi=dpi, bbox_inches="tight")
