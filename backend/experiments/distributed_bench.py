"""Benchmark of ``map --cluster`` on this machine, and on paper for the Mekong Delta and India.

``python -m backend.experiments.distributed_bench --out DIR`` (also run by ``make bench``) maps one synthetic
``size``² scene three times in child processes: the plain single-process run, ``--cluster local:1`` and
``--cluster local:2`` (the machine's cores split between the workers), and writes ``distributed.json``:
the 2-vs-1-worker speed-up, the local:1 overhead against the plain run, the peak memory of each worker
and of the client. It then projects, from the measured per-worker rate and the bytes each tile reads, the
time for the Mekong Delta (40,000 km²) and India (440,000 km²) at 10 m for 8, 64 and 512 workers, with
the task count and the points where the scheduler, the object store or the client's assembly stop it
scaling. The assumptions are fields of the JSON, not hidden in code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

from backend.contract.verbs.map import VERB as MAP_VERB
from backend.distributed.blocks import plan_blocks
from backend.experiments.bigscene import bench_dates, measure_map_run, write_bench_scene
from backend.experiments.inference_bench import season_for
from backend.inference.loader import default_model_name
from backend.inference.mapping import DEFAULT_OVERLAP, DEFAULT_TILE
from backend.modelstore import load_card, physical_cores
from backend.tiles.tiling import TileGrid

REGIONS_KM2 = {"mekong_delta": 40_000, "india": 440_000}
WORKER_COUNTS = (8, 64, 512)
PIXEL_M = 10
ASSUMPTIONS = {
    "worker": "one process with the cores of this machine (2), running at the measured local:1 rate",
    "input_bytes_per_value": 4,  # float32 dB as read from GeoTIFF/COG (compression only lowers this)
    "dates_per_season": 13,  # 12-day revisit over a 150-day season, one orbit direction
    "polarizations": 2,
    "object_store_gbit_per_s_per_worker": 1.0,  # ~120 MB/s per worker from S3/GCS within the region
    "object_store_aggregate_gb_per_s": 10.0,  # bucket-level throughput before request-rate limits bite
    "scheduler_task_overhead_ms": 1.0,  # Dask's documented order of magnitude per task
}


BLOCK_CANDIDATES = (512, 1024, 2048, 4096)


def _tiles_per_block(block_px: int, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> tuple[float, float]:
    """(tiles one interior-ish block computes, halo factor) on a scene of 8 x 8 blocks."""
    side = 8 * block_px
    grid = TileGrid.for_scene(side, side, tile, overlap, 16)
    computed = sum(b.n_tiles for b in plan_blocks(grid, block_px))
    return computed / 64, computed / grid.n_tiles


def _estimate(km2: float, workers: int, block_px: int, seconds_per_tile: float, assemble_h: float) -> dict:
    block_km2 = (block_px * PIXEL_M) ** 2 / 1e6
    tiles, halo = _tiles_per_block(block_px)
    blocks = math.ceil(km2 / block_km2)
    waves = math.ceil(blocks / workers)
    hours = waves * tiles * seconds_per_tile / 3600
    return {"block_px": block_px, "tasks": blocks, "halo_factor": round(halo, 3), "waves": waves,
            "hours_blocks": round(hours, 2), "hours_with_assembly": round(hours + assemble_h, 2),
            "busy_fraction": round(blocks / (waves * workers), 3)}


def project(seconds_per_tile: float, assemble_mpx_s: float) -> dict:
    """Time and limits for each region and worker count from measured costs.

    For each worker count the block size among :data:`BLOCK_CANDIDATES` with the shortest time is chosen:
    large blocks recompute fewer halo tiles, small blocks keep many workers busy.

    Args:
        seconds_per_tile: seconds one worker spends per computed 256-px tile (read, composite, infer, blend).
        assemble_mpx_s: megapixels per second the client assembles (writes the COGs), measured.

    Returns:
        Per region: area, input volume, and per worker count the best block size, task count and hours.
    """
    tile_px = (DEFAULT_TILE - DEFAULT_OVERLAP) ** 2  # new output pixels per tile, the stride squared
    values = ASSUMPTIONS["dates_per_season"] * ASSUMPTIONS["polarizations"] * ASSUMPTIONS["input_bytes_per_value"]
    tile_bytes = values * DEFAULT_TILE ** 2
    worker_read_mb_s = tile_bytes / seconds_per_tile / 1e6
    per_worker_cap = ASSUMPTIONS["object_store_gbit_per_s_per_worker"] * 125  # MB/s
    io_cap_workers = ASSUMPTIONS["object_store_aggregate_gb_per_s"] * 1e3 / worker_read_mb_s
    out = {}
    for region, km2 in REGIONS_KM2.items():
        assemble_h = km2 * 1e6 / PIXEL_M ** 2 / (assemble_mpx_s * 1e6) / 3600
        rows = {}
        for workers in WORKER_COUNTS:
            best = min((_estimate(km2, workers, b, seconds_per_tile, assemble_h) for b in BLOCK_CANDIDATES),
                       key=lambda e: e["hours_blocks"])
            rows[str(workers)] = {**best, "read_gb_per_s": round(workers * worker_read_mb_s / 1e3, 3),
                                  "io_bound": workers > io_cap_workers}
        out[region] = {"km2": km2, "pixels": int(km2 * 1e6 / PIXEL_M ** 2),
                       "single_grid_tiles": math.ceil(km2 * 1e6 / PIXEL_M ** 2 / tile_px),
                       "input_tb_read": round(km2 * 1e6 / PIXEL_M ** 2 / tile_px * tile_bytes / 1e12, 2),
                       "assembly_hours": round(assemble_h, 2), "workers": rows}
    return {"seconds_per_tile": round(seconds_per_tile, 4), "input_mb_per_tile": round(tile_bytes / 1e6, 2),
            "worker_read_mb_per_s": round(worker_read_mb_s, 3),
            "worker_read_fraction_of_link": round(worker_read_mb_s / per_worker_cap, 4),
            "workers_before_object_store_bound": int(io_cap_workers), "regions": out}


def _cluster_figures(out: Path) -> dict:
    run = json.loads((out / MAP_VERB.output("run")).read_text())
    dist = run["distributed"]
    return {"seconds": run["seconds"], "blocks": dist["blocks"], "blocks_seconds": dist["blocks_seconds"], "tiles_computed": dist["tiles_computed"],
            "n_tiles": run["n_tiles"], "assemble_seconds": dist["assemble_seconds"],
            "peak_rss_mb_per_worker": dist["peak_rss_mb_per_worker"], "km2_per_minute": run["km2_per_minute"]}


def summarise(result: dict) -> dict:
    """Add the ratios and the projection to the three measured runs of ``result`` (in place).

    ``overhead_local1_vs_plain`` is the whole-run ratio, including the halo tiles that blocks recompute;
    ``overhead_local1_vs_plain_per_tile`` divides that out (seconds per computed tile), leaving the cost of
    the cluster itself: starting it, loading the model on the worker, moving blocks, assembling.
    """
    plain, one, two = result["plain"], result["local1"], result["local2"]
    result["speedup_2_vs_1_workers"] = round(one["seconds"] / two["seconds"], 3)
    result["overhead_local1_vs_plain"] = round(one["seconds"] / plain["seconds"], 3)
    result["overhead_local1_vs_plain_per_tile"] = round(
        (one["seconds"] / one["tiles_computed"]) / (plain["seconds"] / plain["tiles"]), 3)
    seconds_per_tile = one["blocks_seconds"] / one["tiles_computed"]
    size = result["size"]
    assemble_mpx_s = size * size / 1e6 / max(one["assemble_seconds"], 1e-3)
    result["projection"] = {"assumptions": ASSUMPTIONS, "measured_assemble_mpx_per_s": round(assemble_mpx_s, 2),
                            **project(seconds_per_tile, assemble_mpx_s)}
    return result


def run_benchmark(out_dir: Path, size: int = 2048, model: str | None = None, block_px: int = 1024) -> dict:
    """Measure plain vs local:1 vs local:2 on a ``size``² scene and project to country scale.

    Args:
        out_dir: folder for distributed.json (and the scratch scene, deleted afterwards).
        size: scene side in pixels.
        model: model name or folder (default: the bundled default).
        block_px: block side for the measured runs (1024 gives 4 blocks on 2048²).

    Returns:
        The JSON written to ``out_dir/distributed.json``.
    """
    model = model or default_model_name()
    dates = bench_dates()
    season = [d.isoformat() for d in season_for(load_card(model, verify=False), dates)]
    cores = physical_cores()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"size": size, "block_px": block_px, "cores": cores, "load_average_before": os.getloadavg(),
              "model": model, "heatmap": False}
    with tempfile.TemporaryDirectory(prefix="s1rm-dist-bench-") as tmp:
        vv, vh = write_bench_scene(Path(tmp) / "scene", size, dates)
        common = ["--season", *season, "--no-heatmap", "--engine", "onnx", "--block", str(block_px)]
        runs = {"plain": [], "local1": ["--cluster", "local:1"], "local2": ["--cluster", "local:2"]}
        for name, extra in runs.items():
            threads = ["--threads", str(cores)] if name != "local2" else []
            out = Path(tmp) / name
            record = measure_map_run(vv, vh, out, model, common + threads + extra, timeout=3600)
            if record["exit_code"] == 0 and name != "plain":
                record.update(_cluster_figures(out))
            result[name] = record
    result["load_average_after"] = os.getloadavg()
    summarise(result)
    (out_dir / "distributed.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.experiments.distributed_bench", description=__doc__)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for distributed.json")
    parser.add_argument("--size", type=int, default=2048, help="scene side in pixels (default 2048)")
    parser.add_argument("--model", metavar="NAME|PATH", help="model (default: the bundled default)")
    parser.add_argument("--block", type=int, default=1024, help="block side for the measured runs (default 1024)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run_benchmark(Path(args.out), args.size, args.model, args.block)
    print(json.dumps({**result, "bench_seconds": round(time.perf_counter() - start, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
