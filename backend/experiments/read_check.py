"""Reading VV and VH on two threads: what it saves alone, and between model calls as in ``map`` (issue 15).

On the synthetic 1024² Mekong scene (linear power, deflate, the file layout of the Deepness bench) one pass
reads every tile of ``map``'s grid once (:class:`backend.tiles.pipeline.CompositeOnce` over
:class:`backend.timeseries.source.SeriesSource`), with the two polarizations read one after the other or
at once (``SeriesSource.parallel``). The passes are interleaved. A second kind of pass runs the default
model on each tile before reading the next, as ``map`` does, and times the reads (``map``'s
``read_composite`` stage) and the model calls apart, once with ONNX Runtime's threads spinning on after
each call and once stopped when a call returns (``session.force_spinning_stop``, what ``map`` uses): a
spinning worker takes a core from the reads that follow.

Run: ``python -m backend.experiments.read_check --out result.json`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

from backend.contract.verbs.map import VERB as MAP_VERB
from backend.experiments.inference_bench import shape_options
from backend.inference.loader import load_model
from backend.modelstore import physical_cores
from backend.modelstore.onnx_io import ONNX_FILE, SPINNING_STOP, session_options
from backend.progress import Reporter
from backend.raster import open_series
from backend.synthetic import generate_scene
from backend.synthetic.writer import write_scene
from backend.tiles.engines import onnx_engine
from backend.tiles.pipeline import CompositeOnce, _read_tile
from backend.tiles.tiling import TileGrid, choose_tile
from backend.timeseries.source import SeriesSource
from backend.writers.geotiff import GDAL_CACHE_BYTES

SEASON = (dt.date(2022, 3, 6), dt.date(2022, 8, 2))  # the window map chooses on this scene (docs/mapping.md)


def engines(threads: int) -> dict:
    """The default model's ONNX engine with ONNX Runtime's threads spinning on after each call, and stopped."""
    import onnxruntime as ort

    model = load_model(None, "onnx", "cpu", threads, heatmap=False)
    made = {}
    for stop in (False, True):
        options = session_options(threads)
        options.add_session_config_entry(SPINNING_STOP, "1" if stop else "0")
        path = model.folder / ONNX_FILE
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        made[stop] = onnx_engine(session, threads, for_shape=_shape_fixed(path, session, threads, stop))
    return {"model": model, "engines": made}


def _shape_fixed(path: Path, free, threads: int, stop: bool):
    """Opens the model fixed to one tile's shape, with the same spinning setting, as `map`'s engine does."""
    import onnxruntime as ort

    def for_shape(shape: tuple[int, ...]):
        options = shape_options(free, threads, shape)
        options.add_session_config_entry(SPINNING_STOP, "1" if stop else "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    return for_shape


def read_pass(scene: Path, model, parallel: bool, engine=None) -> dict:
    """Seconds (wall, CPU) reading every tile of the grid once, the model's seconds when ``engine`` runs
    on each tile in between, and a checksum of what was read."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_NUM_THREADS="ALL_CPUS"), \
            open_series(vv=str(scene / "VV.tif"), vh=str(scene / "VH.tif")) as reader:
        height, width = reader.grid.height, reader.grid.width
        overlap = MAP_VERB.default("overlap")
        tile = choose_tile(height, width, MAP_VERB.default("tile"), overlap, model.size_multiple)
        grid = TileGrid.for_scene(height, width, tile, overlap, model.size_multiple)
        source = SeriesSource(reader, model.pols, SEASON, model.steps, None)
        source.parallel = parallel
        composite = CompositeOnce(source, grid)
        seconds = {"read_seconds": 0.0, "read_cpu_seconds": 0.0, "model_seconds": 0.0}
        total = 0.0
        with reader.block_cache(grid.tile, grid.overlap, GDAL_CACHE_BYTES):
            for r0, cols in grid.tile_rows():
                for c0 in cols:
                    start_wall, start_cpu = time.perf_counter(), time.process_time()
                    x, _ = _read_tile(composite, r0, c0, grid.shape)
                    seconds["read_seconds"] += time.perf_counter() - start_wall
                    seconds["read_cpu_seconds"] += time.process_time() - start_cpu
                    total += float(np.nansum(x))
                    if engine is not None:
                        start_wall = time.perf_counter()
                        engine.predict(x[None])
                        seconds["model_seconds"] += time.perf_counter() - start_wall
    if engine is None:
        del seconds["model_seconds"]
    return {key: round(value, 3) for key, value in seconds.items()} | {"checksum": total}


def one_round(scene: Path, made: dict) -> dict:
    """Every kind of pass once, in a fixed order."""
    model = made["model"]
    record: dict = {"load_average": list(os.getloadavg())}
    for parallel in (False, True):
        record["reads_only_" + ("parallel" if parallel else "sequential")] = read_pass(scene, model, parallel)
    for stop in (False, True):
        for parallel in (False, True):
            key = f"between_model_calls_{'parallel' if parallel else 'sequential'}_spinning_stop_{'on' if stop else 'off'}"
            record[key] = read_pass(scene, model, parallel, made["engines"][stop])
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="scene side in pixels (default 1024)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--threads", type=int, default=None, help="model threads (default: physical cores)")
    parser.add_argument("--out", required=True, help="result JSON to write")
    args = parser.parse_args(argv)
    made = engines(args.threads or physical_cores())
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        write_scene(generate_scene("mekong", args.size, 1), scene, "a", units="linear", reporter=Reporter("none"))
        for number in range(args.rounds):
            rounds.append({"round": number + 1, **one_round(scene, made)})
    checksums = {p[key]["checksum"] for p in rounds for key in p if isinstance(p[key], dict)}
    result = {"command": "python -m backend.experiments.read_check " + " ".join(argv or sys.argv[1:]),
              "scene": f"synthetic mekong {args.size}², seed 1, linear, layout a", "season": [str(d) for d in SEASON],
              "model": made["model"].name, "identical_input": len(checksums) == 1, "rounds": rounds}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
