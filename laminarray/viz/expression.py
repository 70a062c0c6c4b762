"""Expression plots: where (hemisphere, layer) and when (latency) transforms are expressed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import special

from .._validation import LaminarrayError, check_option
from ..expression.expression_set import best_transforms, validate_expression_set
from ._common import finish

__all__ = ["CORRECTIONS", "P_5_SIGMA", "expression_plot", "significance_threshold"]

#: One-sided tail probability of a 5-sigma normal deviate (about 2.87e-7).
P_5_SIGMA = float(special.ndtr(-5.0))

_NOT_SIGNIFICANT = "0.6"


CORRECTIONS = ("bonferroni", "sidak")


def significance_threshold(
    expression_set: xr.Dataset, alpha: float = P_5_SIGMA, *, correction: str = "bonferroni"
) -> float:
    """log10 of ``alpha`` corrected for every test in the set.

    The number of tests ``n`` is transforms x sources x latencies.

    Parameters
    ----------
    expression_set : xarray.Dataset
    alpha : float
        Family-wise significance level (default 5 sigma one-sided, about 2.87e-7).
    correction : {"bonferroni", "sidak"}
        ``"bonferroni"``: ``alpha / n``. ``"sidak"``: ``1 - (1 - alpha)^(1/n)``
        (kymata's ``expression_plot``), computed as ``-expm1(log1p(-alpha) / n)``
        so that it stays exact for tiny ``alpha``; slightly larger (less
        strict) than Bonferroni, by a factor of about ``1 + alpha/2``.

    Returns
    -------
    float
        log10 of the per-test threshold.
    """
    if not 0 < alpha < 1:
        raise LaminarrayError(f"`alpha` must be a probability in (0, 1), got {alpha}")
    check_option("correction", correction, CORRECTIONS)
    n_tests = expression_set["log_p"].size
    if correction == "sidak":
        return float(np.log10(-np.expm1(np.log1p(-alpha) / n_tests)))
    return float(np.log10(alpha) - np.log10(n_tests))


def expression_plot(
    expression_set: xr.Dataset,
    show_only: str | Sequence[str] | None = None,
    paired_axes: bool = True,
    alpha: float = P_5_SIGMA,
    layers: str | Sequence[str] | None = None,
    save_to: str | Path | None = None,
    *,
    color: str | Sequence[str] | Mapping[str, str] | None = None,
    legend_display: Mapping[str, str] | None = None,
    depth_panel: bool = True,
    title: str | None = None,
    fig_size: tuple[float, float] | None = None,
    correction: str = "bonferroni",
) -> Figure:
    """Plot log p over latency for each source's best transform, and a depth panel.

    Top: for every source (each (layer, vertex), or channel), a stem at the
    latency and log p of its best transform, coloured by transform (grey
    where not significant); left hemisphere above, right hemisphere below on
    a mirrored axis (``paired_axes``). A dotted line marks ``alpha``
    corrected (``correction``) for the number of tests shown (transforms x
    sources x latencies). Bottom (source space, ``depth_panel``): one image
    per shown transform, layer (pial at the top) x latency, of the best log p
    over vertices at that layer and latency, with the threshold contoured.

    Parameters
    ----------
    expression_set : xarray.Dataset
        ``log_p (transform, layer, vertex, latency)`` or ``(transform,
        channel, latency)`` (see :mod:`laminarray.expression`); computed if
        lazy.
    show_only : str or sequence of str, optional
        Transforms to draw (default all). Every transform still competes for
        "best transform" of a source; sources won by hidden transforms are
        not drawn.
    paired_axes : bool
        Left/right hemisphere on two mirrored axes; needs a ``hemi (vertex)``
        coordinate (ignored otherwise).
    alpha : float
        Family-wise significance level before correction (default 5 sigma,
        one-sided, about 2.87e-7).
    layers : str or sequence of str, optional
        Layers to show (default all); the correction counts only those.
    save_to : str or path-like, optional
        Also write the figure to this file (format from the extension).
    color : str or sequence of str or mapping, optional
        One colour for all, one per shown transform, or transform -> colour
        (default matplotlib's ``tab10`` cycle).
    legend_display : mapping, optional
        Transform -> legend label; transforms sharing a label share one
        legend entry (grouping).
    depth_panel : bool
        Draw the layer x latency panel (source space only).
    title : str, optional
    fig_size : (float, float), optional
        Inches; default (10, 7) with a depth panel, else (10, 5).
    correction : {"bonferroni", "sidak"}
        Multiple-comparison correction of ``alpha`` (see
        :func:`significance_threshold`; kymata's plot uses ``"sidak"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    es = validate_expression_set(expression_set)
    if layers is not None:
        if "layer" not in es.dims:
            raise LaminarrayError("`layers` needs a source-space expression set (dim `layer`)")
        es = es.sel(layer=[layers] if isinstance(layers, str) else list(layers))
    es = es.compute()
    names = [str(n) for n in es["transform"].values]
    shown = _shown(show_only, names)
    colors = _colors(color, shown)
    threshold = significance_threshold(es.sel(transform=shown), alpha, correction=correction)
    paired = paired_axes and "hemi" in es.coords
    panel = depth_panel and "layer" in es.dims
    fig, expression_axes, depth_axes = _layout(len(shown), paired, panel, fig_size)
    frame = best_transforms(es)
    frame = frame[frame["transform"].isin(shown)]
    groups = (
        [("lh", expression_axes[0]), ("rh", expression_axes[1])]
        if paired
        else [(None, expression_axes[0])]
    )
    lowest = min(float(frame["log_p"].min()) if len(frame) else 0.0, threshold)
    for hemi, ax in groups:
        rows = frame if hemi is None else frame[frame["hemi"] == hemi]
        for name in shown:
            _stems(ax, rows[rows["transform"] == name], colors[name], threshold)
        _format_expression_axis(ax, es, threshold, lowest)
        if hemi is not None:
            ax.set_title(
                {"lh": "left hemisphere", "rh": "right hemisphere"}[hemi],
                loc="left",
                fontsize="small",
                style="italic",
            )
    if paired:
        expression_axes[1].invert_yaxis()
        expression_axes[0].tick_params(labelbottom=False)
    expression_axes[-1].set_xlabel("latency (ms)")
    _legend(expression_axes[0], shown, colors, legend_display)
    if panel:
        for ax, name in zip(depth_axes, shown, strict=True):
            mesh = _depth_image(
                ax, es["log_p"].sel(transform=name), threshold, lowest, colors[name]
            )
            ax.set_title(name, fontsize="small")
        depth_axes[0].set_ylabel("layer")
        fig.colorbar(mesh, ax=depth_axes, label="best log10 p over vertices", shrink=0.9)
    if title is not None:
        fig.suptitle(title)
    finish(fig, save_to)
    return fig


def _shown(show_only: Any, names: list[str]) -> list[str]:
    if show_only is None:
        return names
    wanted = [show_only] if isinstance(show_only, str) else [str(s) for s in show_only]
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise LaminarrayError(f"`show_only` names unknown transforms {unknown}; have {names}")
    return wanted


def _colors(color: Any, shown: list[str]) -> dict[str, str]:
    if color is None:
        cycle = plt.get_cmap("tab10").colors
        return {name: cycle[i % len(cycle)] for i, name in enumerate(shown)}
    if isinstance(color, str):
        return dict.fromkeys(shown, color)
    if isinstance(color, Mapping):
        missing = [name for name in shown if name not in color]
        if missing:
            raise LaminarrayError(f"`color` has no colour for transforms {missing}")
        return {name: color[name] for name in shown}
    if len(color) != len(shown):
        raise LaminarrayError(
            f"`color` must give one colour per shown transform ({len(shown)}), got {len(color)}"
        )
    return dict(zip(shown, color, strict=True))


def _layout(
    n_transforms: int, paired: bool, panel: bool, fig_size: Any
) -> tuple[Figure, list[Axes], list[Axes]]:
    n_rows = (2 if paired else 1) + (1 if panel else 0)
    heights = ([1, 1] if paired else [2]) + ([1.4] if panel else [])
    fig = plt.figure(figsize=fig_size or ((10, 7) if panel else (10, 5)), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_transforms, height_ratios=heights)
    expression_axes = [fig.add_subplot(grid[0, :])]
    if paired:
        expression_axes.append(fig.add_subplot(grid[1, :], sharex=expression_axes[0]))
    depth_axes = [fig.add_subplot(grid[-1, i]) for i in range(n_transforms)] if panel else []
    return fig, expression_axes, depth_axes


def _stems(ax: Axes, rows: Any, color: Any, threshold: float) -> None:
    if not len(rows):
        return
    x = rows["latency"].to_numpy() * 1000.0
    y = rows["log_p"].to_numpy()
    significant = y <= threshold
    for mask, c in ((significant, color), (~significant, _NOT_SIGNIFICANT)):
        if mask.any():
            ax.vlines(x[mask], 0.0, y[mask], color=c, linewidth=0.8)
            ax.scatter(x[mask], y[mask], color=c, s=14, zorder=3)


def _format_expression_axis(ax: Axes, es: xr.Dataset, threshold: float, lowest: float) -> None:
    latency_ms = es["latency"].values * 1000.0
    step = np.diff(latency_ms).min() if latency_ms.size > 1 else 10.0
    ax.set_xlim(latency_ms.min() - step, latency_ms.max() + step)
    ax.set_ylim(1.05 * lowest, 0.0)
    ax.axhline(threshold, color="k", linestyle=":", linewidth=1.0)
    ax.annotate(
        "α*", (1.0, threshold), xycoords=("axes fraction", "data"), fontsize="small",
        ha="left", va="center",
    )  # fmt: skip
    if latency_ms.min() <= 0 <= latency_ms.max():
        ax.axvline(0.0, color="k", linewidth=0.6)
    ax.set_ylabel("log10 p")


def _legend(
    ax: Axes, shown: list[str], colors: dict[str, Any], display: Mapping[str, str] | None
) -> None:
    handles: dict[str, Line2D] = {}
    for name in shown:
        label = display.get(name, name) if display else name
        handles.setdefault(
            label, Line2D([], [], marker="o", linestyle="none", color=colors[name], label=label)
        )
    ax.legend(
        handles=list(handles.values()), title="transform", fontsize="small",
        loc="upper left", bbox_to_anchor=(1.01, 1.0),
    )  # fmt: skip


def _depth_image(
    ax: Axes, log_p: xr.DataArray, threshold: float, lowest: float, color: Any
) -> QuadMesh:
    """Layer x latency image of the best (smallest) log p over vertices."""
    image = log_p.min("vertex").transpose("layer", "latency")
    latency_ms = image["latency"].values * 1000.0
    mesh = ax.pcolormesh(
        latency_ms, np.arange(image.sizes["layer"]), image.values, cmap="magma",
        vmin=lowest, vmax=0.0, shading="nearest",
    )  # fmt: skip
    if image.sizes["layer"] > 1 and image.sizes["latency"] > 1 and image.values.min() < threshold:
        ax.contour(latency_ms, np.arange(image.sizes["layer"]), image.values, [threshold],
                   colors=[color], linewidths=1.2, linestyles="solid")  # fmt: skip
    ax.set_yticks(np.arange(image.sizes["layer"]), [str(v) for v in image["layer"].values])
    ax.invert_yaxis()
    ax.tick_params(labelsize="x-small")
    ax.set_xlabel("latency (ms)", fontsize="small")
    return mesh
