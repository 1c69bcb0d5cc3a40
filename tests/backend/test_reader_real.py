"""The reader and compositing on real Sentinel-1 cubes (An Giang 2022), written as layout-a GeoTIFFs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from test_reader_fixtures import write_raster

from backend.raster import detect
from backend.raster.units import guess_unit
from backend.timeseries import composite_series

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ey2023-angiang" / "train_cubes.npz"


@pytest.fixture(scope="module")
def cubes():
    if not DATA.exists():
        pytest.skip(f"real Sentinel-1 cubes not found at {DATA} (shared data folder absent)")
    with np.load(DATA) as data:
        return {key: data[key] for key in ("vv_vh", "dates", "label", "x0", "y0", "epsg", "pixel_size")}


def test_unit_detection_on_every_real_cube(cubes):
    linear = cubes["vv_vh"]
    for cube in linear.transpose(0, 2, 1, 3, 4).reshape(-1, linear.shape[1] * 100):
        assert guess_unit(cube, "real cube") == "linear"
        assert guess_unit(10 * np.log10(cube), "real cube") == "dB"


def test_real_cube_through_reader_and_compositing(cubes, tmp_path):
    index = int(np.flatnonzero(cubes["label"] == 1)[0])
    dates = [dt.date.fromisoformat(str(d)) for d in cubes["dates"][index]]
    size = float(np.ravel(cubes["pixel_size"])[0])
    transform = from_origin(float(cubes["x0"][index]), float(cubes["y0"][index]), size, size)
    crs = f"EPSG:{int(np.ravel(cubes['epsg'])[0])}"
    paths = [str(write_raster(tmp_path / f"rice_{pol}.tif", cubes["vv_vh"][index, :, p], transform=transform,
                              crs=crs, descriptions=[d.isoformat() for d in dates]))
             for p, pol in enumerate(("VV", "VH"))]
    with detect(paths) as series:
        assert series.units == {"VV": "linear", "VH": "linear"} and series.dates["VH"] == dates
        vh_db = series.read("VH")
        np.testing.assert_allclose(vh_db, 10 * np.log10(cubes["vv_vh"][index, :, 1]), rtol=1e-5)
        season = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
        result, count = composite_series(series, "VH", *season, steps=24)
    assert result.shape == (24, 10, 10) and np.isfinite(result).all()
    assert (count >= 22).all()  # 57 acquisitions, about one pair every 12 days
    january = [k for k, d in enumerate(dates) if d < dt.date(2022, 1, 16)]
    expected = 10 * np.log10(cubes["vv_vh"][index, january, 1].mean(axis=0))
    np.testing.assert_allclose(result[0], expected, atol=1e-4)
