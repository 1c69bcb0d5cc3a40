"""Tiny real GeoTIFFs in the three layouts, written with rasterio, for the reader, compositing and info tests.

Test modules import these helpers (``from test_reader_fixtures import ...``); this module holds no tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.transform import from_origin

CRS = "EPSG:32648"
TRANSFORM = from_origin(560000.0, 1160000.0, 10.0, 10.0)
HEIGHT, WIDTH = 24, 32
LEVELS_DB = {"VV": -10.0, "VH": -17.0}
DATES = [dt.date(2022, 1, 9), dt.date(2022, 1, 21), dt.date(2022, 2, 2), dt.date(2022, 2, 14)]


def write_raster(path: Path, data: np.ndarray, *, transform=TRANSFORM, crs: str | None = CRS,
                 nodata: float | None = None, descriptions: Sequence[str] | None = None,
                 band_tags: Sequence[dict] | None = None, units: Sequence[str] | None = None) -> Path:
    """Write a (bands, h, w) or (h, w) array as a GeoTIFF with optional band descriptions, tags, units."""
    data = data[None] if data.ndim == 2 else data
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype.name, transform=transform, nodata=nodata)
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for band in range(1, data.shape[0] + 1):
            if descriptions:
                dst.set_band_description(band, descriptions[band - 1])
            if band_tags:
                dst.update_tags(band, **band_tags[band - 1])
            if units:
                dst.set_band_unit(band, units[band - 1])
    return path


def speckled_linear(pol: str, count: int, seed: int = 0, shape: tuple[int, int] = (HEIGHT, WIDTH),
                    looks: int = 4) -> np.ndarray:
    """(count, h, w) float32 linear power around the pol's level with multiplicative gamma speckle."""
    rng = np.random.default_rng(seed + (0 if pol == "VV" else 1))
    level = 10 ** (LEVELS_DB[pol] / 10)
    return (level * rng.gamma(looks, 1 / looks, size=(count,) + shape)).astype(np.float32)


def series_values(pol: str, unit: str, count: int = len(DATES), seed: int = 0) -> np.ndarray:
    linear = speckled_linear(pol, count, seed)
    return linear if unit == "linear" else (10 * np.log10(linear)).astype(np.float32)


def layout_a(folder: Path, unit: str = "linear", dates: Sequence[dt.date] = DATES,
             date_style: str = "description", pols: Sequence[str] = ("VV", "VH"), **kwargs) -> dict[str, Path]:
    """One multi-band file per pol; dates in descriptions (YYYY-MM-DD), tags (YYYYMMDD) or nowhere."""
    paths = {}
    for pol in pols:
        descriptions = [f"{pol} {d.isoformat()}" for d in dates] if date_style == "description" else None
        tags = [{"ACQUISITION_DATE": d.strftime("%Y%m%d")} for d in dates] if date_style == "tags" else None
        paths[pol] = write_raster(folder / f"{pol.lower()}_stack.tif", series_values(pol, unit, len(dates)),
                                  descriptions=descriptions, band_tags=tags, **kwargs)
    return paths


def layout_b(folder: Path, unit: str = "linear", dates: Sequence[dt.date] = DATES, style: str = "short",
             pols: Sequence[str] = ("VV", "VH"), **kwargs) -> dict[str, list[Path]]:
    """One single-band file per date and pol, named ESA/SNAP style or ``S1_VH_2022-01-09.tif``."""
    paths: dict[str, list[Path]] = {}
    for pol in pols:
        values = series_values(pol, unit, len(dates))
        paths[pol] = [write_raster(folder / _file_name(pol, d, style), values[k], **kwargs)
                      for k, d in enumerate(dates)]
    return paths


def _file_name(pol: str, date: dt.date, style: str) -> str:
    if style == "esa":
        stamp = date.strftime("%Y%m%d")
        return f"S1A_IW_GRDH_1SDV_{stamp}T224606_{stamp}T224631_041369_04EB2F_{pol}.tif"
    return f"S1_{pol}_{date.isoformat()}.tif"


def layout_c(folder: Path, unit: str = "linear", dates: Sequence[dt.date] = DATES, **kwargs) -> Path:
    """One interleaved stack, band descriptions like GEE exports: VV_20220109, VH_20220109, ..."""
    vv, vh = series_values("VV", unit, len(dates)), series_values("VH", unit, len(dates))
    data = np.stack([vv, vh], axis=1).reshape(2 * len(dates), HEIGHT, WIDTH)
    descriptions = [f"{pol}_{d.strftime('%Y%m%d')}" for d in dates for pol in ("VV", "VH")]
    return write_raster(folder / "s1_stack.tif", data, descriptions=descriptions, **kwargs)
