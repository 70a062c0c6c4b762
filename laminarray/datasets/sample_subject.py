"""A small complete sample subject: anatomy, sensors, gain and simulated data.

Everything is generated (no download) in well under a second at the default
size, deterministically from ``seed``: the synthetic folded cortex, a helmet
or OPM array around its scalp, the gain in its head model (single shell by
default), and trials of a
20 Hz sine burst from one cortical patch on a known layer plus sensor noise
at a known SNR. Used by the demo and by tests that need a ground truth (an
inversion should put the source on ``attrs["true_layer"]`` at
``attrs["true_vertex"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import LaminarrayError, check_option
from ..forward import gain as forward_gain
from ..forward import helmet_array, lead_field_rms_diff, opm_array
from ..schema import time_axis
from ..simulate import current_density
from .synthetic import synthetic_cortex, synthetic_head

__all__ = ["sample"]


def sample(
    n_vertices: int = 500,
    n_layers: int = 11,
    *,
    sensors: str = "helmet",
    n_channels: int = 128,
    model: str = "single_shell",
    layer: str | int = "pial",
    vertex: int | None = None,
    snr_db: float = -10.0,
    moment: float = 10.0,
    patch_size: float = 5.0,
    frequency: float = 20.0,
    n_trials: int = 20,
    sfreq: float = 600.0,
    tmin: float = -0.2,
    tmax: float = 0.5,
    woi: tuple[float, float] = (0.0, 0.5),
    seed: int = 0,
    dtype: Any = np.float64,
) -> xr.DataTree:
    """Generate a small complete subject with a known laminar source.

    Parameters
    ----------
    n_vertices : int
        Vertices per layer (a few hundred to a few thousand).
    n_layers : int
        Layers from pial to white (2-11 typical).
    sensors : {"helmet", "opm"}
        A whole-head helmet of ``n_channels`` radial magnetometers 25 mm
        outside the scalp, or an OPM array with laMEG's defaults (35 mm
        spacing, 6.5 mm offset, radial axis).
    n_channels : int
        Helmet channels (ignored for OPM).
    model : {"single_shell", "local_spheres", "sphere", "bem"}
        Forward model of the gain (:func:`laminarray.forward.gain`) in the
        subject's head (:func:`~laminarray.datasets.synthetic_head`).
    layer : str or int
        Layer of the simulated source (name or index; default ``"pial"``).
    vertex : int, optional
        Patch centre; default the column whose lead field changes most with
        depth (largest :func:`~laminarray.forward.lead_field_rms_diff`), so
        that the layer is identifiable.
    snr_db, moment, patch_size
        Sensor SNR (dB, SPM's definition), dipole moment (nAm) and patch
        FWHM (mm) of the simulation.
    frequency : float
        Frequency of the sine burst (Hz) within ``woi``.
    n_trials, sfreq, tmin, tmax
        Epochs: number, sampling rate (Hz) and time range (s, inclusive start).
    woi : (float, float)
        Signal window ``woi0 < t <= woi1`` in seconds.
    seed : int
        Seed of the anatomy and of the noise.
    dtype : numpy dtype
        Dtype of the sensor data (default float64: small and exact).

    Returns
    -------
    xarray.DataTree
        Children as an archive subject: ``mesh`` (mesh with scalp), ``head``
        (its head model),
        ``sensor`` (computed simulated data ``data (channel, time, trial)``
        in fT, the ground truth of :func:`laminarray.simulate.current_density`
        and the sensor array variables ``position``, ``orientation``,
        ``coil_*``, ``fiducials``), ``forward`` (``gain (channel, layer,
        vertex)`` fT/nAm, computed). Root attrs: ``true_vertex``,
        ``true_layer``, ``snr_db``, ``seed``.

    Examples
    --------
    >>> subject = sample(n_vertices=300, n_layers=2)
    >>> subject.attrs["true_layer"]
    'pial'
    >>> subject["sensor"]["data"].dims
    ('channel', 'time', 'trial')
    """
    check_option("sensors", sensors, ("helmet", "opm"))
    mesh = synthetic_cortex(n_vertices=n_vertices, n_layers=n_layers, seed=seed)
    head = synthetic_head()
    array = helmet_array(n_channels, head=head) if sensors == "helmet" else opm_array(head)
    gain = forward_gain(mesh, array, head, model=model).compute()
    if vertex is None:
        vertex = int(mesh["vertex"].values[int(np.argmax(lead_field_rms_diff(gain).values))])
    times = _times(tmin, tmax, sfreq)
    active = (times > woi[0]) & (times <= woi[1])
    if not active.any():
        raise LaminarrayError(f"`woi` {woi} contains no sample of {tmin}..{tmax} s")
    signal = np.sin(2 * np.pi * frequency * (times[active] - woi[0]))
    sim = current_density(
        gain,
        mesh,
        vertex,
        layer,
        signal,
        moment,
        patch_size,
        snr_db,
        times,
        n_trials=n_trials,
        seed=seed,
        woi=woi,
        dtype=dtype,
    ).compute()
    sensor = sim.assign({name: var for name, var in array.data_vars.items()})
    sensor.attrs.update({f"sensor_{k}": v for k, v in array.attrs.items()})
    true_layer = str(sim["source_layer"].values[0])
    return _tree(mesh, head, sensor, gain, vertex, true_layer, snr_db, seed, sensors)


def _tree(
    mesh: xr.Dataset,
    head: xr.Dataset,
    sensor: xr.Dataset,
    gain: xr.DataArray,
    vertex: int,
    layer: str,
    snr_db: float,
    seed: int,
    sensors: str,
) -> xr.DataTree:
    tree = xr.DataTree.from_dict(
        {"mesh": mesh, "head": head, "sensor": sensor, "forward": gain.to_dataset()},
        name="sample",
    )
    tree.attrs = {
        "true_vertex": int(vertex),
        "true_layer": layer,
        "snr_db": float(snr_db),
        "seed": int(seed),
        "sensors": sensors,
        "description": "laminarray sample subject: synthetic cortex, simulated laminar source",
    }
    return tree


def _times(tmin: float, tmax: float, sfreq: float) -> np.ndarray:
    if not tmax > tmin or not sfreq > 0:
        raise LaminarrayError(
            f"need tmin < tmax and sfreq > 0; got tmin={tmin}, tmax={tmax}, sfreq={sfreq}"
        )
    return time_axis(round((tmax - tmin) * sfreq) + 1, sfreq, tmin)
