"""``map``: the rice map of a series with one model."""

from __future__ import annotations

from ..schema import Event, Option, Verb
from ..shared import (
    OUT_OPTION,
    OVERWRITE_OPTION,
    PRECISIONS,
    SERIES_OPTIONS,
    engine_option,
    model_option,
    styled,
    threads_option,
)

DEFAULT_TILE = 256  # px; the tile-size sweep in docs/mapping.md
DEFAULT_OVERLAP = 16  # px; measured: F1, edge F1 and seams as at 32, 11-13 % fewer model pixels (docs/mapping.md)
MAX_TILE = 2048  # px; backend.tiles.tiling refuses larger tiles (memory per tile)


def _overlap_fits_tile(values: dict) -> tuple[str, str] | None:
    """The overlap may be at most half the tile (each tile must add new pixels)."""
    tile, overlap = values.get("tile"), values.get("overlap")
    if isinstance(tile, int) and isinstance(overlap, int) and overlap > tile // 2:
        return "overlap", (f"{{param:overlap}} {overlap} is more than half of {{param:tile}} {tile}; give at most "
                           f"{tile // 2} or a larger tile")
    return None

VERB = Verb(
    name="map",
    help="map rice over whole scenes: tiled streaming inference, writes rice.tif, probability.tif, heatmap.tif, "
         "their QML styles and run.json",
    options=(
        *SERIES_OPTIONS,
        Option("season", "date_range", "Season", "season to composite, YYYY-MM-DD YYYY-MM-DD, snapped to the "
               "rice crop cycle(s) found in the data that it holds whole, or else the one it covers most "
               "(default: the main cycle found; see docs/seasons.md)", metavar="START END", group="mapping"),
        Option("all_seasons", "bool", "Map every detected season", "with no season given, map every rice crop "
               "cycle found in the data (rice where any is), not only the main one", default=False,
               group="mapping"),
        Option("exact_season", "bool", "Use the season exactly as given", "composite the given season as it is "
               "instead of snapping it to the detected crop cycle(s)", default=False, group="mapping",
               advanced=True),
        Option("as_of", "date", "Early-season map as of", "early-season map: ignore acquisitions after DATE",
               metavar="DATE", group="mapping", advanced=True),
        model_option(group="mapping"),
        engine_option(group="mapping"),
        Option("device", "choice", "Device", "where the model runs", default="auto",
               choices=("auto", "cpu", "cuda"), group="mapping", advanced=True),
        Option("precision", "choice", "Precision", "what the model computes in: f32 (every engine, the default); "
               "bf16 with --engine openvino on a CPU that computes bfloat16 natively (AMX, AVX512-BF16): about "
               "2 x faster model calls there, and a few labels in 10 000 differ from f32 (run.json: precision)",
               default=PRECISIONS[0], choices=PRECISIONS, group="mapping", advanced=True),
        Option("tile", "int", "Tile size (pixels)", "smallest tile size in pixels (a multiple of the model's "
               "size multiple); per scene the tile grows by up to 1/8 (256 -> 272) where that saves more model "
               "time than a larger tile costs per pixel, within a memory cap (run.json: tile, tile_requested)", default=DEFAULT_TILE, minimum=16, maximum=MAX_TILE, group="mapping", advanced=True),
        Option("overlap", "int", "Tile overlap (pixels)", "overlap between tiles in pixels; at most half the "
               "tile", default=DEFAULT_OVERLAP, minimum=0, maximum=MAX_TILE // 2, group="mapping", advanced=True),
        Option("batch", "int", "Tiles per batch", "tiles handed to the engine at once: PyTorch and OpenVINO "
               "run them in one call, ONNX Runtime one tile per call of its shape-fixed session, which "
               "is faster there (docs/mapping.md)", default=1, minimum=1,
               maximum=64, group="mapping", advanced=True),
        threads_option(group="mapping"),
        Option("heatmap", "bool", "Write the heat map", "write heatmap.tif (a forward-only Grad-CAM output of "
               "the ONNX graph, computed in the same model call)",
               default=True, flag="--no-heatmap", group="mapping"),
        OUT_OPTION,
        OVERWRITE_OPTION,
        Option("cluster", "str", "Dask cluster", "run the blocks on a Dask cluster: a scheduler address "
               "(tcp://host:8786) or local[:N] worker processes on this machine (default: no cluster, one "
               "process)", metavar="ADDRESS|local[:N]", group="cluster", advanced=True),
        Option("block", "int", "Block size on the cluster (pixels)", "with a cluster: side of one block, one "
               "Dask task; larger blocks recompute fewer border tiles, smaller ones keep more workers busy",
               default=2048, minimum=256, maximum=65536, group="cluster", advanced=True),
        Option("manifest", "file", "Batch manifest (CSV)",
               "batch run: CSV with columns vv, vh, out[, season_start, season_end]; several files in one "
               "cell are separated by ';'; relative paths are relative to the CSV", metavar="CSV",
               group="batch", advanced=True),
    ),
    outputs=(*styled("rice", "probability", "heatmap"), "run.json"),
    result_keys=("model", "engine", "device", "precision", "threads", "batch", "tile", "tile_requested", "overlap", "n_tiles",
                 "tiles_inferred", "seconds", "model_seconds", "km2_per_minute", "scene_km2", "width", "height",
                 "rice_area_ha", "valid_area_ha", "rice_pixels", "valid_pixels", "threshold", "inputs",
                 "outputs", "season_choice", "timings"),
    events=(Event("manifest_row", ("line", "out", "status", "message"), "one manifest row finished; an error's "
                  "message names parameters with {param:KEY} tokens"),
            Event("cluster", ("address", "workers", "dashboard"), "connected to the Dask cluster (cluster)"),
            Event("blocks", ("done", "total", "km2_per_minute", "eta"), "a block finished on the cluster")),
    checks=(_overlap_fits_tile,),
)
