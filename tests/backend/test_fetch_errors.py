"""Bad input and failures of `fetch`, each against real servers on 127.0.0.1; and resuming after a cancel."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from test_fetch import SEASON, events, fetch_args, season_dates
from test_fetch_fixtures import (
    DATA,
    REPO,
    StatusHandler,
    build_catalogue,
    free_port,
    http_server,
    run_backend,
    scene_bounds,
    server_url,
    stac_api,
    synth_scene,
)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    scene = synth_scene(root / "scene", size=48)
    (root / "cogs").mkdir()
    with http_server(root / "cogs") as cogs:
        items = build_catalogue(scene, root / "cogs", server_url(cogs), *SEASON, mask=True)
        with stac_api(items, root / "api") as url:
            yield scene, url, cogs


def failed(proc, code=2):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return [e for e in events(proc.stdout) if e["event"] == "error"][0]["message"]


FAST_RETRIES = {"S1RM_STAC_BACKOFF_S": "0.05"}  # the same 4 retries, shorter sleeps


def test_unreachable_catalogue_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_backend("fetch", "--stac-url", url, "--collection", "sentinel-1-rtc", "--bbox", "105", "10",
                       "105.1", "10.1", "--season", *SEASON, "--out", str(tmp_path / "out"), "--progress", "json",
                       env=FAST_RETRIES)
    message = failed(proc)
    assert url in message and "unreachable" in message
    assert not (tmp_path / "out").exists()


def test_catalogue_answering_503_is_retried_then_reported(tmp_path):
    with http_server(tmp_path, StatusHandler, status=503) as down:
        proc = run_backend("fetch", "--stac-url", server_url(down), "--collection", "sentinel-1-rtc", "--bbox",
                           "105", "10", "105.1", "10.1", "--season", *SEASON, "--out", str(tmp_path / "out"),
                           "--progress", "json", env=FAST_RETRIES)
        requests = down.requests
    message = failed(proc)
    assert "retries" in message and "try again later" in message
    assert requests == 5  # the first try and 4 retries with backoff


def test_no_acquisition_in_the_season_names_the_nearest_season(catalogue, tmp_path):
    scene, url, _ = catalogue
    args = list(fetch_args(url, scene, tmp_path / "out"))
    position = args.index("--season")
    args[position + 1: position + 3] = ["2022-09-01", "2022-10-31"]
    message = failed(run_backend(*args))
    last = season_dates(scene)[-1]
    assert "no acquisitions" in message and "2022-09-01" in message
    assert f" {last} (" in message and "--season" in message  # the nearest dates lie before the asked season


def test_items_without_the_asset_names_list_the_names_they_have(catalogue, tmp_path):
    scene, url, _ = catalogue
    message = failed(run_backend(*fetch_args(url, scene, tmp_path / "out", "--assets", "VV=VV_gamma0,VH=VH_gamma0")))
    assert "VV_gamma0" in message and "vh, vv" in message and "--assets" in message


def test_mask_asset_blanks_the_pixels_it_flags(catalogue, tmp_path):
    import numpy as np
    import rasterio
    from test_fetch_fixtures import MASKED_COLUMNS

    scene, url, _ = catalogue
    out = tmp_path / "out"
    proc = run_backend(*fetch_args(url, scene, out, "--assets", "VV=vv,VH=vh,MASK=mask"))
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(out / "S1_VH.tif") as ds:
        values, date = ds.read(1), ds.descriptions[0].split("_")[1]
    with rasterio.open(scene / f"S1_VH_{date}.tif") as src:
        expected = src.read(1)
    assert np.isnan(values[:, :MASKED_COLUMNS]).all()
    np.testing.assert_allclose(values[:, MASKED_COLUMNS:], expected[:, MASKED_COLUMNS:], rtol=1e-6)


def test_missing_token_is_reported_and_a_valid_one_is_used(catalogue, tmp_path):
    scene, url, cogs = catalogue
    cogs.token = "s3cret"
    try:
        message = failed(run_backend(*fetch_args(url, scene, tmp_path / "a")))
        assert "token" in message and "S1RM_STAC_TOKEN" in message
        assert not (tmp_path / "a" / "S1_VV.tif").exists()
        proc = run_backend(*fetch_args(url, scene, tmp_path / "b"), env={"S1RM_STAC_TOKEN": "s3cret"})
        assert proc.returncode == 0, proc.stderr
    finally:
        cogs.token = None


def test_area_too_large_for_the_disk_stops_before_downloading(catalogue, tmp_path):
    scene, url, cogs = catalogue
    served = cogs.bytes_served
    proc = run_backend("fetch", "--stac-url", url, "--collection", "sentinel-1-rtc", "--bbox", "100", "5", "110",
                       "15", "--season", *SEASON, "--out", str(tmp_path / "out"), "--progress", "json")
    message = failed(proc)
    assert "GB free" in message and "smaller area" in message
    assert cogs.bytes_served == served and not (tmp_path / "out" / "S1_VV.tif").exists()


def test_bad_bbox_and_missing_area_name_the_parameter(tmp_path):
    base = ("fetch", "--stac-url", "http://127.0.0.1:9", "--collection", "c", "--season", *SEASON,
            "--out", str(tmp_path / "o"), "--progress", "json")
    assert "--bbox" in failed(run_backend(*base, "--bbox", "105", "10", "104", "11"))
    assert "exactly one" in failed(run_backend(*base))
    assert "file not found" in failed(run_backend(*base, "--area", str(tmp_path / "none.gpkg")))


def test_cancelled_fetch_leaves_no_final_file_and_resumes_without_reading_again(catalogue, tmp_path):
    scene, url, cogs = catalogue
    bbox, epsg = scene_bounds(scene)
    area = tmp_path / "area.geojson"  # the same area as a vector file in another CRS than the output
    area.write_text(json.dumps(_lonlat_polygon(bbox, epsg)))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "backend", "fetch", "--stac-url", url, "--collection", "sentinel-1-rtc",
            "--area", str(area), "--crs", epsg, "--season", *SEASON, "--out", str(out),
            "--progress", "json"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if '"fetch_progress"' in line:
            proc.send_signal(signal.SIGTERM)
            break
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert not (out / "S1_VV.tif").exists() and not (out / "fetch.json").exists()
    before = cogs.bytes_served
    rerun = run_backend(*args[3:])
    assert rerun.returncode == 0, rerun.stderr
    resumed_bytes, before = cogs.bytes_served - before, cogs.bytes_served
    result = events(rerun.stdout)[-1]
    assert result["dates_resumed"] >= 1 and result["dates"] == result["orbit_counts"][result["orbits"][0]]
    assert not (out / ".fetch-cache").exists() and (out / "S1_VV.tif").exists()
    fresh = run_backend(*args[3:-4], "--out", str(tmp_path / "fresh"), "--progress", "json")
    assert fresh.returncode == 0, fresh.stderr
    fresh_bytes = cogs.bytes_served - before
    assert resumed_bytes < fresh_bytes  # the server's own count: the dates kept were not read again
    assert result["bytes_downloaded_to_cache"] < events(fresh.stdout)[-1]["bytes_downloaded_to_cache"]


def _lonlat_polygon(bbox, epsg):
    from pyproj import Transformer

    minx, miny, maxx, maxy = (float(v) for v in bbox)
    # a hair inside the scene, so the snapped grid is the scene's own
    inset = 1.0
    to_lonlat = Transformer.from_crs(int(epsg), 4326, always_xy=True)
    corners = [(minx + inset, miny + inset), (maxx - inset, miny + inset), (maxx - inset, maxy - inset),
               (minx + inset, maxy - inset)]
    ring = [list(to_lonlat.transform(x, y)) for x, y in corners]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}]}


def test_recorded_planetary_computer_item_is_accepted_unchanged(tmp_path):
    """A real sentinel-1-rtc item (recorded JSON) served by a real STAC API goes through search and checks."""
    import datetime as dt

    import pystac

    from backend.catalogue.download import check_assets
    from backend.catalogue.grouping import acquisition_dates, group_by_pass
    from backend.catalogue.presets import PRESETS
    from backend.catalogue.search import Query, choose_orbit, open_client, orbit_of, search

    item = json.loads((DATA / "planetary-computer-sentinel-1-rtc-item.json").read_text())
    with stac_api([item], tmp_path / "api") as url:
        box = (15.0, 30.2, 15.2, 30.4)
        geometry = {"type": "Polygon", "coordinates": [[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]],
                                                        [box[0], box[3]], [box[0], box[1]]]]}
        query = Query(url, "sentinel-1-rtc", box, geometry, dt.date(2024, 4, 1), dt.date(2024, 4, 30))
        found = search(open_client(url), query)
    assert [i.id for i in found] == [item["id"]]
    served = found[0].to_dict()
    assert served["assets"]["vv"]["href"] == item["assets"]["vv"]["href"]  # the API may normalise datetimes
    recorded = pystac.Item.from_dict(item)  # and the recorded JSON itself, unchanged
    assert (orbit_of(recorded), recorded.properties["sat:relative_orbit"]) == ("descending", 51)
    orbits, counts = choose_orbit(found, "auto", acquisition_dates)
    assert orbits == ["descending"] and counts == {"ascending": 0, "descending": 1}
    kept, problems = check_assets(group_by_pass(found), PRESETS["planetary-computer"].assets)
    assert problems == [] and kept[0].date == dt.date(2024, 4, 19)
    assert kept[0].describe()["relative_orbits"] == [51]


def test_area_across_utm_zones_is_put_on_the_centre_zone_and_reported():
    from backend.catalogue.area import area_from_bbox, output_crs

    crs, problems = output_crs(area_from_bbox([101.5, 10.0, 102.3, 10.5], None), None)
    assert crs == "EPSG:32647" and "crosses UTM zones 47, 48" in problems[0] and "--crs" in problems[0]
    assert output_crs(area_from_bbox([105.0, -8.0, 105.2, -7.8], None), None) == ("EPSG:32748", [])
