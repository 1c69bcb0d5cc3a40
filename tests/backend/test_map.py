"""`python -m backend map` end to end on small real GeoTIFFs with a tiny saved model (subprocess runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from test_map_fixtures import (  # env and model are module-scoped fixtures
    REPO,
    SEASON,
    TRANSFORM,
    env,  # noqa: F401 (fixture)
    final_names,
    map_args,
    model,  # noqa: F401 (fixture)
    run_backend,
    scene,
)


def test_map_writes_styled_georeferenced_outputs(tmp_path, model, env):
    inputs = scene(tmp_path / "in", nodata_rows=6)
    out = tmp_path / "out"
    result = run_backend(*map_args(model, inputs, out, "--engine", "onnx", "--batch", "3"), env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["rice.tif", "rice.qml", "probability.tif", "probability.qml", "heatmap.tif", "heatmap.qml", "run.json"])
    expected = {"rice.tif": ("uint8", 255), "probability.tif": ("float32", None), "heatmap.tif": ("float32", None)}
    for name, (dtype, nodata) in expected.items():
        with rasterio.open(out / name) as ds:
            assert ds.crs.to_epsg() == 32648 and ds.transform == TRANSFORM and (ds.width, ds.height) == (88, 72)
            assert ds.dtypes[0] == dtype and ds.block_shapes[0] == (256, 256)
            assert ds.compression.name.lower() == "deflate" and ds.overviews(1)
            assert ds.nodata == nodata if nodata is not None else np.isnan(ds.nodata)
            data = ds.read(1)
        if name == "rice.tif":
            assert (data[:6] == 255).all() and set(np.unique(data[6:])) <= {0, 1}
        else:
            assert np.isnan(data[:6]).all() and np.isfinite(data[6:]).all()
            assert data[6:].min() >= 0 and data[6:].max() <= 1
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "onnx" and run["device"] == "cpu" and run["tile_requested"] == 32 and run["batch"] == 3
    assert 32 <= run["tile"] <= 36  # may grow by 1/8 when that needs fewer model pixels
    assert run["n_tiles"] == len(run_tiles(72, run["tile"], 8)) * len(run_tiles(88, run["tile"], 8))
    assert run["season"] == SEASON and run["as_of"] is None and run["model"]["name"] == "tiny-unet"
    assert run["rice_area_ha"] == pytest.approx(run["rice_pixels"] * 0.01)
    assert run["valid_pixels"] == 66 * 88 and run["km2_per_minute"] > 0 and run["versions"]["onnxruntime"]
    with rasterio.open(out / "rice.tif") as ds:
        assert run["rice_pixels"] == int((ds.read(1) == 1).sum())
    assert_timings(run)
    renderers = {n: ET.parse(out / f"{n}.qml").getroot().find(".//rasterrenderer").get("type")
                 for n in ("rice", "probability", "heatmap")}
    assert renderers == {"rice": "paletted", "probability": "singlebandpseudocolor",
                         "heatmap": "singlebandpseudocolor"}


def assert_timings(run: dict) -> None:
    """run.json's per-stage wall times: every stage, each within the total, the model's share consistent."""
    from backend.inference.timings import STAGES

    timings = run["timings"]
    assert all(timings[stage] >= 0 for stage in STAGES)
    assert timings["startup"] > 0 and timings["model"] > 0 and timings["read_composite"] > 0
    assert sum(timings[stage] for stage in STAGES) + timings["other"] == pytest.approx(timings["total"], abs=0.01)
    assert timings["model"] == pytest.approx(run["model_seconds"], abs=0.002)
    assert timings["outside_model"] == pytest.approx(timings["total"] - timings["model"], abs=0.002)
    assert 0 < timings["outside_model_share"] < 1


def run_tiles(length: int, tile: int, overlap: int) -> list[int]:
    from backend.tiles.tiling import axis_origins

    return axis_origins(length, tile, overlap)


def test_torch_and_onnx_engines_agree_and_early_season_runs(tmp_path, model, env):
    inputs = scene(tmp_path / "in", height=40, width=40)
    for engine in ("onnx", "torch"):
        result = run_backend(*map_args(model, inputs, tmp_path / engine, "--engine", engine, "--no-heatmap",
                                       "--as-of", "2022-05-01"), env=env)
        assert result.returncode == 0, result.stderr
    with rasterio.open(tmp_path / "onnx" / "probability.tif") as a, \
            rasterio.open(tmp_path / "torch" / "probability.tif") as b:
        assert np.abs(a.read(1) - b.read(1)).max() < 1e-4
    run = json.loads((tmp_path / "torch" / "run.json").read_text())
    assert run["engine"] == "torch" and run["as_of"] == "2022-05-01" and run["heatmap"] is None
    assert not (tmp_path / "torch" / "heatmap.tif").exists()


def test_manifest_maps_every_row_with_one_model(tmp_path, model, env):
    for name in ("a", "b"):
        scene(tmp_path / name, height=36, width=30, seed=ord(name))
    manifest = tmp_path / "scenes.csv"
    manifest.write_text("vv,vh,out,season_start,season_end\n"
                        "a/VV.tif,a/VH.tif,out_a,,\n"
                        f"b/VV.tif,b/VH.tif,out_b,{SEASON[0]},2022-05-20\n")
    result = run_backend("map", "--manifest", str(manifest), "--model", model, "--season", *SEASON,
                         "--tile", "32", "--overlap", "8", "--threads", "1", "--progress", "json", env=env)
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["event"] == "result" and [r["status"] for r in final["rows"]] == ["ok", "ok"]
    assert final["rows"][1]["run"]["season"] == [SEASON[0], "2022-05-20"]
    for name in ("out_a", "out_b"):
        assert (tmp_path / name / "rice.tif").exists() and (tmp_path / name / "run.json").exists()


def test_sigterm_leaves_no_final_file(tmp_path, model, env):
    import signal

    inputs = scene(tmp_path / "in", height=512, width=512)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "backend", *map_args(model, inputs, out, "--tile", "16", "--overlap", "4",
                                                       "--progress", "json")]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["done"] >= 2:
                proc.send_signal(signal.SIGTERM)
                break
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    assert final_names(out) == []
