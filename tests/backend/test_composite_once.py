"""Composite once: tiles assembled from pixels read earlier equal directly read tiles, and every scene
pixel is read exactly once; the faster gap filling equals the definition."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from backend.tiles.pipeline import ArraySource, CompositeOnce
from backend.tiles.tiling import TileGrid, tile_window
from backend.timeseries import composite
from backend.timeseries.compositing import _window_means, season_windows


class CountingSource(ArraySource):
    """An in-memory source that counts how often each pixel is read."""

    def __init__(self, cube: np.ndarray) -> None:
        super().__init__(cube)
        self.reads = np.zeros((self.height, self.width), int)

    def read(self, window, out=None):
        self.reads[window.row_off:window.row_off + window.height, window.col_off:window.col_off + window.width] += 1
        return super().read(window, out=out)


def random_cube(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cube = rng.normal(-14, 3, (5, 2, height, width)).astype(np.float32)
    cube[rng.random(cube.shape) < 0.2] = np.nan
    cube[:, :, :7, :9] = np.nan  # a corner without any data
    return cube


@pytest.mark.parametrize("height,width,tile,overlap", [(150, 230, 64, 16), (40, 300, 32, 8), (64, 64, 64, 0),
                                                       (97, 61, 32, 12)])
def test_assembled_tiles_equal_direct_reads_and_each_pixel_is_read_once(height, width, tile, overlap):
    cube = random_cube(height, width)
    counting = CountingSource(cube)
    grid = TileGrid.for_scene(height, width, tile, overlap, 4)
    once = CompositeOnce(counting, grid)
    direct = ArraySource(cube)
    for r0, cols in grid.tile_rows():
        for c0 in cols:
            window = tile_window(r0, c0, grid.tile, height, width)
            x, valid = once.read(window)
            want_x, want_valid = direct.read(window)
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(valid, want_valid)
    assert (counting.reads == 1).all()
    assert once.pixels_read == height * width


def reference_fill(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The definition, pixel by pixel: the mean of the nearest observed steps before and after."""
    out = values.copy()
    steps = values.shape[0]
    for idx in np.ndindex(values.shape[1:]):
        seen = [k for k in range(steps) if observed[(k, *idx)]]
        for k in range(steps):
            if observed[(k, *idx)]:
                continue
            before = [j for j in seen if j < k]
            after = [j for j in seen if j > k]
            picks = ([values[(before[-1], *idx)]] if before else []) + ([values[(after[0], *idx)]] if after else [])
            out[(k, *idx)] = np.mean(picks) if picks else np.nan
    return out


def test_composite_gap_filling_matches_its_definition():
    rng = np.random.default_rng(5)
    dates = [dt.date(2022, 4, 1) + dt.timedelta(days=int(d)) for d in sorted(rng.choice(150, 9, replace=False))]
    cube = rng.normal(-12, 3, (9, 12, 10)).astype(np.float32)
    cube[rng.random(cube.shape) < 0.5] = np.nan
    result, count = composite(cube, dates, dt.date(2022, 4, 1), dt.date(2022, 8, 28), 13)
    linear = np.power(10.0, result / 10.0)
    power = np.power(np.float32(10.0), cube / np.float32(10.0))  # _window_means averages linear power
    means = _window_means(power, dates, season_windows(dt.date(2022, 4, 1), dt.date(2022, 8, 28), 13), None)
    observed = np.isfinite(means)
    expected = reference_fill(means, observed)
    np.testing.assert_allclose(linear, expected, rtol=1e-5)
    assert (count == observed.sum(axis=0)).all()


@pytest.mark.parametrize("pattern", ["random", "season_ends_early", "season_starts_late", "nothing_missing"])
def test_gap_filling_in_place_matches_its_definition(pattern):
    from backend.timeseries.compositing import _fill_gaps

    rng = np.random.default_rng(11)
    values = rng.uniform(0.01, 0.2, (9, 7, 6)).astype(np.float32)
    observed = rng.random(values.shape) > 0.4 if pattern == "random" else np.ones(values.shape, bool)
    if pattern == "season_ends_early":
        observed[-2:] = False  # the last two windows hold no acquisition
    if pattern == "season_starts_late":
        observed[:3] = False
        observed[5, 2:4] = False
    values[~observed] = np.nan
    expected = reference_fill(values, observed)
    result = _fill_gaps(values, observed)
    assert result is values
    np.testing.assert_array_equal(result, expected.astype(np.float32))
