"""Bad input to the reader: each case stops with a UserError that names the file and says what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from test_reader_fixtures import DATES, HEIGHT, TRANSFORM, WIDTH, layout_a, layout_b, series_values, write_raster

from backend.errors import UserError
from backend.raster import detect, open_series, parse_dates_option


def _single(tmp_path, name: str, value: float = 0.1, shape=(HEIGHT, WIDTH), **kwargs) -> str:
    return str(write_raster(tmp_path / name, np.full(shape, value, np.float32), **kwargs))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"nothere_VV\.tif: file not found; check the path"):
        open_series(vv=str(tmp_path / "nothere_VV.tif"))


def test_unreadable_raster(tmp_path):
    broken = tmp_path / "S1_VV_2022-01-09.tif"
    broken.write_bytes(b"this is not a GeoTIFF")
    with pytest.raises(UserError, match=r"S1_VV_2022-01-09\.tif: not a readable raster .*give a GeoTIFF"):
        detect([str(broken)])


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a raster"):
        open_series(vh=str(tmp_path))


def test_no_date_found_says_to_use_dates(tmp_path):
    paths = layout_a(tmp_path, date_style="none")
    with pytest.raises(UserError) as err:
        open_series(vv=str(paths["VV"]), vh=str(paths["VH"]))
    message = str(err.value)
    assert "vv_stack.tif: no acquisition date found for band 1" in message
    assert "--dates: a file with one date per line" in message and "2022-01-09,2022-01-21" in message


def test_dates_option_with_wrong_count(tmp_path):
    paths = layout_a(tmp_path, date_style="none", pols=("VV",))
    with pytest.raises(UserError, match=r"--dates has 3 dates but VV has 4 bands \(vv_stack.tif\)"):
        open_series(vv=str(paths["VV"]), dates=DATES[:3])


@pytest.mark.parametrize("text, expected", [
    ("2022-01-09,notadate", "entry 2 'notadate' is not a date"),
    ("missing_dates.txt", "no such file, and not a comma-separated list"),
])
def test_bad_dates_option(text, expected):
    with pytest.raises(UserError, match=expected):
        parse_dates_option(text)


def test_only_one_polarization_when_both_required(tmp_path):
    paths = layout_b(tmp_path, pols=("VV",))
    with pytest.raises(UserError, match=r"only VV found in .*S1_VV_2022-01-09.tif.*this needs VV and VH: "
                                        r"add the VH data \(--vh FILE\)"):
        open_series(vv=[str(p) for p in paths["VV"]], require=("VV", "VH"))


def test_polarization_label_contradicts_role(tmp_path):
    path = _single(tmp_path, "S1_2022-01-09.tif", descriptions=["VH 2022-01-09"])
    with pytest.raises(UserError, match=r"band 1 is labelled VH .* given as VV; give it with --vh"):
        open_series(vv=path)


def test_polarization_unknown(tmp_path):
    path = _single(tmp_path, "S1_2022-01-09.tif")
    with pytest.raises(UserError, match=r"S1_2022-01-09.tif: cannot tell whether it holds VV or VH.*"
                                        r"S1_2022-01-09_VV.tif, or give it with --vv / --vh"):
        detect([path])


def test_mixed_units_names_both_files(tmp_path):
    vv = write_raster(tmp_path / "S1_VV_2022-01-09.tif", series_values("VV", "linear", 1)[0])
    vh = write_raster(tmp_path / "S1_VH_2022-01-09.tif", series_values("VH", "dB", 1)[0])
    with pytest.raises(UserError, match=r"mixed units: S1_VH_2022-01-09.tif holds dB but "
                                        r"S1_VV_2022-01-09.tif holds linear; convert"):
        open_series(vv=str(vv), vh=str(vh))


def test_values_that_are_not_backscatter(tmp_path):
    path = _single(tmp_path, "S1_VV_2022-01-09.tif", value=812.0)
    with pytest.raises(UserError, match=r"S1_VV_2022-01-09.tif: values \(median 812.*give calibrated sigma0"):
        open_series(vv=path)


def test_all_nodata_raster(tmp_path):
    path = _single(tmp_path, "S1_VV_2022-01-09.tif", value=-9999.0, nodata=-9999.0)
    with pytest.raises(UserError, match=r"S1_VV_2022-01-09.tif: every pixel is nodata \(nodata value -9999.0\)"):
        open_series(vv=path)


def test_all_nan_raster(tmp_path):
    path = _single(tmp_path, "S1_VV_2022-01-09.tif", value=np.nan)
    with pytest.raises(UserError, match="every pixel is nodata"):
        open_series(vv=path)


def test_sparse_valid_pixels_are_not_called_empty(tmp_path):
    values = np.full((200, 200), np.nan, np.float32)
    values[101, 37] = 0.05  # between the sample windows, found by the block-by-block scan
    path = str(write_raster(tmp_path / "S1_VV_2022-01-09.tif", values))
    with open_series(vv=path) as series:
        assert np.isfinite(series.read("VV")).sum() == 1


def test_one_empty_date_is_a_problem(tmp_path):
    values = series_values("VV", "linear")
    values[2] = np.nan
    path = write_raster(tmp_path / "vv.tif", values, descriptions=[d.isoformat() for d in DATES])
    with open_series(vv=str(path)) as series:
        assert any("band 3 (2022-02-02) has no valid pixel" in p for p in series.problems)


def _one_date_stack(tmp_path, descriptions: list[str]) -> Path:
    data = np.stack([series_values("VV", "dB", 1)[0], series_values("VH", "dB", 1)[0]])
    return write_raster(tmp_path / "gee.tif", data, descriptions=descriptions)


def test_stack_band_without_polarization(tmp_path):
    path = _one_date_stack(tmp_path, ["VV_20220109", "B2_20220109"])
    with pytest.raises(UserError, match=r"gee.tif: band 2 \('B2_20220109'\) names no polarization"):
        open_series(stack=str(path))


def test_stack_with_other_files(tmp_path):
    stack = _one_date_stack(tmp_path, ["VV_20220109", "VH_20220109"])
    other = _single(tmp_path, "S1_VV_2022-01-21.tif")
    with pytest.raises(UserError, match="gee.tif: holds both VV and VH bands .* give a stack alone"):
        detect([str(stack), other])


def test_no_inputs_and_conflicting_roles(tmp_path):
    with pytest.raises(UserError, match="no input rasters"):
        open_series()
    path = _single(tmp_path, "S1_VV_2022-01-09.tif")
    with pytest.raises(UserError, match="either --stack or --vv/--vh"):
        open_series(vv=path, stack=path)
    with pytest.raises(UserError, match="given more than once"):
        open_series(vv=[path, path])


def test_missing_crs(tmp_path):
    path = _single(tmp_path, "S1_VV_2022-01-09.tif", crs=None)
    with pytest.raises(UserError, match="S1_VV_2022-01-09.tif: the raster has no coordinate reference system"):
        open_series(vv=path)


@pytest.mark.parametrize("difference, kwargs, expected", [
    ("size", {"shape": (HEIGHT, WIDTH - 8)},
     r"S1_VH_2022-01-09.tif: 24x24 pixels, expected 32x24 like S1_VV_2022-01-09.tif"),
    ("crs", {"crs": "EPSG:32649"},
     r"S1_VH_2022-01-09.tif: CRS EPSG:32649, expected EPSG:32648 like S1_VV_2022-01-09.tif"),
    ("pixel size", {"transform": from_origin(TRANSFORM.c, TRANSFORM.f, 20.0, 20.0)},
     r"S1_VH_2022-01-09.tif: pixel size 20 x 20, expected 10 x 10 like S1_VV_2022-01-09.tif"),
    ("origin", {"transform": from_origin(TRANSFORM.c + 30.0, TRANSFORM.f, 10.0, 10.0)},
     r"S1_VH_2022-01-09.tif: origin \(560030, 1.16e\+06\), expected \(560000, 1.16e\+06\) "
     r"like S1_VV_2022-01-09.tif"),
])
def test_grid_mismatch_names_file_and_difference(tmp_path, difference, kwargs, expected):
    vv = _single(tmp_path, "S1_VV_2022-01-09.tif")
    vh = _single(tmp_path, "S1_VH_2022-01-09.tif", value=0.01, **kwargs)
    with pytest.raises(UserError) as err:
        open_series(vv=vv, vh=vh)
    assert err.match(expected), difference
    assert err.match("pass --align to resample onto the first layer's grid")


def test_grid_mismatch_between_dates_of_one_polarization(tmp_path):
    first = _single(tmp_path, "S1_VV_2022-01-09.tif")
    second = _single(tmp_path, "S1_VV_2022-01-21.tif", shape=(HEIGHT + 1, WIDTH))
    with pytest.raises(UserError, match=r"S1_VV_2022-01-21.tif: 32x25 pixels, expected 32x24"):
        open_series(vv=[first, second])


def test_stack_given_as_one_polarization(tmp_path):
    stack = _one_date_stack(tmp_path, ["VV_20220109", "VH_20220109"])
    with pytest.raises(UserError, match=r"gee.tif: holds both VV and VH bands .*give it with --stack"):
        open_series(vv=str(stack))


def test_undeclared_zero_fill_in_db_data_is_a_problem(tmp_path):
    values = series_values("VV", "dB")
    values[:, :, : WIDTH // 2] = 0.0  # half the scene is fill without a nodata value
    path = write_raster(tmp_path / "vv_db.tif", values, descriptions=[d.isoformat() for d in DATES])
    with open_series(vv=str(path)) as series:
        assert series.units["VV"] == "dB"
        assert any("are exactly 0 and no nodata value is set" in p for p in series.problems)
