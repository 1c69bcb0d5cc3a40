"""The model input of a window: VV and VH in separate files are read on two threads with the same result
as one after the other; a stack holding both is never read from two threads, nor is a run held to one."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import numpy as np
import pytest
import rasterio
from test_reader_fixtures import DATES, layout_a, layout_b, layout_c

from backend.errors import UserError
from backend.raster import open_series
from backend.raster.threads import threads_allowed
from backend.tiles.tiling import Window
from backend.timeseries import source as source_module
from backend.timeseries.source import SeriesSource, separate_files

SEASON = (dt.date(2022, 1, 9), dt.date(2022, 2, 14))
WINDOWS = [Window(0, 0, 24, 32, ((0, 0), (0, 0))), Window(5, 7, 11, 13, ((0, 0), (0, 0)))]


@pytest.fixture(autouse=True)
def two_threads():
    """What `map` sets on a machine with two cores (GDAL_NUM_THREADS from --threads)."""
    with rasterio.Env(GDAL_NUM_THREADS="2"):
        yield


def _series(folder, layout):
    if layout == "a":
        paths = layout_a(folder)
        return open_series(vv=str(paths["VV"]), vh=str(paths["VH"]))
    if layout == "b":
        paths = layout_b(folder)
        return open_series(vv=[str(p) for p in paths["VV"]], vh=[str(p) for p in paths["VH"]])
    return open_series(stack=str(layout_c(folder)))


@pytest.mark.parametrize("layout,parallel", [("a", True), ("b", True), ("c", False)])
def test_polarizations_are_read_in_parallel_only_from_separate_files(tmp_path, layout, parallel):
    with _series(tmp_path, layout) as series:
        assert separate_files(series, ["VV", "VH"]) is parallel
        assert SeriesSource(series, ["VV", "VH"], SEASON, 3, None).parallel is parallel
        assert separate_files(series, ["VH"]) is False  # one polarization: nothing to share out


@pytest.mark.parametrize("layout", ["a", "b"])
def test_parallel_reads_equal_sequential_reads_bit_for_bit(tmp_path, layout, monkeypatch):
    threads: set[str] = set()
    real = source_module.composite_series

    def recording(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(source_module, "composite_series", recording)
    with _series(tmp_path, layout) as series:
        parallel = SeriesSource(series, ["VV", "VH"], SEASON, 3, None)
        sequential = SeriesSource(series, ["VV", "VH"], SEASON, 3, None)
        sequential.parallel = False
        for window in WINDOWS:
            x, valid = parallel.read(window)
            want_x, want_valid = sequential.read(window)
            assert x.shape == (3, 2, window.height, window.width)
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(valid, want_valid)
    assert any(name.startswith("s1rm-read") for name in threads)  # the parallel source did use the threads


@pytest.mark.parametrize("setting,allowed", [("1", False), ("2", True), ("ALL_CPUS", (os.cpu_count() or 1) > 1),
                                             ("", False)])
def test_one_reading_thread_when_gdal_may_use_one(tmp_path, setting, allowed):
    with rasterio.Env(GDAL_NUM_THREADS=setting):
        assert threads_allowed() is allowed
        with _series(tmp_path, "a") as series:
            assert SeriesSource(series, ["VV", "VH"], SEASON, 3, None).parallel is allowed


def test_an_error_on_a_read_thread_reaches_the_caller(tmp_path):
    with _series(tmp_path, "a") as series:
        late = (DATES[-1] + dt.timedelta(days=30), DATES[-1] + dt.timedelta(days=90))
        source = SeriesSource(series, ["VV", "VH"], late, 3, None)
        with pytest.raises(UserError, match="holds no acquisition"):
            source.read(WINDOWS[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python 3.12+
def test_a_forked_child_reads_with_threads_of_its_own(tmp_path):
    with _series(tmp_path, "a") as series:
        source = SeriesSource(series, ["VV", "VH"], SEASON, 3, None)
        want_x, _ = source.read(WINDOWS[1])  # the parent's pool now has threads
        pid = os.fork()
        if pid == 0:  # the child: a hang here would be the inherited pool's missing threads
            code = 1
            try:
                x, _ = source.read(WINDOWS[1])
                code = 0 if np.array_equal(x, want_x) else 3
            finally:
                os._exit(code)
        for _ in range(300):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish its read within 30 s")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("windows", [[SEASON], [SEASON, (dt.date(2022, 1, 15), dt.date(2022, 2, 14))]])
def test_reading_into_a_view_of_a_larger_array_writes_the_same_cube_there(tmp_path, windows):
    from backend.seasons.windows import CyclesSource

    with _series(tmp_path, "a") as series:
        source = CyclesSource(series, ["VV", "VH"], windows, 3, None)
        window = WINDOWS[1]
        want_x, want_valid = source.read(window)
        larger = np.full((3 * len(windows), 2, window.height + 4, window.width + 6), 7.0, np.float32)
        view = larger[..., 4:, 6:]  # not contiguous: what composite-once hands over for a window's fresh part
        x, valid = source.read(window, out=view)
    assert x is view
    np.testing.assert_array_equal(view, want_x)
    np.testing.assert_array_equal(valid, want_valid)
    assert (larger[..., :4, :] == 7.0).all() and (larger[..., :, :6] == 7.0).all()  # nothing outside it
