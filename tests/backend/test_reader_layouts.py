"""The reader on the three layouts: dates, polarizations, units, nodata, windows, --dates, --align."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rasterio.transform import from_origin
from rasterio.windows import Window
from test_reader_fixtures import (
    DATES,
    HEIGHT,
    TRANSFORM,
    WIDTH,
    layout_a,
    layout_b,
    layout_c,
    series_values,
    speckled_linear,
    write_raster,
)

from backend.raster import detect, open_series, parse_dates_option


def _expected_db(pol: str) -> np.ndarray:
    return series_values(pol, "dB")


@pytest.mark.parametrize("unit", ["linear", "dB"])
def test_layout_a_dates_from_descriptions(tmp_path, unit):
    paths = layout_a(tmp_path, unit=unit)
    with open_series(vv=[str(paths["VV"])], vh=str(paths["VH"])) as series:
        assert series.layout == "a"
        assert series.pols == ["VV", "VH"]
        assert series.dates == {"VV": DATES, "VH": DATES}
        assert series.units == {"VV": unit, "VH": unit}
        cube = series.read("VH")
        assert cube.shape == (len(DATES), HEIGHT, WIDTH) and cube.dtype == np.float32
        np.testing.assert_allclose(cube, _expected_db("VH"), atol=1e-4)
        assert series.problems == []


def test_layout_a_dates_from_band_tags(tmp_path):
    paths = layout_a(tmp_path, date_style="tags")
    with detect([str(paths["VV"]), str(paths["VH"])]) as series:
        assert series.layout == "a" and series.dates["VV"] == DATES


def test_layout_a_unsorted_bands_come_back_sorted_by_date(tmp_path):
    shuffled = [DATES[2], DATES[0], DATES[3], DATES[1]]
    paths = layout_a(tmp_path, dates=shuffled, pols=("VV",))
    with open_series(vv=str(paths["VV"])) as series:
        assert series.dates["VV"] == DATES
        raw = series_values("VV", "dB")
        np.testing.assert_allclose(series.read("VV"), raw[[1, 3, 0, 2]], atol=1e-4)


@pytest.mark.parametrize("style", ["esa", "short"])
def test_layout_b_dates_and_pols_from_file_names(tmp_path, style):
    paths = layout_b(tmp_path, style=style)
    all_files = [str(p) for pol in ("VH", "VV") for p in reversed(paths[pol])]
    with detect(all_files) as series:
        assert series.layout == "b"
        assert series.pols == ["VV", "VH"]
        assert series.dates == {"VV": DATES, "VH": DATES}
        np.testing.assert_allclose(series.read("VV"), _expected_db("VV"), atol=1e-4)


def test_layout_c_interleaved_stack(tmp_path):
    stack = layout_c(tmp_path, unit="dB")
    with detect([str(stack)]) as series:
        assert series.layout == "c"
        assert series.pols == ["VV", "VH"] and series.dates["VH"] == DATES
        assert series.units == {"VV": "dB", "VH": "dB"}
        np.testing.assert_allclose(series.read("VV"), _expected_db("VV"), atol=1e-5)
        np.testing.assert_allclose(series.read("VH"), _expected_db("VH"), atol=1e-5)


def test_single_file_polarization_from_name_or_descriptions(tmp_path):
    values = series_values("VH", "linear")
    by_name = write_raster(tmp_path / "vh_stack.tif", values, descriptions=[d.isoformat() for d in DATES])
    by_description = write_raster(tmp_path / "backscatter.tif", values,
                                  descriptions=[f"Sigma0_VH_{d:%Y%m%d}" for d in DATES])
    for path in (by_name, by_description):
        with detect([str(path)]) as series:
            assert series.pols == ["VH"] and series.layout == "a" and series.dates["VH"] == DATES


def test_vh_only_series_reads_and_composites(tmp_path):
    paths = layout_b(tmp_path, pols=("VH",))
    with open_series(vh=[str(p) for p in paths["VH"]], require=("VH",)) as series:
        assert series.pols == ["VH"]
        assert series.read("VH").shape[0] == len(DATES)


def test_nodata_value_and_nan_become_nan(tmp_path):
    values = series_values("VV", "linear")
    values[0, 0, 0] = -9999.0
    values[1, 2, 3] = np.nan
    values[2, 4, 5] = 0.0  # zero linear power has no dB value
    path = write_raster(tmp_path / "S1_VV.tif", values, nodata=-9999.0,
                        descriptions=[d.isoformat() for d in DATES])
    with open_series(vv=str(path)) as series:
        cube = series.read("VV")
        assert series.nodata == -9999.0 and series.info()["nodata"] == -9999.0
    assert np.isnan(cube[0, 0, 0]) and np.isnan(cube[1, 2, 3]) and np.isnan(cube[2, 4, 5])
    assert np.isfinite(cube).sum() == cube.size - 3


def test_integer_linear_nodata_zero(tmp_path):
    linear = speckled_linear("VV", len(DATES))
    scaled = np.round(linear * 10000).astype(np.uint16)
    scaled[:, :2, :] = 0
    path = write_raster(tmp_path / "vv.tif", scaled / np.float32(10000), nodata=0,
                        descriptions=[d.isoformat() for d in DATES])
    with open_series(vv=str(path)) as series:
        cube = series.read("VV")
    assert np.isnan(cube[:, :2]).all() and np.isfinite(cube[:, 2:]).all()


def test_declared_band_unit_wins(tmp_path):
    values = series_values("VV", "dB")
    path = write_raster(tmp_path / "vv.tif", values, units=["dB"] * len(DATES),
                        descriptions=[d.isoformat() for d in DATES])
    with open_series(vv=str(path)) as series:
        assert series.units["VV"] == "dB"


def test_read_window_matches_full_read(tmp_path):
    paths = layout_b(tmp_path)
    with open_series(vv=[str(p) for p in paths["VV"]]) as series:
        full = series.read("VV")
        part = series.read("VV", Window(col_off=5, row_off=3, width=10, height=7))
        assert part.shape == (len(DATES), 7, 10)
        np.testing.assert_array_equal(part, full[:, 3:10, 5:15])
        with pytest.raises(ValueError, match="outside"):
            series.read("VV", Window(30, 0, 10, 10))


def test_read_between_selects_a_season(tmp_path):
    paths = layout_a(tmp_path, pols=("VV",))
    with open_series(vv=str(paths["VV"])) as series:
        season = (dt.date(2022, 1, 15), dt.date(2022, 2, 5))
        assert series.dates_between("VV", season) == DATES[1:3]
        np.testing.assert_array_equal(series.read("VV", between=season), series.read("VV")[1:3])


def test_dates_option_when_bands_have_no_date(tmp_path):
    paths = layout_a(tmp_path, date_style="none")
    dates_file = tmp_path / "dates.txt"
    dates_file.write_text("# acquisitions\n" + "\n".join(d.strftime("%Y%m%d") for d in DATES) + "\n")
    from_file = parse_dates_option(str(dates_file))
    from_list = parse_dates_option(",".join(d.isoformat() for d in DATES))
    assert from_file == from_list == DATES
    with open_series(vv=str(paths["VV"]), vh=str(paths["VH"]), dates=from_list) as series:
        assert series.dates == {"VV": DATES, "VH": DATES}


def test_differing_vv_vh_dates_are_a_problem_not_an_error(tmp_path):
    layout_b(tmp_path, pols=("VV",))
    layout_b(tmp_path, pols=("VH",), dates=DATES[:3] + [dt.date(2022, 2, 15)])
    with detect(sorted(str(p) for p in tmp_path.glob("*.tif"))) as series:
        assert series.dates["VH"][-1] == dt.date(2022, 2, 15)
        assert any("VV and VH dates differ" in p and "2022-02-14" in p and "2022-02-15" in p
                   for p in series.problems)


def test_align_resamples_onto_first_layer_grid(tmp_path):
    vv = write_raster(tmp_path / "S1_VV_2022-01-09.tif", np.full((HEIGHT, WIDTH), 0.1, np.float32))
    coarse = from_origin(TRANSFORM.c, TRANSFORM.f, 20.0, 20.0)
    vh_path = tmp_path / "S1_VH_2022-01-09.tif"
    write_raster(vh_path, np.full((HEIGHT // 2, WIDTH // 2), 0.01, np.float32), transform=coarse, nodata=-1.0)
    with open_series(vv=str(vv), vh=str(vh_path), align=True) as series:
        cube = series.read("VH")
        assert cube.shape == (1, HEIGHT, WIDTH)
        assert series.aligned == [str(vh_path)]
        assert any("resampled" in p for p in series.problems)
    np.testing.assert_allclose(cube[np.isfinite(cube)], -20.0, atol=1e-4)
    assert np.isfinite(cube).mean() > 0.9


def test_align_leaves_pixels_outside_the_footprint_nan(tmp_path):
    vv = write_raster(tmp_path / "S1_VV_2022-01-09.tif", np.full((HEIGHT, WIDTH), 0.1, np.float32))
    shifted = from_origin(TRANSFORM.c + 100.0, TRANSFORM.f, 10.0, 10.0)
    vh = write_raster(tmp_path / "S1_VH_2022-01-09.tif", np.full((HEIGHT, WIDTH), 0.01, np.float32),
                      transform=shifted)
    with open_series(vv=str(vv), vh=str(vh), align=True) as series:
        cube = series.read("VH")
    assert np.isnan(cube[0, :, :10]).all()
    np.testing.assert_allclose(cube[0, :, 11:], -20.0, atol=1e-4)


def test_info_is_json_serialisable(tmp_path):
    import json

    stack = layout_c(tmp_path, nodata=float("nan"))
    with detect([str(stack)]) as series:
        info = json.loads(json.dumps(series.info(), allow_nan=False))
    assert info["crs"]["epsg"] == 32648 and info["pixel_size"] == [10.0, 10.0]
    assert info["size"] == {"width": WIDTH, "height": HEIGHT} and info["nodata"] == "nan"
    assert info["date_range"]["VV"] == [DATES[0].isoformat(), DATES[-1].isoformat()]


def test_date_and_polarization_patterns():
    from backend.raster.names import find_date, find_polarization

    assert find_date("S1A_IW_GRDH_1SDV_20220109T224606_20220109T224631_041369_04EB2F_VV") == dt.date(2022, 1, 9)
    assert find_date("VH_2022_03_14") == dt.date(2022, 3, 14)
    assert find_date("band 20221399 then 2022-02-28") == dt.date(2022, 2, 28)
    assert find_date("orbit 041369") is None
    assert find_polarization("S1A_IW_GRDH_1SDV_20220109T224606_VH") == "VH"
    assert find_polarization("Sigma0_vv_db") == "VV"
    assert find_polarization("VH/VV ratio") is None


def test_multiple_multiband_files_per_polarization_are_layout_a(tmp_path):
    first, second = tmp_path / "2022", tmp_path / "2023"
    first.mkdir(), second.mkdir()
    later = [d.replace(year=2023) for d in DATES]
    vv = [str(layout_a(first, pols=("VV",))["VV"]), str(layout_a(second, pols=("VV",), dates=later)["VV"])]
    with open_series(vv=vv) as series:
        assert series.layout == "a" and series.dates["VV"] == DATES + later
