"""`python -m backend fetch` against a real STAC API (rustac serve) and a real Range-capable HTTP server.

The catalogue is cut from a synthetic scene: two overlapping frames per acquisition (adjacent slices of one
pass), Planetary-Computer-shaped items, COG assets with nodata -32768. Fetching the scene's own grid must give
back the synthetic series, and mapping it must give the same map as mapping the synthetic files.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from test_fetch_fixtures import (
    build_catalogue,
    http_server,
    run_backend,
    scene_acquisitions,
    scene_bounds,
    server_url,
    stac_api,
    synth_scene,
)

SEASON = ("2022-04-01", "2022-06-30")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """(scene folder, STAC API URL, COG server) shared by the tests of this module."""
    root = tmp_path_factory.mktemp("catalogue")
    scene = synth_scene(root / "scene", size=64)
    with http_server(root / "cogs") as cogs:
        (root / "cogs").mkdir(exist_ok=True)
        items = build_catalogue(scene, root / "cogs", server_url(cogs), *SEASON)
        with stac_api(items, root / "api") as url:
            yield scene, url, cogs, items


def fetch_args(url, scene, out, *extra):
    bbox, epsg = scene_bounds(scene)
    return ("fetch", "--stac-url", url, "--collection", "sentinel-1-rtc", "--bbox", *bbox, "--bbox-crs", epsg,
            "--season", *SEASON, "--out", str(out), "--progress", "json", *extra)


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def season_dates(scene, orbit=None):
    return sorted({a["date"] for a in scene_acquisitions(scene) if SEASON[0] <= a["date"] <= SEASON[1]
                   and (orbit is None or a["orbit"] == orbit)})


@pytest.fixture(scope="module")
def fetched(catalogue, tmp_path_factory):
    """(output folder, JSON events) of one fetch of both orbit directions."""
    scene, url, _, _ = catalogue
    out = tmp_path_factory.mktemp("fetched") / "series"
    proc = run_backend(*fetch_args(url, scene, out, "--orbit", "both"))
    assert proc.returncode == 0, proc.stderr
    return out, events(proc.stdout)


def map_probability(out, *inputs):
    """Map ``--vv ... --vh ...`` inputs with the default model; returns (probability array, map folder)."""
    run = run_backend("map", *inputs, "--season", *SEASON, "--no-heatmap", "--out", str(out))
    assert run.returncode == 0, run.stderr
    with rasterio.open(out / "probability.tif") as ds:
        return ds.read(1), out


@pytest.fixture(scope="module")
def fetched_map(fetched, tmp_path_factory):
    out, _ = fetched
    return map_probability(tmp_path_factory.mktemp("map") / "fetched", "--vv", str(out / "S1_VV.tif"), "--vh",
                           str(out / "S1_VH.tif"))


def test_fetch_gives_back_the_synthetic_series_with_frames_mosaicked(catalogue, fetched):
    scene, url, cogs, items = catalogue
    out, lines = fetched
    result = lines[-1]
    assert result["event"] == "result"
    dates = season_dates(scene)
    assert result["dates"] == len(dates) and result["items"] == len(items) == 2 * len(dates)
    assert all(len(group["items"]) == 2 for group in result["grouping"])  # two frames -> one date
    assert sorted(p.name for p in out.iterdir()) == ["S1_VH.tif", "S1_VV.tif", "fetch.json"]
    for pol in ("VV", "VH"):
        with rasterio.open(out / f"S1_{pol}.tif") as ds:
            assert ds.count == len(dates) and np.isnan(ds.nodata) and ds.crs.to_epsg() == 32648
            assert [d.split("_")[1] for d in ds.descriptions] == dates
            fetched_values = ds.read()
            transform = ds.transform
        for band, date in enumerate(dates):
            with rasterio.open(scene / f"S1_{pol}_{date}.tif") as src:
                assert src.transform == transform
                np.testing.assert_allclose(fetched_values[band], src.read(1), rtol=1e-6, equal_nan=True)
    record = json.loads((out / "fetch.json").read_text())
    assert sorted(i["id"] for i in record["items"]) == sorted(i["id"] for i in items)
    assert record["orbits"] == ["ascending", "descending"] and record["query"]["collection"] == "sentinel-1-rtc"
    assert "Sentinel_Data_Legal_Notice" in record["licence"]
    assert any("mixed" in p for p in result["problems"])  # both directions on one series: warned
    progress = [e for e in lines if e["event"] == "fetch_progress"]
    assert progress[-1]["items_done"] == progress[-1]["items_total"] == len(items)
    assert progress[-1]["bytes_written"] > 0
    info = run_backend("info", str(out / "S1_VV.tif"), str(out / "S1_VH.tif"))
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["units"] == {"VV": "linear", "VH": "linear"} and described["dates"]["VH"] == dates


def test_default_orbit_is_the_one_with_more_dates_and_is_reported(catalogue, tmp_path):
    scene, url, _, _ = catalogue
    proc = run_backend(*fetch_args(url, scene, tmp_path / "out", "--catalogue-only"))  # the choice, no download
    assert proc.returncode == 0, proc.stderr
    result = events(proc.stdout)[-1]
    counts = {o: len(season_dates(scene, o)) for o in ("ascending", "descending")}
    best = max(counts, key=lambda o: (counts[o], o == "descending"))
    assert result["orbits"] == [best] and result["orbit_counts"] == counts
    assert result["dates"] == counts[best]
    assert any("orbit: " + best in e.get("message", "") for e in events(proc.stdout) if e["event"] == "log")


def test_fetch_then_map_equals_mapping_the_synthetic_files(catalogue, fetched_map, tmp_path):
    scene = catalogue[0]
    direct = {pol: [str(scene / f"S1_{pol}_{d}.tif") for d in season_dates(scene)] for pol in ("VV", "VH")}
    maps = {"direct": map_probability(tmp_path / "direct", "--vv", *direct["VV"], "--vh", *direct["VH"]),
            "fetched": fetched_map}
    assert np.nanmax(np.abs(maps["direct"][0] - maps["fetched"][0])) < 1e-3  # same inputs: float rounding only
    scores = {}
    for name, (_, out) in maps.items():
        evaluation = run_backend("evaluate", "--pred", str(out / "rice.tif"), "--reference",
                                 str(scene / "truth.tif"), "--out", str(tmp_path / f"eval-{name}"))
        assert evaluation.returncode == 0, evaluation.stderr
        scores[name] = json.loads(evaluation.stdout)["f1"]
    assert scores["direct"] == pytest.approx(scores["fetched"], abs=1e-3)


def test_map_streams_from_fetch_json_without_downloading_the_series(catalogue, fetched_map, tmp_path):
    scene, url, cogs, _ = catalogue
    listed = tmp_path / "listed"
    proc = run_backend(*fetch_args(url, scene, listed, "--orbit", "both", "--catalogue-only"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in listed.iterdir()) == ["fetch.json"]
    record = listed / "fetch.json"
    served = cogs.bytes_served
    info = run_backend("info", "--vv", str(record), "--vh", str(record))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["dates"]["VV"] == season_dates(scene)
    streamed, _ = map_probability(tmp_path / "streamed", "--vv", str(record), "--vh", str(record))
    assert cogs.bytes_served > served  # the windows came from the COG server
    assert np.nanmax(np.abs(streamed - fetched_map[0])) < 1e-3
