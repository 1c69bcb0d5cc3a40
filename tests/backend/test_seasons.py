"""Rice seasons found from the data: detection on synthetic multi-crop scenes, the `seasons` verb end to end,
its bad inputs, and `map` choosing or snapping its season (real GeoTIFFs, real backend subprocesses)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio

from backend.seasons import detect
from backend.seasons.choice import covered, describe_cycles
from backend.seasons.outputs import per_pixel
from backend.seasons.scan import Detection, find_gaps, gap_notes
from backend.synthetic.cropping import crop_truth
from backend.synthetic.scene import generate_scene
from backend.synthetic.writer import write_scene

REPO = Path(__file__).resolve().parents[2]
YEAR = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))


def backend(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def events_of(lines: str, name: str) -> list[dict]:
    out = []
    for line in lines.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                out.append(event)
    return out


@pytest.fixture(scope="module")
def year_scene(tmp_path_factory) -> Path:
    """A 64 px Mekong scene over 2022 (triple rice), layout a, linear power."""
    folder = tmp_path_factory.mktemp("seasons") / "mekong"
    write_scene(generate_scene("mekong", 64, 3, start=YEAR[0], end=YEAR[1]), folder, "a")
    return folder


def test_detection_counts_double_and_triple_crops_and_dates_them():
    scene = generate_scene("delta", 64, 7, start=dt.date(2021, 10, 1), end=dt.date(2023, 3, 31))
    count, sowings = crop_truth(scene, YEAR, min_growth_days=0)
    assert set(np.unique(count)) == {0, 2, 3}  # the region's truth: non-rice, double and triple rice
    found = detect.pixel_events(scene.vh_db, scene.dates)
    cycles = detect.scene_cycles(found.days, int(found.valid.sum()), (scene.dates[0], scene.dates[-1]), 120)
    # Summer-Autumn (Apr), Autumn-Winter (Aug, triple only) and Winter-Spring (Nov-Dec): the three largest
    # cycles of 2022 sit near the median transplanting date of the truth's crops around them
    in_year = sorted(sorted((c for c in cycles if YEAR[0] <= c.flood <= YEAR[1]), key=lambda c: -c.share)[:3],
                     key=lambda c: c.flood)
    assert [c.flood.month for c in in_year][:2] in ([4, 8], [4, 9], [3, 8])
    for cycle in in_year:
        near = sowings[(sowings > 0) & (np.abs(sowings - cycle.flood.toordinal()) <= 45)]
        assert abs(np.median(near) - cycle.flood.toordinal()) <= 20
    assigned = detect.assign(found.days, in_year)
    detected = (assigned > 0).sum(axis=0)
    rice = count > 0
    assert np.mean(detected[rice] == count[rice]) > 0.6  # not a target check: the benchmark measures that
    assert np.mean(detected[count == 3]) > np.mean(detected[count == 2]) + 0.5
    errors = []
    for k in range(len(in_year)):
        truth = np.where(np.abs(sowings - in_year[k].flood.toordinal()) <= 45, sowings, 0).max(axis=0)
        both = (assigned[k] > 0) & (truth > 0)
        errors.append(assigned[k][both] - truth[both])
    assert np.abs(np.concatenate(errors)).mean() < 15


def test_gaps_are_found_and_explained():
    dates = [dt.date(2021, 10, 1) + dt.timedelta(days=12 * k) for k in range(6)]
    dates += [dates[-1] + dt.timedelta(days=48 + 12 * k) for k in range(8)]
    gaps = find_gaps(dates)
    assert [(g.after, g.days) for g in gaps] == [(dates[5], 48)]
    note = gap_notes(gaps, [])[0]
    assert "48 days" in note and "missed" in note


def test_a_season_maps_the_crops_it_holds_whole_not_the_next_one_it_touches():
    cycles = [detect.Cycle(dt.date(2022, 4, 10), (dt.date(2022, 3, 26), dt.date(2022, 7, 23)), 0.5, True),
              detect.Cycle(dt.date(2022, 6, 20), (dt.date(2022, 6, 5), dt.date(2022, 11, 1)), 0.2, True),
              detect.Cycle(dt.date(2022, 8, 10), (dt.date(2022, 7, 26), dt.date(2022, 11, 22)), 0.3, True)]
    # April-August holds the April crop whole and 72 of the June crop's 106 days: only the April crop
    assert covered(cycles, (dt.date(2022, 4, 1), dt.date(2022, 8, 31))) == cycles[:1]
    assert covered(cycles, YEAR) == cycles  # the whole year asks for every crop
    # 90 days hold no crop whole: the one they cover most
    assert covered(cycles, (dt.date(2022, 6, 1), dt.date(2022, 8, 29))) == cycles[1:2]
    assert covered(cycles, (dt.date(2022, 1, 1), dt.date(2022, 3, 1))) == []
    assert "2022-03-26 to 2022-07-23" in describe_cycles(cycles)


def test_a_field_edge_pixel_keeps_its_flooding_dip():
    """The neighbourhood smoothing does not mix a paddy's edge pixel with the bright road beside it."""
    dates = [dt.date(2022, 1, 1) + dt.timedelta(days=12 * k) for k in range(20)]
    rice = np.array([-15.0] * 5 + [-23.0, -22.5] + [-19.0, -16.0, -14.0, -13.0, -13.0] + [-15.0] * 8)
    cube = np.empty((len(dates), 8, 8), np.float32)
    cube[:, :, :4] = rice[:, None, None]
    cube[:, :, 4:] = -7.0  # road / built-up
    smooth = detect.smooth_linear(cube)
    assert smooth[5, 4, 3] < -22.0  # a plain 3 x 3 mean gave about -11 dB here
    found = detect.pixel_events(cube, dates)
    assert (found.days[:, :, :4] > 0).any(axis=0).all() and not (found.days[:, :, 4:] > 0).any()


def test_the_smoothing_distance_is_nanmean_bit_for_bit():
    """The neighbour distance skips nanmean's copy of the block, but must give its very bits: the ranks
    built on it pick each pixel's neighbours, so one ulp could change a detection."""
    rng = np.random.default_rng(3)
    a, b = (rng.normal(-15, 4, (57, 33, 40)).astype(np.float32) for _ in range(2))
    a[rng.random(a.shape) < 0.2] = np.nan
    b[:, :3, :3] = np.nan  # pixels with no pair at all: NaN, as nanmean says
    with pytest.warns(RuntimeWarning):
        expected = np.nanmean(np.abs(b - a), axis=0)
    got = detect._mean_distance(b, a)
    assert got.dtype == expected.dtype
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))


def test_date_ranges_are_the_acquisitions_within_the_days_asked():
    """The slices over the ascending dates hold exactly the acquisitions lo..hi days after each one,
    repeated dates included."""
    days = np.cumsum([0, 12, 6, 0, 12, 1, 30, 12, 12, 45, 6])
    ordinals = dt.date(2022, 1, 1).toordinal() + days
    for lo, hi in ((1, 90), (-24, 24), (14, 50), (-60, -1), (1, 5)):
        for o, found in zip(ordinals, detect._ranges(ordinals, lo, hi)):
            expected = np.flatnonzero((ordinals - o >= lo) & (ordinals - o <= hi))
            assert list(range(len(ordinals))[found]) == list(expected)


def test_a_cycle_window_opens_before_its_earliest_floodings():
    series = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    peak = dt.date(2022, 4, 17).toordinal()
    narrow = np.full(1000, peak)
    cycle = detect.scene_cycles(narrow, 1000, series, 150)[0]
    assert cycle.flood == dt.date(2022, 4, 17) and cycle.window[0] == cycle.flood - dt.timedelta(days=detect.LEAD_DAYS)
    # a second group of fields floods four weeks earlier (An Giang's spring crop spreads over March-April)
    skewed = np.concatenate([np.full(600, peak), np.full(400, peak - 28)])
    cycle = detect.scene_cycles(skewed, 1000, series, 150)[0]
    assert cycle.flood == dt.date(2022, 4, 17) and cycle.window[0] <= dt.date.fromordinal(peak - 28)


def test_a_crop_belongs_to_a_field_not_to_a_pixel():
    cycle = detect.Cycle(dt.date(2022, 4, 10), (dt.date(2022, 3, 26), dt.date(2022, 8, 22)), 0.5, True)
    day = cycle.flood.toordinal()
    events = np.zeros((1, 9, 9), np.int32)
    events[0, :, :5] = day  # a field whose pixels flood and grow ...
    events[0, 4, 2] = 0  # ... but one, where speckle hid the dip
    events[0, 4, 7] = day  # a lone pixel elsewhere that dips and rises
    found = Detection(series=YEAR, n_dates=30, cycles=[cycle], gaps=[], n_valid=81, vh_stats={}, events=events,
                      valid=np.ones((9, 9), bool))
    prob = np.full((1, 9, 9), 0.9, np.float32)
    pixels = per_pixel(found, prob, np.ones((9, 9), bool), 0.5, YEAR)
    assert pixels["rice"][0, 4, 2] and not pixels["rice"][0, 4, 7] and pixels["rice"][0, 2:7, :4].all()
    assert pixels["date"][0, 4, 2] == day and pixels["doy"][0, 4, 2] == cycle.flood.timetuple().tm_yday
    assert ((pixels["doy"] > 0) == pixels["rice"]).all() and pixels["intensity"][4, 2] == 1


def test_seasons_verb_writes_styled_rasters_and_report(year_scene, tmp_path):
    out = tmp_path / "out"
    result = backend("seasons", "--vv", str(year_scene / "VV.tif"), "--vh", str(year_scene / "VH.tif"),
                     "--out", str(out), "--progress", "json")
    assert result.returncode == 0, result.stderr
    res = events_of(result.stdout, "result")[0]
    saved = json.loads((out / "seasons.json").read_text())
    assert saved["cycles"] == res["cycles"] and (out / "seasons.txt").read_text().strip() == res["text"]
    assert len(res["cycles"]) >= 3 and res["main"]["window"] in [c["window"] for c in res["cycles"]]
    names = {p.name for p in out.iterdir()}
    for cycle in res["cycles"]:
        for kind, file in cycle["files"].items():
            assert file in names and file.replace(".tif", ".qml") in names
            assert file == f"{kind}_{cycle['window'][0]}_{cycle['window'][1]}.tif"
    with rasterio.open(out / "intensity.tif") as ds:
        intensity = ds.read(1)
        assert ds.crs.to_epsg() == 32648 and ds.dtypes[0] == "uint8" and ds.nodata == 255
    truth = rasterio.open(year_scene / "truth.tif").read(1)
    assert intensity[truth == 1].mean() > intensity[truth == 0].mean() + 1  # rice pixels carry the crops
    first = res["cycles"][0]
    with rasterio.open(out / first["files"]["transplanting_doy"]) as ds:
        doy = ds.read(1)
    with rasterio.open(out / first["files"]["rice"]) as ds:
        rice = ds.read(1)
    assert ((doy > 0) == (rice == 1)).all() and (doy[doy > 0] <= 366).all()
    assert abs(int(np.median(doy[doy > 0])) - first["flood_doy"]) <= 20
    kinds = {n: ET.parse(out / f"{n}.qml").getroot().find(".//rasterrenderer").get("type")
             for n in ("intensity", first["files"]["transplanting_doy"][:-4])}
    assert list(kinds.values()) == ["paletted", "singlebandpseudocolor"]
    assert "rice crop cycle(s) found" in res["text"] and "Cropping intensity" in res["text"]


def test_series_shorter_than_a_cycle_says_how_many_days(tmp_path):
    folder = tmp_path / "short"
    write_scene(generate_scene("mekong", 32, 1, start=dt.date(2022, 4, 1), end=dt.date(2022, 6, 15)), folder, "a")
    result = backend("seasons", "--vv", str(folder / "VV.tif"), "--vh", str(folder / "VH.tif"),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "needs at least 120 days" in result.stderr and "more days" in result.stderr
    assert not (tmp_path / "out").exists()


def _flat_series(folder: Path, pol: str, level: float) -> Path:
    dates = [dt.date(2022, 1, 5) + dt.timedelta(days=12 * k) for k in range(30)]
    rng = np.random.default_rng(0)
    data = (level + rng.normal(0, 0.5, (len(dates), 24, 24))).astype(np.float32)
    path = folder / f"{pol}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=24, height=24, count=len(dates), dtype="float32",
                       crs="EPSG:32648", transform=rasterio.transform.from_origin(5e5, 1.1e6, 10, 10)) as dst:
        dst.write(data)
        for band, date in enumerate(dates, start=1):
            dst.set_band_description(band, date.isoformat())
            dst.set_band_unit(band, "dB")
    return path


def test_no_cycle_found_shows_the_vh_statistics_and_writes_nothing(tmp_path):
    tmp_path.joinpath("in").mkdir()
    vv, vh = _flat_series(tmp_path / "in", "VV", -10.0), _flat_series(tmp_path / "in", "VH", -15.5)
    result = backend("seasons", "--vv", str(vv), "--vh", str(vh), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no rice crop cycle found" in result.stderr and "per-pixel minimum" in result.stderr
    assert "-15." in result.stderr  # the measured VH level is shown
    assert not (tmp_path / "out").exists()


def test_map_without_season_maps_the_detected_main_season(year_scene, tmp_path):
    out = tmp_path / "map"
    result = backend("map", "--vv", str(year_scene / "VV.tif"), "--vh", str(year_scene / "VH.tif"),
                     "--out", str(out), "--no-heatmap", "--engine", "onnx")
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    choice = run["season_choice"]
    complete = [c["window"] for c in choice["detected"] if c["complete"]]
    assert choice["reason"] == "detected-main" and len(choice["windows"]) == 1 and choice["windows"][0] in complete
    assert run["season"] == choice["windows"][0]


def test_a_season_matching_no_cycle_warns_and_names_the_detected_ones(year_scene, tmp_path):
    result = backend("map", "--vv", str(year_scene / "VV.tif"), "--vh", str(year_scene / "VH.tif"),
                     "--out", str(tmp_path / "map"), "--no-heatmap", "--engine", "onnx",
                     "--season", "2022-05-01", "2022-06-10", "--progress", "json")
    assert result.returncode == 0, result.stderr
    warnings = [e["message"] for e in events_of(result.stdout, "warning")]
    assert any("covers no detected rice crop cycle" in w and "flooding peak" in w for w in warnings)
    run = json.loads((tmp_path / "map" / "run.json").read_text())
    assert run["season_choice"]["reason"] == "given-no-cycle" and run["season"] == ["2022-05-01", "2022-06-10"]


def test_whole_year_snaps_to_every_cycle_unless_exact(year_scene, tmp_path):
    common = ["--vv", str(year_scene / "VV.tif"), "--vh", str(year_scene / "VH.tif"), "--no-heatmap",
              "--engine", "onnx", "--season", "2022-01-01", "2022-12-31"]
    snapped = backend("map", *common, "--out", str(tmp_path / "a"))
    exact = backend("map", *common, "--exact-season", "--out", str(tmp_path / "b"))
    assert snapped.returncode == 0 and exact.returncode == 0, snapped.stderr + exact.stderr
    a = json.loads((tmp_path / "a" / "run.json").read_text())["season_choice"]
    b = json.loads((tmp_path / "b" / "run.json").read_text())["season_choice"]
    assert a["reason"] == "given-snapped" and len(a["windows"]) >= 2
    assert b["reason"] == "given-exact" and b["windows"] == [["2022-01-01", "2022-12-31"]]


def test_map_quick_scan_finds_the_cycles_of_the_full_scan_from_its_sample(year_scene):
    from backend.raster import open_series
    from backend.seasons.scan import blocks, read_side_by_side, scan

    with open_series(vv=[str(year_scene / "VV.tif")], vh=[str(year_scene / "VH.tif")]) as reader:
        parts = blocks(64, 64, full=False)
        side = read_side_by_side(reader, "VH", parts)
        assert len(parts) == 4 and side.shape == (len(reader.dates["VH"]), 32, 4 * 33)
        assert np.isnan(side[:, :, 32::33]).all()  # the column between two blocks
        row, col, h, w = parts[1]
        np.testing.assert_array_equal(side[:, :, 33:65], reader.read("VH")[:, row:row + h, col:col + w])
        quick, full = scan(reader, 150, full=False), scan(reader, 150, full=True)
    assert quick.events is None and full.events is not None
    big = [c for c in full.cycles if c.share >= 0.2]
    for cycle in big:  # every big cycle of the full scan is found by the sample, within two weeks
        assert min(abs((c.flood - cycle.flood).days) for c in quick.cycles) <= 14
    assert quick.main is not None and quick.main.complete
    assert quick.main.share == max(c.share for c in quick.cycles if c.complete)


@pytest.mark.parametrize("n_blocks", [2, 3, 4])
def test_sampled_events_on_two_threads_are_the_single_threads_bits(year_scene, n_blocks):
    from backend.raster import open_series
    from backend.seasons.scan import blocks, read_side_by_side, sampled_events

    with open_series(vv=[str(year_scene / "VV.tif")], vh=[str(year_scene / "VH.tif")]) as reader:
        side = read_side_by_side(reader, "VH", blocks(64, 64, full=False)[:n_blocks])
        dates = reader.dates["VH"]
    whole = detect.pixel_events(side, dates)
    assert (whole.days > 0).any()  # events to compare, not only zeros
    with rasterio.Env(GDAL_NUM_THREADS="2"):
        halves = sampled_events(side, dates, n_blocks)
    np.testing.assert_array_equal(halves.days, whole.days)
    np.testing.assert_array_equal(halves.valid, whole.valid)
    for key, values in whole.stats.items():  # per valid pixel, in another order: compare as sorted values
        np.testing.assert_array_equal(np.sort(halves.stats[key]), np.sort(values))
