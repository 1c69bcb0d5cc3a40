"""The pixel grid of a raster (CRS, transform, size) and the checks that all layers share one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.crs import CRS

from backend.errors import UserError

_ALIGN_HINT = "pass {param:align} to resample onto the first layer's grid"


@dataclass(frozen=True)
class Grid:
    """Where the pixels are: enough to compare layers and to write outputs on the same grid."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, dataset: Any) -> Grid:
        return cls(dataset.crs, dataset.transform, dataset.width, dataset.height)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(x, y) pixel size in CRS units, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    def crs_label(self) -> str:
        if self.crs is None:
            return "no CRS"
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else self.crs.to_string()[:60]

    def info(self) -> dict:
        """JSON-able description (EPSG code, short WKT, size, pixel size, bounds)."""
        wkt = self.crs.to_wkt() if self.crs else None
        left, top = self.transform.c, self.transform.f
        right = left + self.transform.a * self.width
        bottom = top + self.transform.e * self.height
        return {
            "crs": {"epsg": self.crs.to_epsg() if self.crs else None,
                    "wkt": wkt if wkt is None or len(wkt) <= 120 else wkt[:117] + "...",
                    "name": _crs_name(self.crs)},
            "size": {"width": self.width, "height": self.height},
            "pixel_size": list(self.pixel_size),
            "bounds": [min(left, right), min(top, bottom), max(left, right), max(top, bottom)],
        }


def _crs_name(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    try:
        return crs.to_dict(projjson=True).get("name")
    except Exception:  # noqa: BLE001 - an odd CRS should not stop `info`
        return crs.to_string()


def grid_difference(grid: Grid, reference: Grid) -> str | None:
    """Human-readable difference of ``grid`` from ``reference``, or None when they match."""
    if grid.crs != reference.crs:
        return f"CRS {grid.crs_label()}, expected {reference.crs_label()}"
    if (grid.height, grid.width) != (reference.height, reference.width):
        return (f"{grid.width}x{grid.height} pixels, expected "
                f"{reference.width}x{reference.height}")
    tolerance = 1e-6 * max(reference.pixel_size)
    if not grid.transform.almost_equals(reference.transform, precision=tolerance):
        if grid.pixel_size != reference.pixel_size:
            gx, gy = grid.pixel_size
            rx, ry = reference.pixel_size
            return f"pixel size {gx:g} x {gy:g}, expected {rx:g} x {ry:g}"
        return (f"origin ({grid.transform.c:g}, {grid.transform.f:g}), expected "
                f"({reference.transform.c:g}, {reference.transform.f:g})")
    return None


def check_same_grid(path: str, grid: Grid, reference_path: str, reference: Grid) -> None:
    """Stop with a message naming ``path`` and the difference when its grid is not the reference's."""
    difference = grid_difference(grid, reference)
    if difference:
        raise UserError(f"{Path(path).name}: {difference} like {Path(reference_path).name}; {_ALIGN_HINT}",
                        param="align")


def check_georeferenced(path: str, grid: Grid) -> None:
    if grid.crs is None:
        raise UserError(f"{path}: the raster has no coordinate reference system; assign one "
                        "(e.g. gdal_edit.py -a_srs EPSG:32648) before mapping")
