"""Reading Sentinel-1 VV/VH time series in the layouts users have (see docs/reading.md).

Call :func:`open_series` (files by role) or :func:`detect` (roles guessed from the paths); both give a
:class:`SeriesReader` whose ``read(pol, window)`` returns float32 dB with NaN for no data.
The names are loaded on first use, so CLI option helpers (:mod:`backend.raster.options`) stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Grid": "backend.raster.grid",
    "SeriesReader": "backend.raster.series",
    "detect": "backend.raster.series",
    "open_series": "backend.raster.series",
    "parse_dates_option": "backend.raster.names",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'backend.raster' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
