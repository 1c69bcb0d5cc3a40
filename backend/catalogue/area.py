"""The area of interest (bbox, vector file) and the output grid (UTM zone of the area, 10 m by default)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from backend.errors import UserError

LONLAT = "EPSG:4326"


@dataclass(frozen=True)
class Area:
    """The area in lon/lat (for the search) and in the output CRS (for the grid)."""

    lonlat: Any  # shapely geometry, EPSG:4326
    source: str  # how it was given, for fetch.json and messages

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.lonlat.bounds)


def area_from_bbox(values: Sequence[float], crs: str | int | None) -> Area:
    """A bbox ``minx miny maxx maxy`` in ``crs`` (default lon/lat) as an :class:`Area`.

    Raises:
        UserError: min not below max, lon/lat out of range, unknown CRS (``param='bbox'``).
    """
    import shapely.geometry

    minx, miny, maxx, maxy = (float(v) for v in values)
    if not (minx < maxx and miny < maxy):
        raise UserError(f"{{param:bbox}} {minx} {miny} {maxx} {maxy}: give MINX MINY MAXX MAXY with min < max",
                        param="bbox")
    source_crs = _crs(crs or 4326, "{param:bbox_crs}")
    box = shapely.geometry.box(minx, miny, maxx, maxy)
    lonlat = _to_lonlat(box, source_crs)
    _check_lonlat(lonlat, f"{{param:bbox}} {minx} {miny} {maxx} {maxy} (CRS {source_crs})")
    return Area(lonlat, f"bbox {[minx, miny, maxx, maxy]} in {source_crs}")


def area_from_file(path: str) -> Area:
    """The union of all geometries of a vector file (any CRS GDAL/OGR reads) as an :class:`Area`.

    Raises:
        UserError: missing or unreadable file, no geometry, no CRS (``param='area'``).
    """
    import pyogrio
    import shapely

    file = Path(path)
    if not file.exists():
        raise UserError(f"{{param:area}} {path}: file not found; give a GeoPackage, shapefile or GeoJSON", param="area")
    try:
        meta = pyogrio.read_info(path)
        _, _, wkb, _ = pyogrio.raw.read(path, read_geometry=True, columns=[])
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise UserError(f"{{param:area}} {path}: not a readable vector file ({exc}); give a GeoPackage, shapefile or "
                        "GeoJSON", param="area") from exc
    geometries = [g for g in shapely.from_wkb(wkb) if g is not None and not g.is_empty] if wkb is not None else []
    if not geometries:
        raise UserError(f"{{param:area}} {path}: holds no geometry; draw the area as a polygon", param="area")
    if not meta.get("crs"):
        raise UserError(f"{{param:area}} {path}: has no CRS; set one (e.g. in QGIS: Layer > Set CRS) and save it again",
                        param="area")
    union = shapely.union_all(geometries)
    union = union if union.area > 0 else union.buffer(1e-9)
    lonlat = _to_lonlat(union, meta["crs"])
    _check_lonlat(lonlat, f"{{param:area}} {path}")
    return Area(lonlat, f"file {file.resolve()}")


def _crs(value: str | int, option: str) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = str(value)
    text = f"EPSG:{text}" if text.isdigit() else text
    try:
        return CRS.from_user_input(text).to_string()
    except CRSError:
        raise UserError(f"{option} {value}: unknown CRS; give an EPSG code such as 4326 or 32648",
                        param="bbox" if "bbox" in option else "crs") from None


def _to_lonlat(geometry: Any, crs: str) -> Any:
    return _reproject(geometry, crs, LONLAT)


def _reproject(geometry: Any, source: str, target: str) -> Any:
    """``geometry`` in ``target``, densified first so long edges follow the projection."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    transformer = Transformer.from_crs(source, target, always_xy=True)

    def move(xy: Any) -> Any:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geometry.segmentize(_segment(geometry)), move)


def _segment(geometry: Any) -> float:
    minx, miny, maxx, maxy = geometry.bounds
    return max(maxx - minx, maxy - miny, 1e-9) / 16


def _check_lonlat(geometry: Any, where: str) -> None:
    minx, miny, maxx, maxy = geometry.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx < -180 or maxx > 180 \
            or miny < -90 or maxy > 90:
        raise UserError(f"{where}: lies outside longitude -180..180 / latitude -90..90; check the "
                        "coordinates and their CRS ({param:bbox_crs})", param="bbox")


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding ``lon, lat`` (326xx north, 327xx south)."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def utm_zones(area: Area) -> list[int]:
    """EPSG codes of every UTM zone the area touches, west to east."""
    minx, miny, maxx, maxy = area.bounds
    lat = (miny + maxy) / 2
    first, last = utm_epsg(minx, lat), utm_epsg(maxx, lat)
    return list(range(first, last + 1))


def output_crs(area: Area, crs: str | int | None) -> tuple[str, list[str]]:
    """The output CRS (given, or the UTM zone of the area's centre) and problems to report.

    An area across UTM zones is mapped in the zone of its centre (distortion stays small within a few
    degrees of longitude); the problem says so and how to choose another zone.
    """
    if crs:
        return _crs(crs, "{param:crs}"), []
    centre = area.lonlat.centroid
    epsg = utm_epsg(centre.x, centre.y)
    problems = []
    zones = utm_zones(area)
    if len(zones) > 1:
        problems.append(f"the area crosses UTM zones {', '.join(str(z % 100) for z in zones)}; the output is on "
                        f"the zone of its centre (EPSG:{epsg}); pass --crs EPSG to choose another")
    return f"EPSG:{epsg}", problems


def grid_bounds(area: Area, crs: str, pixel_size: float) -> tuple[float, float, float, float]:
    """The area's bounds in ``crs``, snapped outwards to whole pixels (so reruns land on one grid)."""
    minx, miny, maxx, maxy = _reproject(area.lonlat, LONLAT, crs).bounds
    snap = pixel_size
    return (math.floor(minx / snap + 1e-9) * snap, math.floor(miny / snap + 1e-9) * snap,
            math.ceil(maxx / snap - 1e-9) * snap, math.ceil(maxy / snap - 1e-9) * snap)
