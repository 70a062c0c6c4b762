"""Inversion settings as a frozen dataclass that round-trips through archive attrs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .._validation import LaminarrayError, check_option, check_positive

METHODS = ("EBB", "MSP")


@dataclass(frozen=True)
class InversionSettings:
    """Every option of an EBB/MSP inversion (laMEG's names; times in seconds).

    Attributes
    ----------
    method : {"EBB", "MSP"}
    patch_size : float
        FWHM of the geodesic Gaussian patches, mm (laMEG ``patch_size``).
    n_spatial_modes : "all", "auto" or int
        Spatial reduction of the channels (``"all"``: none, needed to compare
        free energies across forward models).
    n_temp_modes : int
        Number of temporal modes (0: automatic, 1 to 16).
    foi : (float, float)
        Frequency band in Hz (edges truncated to integers, as SPM).
    woi : (float, float) or None
        Time window in seconds (``None``: the whole epoch).
    hann : bool
        Hann-taper the temporal covariance that selects the temporal modes.
    n_folds : int
        Cross-validation folds.
    ideal_pc_test : float
        Percentage of channels held out per fold (0: no cross-validation).
    layer : str or None
        Invert on this layer's gain only.
    n_patches : int or None
        MSP: number of evenly spaced patches when ``priors`` is None.
    priors : tuple of int or None
        MSP: patch centres, flat layer-major source indices.
    seed : int
        Seed of the random channel split of cross-validation.
    rank : "auto", "full" or int
        Rank of the sensor data: ``"auto"`` takes the data's ``rank``
        attribute (MNE's SSS/projector records) or else their
        eigen-spectrum, and restricts the spatial modes to the signal
        subspace when the data have fewer dimensions than channels;
        ``"full"`` skips the analysis (laMEG's behaviour); an int imposes it.
    """

    method: str
    patch_size: float = 5.0
    n_spatial_modes: str | int = "auto"
    n_temp_modes: int = 4
    foi: tuple[float, float] = (0.0, 256.0)
    woi: tuple[float, float] | None = None
    hann: bool = False
    n_folds: int = 1
    ideal_pc_test: float = 0.0
    layer: str | None = None
    n_patches: int | None = None
    priors: tuple[int, ...] | None = None
    seed: int = 0
    rank: str | int = "auto"

    def __post_init__(self) -> None:
        check_option("method", self.method, METHODS)
        check_positive("patch_size", self.patch_size)
        modes = self.n_spatial_modes
        if isinstance(modes, str):
            check_option("n_spatial_modes", modes, ("all", "auto"))
        elif isinstance(modes, bool) or not isinstance(modes, int) or modes < 1:
            raise LaminarrayError(
                f"`n_spatial_modes` must be 'all', 'auto' or a positive int; got {modes!r}"
            )
        if isinstance(self.rank, str):
            check_option("rank", self.rank, ("auto", "full"))
        else:
            _check_count("rank", self.rank, minimum=1)
        _check_count("n_temp_modes", self.n_temp_modes, minimum=0)
        _check_count("n_folds", self.n_folds, minimum=1)
        if self.n_patches is not None:
            _check_count("n_patches", self.n_patches, minimum=1)
        foi = _pair("foi", self.foi)
        if min(foi) < 0:
            raise LaminarrayError(f"`foi` must be a band of non-negative Hz; got {foi}")
        object.__setattr__(self, "foi", foi)
        if self.woi is not None:
            object.__setattr__(self, "woi", _pair("woi", self.woi, allow_inf=True))
        pc = check_positive("ideal_pc_test", self.ideal_pc_test, allow_zero=True)
        if pc >= 100:
            raise LaminarrayError(f"`ideal_pc_test` must be a percentage below 100; got {pc}")
        object.__setattr__(self, "ideal_pc_test", pc)
        object.__setattr__(self, "patch_size", float(self.patch_size))
        object.__setattr__(self, "hann", bool(self.hann))
        if self.priors is not None:
            object.__setattr__(self, "priors", tuple(int(p) for p in self.priors))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists, infinite woi edges strings)."""
        out = asdict(self)
        out["foi"] = list(self.foi)
        out["woi"] = None if self.woi is None else [_json_float(w) for w in self.woi]
        out["priors"] = None if self.priors is None else list(self.priors)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InversionSettings:
        """Rebuild settings from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        if kwargs.get("woi") is not None:
            kwargs["woi"] = tuple(float(w) for w in kwargs["woi"])
        if kwargs.get("foi") is not None:
            kwargs["foi"] = tuple(kwargs["foi"])
        if kwargs.get("n_spatial_modes") not in (None, "all", "auto"):
            kwargs["n_spatial_modes"] = int(kwargs["n_spatial_modes"])
        if kwargs.get("rank") not in (None, "auto", "full"):
            kwargs["rank"] = int(kwargs["rank"])
        return cls(**kwargs)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LaminarrayError(f"`{name}` must be an integer >= {minimum}; got {value!r}")


def _pair(name: str, value: Any, allow_inf: bool = False) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise LaminarrayError(f"`{name}` must be a pair of numbers; got {value!r}") from None
    if any(math.isnan(v) or (math.isinf(v) and not allow_inf) for v in (lo, hi)) or lo > hi:
        raise LaminarrayError(f"`{name}` must be an increasing pair of numbers; got {value!r}")
    return (lo, hi)


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
