"""Unit conversions at the file boundary: sensor data to fT / uV, positions to mm."""

from __future__ import annotations

from .errors import FileFormatError

__all__ = ["LENGTH_TO_MM", "length_factor", "sensor_unit_factor"]

# (canonical unit, factor): value_in_canonical = value * factor
_SENSOR_UNITS = {
    "T": ("fT", 1e15),
    "mT": ("fT", 1e12),
    "uT": ("fT", 1e9),
    "nT": ("fT", 1e6),
    "pT": ("fT", 1e3),
    "fT": ("fT", 1.0),
    "T/m": ("fT/mm", 1e12),
    "T/cm": ("fT/mm", 1e14),
    "pT/m": ("fT/mm", 1.0),
    "fT/cm": ("fT/mm", 0.1),
    "fT/mm": ("fT/mm", 1.0),
    "V": ("uV", 1e6),
    "mV": ("uV", 1e3),
    "uV": ("uV", 1.0),
    "µV": ("uV", 1.0),
    "μV": ("uV", 1.0),
    "nV": ("uV", 1e-3),
}

LENGTH_TO_MM = {"m": 1000.0, "dm": 100.0, "cm": 10.0, "mm": 1.0}


def sensor_unit_factor(units: str, ch_type: str) -> tuple[str, float]:
    """Canonical units and the factor converting ``units`` to them.

    MEG channels without units (``""``/``"unknown"``) are taken to be in fT,
    as laMEG assumes; units that are not sensor units are kept unchanged.
    """
    if units in _SENSOR_UNITS:
        return _SENSOR_UNITS[units]
    if "MEG" in ch_type.upper() and units.strip().lower() in ("", "unknown"):
        return "fT", 1.0
    return units or "unknown", 1.0


def length_factor(unit: str, where: str) -> float:
    """Factor converting lengths in ``unit`` to mm."""
    try:
        return LENGTH_TO_MM[unit.strip()]
    except KeyError:
        raise FileFormatError(
            f"{where}: unknown length unit {unit!r}; expected one of {sorted(LENGTH_TO_MM)}"
        ) from None
