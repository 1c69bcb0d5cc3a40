"""`python -m backend info` as the plugin runs it: a real subprocess on real GeoTIFFs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_reader_fixtures import DATES, HEIGHT, WIDTH, layout_a, layout_b, layout_c, write_raster

REPO = Path(__file__).resolve().parents[2]
ISO_DATES = [d.isoformat() for d in DATES]


def run_info(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", "info", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def info_json(*args: str) -> dict:
    done = run_info(*args, "--progress", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1]["event"] == "result"
    return events[-1]


def _subfolder(parent: Path, name: str) -> Path:
    folder = parent / name
    folder.mkdir()
    return folder


def test_info_on_each_layout(tmp_path):
    a = layout_a(_subfolder(tmp_path, "a"), unit="dB")
    b = layout_b(_subfolder(tmp_path, "b"), style="esa")
    c = layout_c(_subfolder(tmp_path, "c"), nodata=-9999.0)
    cases = {
        "a": ([str(a["VV"]), str(a["VH"])], "dB"),
        "b": ([str(p) for pol in ("VV", "VH") for p in b[pol]], "linear"),
        "c": ([str(c)], "linear"),
    }
    for layout, (paths, unit) in cases.items():
        info = info_json(*paths)
        assert info["layout"] == layout
        assert info["polarizations"] == ["VV", "VH"]
        assert info["dates"] == {"VV": ISO_DATES, "VH": ISO_DATES}
        assert info["units"] == {"VV": unit, "VH": unit}
        assert info["crs"]["epsg"] == 32648 and "UTM zone 48N" in info["crs"]["name"]
        assert info["size"] == {"width": WIDTH, "height": HEIGHT} and info["pixel_size"] == [10.0, 10.0]
        assert info["problems"] == []
    assert info["nodata"] == -9999.0


def test_info_pretty_output_with_roles_and_dates_option(tmp_path):
    paths = layout_a(tmp_path, date_style="none")
    done = run_info("--vv", str(paths["VV"]), "--vh", str(paths["VH"]), "--dates", ",".join(ISO_DATES))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dates"]["VH"] == ISO_DATES


def test_info_align_reports_the_resampled_file(tmp_path):
    from rasterio.transform import from_origin

    vv = write_raster(tmp_path / "S1_VV_2022-01-09.tif", np.full((HEIGHT, WIDTH), 0.1, np.float32))
    vh = write_raster(tmp_path / "S1_VH_2022-01-09.tif", np.full((HEIGHT, WIDTH), 0.01, np.float32),
                      transform=from_origin(560005.0, 1160000.0, 10.0, 10.0))
    refused = run_info(str(vv), str(vh))
    assert refused.returncode == 2
    assert "S1_VH_2022-01-09.tif: origin (560005, 1.16e+06), expected (560000, 1.16e+06)" in refused.stderr
    assert "pass --align" in refused.stderr
    info = info_json(str(vv), str(vh), "--align")
    assert info["aligned"] == [str(vh)]


@pytest.mark.parametrize("case, expected", [
    ("missing", "missing_VV.tif: file not found"),
    ("no_dates", "no acquisition date found for band 1"),
    ("paths_and_roles", "either as PATHs or with --vv/--vh/--stack"),
    ("bad_dates", "entry 1 'soon' is not a date"),
])
def test_info_bad_input_exits_2_with_message(tmp_path, case, expected):
    paths = layout_a(tmp_path, date_style="none", pols=("VV",))
    args = {
        "missing": [str(tmp_path / "missing_VV.tif")],
        "no_dates": [str(paths["VV"])],
        "paths_and_roles": [str(paths["VV"]), "--stack", str(paths["VV"])],
        "bad_dates": [str(paths["VV"]), "--dates", "soon,later"],
    }[case]
    done = run_info(*args, "--progress", "json")
    assert done.returncode == 2
    error = json.loads(done.stdout.splitlines()[-1])
    assert error["event"] == "error" and error["exit_code"] == 2
    assert expected in error["message"]
    if case == "no_dates":
        assert "--dates: a file with one date per line" in error["message"]
