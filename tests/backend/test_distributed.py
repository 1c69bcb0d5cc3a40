"""`map --cluster local:N` (a Dask LocalCluster) against the single-process run, on real GeoTIFFs."""

from __future__ import annotations

import json
import sys
import time

import pytest
from test_distributed_fixtures import (
    assert_same_outputs,
    backend_env,
    big_scene,
    interrupt_after,
    map_cmd,
    result_of,
    run,
)
from test_map_fixtures import final_names, model  # noqa: F401  (fixture)

from backend.distributed.blocks import plan_blocks
from backend.distributed.cluster import parse_cluster
from backend.distributed.store import STORE_DIR, RunLock
from backend.errors import UserError
from backend.tiles.tiling import TileGrid


@pytest.fixture(scope="module")
def setting(tmp_path_factory, model):  # noqa: F811
    """Inputs, environment and the single-process reference outputs."""
    root = tmp_path_factory.mktemp("dist")
    inputs = big_scene(root / "scene")
    env = backend_env(root / "cache")
    reference = root / "single"
    proc = run(map_cmd(model, inputs, reference), env)
    assert proc.returncode == 0, proc.stderr
    return model, inputs, env, reference


def test_blocks_partition_the_scene_and_take_every_touching_tile():
    grid = TileGrid.for_scene(700, 530, 64, 16, 4)
    blocks = plan_blocks(grid, 256)
    covered = sum(b.pixels for b in blocks)
    assert covered == 700 * 530 and len(blocks) == 3 * 3
    for b in blocks:
        r, c, h, w = b.extent
        assert r <= b.row0 and c <= b.col0 and r + h >= b.row1 and c + w >= b.col1
        assert all(o < b.row1 and o + grid.shape[0] > b.row0 for o in b.rows)
        assert len([o for o in grid.row_origins if o < b.row1 and o + grid.shape[0] > b.row0]) == len(b.rows)
    assert sum(b.n_tiles for b in blocks) > grid.n_tiles  # border tiles are recomputed by both neighbours


@pytest.mark.parametrize("spec", ["local:x", "localhost", "http://x:1/path", ""])
def test_bad_cluster_values_are_refused_with_examples(spec):
    with pytest.raises(UserError, match="tcp://host:8786"):
        parse_cluster(spec)
    with pytest.raises(UserError, match="at least one worker"):
        parse_cluster("local:0")
    assert parse_cluster("local:3") == ("local", 3) and parse_cluster("tcp://10.0.0.1:8786")[0] == "remote"


def test_local_cluster_is_bit_identical_cancels_cleanly_and_resumes(setting, tmp_path):
    model, inputs, env, reference = setting
    out = tmp_path / "cluster"
    code, events = interrupt_after(map_cmd(model, inputs, out, "--cluster", "local:2"), env, blocks=2)
    assert code == 130, events[-1]
    assert final_names(out) == []  # nothing under a final name after Ctrl-C
    cluster = next(e for e in events if e["event"] == "cluster")
    assert cluster["workers"] == 2 and cluster["dashboard"].startswith("http://127.0.0.1:")
    progress = [e for e in events if e["event"] == "blocks"]
    assert progress[0]["total"] == 9 and progress[-1]["km2_per_minute"] > 0 and progress[-1]["eta"] is not None
    kept = len(list((out / STORE_DIR).glob("r*.npy")))
    assert 2 <= kept < 9

    proc = run(map_cmd(model, inputs, out, "--cluster", "local:2", "--progress", "json"), env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = result_of(proc)
    assert result["distributed"]["blocks_reused"] == kept and result["distributed"]["blocks"] == 9
    assert_same_outputs(reference, out)
    assert (out / "run.json").is_file() and not (out / STORE_DIR).exists()
    single = json.loads((reference / "run.json").read_text())
    assert (result["rice_pixels"], result["n_tiles"]) == (single["rice_pixels"], single["n_tiles"])


def test_second_run_into_the_same_folder_is_refused(setting, tmp_path):
    model, inputs, env, _ = setting
    out = tmp_path / "locked"
    out.mkdir()
    with RunLock(out):
        proc = run(map_cmd(model, inputs, out, "--cluster", "local:1"), env)
    assert proc.returncode == 2 and "another map run" in proc.stderr and str(out) in proc.stderr
    assert final_names(out) == []


def test_unreachable_scheduler_is_a_clear_error_within_30_s(setting, tmp_path):
    import socket

    model, inputs, env, _ = setting
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    start = time.monotonic()
    proc = run(map_cmd(model, inputs, tmp_path / "o", "--cluster", f"tcp://127.0.0.1:{port}"), env)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2 and "cannot reach a Dask scheduler" in proc.stderr, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and final_names(tmp_path / "o") == []


def test_riceareastats_sums_hundreds_of_zones_block_wise_here_and_on_a_cluster(setting, tmp_path):
    import csv

    import numpy as np
    import pyogrio.raw
    import rasterio
    import shapely

    _, _, env, reference = setting
    rice = reference / "rice.tif"
    with rasterio.open(rice) as dataset:
        values, t, (h, w) = dataset.read(1), dataset.transform, dataset.shape
    step = 32  # 22 x 20 square zones of 32 px, in the map's CRS: the truth is a reshape of the raster
    boxes = [shapely.box(t.c + c * 10, t.f - (r + step) * 10, t.c + (c + step) * 10, t.f - r * 10)
             for r in range(0, h - h % step, step) for c in range(0, w - w % step, step)]
    zones = tmp_path / "zones.gpkg"
    pyogrio.raw.write(zones, shapely.to_wkb(np.array(boxes)), [np.arange(len(boxes))], ["unit"], driver="GPKG",
                      geometry_type="Polygon", crs="EPSG:32648", layer="zones")
    cut = values[:h - h % step, :w - w % step].reshape(h // step, step, w // step, step)
    truth_ha = ((cut == 1).sum(axis=(1, 3)) * 100 / 1e4).ravel()
    tables = []
    for extra in ([], ["--cluster", "local:1"]):
        out = tmp_path / f"stats{len(extra)}"
        proc = run([sys.executable, "-m", "backend", "riceareastats", "--rice", str(rice), "--zones", str(zones),
                    "--out", str(out), "--block", "256", *extra], env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with (out / "zones_rice.csv").open() as fh:
            tables.append(list(csv.DictReader(fh)))
        assert (out / "zones_rice.gpkg").is_file()
    assert len(tables[0]) == len(boxes) and tables[0] == tables[1]
    assert np.allclose([float(r["rice_ha"]) for r in tables[0]], truth_ha, atol=1e-3)
    shares = [float(r["rice_pct"]) for r in tables[0]]
    assert np.allclose(shares, 100 * truth_ha / (step * step * 100 / 1e4), atol=1e-2)


def test_country_projection_keeps_the_task_graph_small_and_scales_with_workers():
    from backend.experiments.distributed_bench import WORKER_COUNTS, project

    projection = project(seconds_per_tile=0.4, assemble_mpx_s=20.0)
    for region in projection["regions"].values():
        rows = [region["workers"][str(n)] for n in WORKER_COUNTS]
        assert all(r["tasks"] <= 100_000 and 0 < r["busy_fraction"] <= 1 for r in rows)
        hours = [r["hours_blocks"] for r in rows]
        assert hours == sorted(hours, reverse=True) and hours[0] > hours[-1]
    india, mekong = projection["regions"]["india"], projection["regions"]["mekong_delta"]
    assert india["single_grid_tiles"] > 10 * mekong["single_grid_tiles"]
