"""Forward-model diagnostics: how much the gain changes with depth, and gain strength.

Both are lazy labelled reductions of a gain matrix (dask in, dask out).
"""

from __future__ import annotations

import xarray as xr

from .._validation import LaminarrayError
from ..schema import validate_gain

__all__ = ["gain_norms", "lead_field_rms_diff"]


def lead_field_rms_diff(gain: xr.DataArray, *, all_layers: bool = False) -> xr.DataArray:
    """RMS over channels of the lead-field difference between layers and pial (laMEG).

    laMEG's ``get_lead_field_rms_diff``: for each cortical column ``v``,
    ``sqrt(mean_c (L_deep(v)_c - L_pial(v)_c)^2)`` with ``L_deep`` the
    deepest layer's lead field and ``L_pial`` the most superficial one's.
    Large values mark columns whose depth the sensors can resolve. For a
    free-orientation gain the mean runs over channels and ``xyz`` together.

    Parameters
    ----------
    gain : xarray.DataArray
        ``(channel, layer, vertex[, xyz])`` with at least two layers,
        ordered superficial to deep.
    all_layers : bool
        Return the difference of every layer to the first one, dims
        ``(layer, vertex)`` (first row zero), instead of only the deepest.

    Returns
    -------
    xarray.DataArray
        ``(vertex,)`` (or ``(layer, vertex)``), named ``lead_field_rms_diff``,
        in the gain's units; lazy for a dask-backed gain.
    """
    gain = validate_gain(gain)
    if gain.sizes["layer"] < 2:
        raise LaminarrayError(
            f"`gain` needs at least two layers for a depth difference; got {gain.sizes['layer']}"
        )
    reference = gain.isel(layer=0, drop=True)
    other = gain if all_layers else gain.isel(layer=-1)
    over = [d for d in ("channel", "xyz") if d in gain.dims]
    rms = ((other - reference) ** 2).mean(over) ** 0.5
    rms.name = "lead_field_rms_diff"
    rms.attrs = {
        "units": gain.attrs["units"],
        "long_name": "RMS over channels of the lead-field difference from the pial layer",
        "reference_layer": str(gain["layer"].values[0]),
    }
    if not all_layers:
        rms.attrs["layer"] = str(gain["layer"].values[-1])
        rms = rms.drop_vars(["layer", "depth"], errors="ignore")
    return rms


def gain_norms(gain: xr.DataArray) -> xr.DataArray:
    """Euclidean norm of each source's lead field over channels (and ``xyz``).

    Parameters
    ----------
    gain : xarray.DataArray
        ``(channel, layer, vertex[, xyz])``.

    Returns
    -------
    xarray.DataArray
        ``(layer, vertex)`` named ``gain_norm`` in the gain's units; lazy for
        a dask-backed gain.
    """
    gain = validate_gain(gain)
    over = [d for d in ("channel", "xyz") if d in gain.dims]
    norm = (gain**2).sum(over) ** 0.5
    norm.name = "gain_norm"
    norm.attrs = {"units": gain.attrs["units"], "long_name": "lead-field norm over channels"}
    return norm
