"""Map one Sentinel-1 series with a loaded model: checks, streaming inference, outputs, run.json."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.map import VERB as MAP_VERB
from backend.errors import UserError
from backend.evaluation.area import pixel_area_m2
from backend.inference.geotiff import disk_full_error
from backend.inference.loader import LoadedModel
from backend.inference.outputs import MapWriter
from backend.inference.pipeline import stream_scene
from backend.inference.tiling import TileGrid, Window, check_tile
from backend.progress import Reporter

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


class SeriesSource:
    """Model input for a window: each polarization composited onto the model's steps, stacked (T, C, h, w)."""

    def __init__(self, reader: Any, pols: list[str], season: tuple[dt.date, dt.date], steps: int,
                 as_of: dt.date | None) -> None:
        self.reader, self.pols, self.season, self.steps, self.as_of = reader, pols, season, steps, as_of
        self.height, self.width = reader.grid.height, reader.grid.width

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.windows import Window as RioWindow

        from backend.timeseries import composite_series

        rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
        cubes, counts = [], []
        for pol in self.pols:
            cube, count = composite_series(self.reader, pol, *self.season, self.steps, window=rio_window,
                                           as_of=self.as_of)
            cubes.append(cube)
            counts.append(count > 0)
        return np.stack(cubes, axis=1), np.logical_and.reduce(counts)


def check_dates_match(reader: Any, pols: list[str]) -> None:
    """The model's polarizations must share acquisition dates (one series, not two)."""
    if len(pols) < 2:
        return
    first = pols[0]
    for pol in pols[1:]:
        if reader.dates[pol] != reader.dates[first]:
            only_a = sorted(set(reader.dates[first]) - set(reader.dates[pol]))
            only_b = sorted(set(reader.dates[pol]) - set(reader.dates[first]))
            raise UserError(f"{first} and {pol} have different dates (only {first}: "
                            f"{', '.join(map(str, only_a[:4])) or 'none'}; only {pol}: "
                            f"{', '.join(map(str, only_b[:4])) or 'none'}); give both polarizations for the "
                            "same acquisitions")


def resolve_season(reader: Any, model: LoadedModel, season: tuple[dt.date, dt.date] | None,
                   as_of: dt.date | None) -> tuple[dt.date, dt.date]:
    """The season to composite: as given (checked against the data), else the model's season length
    ending at the last acquisition, else the whole series."""
    dates = sorted({d for pol in model.pols for d in reader.dates[pol]})
    first, last = dates[0], dates[-1]
    if season is None:
        days = model.season_days
        start = max(first, last - dt.timedelta(days=days - 1)) if days else first
        season = (start, last)
    start, end = season
    if end < start:
        raise UserError(f"{{param:season}} {start} {end}: the end is before the start; swap them", param="season")
    if (end - start).days + 1 < model.steps:
        raise UserError(f"{{param:season}} {start} {end} is shorter than the model's {model.steps} composite "
                        "steps; give a season of at least that many days", param="season")
    if start > last or end < first or not any(start <= d <= end for d in dates):
        raise UserError(f"{{param:season}} {start} {end} holds no acquisition: the data cover {first} to {last}; "
                        "choose a season inside the data's dates", param="season")
    if as_of is not None and not start <= as_of <= end:
        raise UserError(f"{{param:as_of}} {as_of} is outside the season {start} to {end}; give a date inside it",
                        param="as_of")
    return start, end


def _versions() -> dict:
    """Library versions from package metadata (no import: PyTorch alone would add ~300 MB to an ONNX run)."""
    from importlib.metadata import PackageNotFoundError, version

    import rasterio

    from backend import __version__

    found = {"backend": __version__, "gdal": rasterio.__gdal_version__}
    for package in ("torch", "onnxruntime", "numpy", "rasterio"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def check_series(reader: Any, model: LoadedModel, options: MapOptions) -> tuple[dt.date, dt.date]:
    """Every check :func:`map_series` makes before any work: polarizations, dates, season, tiles.

    Returns:
        The season that will be composited.

    Raises:
        UserError: the first problem, naming its parameter.
    """
    from backend.modelstore import check_inputs

    check_inputs(model.card, reader.pols)
    check_dates_match(reader, model.pols)
    season = resolve_season(reader, model, options.season, options.as_of)
    if options.batch < 1:
        raise UserError(f"{{param:batch}} {options.batch}: give at least 1 tile per run", param="batch")
    check_tile(options.tile, options.overlap, model.size_multiple)
    return season


def map_series(reader: Any, model: LoadedModel, options: MapOptions, out_dir: str | Path,
               overwrite: bool = False, reporter: Reporter | None = None) -> dict:
    """Write rice/probability/heatmap GeoTIFFs, their QML styles and run.json to ``out_dir``."""
    reporter = reporter or Reporter("none")
    season = check_series(reader, model, options)
    grid = TileGrid.for_scene(reader.grid.height, reader.grid.width, options.tile, options.overlap,
                              model.size_multiple)
    source = SeriesSource(reader, model.pols, season, model.steps, options.as_of)
    with_heatmap = options.heatmap and model.engine.heatmap is not None
    start = time.perf_counter()
    try:
        with AtomicOutputs(out_dir, overwrite) as outputs:
            run_json = outputs.path(MAP_VERB.output("run"))  # claimed first: refuses old results before any work
            writer = MapWriter(outputs, reader.grid, model.threshold, with_heatmap)
            try:
                stats = stream_scene(source, model.engine, grid, writer, reporter, options.batch,
                                     model.threshold, with_heatmap)
                writer.close()
            except BaseException:
                writer.abort()
                raise
            if writer.valid_pixels == 0:
                raise UserError(f"every pixel of the input ({_input_names(reader)}) is nodata in the season "
                                f"{season[0]} to {season[1]}; check the files' nodata value and the season")
            run = _run_record(reader, model, options, grid, stats, writer, season, time.perf_counter() - start,
                              with_heatmap, outputs.out_dir)
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
        "threads": model.engine.threads, "batch": options.batch,
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
        "heatmap": "Grad-CAM of the rice class on the bottleneck features, per-tile max-normalised to [0, 1]"
                   if with_heatmap else None,
        "outputs": {name: str(Path(out_dir) / name) for name in outputs + [MAP_VERB.output("run")]},
        "versions": _versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
