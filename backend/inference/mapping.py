"""Map one Sentinel-1 series with a loaded model: checks, streaming inference, outputs, run.json."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import __version__
from backend.atomic import AtomicOutputs
from backend.contract.verbs.map import VERB as MAP_VERB
from backend.errors import UserError
from backend.inference.loader import BASELINE_ARCHS, LoadedModel
from backend.inference.outputs import MapWriter
from backend.inference.result_checks import result_checks
from backend.inference.timings import StageTimes, process_age
from backend.modelstore import check_inputs
from backend.progress import Reporter
from backend.raster.pixel_area import pixel_area_m2
from backend.raster.plausibility import check_for_model
from backend.seasons.choice import SeasonChoice, resolve_map_season
from backend.seasons.windows import CyclesSource, max_engine
from backend.tiles.engines import TORCH_HINT
from backend.tiles.pipeline import stream_scene
from backend.tiles.tiling import TileGrid, check_tile, choose_tile
from backend.timeseries.source import check_dates_match
from backend.writers.geotiff import GDAL_CACHE_BYTES, disk_full_error

DEFAULT_TILE = MAP_VERB.default("tile")  # defaults live in the contract
DEFAULT_OVERLAP = MAP_VERB.default("overlap")


@dataclass
class MapOptions:
    season: tuple[dt.date, dt.date] | None = None
    as_of: dt.date | None = None
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    batch: int = 1
    heatmap: bool = True
    all_seasons: bool = False  # no season given: map every detected crop cycle, not only the main one
    exact_season: bool = False  # composite the given season as it is, not snapped to the detected cycles


def _versions() -> dict:
    """Library versions from package metadata (no import: PyTorch alone would add ~300 MB to an ONNX run)."""
    from importlib.metadata import PackageNotFoundError, version

    import rasterio


    found = {"backend": __version__, "gdal": rasterio.__gdal_version__}
    for package in ("torch", "onnxruntime", "openvino", "numpy", "rasterio"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def check_series(reader: Any, model: LoadedModel, options: MapOptions,
                 reporter: Reporter | None = None) -> tuple[dt.date, dt.date]:
    """Every check :func:`map_series` makes before any work: polarizations, dates, season, tiles.

    Returns:
        The span of the season window(s) that will be composited.

    Raises:
        UserError: the first problem, naming its parameter.
    """
    return check_choice(reader, model, options, reporter).span


def check_choice(reader: Any, model: LoadedModel, options: MapOptions,
                 reporter: Reporter | None = None) -> SeasonChoice:
    """:func:`check_series`, returning the season choice (windows, reason) of :mod:`backend.seasons.choice`."""
    return _checked_choice(reader, model, options, reporter)[0]


def _checked_choice(reader: Any, model: LoadedModel, options: MapOptions,
                    reporter: Reporter | None) -> tuple[SeasonChoice, list[dict]]:
    """:func:`check_choice` and the plausibility warnings it found (checked once: they read samples)."""
    check_inputs(model.card, reader.pols)
    check_dates_match(reader, model.pols)
    choice = resolve_map_season(reader, model, options.season, options.as_of, options.all_seasons,
                                options.exact_season, reporter)
    warnings = check_for_model(reader, model.pols, model.steps, choice.span, options.as_of)  # errors raise
    if options.batch < 1:
        raise UserError(f"{{param:batch}} {options.batch}: give at least 1 tile per run", param="batch")
    check_tile(options.tile, options.overlap, model.size_multiple)  # errors name the tile the user gave
    return choice, warnings


def map_series(reader: Any, model: LoadedModel, options: MapOptions, out_dir: str | Path,
               overwrite: bool = False, reporter: Reporter | None = None, timings: StageTimes | None = None) -> dict:
    """Write rice/probability/heatmap GeoTIFFs, their QML styles and run.json to ``out_dir``.

    Args:
        reader: the opened series.
        model: the loaded model.
        options: season, tiles, heat map.
        out_dir: the output folder (written atomically).
        overwrite: replace earlier results there.
        reporter: progress and logs.
        timings: stages already timed by the caller (start-up, model loading, opening the series); with a
            ``startup`` stage the total is the process's age (:mod:`backend.inference.timings`).

    Returns:
        The run record, as written to run.json.
    """
    reporter = reporter or Reporter("none")
    timings = timings or StageTimes()
    with timings.stage("season"):
        choice, input_checks = _checked_choice(reader, model, options, reporter)
        season = choice.span
    height, width = reader.grid.height, reader.grid.width
    tile = choose_tile(height, width, options.tile, options.overlap, model.size_multiple)
    grid = TileGrid.for_scene(height, width, tile, options.overlap, model.size_multiple)
    source = CyclesSource(reader, model.pols, choice.windows, model.steps, options.as_of)
    with_heatmap = options.heatmap and model.engine.predict_with_heatmap is not None
    if options.heatmap and not with_heatmap:
        reporter.log(f"no heat map: model {model.name!r} ({model.engine.name}) cannot give one here"
                     + ("" if model.card["arch"] in BASELINE_ARCHS else f" without PyTorch ({TORCH_HINT})"))
    start = time.perf_counter()
    try:
        with AtomicOutputs(out_dir, overwrite, family=MAP_VERB.outputs) as outputs:
            run_json = outputs.path(MAP_VERB.output("run"))  # claimed first: refuses old results before any work
            writer = MapWriter(outputs, reader.grid, model.threshold, with_heatmap)
            try:
                with reader.block_cache(grid.tile, grid.overlap, GDAL_CACHE_BYTES):
                    stats = stream_scene(source, max_engine(model.engine, len(choice.windows), model.steps), grid,
                                         writer, reporter, options.batch, model.threshold, with_heatmap)
                with timings.stage("finish"):
                    writer.close()
            except BaseException:
                writer.abort()
                raise
            _add_stream_times(timings, stats)
            checks_start = time.perf_counter()
            if writer.valid_pixels == 0:
                raise UserError(f"every pixel of the input ({_input_names(reader)}) is nodata in the season "
                                f"{season[0]} to {season[1]}; check the files' nodata value and the season")
            run = _run_record(reader, model, options, grid, stats, writer, season, time.perf_counter() - start,
                              with_heatmap, outputs.out_dir) | {"season_choice": choice.record()}
            run.update(input_checks=input_checks, checks=result_checks(run, writer.histogram,
                                                                      pixel_area_m2(reader.grid)))
            for warning in [c["message"] for c in input_checks] + run["checks"]["warnings"]:
                reporter.log(f"warning: {warning}")
            timings.add("checks", time.perf_counter() - checks_start)
            run["timings"] = timings.record(process_age() if "startup" in timings.seconds else None)
            run_json.write_text(json.dumps(run, indent=2))
            outputs.commit()
    except OSError as exc:
        raise disk_full_error(out_dir, exc) or exc  # noqa: B904 (the same error, or its disk-full reading)
    except Exception as exc:  # GDAL reports a full disk as its own error types
        full = disk_full_error(out_dir, exc)
        if full is not None:
            raise full from exc
        raise
    return run


def _add_stream_times(timings: StageTimes, stats: Any) -> None:
    timings.add("read_composite", stats.read_seconds)
    timings.add("model", stats.model_seconds)
    timings.add("blend_write", stats.blend_write_seconds)


def _input_names(reader: Any) -> str:
    return ", ".join(Path(p).name for pol in reader.pols for p in reader.files[pol])


def _run_record(reader: Any, model: LoadedModel, options: MapOptions, grid: TileGrid, stats: Any,
                writer: MapWriter, season: tuple[dt.date, dt.date], seconds: float, with_heatmap: bool,
                out_dir: Path) -> dict:
    pixel_m2 = pixel_area_m2(reader.grid)
    scene_km2 = pixel_m2 * reader.grid.width * reader.grid.height / 1e6
    outputs = [MAP_VERB.output(n, "tif") for n in ("rice", "probability", "heatmap") if with_heatmap or n != "heatmap"]
    return {
        "model": model.describe(), "engine": model.engine.name, "device": model.engine.device,
        "precision": model.engine.precision, "threads": model.engine.threads, "batch": options.batch,
        "tile": grid.tile, "tile_requested": options.tile, "overlap": grid.overlap, "n_tiles": stats.tiles,
        "tiles_inferred": stats.tiles_inferred, "seconds": round(seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "km2_per_minute": round(scene_km2 / (seconds / 60), 3) if seconds > 0 else None,
        "scene_km2": round(scene_km2, 4), "width": reader.grid.width, "height": reader.grid.height,
        "rice_area_ha": round(writer.rice_pixels * pixel_m2 / 1e4, 4),
        "valid_area_ha": round(writer.valid_pixels * pixel_m2 / 1e4, 4),
        "rice_pixels": writer.rice_pixels, "valid_pixels": writer.valid_pixels,
        "threshold": model.threshold,
        "inputs": {"layout": reader.layout, "files": {p: list(reader.files[p]) for p in reader.pols},
                   "polarizations": model.pols, "dates_used": {p: len(reader.dates[p]) for p in model.pols}},
        "season": [season[0].isoformat(), season[1].isoformat()],
        "as_of": options.as_of.isoformat() if options.as_of else None,
        "heatmap": model.engine.info.get("heatmap") if with_heatmap else None,
        "outputs": {name: str(Path(out_dir) / name) for name in outputs + [MAP_VERB.output("run")]},
        "versions": _versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
