"""Pixel areas, for hectares and km² per minute, in projected or geographic grids."""

from __future__ import annotations

import math
from typing import Any

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def pixel_sides_m(grid: Any) -> tuple[float, float]:
    """(x, y) side lengths of one pixel of ``grid`` in metres (geographic: at the central latitude).

    Args:
        grid: Anything with ``crs``, ``transform`` and ``height`` (a raster grid).

    Returns:
        Both sides, positive.
    """
    t = grid.transform
    crs = grid.crs
    if crs is not None and crs.is_geographic:
        centre_lat = t.f + t.e * grid.height / 2
        dy = math.radians(math.hypot(t.d, t.e)) * EARTH_RADIUS_M
        dx = math.radians(math.hypot(t.a, t.b)) * EARTH_RADIUS_M * math.cos(math.radians(centre_lat))
        return abs(dx), dy
    factor = crs.linear_units_factor[1] if crs is not None and crs.is_projected else 1.0
    return math.hypot(t.a, t.d) * factor, math.hypot(t.b, t.e) * factor


def pixel_area_m2(grid: Any) -> float:
    """Area of one pixel of ``grid`` (crs, transform, height) in m².

    Projected CRS: the transform's determinant in the CRS's linear unit converted to metres.
    Geographic CRS: the spherical area of a pixel at the grid's central latitude, which is accurate to
    well under 1 % for scenes spanning a few degrees of latitude.
    """
    t = grid.transform
    determinant = abs(t.a * t.e - t.b * t.d)
    crs = grid.crs
    if crs is not None and crs.is_geographic:
        centre_lat = t.f + t.e * grid.height / 2
        dy = math.radians(abs(t.e)) * EARTH_RADIUS_M
        dx = math.radians(abs(t.a)) * EARTH_RADIUS_M * math.cos(math.radians(centre_lat))
        return dx * dy
    factor = crs.linear_units_factor[1] if crs is not None and crs.is_projected else 1.0
    return determinant * factor * factor
