"""Temporal compositing: equal windows, linear-power averaging, gap filling, counts, early-season padding."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from test_reader_fixtures import DATES, layout_a

from backend.errors import UserError
from backend.raster import open_series
from backend.raster.units import to_power
from backend.timeseries import composite, composite_series, season_windows

START, END = dt.date(2022, 1, 1), dt.date(2022, 1, 30)  # 30 days, 3 windows of 10 days


def _db(linear: float) -> float:
    return float(10 * np.log10(linear))


def _cube(values_db: list[float], h: int = 2, w: int = 3) -> np.ndarray:
    return np.broadcast_to(np.array(values_db, np.float32)[:, None, None], (len(values_db), h, w)).copy()


def test_season_windows_cover_the_season_without_gaps_or_overlap():
    windows = season_windows(dt.date(2022, 5, 1), dt.date(2022, 10, 31), 12)
    assert len(windows) == 12
    assert windows[0][0] == dt.date(2022, 5, 1) and windows[-1][1] == dt.date(2022, 10, 31)
    for (_, last), (first, _) in zip(windows, windows[1:]):
        assert first - last == dt.timedelta(days=1)
    lengths = {(last - first).days + 1 for first, last in windows}
    assert lengths <= {15, 16}


def test_season_windows_bad_parameters():
    with pytest.raises(UserError, match="has 3 days, fewer than the 5 steps"):
        season_windows(dt.date(2022, 1, 1), dt.date(2022, 1, 3), 5)
    with pytest.raises(UserError, match="steps=0"):
        season_windows(START, END, 0)


def test_averaging_is_done_in_linear_power():
    dates = [dt.date(2022, 1, 2), dt.date(2022, 1, 5), dt.date(2022, 1, 15), dt.date(2022, 1, 25)]
    result, count = composite(_cube([-10.0, -20.0, -15.0, -12.0]), dates, START, END, 3)
    np.testing.assert_allclose(result[0], _db((0.1 + 0.01) / 2), atol=1e-4)  # -12.60 dB, not -15 dB
    np.testing.assert_allclose(result[1], -15.0, atol=1e-4)
    assert result.dtype == np.float32 and result.shape == (3, 2, 3)
    assert count.dtype == np.uint8 and (count == 3).all()


def test_linear_averaging_is_unbiased_under_single_look_speckle():
    rng = np.random.default_rng(7)
    true_linear = 0.05
    dates = [START + dt.timedelta(days=d) for d in range(30)]
    speckled = true_linear * rng.exponential(1.0, size=(30, 40, 40))  # 1-look intensity
    cube_db = (10 * np.log10(speckled)).astype(np.float32)
    result, _ = composite(cube_db, dates, START, END, 1)
    assert abs(float(np.mean(result)) - _db(true_linear)) < 0.3
    assert float(np.mean(cube_db)) < _db(true_linear) - 2.0  # what averaging in dB would give


def test_gaps_are_filled_from_neighbouring_windows_and_not_counted():
    start, end = dt.date(2022, 1, 1), dt.date(2022, 2, 19)  # 50 days, 5 windows of 10 days
    dates = [dt.date(2022, 1, 15), dt.date(2022, 2, 5)]  # only windows 1 and 3 are observed
    result, count = composite(_cube([-10.0, -20.0]), dates, start, end, 5)
    np.testing.assert_allclose(result[:, 0, 0], [-10.0, -10.0, _db(0.055), -20.0, -20.0], atol=1e-4)
    assert (count == 2).all()


def test_per_pixel_gaps_and_pixels_without_any_data():
    dates = [dt.date(2022, 1, 5), dt.date(2022, 1, 15), dt.date(2022, 1, 25)]
    cube = _cube([-10.0, -12.0, -14.0])
    cube[1, 0, 0] = np.nan  # pixel (0,0) misses the middle window
    cube[:, 1, 2] = np.nan  # pixel (1,2) never has data
    result, count = composite(cube, dates, START, END, 3)
    np.testing.assert_allclose(result[1, 0, 0], _db((0.1 + 10 ** -1.4) / 2), atol=1e-4)
    assert count[0, 0] == 2 and count[0, 1] == 3 and count[1, 2] == 0
    assert np.isnan(result[:, 1, 2]).all()


def test_early_season_pads_later_steps_and_ignores_later_acquisitions():
    dates = [dt.date(2022, 1, 5), dt.date(2022, 1, 12), dt.date(2022, 1, 18), dt.date(2022, 1, 25)]
    result, count = composite(_cube([-10.0, -20.0, -12.0, -14.0]), dates, START, END, 3,
                              as_of=dt.date(2022, 1, 14))
    np.testing.assert_allclose(result[0], -10.0, atol=1e-4)
    np.testing.assert_allclose(result[1], -20.0, atol=1e-4)  # 2022-01-18 comes after as_of
    assert np.isnan(result[2]).all()
    assert (count == 2).all()


def test_early_season_gap_before_as_of_uses_the_previous_step():
    dates = [dt.date(2022, 1, 5), dt.date(2022, 1, 25)]
    result, count = composite(_cube([-10.0, -20.0]), dates, START, END, 3, as_of=dt.date(2022, 1, 20))
    np.testing.assert_allclose(result[1], -10.0, atol=1e-4)
    assert np.isnan(result[2]).all() and (count == 1).all()


def test_as_of_before_season_start():
    with pytest.raises(UserError, match="--as-of 2021-12-01 is before the season start 2022-01-01"):
        composite(_cube([-10.0]), [dt.date(2022, 1, 5)], START, END, 3, as_of=dt.date(2021, 12, 1))


def test_season_without_acquisition_names_season_and_data_range():
    dates = [dt.date(2021, 6, 1), dt.date(2021, 9, 30)]
    with pytest.raises(UserError, match=r"season 2022-01-01 to 2022-01-30 holds no acquisition "
                                        r"\(the data cover 2021-06-01 to 2021-09-30\)"):
        composite(_cube([-10.0, -11.0]), dates, START, END, 3)


def test_cube_and_dates_must_agree():
    with pytest.raises(ValueError, match="does not match 2 dates"):
        composite(_cube([-10.0]), [dt.date(2022, 1, 5), dt.date(2022, 1, 6)], START, END, 3)


def test_composite_series_reads_only_the_season(tmp_path):
    paths = layout_a(tmp_path, pols=("VV",))
    start, end = dt.date(2022, 1, 15), dt.date(2022, 2, 10)
    with open_series(vv=str(paths["VV"])) as series:
        result, count = composite_series(series, "VV", start, end, 3)
        expected, expected_count = composite(series.read("VV"), DATES, start, end, 3)
        # the series reads linear power straight (no round trip through dB): equal to float32 rounding
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-5)
        assert np.array_equal(np.isnan(result), np.isnan(expected))
        np.testing.assert_array_equal(count, expected_count)
        with pytest.raises(UserError, match=r"the data cover 2022-01-09 to 2022-02-14"):
            composite_series(series, "VV", dt.date(2023, 1, 1), dt.date(2023, 3, 1), 3)


def test_datetimes_are_accepted_as_dates():
    stamps = [dt.datetime(2022, 1, 5, 22, 46), dt.datetime(2022, 1, 25, 10, 30)]
    result, count = composite(_cube([-10.0, -20.0]), stamps, START, END, 3)
    np.testing.assert_allclose(result[:, 0, 0], [-10.0, _db(0.055), -20.0], atol=1e-4)
    assert (count == 2).all()


def test_composite_series_of_db_files_is_bit_identical_to_compositing_the_db_read(tmp_path):
    paths = layout_a(tmp_path, unit="dB", pols=("VH",))
    start, end = dt.date(2022, 1, 9), dt.date(2022, 2, 14)
    with open_series(vh=str(paths["VH"])) as series:
        result, count = composite_series(series, "VH", start, end, 4)
        expected, expected_count = composite(series.read("VH"), DATES, start, end, 4)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(count, expected_count)


@pytest.mark.parametrize(("unit", "values", "power"), [
    ("dB", [-10.0, 0.0, np.nan], [0.1, 1.0, np.nan]),
    ("linear", [0.25, 0.0, -1.0], [0.25, np.nan, np.nan]),
    ("amplitude", [0.5, 0.0, np.nan], [0.25, np.nan, np.nan]),
])
def test_to_power_converts_in_place_and_marks_non_positive_power_as_missing(unit, values, power):
    array = np.array(values, np.float32)
    result = to_power(array, unit)
    assert result is array
    np.testing.assert_allclose(result, np.array(power, np.float32), rtol=1e-6)


def _power_path(cube_db: np.ndarray, dates, start, end, steps, as_of=None):
    """The general composite (averaging in linear power), which single-date windows now skip."""
    from backend.timeseries.compositing import composite_power

    return composite_power(to_power(cube_db.copy(), "dB"), dates, start, end, steps, as_of)


@pytest.mark.parametrize("as_of", [None, dt.date(2022, 1, 24)])
def test_single_date_windows_keep_the_db_values_and_fill_gaps_as_the_power_path(as_of):
    # windows of 10 days: one date in the first, none in the second (a gap), one in the third
    dates = [dt.date(2022, 1, 4), dt.date(2022, 1, 26)]
    cube = _cube([-10.0, -20.0], h=3, w=4)
    cube[0, 0, 0] = np.nan  # a pixel missing from one date: filled from the other
    cube[:, 2, 3] = np.nan  # a pixel missing from both: stays empty
    before = cube.copy()
    result, count = composite(cube, dates, START, END, 3, as_of=as_of)
    expected, expected_count = _power_path(cube, dates, START, END, 3, as_of)
    np.testing.assert_array_equal(cube, before)  # the caller's cube is not touched
    np.testing.assert_allclose(result, expected, rtol=0, atol=2e-5)
    assert np.array_equal(np.isnan(result), np.isnan(expected))
    np.testing.assert_array_equal(count, expected_count)
    assert result[0, 1, 1] == np.float32(-10.0)  # the dB value itself, no round trip through power
    if as_of is None:
        np.testing.assert_allclose(result[1, 1, 1], _db((0.1 + 0.01) / 2), atol=1e-5)  # the gap: linear mean
        assert result[1, 0, 0] == np.float32(-20.0) and count[0, 0] == 1


def test_one_date_per_window_uses_the_values_themselves():
    dates = [dt.date(2022, 1, 2), dt.date(2022, 1, 12), dt.date(2022, 1, 22)]
    cube = _cube([-10.0, -20.0, -15.5])
    result, count = composite(cube, dates, START, END, 3)
    np.testing.assert_array_equal(result, cube)
    assert result is not cube and (count == 3).all()


@pytest.mark.parametrize(("dates", "as_of", "expected"), [
    ([dt.date(2022, 1, 2), dt.date(2022, 1, 12)], None, True),
    ([dt.date(2022, 1, 2), dt.date(2022, 1, 5)], None, False),  # two in the first window: averaged
    ([dt.date(2022, 1, 2), dt.date(2022, 1, 2)], None, False),  # a repeated date counts twice
    ([dt.date(2022, 1, 22), dt.date(2022, 1, 25)], dt.date(2022, 1, 23), True),  # the second comes after as_of
    ([dt.date(2021, 12, 1), dt.date(2021, 12, 5), dt.date(2022, 1, 5)], None, True),  # outside the season
])
def test_at_most_one_date_per_window(dates, as_of, expected):
    from backend.timeseries.compositing import at_most_one_date_per_window

    assert at_most_one_date_per_window(dates, START, END, 3, as_of) is expected
    assert at_most_one_date_per_window(dates, START, dt.date(2022, 1, 2), 3) is False  # too short for 3 steps


def test_composite_series_of_a_db_file_with_one_date_per_window_returns_its_values(tmp_path):
    paths = layout_a(tmp_path, unit="dB", pols=("VH",))
    start, end = DATES[0], DATES[-1]
    with open_series(vh=str(paths["VH"])) as series:
        result, count = composite_series(series, "VH", start, end, len(DATES))
        read = series.read("VH")
    np.testing.assert_array_equal(result, read)
    np.testing.assert_array_equal(count, np.isfinite(read).sum(axis=0))
